/* quant_search.c — the lane searches against the scalar ones, directly.
 *
 * Every *_groups driver with lanes must give, for every group, the scalar
 * search's bytes (levels, scale, offset): for every group count from 1 to
 * 19 (whole batches of four and eight, and every tail), for the group
 * sizes, level counts and variants the encoders use, on groups of edge
 * cases mixed so that lanes of one batch hold different ones: zero,
 * constant, one-signed, a lone spike, denormal, tiny and huge, ties, NaN
 * with payloads, infinities, ranges that overflow.  `make check` runs this
 * on the AVX2 kernels (eight lanes), `make check-plain` on SSE2 and plain C
 * (four lanes).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quant_search.h"
#include "../tap.h"

enum { MAX_GROUPS = 19, MAX_N = 32, N_KINDS = 14, N_CASES = 3 * N_KINDS };

static uint64_t rng_state = 0x2545f4914f6cdd1du;

static double uniform(void)
{
	rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static float gauss(void)
{
	double u1 = uniform() + 1e-300, u2 = uniform();
	return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}

static float nan_payload(int i)
{
	uint32_t bits = 0x7fc00000u | (uint32_t)(i * 2654435761u & 0x3fffffu);
	if (i & 1)
		bits |= 0x80000000u;
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

/* One group of n values of the given kind, and its weights. */
static void fill_group(int kind, int n, float *x, float *w)
{
	for (int i = 0; i < n; i++) {
		float g = gauss();
		switch (kind) {
		case 0: x[i] = 0.02f * g; break;
		case 1: x[i] = 0; break;
		case 2: x[i] = -0.75f; break;
		case 3: x[i] = fabsf(g); break;
		case 4: x[i] = -fabsf(g) * 1e-3f; break;
		case 5: x[i] = i == n / 3 ? 3.0f : 1e-4f * g; break;
		case 6: x[i] = (float)(i - n / 2) * 1e-40f; break;
		case 7: x[i] = 3e4f * g; break;
		case 8: x[i] = (float)((int)(g * 4)) * 0.25f; break;
		case 9: x[i] = i % 7 == 2 ? nan_payload(i) : g; break;
		case 10: x[i] = i == 5 ? (n & 1 ? -INFINITY : INFINITY) : g; break;
		case 11: x[i] = (i & 1 ? 3e38f : -3e38f) * (0.5f + 0.1f * g); break;
		case 12: x[i] = 1e-20f * g; break;
		default: x[i] = (i & 1) ? 1.0f : -1.0f; break;
		}
		double u = uniform();
		w[i] = u < 0.1 ? 0 : (float)(u * u * 50);
		if (kind == 13 && i == 3)
			w[i] = nan_payload(i + 7);
	}
}

/* Groups of mixed kinds: group j of case c gets kind (j * 5 + c) % N_KINDS
 * (each mix three times over, on fresh values). */
static void fill_case(int c, int n, int n_groups, float *x, float *w)
{
	for (int j = 0; j < n_groups; j++)
		fill_group((j * 5 + c) % N_KINDS, n, x + n * j, w + n * j);
}

static bool same_bits(const float *a, const float *b, int n)
{
	return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

static void check_symmetric(int n, int nmax)
{
	int bad = 0, runs = 0;
	for (int c = 0; c < N_CASES; c++)
		for (int g = 1; g <= MAX_GROUPS; g++) {
			float x[MAX_GROUPS * MAX_N], w[MAX_GROUPS * MAX_N];
			float sa[MAX_GROUPS], sb[MAX_GROUPS];
			int8_t qa[MAX_GROUPS * MAX_N], qb[MAX_GROUPS * MAX_N];
			fill_case(c, n, g, x, w);
			qp_fit_symmetric_groups(g, n, nmax, x, w, qa, sa, true);
			qp_fit_symmetric_groups(g, n, nmax, x, w, qb, sb, false);
			bad += !same_bits(sa, sb, g) || memcmp(qa, qb, (size_t)(n * g));
			runs++;
		}
	ok(bad == 0, "symmetric n=%d nmax=%d: lanes == scalar, %d/%d runs of "
	   "1..%d mixed edge groups", n, nmax, runs - bad, runs, MAX_GROUPS);
}

static void check_refine(int n, int nmax)
{
	int bad = 0, runs = 0;
	for (int c = 0; c < N_CASES; c++)
		for (int g = 1; g <= MAX_GROUPS; g++) {
			float x[MAX_GROUPS * MAX_N], w[MAX_GROUPS * MAX_N];
			float sa[MAX_GROUPS], sb[MAX_GROUPS];
			int8_t qa[MAX_GROUPS * MAX_N], qb[MAX_GROUPS * MAX_N];
			fill_case(c, n, g, x, w);
			qp_fit_symmetric_refine_groups(g, n, nmax, x, qa, sa, true);
			qp_fit_symmetric_refine_groups(g, n, nmax, x, qb, sb, false);
			bad += !same_bits(sa, sb, g) || memcmp(qa, qb, (size_t)(n * g));
			runs++;
		}
	ok(bad == 0, "refine n=%d nmax=%d: lanes == scalar, %d/%d runs",
	   n, nmax, runs - bad, runs);
}

/* q = NULL (scales only: the lanes skip storing levels) gives the scales
 * of the full search, for the symmetric and the refine searches; w = NULL
 * (weights x^2, made in lanes) the search's with those weights given. */
static void check_scales_only(int n, int nmax)
{
	int bad = 0, runs = 0;
	for (int c = 0; c < N_CASES; c++)
		for (int g = 1; g <= MAX_GROUPS; g++) {
			float x[MAX_GROUPS * MAX_N], w[MAX_GROUPS * MAX_N];
			float sa[MAX_GROUPS], sb[MAX_GROUPS];
			float ra[MAX_GROUPS], rb[MAX_GROUPS];
			int8_t q[MAX_GROUPS * MAX_N];
			fill_case(c, n, g, x, w);
			for (int lanes = 0; lanes < 2; lanes++) {
				qp_fit_symmetric_groups(g, n, nmax, x, w, q, sa, false);
				qp_fit_symmetric_groups(g, n, nmax, x, w, NULL, sb, lanes);
				qp_fit_symmetric_refine_groups(g, n, nmax, x, q, ra, false);
				qp_fit_symmetric_refine_groups(g, n, nmax, x, NULL, rb, lanes);
				bad += !same_bits(sa, sb, g) || !same_bits(ra, rb, g);
				/* w NULL: ggml's default weights x^2 */
				float x2[MAX_GROUPS * MAX_N], sc[MAX_GROUPS];
				int8_t qc[MAX_GROUPS * MAX_N];
				for (int i = 0; i < g * n; i++)
					x2[i] = x[i] * x[i];
				qp_fit_symmetric_groups(g, n, nmax, x, x2, q, sa, false);
				qp_fit_symmetric_groups(g, n, nmax, x, NULL, qc, sc, lanes);
				bad += !same_bits(sa, sc, g) || memcmp(q, qc, (size_t)(g * n));
				runs++;
			}
		}
	ok(bad == 0, "n=%d nmax=%d: scales only (q NULL) == the full search's, "
	   "w NULL == w x^2, "
	   "%d/%d runs", n, nmax, runs - bad, runs);
}

/* The refine search's passes on many ordinary blocks (Gaussian, cubed,
 * near-grid, uniform), sixteen groups a block as Q3_K: lanes stop when
 * no lane has changed for n evaluations, the scalar loop at pass ends;
 * levels and scales must agree. */
static void check_refine_passes(void)
{
	enum { BLOCKS = 3000 };
	int bad = 0, multi = 0;
	for (int b = 0; b < BLOCKS; b++) {
		float x[256];
		int8_t qa[256], qb[256];
		float sa[16], sb[16];
		for (int i = 0; i < 256; i++) {
			float g = gauss();
			x[i] = b % 4 == 0 ? g : b % 4 == 1 ? g * g * g
			     : b % 4 == 2 ? (float)((int)(uniform() * 9) - 4) * 0.25f + 1e-3f * g
			     : (float)uniform() - 0.5f;
		}
		qp_fit_symmetric_refine_groups(16, 16, 4, x, qa, sa, true);
		qp_fit_symmetric_refine_groups(16, 16, 4, x, qb, sb, false);
		bad += !same_bits(sa, sb, 16) || memcmp(qa, qb, 256);
		/* how many groups the refinement moved off the first fit */
		for (int j = 0; j < 16; j++) {
			float amax;
			float m = qp_signed_absmax(x + 16 * j, 16, &amax);
			for (int i = 0; i < 16; i++)
				if (qa[16 * j + i] - 4 !=
				    qp_clamp_int(qp_nearest_int(-4.f / m * x[16 * j + i]), -4, 3)) {
					multi++;
					break;
				}
		}
	}
	ok(bad == 0 && multi > BLOCKS, "refine n=16 nmax=4: lanes == scalar on "
	   "%d ordinary blocks (%d bad; %d groups moved by the passes)",
	   BLOCKS, bad, multi);
}

/* qp_sum_squares_groups: each run's sum is qp_sum_squares' (its adds in
 * order), for 1..19 runs (eight at a time and the rest), strides wider
 * than the runs, and NaN, infinite, huge and denormal values (a NaN sum
 * only has to be NaN). */
static void check_sum_squares(void)
{
	enum { STRIDE = 72, N = 64 };
	static float x[MAX_GROUPS * STRIDE];
	int bad = 0, runs = 0;
	for (int c = 0; c < N_CASES; c++) {
		float w[MAX_N];
		for (int j = 0; j < MAX_GROUPS; j++)
			for (int h = 0; h < STRIDE; h += 24)
				fill_group((j * 3 + c + h) % N_KINDS, 24, x + STRIDE * j + h, w);
		for (int g = 1; g <= MAX_GROUPS; g++) {
			float sums[MAX_GROUPS];
			qp_sum_squares_groups(g, STRIDE, N, x, sums);
			for (int j = 0; j < g; j++) {
				float s = qp_sum_squares(x + STRIDE * j, N);
				/* a NaN's sign and payload are the compiler's
				 * choice of operand order (the scalar loop
				 * itself differs between two files) */
				bad += isnan(s) ? !isnan(sums[j])
						: memcmp(&s, &sums[j], sizeof s) != 0;
			}
			runs++;
		}
	}
	ok(bad == 0, "sum of squares, 1..%d runs at a time == one by one "
	   "(%d runs, %d sums differ)", MAX_GROUPS, runs, bad);
}

static void check_asymmetric(int n, const qp_asym_search *p, const char *what)
{
	int bad = 0, runs = 0;
	for (int c = 0; c < N_CASES; c++)
		for (int g = 1; g <= MAX_GROUPS; g++) {
			float x[MAX_GROUPS * MAX_N], w[MAX_GROUPS * MAX_N];
			float sa[MAX_GROUPS], sb[MAX_GROUPS];
			float ma[MAX_GROUPS], mb[MAX_GROUPS];
			uint8_t qa[MAX_GROUPS * MAX_N], qb[MAX_GROUPS * MAX_N];
			fill_case(c, n, g, x, w);
			qp_fit_asymmetric_groups(g, n, p, x, w, qa, sa, ma, true);
			qp_fit_asymmetric_groups(g, n, p, x, w, qb, sb, mb, false);
			bad += !same_bits(sa, sb, g) || !same_bits(ma, mb, g) ||
			       memcmp(qa, qb, (size_t)(n * g));
			runs++;
		}
	ok(bad == 0, "asymmetric %s n=%d: lanes == scalar, %d/%d runs", what,
	   n, runs - bad, runs);
}

/* The final levels for groups: a zero scale keeps the group's levels. */
static void check_levels_groups(void)
{
	enum { G = 16, N = 16 };
	int bad = 0;
	for (int c = 0; c < N_KINDS; c++) {
		float x[G * N], w[G * N], d[G];
		int8_t qa[G * N], qb[G * N];
		fill_case(c, N, G, x, w);
		for (int j = 0; j < G; j++)
			d[j] = j % 5 == 0 ? 0.f : j % 7 == 3 ? nan_payload(j)
						  : 0.01f * (float)(j - 8);
		memset(qa, 7, sizeof qa);
		memset(qb, 7, sizeof qb);
		qp_symmetric_levels_groups(G, N, 32, x, d, qa);
		for (int j = 0; j < G; j++)
			if (d[j] != 0)
				qp_symmetric_levels(N, 32, x + N * j, d[j],
						    qb + N * j);
		bad += memcmp(qa, qb, sizeof qa) != 0;
	}
	ok(bad == 0, "symmetric levels of groups == per group, zero scales "
	   "keep their levels (%d bad)", bad);
}

/* A group (from a Q5_1 row with an importance matrix) where a won min far
 * above the smallest x makes later steps' v = cand * (x - min) reach
 * -5e6: ggml's nearest_int, which rounds only below 2^22, gives x[25]
 * level 31 there, and ggml's make_qkx3_quants keeps that step's negative
 * scale.  Expected: ggml-quants.c's result for this group.  Fails if a
 * search clamps v before rounding it. */
static void check_asymmetric_huge_v(const qp_asym_search *p)
{
	static const float x[32] = {
		-0x1.8d4a94p+0f, -0x1.8f1696p+3f, -0x1.d77a82p-36f, 0x1.ad8fdap-47f,
		-0x1.16b73ep-47f, -0x1.0a304ep-13f, 0x1.051e4p-59f, -0x1.13b07ap-42f,
		-0x1.d95bfp-22f, -0x1.00e244p-35f, 0x1.cdd934p-19f, 0x1.dee6d4p-45f,
		-0x1.293d7ep-3f, -0x1.389a1ep+10f, -0x1.df6f5p+14f, -0x1.99581ap-26f,
		-0x1.2588a8p-11f, -0x1.1f12f6p-29f, -0x1.15522cp-51f, 0x1.be5d36p-11f,
		0x1.0a565p-37f, -0x1.440bfp-2f, 0x1.17b0e2p-19f, -0x1.60fb4ep-38f,
		-0x1.7a35bep+6f, -0x1.1fbbbcp+17f, -0x1.71d7bcp-54f, -0x1.15ef6cp+6f,
		-0x1.574302p+1f, 0x1.f9a3e2p-21f, -0x1.b32d3ap-7f, 0x1.bb128p-1f,
	};
	static const float w[32] = {
		0x1.419f24p-31f, 0x1.f8ccfcp-9f, 0x1.79b82p+49f, 0x1.e1ed56p-51f,
		0x1.240804p-25f, 0x1.47cb8ep+33f, 0x1.f8c616p-41f, 0x1.c26132p-14f,
		0x1.13cd8ep-54f, 0x1.4d98eep-19f, 0x1.aec0cp-66f, 0x1.91d99ap-52f,
		0x1.573c74p-27f, 0x1.1c4fb4p+4f, 0x1.fd1c98p-42f, 0x1.1a1b26p-73f,
		0x1.2a8ee6p+52f, 0x1.034dccp+0f, 0x1.0409c6p-41f, 0x1.2dc706p+36f,
		0x1.0fe9c8p-41f, 0x1.3b0a02p-20f, 0x1.edfeeep+47f, 0x1.dfabc6p-21f,
		0x1.063ea4p-52f, 0x1.627ca2p-27f, 0x1.f44182p+36f, 0x1.40dbbep-76f,
		0x1.fc3428p-43f, 0x1.4bf74cp+50f, 0x1.01fb28p-77f, 0x1.614776p-21f,
	};
	enum { G = 9 };
	float xs[G * 32], ws[G * 32], scale[G], neg_min[G];
	uint8_t q[G * 32], want[32] = {0};
	want[25] = 31;
	want[31] = 30;
	for (int g = 0; g < G; g++) {
		memcpy(xs + 32 * g, x, sizeof x);
		memcpy(ws + 32 * g, w, sizeof w);
	}
	uint8_t q1[32];
	float m1;
	const float s1 = qp_fit_asymmetric(32, p, x, w, q1, &m1);
	ok(s1 == -0x1.38e07ep+6f && m1 == 0x1.8a4ceep-12f && !memcmp(q1, want, 32),
	   "asymmetric qkx3, v beyond 2^22: ggml's scale %a, -min %a and levels",
	   (double)s1, (double)m1);
	for (int lanes = 0; lanes < 2; lanes++) {
		qp_fit_asymmetric_groups(G, 32, p, xs, ws, q, scale, neg_min, lanes);
		int bad = 0;
		for (int g = 0; g < G; g++)
			bad += scale[g] != -0x1.38e07ep+6f || neg_min[g] != 0x1.8a4ceep-12f ||
			       memcmp(q + 32 * g, want, 32) != 0;
		ok(bad == 0, "asymmetric qkx3 groups (lanes %d), v beyond 2^22: "
		   "ggml's result in %d/%d groups", lanes, G - bad, G);
	}
}

int main(void)
{
	check_symmetric(16, 4);   /* Q3_K with importance */
	check_symmetric(16, 32);  /* Q6_K; Q3_K's scales (one group) */
	check_symmetric(32, 8);   /* Q4_0 with importance */
	check_symmetric(32, 16);  /* Q5_0 with importance */
	check_refine(16, 4);      /* Q3_K reference */
	check_refine_passes();
	check_scales_only(16, 4);
	check_scales_only(16, 32);
	check_scales_only(32, 8);
	check_sum_squares();
	static const qp_asym_search q2_ref = { 3, -0.5f, 0.1f, 15, true, QP_ASYM_QKX2 };
	static const qp_asym_search q4_ref = { 15, -1.f, 0.1f, 20, false, QP_ASYM_QKX2 };
	static const qp_asym_search q5_ref = { 31, -0.5f, 0.1f, 15, false, QP_ASYM_QKX2 };
	static const qp_asym_search imat4 = { 15, -0.9f, 0.05f, 36, false, QP_ASYM_QKX3 };
	static const qp_asym_search imat2 = { 3, -0.9f, 0.05f, 36, false, QP_ASYM_QKX3 };
	static const qp_asym_search imat5 = { 31, -0.9f, 0.05f, 36, false, QP_ASYM_QKX3 };
	check_asymmetric(16, &q2_ref, "qkx2 mad nmax=3");
	check_asymmetric(16, &imat2, "qkx3 nmax=3");
	check_asymmetric(32, &q4_ref, "qkx2 nmax=15");
	check_asymmetric(32, &q5_ref, "qkx2 nmax=31");
	check_asymmetric(32, &imat4, "qkx3 nmax=15");
	check_asymmetric(32, &imat5, "qkx3 nmax=31");
	check_asymmetric_huge_v(&imat5);
	check_levels_groups();
	done_testing();
	return exit_status();
}
