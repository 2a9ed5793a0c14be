/* quant_search_lanes.h — the lane-parallel searches of quant_search.c,
 * written once for any number of lanes; quant_search.c includes it once
 * per width (4 lanes: SSE2 or plain C vectors; 8 lanes: AVX2).
 *
 * Promise: asymmetric_batches, symmetric_batches and refine_batches (named
 * through LN(), so each width has its own) give, for every group, the
 * bytes of the scalar search in quant_search.c: lane j of every vector
 * belongs to group j of a batch of LANES and goes through exactly the
 * scalar routine's sequence of float operations; a data-dependent branch
 * of the scalar code becomes a per-lane select, and work a lane would have
 * skipped is done and then discarded.  So the width never changes a bit.
 * So do symmetric_candidates (one group, its candidate scales in lanes)
 * and, eight lanes only, symmetric_pairs and asymmetric_pairs (four groups
 * twice over, two candidates or steps at a time), which the drivers use
 * where lanes of groups would idle.  The includer defines LANES (4 or 8), LN(name) (a name for this width),
 * VATTR (the functions' attribute: QP_AVX2 or nothing), LANES_SSE2 and
 * LANES_AVX2 (which intrinsics the width may use).  Not a module header:
 * no include guard, meant to be included more than once.
 */
#define vf LN(vf)
#define vi LN(vi)
#define vsplat LN(vsplat)
#define isplat LN(isplat)
#define vsel LN(vsel)
#define isel LN(isel)
#define vabs LN(vabs)
#define vround LN(vround)
#define vclamp LN(vclamp)
#define vtofloat LN(vtofloat)
#define any_lane LN(any_lane)
#define all_lanes LN(all_lanes)
#define to_lanes LN(to_lanes)
#define vmin_first LN(vmin_first)
#define vmax_first LN(vmax_first)
#define float_level LN(float_level)
#define asym_level_v LN(asym_level_v)
#define asym_err_v LN(asym_err_v)
#define signed_absmax_lanes LN(signed_absmax_lanes)
#define store_symmetric_lanes LN(store_symmetric_lanes)
#define from_lanes LN(from_lanes)
#define asym_state LN(asym_state)
#define asym_start LN(asym_start)
#define asym_step_fit LN(asym_step_fit)
#define asym_fast_levels LN(asym_fast_levels)
#define asym_step_sums LN(asym_step_sums)
#define asym_store LN(asym_store)
#define asymmetric_lanes LN(asymmetric_lanes)
#define symmetric_level LN(symmetric_level)
#define symmetric_level_hi LN(symmetric_level_hi)
#define symmetric_sums3 LN(symmetric_sums3)
#define symmetric_start LN(symmetric_start)
#define symmetric_won_levels LN(symmetric_won_levels)
#define symmetric_lanes LN(symmetric_lanes)
#define symmetric_candidates LN(symmetric_candidates)
#define symmetric_pairs LN(symmetric_pairs)
#define asymmetric_pairs LN(asymmetric_pairs)
#define high_half LN(high_half)
#define low_half LN(low_half)
#define to_lanes_twice LN(to_lanes_twice)
#define refine_lanes LN(refine_lanes)
#define padded LN(padded)
#define lanes_done LN(lanes_done)
#define pad_groups LN(pad_groups)
#define unpad_groups LN(unpad_groups)
#define asymmetric_batches LN(asymmetric_batches)
#define symmetric_batches LN(symmetric_batches)
#define refine_batches LN(refine_batches)

typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int32_t vi __attribute__((vector_size(4 * LANES)));

static inline VATTR vf vsplat(float v)
{
	vf r = { 0 }; /* set in full below; gcc 12 cannot always tell */
	for (int j = 0; j < LANES; j++)
		r[j] = v;
	return r;
}

static inline VATTR vi isplat(int32_t v)
{
	vi r;
	for (int j = 0; j < LANES; j++)
		r[j] = v;
	return r;
}

/* mask lanes (-1) take a, the others b */
static inline VATTR vf vsel(vi mask, vf a, vf b)
{
	return (vf)((mask & (vi)a) | (~mask & (vi)b));
}

static inline VATTR vi isel(vi mask, vi a, vi b)
{
	return (mask & a) | (~mask & b);
}

static inline VATTR vf vabs(vf v)
{
	return (vf)((vi)v & isplat(0x7fffffff));
}

static inline VATTR vi vround(vf v)
{
	vf shifted = v + vsplat(12582912.f);
	return ((vi)shifted & isplat(0x007fffff)) - isplat(0x00400000);
}

static inline VATTR vi vclamp(vi v, int lo, int hi)
{
#if LANES_AVX2
	return (vi)_mm256_min_epi32(_mm256_max_epi32((__m256i)v, (__m256i)isplat(lo)),
				    (__m256i)isplat(hi));
#endif
	v = isel(v < isplat(lo), isplat(lo), v);
	return isel(v > isplat(hi), isplat(hi), v);
}

static inline VATTR vf vtofloat(vi v)
{
	return __builtin_convertvector(v, vf);
}

static inline VATTR bool any_lane(vi mask)
{
#if LANES_AVX2
	return _mm256_movemask_ps((__m256)mask) != 0;
#elif LANES_SSE2
	return _mm_movemask_ps((__m128)mask) != 0;
#else
	int32_t acc = 0;
	for (int j = 0; j < LANES; j++)
		acc |= mask[j];
	return acc != 0;
#endif
}

/* Group j's value i goes to lane j of xt[i]. */
static VATTR void to_lanes(int n, const float *x, vf *xt)
{
#if LANES_AVX2
	if (n % 4 == 0) { /* per four values: group k's in the low half of
			   * row k, group k + 4's in its high half, then an
			   * in-half 4x4 transpose: lane j = group j */
		const float *g = x;
		for (int i = 0; i < n; i += 4, g += 4) {
			__m256 r0 = _mm256_insertf128_ps(_mm256_castps128_ps256(
				_mm_loadu_ps(g)), _mm_loadu_ps(g + 4 * n), 1);
			__m256 r1 = _mm256_insertf128_ps(_mm256_castps128_ps256(
				_mm_loadu_ps(g + n)), _mm_loadu_ps(g + 5 * n), 1);
			__m256 r2 = _mm256_insertf128_ps(_mm256_castps128_ps256(
				_mm_loadu_ps(g + 2 * n)), _mm_loadu_ps(g + 6 * n), 1);
			__m256 r3 = _mm256_insertf128_ps(_mm256_castps128_ps256(
				_mm_loadu_ps(g + 3 * n)), _mm_loadu_ps(g + 7 * n), 1);
			__m256 t0 = _mm256_unpacklo_ps(r0, r1);
			__m256 t1 = _mm256_unpackhi_ps(r0, r1);
			__m256 t2 = _mm256_unpacklo_ps(r2, r3);
			__m256 t3 = _mm256_unpackhi_ps(r2, r3);
			xt[i] = (vf)_mm256_shuffle_ps(t0, t2, 0x44);
			xt[i + 1] = (vf)_mm256_shuffle_ps(t0, t2, 0xEE);
			xt[i + 2] = (vf)_mm256_shuffle_ps(t1, t3, 0x44);
			xt[i + 3] = (vf)_mm256_shuffle_ps(t1, t3, 0xEE);
		}
		return;
	}
#endif
#if LANES_SSE2 || LANES_AVX2
	if (n % 4 == 0) { /* 4x4 transposes, no store-forwarding stalls */
		for (int i = 0; i < n; i += 4) {
			__m128 r[LANES];
			for (int k = 0; k < LANES; k += 4) {
				const float *g = x + n * k + i;
				__m128 r0 = _mm_loadu_ps(g), r1 = _mm_loadu_ps(g + n);
				__m128 r2 = _mm_loadu_ps(g + 2 * n);
				__m128 r3 = _mm_loadu_ps(g + 3 * n);
				_MM_TRANSPOSE4_PS(r0, r1, r2, r3);
				r[k] = r0;
				r[k + 1] = r1;
				r[k + 2] = r2;
				r[k + 3] = r3;
			}
			for (int k = 0; k < 4; k++) {
#if LANES_AVX2
				__m256 v = _mm256_insertf128_ps(
					_mm256_castps128_ps256(r[k]), r[k + 4], 1);
#else
				__m128 v = r[k];
#endif
				memcpy(&xt[i + k], &v, sizeof v);
			}
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
 * one instruction each in SSE2 and AVX, the same selects without them. */
static inline VATTR vf vmin_first(vf a, vf b)
{
#if LANES_AVX2
	return (vf)_mm256_min_ps((__m256)a, (__m256)b);
#elif LANES_SSE2
	return (vf)_mm_min_ps((__m128)a, (__m128)b);
#else
	return vsel(a < b, a, b);
#endif
}

static inline VATTR vf vmax_first(vf a, vf b)
{
#if LANES_AVX2
	return (vf)_mm256_max_ps((__m256)a, (__m256)b);
#elif LANES_SSE2
	return (vf)_mm_max_ps((__m128)a, (__m128)b);
#else
	return vsel(a > b, a, b);
#endif
}

static inline VATTR bool all_lanes(vi mask)
{
#if LANES_AVX2
	return _mm256_movemask_ps((__m256)mask) == 0xff;
#elif LANES_SSE2
	return _mm_movemask_ps((__m128)mask) == 0xf;
#else
	int32_t acc = -1;
	for (int j = 0; j < LANES; j++)
		acc &= mask[j];
	return acc != 0;
#endif
}

/* asym_level_v's level as a float, found in floats where that is exact
 * (|v| < 2^22, see asymmetric_lanes): min(nmax, v) keeps a NaN v,
 * max(., 0) turns it and v <= 0 into +0; adding and subtracting
 * 1.5 * 2^23 rounds to nearest, ties to even, as nearest_int does below
 * 2^22. */
static inline VATTR vf float_level(vf v, vf nmaxf)
{
	vf t = vmax_first(vmin_first(nmaxf, v), vsplat(0));
	return (t + vsplat(12582912.f)) - vsplat(12582912.f);
}

/* ggml's clamp(nearest_int(v), 0, nmax), for every v (qkx2 and qkx3) */
static inline VATTR vi asym_level_v(vf v, int nmax)
{
	return vclamp(vround(v), 0, nmax);
}

static inline VATTR vf asym_err_v(vf diff, bool use_mad)
{
	return use_mad ? vabs(diff) : diff * diff;
}

/* qp_signed_absmax per lane; *zero marks the all-zero groups. */
static inline VATTR vf signed_absmax_lanes(int n, const vf *xt, vi *zero)
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

/* Levels (integer-valued floats, lane j = group j) plus offset back to
 * group-major bytes q[n * j + i]; lanes outside keep get 0.  Levels fit in
 * 0..127.  With AVX2 and n a multiple of 16 it is a transpose: the
 * saturating packs gather four values of eight groups, a byte shuffle
 * makes them four bytes per group, a dword transpose makes rows. */
static inline VATTR void from_lanes(int n, const vf *lv, int offset, vi keep,
				    uint8_t *q)
{
	vi l[32];
	for (int i = 0; i < n; i++)
		l[i] = (__builtin_convertvector(lv[i], vi) + isplat(offset)) &
		       keep;
#if LANES_AVX2
	if (n % 16 == 0) {
		const __m256i rows_to_cols = _mm256_setr_epi8(
			0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
			0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
		for (int s = 0; s < n; s += 16) {
			__m256i b[4];
			for (int k = 0; k < 4; k++) {
				const vi *v = l + s + 4 * k;
				__m256i p01 = _mm256_packs_epi32((__m256i)v[0],
								 (__m256i)v[1]);
				__m256i p23 = _mm256_packs_epi32((__m256i)v[2],
								 (__m256i)v[3]);
				/* half h: rows i..i+3 of groups 4h..4h+3 */
				b[k] = _mm256_shuffle_epi8(
					_mm256_packs_epi16(p01, p23),
					rows_to_cols);
				/* now dword g of half h: group 4h+g's 4 bytes */
			}
			__m256i t0 = _mm256_unpacklo_epi32(b[0], b[1]);
			__m256i t1 = _mm256_unpackhi_epi32(b[0], b[1]);
			__m256i t2 = _mm256_unpacklo_epi32(b[2], b[3]);
			__m256i t3 = _mm256_unpackhi_epi32(b[2], b[3]);
			__m256i r[4] = { _mm256_unpacklo_epi64(t0, t2),
					 _mm256_unpackhi_epi64(t0, t2),
					 _mm256_unpacklo_epi64(t1, t3),
					 _mm256_unpackhi_epi64(t1, t3) };
			for (int g = 0; g < 4; g++) {
				_mm_storeu_si128((__m128i *)(q + n * g + s),
						 _mm256_castsi256_si128(r[g]));
				_mm_storeu_si128((__m128i *)(q + n * (g + 4) + s),
						 _mm256_extracti128_si256(r[g], 1));
			}
		}
		return;
	}
#endif
	for (int j = 0; j < LANES; j++)
		for (int i = 0; i < n; i++)
			q[n * j + i] = (uint8_t)l[i][j];
}

/* Levels -nmax..nmax-1 (as floats, lane j = group j) back to group-major
 * q as 0..2*nmax-1; all-zero groups get scale 0 and levels 0. */
static inline VATTR void store_symmetric_lanes(int n, int nmax, vi zero, vf scale,
					 const vf *lv, int8_t *q,
					 float *scales)
{
	for (int j = 0; j < LANES; j++)
		scales[j] = zero[j] ? 0.f : scale[j];
	if (q) /* NULL: the caller wants the scales only */
		from_lanes(n, lv, nmax, ~zero, (uint8_t *)q);
}

/* What qp_fit_asymmetric knows of LANES groups before its steps: their
 * extremes and weighted sums, which groups are flat (no range: scale 0),
 * and the first fit (levels lv, its scale, min and error best). */
typedef struct asym_state {
	vf data_min, data_max, min, max, sum_w, sum_x, flat_min;
	vf scale, best;
	vi flat;
} asym_state;

static inline VATTR void asym_start(int n, const qp_asym_search *p,
				    const vf *xt, const vf *wt, vf *lv,
				    asym_state *st)
{
	vf min = xt[0], max = xt[0];
	vf sum_w = wt[0];
	vf sum_x = sum_w * xt[0];
	for (int i = 1; i < n; i++) {
		min = vsel(xt[i] < min, xt[i], min);
		max = vsel(xt[i] > max, xt[i], max);
		sum_w += wt[i];
		sum_x += wt[i] * xt[i];
	}
	st->data_min = min;
	st->data_max = max;
	min = vsel(min > vsplat(0), vsplat(0), min);
	st->flat = p->variant == QP_ASYM_QKX2 ? max == min : max <= min;
	st->flat_min = min;
	vf iscale = vsplat((float)p->nmax) / (max - min);
	vf scale = vsplat(1) / iscale;
	vf best = vsplat(0);
#pragma GCC unroll 4
	for (int i = 0; i < n; i++) {
		lv[i] = vtofloat(vclamp(vround(iscale * (xt[i] - min)), 0,
					p->nmax));
		best += wt[i] * asym_err_v(scale * lv[i] + min - xt[i],
					   p->use_mad);
	}
	st->min = min;
	st->max = max;
	st->sum_w = sum_w;
	st->sum_x = sum_x;
	st->scale = scale;
	st->best = best;
}

/* Whether a step's levels can be found in floats (float_level): when
 * cand * (x - min) stays below 2^22 at the groups' extremes (see
 * asymmetric_lanes). */
static inline VATTR __attribute__((always_inline)) bool
asym_fast_levels(vf cand, const asym_state *st, vf min)
{
	const vf lim = vsplat(4194304.f);
	return all_lanes((vabs(cand * (st->data_min - min)) < lim) &
			 (vabs(cand * (st->data_max - min)) < lim));
}

/* A step's trial levels of x - min at cand (xm: those differences, or
 * NULL to form them here), and their weighted sums of l, l^2 and x l, in
 * the scalar loop's order. */
static inline VATTR __attribute__((always_inline)) void
asym_step_sums(int n, const qp_asym_search *p, vf cand, bool fast,
	       const vf *xm, vf min, const vf *xt, const vf *wt, vf *trial,
	       vf *sum_l_out, vf *sum_l2_out, vf *sum_xl_out)
{
	const vf nmaxf = vsplat((float)p->nmax);
	vf sum_l = vsplat(0), sum_l2 = vsplat(0), sum_xl = vsplat(0);
	if (fast)
#pragma GCC unroll 8
		for (int i = 0; i < n; i++) {
			vf l = float_level(cand * (xm ? xm[i] : xt[i] - min), nmaxf);
			trial[i] = l;
			vf wl = wt[i] * l;
			sum_l += wl;
			sum_l2 += wl * l;
			sum_xl += wl * xt[i];
		}
	else
#pragma GCC unroll 8
		for (int i = 0; i < n; i++) {
			vf l = vtofloat(asym_level_v(cand * (xm ? xm[i] : xt[i] - min), p->nmax));
			trial[i] = l;
			vf wl = wt[i] * l;
			sum_l += wl;
			sum_l2 += wl * l;
			sum_xl += wl * xt[i];
		}
	*sum_l_out = sum_l;
	*sum_l2_out = sum_l2;
	*sum_xl_out = sum_xl;
}

/* A step's least-squares scale and min for the trial levels (the min
 * clamped to <= 0, the scale refit then), and their weighted error. */
static inline VATTR vf asym_step_fit(int n, bool use_mad, const vf *xt,
				     const vf *wt, const vf *trial,
				     const asym_state *st, vf sum_l, vf sum_l2,
				     vf sum_xl, vf det, vf *scale_out,
				     vf *min_out)
{
	vf this_scale = (st->sum_w * sum_xl - st->sum_x * sum_l) / det;
	vf this_min = (sum_l2 * st->sum_x - sum_l * sum_xl) / det;
	vi pos = this_min > vsplat(0);
	this_min = vsel(pos, vsplat(0), this_min);
	this_scale = vsel(pos, sum_xl / sum_l2, this_scale);
	vf err = vsplat(0);
#pragma GCC unroll 8
	for (int i = 0; i < n; i++)
		err += wt[i] * asym_err_v(this_scale * trial[i] + this_min - xt[i],
					  use_mad);
	*scale_out = this_scale;
	*min_out = this_min;
	return err;
}

/* The first ngroups lanes' results: a flat group keeps scale 0 and its
 * own min. */
static inline VATTR void asym_store(const asym_state *st, int ngroups,
				    vf scale, vf min, float *scales,
				    float *neg_mins)
{
	for (int j = 0; j < ngroups; j++) {
		bool is_flat = st->flat[j] != 0;
		scales[j] = is_flat ? 0.f : scale[j];
		neg_mins[j] = is_flat ? -st->flat_min[j] : -min[j];
	}
}

/* qp_fit_asymmetric for LANES groups of n values (x, w: group-major). */
static VATTR void asymmetric_lanes(int n, const qp_asym_search *p, const float *x,
			     const float *w, uint8_t *q, float *scales,
			     float *neg_mins)
{
	vf xt[32], wt[32], lv[32], trial[32];
	to_lanes(n, x, xt);
	to_lanes(n, w, wt);
	asym_state st;
	asym_start(n, p, xt, wt, lv, &st);
	const vf sum_w = st.sum_w;
	vf min = st.min, max = st.max, scale = st.scale, best = st.best;
	/* A step's levels can be found in floats (float_level) when that gives
	 * asym_level_v's integers: when every v is below 2^22 in magnitude
	 * (where nearest_int stops rounding), checked per step at the groups'
	 * extremes (v is monotone in x; cand is relative to the current min,
	 * so this fails when a won min lies far above the smallest x, or
	 * above max).  A NaN v made
	 * here (0 * inf, inf - inf) has the default payload, level 0 either
	 * way; one with another payload comes from a NaN x, which makes that
	 * lane's sum_xl (w*l*x), fit and error NaN: its levels never win. */
	for (int step = 0; step <= p->nstep; step++) {
		vf cand = vsplat(p->rmin + p->rdelta * (float)step +
				 (float)p->nmax) / (max - min);
		vf sum_l, sum_l2, sum_xl;
		asym_step_sums(n, p, cand, asym_fast_levels(cand, &st, min), NULL,
			       min, xt, wt, trial, &sum_l, &sum_l2, &sum_xl);
		vf det = sum_w * sum_l2 - sum_l * sum_l;
		vi ok = det > vsplat(0);
		if (!any_lane(ok))
			continue;
		vf this_scale, this_min;
		vf err = asym_step_fit(n, p->use_mad, xt, wt, trial, &st, sum_l,
				       sum_l2, sum_xl, det, &this_scale, &this_min);
		vi win = ok & (err < best);
		if (!any_lane(win))
			continue;
#pragma GCC unroll 4
		for (int i = 0; i < n; i++)
			lv[i] = vsel(win, trial[i], lv[i]);
		best = vsel(win, err, best);
		scale = vsel(win, this_scale, scale);
		min = vsel(win, this_min, min);
	}
	asym_store(&st, LANES, scale, min, scales, neg_mins);
	from_lanes(n, lv, 0, ~st.flat, q);
}

/* clamp(nearest_int(v), lo, hi) of a search step as a float, found in
 * floats: clamping first changes nothing (integer bounds), and adding and
 * subtracting 1.5 * 2^23 rounds as nearest_int does below 2^22 (|v| is at
 * most nmax + 1 for finite x).  A NaN v may land on a bound here where
 * nearest_int reads its payload; it never matters: from a NaN x it makes
 * the lane's sum of w*x*l NaN, so that candidate cannot win; from 0 * inf
 * (an infinite x makes every candidate scale 0) the first fit's sum is
 * already NaN (w*inf*0), so best is NaN and no candidate wins. */
static inline VATTR vf symmetric_level(vf v, vf lo, vf hi)
{
	vf t = vmin_first(vmax_first(v, lo), hi);
	return (t + vsplat(12582912.f)) - vsplat(12582912.f);
}

/* symmetric_level where the lower clamp provably changes nothing: for the
 * candidates of steps -9..4, cand = -(nmax + 0.1 step) / signed_max and
 * every |x| <= |signed_max| (NaN aside), so cand * x >= -(nmax + 0.4 +
 * 2^-24) (0.1f * 4 is 0.4 + 6e-9) times 1 + 2^-22 at most for the
 * roundings of the constant, the division and the product: above -nmax -
 * 0.5 for every nmax <= 2^16, so it rounds to -nmax or more.  (Step 5 may
 * reach -nmax - 0.5 and step 6 goes below: those keep the clamp; the unit
 * tests fail when step 6 loses it.)  A NaN v lands on hi instead of lo; as above, it never
 * matters. */
static inline VATTR vf symmetric_level_hi(vf v, vf hi)
{
	vf t = vmin_first(v, hi);
	return (t + vsplat(12582912.f)) - vsplat(12582912.f);
}

/* Three candidates' sums of (w x) l and w l^2, each in the scalar order,
 * side by side: one candidate's adds alone are bound by their latency
 * (the named sums stay in registers). */
static inline VATTR __attribute__((always_inline)) void
symmetric_sums3(int n, const vf *cand, const vf *xt, const vf *wx,
		const vf *wt, vf lo, vf hi, bool need_lo, vf *slx, vf *sl2)
{
	const vf c0 = cand[0], c1 = cand[1], c2 = cand[2];
	vf a0 = vsplat(0), a1 = a0, a2 = a0, b0 = a0, b1 = a0, b2 = a0;
#define SUMS3_BODY(LEVEL)                                        \
	_Pragma("GCC unroll 2")                                  \
	for (int i = 0; i < n; i++) {                            \
		vf l0 = LEVEL(c0 * xt[i]);                       \
		vf l1 = LEVEL(c1 * xt[i]);                       \
		vf l2 = LEVEL(c2 * xt[i]);                       \
		a0 += wx[i] * l0;                                \
		a1 += wx[i] * l1;                                \
		a2 += wx[i] * l2;                                \
		b0 += wt[i] * l0 * l0;                           \
		b1 += wt[i] * l1 * l1;                           \
		b2 += wt[i] * l2 * l2;                           \
	}
#define LEVEL_BOTH(v) symmetric_level(v, lo, hi)
#define LEVEL_HI(v) symmetric_level_hi(v, hi)
	if (need_lo)
		SUMS3_BODY(LEVEL_BOTH)
	else
		SUMS3_BODY(LEVEL_HI)
#undef LEVEL_BOTH
#undef LEVEL_HI
#undef SUMS3_BODY
	slx[0] = a0;
	slx[1] = a1;
	slx[2] = a2;
	sl2[0] = b0;
	sl2[1] = b1;
	sl2[2] = b2;
}

/* make_qx_quants' first fit for LANES groups: the signed extreme (zero
 * lanes: an all-zero group), the levels at -nmax / max in lv, w x in wx
 * (ggml's w*x*l is (w*x)*l), the fit's scale and its score best. */
static inline VATTR __attribute__((always_inline)) void
symmetric_start(int n, int nmax, const vf *xt, const vf *wt, vf *wx, vf *lv,
		vi *zero, vf *signed_max, vf *scale, vf *best)
{
	*signed_max = signed_absmax_lanes(n, xt, zero);
	vf iscale = vsplat((float)-nmax) / *signed_max;
	vf sumlx = vsplat(0), suml2 = vsplat(0);
#pragma GCC unroll 4
	for (int i = 0; i < n; i++) {
		vf l = vtofloat(vclamp(vround(iscale * xt[i]), -nmax,
				       nmax - 1));
		lv[i] = l;
		wx[i] = wt[i] * xt[i];
		sumlx += wx[i] * l;
		suml2 += wt[i] * l * l;
	}
	*scale = vsel(suml2 != vsplat(0), sumlx / suml2, vsplat(0));
	*best = *scale * sumlx;
}

/* The levels of the lanes a candidate won (won_cand: its scale). */
static inline VATTR __attribute__((always_inline)) void
symmetric_won_levels(int n, vi won, vf won_cand, const vf *xt, vf lo, vf hi,
		     vf *lv)
{
	if (any_lane(won))
#pragma GCC unroll 4
		for (int i = 0; i < n; i++)
			lv[i] = vsel(won, symmetric_level(won_cand * xt[i], lo, hi),
				     lv[i]);
}

/* qp_fit_symmetric for LANES groups of n values (x, w: group-major).  A
 * candidate's sums depend only on its scale, not on which earlier one won,
 * so they are found three candidates per pass over the values (three
 * independent chains of additions instead of one: the adds' latency, not
 * their number, bounds a pass), then compared in ggml's order; the
 * winner's levels are found once at the end, from its scale. */
static VATTR void symmetric_lanes(int n, int nmax, const float *x, const float *w,
			    int8_t *q, float *scales)
{
	enum { N_CAND = 18 }; /* steps -9..9 but 0, three per pass */
	vf xt[32], wt[32], wx[32], lv[32];
	to_lanes(n, x, xt);
	if (w)
		to_lanes(n, w, wt);
	else /* ggml's default weights x^2 */
		for (int i = 0; i < n; i++)
			wt[i] = xt[i] * xt[i];
	vi zero;
	vf signed_max, scale, best;
	symmetric_start(n, nmax, xt, wt, wx, lv, &zero, &signed_max, &scale, &best);
	const vf lo = vsplat((float)-nmax), hi = vsplat((float)(nmax - 1));
	vf cand[N_CAND], slx[N_CAND], sl2[N_CAND];
	/* ggml's 0.1f * step, steps -9..-1, 1..9 (float products, rounded
	 * as at run time: the translation uses the same IEEE single) */
	static const float tenth[N_CAND] = {
		0.1f * -9.f, 0.1f * -8.f, 0.1f * -7.f, 0.1f * -6.f, 0.1f * -5.f,
		0.1f * -4.f, 0.1f * -3.f, 0.1f * -2.f, 0.1f * -1.f, 0.1f * 1.f,
		0.1f * 2.f, 0.1f * 3.f, 0.1f * 4.f, 0.1f * 5.f, 0.1f * 6.f,
		0.1f * 7.f, 0.1f * 8.f, 0.1f * 9.f
	};
	const float nmaxf = (float)nmax;
#pragma GCC unroll 18
	for (int k = 0; k < N_CAND; k++)
		cand[k] = vsplat(-(nmaxf + tenth[k])) / signed_max;
	/* candidates 0..11 are steps -9..3: no lower clamp (symmetric_level_hi);
	 * 12..14 hold step 4 to 6, 15..17 steps 7 to 9 */
	for (int k = 0; k < N_CAND; k += 3)
		symmetric_sums3(n, cand + k, xt, wx, wt, lo, hi, k >= 12, slx + k,
				sl2 + k);
	vi won = isplat(0);
	vf won_cand = vsplat(0);
	for (int k = 0; k < N_CAND; k++) {
		vi win = (sl2[k] > vsplat(0)) &
			 (slx[k] * slx[k] > best * sl2[k]);
		if (!any_lane(win))
			continue;
		scale = vsel(win, slx[k] / sl2[k], scale);
		best = vsel(win, scale * slx[k], best);
		won_cand = vsel(win, cand[k], won_cand);
		won |= win;
	}
	symmetric_won_levels(n, won, won_cand, xt, lo, hi, lv);
	store_symmetric_lanes(n, nmax, zero, scale, lv, q, scales);
}

#if LANES_AVX2
/* Four groups' value i in lanes 0-3 and again in lanes 4-7 of xt[i] (n a
 * multiple of 4). */
static inline VATTR void to_lanes_twice(int n, const float *x, vf *xt)
{
	int i = 0;
	do { /* n >= 4: tells the compiler xt[0] is set */
		__m128 r0 = _mm_loadu_ps(x + i), r1 = _mm_loadu_ps(x + n + i);
		__m128 r2 = _mm_loadu_ps(x + 2 * n + i);
		__m128 r3 = _mm_loadu_ps(x + 3 * n + i);
		_MM_TRANSPOSE4_PS(r0, r1, r2, r3);
		__m128 r[4] = { r0, r1, r2, r3 };
		for (int k = 0; k < 4; k++) {
			__m256 v = _mm256_insertf128_ps(_mm256_castps128_ps256(r[k]),
							r[k], 1);
			memcpy(&xt[i + k], &v, sizeof v);
		}
	} while ((i += 4) < n);
}

/* The low (or high) four lanes copied to both halves. */
static inline VATTR vf low_half(vf v)
{
	return (vf)_mm256_permute2f128_ps((__m256)v, (__m256)v, 0x00);
}

static inline VATTR vf high_half(vf v)
{
	return (vf)_mm256_permute2f128_ps((__m256)v, (__m256)v, 0x11);
}

/* qp_fit_asymmetric for exactly four groups (n a multiple of 4) in eight
 * lanes: both halves hold the same four groups, the low half trying step
 * k and the high half step k + 1, both relative to the min of before step
 * k.  Step k is decided first (its half copied to both); when no group
 * wins there, the min is unchanged and step k + 1's sums are the ones the
 * scalar search finds, so it is decided too and the search moves on by
 * two; otherwise step k + 1 is searched again with the new mins. */
static VATTR void asymmetric_pairs(int n, const qp_asym_search *p,
				   const float *x, const float *w, uint8_t *q,
				   float *scales, float *neg_mins)
{
	vf xt[32], wt[32], lv[32], xm[32], trial[32];
	to_lanes_twice(n, x, xt);
	to_lanes_twice(n, w, wt);
	asym_state st;
	asym_start(n, p, xt, wt, lv, &st);
	const vf sum_w = st.sum_w;
	vf min = st.min, max = st.max, scale = st.scale, best = st.best;
	for (int i = 0; i < n; i++)
		xm[i] = xt[i] - min;
	int step = 0;
	while (step <= p->nstep) {
		const bool pair = step < p->nstep;
		const float ka = p->rmin + p->rdelta * (float)step +
				 (float)p->nmax;
		const float kb = pair ? p->rmin + p->rdelta * (float)(step + 1) +
					(float)p->nmax
				      : ka;
		vf cand = (vf){ ka, ka, ka, ka, kb, kb, kb, kb } / (max - min);
		vf sum_l, sum_l2, sum_xl;
		asym_step_sums(n, p, cand, asym_fast_levels(cand, &st, min), xm,
			       min, xt, wt, trial, &sum_l, &sum_l2, &sum_xl);
		vf det = sum_w * sum_l2 - sum_l * sum_l;
		vi ok = det > vsplat(0);
		if (!any_lane(ok)) {
			step += pair ? 2 : 1;
			continue;
		}
		vf this_scale, this_min;
		vf err = asym_step_fit(n, p->use_mad, xt, wt, trial, &st, sum_l,
				       sum_l2, sum_xl, det, &this_scale, &this_min);
		/* step k: the low half */
		vi win = (vi)low_half((vf)ok) & (low_half(err) < best);
		if (any_lane(win)) {
			for (int i = 0; i < n; i++)
				lv[i] = vsel(win, low_half(trial[i]), lv[i]);
			best = vsel(win, low_half(err), best);
			scale = vsel(win, low_half(this_scale), scale);
			min = vsel(win, low_half(this_min), min);
			for (int i = 0; i < n; i++)
				xm[i] = xt[i] - min;
			step += 1; /* step k + 1 went by the old mins */
			continue;
		}
		if (!pair)
			break;
		/* step k + 1: the high half, found with the mins it needs */
		win = (vi)high_half((vf)ok) & (high_half(err) < best);
		if (any_lane(win)) {
			for (int i = 0; i < n; i++)
				lv[i] = vsel(win, high_half(trial[i]), lv[i]);
			best = vsel(win, high_half(err), best);
			scale = vsel(win, high_half(this_scale), scale);
			min = vsel(win, high_half(this_min), min);
			for (int i = 0; i < n; i++)
				xm[i] = xt[i] - min;
		}
		step += 2;
	}
	uint8_t rows[8 * 32];
	asym_store(&st, 4, scale, min, scales, neg_mins);
	from_lanes(n, lv, 0, ~st.flat, rows);
	memcpy(q, rows, (size_t)(4 * n));
	_mm256_zeroupper(); /* see lanes_done */
}
#endif

#if LANES_AVX2
/* qp_fit_symmetric for exactly four groups (n a multiple of 4) in eight
 * lanes: both halves hold the same four groups, the low half trying steps
 * -9..-1 and the high half steps 1..9, nine pairs three per pass; each
 * candidate is then compared in ggml's order with its half copied to both
 * (so every decision is made twice, identically). */
static VATTR void symmetric_pairs(int n, int nmax, const float *x,
				  const float *w, int8_t *q, float *scales)
{
	vf xt[32], wt[32], wx[32], lv[32];
	to_lanes_twice(n, x, xt);
	to_lanes_twice(n, w, wt);
	vi zero;
	vf signed_max, scale, best;
	symmetric_start(n, nmax, xt, wt, wx, lv, &zero, &signed_max, &scale, &best);
	const vf lo = vsplat((float)-nmax), hi = vsplat((float)(nmax - 1));
	vf cand[9], slx[9], sl2[9];
	for (int m = 0; m < 9; m++) {
		float a = (float)nmax + 0.1f * (float)(m - 9);
		float b = (float)nmax + 0.1f * (float)(m + 1);
		cand[m] = -(vf){ a, a, a, a, b, b, b, b } / signed_max;
	}
	/* pairs 0..2 are steps -9..-7 and 1..3: no lower clamp (see
	 * symmetric_level_hi); the others hold a step of 4 or more */
	for (int m = 0; m < 9; m += 3)
		symmetric_sums3(n, cand + m, xt, wx, wt, lo, hi, m >= 3, slx + m,
				sl2 + m);
	vi won = isplat(0);
	vf won_cand = vsplat(0);
	for (int k = 0; k < 18; k++) {
		const int m = k % 9;
		vf sx, s2, c;
		if (k < 9) { /* steps -9..-1: the low half to both */
			sx = (vf)_mm256_permute2f128_ps((__m256)slx[m], (__m256)slx[m], 0x00);
			s2 = (vf)_mm256_permute2f128_ps((__m256)sl2[m], (__m256)sl2[m], 0x00);
			c = (vf)_mm256_permute2f128_ps((__m256)cand[m], (__m256)cand[m], 0x00);
		} else { /* steps 1..9: the high half */
			sx = (vf)_mm256_permute2f128_ps((__m256)slx[m], (__m256)slx[m], 0x11);
			s2 = (vf)_mm256_permute2f128_ps((__m256)sl2[m], (__m256)sl2[m], 0x11);
			c = (vf)_mm256_permute2f128_ps((__m256)cand[m], (__m256)cand[m], 0x11);
		}
		vi win = (s2 > vsplat(0)) & (sx * sx > best * s2);
		if (!any_lane(win))
			continue;
		scale = vsel(win, sx / s2, scale);
		best = vsel(win, scale * sx, best);
		won_cand = vsel(win, c, won_cand);
		won |= win;
	}
	symmetric_won_levels(n, won, won_cand, xt, lo, hi, lv);
	uint8_t rows[8 * 32];
	float both[8];
	store_symmetric_lanes(n, nmax, zero, scale, lv, q ? (int8_t *)rows : NULL,
			      both);
	if (q)
		memcpy(q, rows, (size_t)(4 * n));
	memcpy(scales, both, 4 * sizeof *scales);
	_mm256_zeroupper(); /* see lanes_done */
}
#endif

/* qp_fit_symmetric for one group, its 18 candidate scales in lanes (for a
 * lone group, as Q3_K's scales, lanes of groups would idle).  Each lane
 * adds its candidate's terms in the scalar loop's order; the candidates
 * are then compared in ggml's order, and the winner's levels found once
 * by the scalar rounding. */
static VATTR float symmetric_candidates(int n, int nmax, const float *x,
					const float *w, int8_t *q)
{
	enum { N_CAND = 18, N_VEC = (N_CAND + LANES - 1) / LANES };
	float wx[32], signed_max, scale, best;
	if (!symmetric_first_fit(n, nmax, x, w, q, wx, &signed_max, &scale, &best))
		return 0.f;
	/* ggml's 0.1f * step, steps -9..-1, 1..9; lanes past the last
	 * candidate repeat it (never read) */
	static const float tenth[24] = {
		0.1f * -9.f, 0.1f * -8.f, 0.1f * -7.f, 0.1f * -6.f, 0.1f * -5.f,
		0.1f * -4.f, 0.1f * -3.f, 0.1f * -2.f, 0.1f * -1.f, 0.1f * 1.f,
		0.1f * 2.f, 0.1f * 3.f, 0.1f * 4.f, 0.1f * 5.f, 0.1f * 6.f,
		0.1f * 7.f, 0.1f * 8.f, 0.1f * 9.f, 0.1f * 9.f, 0.1f * 9.f,
		0.1f * 9.f, 0.1f * 9.f, 0.1f * 9.f, 0.1f * 9.f
	};
	float cand[N_VEC * LANES], slx[N_VEC * LANES], sl2[N_VEC * LANES];
	const vf lo = vsplat((float)-nmax), hi = vsplat((float)(nmax - 1));
	const vf nmaxf = vsplat((float)nmax), vmax = vsplat(signed_max);
	for (int k = 0; k < N_VEC; k++) {
		vf t, a = vsplat(0), b = vsplat(0);
		memcpy(&t, tenth + LANES * k, sizeof t);
		/* -(nmax + 0.1 step) / max, one division per lane */
		const vf c = -(nmaxf + t) / vmax;
		memcpy(cand + LANES * k, &c, sizeof c);
		/* candidates 0..12 (steps up to 4) never reach the lower
		 * clamp (see symmetric_level_hi) */
		if (LANES * k + LANES - 1 <= 12)
#pragma GCC unroll 4
			for (int i = 0; i < n; i++) {
				vf l = symmetric_level_hi(c * vsplat(x[i]), hi);
				a += vsplat(wx[i]) * l;
				b += vsplat(w[i]) * l * l;
			}
		else
#pragma GCC unroll 4
			for (int i = 0; i < n; i++) {
				vf l = symmetric_level(c * vsplat(x[i]), lo, hi);
				a += vsplat(wx[i]) * l;
				b += vsplat(w[i]) * l * l;
			}
		memcpy(slx + LANES * k, &a, sizeof a);
		memcpy(sl2 + LANES * k, &b, sizeof b);
	}
	int winner = -1;
	for (int k = 0; k < N_CAND; k++)
		if (sl2[k] > 0 && slx[k] * slx[k] > best * sl2[k]) {
			scale = slx[k] / sl2[k];
			best = scale * slx[k];
			winner = k;
		}
	if (winner >= 0)
		for (int i = 0; i < n; i++)
			q[i] = (int8_t)(qp_clamp_int(qp_nearest_int(cand[winner] *
								    x[i]),
						     -nmax, nmax - 1) + nmax);
	return scale;
}

/* qp_fit_symmetric_refine for LANES groups of n values (x: group-major).  A
 * lane stops refining after a pass without changes, as the scalar loop
 * breaks; the other lanes go on. */
static VATTR void refine_lanes(int n, int nmax, const float *x, int8_t *q,
			 float *scales)
{
	vf xt[32], wt[32], wx[32], p1[32], p2[32];
	vi li[32];
	to_lanes(n, x, xt);
	vi zero;
	vf signed_max = signed_absmax_lanes(n, xt, &zero);
	vf iscale = vsplat((float)-nmax) / signed_max;
	vf sumlx = vsplat(0), suml2 = vsplat(0);
#pragma GCC unroll 4
	for (int i = 0; i < n; i++) {
		li[i] = vclamp(vround(iscale * xt[i]), -nmax, nmax - 1);
		vf l = vtofloat(li[i]);
		wt[i] = xt[i] * xt[i]; /* ggml's weights x^2 */
		wx[i] = wt[i] * xt[i]; /* its w*x*l is (w*x)*l */
		/* value i's terms of the sums at its level (ggml's products,
		 * each the same float wherever it is formed): they change
		 * only when the level does */
		p1[i] = wx[i] * l;
		p2[i] = wt[i] * l * l;
		sumlx += p1[i];
		suml2 += p2[i];
	}
	/* all-zero groups (results dropped) never try a move: slx is NaN */
	sumlx = vsel(zero, vsplat(NAN), sumlx);
	/* The scalar passes, value after value (t counts the evaluations):
	 * an evaluation is a pure function of the lane's sums and levels, so
	 * once a lane has gone n evaluations without a change, its state is
	 * the one it had n evaluations before and it never changes again;
	 * that is also when the scalar loop would end with a pass without
	 * changes (a later evaluation in a last pass changes nothing), or a
	 * lane stopped by the five passes' limit.  So all lanes are done n
	 * evaluations after the last change of any, or at 5 n; before, each
	 * lane is evaluated as in its scalar pass.  The first pass is whole. */
	int stop = n;
	for (int t0 = 0; t0 < stop; t0 += n) { /* t0: the pass's first t */
		int end = stop - t0 < n ? stop - t0 : n;
		for (int i = 0; i < end; i++) {
			vf slx = sumlx - p1[i];
			vf sl2 = suml2 - p2[i];
			vi l = vclamp(vround(xt[i] * sl2 / slx), -nmax, nmax - 1);
			vi try_it = ~(l == li[i]) & (slx > vsplat(0));
			/* usually no lane moves: branching keeps the sums
			 * off the dependency chain, as in the scalar loop */
			if (!any_lane(try_it))
				continue;
			vf lf = vtofloat(l);
			vf q1 = wx[i] * lf, q2 = wt[i] * lf * lf;
			slx += q1;
			sl2 += q2;
			vi take = try_it & (sl2 > vsplat(0)) &
				  (slx * slx * suml2 > sumlx * sumlx * sl2);
			if (!any_lane(take))
				continue;
			li[i] = isel(take, l, li[i]);
			p1[i] = vsel(take, q1, p1[i]);
			p2[i] = vsel(take, q2, p2[i]);
			sumlx = vsel(take, slx, sumlx);
			suml2 = vsel(take, sl2, suml2);
			stop = t0 + i + 1 + n < 5 * n ? t0 + i + 1 + n : 5 * n;
			end = stop - t0 < n ? stop - t0 : n;
		}
	}
	vf scale = vsel(suml2 > vsplat(0), sumlx / suml2, vsplat(0));
	vf lv[32];
	if (q)
		for (int i = 0; i < n; i++)
			lv[i] = vtofloat(li[i]);
	store_symmetric_lanes(n, nmax, zero, scale, lv, q, scales);
}


/* ---- group batches: LANES at a time --------------------------------- */

/* The AVX2 kernels leave the upper halves of the ymm registers dirty and
 * gcc does not always clear them on return; the SSE code of the callers
 * would then pay for every instruction (a false dependency on the upper
 * halves), so the drivers clear them on the way out. */
static inline VATTR void lanes_done(void)
{
#if LANES_AVX2
	_mm256_zeroupper();
#endif
}

/* A last batch of fewer than LANES groups runs as lanes beside all-zero
 * groups whose results are dropped (lanes never mix, so the kept ones are
 * unchanged): faster than the scalar search for the tail of a row. */
typedef struct padded {
	float x[LANES * 32], w[LANES * 32], scales[LANES], neg_mins[LANES];
	uint8_t q[LANES * 32];
} padded;

static VATTR void pad_groups(padded *b, int n_groups, int n, const float *x,
			     const float *w)
{
	memset(b, 0, sizeof *b);
	memcpy(b->x, x, sizeof(float) * (size_t)(n * n_groups));
	if (w)
		memcpy(b->w, w, sizeof(float) * (size_t)(n * n_groups));
}

static VATTR void unpad_groups(const padded *b, int n_groups, int n, void *q,
			       float *scales, float *neg_mins)
{
	if (q)
		memcpy(q, b->q, (size_t)(n * n_groups));
	memcpy(scales, b->scales, sizeof(float) * (size_t)n_groups);
	if (neg_mins)
		memcpy(neg_mins, b->neg_mins, sizeof(float) * (size_t)n_groups);
}

static VATTR void asymmetric_batches(int n_groups, int n,
				     const qp_asym_search *p, const float *x,
				     const float *w, uint8_t *q, float *scales,
				     float *neg_mins)
{
	int j = 0;
	for (; j + LANES <= n_groups; j += LANES)
		asymmetric_lanes(n, p, x + n * j, w + n * j, q + n * j,
				 scales + j, neg_mins + j);
	if (j < n_groups) {
		padded b;
		pad_groups(&b, n_groups - j, n, x + n * j, w + n * j);
		asymmetric_lanes(n, p, b.x, b.w, b.q, b.scales, b.neg_mins);
		unpad_groups(&b, n_groups - j, n, q + n * j, scales + j,
			     neg_mins + j);
	}
	lanes_done();
}

static VATTR void symmetric_batches(int n_groups, int n, int nmax,
				    const float *x, const float *w, int8_t *q,
				    float *scales)
{
	int j = 0;
	for (; j + LANES <= n_groups; j += LANES)
		symmetric_lanes(n, nmax, x + n * j, w ? w + n * j : NULL,
				q ? q + n * j : NULL, scales + j);
	if (j < n_groups) {
		padded b;
		pad_groups(&b, n_groups - j, n, x + n * j, w ? w + n * j : NULL);
		symmetric_lanes(n, nmax, b.x, w ? b.w : NULL, (int8_t *)b.q,
				b.scales);
		unpad_groups(&b, n_groups - j, n, q ? q + n * j : NULL,
			     scales + j, NULL);
	}
	lanes_done();
}

static VATTR void refine_batches(int n_groups, int n, int nmax,
				 const float *x, int8_t *q, float *scales)
{
	int j = 0;
	for (; j + LANES <= n_groups; j += LANES)
		refine_lanes(n, nmax, x + n * j, q ? q + n * j : NULL,
			     scales + j);
	if (j < n_groups) {
		padded b;
		pad_groups(&b, n_groups - j, n, x + n * j, NULL);
		refine_lanes(n, nmax, b.x, (int8_t *)b.q, b.scales);
		unpad_groups(&b, n_groups - j, n, q ? q + n * j : NULL,
			     scales + j, NULL);
	}
	lanes_done();
}

#undef vf
#undef vi
#undef vsplat
#undef isplat
#undef vsel
#undef isel
#undef vabs
#undef vround
#undef vclamp
#undef vtofloat
#undef any_lane
#undef all_lanes
#undef to_lanes
#undef vmin_first
#undef vmax_first
#undef float_level
#undef asym_level_v
#undef asym_err_v
#undef signed_absmax_lanes
#undef store_symmetric_lanes
#undef from_lanes
#undef asym_state
#undef asym_start
#undef asym_step_fit
#undef asym_fast_levels
#undef asym_step_sums
#undef asym_store
#undef asymmetric_lanes
#undef symmetric_level
#undef symmetric_level_hi
#undef symmetric_sums3
#undef symmetric_start
#undef symmetric_won_levels
#undef symmetric_lanes
#undef symmetric_candidates
#undef symmetric_pairs
#undef asymmetric_pairs
#undef high_half
#undef low_half
#undef to_lanes_twice
#undef refine_lanes
#undef padded
#undef lanes_done
#undef pad_groups
#undef unpad_groups
#undef asymmetric_batches
#undef symmetric_batches
#undef refine_batches
