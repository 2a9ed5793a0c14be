/* quant_search.c — ggml's per-group scale searches (see quant_search.h).
 *
 * Each routine does ggml-quants.c's float operations in the same order and
 * precision (float, not double; no fused multiply-add); the comments name
 * the ggml routine each one mirrors so a reader can check the order.
 */
#include "quant_search.h"

#include "cpu.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- per-group searches (scalar) ------------------------------------ */

/* make_qx_quants' first fit: levels at -nmax / signed_max into q (stored
 * + nmax), wx = w x (ggml's w*x*l is (w*x)*l), the fit's scale and its
 * score best.  False for an all-zero group (q zeroed, scale 0). */
static inline bool symmetric_first_fit(int n, int nmax, const float *x,
				       const float *w, int8_t *q, float *wx,
				       float *signed_max, float *scale,
				       float *best)
{
	float amax;
	*signed_max = qp_signed_absmax(x, n, &amax);
	if (amax < QP_GROUP_EPS) {
		memset(q, 0, (size_t)n);
		return false;
	}
	float iscale = (float)-nmax / *signed_max;
	float sumlx = 0, suml2 = 0;
	for (int i = 0; i < n; i++) {
		int l = qp_clamp_int(qp_nearest_int(iscale * x[i]), -nmax, nmax - 1);
		q[i] = (int8_t)(l + nmax);
		wx[i] = w[i] * x[i];
		sumlx += wx[i] * (float)l;
		suml2 += w[i] * (float)l * (float)l;
	}
	*scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
	*best = *scale * sumlx;
	return true;
}

/* ggml's make_qx_quants with rmse_type 1: a symmetric scale for levels
 * -nmax..nmax-1 (stored as 0..2*nmax-1 in q), chosen among 19 candidate
 * inverse scales by the weighted least-squares criterion. */
float qp_fit_symmetric(int n, int nmax, const float *x, const float *w,
		       int8_t *q)
{
	float wx[32], signed_max, scale, best;
	if (!symmetric_first_fit(n, nmax, x, w, q, wx, &signed_max, &scale, &best))
		return 0.f;
	for (int step = -9; step <= 9; step++) {
		if (step == 0)
			continue;
		float cand = -((float)nmax + 0.1f * (float)step) / signed_max;
		float slx = 0, sl2 = 0;
		for (int i = 0; i < n; i++) {
			int l = qp_clamp_int(qp_nearest_int(cand * x[i]), -nmax,
					  nmax - 1);
			slx += w[i] * x[i] * (float)l;
			sl2 += w[i] * (float)l * (float)l;
		}
		if (sl2 > 0 && slx * slx > best * sl2) {
			for (int i = 0; i < n; i++) {
				int l = qp_clamp_int(qp_nearest_int(cand * x[i]),
						  -nmax, nmax - 1);
				q[i] = (int8_t)(l + nmax);
			}
			scale = slx / sl2;
			best = scale * slx;
		}
	}
	return scale;
}

/* ggml's make_q3_quants with do_rmse: symmetric levels -nmax..nmax-1,
 * weights x^2, then up to five passes moving single values to a better
 * level. */
float qp_fit_symmetric_refine(int n, int nmax, const float *x, int8_t *q)
{
	float amax;
	float signed_max = qp_signed_absmax(x, n, &amax);
	if (amax < QP_GROUP_EPS) {
		memset(q, 0, (size_t)n);
		return 0.f;
	}
	float iscale = (float)-nmax / signed_max;
	float sumlx = 0, suml2 = 0;
	for (int i = 0; i < n; i++) {
		int l = qp_clamp_int(qp_nearest_int(iscale * x[i]), -nmax, nmax - 1);
		q[i] = (int8_t)l;
		float w = x[i] * x[i];
		sumlx += w * x[i] * (float)l;
		suml2 += w * (float)l * (float)l;
	}
	for (int pass = 0; pass < 5; pass++) {
		int changed = 0;
		for (int i = 0; i < n; i++) {
			float w = x[i] * x[i];
			float slx = sumlx - w * x[i] * (float)q[i];
			if (!(slx > 0))
				continue;
			float sl2 = suml2 - w * (float)q[i] * (float)q[i];
			int l = qp_clamp_int(qp_nearest_int(x[i] * sl2 / slx),
					  -nmax, nmax - 1);
			if (l == q[i])
				continue;
			slx += w * x[i] * (float)l;
			sl2 += w * (float)l * (float)l;
			if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
				q[i] = (int8_t)l;
				sumlx = slx;
				suml2 = sl2;
				changed++;
			}
		}
		if (!changed)
			break;
	}
	for (int i = 0; i < n; i++)
		q[i] = (int8_t)(q[i] + nmax);
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* How a search step turns v = iscale * (x - min) into a level: both
 * make_qkx2_quants and make_qkx3_quants round with nearest_int, then
 * clamp.  Rounding first matters where |v| >= 2^22: nearest_int's result
 * there is not v rounded (for v in (-1.5 * 2^23, -2^22] it is 2 v +
 * 1.5 * 2^23, often positive, so the level is nmax), and a won min far
 * above the data's smallest value makes such v. */
static inline int asym_level(float v, int nmax)
{
	return qp_clamp_int(qp_nearest_int(v), 0, nmax);
}

static inline float asym_err(float diff, bool use_mad)
{
	return use_mad ? fabsf(diff) : diff * diff;
}

/* ggml's make_qkx2_quants / make_qkx3_quants: levels 0..nmax with a scale
 * and an offset min <= 0; x ~ scale * q + min.  Returns the scale and puts
 * -min in *neg_min.  Note ggml's quirk, kept: once a candidate wins, the
 * later candidates are computed relative to the winner's min. */
float qp_fit_asymmetric(int n, const qp_asym_search *p, const float *x,
			const float *w, uint8_t *q, float *neg_min)
{
	uint8_t trial[32];
	float min = x[0], max = x[0];
	float sum_w = w[0];
	float sum_x = sum_w * x[0];
	for (int i = 1; i < n; i++) {
		if (x[i] < min)
			min = x[i];
		if (x[i] > max)
			max = x[i];
		sum_w += w[i];
		sum_x += w[i] * x[i];
	}
	if (min > 0)
		min = 0;
	if (p->variant == QP_ASYM_QKX2 ? max == min : max <= min) {
		memset(q, 0, (size_t)n);
		*neg_min = -min;
		return 0.f;
	}
	float iscale = (float)p->nmax / (max - min);
	float scale = 1 / iscale;
	float best = 0;
	for (int i = 0; i < n; i++) {
		int l = qp_clamp_int(qp_nearest_int(iscale * (x[i] - min)), 0,
				  p->nmax);
		q[i] = (uint8_t)l;
		best += w[i] * asym_err(scale * (float)l + min - x[i],
					p->use_mad);
	}
	for (int step = 0; step <= p->nstep; step++) {
		float cand = (p->rmin + p->rdelta * (float)step +
			      (float)p->nmax) / (max - min);
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;
		for (int i = 0; i < n; i++) {
			int l = asym_level(cand * (x[i] - min), p->nmax);
			trial[i] = (uint8_t)l;
			sum_l += w[i] * (float)l;
			sum_l2 += w[i] * (float)l * (float)l;
			sum_xl += w[i] * (float)l * x[i];
		}
		float det = sum_w * sum_l2 - sum_l * sum_l;
		if (!(det > 0))
			continue;
		float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
		float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
		if (this_min > 0) {
			this_min = 0;
			this_scale = sum_xl / sum_l2;
		}
		float err = 0;
		for (int i = 0; i < n; i++)
			err += w[i] * asym_err(this_scale * (float)trial[i] +
						       this_min - x[i],
					       p->use_mad);
		if (err < best) {
			memcpy(q, trial, (size_t)n);
			best = err;
			scale = this_scale;
			min = this_min;
		}
	}
	*neg_min = -min;
	return scale;
}

/* make_qp_quants' trial scales (nmax + 0.1 step) / max, step -4..4 but 0:
 * the first of least error wins over best (the error at iscale). */
static float positive_trials(int n, int nmax, const float *x, const float *w,
			     float max, float iscale, float best)
{
	for (int step = -4; step <= 4; step++) {
		if (step == 0)
			continue;
		float cand = (0.1f * (float)step + (float)nmax) / max;
		float cand_scale = 1 / cand;
		float err = 0;
		for (int i = 0; i < n; i++) {
			int l = qp_nearest_int(cand * x[i]);
			if (l > nmax)
				l = nmax;
			float diff = x[i] - cand_scale * (float)l;
			err += w[i] * diff * diff;
		}
		if (err < best) {
			best = err;
			iscale = cand;
		}
	}
	return iscale;
}

#if QP_HAVE_AVX2
/* positive_trials with the eight trial scales in AVX2 lanes, each lane the
 * scalar loop's operations in its order, then the comparisons in order. */
static QP_AVX2 float positive_trials_avx2(int n, int nmax, const float *x,
					  const float *w, float max,
					  float iscale, float best)
{
	float cand[8], cand_scale[8], err[8];
	for (int c = 0; c < 8; c++) { /* steps -4..-1, 1..4 */
		int step = c < 4 ? c - 4 : c - 3;
		cand[c] = (0.1f * (float)step + (float)nmax) / max;
		cand_scale[c] = 1 / cand[c];
	}
	const __m256 vc = _mm256_loadu_ps(cand), vs = _mm256_loadu_ps(cand_scale);
	const __m256i top = _mm256_set1_epi32(nmax);
	__m256 acc = _mm256_setzero_ps();
	for (int i = 0; i < n; i++) {
		const __m256 xi = _mm256_set1_ps(x[i]);
		/* qp_nearest_int in lanes: the magic add, then the mantissa */
		__m256i b = _mm256_castps_si256(_mm256_add_ps(_mm256_mul_ps(vc, xi),
							      _mm256_set1_ps(12582912.f)));
		__m256i l = _mm256_sub_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x007fffff)),
					     _mm256_set1_epi32(0x00400000));
		l = _mm256_min_epi32(l, top);
		__m256 diff = _mm256_sub_ps(xi, _mm256_mul_ps(vs, _mm256_cvtepi32_ps(l)));
		acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(w[i]),
								     diff), diff));
	}
	_mm256_storeu_ps(err, acc);
	for (int c = 0; c < 8; c++)
		if (err[c] < best) {
			best = err[c];
			iscale = cand[c];
		}
	return iscale;
}
#endif

/* make_qp_quants' end: the levels at iscale, then up to five passes that
 * move single levels while the weighted fit improves. */
static float positive_refine(int n, int nmax, const float *x, uint8_t *q,
			     const float *w, float iscale)
{
	float sumlx = 0, suml2 = 0;
	for (int i = 0; i < n; i++) {
		int l = qp_nearest_int(iscale * x[i]);
		if (l > nmax)
			l = nmax;
		q[i] = (uint8_t)l;
		sumlx += w[i] * x[i] * (float)l;
		suml2 += w[i] * (float)l * (float)l;
	}
	for (int pass = 0; pass < 5; pass++) {
		int changed = 0;
		for (int i = 0; i < n; i++) {
			float slx = sumlx - w[i] * x[i] * (float)q[i];
			float sl2 = suml2 - w[i] * (float)q[i] * (float)q[i];
			if (!(slx > 0 && sl2 > 0))
				continue;
			int l = qp_nearest_int(x[i] * sl2 / slx);
			if (l > nmax)
				l = nmax;
			if (l == q[i])
				continue;
			slx += w[i] * x[i] * (float)l;
			sl2 += w[i] * (float)l * (float)l;
			if (slx * slx * suml2 > sumlx * sumlx * sl2) {
				q[i] = (uint8_t)l;
				sumlx = slx;
				suml2 = sl2;
				changed++;
			}
		}
		if (!changed)
			break;
	}
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ggml's make_qp_quants: a scale for non-negative levels 0..nmax of the
 * (non-negative) group scales or mins, weighted by the groups' total
 * importance; refined like qp_fit_symmetric_refine. */
float qp_fit_positive(int n, int nmax, const float *x, uint8_t *q,
		      const float *w)
{
	float max = 0;
	for (int i = 0; i < n; i++)
		max = max > x[i] ? max : x[i];
	if (max < QP_GROUP_EPS) {
		memset(q, 0, (size_t)n);
		return 0.f;
	}
	float iscale = (float)nmax / max;
	for (int i = 0; i < n; i++)
		q[i] = (uint8_t)qp_nearest_int(iscale * x[i]);
	float scale = 1 / iscale;
	float best = 0;
	for (int i = 0; i < n; i++) {
		float diff = x[i] - scale * (float)q[i];
		best += w[i] * diff * diff;
	}
#if QP_HAVE_AVX2
	if (qp_cpu_avx2())
		iscale = positive_trials_avx2(n, nmax, x, w, max, iscale, best);
	else
#endif
		iscale = positive_trials(n, nmax, x, w, max, iscale, best);
	return positive_refine(n, nmax, x, q, w, iscale);
}

/* ---- the same searches, four or eight groups at a time --------------- */

#define LN(name) name##_x4
#define LANES 4
#define VATTR
#define LANES_AVX2 0
#ifdef __SSE2__
#define LANES_SSE2 1
#else
#define LANES_SSE2 0
#endif
#include "quant_search_lanes.h"
#undef LN
#undef LANES
#undef VATTR
#undef LANES_AVX2
#undef LANES_SSE2

#if QP_HAVE_AVX2
#define LN(name) name##_x8
#define LANES 8
#define VATTR QP_AVX2
#define LANES_AVX2 1
#define LANES_SSE2 0
#include "quant_search_lanes.h"
#undef LN
#undef LANES
#undef VATTR
#undef LANES_AVX2
#undef LANES_SSE2
#endif

/* ---- the drivers: lanes (eight with AVX2, else four) or scalar ------- */

void qp_fit_asymmetric_groups(int n_groups, int n, const qp_asym_search *p,
			      const float *x, const float *w, uint8_t *q,
			      float *scales, float *neg_mins, bool lanes)
{
	if (lanes) {
#if QP_HAVE_AVX2
		if (qp_cpu_avx2() && n_groups > 4) {
			asymmetric_batches_x8(n_groups, n, p, x, w, q, scales,
					      neg_mins);
			return;
		}
		if (qp_cpu_avx2() && n_groups == 4 && n % 4 == 0) {
			/* four groups twice, two steps side by side */
			asymmetric_pairs_x8(n, p, x, w, q, scales, neg_mins);
			return;
		}
#endif
		asymmetric_batches_x4(n_groups, n, p, x, w, q, scales,
				      neg_mins);
		return;
	}
	for (int j = 0; j < n_groups; j++)
		scales[j] = qp_fit_asymmetric(n, p, x + n * j, w + n * j,
					      q + n * j, &neg_mins[j]);
}

void qp_fit_symmetric_groups(int n_groups, int n, int nmax, const float *x,
			     const float *w, int8_t *q, float *scales,
			     bool lanes)
{
	if (!w && !(lanes && n_groups > 1 &&
		    !(qp_cpu_avx2() && n_groups == 4 && n % 4 == 0))) {
		/* ggml's default weights x^2, made here for the searches that
		 * do not make them in lanes */
		float wx2[16 * 32];
		for (int j = 0; j < n_groups; j += 16) { /* 16 groups a time */
			int m = n_groups - j < 16 ? n_groups - j : 16;
			const float *xj = x + n * j;
			for (int i = 0; i < m * n; i++)
				wx2[i] = xj[i] * xj[i];
			qp_fit_symmetric_groups(m, n, nmax, xj, wx2,
						q ? q + n * j : NULL, scales + j,
						lanes);
		}
		return;
	}
	int8_t scratch[32];
	if (!q && (!lanes || n_groups == 1)) { /* levels made, then dropped */
		for (int j = 0; j < n_groups; j++)
			qp_fit_symmetric_groups(1, n, nmax, x + n * j, w + n * j,
						scratch, scales + j, lanes);
		return;
	}
	if (lanes && n_groups == 1) { /* candidates in lanes instead */
#if QP_HAVE_AVX2
		if (qp_cpu_avx2()) {
			scales[0] = symmetric_candidates_x8(n, nmax, x, w, q);
			return;
		}
#endif
		scales[0] = symmetric_candidates_x4(n, nmax, x, w, q);
		return;
	}
	if (lanes) {
#if QP_HAVE_AVX2
		if (qp_cpu_avx2() && n_groups > 4) {
			symmetric_batches_x8(n_groups, n, nmax, x, w, q,
					     scales);
			return;
		}
		if (qp_cpu_avx2() && n_groups == 4 && n % 4 == 0) {
			/* four groups twice, two candidates side by side */
			symmetric_pairs_x8(n, nmax, x, w, q, scales);
			return;
		}
#endif
		symmetric_batches_x4(n_groups, n, nmax, x, w, q, scales);
		return;
	}
	for (int j = 0; j < n_groups; j++)
		scales[j] = qp_fit_symmetric(n, nmax, x + n * j, w + n * j,
					     q + n * j);
}

void qp_fit_symmetric_refine_groups(int n_groups, int n, int nmax,
				    const float *x, int8_t *q, float *scales,
				    bool lanes)
{
	if (lanes) {
#if QP_HAVE_AVX2
		if (qp_cpu_avx2() && n_groups > 4) {
			refine_batches_x8(n_groups, n, nmax, x, q, scales);
			return;
		}
#endif
		refine_batches_x4(n_groups, n, nmax, x, q, scales);
		return;
	}
	int8_t scratch[32];
	for (int j = 0; j < n_groups; j++)
		scales[j] = qp_fit_symmetric_refine(n, nmax, x + n * j,
						    q ? q + n * j : scratch);
}

/* ---- sums of squares, eight runs at a time ---------------------------- */

#if QP_HAVE_AVX2
/* Eight runs' sums: eight values of each run loaded, an 8x8 transpose
 * puts value i of run j in lane j of v[i], then each lane adds its values
 * (square: their squares, the product then the sum, the scalar loop's two
 * roundings) in order. */
static inline QP_AVX2 __attribute__((always_inline)) void
sums8_avx2(int64_t stride, int64_t n, const float *x, float *sums,
	   bool square)
{
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n; i += 8) {
		__m256 r[8], t[8], u[8];
		for (int k = 0; k < 8; k++)
			r[k] = _mm256_loadu_ps(x + stride * k + i);
		for (int k = 0; k < 8; k += 2) {
			t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
			t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
		}
		for (int k = 0; k < 8; k += 4) {
			u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
			u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
			u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
			u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
		}
		/* u[m] (m < 4): values m and m + 4 of runs 0-3; u[m + 4]: of
		 * runs 4-7 */
		for (int m = 0; m < 4; m++) {
			__m256 v = _mm256_permute2f128_ps(u[m], u[m + 4], 0x20);
			acc = _mm256_add_ps(acc, square ? _mm256_mul_ps(v, v) : v);
		}
		for (int m = 0; m < 4; m++) {
			__m256 v = _mm256_permute2f128_ps(u[m], u[m + 4], 0x31);
			acc = _mm256_add_ps(acc, square ? _mm256_mul_ps(v, v) : v);
		}
	}
	_mm256_storeu_ps(sums, acc);
}

static QP_AVX2 void sum_squares8_avx2(int64_t stride, int64_t n,
				      const float *x, float *sums)
{
	sums8_avx2(stride, n, x, sums, true);
	_mm256_zeroupper();
}
#endif

void qp_sum_squares_groups(int n_groups, int64_t stride, int64_t n,
			   const float *x, float *sums)
{
	int j = 0;
#if QP_HAVE_AVX2
	if (qp_cpu_avx2())
		for (; j + 8 <= n_groups; j += 8)
			sum_squares8_avx2(stride, n, x + stride * j, sums + j);
#endif
	for (; j < n_groups; j++)
		sums[j] = qp_sum_squares(x + stride * j, n);
}

#if QP_HAVE_AVX2
static QP_AVX2 void imatrix_weights_avx2(int n_groups, int n,
					 const float *x, const float *imp,
					 float sigma2, float *w, float *sums)
{
	const __m256 s2 = _mm256_set1_ps(sigma2);
	for (int i = 0; i < n_groups * n; i += 8) {
		const __m256 xv = _mm256_loadu_ps(x + i);
		const __m256 r = _mm256_sqrt_ps(_mm256_add_ps(s2, _mm256_mul_ps(xv, xv)));
		_mm256_storeu_ps(w + i, _mm256_mul_ps(_mm256_loadu_ps(imp + i), r));
	}
	int j = 0;
	for (; j + 8 <= n_groups; j += 8) /* the sums in lanes */
		sums8_avx2(n, n, w + n * j, sums + j, false);
	for (; j < n_groups; j++) {
		float s = 0;
		for (int i = 0; i < n; i++)
			s += w[n * j + i];
		sums[j] = s;
	}
	_mm256_zeroupper();
}
#endif

void qp_imatrix_weights_groups(int n_groups, int n, const float *x,
			       const float *imp, float sigma2, float *w,
			       float *sums)
{
#if QP_HAVE_AVX2
	if (qp_cpu_avx2()) {
		imatrix_weights_avx2(n_groups, n, x, imp, sigma2, w, sums);
		return;
	}
#endif
	for (int j = 0; j < n_groups; j++)
		sums[j] = qp_imatrix_weights(x + n * j, imp + n * j, sigma2, n,
					     w + n * j);
}

/* ---- final levels ----------------------------------------------------- */

void qp_symmetric_levels(int n, int nmax, const float *x, float d, int8_t *q)
{
	int i = 0;
#ifdef __SSE2__
	for (; i + 16 <= n; i += 16) {
		__m128i l[4];
		for (int k = 0; k < 4; k++) {
			vf_x4 xv;
			memcpy(&xv, x + i + 4 * k, sizeof xv);
			vi_x4 v = vclamp_x4(vround_x4(xv / vsplat_x4(d)), -nmax,
					    nmax - 1) + isplat_x4(nmax);
			memcpy(&l[k], &v, sizeof v);
		}
		/* levels are 0..2*nmax-1 <= 127: the saturating packs keep them */
		__m128i lo = _mm_packs_epi32(l[0], l[1]);
		__m128i hi = _mm_packs_epi32(l[2], l[3]);
		_mm_storeu_si128((__m128i *)(q + i), _mm_packs_epi16(lo, hi));
	}
#endif
	for (; i < n; i++)
		q[i] = (int8_t)(qp_clamp_int(qp_nearest_int(x[i] / d), -nmax,
					     nmax - 1) + nmax);
}

#if QP_HAVE_AVX2
/* qp_symmetric_levels_groups, sixteen values per step: the same division,
 * the same rounding (1.5 * 2^23 added, the low mantissa bits read) and the
 * same clamp, eight lanes wide; the constants once for all groups. */
static QP_AVX2 void symmetric_levels_groups_avx2(int n_groups, int n,
						 int nmax, const float *x,
						 const float *d, int8_t *q)
{
	const __m256 magic = _mm256_set1_ps(12582912.f);
	const __m256i mant = _mm256_set1_epi32(0x007fffff);
	const __m256i bias = _mm256_set1_epi32(0x00400000 - nmax);
	const __m256i lo = _mm256_setzero_si256();
	const __m256i hi = _mm256_set1_epi32(2 * nmax - 1);
	for (int j = 0; j < n_groups; j++, x += n, q += n) {
		if (d[j] == 0) /* ggml skips the group: its levels stay */
			continue;
		const __m256 dv = _mm256_set1_ps(d[j]);
		int i = 0;
		for (; i + 16 <= n; i += 16) {
			__m256i l[2];
#pragma GCC unroll 2
			for (int k = 0; k < 2; k++) {
				__m256 v = _mm256_div_ps(
					_mm256_loadu_ps(x + i + 8 * k), dv);
				__m256i r = _mm256_castps_si256(
					_mm256_add_ps(v, magic));
				/* nearest_int(v) + nmax, clamped to
				 * 0..2*nmax-1 */
				r = _mm256_sub_epi32(_mm256_and_si256(r, mant),
						     bias);
				l[k] = _mm256_min_epi32(_mm256_max_epi32(r, lo),
							hi);
			}
			/* levels are 0..2*nmax-1 <= 127: the saturating
			 * packs keep them; packs work per 128-bit half, the
			 * permute puts them in order */
			__m256i p16 = _mm256_permute4x64_epi64(
				_mm256_packs_epi32(l[0], l[1]), 0xD8);
			__m128i p8 = _mm_packs_epi16(
				_mm256_castsi256_si128(p16),
				_mm256_extracti128_si256(p16, 1));
			_mm_storeu_si128((__m128i *)(q + i), p8);
		}
		for (; i < n; i++)
			q[i] = (int8_t)(qp_clamp_int(qp_nearest_int(x[i] / d[j]),
						     -nmax, nmax - 1) + nmax);
	}
	_mm256_zeroupper();
}
#endif

void qp_symmetric_levels_groups(int n_groups, int n, int nmax, const float *x,
				const float *d, int8_t *q)
{
#if QP_HAVE_AVX2
	if (qp_cpu_avx2()) {
		symmetric_levels_groups_avx2(n_groups, n, nmax, x, d, q);
		return;
	}
#endif
	for (int j = 0; j < n_groups; j++)
		if (d[j] != 0)
			qp_symmetric_levels(n, nmax, x + n * j, d[j], q + n * j);
}
