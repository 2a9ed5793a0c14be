/* wstats_kernels.h — the per-row numeric kernels of wstats.
 *
 * Promise: what wstats computes on one row (or group) of floats, apart
 * from the streaming passes that cut a tensor into chunks, run them on
 * threads and merge them in order (wstats.c): the symmetric b-bit
 * quantizer and its error, sums, moments, absmax, finiteness and the high
 * radix histogram of a row.  Each loop kernel has an SSE2 body and a plain
 * C twin that give the same bits: double sums run in four lanes, value j
 * of a row going to lane j % 4, and end as (l0 + l1) + (l2 + l3) (SSE2
 * holds lanes 0-1 and 2-3 in two registers); min, max and integer counts
 * do not depend on the order.  The fast kernels assume finite values; the
 * *_slow ones leave NaN and infinities out.  The small helpers the passes
 * use per value are inline here.
 */
#ifndef QP_WSTATS_KERNELS_H
#define QP_WSTATS_KERNELS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "wstats.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define QP_WSTATS_HBINS 65536 /* one radix level: 16 bits of a float's pattern */
/* Values per stretch of a row counted in 32-bit lanes (a multiple of 4,
 * so a value's lane is its index in the row mod 4 either way). */
#define QP_WSTATS_COUNT_BLOCK ((int64_t)1 << 28)
#define QP_WSTATS_EXP_MASK 0x7f800000u

typedef struct qp_wstats_scale {
	double d, id, qmax;
} qp_wstats_scale;

/* What one row of finite values sums to (pass 1). */
typedef struct qp_wstats_row_sums {
	double sum, sumsq;
	float min, max;
	int64_t zeros;
} qp_wstats_row_sums;

/* 1.5 * 2^52: for 0 <= x < 2^51, (x + M) - M with M this is x rounded
 * to an integer, ties to even (the sum's ulp is 1). */
#define QP_WSTATS_ROUND_MAGIC 6755399441055744.0

/* round(x) half away from zero for 0 <= x < 2^51, without a libm call:
 * x - rint(x) is exact, so a tie rounded down to even is seen and moved
 * up. */
static inline double qp_wstats_round_half_up(double x)
{
	double r = (x + QP_WSTATS_ROUND_MAGIC) - QP_WSTATS_ROUND_MAGIC;
	return r + (double)(x - r == 0.5);
}

static inline qp_wstats_scale qp_wstats_scale_make(double absmax, int bits)
{
	double qmax = (double)((1 << (bits - 1)) - 1);
	double d = absmax / qmax;
	return (qp_wstats_scale){d, absmax > 0 ? 1.0 / d : 0, qmax};
}

/* The quantizer is odd (q(-w) = -q(w), and w * id rounds symmetrically),
 * so the error of |w| is that of w; clamping before rounding gives the
 * same q, as ±qmax are integers. */
static inline double qp_wstats_scaled_err2(double w, qp_wstats_scale s)
{
	double a = fabs(w), x = a * s.id;
	double q = qp_wstats_round_half_up(x < s.qmax ? x : s.qmax);
	double err = a - q * s.d;
	return err * err;
}

static inline uint32_t qp_wstats_f32_bits(float w)
{
	uint32_t u;
	memcpy(&u, &w, sizeof u);
	return u;
}

static inline uint32_t qp_wstats_abs_bits(float w)
{
	return qp_wstats_f32_bits(w) & 0x7fffffffu;
}

static inline double qp_wstats_bits_value(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static inline double qp_wstats_lanes_total(const double *l)
{
	return (l[0] + l[1]) + (l[2] + l[3]);
}

#ifdef __SSE2__
static inline __m128d qp_wstats_lo_pd(__m128 v)
{
	return _mm_cvtps_pd(v);
}

static inline __m128d qp_wstats_hi_pd(__m128 v)
{
	return _mm_cvtps_pd(_mm_movehl_ps(v, v));
}

static inline int64_t qp_wstats_count_lanes(__m128i c)
{
	int32_t l[4];
	_mm_storeu_si128((__m128i *)l, c);
	return (int64_t)l[0] + l[1] + l[2] + l[3];
}

typedef struct qp_wstats_scale_pd {
	__m128d id, d, qmax, half, one, magic;
} qp_wstats_scale_pd;

static inline qp_wstats_scale_pd qp_wstats_scale_pd_make(qp_wstats_scale s)
{
	return (qp_wstats_scale_pd){_mm_set1_pd(s.id), _mm_set1_pd(s.d),
			   _mm_set1_pd(s.qmax), _mm_set1_pd(0.5),
			   _mm_set1_pd(1.0), _mm_set1_pd(QP_WSTATS_ROUND_MAGIC)};
}

/* qp_wstats_scaled_err2 of four |w| (a4), added to lanes 0-1 (acc[0]) and 2-3 (acc[1]). */
static inline void qp_wstats_qerr2_acc4(__m128 a4, const qp_wstats_scale_pd *s, __m128d *acc)
{
	__m128d x2[2] = {qp_wstats_lo_pd(a4), qp_wstats_hi_pd(a4)};
	for (int k = 0; k < 2; k++) {
		__m128d a = x2[k];
		__m128d x = _mm_min_pd(_mm_mul_pd(a, s->id), s->qmax);
		__m128d q = _mm_sub_pd(_mm_add_pd(x, s->magic), s->magic);
		__m128d tie = _mm_cmpeq_pd(_mm_sub_pd(x, q), s->half);
		q = _mm_add_pd(q, _mm_and_pd(tie, s->one));
		__m128d err = _mm_sub_pd(a, _mm_mul_pd(q, s->d));
		acc[k] = _mm_add_pd(acc[k], _mm_mul_pd(err, err));
	}
}

#endif

/* Pass 1 over one row: sum, min, max, zeros (Σw² comes with the
 * moments); false when a value is NaN or infinite (the rest is then
 * meaningless). */
bool qp_wstats_row_scan(const float *w, int64_t n, qp_wstats_row_sums *s);
/* Central moments about mean into m[0..2] (k = 2, 3, 4), Σw² into m[3],
 * and col[j] += w². */
void qp_wstats_row_moments(const float *w, int64_t n, double mean, double *col,
		 double *m);
float qp_wstats_row_absmax(const float *w, int64_t n);
/* Σ qp_wstats_scaled_err2 over w[0..n). */
double qp_wstats_qerr2_sum(const float *w, int64_t n, qp_wstats_scale s);
bool qp_wstats_row_finite(const float *w, int64_t n);
/* The 7 quantizers with scale absmax/qmax over w[0..n), all finite,
 * added to err[0..7). */
void qp_wstats_errors_all_bits(const float *w, int64_t n, double absmax, double *err);
/* The same per group of g values (each its own absmax; the last may be
 * shorter). */
void qp_wstats_grouped_errors_fast(const float *w, int64_t n, int64_t g, double *err);
/* The same over the finite values (rows with NaN/Inf). */
void qp_wstats_grouped_errors_slow(const float *w, int64_t n, int64_t g, double *err);
/* hist[|w| >> 16]++ for even j, hist[QP_WSTATS_HBINS + ...] for odd j. */
void qp_wstats_hist_abs_hi(const float *w, int64_t n, uint64_t *hist);

#endif
