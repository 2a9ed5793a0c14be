/* quant_search.c — ggml's per-group scale searches (see quant_search.h).
 *
 * Each routine does ggml-quants.c's float operations in the same order and
 * precision (float, not double; no fused multiply-add); the comments name
 * the ggml routine each one mirrors so a reader can check the order.
 */
#include "quant_search.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- per-group searches (scalar) ------------------------------------ */

/* ggml's make_qx_quants with rmse_type 1: a symmetric scale for levels
 * -nmax..nmax-1 (stored as 0..2*nmax-1 in q), chosen among 19 candidate
 * inverse scales by the weighted least-squares criterion. */
float qp_fit_symmetric(int n, int nmax, const float *x, const float *w,
		       int8_t *q)
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
		q[i] = (int8_t)(l + nmax);
		sumlx += w[i] * x[i] * (float)l;
		suml2 += w[i] * (float)l * (float)l;
	}
	float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
	float best = scale * sumlx;
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

/* How a search step turns v = iscale * (x - min) into a level: ggml's
 * make_qkx2_quants rounds then clamps; make_qkx3_quants clamps first
 * (identical for finite in-range v, different for inf/NaN/huge). */

static inline int asym_level(float v, int nmax, enum qp_asym_variant variant)
{
	if (variant == QP_ASYM_QKX2)
		return qp_clamp_int(qp_nearest_int(v), 0, nmax);
	return v > 0 ? qp_nearest_int(v < (float)nmax ? v : (float)nmax) : 0;
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
			int l = asym_level(cand * (x[i] - min), p->nmax,
					   p->variant);
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

/* ---- the same searches, four groups at a time ---------------------- */

/* Lane j of every vector below belongs to group j of a batch of LANES and
 * goes through exactly the scalar routine's sequence of float operations;
 * a data-dependent branch of the scalar code becomes a per-lane select,
 * and work a lane would have skipped is done and then discarded.  So each
 * lane's result is bit-identical to the scalar routine's, whatever the
 * vector width the compiler picks. */
#define LANES 4
typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int32_t vi __attribute__((vector_size(4 * LANES)));

static inline vf vsplat(float v)
{
	return (vf){ v, v, v, v };
}

static inline vi isplat(int32_t v)
{
	return (vi){ v, v, v, v };
}

/* mask lanes (-1) take a, the others b */
static inline vf vsel(vi mask, vf a, vf b)
{
	return (vf)((mask & (vi)a) | (~mask & (vi)b));
}

static inline vi isel(vi mask, vi a, vi b)
{
	return (mask & a) | (~mask & b);
}

static inline vf vabs(vf v)
{
	return (vf)((vi)v & isplat(0x7fffffff));
}

static inline vi vround(vf v)
{
	vf shifted = v + vsplat(12582912.f);
	return ((vi)shifted & isplat(0x007fffff)) - isplat(0x00400000);
}

static inline vi vclamp(vi v, int lo, int hi)
{
	v = isel(v < isplat(lo), isplat(lo), v);
	return isel(v > isplat(hi), isplat(hi), v);
}

static inline vf vtofloat(vi v)
{
	return __builtin_convertvector(v, vf);
}

static inline bool any_lane(vi mask)
{
	int32_t acc = 0;
	for (int j = 0; j < LANES; j++)
		acc |= mask[j];
	return acc != 0;
}

/* Group j's value i goes to lane j of xt[i]. */
static void to_lanes(int n, const float *x, vf *xt)
{
#ifdef __SSE2__
	if (LANES == 4 && n % 4 == 0) { /* 4x4 transposes, no store-forwarding stalls */
		for (int i = 0; i < n; i += 4) {
			__m128 r0 = _mm_loadu_ps(x + i), r1 = _mm_loadu_ps(x + n + i);
			__m128 r2 = _mm_loadu_ps(x + 2 * n + i);
			__m128 r3 = _mm_loadu_ps(x + 3 * n + i);
			_MM_TRANSPOSE4_PS(r0, r1, r2, r3);
			memcpy(&xt[i], &r0, sizeof r0);
			memcpy(&xt[i + 1], &r1, sizeof r1);
			memcpy(&xt[i + 2], &r2, sizeof r2);
			memcpy(&xt[i + 3], &r3, sizeof r3);
		}
		return;
	}
#endif
	int i = 0;
	do { /* n >= 1: tells the compiler xt[0] is set */
		float lane[LANES];
		for (int j = 0; j < LANES; j++)
			lane[j] = x[n * j + i];
		memcpy(&xt[i], lane, sizeof lane);
	} while (++i < n);
}

/* minps / maxps: a < b ? a : b and a > b ? a : b (b when either is NaN),
 * one instruction each in SSE2, the same selects without it. */
static inline vf vmin_first(vf a, vf b)
{
#ifdef __SSE2__
	return (vf)_mm_min_ps((__m128)a, (__m128)b);
#else
	return vsel(a < b, a, b);
#endif
}

static inline vf vmax_first(vf a, vf b)
{
#ifdef __SSE2__
	return (vf)_mm_max_ps((__m128)a, (__m128)b);
#else
	return vsel(a > b, a, b);
#endif
}

static inline bool all_lanes(vi mask)
{
	int32_t acc = -1;
	for (int j = 0; j < LANES; j++)
		acc &= mask[j];
	return acc != 0;
}

/* asym_level_v's level as a float, found in floats where that is exact
 * (see asymmetric_lanes): min(nmax, v) keeps a NaN v, max(., 0) turns it
 * and v <= 0 into +0; adding and subtracting 1.5 * 2^23 rounds to
 * nearest, ties to even, as nearest_int does below 2^22. */
static inline vf float_level(vf v, vf nmaxf)
{
	vf t = vmax_first(vmin_first(nmaxf, v), vsplat(0));
	return (t + vsplat(12582912.f)) - vsplat(12582912.f);
}

static inline vi asym_level_v(vf v, vf nmaxf, int nmax,
			      enum qp_asym_variant variant)
{
	if (variant == QP_ASYM_QKX2)
		return vclamp(vround(v), 0, nmax);
	vi l = vround(vsel(v < nmaxf, v, nmaxf));
	return l & (v > vsplat(0));
}

static inline vf asym_err_v(vf diff, bool use_mad)
{
	return use_mad ? vabs(diff) : diff * diff;
}

/* qp_signed_absmax per lane; *zero marks the all-zero groups. */
static inline vf signed_absmax_lanes(int n, const vf *xt, vi *zero)
{
	vf amax = vsplat(0), signed_max = vsplat(0);
	for (int i = 0; i < n; i++) {
		vf ax = vabs(xt[i]);
		vi bigger = ax > amax;
		amax = vsel(bigger, ax, amax);
		signed_max = vsel(bigger, xt[i], signed_max);
	}
	*zero = amax < vsplat(QP_GROUP_EPS);
	return signed_max;
}

/* Levels -nmax..nmax-1 (as floats, lane j = group j) back to group-major
 * q as 0..2*nmax-1; all-zero groups get scale 0 and levels 0. */
static inline void store_symmetric_lanes(int n, int nmax, vi zero, vf scale,
					 const vf *lv, int8_t *q,
					 float *scales)
{
	for (int j = 0; j < LANES; j++) {
		bool is_zero = zero[j] != 0;
		scales[j] = is_zero ? 0.f : scale[j];
		for (int i = 0; i < n; i++)
			q[n * j + i] = is_zero ? 0
					       : (int8_t)((int)lv[i][j] + nmax);
	}
}

/* qp_fit_asymmetric for LANES groups of n values (x, w: group-major). */
static void asymmetric_lanes(int n, const qp_asym_search *p, const float *x,
			     const float *w, uint8_t *q, float *scales,
			     float *neg_mins)
{
	vf xt[32], wt[32], lv[32], trial[32];
	to_lanes(n, x, xt);
	to_lanes(n, w, wt);
	vf min = xt[0], max = xt[0];
	vf sum_w = wt[0];
	vf sum_x = sum_w * xt[0];
	for (int i = 1; i < n; i++) {
		min = vsel(xt[i] < min, xt[i], min);
		max = vsel(xt[i] > max, xt[i], max);
		sum_w += wt[i];
		sum_x += wt[i] * xt[i];
	}
	const vf data_min = min, data_max = max;
	min = vsel(min > vsplat(0), vsplat(0), min);
	vi flat = p->variant == QP_ASYM_QKX2 ? max == min : max <= min;
	vf flat_min = min;
	vf nmaxf = vsplat((float)p->nmax);
	vf iscale = nmaxf / (max - min);
	vf scale = vsplat(1) / iscale;
	vf best = vsplat(0);
	for (int i = 0; i < n; i++) {
		lv[i] = vtofloat(vclamp(vround(iscale * (xt[i] - min)), 0,
					p->nmax));
		best += wt[i] * asym_err_v(scale * lv[i] + min - xt[i],
					   p->use_mad);
	}
	/* A step's levels can be found in floats (float_level) when that gives
	 * asym_level_v's integers: always for qkx3 (it clamps before
	 * rounding); for qkx2 when every v is below 2^22 in magnitude (where
	 * nearest_int stops rounding), checked per step at the groups'
	 * extremes (v is monotone in x; cand is relative to the current min,
	 * so this only fails when a won min lies above max).  A NaN v made
	 * here (0 * inf, inf - inf) has the default payload, level 0 either
	 * way; one with another payload comes from a NaN x, which makes that
	 * lane's sum_xl (w*l*x), fit and error NaN: its levels never win. */
	for (int step = 0; step <= p->nstep; step++) {
		vf cand = vsplat(p->rmin + p->rdelta * (float)step +
				 (float)p->nmax) / (max - min);
		vf sum_l = vsplat(0), sum_l2 = vsplat(0), sum_xl = vsplat(0);
		bool fast = true;
		if (p->variant == QP_ASYM_QKX2) {
			const vf lim = vsplat(4194304.f);
			fast = all_lanes((vabs(cand * (data_min - min)) < lim) &
					 (vabs(cand * (data_max - min)) < lim));
		}
		if (fast)
			for (int i = 0; i < n; i++) {
				vf l = float_level(cand * (xt[i] - min), nmaxf);
				trial[i] = l;
				vf wl = wt[i] * l;
				sum_l += wl;
				sum_l2 += wl * l;
				sum_xl += wl * xt[i];
			}
		else
			for (int i = 0; i < n; i++) {
				vf l = vtofloat(asym_level_v(cand * (xt[i] - min),
							     nmaxf, p->nmax,
							     p->variant));
				trial[i] = l;
				vf wl = wt[i] * l;
				sum_l += wl;
				sum_l2 += wl * l;
				sum_xl += wl * xt[i];
			}
		vf det = sum_w * sum_l2 - sum_l * sum_l;
		vi ok = det > vsplat(0);
		if (!any_lane(ok))
			continue;
		vf this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
		vf this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
		vi pos = this_min > vsplat(0);
		this_min = vsel(pos, vsplat(0), this_min);
		this_scale = vsel(pos, sum_xl / sum_l2, this_scale);
		vf err = vsplat(0);
		for (int i = 0; i < n; i++)
			err += wt[i] * asym_err_v(this_scale * trial[i] +
							  this_min - xt[i],
						  p->use_mad);
		vi win = ok & (err < best);
		if (!any_lane(win))
			continue;
		for (int i = 0; i < n; i++)
			lv[i] = vsel(win, trial[i], lv[i]);
		best = vsel(win, err, best);
		scale = vsel(win, this_scale, scale);
		min = vsel(win, this_min, min);
	}
	for (int j = 0; j < LANES; j++) {
		bool is_flat = flat[j] != 0;
		scales[j] = is_flat ? 0.f : scale[j];
		neg_mins[j] = is_flat ? -flat_min[j] : -min[j];
		for (int i = 0; i < n; i++)
			q[n * j + i] = is_flat ? 0 : (uint8_t)lv[i][j];
	}
}

/* clamp(nearest_int(v), lo, hi) of a search step as a float, found in
 * floats: clamping first changes nothing (integer bounds), and adding and
 * subtracting 1.5 * 2^23 rounds as nearest_int does below 2^22 (|v| is at
 * most nmax + 1 for finite x).  A NaN v may land on a bound here where
 * nearest_int reads its payload; it never matters: from a NaN x it makes
 * the lane's sum of w*x*l NaN, so that candidate cannot win; from 0 * inf
 * (an infinite x makes every candidate scale 0) the first fit's sum is
 * already NaN (w*inf*0), so best is NaN and no candidate wins. */
static inline vf symmetric_level(vf v, vf lo, vf hi)
{
	vf t = vmin_first(vmax_first(v, lo), hi);
	return (t + vsplat(12582912.f)) - vsplat(12582912.f);
}

/* qp_fit_symmetric for LANES groups of n values (x, w: group-major). */
static void symmetric_lanes(int n, int nmax, const float *x, const float *w,
			    int8_t *q, float *scales)
{
	vf xt[32], wt[32], lv[32];
	to_lanes(n, x, xt);
	to_lanes(n, w, wt);
	vi zero;
	vf signed_max = signed_absmax_lanes(n, xt, &zero);
	vf iscale = vsplat((float)-nmax) / signed_max;
	vf sumlx = vsplat(0), suml2 = vsplat(0);
	for (int i = 0; i < n; i++) {
		vf l = vtofloat(vclamp(vround(iscale * xt[i]), -nmax,
				       nmax - 1));
		lv[i] = l;
		sumlx += wt[i] * xt[i] * l;
		suml2 += wt[i] * l * l;
	}
	vf scale = vsel(suml2 != vsplat(0), sumlx / suml2, vsplat(0));
	vf best = scale * sumlx;
	const vf lo = vsplat((float)-nmax), hi = vsplat((float)(nmax - 1));
	for (int step = -9; step <= 9; step++) {
		if (step == 0)
			continue;
		vf cand = -vsplat((float)nmax + 0.1f * (float)step) /
			  signed_max;
		vf slx = vsplat(0), sl2 = vsplat(0);
		vf trial[32];
		for (int i = 0; i < n; i++) {
			vf l = symmetric_level(cand * xt[i], lo, hi);
			trial[i] = l;
			slx += wt[i] * xt[i] * l;
			sl2 += wt[i] * l * l;
		}
		vi win = (sl2 > vsplat(0)) & (slx * slx > best * sl2);
		if (!any_lane(win))
			continue;
		for (int i = 0; i < n; i++)
			lv[i] = vsel(win, trial[i], lv[i]);
		scale = vsel(win, slx / sl2, scale);
		best = vsel(win, scale * slx, best);
	}
	store_symmetric_lanes(n, nmax, zero, scale, lv, q, scales);
}

/* qp_fit_symmetric_refine for LANES groups of n values (x: group-major).  A
 * lane stops refining after a pass without changes, as the scalar loop
 * breaks; the other lanes go on. */
static void refine_lanes(int n, int nmax, const float *x, int8_t *q,
			 float *scales)
{
	vf xt[32], lv[32];
	to_lanes(n, x, xt);
	vi zero;
	vf signed_max = signed_absmax_lanes(n, xt, &zero);
	vf iscale = vsplat((float)-nmax) / signed_max;
	vf sumlx = vsplat(0), suml2 = vsplat(0);
	for (int i = 0; i < n; i++) {
		vf l = vtofloat(vclamp(vround(iscale * xt[i]), -nmax, nmax - 1));
		lv[i] = l;
		vf w = xt[i] * xt[i];
		sumlx += w * xt[i] * l;
		suml2 += w * l * l;
	}
	vi active = ~zero;
	for (int pass = 0; pass < 5 && any_lane(active); pass++) {
		vi changed = isplat(0);
		for (int i = 0; i < n; i++) {
			vf w = xt[i] * xt[i];
			vf slx = sumlx - w * xt[i] * lv[i];
			vf sl2 = suml2 - w * lv[i] * lv[i];
			vf l = vtofloat(vclamp(vround(xt[i] * sl2 / slx), -nmax,
					       nmax - 1));
			vi try_it = active & (slx > vsplat(0)) & (l != lv[i]);
			/* usually no lane moves: branching keeps the sums
			 * off the dependency chain, as in the scalar loop */
			if (!any_lane(try_it))
				continue;
			slx += w * xt[i] * l;
			sl2 += w * l * l;
			vi take = try_it & (sl2 > vsplat(0)) &
				  (slx * slx * suml2 > sumlx * sumlx * sl2);
			if (!any_lane(take))
				continue;
			lv[i] = vsel(take, l, lv[i]);
			sumlx = vsel(take, slx, sumlx);
			suml2 = vsel(take, sl2, suml2);
			changed |= take;
		}
		active &= changed;
	}
	vf scale = vsel(suml2 > vsplat(0), sumlx / suml2, vsplat(0));
	store_symmetric_lanes(n, nmax, zero, scale, lv, q, scales);
}

/* ---- group batches: LANES at a time, or scalar ------------------------ */

/* A last batch of fewer than LANES groups runs as lanes beside all-zero
 * groups whose results are dropped (lanes never mix, so the kept ones are
 * unchanged): faster than the scalar search for the tail of a row. */
typedef struct padded {
	float x[LANES * 32], w[LANES * 32], scales[LANES], neg_mins[LANES];
	uint8_t q[LANES * 32];
} padded;

static void pad_groups(padded *b, int n_groups, int n, const float *x,
		       const float *w)
{
	memset(b, 0, sizeof *b);
	memcpy(b->x, x, sizeof(float) * (size_t)(n * n_groups));
	if (w)
		memcpy(b->w, w, sizeof(float) * (size_t)(n * n_groups));
}

static void unpad_groups(const padded *b, int n_groups, int n, void *q,
			 float *scales, float *neg_mins)
{
	memcpy(q, b->q, (size_t)(n * n_groups));
	memcpy(scales, b->scales, sizeof(float) * (size_t)n_groups);
	if (neg_mins)
		memcpy(neg_mins, b->neg_mins, sizeof(float) * (size_t)n_groups);
}

void qp_fit_asymmetric_groups(int n_groups, int n, const qp_asym_search *p,
			      const float *x, const float *w, uint8_t *q,
			      float *scales, float *neg_mins, bool lanes)
{
	int j = 0;
	for (; lanes && j + LANES <= n_groups; j += LANES)
		asymmetric_lanes(n, p, x + n * j, w + n * j, q + n * j,
				 scales + j, neg_mins + j);
	if (lanes && j < n_groups) {
		padded b;
		pad_groups(&b, n_groups - j, n, x + n * j, w + n * j);
		asymmetric_lanes(n, p, b.x, b.w, b.q, b.scales, b.neg_mins);
		unpad_groups(&b, n_groups - j, n, q + n * j, scales + j,
			     neg_mins + j);
		return;
	}
	for (; j < n_groups; j++)
		scales[j] = qp_fit_asymmetric(n, p, x + n * j, w + n * j,
					      q + n * j, &neg_mins[j]);
}

void qp_fit_symmetric_groups(int n_groups, int n, int nmax, const float *x,
			     const float *w, int8_t *q, float *scales,
			     bool lanes)
{
	int j = 0;
	for (; lanes && j + LANES <= n_groups; j += LANES)
		symmetric_lanes(n, nmax, x + n * j, w + n * j, q + n * j,
				scales + j);
	if (lanes && j < n_groups) {
		padded b;
		pad_groups(&b, n_groups - j, n, x + n * j, w + n * j);
		symmetric_lanes(n, nmax, b.x, b.w, (int8_t *)b.q, b.scales);
		unpad_groups(&b, n_groups - j, n, q + n * j, scales + j, NULL);
		return;
	}
	for (; j < n_groups; j++)
		scales[j] = qp_fit_symmetric(n, nmax, x + n * j, w + n * j,
					     q + n * j);
}

void qp_fit_symmetric_refine_groups(int n_groups, int n, int nmax,
				    const float *x, int8_t *q, float *scales,
				    bool lanes)
{
	int j = 0;
	for (; lanes && j + LANES <= n_groups; j += LANES)
		refine_lanes(n, nmax, x + n * j, q + n * j, scales + j);
	if (lanes && j < n_groups) {
		padded b;
		pad_groups(&b, n_groups - j, n, x + n * j, NULL);
		refine_lanes(n, nmax, b.x, (int8_t *)b.q, b.scales);
		unpad_groups(&b, n_groups - j, n, q + n * j, scales + j, NULL);
		return;
	}
	for (; j < n_groups; j++)
		scales[j] = qp_fit_symmetric_refine(n, nmax, x + n * j,
						    q + n * j);
}

/* ---- final levels ----------------------------------------------------- */

void qp_symmetric_levels(int n, int nmax, const float *x, float d, int8_t *q)
{
	int i = 0;
#ifdef __SSE2__
	for (; i + 16 <= n; i += 16) {
		__m128i l[4];
		for (int k = 0; k < 4; k++) {
			vf xv;
			memcpy(&xv, x + i + 4 * k, sizeof xv);
			vi v = vclamp(vround(xv / vsplat(d)), -nmax, nmax - 1) +
			       isplat(nmax);
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
