/* quant_search.h — ggml's per-group scale searches, shared by the K-quant
 * (quant_k.c) and the legacy/IQ4 (quant_legacy.c) encoders.
 *
 * Promise: every search returns, bit for bit, what the ggml-quants.c
 * routine it names returns for the same group (scale, offset and levels),
 * NaN, infinite and denormal inputs included:
 *   qp_fit_symmetric         make_qx_quants, rmse_type 1 (weighted)
 *   qp_fit_symmetric_refine  make_q3_quants with do_rmse (weights x^2)
 *   qp_fit_asymmetric        make_qkx2_quants (QP_ASYM_QKX2: round, then
 *                            clamp; absolute or squared error) and
 *                            make_qkx3_quants (QP_ASYM_QKX3: the same
 *                            levels; max <= min is its flat test)
 *   qp_fit_positive          make_qp_quants
 * plus ggml's nearest_int and the final symmetric levels round(x / d).
 * The *_groups drivers run a search over consecutive groups of n values
 * (group j at x + n * j); with lanes set they search groups side by side,
 * eight in AVX2 lanes where the processor has them (quant_search_lanes.h,
 * picked once per call), else four (SSE2 or plain C vectors); a last batch
 * of fewer runs beside zero groups whose results are dropped.  Each lane
 * does the scalar search's float operations in its order, so the bytes
 * are the same either way: lanes only change speed.  Where lanes of groups
 * would idle, the symmetric search puts candidates in lanes instead: one
 * group's 18 candidate scales side by side, or four groups twice over in
 * eight lanes, two candidates at a time.  For the symmetric searches q
 * may be NULL: the scales only (the lanes then skip storing levels); w
 * may be NULL: ggml's default weights x^2 (made in lanes where they run).
 * Bit-exactness needs -ffp-contract=off (the Makefile's flag), never
 * -ffast-math.  n is at most 32.  No allocation, no global state.
 */
#ifndef QP_QUANT_SEARCH_H
#define QP_QUANT_SEARCH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ggml's threshold below which a group counts as all zero. */
#define QP_GROUP_EPS 1e-15f

/* ggml's nearest_int: round to nearest, ties to even, by adding 1.5 * 2^23
 * so the rounded value lands in the low mantissa bits.  Valid for
 * |v| < 2^22; outside that it gives the same garbage ggml gets. */
static inline int qp_nearest_int(float v)
{
	float shifted = v + 12582912.f;
	uint32_t bits;
	memcpy(&bits, &shifted, sizeof bits);
	return (int)(bits & 0x007fffffu) - 0x00400000;
}

static inline int qp_clamp_int(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The element of largest magnitude (the first on ties; NaN never wins),
 * with its sign; its magnitude goes to *amax (0 for an all-zero group). */
static inline float qp_signed_absmax(const float *x, int n, float *amax)
{
	float a = 0, max = 0;
	for (int i = 0; i < n; i++) {
		float ax = fabsf(x[i]);
		if (ax > a) {
			a = ax;
			max = x[i];
		}
	}
	*amax = a;
	return max;
}

/* Sequential float sum of x^2, as ggml's sigma2 and rms loops add it. */
static inline float qp_sum_squares(const float *x, int64_t n)
{
	float s = 0;
	for (int64_t i = 0; i < n; i++)
		s += x[i] * x[i];
	return s;
}

/* qp_sum_squares of n_groups runs of n values, run j at x + stride * j,
 * into sums[j]; with AVX2 eight runs side by side (lane j: run j's adds
 * in their order), so the serial chain of adds is paid once for eight.
 * n a multiple of 8. */
void qp_sum_squares_groups(int n_groups, int64_t stride, int64_t n,
			   const float *x, float *sums);

/* ggml's importance weights w = imp * sqrt(sigma2 + x^2); returns their
 * sequential float sum. */
static inline float qp_imatrix_weights(const float *x, const float *imp,
				       float sigma2, int n, float *w)
{
	float s = 0;
	for (int i = 0; i < n; i++) {
		w[i] = imp[i] * sqrtf(sigma2 + x[i] * x[i]);
		s += w[i];
	}
	return s;
}

/* qp_imatrix_weights for n_groups groups of n values (n a multiple of 8):
 * w for all of them (with AVX2 eight at a time: the same product, sum,
 * correctly rounded square root and product per value), then each group's
 * sequential sum into sums[j]. */
void qp_imatrix_weights_groups(int n_groups, int n, const float *x,
			       const float *imp, float sigma2, float *w,
			       float *sums);

/* make_qx_quants: levels -nmax..nmax-1, stored as 0..2*nmax-1 in q; the
 * best of 19 candidate scales by the weighted least-squares criterion.
 * Returns the scale. */
float qp_fit_symmetric(int n, int nmax, const float *x, const float *w,
		       int8_t *q);
void qp_fit_symmetric_groups(int n_groups, int n, int nmax, const float *x,
			     const float *w, int8_t *q, float *scales,
			     bool lanes);

/* make_q3_quants with do_rmse: levels as qp_fit_symmetric, weights x^2,
 * then up to five passes moving single values to a better level. */
float qp_fit_symmetric_refine(int n, int nmax, const float *x, int8_t *q);
void qp_fit_symmetric_refine_groups(int n_groups, int n, int nmax,
				    const float *x, int8_t *q, float *scales,
				    bool lanes);

/* How a step of the asymmetric search turns v = iscale * (x - min) into a
 * level: make_qkx2_quants rounds then clamps, make_qkx3_quants clamps
 * first (the same for finite in-range v, not for inf/NaN/huge). */
enum qp_asym_variant { QP_ASYM_QKX2, QP_ASYM_QKX3 };

typedef struct qp_asym_search {
	int nmax;		/* levels 0..nmax */
	float rmin, rdelta;	/* candidate k: (rmin + rdelta*k + nmax) / range */
	int nstep;		/* candidates 0..nstep */
	bool use_mad;		/* absolute instead of squared error (qkx2) */
	enum qp_asym_variant variant;
} qp_asym_search;

/* make_qkx2_quants / make_qkx3_quants: x ~ scale * q + min with min <= 0.
 * Returns the scale and puts -min in *neg_min.  ggml's quirk is kept: once
 * a candidate wins, the later candidates are taken relative to its min. */
float qp_fit_asymmetric(int n, const qp_asym_search *p, const float *x,
			const float *w, uint8_t *q, float *neg_min);
void qp_fit_asymmetric_groups(int n_groups, int n, const qp_asym_search *p,
			      const float *x, const float *w, uint8_t *q,
			      float *scales, float *neg_mins, bool lanes);

/* make_qp_quants: a scale for levels 0..nmax of non-negative x (group
 * scales or mins), weighted by w, refined like qp_fit_symmetric_refine. */
float qp_fit_positive(int n, int nmax, const float *x, uint8_t *q,
		      const float *w);

/* Final levels once the scale d != 0 is known: q = clamp(nearest_int(x / d),
 * -nmax, nmax - 1) + nmax. */
void qp_symmetric_levels(int n, int nmax, const float *x, float d, int8_t *q);
/* The same for n_groups groups of n values, group j with scale d[j]; a
 * group whose d[j] is 0 keeps its levels in q (ggml skips it). */
void qp_symmetric_levels_groups(int n_groups, int n, int nmax, const float *x,
				const float *d, int8_t *q);

#endif
