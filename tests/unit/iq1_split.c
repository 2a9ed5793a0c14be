/* Unit tests for IQ1_S's split search (common/ggml/iq1_split.c): the
 * pruned search, the full loop and their AVX2 kernels against ggml's loop
 * written out here literally, on random and adversarial groups — ties,
 * few distinct values, mirrored values, near-ties a few ulps apart, huge
 * and tiny scales, denormals, zeros, zero, negative, NaN and infinite
 * weights and values.  A result is its score and scale (bit for bit), i1,
 * i2 and shift.  (Tried: a bound 5% too low, a threshold above the best
 * score, or triangles without their upper side each make the pruned
 * search differ here in hundreds of groups; a bound 0.1% too low does
 * not — the triangles' slack is seldom that tight.) */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../golden.h"
#include "cpu.h"
#include "iq1_split.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static double uniform01(void)
{
	return xorshift01(&rng_state);
}

/* ggml's loop (quantize_row_iq1_s_impl), transcribed. */
static void ggml_loop(const float *xs, const float *ws, float max, qp_iq1_split *b)
{
	static const float x_p[3] = {-1 + 0.125f, 0.125f, 1 + 0.125f};
	static const float x_m[3] = {-1 - 0.125f, -0.125f, 1 - 0.125f};
	float sumx[33], sumw[33];
	sumx[0] = sumw[0] = 0;
	for (int j = 0; j < 32; j++) {
		sumx[j + 1] = sumx[j] + ws[j] * xs[j];
		sumw[j + 1] = sumw[j] + ws[j];
	}
	float best_score = -FLT_MAX, scale = max;
	int besti1 = -1, besti2 = -1, best_shift = 0;
	for (int i1 = 0; i1 <= 32; ++i1) {
		for (int i2 = i1; i2 <= 32; ++i2) {
			float sumqx = (sumx[i1] - sumx[0]) * x_p[0] + (sumx[i2] - sumx[i1]) * x_p[1] + (sumx[32] - sumx[i2]) * x_p[2];
			float sumq2 = (sumw[i1] - sumw[0]) * x_p[0] * x_p[0] + (sumw[i2] - sumw[i1]) * x_p[1] * x_p[1] + (sumw[32] - sumw[i2]) * x_p[2] * x_p[2];
			if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
				scale = sumqx / sumq2;
				best_score = scale * sumqx;
				besti1 = i1, besti2 = i2, best_shift = 1;
			}
			sumqx = (sumx[i1] - sumx[0]) * x_m[0] + (sumx[i2] - sumx[i1]) * x_m[1] + (sumx[32] - sumx[i2]) * x_m[2];
			sumq2 = (sumw[i1] - sumw[0]) * x_m[0] * x_m[0] + (sumw[i2] - sumw[i1]) * x_m[1] * x_m[1] + (sumw[32] - sumw[i2]) * x_m[2] * x_m[2];
			if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
				scale = sumqx / sumq2;
				best_score = scale * sumqx;
				besti1 = i1, besti2 = i2, best_shift = -1;
			}
		}
	}
	b->score = best_score;
	b->scale = scale;
	b->i1 = besti1;
	b->i2 = besti2;
	b->shift = best_shift;
}

static bool same(const qp_iq1_split *a, const qp_iq1_split *b)
{
	return memcmp(&a->score, &b->score, sizeof a->score) == 0 &&
	       memcmp(&a->scale, &b->scale, sizeof a->scale) == 0 &&
	       a->i1 == b->i1 && a->i2 == b->i2 && a->shift == b->shift;
}

typedef struct pair {
	float x, w;
} pair;

static int by_x(const void *a, const void *b)
{
	float l = ((const pair *)a)->x, r = ((const pair *)b)->x;
	return l < r ? -1 : l > r ? 1 : 0;
}

static long groups, differ[4];

/* Sorts the group by value (NaN where qsort leaves it) and checks every
 * way of searching against ggml's loop. */
static void check(float *x, float *w)
{
	pair p[32];
	for (int i = 0; i < 32; i++)
		p[i] = (pair){ x[i], w[i] };
	qsort(p, 32, sizeof *p, by_x);
	float xs[32], ws[32], max = 0;
	for (int i = 0; i < 32; i++) {
		xs[i] = p[i].x;
		ws[i] = p[i].w;
		max = fmaxf(max, fabsf(xs[i]));
	}
	qp_iq1_split want, got;
	ggml_loop(xs, ws, max, &want);
	const bool avx2 = qp_cpu_avx2();
	for (int k = 0; k < 4; k++) {
		qp_iq1_split_search(xs, ws, max, k & 1, (k & 2) && avx2, &got);
		if (!same(&got, &want)) {
			if (!differ[k])
				diag("first difference (prune %d, avx2 %d) in group %ld: "
				     "got %a %a %d %d %d, want %a %a %d %d %d", k & 1,
				     (k & 2) && avx2, groups, got.score, got.scale, got.i1,
				     got.i2, got.shift, want.score, want.scale, want.i1,
				     want.i2, want.shift);
			differ[k]++;
		}
	}
	groups++;
}

/* The encoder's weights: imatrix value times sqrt(sigma2 + x^2). */
static void encoder_weights(const float *x, float *w, float sigma2)
{
	for (int i = 0; i < 32; i++)
		w[i] = (float)(0.01 + 5 * uniform01() * uniform01()) * sqrtf(sigma2 + x[i] * x[i]);
}

static float heavy(void)
{
	double c = 0;
	for (int k = 0; k < 4; k++) {
		double u = uniform01() * 2 - 1;
		c += u * u;
	}
	return (float)((uniform01() * 2 - 1) / sqrt(c / 4 + 1e-3));
}

static void random_groups(int n, float scale, bool f16_ties)
{
	float x[32], w[32];
	for (int g = 0; g < n; g++) {
		float s2 = 0;
		for (int i = 0; i < 32; i++) {
			x[i] = scale * heavy();
			if (f16_ties) /* keep 4 bits of mantissa: many ties */
				x[i] = ldexpf(rintf(ldexpf(x[i], 4 - ilogbf(x[i]))), ilogbf(x[i]) - 4);
			s2 += x[i] * x[i];
		}
		encoder_weights(x, w, 2 * s2 / 32);
		check(x, w);
	}
}

/* Few distinct values and equal weights: many candidates score the same,
 * so ggml's first-strict-improvement rule decides. */
static void tie_groups(void)
{
	float x[32], w[32];
	for (int g = 0; g < 300; g++) {
		const int levels = 1 + g % 5;
		const float c = ldexpf(1, g % 13 - 6);
		for (int i = 0; i < 32; i++) {
			x[i] = c * (float)((int)(uniform01() * (2 * levels + 1)) - levels);
			w[i] = g % 2 ? 1.0f : (float)(1 + (int)(uniform01() * 3));
		}
		check(x, w);
		/* mirrored: x and -x with the same weight */
		for (int i = 0; i < 16; i++) {
			x[16 + i] = -x[i];
			w[16 + i] = w[i];
		}
		check(x, w);
		/* and a few ulps off the ties */
		for (int i = 0; i < 32; i += 3)
			x[i] = nextafterf(x[i], (i & 4) ? INFINITY : -INFINITY);
		for (int i = 1; i < 32; i += 5)
			w[i] = nextafterf(w[i], INFINITY);
		check(x, w);
	}
}

/* Huge and tiny magnitudes, denormals, zeros, extreme weights. */
static void range_groups(void)
{
	float x[32], w[32];
	for (int e = -140; e <= 120; e += 5)
		for (int g = 0; g < 6; g++) {
			for (int i = 0; i < 32; i++) {
				x[i] = ldexpf(heavy(), e);
				w[i] = ldexpf((float)uniform01(), (g % 3 - 1) * (e / 2));
			}
			if (g == 3)
				memset(x + 8, 0, 8 * sizeof *x);
			if (g == 4)
				for (int i = 0; i < 32; i++)
					w[i] = ldexpf(1, (int)(uniform01() * 120) - 60);
			if (g == 5)
				w[7] = 0;
			check(x, w);
		}
}

/* What the bounds refuse: NaN, infinities, negative and zero weights. */
static void odd_groups(void)
{
	float x[32], w[32];
	for (int g = 0; g < 60; g++) {
		for (int i = 0; i < 32; i++) {
			x[i] = heavy();
			w[i] = 1 + (float)uniform01();
		}
		const int i = g % 32;
		switch (g % 6) {
		case 0: x[i] = NAN; break;
		case 1: x[i] = g % 4 ? INFINITY : -INFINITY; break;
		case 2: w[i] = -w[i]; break;
		case 3: w[i] = NAN; break;
		case 4: w[i] = INFINITY; break;
		case 5: memset(w, 0, sizeof w); break;
		}
		check(x, w);
	}
}

int main(void)
{
	plan(4);
	random_groups(3000, 0.02f, false);
	random_groups(1500, 0.02f, true);
	random_groups(300, 1e4f, false);
	tie_groups();
	range_groups();
	odd_groups();
	diag("%ld groups", groups);
	static const char *what[4] = {
		"full loop, plain/SSE2", "pruned, plain", "full loop, AVX2 (if any)",
		"pruned, AVX2 (if any)",
	};
	for (int k = 0; k < 4; k++)
		ok(differ[k] == 0, "%s: ggml's result in every group (%ld differ)",
		   what[k], differ[k]);
	return exit_status();
}
