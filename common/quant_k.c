/* quant_k.c — ggml's K-quant encoders, bit-exact.
 *
 * Bit-exactness rests on doing every float operation in the same order and
 * precision as ggml-quants.c (float, not double; no fused multiply-add,
 * which -std=c11 guarantees for gcc); comments name the ggml routine each
 * piece mirrors so a reader can check the order against it.
 */
#include "quant_k.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "fp16.h"
#include "le.h"

#ifdef __SSE2__
#include <xmmintrin.h>
#endif

/* ggml's threshold below which a group counts as all zero. */
#define GROUP_EPS 1e-15f

/* Round to nearest, ties to even, the way ggml's nearest_int does it:
 * adding 1.5 * 2^23 leaves the rounded value in the low mantissa bits.
 * Out of range inputs give the same garbage ggml gets. */
static inline int round_half_even(float v)
{
	float shifted = v + 12582912.f;
	uint32_t bits;
	memcpy(&bits, &shifted, sizeof bits);
	return (int)(bits & 0x007fffffu) - 0x00400000;
}

static inline int clamp_int(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* ---- per-group searches (scalar) ------------------------------------ */

/* ggml's make_qx_quants with rmse_type 1: a symmetric scale for levels
 * -nmax..nmax-1 (stored as 0..2*nmax-1 in q), chosen among 19 candidate
 * inverse scales by the weighted least-squares criterion. */
static float fit_symmetric(int n, int nmax, const float *x, const float *w,
			   int8_t *q)
{
	float amax = 0, signed_max = 0;
	for (int i = 0; i < n; i++) {
		float ax = fabsf(x[i]);
		if (ax > amax) {
			amax = ax;
			signed_max = x[i];
		}
	}
	if (amax < GROUP_EPS) {
		memset(q, 0, (size_t)n);
		return 0.f;
	}
	float iscale = (float)-nmax / signed_max;
	float sumlx = 0, suml2 = 0;
	for (int i = 0; i < n; i++) {
		int l = clamp_int(round_half_even(iscale * x[i]), -nmax, nmax - 1);
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
			int l = clamp_int(round_half_even(cand * x[i]), -nmax,
					  nmax - 1);
			slx += w[i] * x[i] * (float)l;
			sl2 += w[i] * (float)l * (float)l;
		}
		if (sl2 > 0 && slx * slx > best * sl2) {
			for (int i = 0; i < n; i++) {
				int l = clamp_int(round_half_even(cand * x[i]),
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
static float fit_symmetric_refine(int n, int nmax, const float *x, int8_t *q)
{
	float amax = 0, signed_max = 0;
	for (int i = 0; i < n; i++) {
		float ax = fabsf(x[i]);
		if (ax > amax) {
			amax = ax;
			signed_max = x[i];
		}
	}
	if (amax < GROUP_EPS) {
		memset(q, 0, (size_t)n);
		return 0.f;
	}
	float iscale = (float)-nmax / signed_max;
	float sumlx = 0, suml2 = 0;
	for (int i = 0; i < n; i++) {
		int l = clamp_int(round_half_even(iscale * x[i]), -nmax, nmax - 1);
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
			int l = clamp_int(round_half_even(x[i] * sl2 / slx),
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
enum asym_variant { ASYM_QKX2, ASYM_QKX3 };

typedef struct asym_params {
	int nmax;
	float rmin, rdelta;
	int nstep;
	bool use_mad;
	enum asym_variant variant;
} asym_params;

static inline int asym_level(float v, int nmax, enum asym_variant variant)
{
	if (variant == ASYM_QKX2)
		return clamp_int(round_half_even(v), 0, nmax);
	return v > 0 ? round_half_even(v < (float)nmax ? v : (float)nmax) : 0;
}

static inline float asym_err(float diff, bool use_mad)
{
	return use_mad ? fabsf(diff) : diff * diff;
}

/* ggml's make_qkx2_quants / make_qkx3_quants: levels 0..nmax with a scale
 * and an offset min <= 0; x ~ scale * q + min.  Returns the scale and puts
 * -min in *neg_min.  Note ggml's quirk, kept: once a candidate wins, the
 * later candidates are computed relative to the winner's min. */
static float fit_asymmetric(int n, const asym_params *p, const float *x,
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
	if (p->variant == ASYM_QKX2 ? max == min : max <= min) {
		memset(q, 0, (size_t)n);
		*neg_min = -min;
		return 0.f;
	}
	float iscale = (float)p->nmax / (max - min);
	float scale = 1 / iscale;
	float best = 0;
	for (int i = 0; i < n; i++) {
		int l = clamp_int(round_half_even(iscale * (x[i] - min)), 0,
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
 * importance; refined like fit_symmetric_refine. */
static float fit_positive(int n, int nmax, const float *x, uint8_t *q,
			  const float *w)
{
	float max = 0;
	for (int i = 0; i < n; i++)
		max = max > x[i] ? max : x[i];
	if (max < GROUP_EPS) {
		memset(q, 0, (size_t)n);
		return 0.f;
	}
	float iscale = (float)nmax / max;
	for (int i = 0; i < n; i++)
		q[i] = (uint8_t)round_half_even(iscale * x[i]);
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
			int l = round_half_even(cand * x[i]);
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
		int l = round_half_even(iscale * x[i]);
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
			int l = round_half_even(x[i] * sl2 / slx);
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
	for (int i = 0; i < n; i++) {
		float lane[LANES];
		for (int j = 0; j < LANES; j++)
			lane[j] = x[n * j + i];
		memcpy(&xt[i], lane, sizeof lane);
	}
}

static inline vi asym_level_v(vf v, vf nmaxf, int nmax,
			      enum asym_variant variant)
{
	if (variant == ASYM_QKX2)
		return vclamp(vround(v), 0, nmax);
	vi l = vround(vsel(v < nmaxf, v, nmaxf));
	return l & (v > vsplat(0));
}

static inline vf asym_err_v(vf diff, bool use_mad)
{
	return use_mad ? vabs(diff) : diff * diff;
}

/* fit_asymmetric for LANES groups of n values (x, w: group-major). */
static void fit_asymmetric_lanes(int n, const asym_params *p, const float *x,
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
	min = vsel(min > vsplat(0), vsplat(0), min);
	vi flat = p->variant == ASYM_QKX2 ? max == min : max <= min;
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
	for (int step = 0; step <= p->nstep; step++) {
		vf cand = vsplat(p->rmin + p->rdelta * (float)step +
				 (float)p->nmax) / (max - min);
		vf sum_l = vsplat(0), sum_l2 = vsplat(0), sum_xl = vsplat(0);
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

/* fit_symmetric for LANES groups of n values (x, w: group-major). */
static void fit_symmetric_lanes(int n, int nmax, const float *x, const float *w,
			     int8_t *q, float *scales)
{
	vf xt[32], wt[32], lv[32];
	to_lanes(n, x, xt);
	to_lanes(n, w, wt);
	vf amax = vsplat(0), signed_max = vsplat(0);
	for (int i = 0; i < n; i++) {
		vf ax = vabs(xt[i]);
		vi bigger = ax > amax;
		amax = vsel(bigger, ax, amax);
		signed_max = vsel(bigger, xt[i], signed_max);
	}
	vi zero = amax < vsplat(GROUP_EPS);
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
	for (int step = -9; step <= 9; step++) {
		if (step == 0)
			continue;
		vf cand = -vsplat((float)nmax + 0.1f * (float)step) /
			  signed_max;
		vf slx = vsplat(0), sl2 = vsplat(0);
		vf trial[32];
		for (int i = 0; i < n; i++) {
			vf l = vtofloat(vclamp(vround(cand * xt[i]), -nmax,
					       nmax - 1));
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
	for (int j = 0; j < LANES; j++) {
		bool is_zero = zero[j] != 0;
		scales[j] = is_zero ? 0.f : scale[j];
		for (int i = 0; i < n; i++)
			q[n * j + i] = is_zero ? 0
					       : (int8_t)((int)lv[i][j] + nmax);
	}
}

/* fit_symmetric_refine for LANES groups of n values (x: group-major).  A
 * lane stops refining after a pass without changes, as the scalar loop
 * breaks; the other lanes go on. */
static void fit_symmetric_refine_lanes(int n, int nmax, const float *x,
				       int8_t *q, float *scales)
{
	vf xt[32], lv[32];
	to_lanes(n, x, xt);
	vf amax = vsplat(0), signed_max = vsplat(0);
	for (int i = 0; i < n; i++) {
		vf ax = vabs(xt[i]);
		vi bigger = ax > amax;
		amax = vsel(bigger, ax, amax);
		signed_max = vsel(bigger, xt[i], signed_max);
	}
	vi zero = amax < vsplat(GROUP_EPS);
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
	for (int j = 0; j < LANES; j++) {
		bool is_zero = zero[j] != 0;
		scales[j] = is_zero ? 0.f : scale[j];
		for (int i = 0; i < n; i++)
			q[n * j + i] = is_zero ? 0
					       : (int8_t)((int)lv[i][j] + nmax);
	}
}

/* ---- group batches: scalar or LANES at a time --------------------------- */

static void fit_asym_groups(int n_groups, int n, const asym_params *p,
			    const float *x, const float *w, uint8_t *q,
			    float *scales, float *neg_mins, bool fast)
{
	for (int j = 0; j < n_groups; j++) {
		if (fast && j % LANES == 0 && j + LANES <= n_groups) {
			fit_asymmetric_lanes(n, p, x + n * j, w + n * j, q + n * j,
					  scales + j, neg_mins + j);
			j += LANES - 1;
			continue;
		}
		scales[j] = fit_asymmetric(n, p, x + n * j, w + n * j,
					   q + n * j, &neg_mins[j]);
	}
}

static void fit_sym_groups(int n_groups, int n, int nmax, const float *x,
			   const float *w, int8_t *q, float *scales, bool fast)
{
	for (int j = 0; j < n_groups; j++) {
		if (fast && j % LANES == 0 && j + LANES <= n_groups) {
			fit_symmetric_lanes(n, nmax, x + n * j, w + n * j,
					 q + n * j, scales + j);
			j += LANES - 1;
			continue;
		}
		scales[j] = fit_symmetric(n, nmax, x + n * j, w + n * j,
					  q + n * j);
	}
}

/* ---- block layouts (ggml-common.h) ---------------------------------- */

/* Four 2-bit planes: byte k of each 32-byte half holds the values at
 * k, k+32, k+64, k+96 of that 128-value half. */
static void pack_2bit(const uint8_t *q, uint8_t *qs)
{
	for (int half = 0; half < 2; half++)
		for (int k = 0; k < 32; k++) {
			const uint8_t *v = q + 128 * half + k;
			qs[32 * half + k] = (uint8_t)(v[0] | v[32] << 2 |
						      v[64] << 4 | v[96] << 6);
		}
}

/* Q3_K: 16 six-bit scales in 12 bytes: low nibbles in bytes 0..7 (groups
 * 0..7 low, 8..15 high nibble), the top two bits in bytes 8..11. */
static void pack_q3_scales(const int *ls, uint8_t *sc)
{
	memset(sc, 0, 12);
	for (int j = 0; j < 16; j++) {
		int l = ls[j];
		if (j < 8)
			sc[j] = (uint8_t)(l & 0xF);
		else
			sc[j - 8] |= (uint8_t)((l & 0xF) << 4);
		sc[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
	}
}

static int unpack_q3_scale(const uint8_t *sc, int j)
{
	int lo = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;
	int hi = (sc[8 + j % 4] >> (2 * (j / 4))) & 3;
	return (int)(int8_t)(lo | hi << 4) - 32;
}

/* Q4_K / Q5_K: eight 6-bit scales and mins in 12 bytes. */
static void pack_k4_scales(const uint8_t *ls, const uint8_t *lm, uint8_t *sc)
{
	for (int j = 0; j < 8; j++) {
		if (j < 4) {
			sc[j] = ls[j];
			sc[j + 4] = lm[j];
		} else {
			sc[j + 4] = (uint8_t)((ls[j] & 0xF) | (lm[j] & 0xF) << 4);
			sc[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
			sc[j] |= (uint8_t)((lm[j] >> 4) << 6);
		}
	}
}

static void unpack_k4_scale(const uint8_t *sc, int j, int *s, int *m)
{
	if (j < 4) {
		*s = sc[j] & 63;
		*m = sc[j + 4] & 63;
	} else {
		*s = (sc[j + 4] & 0xF) | (sc[j - 4] >> 6) << 4;
		*m = (sc[j + 4] >> 4) | (sc[j] >> 6) << 4;
	}
}

/* Final levels of the min/scale formats: x ~ d * q - dm per group. */
static void requantize_asym(const float *x, int group, int n_groups,
			    const float *d, const float *dm, int nmax,
			    uint8_t *q)
{
	for (int j = 0; j < n_groups; j++) {
		if (d[j] == 0)
			continue; /* keep the search's levels, as ggml does */
		for (int i = 0; i < group; i++) {
			int k = group * j + i;
			q[k] = (uint8_t)clamp_int(
				round_half_even((x[k] + dm[j]) / d[j]), 0, nmax);
		}
	}
}

/* ---- Q2_K: 16 groups of 16, 2-bit levels, 4-bit scale and min -------- */

static const asym_params Q2_REF = { 3, -0.5f, 0.1f, 15, true, ASYM_QKX2 };
static const asym_params Q2_IMAT = { 3, -0.9f, 0.05f, 36, false, ASYM_QKX3 };

static void q2_k_finish(const float *x, uint8_t *blk, uint8_t *q)
{
	uint8_t *sc = blk;
	float d = qp_fp16_to_fp32(le_u16(blk + 80));
	float dmin = qp_fp16_to_fp32(le_u16(blk + 82));
	float dj[16], mj[16];
	for (int j = 0; j < 16; j++) {
		dj[j] = d * (float)(sc[j] & 0xF);
		mj[j] = dmin * (float)(sc[j] >> 4);
	}
	requantize_asym(x, 16, 16, dj, mj, 3, q);
	pack_2bit(q, blk + 16);
}

static void q2_k_block_ref(const float *x, uint8_t *blk, bool fast)
{
	uint8_t q[256];
	float w[256], scales[16], mins[16];
	float max_scale = 0, max_min = 0;
	for (int i = 0; i < 256; i++)
		w[i] = fabsf(x[i]);
	fit_asym_groups(16, 16, &Q2_REF, x, w, q, scales, mins, fast);
	for (int j = 0; j < 16; j++) {
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}
	uint8_t *sc = blk;
	memset(sc, 0, 16);
	float d = 0, dmin = 0;
	if (max_scale > 0) {
		float iscale = 15.f / max_scale;
		for (int j = 0; j < 16; j++)
			sc[j] = (uint8_t)round_half_even(iscale * scales[j]);
		d = max_scale / 15.f;
	}
	if (max_min > 0) {
		float iscale = 15.f / max_min;
		for (int j = 0; j < 16; j++)
			sc[j] |= (uint8_t)((unsigned)round_half_even(iscale * mins[j])
					  << 4);
		dmin = max_min / 15.f;
	}
	le_put_u16(blk + 80, qp_fp32_to_fp16(d));
	le_put_u16(blk + 82, qp_fp32_to_fp16(dmin));
	q2_k_finish(x, blk, q);
}

/* Block-wide variance term of the importance weights. */
static float sum_squares(const float *x, int n)
{
	float s = 0;
	for (int i = 0; i < n; i++)
		s += x[i] * x[i];
	return s;
}

static void imatrix_weights(const float *x, const float *imp, float sigma2,
			    int n, float *w, float *sum_w)
{
	float s = 0;
	for (int i = 0; i < n; i++) {
		w[i] = imp[i] * sqrtf(sigma2 + x[i] * x[i]);
		s += w[i];
	}
	*sum_w = s;
}

static void q2_k_block_imat(const float *x, const float *imp, uint8_t *blk,
			    bool fast)
{
	uint8_t q[256], ls[16], lm[16];
	float w[256], sw[16], scales[16], mins[16];
	float sigma2 = sum_squares(x, 256) / 256.f;
	for (int j = 0; j < 16; j++)
		imatrix_weights(x + 16 * j, imp + 16 * j, sigma2, 16,
				w + 16 * j, &sw[j]);
	fit_asym_groups(16, 16, &Q2_IMAT, x, w, q, scales, mins, fast);
	float d = fit_positive(16, 15, scales, ls, sw);
	float dmin = fit_positive(16, 15, mins, lm, sw);
	le_put_u16(blk + 80, qp_fp32_to_fp16(d));
	le_put_u16(blk + 82, qp_fp32_to_fp16(dmin));
	for (int j = 0; j < 16; j++)
		blk[j] = (uint8_t)(ls[j] | lm[j] << 4);
	q2_k_finish(x, blk, q);
}

/* ---- Q3_K: 16 groups of 16, 3-bit levels, 6-bit signed scales ------- */

static void q3_k_finish(const float *x, uint8_t *blk, int8_t *q)
{
	uint8_t *hmask = blk, *qs = blk + 32, *sc = blk + 96;
	float d_all = qp_fp16_to_fp32(le_u16(blk + 108));
	for (int j = 0; j < 16; j++) {
		float d = d_all * (float)unpack_q3_scale(sc, j);
		if (d == 0)
			continue;
		for (int i = 0; i < 16; i += LANES) {
			int k = 16 * j + i;
			vf xv;
			memcpy(&xv, x + k, sizeof xv);
			vi l = vclamp(vround(xv / vsplat(d)), -4, 3) + isplat(4);
			for (int m = 0; m < LANES; m++)
				q[k + m] = (int8_t)l[m];
		}
	}
	uint8_t low[256];
	memset(hmask, 0, 32);
	for (int k = 0; k < 256; k++) { /* branch-free: l > 3 is a coin toss */
		int l = q[k], high = l > 3;
		hmask[k % 32] |= (uint8_t)(high << (k / 32));
		low[k] = (uint8_t)(l - 4 * high);
	}
	pack_2bit(low, qs);
}

static void q3_k_block_ref(const float *x, uint8_t *blk, bool fast)
{
	int8_t q[256];
	float scales[16];
	float amax = 0, max_scale = 0;
	for (int j = 0; j < 16; j += LANES)
		if (fast)
			fit_symmetric_refine_lanes(16, 4, x + 16 * j, q + 16 * j,
						   scales + j);
		else
			for (int k = j; k < j + LANES; k++)
				scales[k] = fit_symmetric_refine(16, 4, x + 16 * k,
								 q + 16 * k);
	for (int j = 0; j < 16; j++) {
		float a = fabsf(scales[j]);
		if (a > amax) {
			amax = a;
			max_scale = scales[j];
		}
	}
	int ls[16] = { 0 };
	float d = 0;
	if (max_scale != 0) {
		float iscale = -32.f / max_scale;
		for (int j = 0; j < 16; j++) {
			int l = (int8_t)round_half_even(iscale * scales[j]);
			ls[j] = clamp_int(l, -32, 31) + 32;
		}
		d = 1 / iscale;
	}
	pack_q3_scales(ls, blk + 96);
	le_put_u16(blk + 108, qp_fp32_to_fp16(d));
	q3_k_finish(x, blk, q);
}

static void q3_k_block_imat(const float *x, const float *imp, uint8_t *blk,
			    bool fast)
{
	int8_t q[256], lq[16];
	float w[256], sw[16], scales[16];
	float sigma2 = 2 * sum_squares(x, 256) / 256.f;
	for (int j = 0; j < 16; j++)
		imatrix_weights(x + 16 * j, imp + 16 * j, sigma2, 16,
				w + 16 * j, &sw[j]);
	fit_sym_groups(16, 16, 4, x, w, q, scales, fast);
	float d = fit_symmetric(16, 32, scales, sw, lq);
	int ls[16];
	for (int j = 0; j < 16; j++)
		ls[j] = lq[j];
	pack_q3_scales(ls, blk + 96);
	le_put_u16(blk + 108, qp_fp32_to_fp16(d));
	q3_k_finish(x, blk, q);
}

/* ---- Q4_K and Q5_K: 8 groups of 32, 6-bit scales and mins ----------- */

static const asym_params Q4_REF = { 15, -1.f, 0.1f, 20, false, ASYM_QKX2 };
static const asym_params Q5_REF = { 31, -0.5f, 0.1f, 15, false, ASYM_QKX2 };
static const asym_params Q4_IMAT = { 15, -0.9f, 0.05f, 36, false, ASYM_QKX3 };
static const asym_params Q5_IMAT = { 31, -0.9f, 0.05f, 36, false, ASYM_QKX3 };

/* Header (d, dmin, scales) is written; compute the final levels. */
static void k4_requantize(const float *x, const uint8_t *blk, int nmax,
			  uint8_t *q)
{
	float d = qp_fp16_to_fp32(le_u16(blk));
	float dmin = qp_fp16_to_fp32(le_u16(blk + 2));
	float dj[8], mj[8];
	for (int j = 0; j < 8; j++) {
		int s, m;
		unpack_k4_scale(blk + 4, j, &s, &m);
		dj[j] = d * (float)s;
		mj[j] = dmin * (float)m;
	}
	requantize_asym(x, 32, 8, dj, mj, nmax, q);
}

static void k4_header_ref(const float *scales, const float *mins,
			  uint8_t *blk)
{
	float max_scale = 0, max_min = 0;
	for (int j = 0; j < 8; j++) {
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}
	float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
	float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
	uint8_t ls[8], lm[8];
	for (int j = 0; j < 8; j++) {
		ls[j] = (uint8_t)round_half_even(inv_scale * scales[j]);
		lm[j] = (uint8_t)round_half_even(inv_min * mins[j]);
		if (ls[j] > 63)
			ls[j] = 63;
		if (lm[j] > 63)
			lm[j] = 63;
	}
	pack_k4_scales(ls, lm, blk + 4);
	le_put_u16(blk, qp_fp32_to_fp16(max_scale / 63.f));
	le_put_u16(blk + 2, qp_fp32_to_fp16(max_min / 63.f));
}

/* ggml's reference weights: rms of the group plus |x|. */
static void k4_fit_ref(const float *x, const asym_params *p, uint8_t *q,
		       float *scales, float *mins, bool fast)
{
	float w[256];
	for (int j = 0; j < 8; j++) {
		const float *xg = x + 32 * j;
		float av = sqrtf(sum_squares(xg, 32) / 32.f);
		for (int i = 0; i < 32; i++)
			w[32 * j + i] = av + fabsf(xg[i]);
	}
	fit_asym_groups(8, 32, p, x, w, q, scales, mins, fast);
}

static void k4_fit_imat(const float *x, const float *imp, const asym_params *p,
			uint8_t *q, float *scales, float *mins, float *sw,
			bool fast)
{
	float w[256];
	float sigma2 = 2 * sum_squares(x, 256) / 256.f;
	for (int j = 0; j < 8; j++)
		imatrix_weights(x + 32 * j, imp + 32 * j, sigma2, 32,
				w + 32 * j, &sw[j]);
	fit_asym_groups(8, 32, p, x, w, q, scales, mins, fast);
}

static void q4_k_pack(const uint8_t *q, uint8_t *blk)
{
	uint8_t *qs = blk + 16;
	for (int c = 0; c < 4; c++)
		for (int k = 0; k < 32; k++)
			qs[32 * c + k] = (uint8_t)(q[64 * c + k] |
						   q[64 * c + k + 32] << 4);
}

static void q5_k_pack(const uint8_t *q, uint8_t *blk)
{
	uint8_t *qh = blk + 16, *qs = blk + 48;
	memset(qh, 0, 32);
	for (int c = 0; c < 4; c++)
		for (int k = 0; k < 32; k++) {
			int lo = q[64 * c + k], hi = q[64 * c + k + 32];
			if (lo > 15) {
				lo -= 16;
				qh[k] |= (uint8_t)(1u << (2 * c));
			}
			if (hi > 15) {
				hi -= 16;
				qh[k] |= (uint8_t)(2u << (2 * c));
			}
			qs[32 * c + k] = (uint8_t)(lo | hi << 4);
		}
}

static void k4_block(const float *x, const float *imp, uint8_t *blk,
		     bool five_bit, bool fast)
{
	uint8_t q[256];
	float scales[8], mins[8], sw[8];
	int nmax = five_bit ? 31 : 15;
	if (!imp) {
		k4_fit_ref(x, five_bit ? &Q5_REF : &Q4_REF, q, scales, mins,
			   fast);
		k4_header_ref(scales, mins, blk);
	} else {
		k4_fit_imat(x, imp, five_bit ? &Q5_IMAT : &Q4_IMAT, q, scales,
			    mins, sw, fast);
		uint8_t ls[8], lm[8];
		float d = fit_positive(8, 63, scales, ls, sw);
		float dmin = fit_positive(8, 63, mins, lm, sw);
		if (five_bit) /* only ggml's Q5_K path clamps here */
			for (int j = 0; j < 8; j++) {
				if (ls[j] > 63)
					ls[j] = 63;
				if (lm[j] > 63)
					lm[j] = 63;
			}
		memset(blk + 4, 0, 12);
		pack_k4_scales(ls, lm, blk + 4);
		le_put_u16(blk, qp_fp32_to_fp16(d));
		le_put_u16(blk + 2, qp_fp32_to_fp16(dmin));
	}
	k4_requantize(x, blk, nmax, q);
	if (five_bit)
		q5_k_pack(q, blk);
	else
		q4_k_pack(q, blk);
}

/* ---- Q6_K: 16 groups of 16, 6-bit levels, 8-bit signed scales ------- */

static void q6_k_block(const float *x, const float *imp, uint8_t *blk,
		       bool fast)
{
	int8_t q[256];
	float scales[16], w[256];
	float max_abs = 0, max_scale = 0;
	if (!imp)
		for (int i = 0; i < 256; i++)
			w[i] = x[i] * x[i];
	fit_sym_groups(16, 16, 32, x, imp ? imp : w, q, scales, fast);
	for (int j = 0; j < 16; j++) {
		float a = fabsf(scales[j]);
		if (a > max_abs) {
			max_abs = a;
			max_scale = scales[j];
		}
	}
	memset(blk, 0, QP_Q6_K_BLOCK_BYTES);
	if (max_abs < GROUP_EPS)
		return;
	float iscale = -128.f / max_scale;
	uint16_t d_half = qp_fp32_to_fp16(1 / iscale);
	le_put_u16(blk + 208, d_half);
	float d = qp_fp16_to_fp32(d_half);
	int8_t *sc = (int8_t *)(blk + 192);
	for (int j = 0; j < 16; j++) {
		int l = round_half_even(iscale * scales[j]);
		sc[j] = (int8_t)(l < 127 ? l : 127);
	}
	for (int j = 0; j < 16; j++) {
		float dj = d * (float)sc[j];
		if (dj == 0)
			continue;
		for (int i = 0; i < 16; i++) {
			int k = 16 * j + i;
			q[k] = (int8_t)(clamp_int(round_half_even(x[k] / dj),
						  -32, 31) + 32);
		}
	}
	uint8_t *ql = blk, *qh = blk + 128;
	for (int half = 0; half < 2; half++) {
		const int8_t *v = q + 128 * half;
		for (int k = 0; k < 32; k++) {
			ql[k] = (uint8_t)((v[k] & 0xF) | (v[k + 64] & 0xF) << 4);
			ql[k + 32] = (uint8_t)((v[k + 32] & 0xF) |
					       (v[k + 96] & 0xF) << 4);
			qh[k] = (uint8_t)(v[k] >> 4 | (v[k + 32] >> 4) << 2 |
					  (v[k + 64] >> 4) << 4 |
					  (v[k + 96] >> 4) << 6);
		}
		ql += 64;
		qh += 32;
	}
}

/* ---- row drivers ---------------------------------------------------- */

typedef void (*block_fn)(const float *x, const float *imp, uint8_t *blk,
			 bool fast);

static void q2_k_block(const float *x, const float *imp, uint8_t *blk,
		       bool fast)
{
	if (imp)
		q2_k_block_imat(x, imp, blk, fast);
	else
		q2_k_block_ref(x, blk, fast);
}

static void q3_k_block(const float *x, const float *imp, uint8_t *blk,
		       bool fast)
{
	if (imp)
		q3_k_block_imat(x, imp, blk, fast);
	else
		q3_k_block_ref(x, blk, fast);
}

static void q4_k_block(const float *x, const float *imp, uint8_t *blk,
		       bool fast)
{
	k4_block(x, imp, blk, false, fast);
}

static void q5_k_block(const float *x, const float *imp, uint8_t *blk,
		       bool fast)
{
	k4_block(x, imp, blk, true, fast);
}

static int quantize_rows(block_fn fn, size_t block_bytes, const float *src,
			 void *dst, int64_t nrows, int64_t n_per_row,
			 const float *imatrix, bool fast)
{
	int64_t nb = n_per_row / QP_QK_K;
	uint8_t *out = dst;
	for (int64_t r = 0; r < nrows; r++)
		for (int64_t b = 0; b < nb; b++) {
			const float *x = src + r * n_per_row + b * QP_QK_K;
			const float *imp = imatrix ? imatrix + b * QP_QK_K
						   : NULL;
			fn(x, imp, out, fast);
			out += block_bytes;
		}
	return 0;
}

static int quantize_type(uint32_t type, const float *src, void *dst,
			 int64_t nrows, int64_t n_per_row,
			 const float *imatrix, bool fast)
{
	switch (type) {
	case 10:
		return quantize_rows(q2_k_block, QP_Q2_K_BLOCK_BYTES, src, dst,
				     nrows, n_per_row, imatrix, fast);
	case 11:
		return quantize_rows(q3_k_block, QP_Q3_K_BLOCK_BYTES, src, dst,
				     nrows, n_per_row, imatrix, fast);
	case 12:
		return quantize_rows(q4_k_block, QP_Q4_K_BLOCK_BYTES, src, dst,
				     nrows, n_per_row, imatrix, fast);
	case 13:
		return quantize_rows(q5_k_block, QP_Q5_K_BLOCK_BYTES, src, dst,
				     nrows, n_per_row, imatrix, fast);
	case 14:
		return quantize_rows(q6_k_block, QP_Q6_K_BLOCK_BYTES, src, dst,
				     nrows, n_per_row, imatrix, fast);
	}
	return -1;
}

int qp_quantize_k_scalar(uint32_t type, const float *src, void *dst,
			 int64_t nrows, int64_t n_per_row,
			 const float *imatrix)
{
	return quantize_type(type, src, dst, nrows, n_per_row, imatrix, false);
}

int qp_quantize_q2_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	return quantize_type(10, src, dst, nrows, n_per_row, imatrix, true);
}

int qp_quantize_q3_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	return quantize_type(11, src, dst, nrows, n_per_row, imatrix, true);
}

int qp_quantize_q4_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	return quantize_type(12, src, dst, nrows, n_per_row, imatrix, true);
}

int qp_quantize_q5_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	return quantize_type(13, src, dst, nrows, n_per_row, imatrix, true);
}

int qp_quantize_q6_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	return quantize_type(14, src, dst, nrows, n_per_row, imatrix, true);
}
