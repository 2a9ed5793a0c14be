/* Unit tests for common/wstats: every figure against a plain double
 * two-pass computation over the whole tensor held in memory (the SQNR
 * table over exactly the rows the header's promise names), on random
 * heavy-tailed data of several shapes; bit-identical results for any
 * thread count; errors from the row callback. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "gguf.h"
#include "le.h"
#include "mapfile.h"
#include "wstats.h"

/* ---- data --------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(void) /* (0, 1) */
{
	return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

/* Student-t with 3 degrees of freedom, some exact zeros, rare big
 * outliers and a per-row scale, so rows, columns and experts differ. */
static float *heavy_tailed(int64_t n_cols, int64_t n_rows, uint64_t seed)
{
	float *w = malloc((size_t)(n_cols * n_rows) * sizeof *w);
	rng_state = seed;
	for (int64_t r = 0; r < n_rows; r++) {
		double row_scale = 0.01 * (1 + 3 * rng_unit());
		for (int64_t j = 0; j < n_cols; j++) {
			double u = rng_unit();
			double g = sqrt(-2 * log(rng_unit())) *
				   cos(6.283185307179586 * rng_unit());
			double chi = 0;
			for (int k = 0; k < 3; k++) {
				double z = sqrt(-2 * log(rng_unit())) *
					   cos(6.283185307179586 * rng_unit());
				chi += z * z;
			}
			double t = g / sqrt(chi / 3);
			if (u < 0.02)
				t = 0;
			else if (u > 0.9995)
				t *= 40;
			w[r * n_cols + j] = (float)(t * row_scale);
		}
	}
	return w;
}

typedef struct src {
	const float *w;
	int64_t n_cols;
	int64_t fail_row; /* -1: never */
} src;

static int get_rows(void *ctx, int64_t row0, int64_t n, float *dst,
		    qp_err *e)
{
	const src *s = ctx;
	if (s->fail_row >= row0 && s->fail_row < row0 + n)
		return qp_fail(e, "cannot dequantize row %lld",
			       (long long)s->fail_row);
	memcpy(dst, s->w + row0 * s->n_cols,
	       (size_t)(n * s->n_cols) * sizeof *dst);
	return 0;
}

/* ---- reference: the obvious way, everything in memory ------------------ */

static double ref_qerr2(double w, double absmax, int bits)
{
	if (absmax == 0)
		return 0;
	double qmax = pow(2, bits - 1) - 1, d = absmax / qmax;
	double q = round(w * (1.0 / d)); /* C's round: half away from 0 */
	q = fmin(qmax, fmax(-qmax, q));
	return (w - q * d) * (w - q * d);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void ref_spread(const double *v, int64_t n, double *cv, double *mm,
		       double *mn)
{
	double s = 0, ss = 0;
	for (int64_t i = 0; i < n; i++)
		s += v[i];
	for (int64_t i = 0; i < n; i++)
		ss += (v[i] - s / n) * (v[i] - s / n);
	double *t = malloc((size_t)n * sizeof *t);
	memcpy(t, v, (size_t)n * sizeof *t);
	qsort(t, (size_t)n, sizeof *t, cmp_d);
	double med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	*cv = sqrt(ss / n) / (s / n);
	*mm = t[n - 1] / med;
	if (mn)
		*mn = t[n - 1] / t[0];
	free(t);
}

static double group_err(const float *w, int64_t n, int64_t g, int bits)
{
	double err = 0;
	for (int64_t j0 = 0; j0 < n; j0 += g) {
		int64_t m = n - j0 < g ? n - j0 : g;
		double amax = 0;
		for (int64_t j = j0; j < j0 + m; j++)
			if (isfinite(w[j]))
				amax = fmax(amax, fabs(w[j]));
		for (int64_t j = j0; j < j0 + m; j++)
			if (isfinite(w[j]))
				err += ref_qerr2(w[j], amax, bits);
	}
	return err;
}

typedef struct absw {
	double a, w;
} absw;

static int cmp_abs_desc(const void *x, const void *y)
{
	double a = ((const absw *)x)->a, b = ((const absw *)y)->a;
	return (a < b) - (a > b);
}

/* The SQNR sample as wstats.h words it: k = min(rows, max(1,
 * floor(budget / ne0))) rows, row floor(i * rows / k). */
static int64_t sample_rows(int64_t nc, int64_t nr, int64_t budget,
			   int64_t *rows)
{
	int64_t k = budget / nc;
	k = k < 1 ? 1 : k > nr ? nr : k;
	for (int64_t i = 0; i < k; i++)
		rows[i] = (int64_t)floor((double)i * (double)nr / (double)k);
	return k;
}

static void reference(const float *w, int64_t nc, int64_t nr, int64_t nx,
		      int64_t budget, qp_wstats *o)
{
	int64_t nv = nc * nr, n = 0;
	double sum = 0, sumsq = 0;
	memset(o, 0, sizeof *o);
	o->min = INFINITY;
	o->max = -INFINITY;
	for (int64_t i = 0; i < nv; i++) {
		if (!isfinite(w[i])) {
			o->n_nonfinite++;
			continue;
		}
		n++;
		sum += w[i];
		sumsq += (double)w[i] * w[i];
		o->min = fmin(o->min, w[i]);
		o->max = fmax(o->max, w[i]);
		o->n_zero += w[i] == 0;
	}
	o->n = n;
	o->mean = sum / n;
	double m2 = 0, m3 = 0, m4 = 0;
	for (int64_t i = 0; i < nv; i++) {
		if (!isfinite(w[i]))
			continue;
		double d = w[i] - o->mean;
		m2 += d * d;
		m3 += d * d * d;
		m4 += d * d * d * d;
	}
	o->std = sqrt(m2 / n);
	o->skew = (m3 / n) / pow(m2 / n, 1.5);
	o->kurtosis = (m4 / n) / ((m2 / n) * (m2 / n)) - 3;
	o->absmax = fmax(-o->min, o->max);
	o->rms = sqrt(sumsq / n);
	o->crest = o->absmax / o->rms;
	o->zeros = (double)o->n_zero / n;
	for (int64_t i = 0; i < nv; i++) {
		if (!isfinite(w[i]))
			continue;
		double d = fabs(w[i] - o->mean);
		o->n_out3 += d > 3 * o->std;
		o->n_out6 += d > 6 * o->std;
	}
	o->out3 = (double)o->n_out3 / n;
	o->out6 = (double)o->n_out6 / n;

	double *rn = calloc((size_t)nr, sizeof *rn);
	double *cn = calloc((size_t)nc, sizeof *cn);
	double *ess = calloc((size_t)nx, sizeof *ess);
	int64_t *en = calloc((size_t)nx, sizeof *en);
	for (int64_t r = 0; r < nr; r++)
		for (int64_t j = 0; j < nc; j++) {
			double v = w[r * nc + j];
			if (!isfinite(v))
				continue;
			rn[r] += v * v;
			cn[j] += v * v;
			ess[r / (nr / nx)] += v * v;
			en[r / (nr / nx)]++;
		}
	for (int64_t r = 0; r < nr; r++)
		rn[r] = sqrt(rn[r]);
	for (int64_t j = 0; j < nc; j++)
		cn[j] = sqrt(cn[j]);
	ref_spread(rn, nr, &o->row_cv, &o->row_max_median, NULL);
	ref_spread(cn, nc, &o->col_cv, &o->col_max_median, NULL);
	o->expert_rms = calloc((size_t)nx, sizeof *o->expert_rms);
	for (int64_t x = 0; x < nx; x++)
		o->expert_rms[x] = sqrt(ess[x] / en[x]);
	if (nx > 1)
		ref_spread(o->expert_rms, nx, &o->expert_cv,
			   &o->expert_max_median, &o->expert_max_min);
	free(rn), free(cn), free(ess), free(en);

	int64_t *rows = malloc((size_t)nr * sizeof *rows);
	int64_t n_sample = sample_rows(nc, nr, budget, rows);
	double sig = 0;
	for (int64_t i = 0; i < n_sample; i++)
		for (int64_t j = 0; j < nc; j++)
			if (isfinite(w[rows[i] * nc + j]))
				sig += (double)w[rows[i] * nc + j] *
				       w[rows[i] * nc + j];
	o->sqnr_rows = n_sample;
	for (int b = 2; b <= 8; b++) {
		double et = 0, er = 0, e32 = 0, e128 = 0;
		for (int64_t i = 0; i < n_sample; i++) {
			const float *row = w + rows[i] * nc;
			for (int64_t j = 0; j < nc; j++)
				if (isfinite(row[j]))
					et += ref_qerr2(row[j], o->absmax, b);
			er += group_err(row, nc, nc, b);
			e32 += group_err(row, nc, 32, b);
			e128 += group_err(row, nc, 128, b);
		}
		o->sqnr_tensor[b - 2] = 10 * log10(sig / et);
		o->sqnr_row[b - 2] = 10 * log10(sig / er);
		o->sqnr_g32[b - 2] = 10 * log10(sig / e32);
		o->sqnr_g128[b - 2] = 10 * log10(sig / e128);
	}
	free(rows);

	absw *s = malloc((size_t)n * sizeof *s);
	int64_t k = 0;
	for (int64_t i = 0; i < nv; i++)
		if (isfinite(w[i]))
			s[k++] = (absw){fabs(w[i]), w[i]};
	qsort(s, (size_t)n, sizeof *s, cmp_abs_desc); /* descending |w| */
	int64_t r999 = (int64_t)ceil(0.999 * (double)n);
	int64_t r9999 = (int64_t)ceil(0.9999 * (double)n);
	/* ascending rank r is descending index n - r */
	o->clip999 = s[n - r999].a;
	o->clip9999 = s[n - r9999].a;
	o->n_top = (n + 999) / 1000;
	double top = 0, all = 0;
	for (int64_t i = 0; i < n; i++) {
		double e4 = ref_qerr2(s[i].w, o->absmax, 4);
		all += e4;
		if (i < o->n_top)
			top += e4;
	}
	o->top_threshold = s[o->n_top - 1].a;
	o->top_share = top / all;
	free(s);
}

/* ---- comparisons -------------------------------------------------------- */

static double max_rel_seen;

static int rel_ok(double got, double want, double tol)
{
	if (isfinite(got) && isfinite(want) && want != 0 &&
	    fabs(got - want) / fabs(want) > max_rel_seen)
		max_rel_seen = fabs(got - want) / fabs(want);
	if (isnan(got) || isnan(want))
		return isnan(got) && isnan(want);
	if (isinf(got) || isinf(want))
		return got == want;
	return fabs(got - want) <= tol * fmax(fabs(want), 1e-300);
}

#define REL(field, tol)                                                        \
	do {                                                                   \
		if (!rel_ok(got->field, want->field, tol)) {                   \
			diag("%s: %s got %.17g want %.17g", label, #field,     \
			     (double)got->field, (double)want->field);         \
			bad++;                                                 \
		}                                                              \
	} while (0)

static int compare(const char *label, const qp_wstats *got,
		   const qp_wstats *want, int64_t nx)
{
	const double t = 1e-9;
	int bad = 0;
	REL(n, 0);
	REL(n_nonfinite, 0);
	REL(n_zero, 0);
	REL(n_out3, 0);
	REL(n_out6, 0);
	REL(min, 0);
	REL(max, 0);
	REL(absmax, 0);
	REL(clip999, 0);
	REL(clip9999, 0);
	REL(top_threshold, 0);
	REL(n_top, 0);
	REL(sqnr_rows, 0);
	REL(mean, t);
	REL(std, t);
	REL(skew, t);
	REL(kurtosis, t);
	REL(rms, t);
	REL(crest, t);
	REL(zeros, t);
	REL(out3, t);
	REL(out6, t);
	REL(row_cv, t);
	REL(row_max_median, t);
	REL(col_cv, t);
	REL(col_max_median, t);
	REL(top_share, t);
	if (nx > 1) {
		REL(expert_cv, t);
		REL(expert_max_median, t);
		REL(expert_max_min, t);
		for (int64_t x = 0; x < nx; x++)
			REL(expert_rms[x], t);
	}
	for (int b = 0; b < QP_WSTATS_NBITS; b++) {
		REL(sqnr_tensor[b], t);
		REL(sqnr_row[b], t);
		REL(sqnr_g32[b], t);
		REL(sqnr_g128[b], t);
	}
	return bad;
}

/* Bit-identical: every double compared by its bits. */
static int same_bits(const qp_wstats *a, const qp_wstats *b)
{
	qp_wstats x = *a, y = *b;
	x.expert_rms = y.expert_rms = NULL;
	return memcmp(&x, &y, sizeof x) == 0 &&
	       memcmp(a->expert_rms, b->expert_rms,
		      (size_t)a->n_expert * sizeof *a->expert_rms) == 0;
}

/* FNV-1a over the result's bytes: `make check-plain` and the SSE2 build
 * must print the same (compare the diag lines of the two binaries). */
static uint64_t bits_hash(const qp_wstats *s)
{
	qp_wstats x = *s;
	x.expert_rms = NULL;
	uint64_t h = 0xcbf29ce484222325ull;
	const unsigned char *p = (const unsigned char *)&x;
	for (size_t i = 0; i < sizeof x; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	p = (const unsigned char *)s->expert_rms;
	for (size_t i = 0; i < (size_t)s->n_expert * sizeof(double); i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static int run_sampled(const float *w, const int64_t *ne, int nd,
		       int threads, int64_t chunk_rows, int64_t budget,
		       qp_wstats *out, qp_err *e)
{
	src s = {w, ne[0], -1};
	qp_wstats_opts o = {threads, chunk_rows, budget};
	return qp_wstats_compute(ne, nd, get_rows, &s, &o, out, e);
}

static int run_stats(const float *w, const int64_t *ne, int nd, int threads,
		     int64_t chunk_rows, qp_wstats *out, qp_err *e)
{
	return run_sampled(w, ne, nd, threads, chunk_rows, 0, out, e);
}

static void test_shape(const int64_t *ne, int nd, uint64_t seed,
		       int64_t chunk_rows, int64_t budget)
{
	int64_t nr = 1, nx = 1;
	for (int d = 1; d < nd; d++)
		nr *= ne[d];
	for (int d = 2; d < nd; d++)
		nx *= ne[d];
	char label[96];
	int len = snprintf(label, sizeof label, "[%lld", (long long)ne[0]);
	for (int d = 1; d < nd; d++)
		len += snprintf(label + len, sizeof label - (size_t)len,
				",%lld", (long long)ne[d]);
	snprintf(label + len, sizeof label - (size_t)len,
		 "] chunk_rows %lld sqnr_values %lld", (long long)chunk_rows,
		 (long long)budget);
	float *w = heavy_tailed(ne[0], nr, seed);
	qp_wstats want, got, other;
	qp_err e;
	reference(w, ne[0], nr, nx, budget ? budget : QP_WSTATS_SQNR_VALUES,
		  &want);
	int rc = run_sampled(w, ne, nd, 1, chunk_rows, budget, &got, &e);
	ok(rc == 0, "%s: computes", label);
	if (rc) {
		diag("%s", e.msg);
		free(w);
		free(want.expert_rms);
		return;
	}
	int bad = compare(label, &got, &want, nx);
	ok(bad == 0, "%s: all figures match the two-pass reference to 1e-9 "
	   "(n %lld, kurtosis %.3f, crest %.2f, top_share %.4f, SQNR from "
	   "%lld of %lld rows)", label, (long long)got.n, got.kurtosis,
	   got.crest, got.top_share, (long long)got.sqnr_rows, (long long)nr);
	diag("%s: result bits %016llx", label,
	     (unsigned long long)bits_hash(&got));
	int identical = 1;
	for (int th = 2; th <= 8; th *= 2) {
		rc = run_sampled(w, ne, nd, th, chunk_rows, budget, &other, &e);
		identical &= rc == 0 && same_bits(&got, &other);
		if (rc == 0)
			qp_wstats_free(&other);
	}
	ok(identical, "%s: bit-identical with 2, 4 and 8 threads", label);
	qp_wstats_free(&got);
	free(want.expert_rms);
	free(w);
}

static void test_chunkings_agree(void)
{
	int64_t ne[2] = {96, 301};
	float *w = heavy_tailed(ne[0], ne[1], 7);
	qp_wstats a, b;
	qp_err e;
	run_stats(w, ne, 2, 3, 1, &a, &e);
	run_stats(w, ne, 2, 3, 0, &b, &e);
	qp_wstats want;
	reference(w, ne[0], ne[1], 1, QP_WSTATS_SQNR_VALUES, &want);
	int bad = compare("chunk 1 vs default", &a, &b, 1);
	ok(bad == 0, "chunk_rows 1 and the default chunk agree to 1e-9");
	ok(compare("chunk 1", &a, &want, 1) == 0,
	   "chunk_rows 1 (301 merges) matches the reference");
	qp_wstats_free(&a);
	qp_wstats_free(&b);
	free(want.expert_rms);
	free(w);
}

static void test_nonfinite(void)
{
	int64_t ne[2] = {40, 50};
	float *w = heavy_tailed(ne[0], ne[1], 11);
	w[3] = NAN;
	w[777] = INFINITY;
	w[1999] = -INFINITY;
	qp_wstats got, want;
	qp_err e;
	reference(w, ne[0], ne[1], 1, QP_WSTATS_SQNR_VALUES, &want);
	ok(run_stats(w, ne, 2, 2, 3, &got, &e) == 0 && got.n_nonfinite == 3 &&
	   got.n == 1997, "NaN and Inf are counted and left out");
	ok(compare("nonfinite", &got, &want, 1) == 0,
	   "with NaN/Inf: the rest matches the reference");
	qp_wstats_free(&got);
	free(want.expert_rms);
	/* 10 sampled rows (0, 5, ...): the NaN's row 0 is one of them */
	reference(w, ne[0], ne[1], 1, 400, &want);
	ok(run_sampled(w, ne, 2, 2, 3, 400, &got, &e) == 0 &&
	   got.sqnr_rows == 10 && compare("nonfinite, sampled", &got, &want, 1) == 0,
	   "with NaN/Inf and 10 of 50 rows sampled: matches the reference");
	qp_wstats_free(&got);
	free(want.expert_rms);
	free(w);
}

static void test_degenerate(void)
{
	int64_t ne[2] = {8, 4};
	float w[32];
	qp_wstats s;
	qp_err e;
	for (int i = 0; i < 32; i++)
		w[i] = 0.5f;
	ok(run_stats(w, ne, 2, 1, 0, &s, &e) == 0 && s.std == 0 &&
	   isnan(s.skew) && isnan(s.kurtosis) && s.clip999 == 0.5 &&
	   isinf(s.sqnr_tensor[6]) && s.out3 == 0,
	   "constant tensor: std 0, skew/kurtosis NaN, no quantization error");
	qp_wstats_free(&s);
	for (int i = 0; i < 32; i++)
		w[i] = NAN;
	ok(run_stats(w, ne, 2, 1, 0, &s, &e) == 0 && s.n == 0 &&
	   s.n_nonfinite == 32 && isnan(s.mean) && isnan(s.clip999),
	   "all-NaN tensor: n 0, figures NaN");
	qp_wstats_free(&s);
	int64_t bad_ne[2] = {0, 4};
	ok(qp_wstats_compute(bad_ne, 2, get_rows, NULL, NULL, &s, &e) == -1,
	   "zero dimension fails: %s", e.msg);
	int64_t huge_ne[3] = {1ll << 40, 1ll << 20, 1ll << 10};
	ok(qp_wstats_compute(huge_ne, 3, get_rows, NULL, NULL, &s, &e) == -1,
	   "overflowing shape fails: %s", e.msg);
}

/* Tails and ranges at the edges of float: thresholds beyond FLT_MAX, a
 * mean no float equals, signed zeros, rows of 1 to 7 values (the lanes'
 * tails). */
static void test_edges(void)
{
	static const float huge[] = {3e38f, -3.2e38f, 0, 1, -1, 2e38f, 0, 5,
				     -3e38f, 7, 0, 0, 1e-30f, -1e-45f, 3.4e38f};
	float tenth[21], zeros[6] = {0.0f, -0.0f, 0.0f, -0.0f, -0.0f, 0.0f};
	for (int i = 0; i < 21; i++)
		tenth[i] = i == 20 ? 0.2f : 0.1f;
	struct { const float *w; int64_t ne[2]; const char *what; } c[] = {
		{huge, {5, 3}, "values near FLT_MAX (6 sigma beyond it)"},
		{huge, {1, 15}, "rows of one value"},
		{huge, {7, 2}, "rows of 7 values"},
		{tenth, {3, 7}, "0.1f and one 0.2f (a mean no float equals)"},
		{zeros, {3, 2}, "+0 and -0 only"},
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		qp_wstats got, want;
		qp_err e;
		reference(c[i].w, c[i].ne[0], c[i].ne[1], 1,
			  QP_WSTATS_SQNR_VALUES, &want);
		int rc = run_stats(c[i].w, c[i].ne, 2, 2, 1, &got, &e);
		int bad = rc ? 1 : compare(c[i].what, &got, &want, 1);
		if (rc)
			diag("%s", e.msg);
		/* which zero a min keeps depends on the order: both read +0 */
		bool neg_zero = rc == 0 && ((got.min == 0 && signbit(got.min)) ||
					    (got.max == 0 && signbit(got.max)));
		ok(bad == 0 && !neg_zero,
		   "%s: matches the reference (out3 %lld, out6 %lld, min %g)",
		   c[i].what, (long long)got.n_out3, (long long)got.n_out6,
		   got.min);
		if (rc == 0)
			qp_wstats_free(&got);
		free(want.expert_rms);
	}
}

static void test_callback_failure(void)
{
	int64_t ne[2] = {64, 200};
	float *w = heavy_tailed(ne[0], ne[1], 5);
	for (int th = 1; th <= 8; th *= 8) {
		src s = {w, ne[0], 150};
		qp_wstats_opts o = {th, 10, 0};
		qp_wstats out;
		qp_err e;
		int rc = qp_wstats_compute(ne, 2, get_rows, &s, &o, &out, &e);
		ok(rc == -1 && strstr(e.msg, "row 150") &&
		   strstr(e.msg, "rows 150..159"),
		   "%d thread(s): a failing row callback fails the whole: %s",
		   th, e.msg);
	}
	free(w);
}

/* Every weight of the real stories260K F32 model against the reference. */
static void test_fixture_model(void)
{
	const char *dir = tap_fixtures();
	char path[4200];
	qp_map m;
	qp_gguf g;
	qp_err e;
	if (!dir) {
		skip(1, "no fixtures");
		return;
	}
	snprintf(path, sizeof path, "%s/stories260K-f32.gguf", dir);
	if (qp_map_open(path, &m, &e) ||
	    qp_gguf_parse(m.data, m.size, m.size, &g, &e)) {
		ok(0, "stories260K-f32.gguf: %s", e.msg);
		return;
	}
	int bad = 0, n_checked = 0;
	double worst_crest = 0;
	for (uint64_t t = 0; t < g.n_tensors; t++) {
		const qp_gguf_tensor *ti = &g.tensors[t];
		if (ti->type != 0 || ti->n_dims != 2)
			continue;
		float *w = malloc(ti->n_elem * sizeof *w);
		for (uint64_t i = 0; i < ti->n_elem; i++)
			w[i] = le_f32(m.data + ti->offset + 4 * i);
		qp_wstats got, want;
		char label[80];
		snprintf(label, sizeof label, "%.*s", (int)ti->name.len,
			 ti->name.ptr);
		reference(w, ti->ne[0], ti->ne[1], 1, QP_WSTATS_SQNR_VALUES,
			  &want);
		if (run_stats(w, ti->ne, 2, 2, 0, &got, &e) == 0) {
			bad += compare(label, &got, &want, 1);
			if (got.crest > worst_crest)
				worst_crest = got.crest;
			if (n_checked == 0)
				diag("%s: std %.4g kurtosis %.3f clip99.9 %.4g "
				     "sqnr4 tensor/row/g32/g128 %.2f/%.2f/%.2f/"
				     "%.2f dB, top 0.1%% carry %.1f%% of the "
				     "4-bit error", label, got.std, got.kurtosis,
				     got.clip999, got.sqnr_tensor[2],
				     got.sqnr_row[2], got.sqnr_g32[2],
				     got.sqnr_g128[2], 100 * got.top_share);
			qp_wstats_free(&got);
		} else {
			bad++;
		}
		n_checked++;
		free(want.expert_rms);
		free(w);
	}
	ok(n_checked == 37 && bad == 0, "stories260K: all %d 2-D weights "
	   "match the reference (largest crest factor %.1f)", n_checked,
	   worst_crest);
	qp_gguf_free(&g);
	qp_map_close(&m);
}

int main(void)
{
	/* sqnr_values 0 is the default budget: every row of all but the
	 * [4096,300] and [1000,700] tensors; the others sample fewer rows */
	static const int64_t shapes[][3] = {
		{64, 33, 1}, {172, 64, 1}, {256, 10, 4}, {1000, 1, 1},
		{37, 200, 3}, {4096, 300, 1}, {130, 512, 1}, {1000, 700, 1},
		{64, 33, 1}, {37, 200, 3}, {130, 512, 1}, {1000, 1, 1},
		{333, 10, 4},
	};
	static const int nds[] = {2, 2, 3, 1, 3, 2, 2, 2, 2, 3, 2, 1, 3};
	static const int64_t chunks[] = {0, 5, 3, 0, 17, 0, 64, 0,
					 4, 17, 0, 0, 7};
	static const int64_t budgets[] = {0, 0, 0, 0, 0, 0, 0, 0,
					  640, 1000, 6500, 10, 1};
	for (size_t i = 0; i < sizeof nds / sizeof *nds; i++)
		test_shape(shapes[i], nds[i], 1000 + i, chunks[i], budgets[i]);
	diag("largest relative difference from the reference: %.3g",
	     max_rel_seen);
	test_chunkings_agree();
	test_nonfinite();
	test_degenerate();
	test_edges();
	test_callback_failure();
	test_fixture_model();
	done_testing();
	return exit_status();
}
