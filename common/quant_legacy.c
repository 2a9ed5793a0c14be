/* quant_legacy.c — ggml's encoders for F16/BF16, the 32-element legacy
 * blocks (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0), MXFP4, Q1_0, Q2_0, TQ1_0, TQ2_0,
 * IQ4_NL and IQ4_XS.
 *
 * Bit-exactness rests on doing ggml's float operations (ggml-quants.c,
 * quantize_row_*_ref and quantize_*_impl) in the same order with the same
 * operand types: every product, sum and quotient is a float rounded where
 * ggml rounds it, sums are sequential in element order, and no FMA is
 * contracted (C11 mode).  The algorithms are ggml's; the code is ours.
 */
#include "quant_legacy.h"

/* ggml's products and sums are rounded one by one: never fuse them (GCC
 * does not fuse in C11 mode and does not know this pragma; clang does). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <string.h>

#include "fp16.h"
#include "iq_tables.h"
#include "le.h"

/* SSE2 paths below do, lane by lane, the scalar code's float operations on
 * the same operands, so both give the same bytes; the plain C code stays
 * the definition (and is what builds without SSE2). */
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define QK_K 256
#define GROUP_MAX_EPS 1e-15f

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

static void put_half(uint8_t *p, float f)
{
	le_put_u16(p, qp_fp32_to_fp16(f));
}

/* Round to nearest, ties to even, through the float adder (ggml's
 * nearest_int); valid for |f| < 2^22. */
static int nearest_int(float f)
{
	float biased = f + 12582912.f;
	uint32_t bits = qp_f32_bits(biased);
	return (int)(bits & 0x007fffff) - 0x00400000;
}

/* ---- F16 / BF16 --------------------------------------------------------- */

void qp_encode_f16(const float *src, uint8_t *dst, int64_t nrows,
		   int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	for (int64_t i = 0; i < nrows * n_per_row; i++)
		le_put_u16(dst + 2 * i, qp_fp32_to_fp16(src[i]));
}

#ifdef __SSE2__
/* qp_fp32_to_bf16 on four floats; the results sign-extended in 32 bits. */
static __m128i bf16x4(__m128i u)
{
	const __m128i abs = _mm_and_si128(u, _mm_set1_epi32(0x7fffffff));
	const __m128i nan = _mm_cmpgt_epi32(abs, _mm_set1_epi32(0x7f800000));
	const __m128i lsb = _mm_and_si128(_mm_srli_epi32(u, 16), _mm_set1_epi32(1));
	__m128i r = _mm_add_epi32(u, _mm_add_epi32(lsb, _mm_set1_epi32(0x7fff)));
	r = _mm_andnot_si128(nan, r);
	r = _mm_or_si128(r, _mm_and_si128(nan, _mm_or_si128(u, _mm_set1_epi32(64 << 16))));
	return _mm_srai_epi32(r, 16);
}
#endif

void qp_encode_bf16(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	int64_t i = 0;
	const int64_t n = nrows * n_per_row;
#ifdef __SSE2__
	/* x86 is little-endian: the packed halves are the file's bytes */
	for (; i + 8 <= n; i += 8) {
		__m128i lo = bf16x4(_mm_loadu_si128((const __m128i *)(src + i)));
		__m128i hi = bf16x4(_mm_loadu_si128((const __m128i *)(src + i + 4)));
		_mm_storeu_si128((__m128i *)(dst + 2 * i), _mm_packs_epi32(lo, hi));
	}
#endif
	for (; i < n; i++)
		le_put_u16(dst + 2 * i, qp_fp32_to_bf16(src[i]));
}

/* ---- shared block statistics -------------------------------------------- */

#ifndef __SSE2__
/* The element of largest magnitude (the first one on ties), with its sign. */
static float signed_absmax(const float *x, int n)
{
	float amax = 0.0f, max = 0.0f;
	for (int j = 0; j < n; j++) {
		if (amax < fabsf(x[j])) {
			amax = fabsf(x[j]);
			max = x[j];
		}
	}
	return max;
}
#endif

static float absmax(const float *x, int n)
{
	float amax = 0.0f;
	for (int j = 0; j < n; j++) {
		float a = fabsf(x[j]);
		amax = amax > a ? amax : a;
	}
	return amax;
}

static void min_max(const float *x, int n, float *min, float *max)
{
	*min = FLT_MAX;
	*max = -FLT_MAX;
	for (int j = 0; j < n; j++) {
		if (x[j] < *min)
			*min = x[j];
		if (x[j] > *max)
			*max = x[j];
	}
}

/* Packs 32 levels as ggml does: element j in the low nibble of byte j,
 * element j+16 in the high nibble; the fifth bits (when qh) go to bit j of
 * a little-endian 32-bit word. */
static void pack_nibbles(const uint8_t *lv, uint8_t *qs, uint8_t *qh)
{
	uint32_t h = 0;
	for (int j = 0; j < 16; j++) {
		qs[j] = (uint8_t)((lv[j] & 0x0f) | (lv[j + 16] & 0x0f) << 4);
		h |= (uint32_t)((lv[j] >> 4) & 1) << j;
		h |= (uint32_t)((lv[j + 16] >> 4) & 1) << (j + 16);
	}
	if (qh)
		le_put_u32(qh, h);
}

/* ---- reference encoders (no importance matrix) -------------------------- */

#ifdef __SSE2__
static __m128 hmax4(__m128 m)
{
	m = _mm_max_ps(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
	return _mm_max_ps(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
}

static __m128 hmin4(__m128 m)
{
	m = _mm_min_ps(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
	return _mm_min_ps(m, _mm_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
}

static __m128 abs4(__m128 v)
{
	return _mm_and_ps(v, _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)));
}

/* signed_absmax of 32 values: max_ps(new, acc) keeps acc when new is NaN,
 * as the scalar comparison does; the first element of that magnitude is
 * the scalar winner. */
static float signed_absmax32(const float *x)
{
	__m128 m = _mm_setzero_ps();
	for (int j = 0; j < 32; j += 4)
		m = _mm_max_ps(abs4(_mm_loadu_ps(x + j)), m);
	const __m128 amax = hmax4(m);
	if (!(_mm_cvtss_f32(amax) > 0.0f))
		return 0.0f;
	for (int j = 0; j < 32; j += 4) {
		int hit = _mm_movemask_ps(_mm_cmpeq_ps(abs4(_mm_loadu_ps(x + j)), amax));
		if (hit)
			return x[j + __builtin_ctz((unsigned)hit)];
	}
	return 0.0f; /* not reached */
}

/* imin(top, v) on int32 lanes */
static __m128i min_top(__m128i v, __m128i top)
{
	const __m128i gt = _mm_cmpgt_epi32(v, top);
	return _mm_or_si128(_mm_and_si128(gt, top), _mm_andnot_si128(gt, v));
}

/* The low bytes of 16 int32 levels, in order. */
static __m128i low_bytes16(const __m128i *l)
{
	const __m128i ff = _mm_set1_epi32(0xff);
	const __m128i a = _mm_packs_epi32(_mm_and_si128(l[0], ff), _mm_and_si128(l[1], ff));
	const __m128i b = _mm_packs_epi32(_mm_and_si128(l[2], ff), _mm_and_si128(l[3], ff));
	return _mm_packus_epi16(a, b);
}

/* pack_nibbles for 32 int32 levels (their low bytes, as the scalar
 * uint8_t conversion keeps). */
static void pack_nibbles32(const __m128i *l, uint8_t *qs, uint8_t *qh)
{
	const __m128i lo = low_bytes16(l), hi = low_bytes16(l + 4);
	const __m128i nib = _mm_set1_epi8(0x0f);
	const __m128i packed = _mm_or_si128(_mm_and_si128(lo, nib),
		_mm_slli_epi16(_mm_and_si128(hi, nib), 4));
	_mm_storeu_si128((__m128i *)qs, packed);
	if (qh) {
		/* bit 4 of each byte to bit 7, which movemask collects */
		uint32_t h = (uint32_t)_mm_movemask_epi8(_mm_slli_epi16(lo, 3)) |
			(uint32_t)_mm_movemask_epi8(_mm_slli_epi16(hi, 3)) << 16;
		le_put_u32(qh, h);
	}
}

/* min_max of 32 values, or false when a zero is the min or max (then the
 * scalar order decides between +0 and -0). */
static bool min_max32(const float *x, float *min, float *max)
{
	__m128 lo = _mm_set1_ps(FLT_MAX), hi = _mm_set1_ps(-FLT_MAX);
	for (int j = 0; j < 32; j += 4) {
		const __m128 v = _mm_loadu_ps(x + j);
		lo = _mm_min_ps(v, lo); /* NaN v keeps the accumulator */
		hi = _mm_max_ps(v, hi);
	}
	*min = _mm_cvtss_f32(hmin4(lo));
	*max = _mm_cvtss_f32(hmax4(hi));
	return *min != 0.0f && *max != 0.0f;
}
#endif

/* Symmetric 4/5-bit: d = max / -2^(bits-1), level = trunc(x/d + 2^(bits-1) + 0.5). */
static void ref_symmetric(const float *x, uint8_t *blk, int bits)
{
	const int half = 1 << (bits - 1), top = (1 << bits) - 1;
#ifdef __SSE2__
	const float max = signed_absmax32(x);
#else
	const float max = signed_absmax(x, 32);
#endif
	const float d = max / (float)-half;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	const float bias = (float)half + 0.5f;
	put_half(blk, d);
	uint8_t *qs = blk + (bits == 4 ? 2 : 6), *qh = bits == 4 ? NULL : blk + 2;
#ifdef __SSE2__
	const __m128 vid = _mm_set1_ps(id), vbias = _mm_set1_ps(bias);
	const __m128i vtop = _mm_set1_epi32(top);
	__m128i l[8];
	for (int k = 0; k < 8; k++) {
		const __m128 v = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(x + 4 * k), vid), vbias);
		l[k] = min_top(_mm_cvttps_epi32(v), vtop);
	}
	pack_nibbles32(l, qs, qh);
#else
	uint8_t lv[32];
	for (int j = 0; j < 32; j++)
		lv[j] = (uint8_t)imin(top, (int)(x[j] * id + bias));
	pack_nibbles(lv, qs, qh);
#endif
}

/* Asymmetric 4/5-bit: d = (max - min) / (2^bits - 1), offset m = min. */
static void ref_affine(const float *x, uint8_t *blk, int bits)
{
	const int top = (1 << bits) - 1;
	float min, max;
#ifdef __SSE2__
	if (!min_max32(x, &min, &max))
#endif
		min_max(x, 32, &min, &max);
	const float d = (max - min) / (float)top;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	put_half(blk, d);
	put_half(blk + 2, min);
	uint8_t *qs = blk + (bits == 4 ? 4 : 8), *qh = bits == 4 ? NULL : blk + 4;
	/* ggml clamps Q4_1 levels but lets Q5_1 wrap */
#ifdef __SSE2__
	const __m128 vid = _mm_set1_ps(id), vmin = _mm_set1_ps(min);
	const __m128 vhalf = _mm_set1_ps(0.5f);
	const __m128i vtop = _mm_set1_epi32(bits == 4 ? top : INT32_MAX);
	__m128i l[8];
	for (int k = 0; k < 8; k++) {
		const __m128 xm = _mm_sub_ps(_mm_loadu_ps(x + 4 * k), vmin);
		const __m128 v = _mm_add_ps(_mm_mul_ps(xm, vid), vhalf);
		l[k] = min_top(_mm_cvttps_epi32(v), vtop);
	}
	pack_nibbles32(l, qs, qh);
#else
	uint8_t lv[32];
	for (int j = 0; j < 32; j++) {
		int l = (int)((x[j] - min) * id + 0.5f);
		lv[j] = (uint8_t)(bits == 4 ? imin(top, l) : l);
	}
	pack_nibbles(lv, qs, qh);
#endif
}

/* ---- importance-weighted search (ggml's make_qx_quants, rmse_type 1) ---- */

static void qx_levels(const float *x, int n, int nmax, float iscale,
		      int8_t *L)
{
	for (int i = 0; i < n; i++) {
		int l = nearest_int(iscale * x[i]);
		L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
	}
}

/* Sums of the 19 candidate scales of make_qx_quants, four candidates per
 * vector (GCC/clang vector extensions; each lane does the scalar code's
 * float operations in the scalar order, so the sums are ggml's). */
#define QX_NCAND 19
#define QX_NVEC 5
typedef float qx_vf __attribute__((vector_size(16)));
typedef int32_t qx_vi __attribute__((vector_size(16)));

static void qx_candidate_sums(const float *x, const float *w, int n,
			      int nmax, const float *isc, float *slx,
			      float *sl2)
{
	qx_vf vis[QX_NVEC], vslx[QX_NVEC], vsl2[QX_NVEC];
	memcpy(vis, isc, sizeof vis);
	memset(vslx, 0, sizeof vslx);
	memset(vsl2, 0, sizeof vsl2);
	const qx_vf magic = {12582912.f, 12582912.f, 12582912.f, 12582912.f};
	const qx_vi lo = {-nmax, -nmax, -nmax, -nmax};
	const qx_vi hi = lo + 2 * nmax - 1;
	const qx_vi mant = {0x007fffff, 0x007fffff, 0x007fffff, 0x007fffff};
	const qx_vi bias = {0x00400000, 0x00400000, 0x00400000, 0x00400000};
	for (int i = 0; i < n; i++) {
		const float wx = w[i] * x[i];
		const qx_vf vx = {x[i], x[i], x[i], x[i]};
		const qx_vf vwx = {wx, wx, wx, wx};
		const qx_vf vw = {w[i], w[i], w[i], w[i]};
		for (int c = 0; c < QX_NVEC; c++) {
			qx_vf biased = vis[c] * vx + magic;
			qx_vi l;
			memcpy(&l, &biased, sizeof l);
			l = (l & mant) - bias;          /* nearest_int */
			qx_vi below = l < lo, above = l > hi; /* -1 or 0 */
			l = (below & lo) | (~below & l);
			l = (above & hi) | (~above & l);
			qx_vf lf = __builtin_convertvector(l, qx_vf);
			vslx[c] += vwx * lf;
			vsl2[c] += vw * lf * lf;
		}
	}
	float all_slx[4 * QX_NVEC], all_sl2[4 * QX_NVEC];
	memcpy(all_slx, vslx, sizeof all_slx);
	memcpy(all_sl2, vsl2, sizeof all_sl2);
	memcpy(slx, all_slx, QX_NCAND * sizeof *slx);
	memcpy(sl2, all_sl2, QX_NCAND * sizeof *sl2);
}

/* Symmetric scale for levels in [-nmax, nmax): starts from the absmax
 * scale, then tries 18 nearby scales and keeps the best weighted fit.
 * Writes levels + nmax into L and returns the scale.  The candidates'
 * sums are computed side by side; only the choice among them is
 * sequential, as in ggml. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L,
			    const float *w)
{
	float amax = 0, max = 0;
	for (int i = 0; i < n; i++) {
		if (fabsf(x[i]) > amax) {
			amax = fabsf(x[i]);
			max = x[i];
		}
	}
	if (amax < GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	float isc[4 * QX_NVEC] = {0}, slx[QX_NCAND], sl2[QX_NCAND];
	isc[0] = (float)-nmax / max;
	for (int c = 1, is = -9; is <= 9; is++)
		if (is != 0)
			isc[c++] = -((float)nmax + 0.1f * (float)is) / max;
	qx_candidate_sums(x, w, n, nmax, isc, slx, sl2);
	qx_levels(x, n, nmax, isc[0], L);
	float scale = sl2[0] != 0.0f ? slx[0] / sl2[0] : 0.0f;
	float best = scale * slx[0];
	for (int c = 1; c < QX_NCAND; c++) {
		if (sl2[c] > 0 && slx[c] * slx[c] > best * sl2[c]) {
			qx_levels(x, n, nmax, isc[c], L);
			scale = slx[c] / sl2[c];
			best = scale * slx[c];
		}
	}
	return scale;
}

/* ---- importance-weighted affine search (ggml's make_qkx3_quants) -------- */

static float weighted_sq_error(const float *x, const float *w,
			       const uint8_t *L, int n, float scale, float min)
{
	float err = 0;
	for (int i = 0; i < n; i++) {
		float diff = scale * (float)L[i] + min - x[i];
		err += w[i] * (diff * diff);
	}
	return err;
}

/* Four consecutive candidates of make_qkx3_quants' scan, evaluated side
 * by side for the current offset min: per lane the levels, the
 * least-squares scale and offset, and their weighted error, each with the
 * scalar code's float operations in its order.  ok[c] is false when the
 * fit is singular (D <= 0). */
typedef struct qkx3_lanes {
	qx_vi lv[32];
	float scale[4], min[4], err[4];
	bool ok[4];
} qkx3_lanes;

static void qkx3_eval_lanes(const float *x, const float *w, int n, int nmax,
			    float min, float max, float sum_w, float sum_x,
			    float rmin, float rdelta, int is0, qkx3_lanes *r)
{
	float isc[4];
	for (int c = 0; c < 4; c++)
		isc[c] = (rmin + rdelta * (float)(is0 + c) + (float)nmax) / (max - min);
	qx_vf vis, sl = {0}, sl2 = {0}, sxl = {0};
	memcpy(&vis, isc, sizeof vis);
	const float fmax_l = (float)nmax;
	const qx_vf vnmax = {fmax_l, fmax_l, fmax_l, fmax_l};
	const qx_vf magic = {12582912.f, 12582912.f, 12582912.f, 12582912.f};
	const qx_vf zero = {0, 0, 0, 0};
	const qx_vi mant = {0x007fffff, 0x007fffff, 0x007fffff, 0x007fffff};
	const qx_vi bias = {0x00400000, 0x00400000, 0x00400000, 0x00400000};
	for (int i = 0; i < n; i++) {
		const float xm = x[i] - min;
		const qx_vf vxm = {xm, xm, xm, xm};
		const qx_vf v = vis * vxm;
		const qx_vi small = v < vnmax, pos = v > zero; /* -1 or 0 */
		qx_vf vc = (qx_vf)((small & (qx_vi)v) | (~small & (qx_vi)vnmax));
		qx_vf biased = vc + magic;
		qx_vi l;
		memcpy(&l, &biased, sizeof l);
		l = ((l & mant) - bias) & pos;         /* nearest_int, or 0 */
		r->lv[i] = l;
		const qx_vf lf = __builtin_convertvector(l, qx_vf);
		const qx_vf vw = {w[i], w[i], w[i], w[i]};
		const qx_vf vx = {x[i], x[i], x[i], x[i]};
		const qx_vf wl = vw * lf;
		sl += wl;
		sl2 += wl * lf;
		sxl += wl * vx;
	}
	float a_l[4], a_l2[4], a_xl[4];
	memcpy(a_l, &sl, sizeof a_l);
	memcpy(a_l2, &sl2, sizeof a_l2);
	memcpy(a_xl, &sxl, sizeof a_xl);
	for (int c = 0; c < 4; c++) {
		const float D = sum_w * a_l2[c] - a_l[c] * a_l[c];
		r->ok[c] = D > 0;
		r->scale[c] = (sum_w * a_xl[c] - sum_x * a_l[c]) / D;
		r->min[c] = (a_l2[c] * sum_x - a_l[c] * a_xl[c]) / D;
		if (r->min[c] > 0) {
			r->min[c] = 0;
			r->scale[c] = a_xl[c] / a_l2[c];
		}
	}
	qx_vf vs, vm, err = {0};
	memcpy(&vs, r->scale, sizeof vs);
	memcpy(&vm, r->min, sizeof vm);
	for (int i = 0; i < n; i++) {
		const qx_vf vw = {w[i], w[i], w[i], w[i]};
		const qx_vf vx = {x[i], x[i], x[i], x[i]};
		const qx_vf diff = vs * __builtin_convertvector(r->lv[i], qx_vf) + vm - vx;
		err += vw * (diff * diff);
	}
	memcpy(r->err, &err, sizeof r->err);
}

/* Scale and (non-positive) offset for levels in [0, nmax], minimising the
 * weighted squared error over nstep+1 candidate scales, each refined by a
 * weighted least-squares fit.  Returns the scale; *neg_min gets -offset.
 * ggml scans the candidates one by one, each using the offset the best
 * candidate so far set; here four are evaluated at once for the current
 * offset and the scan resumes after any accepted candidate that changed
 * it, so every candidate sees the offset it sees in ggml. */
static float make_qkx3_quants(int n, int nmax, const float *x, const float *w,
			      uint8_t *L, float *neg_min, float rmin,
			      float rdelta, int nstep)
{
	float min = x[0], max = x[0];
	float sum_w = w[0], sum_x = sum_w * x[0];
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
	if (max <= min) {
		memset(L, 0, (size_t)n);
		*neg_min = -min;
		return 0.f;
	}
	float iscale = (float)nmax / (max - min);
	float scale = 1 / iscale;
	for (int i = 0; i < n; i++) {
		int l = nearest_int(iscale * (x[i] - min));
		L[i] = (uint8_t)imax(0, imin(nmax, l));
	}
	float best_err = weighted_sq_error(x, w, L, n, scale, min);
	qkx3_lanes r;
	for (int is = 0; is <= nstep;) {
		const int nl = imin(4, nstep + 1 - is);
		qkx3_eval_lanes(x, w, n, nmax, min, max, sum_w, sum_x, rmin,
				rdelta, is, &r);
		int next = is + nl;
		for (int c = 0; c < nl; c++) {
			if (!r.ok[c] || !(r.err[c] < best_err))
				continue;
			for (int i = 0; i < n; i++) {
				int32_t lane[4];
				memcpy(lane, &r.lv[i], sizeof lane);
				L[i] = (uint8_t)lane[c];
			}
			best_err = r.err[c];
			scale = r.scale[c];
			const bool moved = qp_f32_bits(r.min[c]) != qp_f32_bits(min);
			min = r.min[c];
			if (moved) {
				next = is + c + 1;
				break;
			}
		}
		is = next;
	}
	*neg_min = -min;
	return scale;
}

/* The per-row prior ggml mixes into the importance: sigma2 = mean(x^2). */
static float row_sigma2(const float *x, int64_t n)
{
	float sum_x2 = 0;
	for (int64_t j = 0; j < n; j++)
		sum_x2 += x[j] * x[j];
	return sum_x2 / (float)n;
}

static void block_weights(const float *x, const float *qw, float sigma2,
			  float *w)
{
	for (int j = 0; j < 32; j++)
		w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

/* Q4_0 / Q5_0 with an importance matrix. */
static void imat_symmetric_row(const float *x, uint8_t *dst, int64_t n,
			       const float *qw, int bits)
{
	const int bsize = bits == 4 ? 18 : 22;
	const float sigma2 = row_sigma2(x, n);
	float w[32];
	int8_t L[32];
	for (int64_t ib = 0; ib < n / 32; ib++) {
		const float *xb = x + 32 * ib;
		uint8_t *blk = dst + bsize * ib;
		block_weights(xb, qw + 32 * ib, sigma2, w);
		float d = make_qx_quants(32, 1 << (bits - 1), xb, L, w);
		put_half(blk, d);
		if (bits == 4)
			pack_nibbles((const uint8_t *)L, blk + 2, NULL);
		else
			pack_nibbles((const uint8_t *)L, blk + 6, blk + 2);
	}
}

/* Q4_1 / Q5_1 with an importance matrix. */
static void imat_affine_row(const float *x, uint8_t *dst, int64_t n,
			    const float *qw, int bits)
{
	const int bsize = bits == 4 ? 20 : 24;
	const float sigma2 = row_sigma2(x, n);
	float w[32], neg_min;
	uint8_t L[32];
	for (int64_t ib = 0; ib < n / 32; ib++) {
		const float *xb = x + 32 * ib;
		uint8_t *blk = dst + bsize * ib;
		block_weights(xb, qw + 32 * ib, sigma2, w);
		float d = make_qkx3_quants(32, (1 << bits) - 1, xb, w, L,
					   &neg_min, -0.9f, 0.05f, 36);
		put_half(blk, d);
		put_half(blk + 2, -neg_min);
		if (bits == 4)
			pack_nibbles(L, blk + 4, NULL);
		else
			pack_nibbles(L, blk + 8, blk + 4);
	}
}

static void encode_legacy(const float *src, uint8_t *dst, int64_t nrows,
			  int64_t n_per_row, const float *imatrix, int bits,
			  bool affine)
{
	const int bsize = (bits == 4 ? 18 : 22) + (affine ? 2 : 0);
	const int64_t nb = n_per_row / 32;
	for (int64_t r = 0; r < nrows; r++) {
		const float *x = src + r * n_per_row;
		uint8_t *row = dst + r * nb * bsize;
		if (imatrix && affine)
			imat_affine_row(x, row, n_per_row, imatrix, bits);
		else if (imatrix)
			imat_symmetric_row(x, row, n_per_row, imatrix, bits);
		else
			for (int64_t ib = 0; ib < nb; ib++) {
				if (affine)
					ref_affine(x + 32 * ib, row + bsize * ib, bits);
				else
					ref_symmetric(x + 32 * ib, row + bsize * ib, bits);
			}
	}
}

void qp_encode_q4_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix)
{
	encode_legacy(src, dst, nrows, n_per_row, imatrix, 4, false);
}

void qp_encode_q4_1(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix)
{
	encode_legacy(src, dst, nrows, n_per_row, imatrix, 4, true);
}

void qp_encode_q5_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix)
{
	encode_legacy(src, dst, nrows, n_per_row, imatrix, 5, false);
}

void qp_encode_q5_1(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix)
{
	encode_legacy(src, dst, nrows, n_per_row, imatrix, 5, true);
}

/* Q8_0 ignores the importance matrix in ggml. */
void qp_encode_q8_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	const int64_t nb = nrows * n_per_row / 32;
	for (int64_t ib = 0; ib < nb; ib++, src += 32, dst += 34) {
		const float d = absmax(src, 32) / 127.0f;
		const float id = d != 0.0f ? 1.0f / d : 0.0f;
		put_half(dst, d);
		for (int j = 0; j < 32; j++)
			dst[2 + j] = (uint8_t)(int8_t)roundf(src[j] * id);
	}
}

/* ---- MXFP4 -------------------------------------------------------------- */

static float e8m0_half(uint8_t e)
{
	uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
	return qp_f32_from_bits(bits);
}

#ifndef __SSE2__
/* The e2m1 level nearest to x at scale d (first one on ties). */
static uint8_t mxfp4_nearest(float x, float d)
{
	int best = 0;
	float best_err = fabsf((float)qp_mxfp4_values[0] * d - x);
	for (int i = 1; i < 16; i++) {
		float err = fabsf((float)qp_mxfp4_values[i] * d - x);
		if (err < best_err) {
			best = i;
			best_err = err;
		}
	}
	return (uint8_t)best;
}
#endif

#ifdef __SSE2__
/* mxfp4_nearest on four values.  For x >= 0 no negative level can beat
 * level 0 (index 0, |x|) and for x < 0 no positive one can; the error of
 * level -v at x is exactly that of v at -x.  So the winner is found among
 * the levels 0..7 for |x| and moved to the negative half (+8) for x < 0,
 * with the scalar loop's comparisons and first-on-ties order. */
static __m128i mxfp4_nearest4(__m128 x, const __m128 *level_d)
{
	const __m128 y = abs4(x);
	__m128 best = y;
	__m128i idx = _mm_setzero_si128();
	for (int i = 1; i < 8; i++) {
		const __m128 err = abs4(_mm_sub_ps(level_d[i], y));
		const __m128i better = _mm_castps_si128(_mm_cmplt_ps(err, best));
		best = _mm_min_ps(err, best);
		idx = _mm_or_si128(_mm_and_si128(better, _mm_set1_epi32(i)),
				   _mm_andnot_si128(better, idx));
	}
	const __m128i neg = _mm_castps_si128(_mm_cmplt_ps(x, _mm_setzero_ps()));
	const __m128i nonzero = _mm_xor_si128(_mm_cmpeq_epi32(idx, _mm_setzero_si128()),
					      _mm_set1_epi32(-1));
	return _mm_or_si128(idx, _mm_and_si128(_mm_and_si128(neg, nonzero),
					       _mm_set1_epi32(8)));
}

static void mxfp4_pack_sse2(const float *src, float d, uint8_t *qs)
{
	__m128 level_d[8];
	for (int i = 0; i < 8; i++)
		level_d[i] = _mm_set1_ps((float)qp_mxfp4_values[i] * d);
	__m128i l[8];
	for (int k = 0; k < 8; k++)
		l[k] = mxfp4_nearest4(_mm_loadu_ps(src + 4 * k), level_d);
	const __m128i lo = low_bytes16(l), hi = low_bytes16(l + 4);
	_mm_storeu_si128((__m128i *)qs, _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
}
#endif

void qp_encode_mxfp4(const float *src, uint8_t *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	const int64_t nb = nrows * n_per_row / 32;
	for (int64_t ib = 0; ib < nb; ib++, src += 32, dst += 17) {
#ifdef __SSE2__
		__m128 m = _mm_setzero_ps();
		for (int j = 0; j < 32; j += 4)
			m = _mm_max_ps(abs4(_mm_loadu_ps(src + j)), m);
		const float amax = _mm_cvtss_f32(hmax4(m));
#else
		float amax = 0.0f;
		for (int j = 0; j < 32; j++)
			if (amax < fabsf(src[j]))
				amax = fabsf(src[j]);
#endif
		/* shared exponent: floor(log2(amax)) - 2, biased by 127 */
		const uint8_t e = amax > 0.0f
			? (uint8_t)(int)(floorf(log2f(amax)) - 2 + 127) : 0;
		const float d = e8m0_half(e);
		dst[0] = e;
#ifdef __SSE2__
		mxfp4_pack_sse2(src, d, dst + 1);
#else
		for (int j = 0; j < 16; j++)
			dst[1 + j] = (uint8_t)(mxfp4_nearest(src[j], d) |
					       mxfp4_nearest(src[j + 16], d) << 4);
#endif
	}
}

/* ---- Q1_0 / Q2_0 (ignore the importance matrix) ------------------------- */

/* Which NaN a sum of several NaNs yields depends on the operand order the
 * compiler picks for each addition; both paths settle it as x86 does for
 * sum += x with the sum as first operand: the first NaN, quieted. */
static float q1_0_nan_sum(const float *src, float sum_abs)
{
	if (sum_abs == sum_abs)
		return sum_abs;
	int j = 0;
	while (src[j] == src[j])
		j++;
	return qp_f32_from_bits((qp_f32_bits(src[j]) & 0x7fffffffu) | 0x00400000u);
}

static void q1_0_block(const float *src, uint8_t *dst)
{
	float sum_abs = 0.0f;
	for (int j = 0; j < 128; j++)
		sum_abs += fabsf(src[j]);
	put_half(dst, q1_0_nan_sum(src, sum_abs) / 128.0f);
	memset(dst + 2, 0, 16);
	for (int j = 0; j < 128; j++)
		if (src[j] >= 0.0f)
			dst[2 + j / 8] |= (uint8_t)(1u << (j % 8));
}

#ifdef __SSE2__
/* Four consecutive blocks side by side: lane b sums block b's |x| in
 * element order (the scalar sequential sum, one lane per block), and the
 * sign bits come from movemask. */
static void q1_0_four_blocks(const float *src, uint8_t *dst)
{
	__m128 sum = _mm_setzero_ps();
	uint8_t bits[4][16];
	for (int j = 0; j < 128; j += 4) {
		__m128 r[4];
		for (int b = 0; b < 4; b++) {
			r[b] = _mm_loadu_ps(src + 128 * b + j);
			int m = _mm_movemask_ps(_mm_cmpge_ps(r[b], _mm_setzero_ps()));
			if (j % 8 == 0)
				bits[b][j / 8] = (uint8_t)m;
			else
				bits[b][j / 8] |= (uint8_t)(m << 4);
			r[b] = abs4(r[b]);
		}
		_MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]);
		sum = _mm_add_ps(sum, r[0]);
		sum = _mm_add_ps(sum, r[1]);
		sum = _mm_add_ps(sum, r[2]);
		sum = _mm_add_ps(sum, r[3]);
	}
	float sums[4];
	_mm_storeu_ps(sums, sum);
	for (int b = 0; b < 4; b++) {
		put_half(dst + 18 * b, q1_0_nan_sum(src + 128 * b, sums[b]) / 128.0f);
		memcpy(dst + 18 * b + 2, bits[b], 16);
	}
}
#endif

void qp_encode_q1_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	const int64_t nb = nrows * n_per_row / 128;
	int64_t ib = 0;
#ifdef __SSE2__
	for (; ib + 4 <= nb; ib += 4, src += 4 * 128, dst += 4 * 18)
		q1_0_four_blocks(src, dst);
#endif
	for (; ib < nb; ib++, src += 128, dst += 18)
		q1_0_block(src, dst);
}

void qp_encode_q2_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	const int64_t nb = nrows * n_per_row / 64;
	for (int64_t ib = 0; ib < nb; ib++, src += 64, dst += 18) {
		float amax = 0.0f;
		for (int j = 0; j < 64; j++)
			if (fabsf(src[j]) > amax)
				amax = fabsf(src[j]);
		const float id = amax > 0.0f ? 1.0f / amax : 0.0f;
		put_half(dst, amax);
		memset(dst + 2, 0, 16);
		for (int j = 0; j < 64; j++) {
			int q = imax(0, imin(3, (int)roundf(src[j] * id) + 1));
			dst[2 + j / 4] |= (uint8_t)(q << (2 * (j % 4)));
		}
	}
}

/* ---- TQ1_0 / TQ2_0 (ignore the importance matrix) ----------------------- */

static int trit(float x, float id)
{
	return (int)lroundf(x * id) + 1;
}

/* n trits, most significant first, as the fixed-point fraction
 * ceil(t * 256 / 3^5) that TQ1_0 stores (t padded to 5 trits). */
static uint8_t tq1_byte(const float *x, int stride, int n, float id)
{
	unsigned q = 0;
	for (int k = 0; k < n; k++)
		q = q * 3 + (unsigned)trit(x[k * stride], id);
	for (int k = n; k < 5; k++)
		q *= 3;
	return (uint8_t)((q * 256 + 242) / 243);
}

void qp_encode_tq1_0(const float *src, uint8_t *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	const int64_t nb = nrows * n_per_row / QK_K;
	for (int64_t ib = 0; ib < nb; ib++, dst += 54) {
		const float d = absmax(src, QK_K);
		const float id = d != 0.0f ? 1.0f / d : 0.0f;
		put_half(dst + 52, d);
		for (int m = 0; m < 32; m++)       /* 160 values, stride 32 */
			dst[m] = tq1_byte(src + m, 32, 5, id);
		src += 160;
		for (int m = 0; m < 16; m++)       /* 80 values, stride 16 */
			dst[32 + m] = tq1_byte(src + m, 16, 5, id);
		src += 80;
		for (int j = 0; j < 4; j++)        /* 16 values, 4 per byte */
			dst[48 + j] = tq1_byte(src + j, 4, 4, id);
		src += 16;
	}
}

void qp_encode_tq2_0(const float *src, uint8_t *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	const int64_t nb = nrows * n_per_row / QK_K;
	for (int64_t ib = 0; ib < nb; ib++, dst += 66) {
		const float d = absmax(src, QK_K);
		const float id = d != 0.0f ? 1.0f / d : 0.0f;
		put_half(dst + 64, d);
		for (int j = 0; j < 64; j += 32, src += 128)
			for (int m = 0; m < 32; m++) {
				unsigned q = 0;
				for (int k = 0; k < 4; k++)
					q += (unsigned)(trit(src[m + 32 * k], id) & 3) << (2 * k);
				dst[j + m] = (uint8_t)q;
			}
	}
}

/* ---- IQ4_NL / IQ4_XS ---------------------------------------------------- */

/* Index of the IQ4_NL level nearest to x, exactly as ggml's (pre-2026)
 * best_index_int8: the interval [v[lo], v[lo+1]) holding x is found, then
 * the nearer end wins by float subtraction, the upper one on ties.  lo is
 * found by counting levels <= x instead of a binary search (the same lo,
 * without unpredictable branches). */
static int iq4_nearest(float x)
{
	const int8_t *v = qp_iq4nl_values;
	if (x <= (float)v[0])
		return 0;
	if (x != x)
		return 15; /* where ggml's search ends for NaN */
	int lo = 0;
	for (int k = 1; k < 16; k++)
		lo += x >= (float)v[k];
	if (lo == 15)
		return 15;
	return x - (float)v[lo] < (float)v[lo + 1] - x ? lo : lo + 1;
}

/* Weighted fit of one 32-value block's scale: starting from the absmax
 * scale, tries 2*ntry+1 alternatives and keeps the best. */
static float iq4_block_scale(const float *xb, const float *w, int ntry)
{
	const int8_t *v = qp_iq4nl_values;
	float amax = 0, max = 0;
	for (int j = 0; j < 32; j++) {
		if (fabsf(xb[j]) > amax) {
			amax = fabsf(xb[j]);
			max = xb[j];
		}
	}
	if (amax < GROUP_MAX_EPS)
		return 0;
	float d = ntry > 0 ? -max / (float)v[0] : max / (float)v[0];
	float id = 1 / d;
	float sumqx = 0, sumq2 = 0;
	for (int j = 0; j < 32; j++) {
		float q = (float)v[iq4_nearest(id * xb[j])];
		sumqx += w[j] * q * xb[j];
		sumq2 += w[j] * q * q;
	}
	d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
	float best = d * sumqx;
	for (int itry = -ntry; itry <= ntry; itry++) {
		id = (float)(itry + v[0]) / max;
		sumqx = sumq2 = 0;
		for (int j = 0; j < 32; j++) {
			float q = (float)v[iq4_nearest(id * xb[j])];
			sumqx += w[j] * q * xb[j];
			sumq2 += w[j] * q * q;
		}
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			d = sumqx / sumq2;
			best = d * sumqx;
		}
	}
	return d;
}

/* Importance of each value of a super-block: the imatrix mixed with the
 * super-block's energy when there is one, else x^2. */
static void iq4_weights(const float *xb, const float *qw, float sigma2,
			float *w)
{
	for (int j = 0; j < 32; j++)
		w[j] = qw ? qw[j] * sqrtf(sigma2 + xb[j] * xb[j])
			  : xb[j] * xb[j];
}

static float iq4_sigma2(const float *x, int n)
{
	float s = 0;
	for (int j = 0; j < n; j++)
		s += x[j] * x[j];
	return s * (2.f / (float)n);
}

static void pack_iq4(const uint8_t *L, uint8_t *q4, int n)
{
	for (int i = 0; i < n / 32; i++)
		for (int j = 0; j < 16; j++)
			q4[16 * i + j] = (uint8_t)(L[32 * i + j] |
						   L[32 * i + 16 + j] << 4);
}

static void iq4_nl_block(const float *x, uint8_t *blk, const float *qw)
{
	float w[32];
	uint8_t L[32];
	iq4_weights(x, qw, iq4_sigma2(x, 32), w);
	const float scale = iq4_block_scale(x, w, 7);
	const float id = scale != 0.0f ? 1 / scale : 0;
	for (int j = 0; j < 32; j++)
		L[j] = (uint8_t)iq4_nearest(id * x[j]);
	put_half(blk, scale);
	pack_iq4(L, blk + 2, 32);
}

void qp_encode_iq4_nl(const float *src, uint8_t *dst, int64_t nrows,
		      int64_t n_per_row, const float *imatrix)
{
	const int64_t nb = n_per_row / 32;
	for (int64_t r = 0; r < nrows; r++)
		for (int64_t ib = 0; ib < nb; ib++, src += 32, dst += 18)
			iq4_nl_block(src, dst, imatrix ? imatrix + 32 * ib : NULL);
}

/* IQ4_XS: eight IQ4_NL-like blocks whose scales are 6-bit multiples of a
 * super-block scale d = -max_scale / 32. */
static void iq4_xs_block(const float *x, uint8_t *blk, const float *qw)
{
	float w[32], scales[8];
	uint8_t L[QK_K];
	const float sigma2 = iq4_sigma2(x, QK_K);
	float max_scale = 0, amax_scale = 0;
	for (int ib = 0; ib < 8; ib++) {
		iq4_weights(x + 32 * ib, qw ? qw + 32 * ib : NULL, sigma2, w);
		scales[ib] = iq4_block_scale(x + 32 * ib, w, 7);
		if (fabsf(scales[ib]) > amax_scale) {
			amax_scale = fabsf(scales[ib]);
			max_scale = scales[ib];
		}
	}
	const float d = -max_scale / 32;
	const float id = d != 0.0f ? 1 / d : 0.f;
	uint16_t scales_h = 0;
	uint8_t *scales_l = blk + 4;
	memset(scales_l, 0, 4);
	for (int ib = 0; ib < 8; ib++) {
		int l = imax(-32, imin(31, nearest_int(id * scales[ib])));
		const float dl = d * (float)l;
		const float idl = dl != 0.0f ? 1 / dl : 0.f;
		for (int j = 0; j < 32; j++)
			L[32 * ib + j] = (uint8_t)iq4_nearest(idl * x[32 * ib + j]);
		l += 32;
		scales_l[ib / 2] |= (uint8_t)((l & 0x0f) << (4 * (ib % 2)));
		scales_h |= (uint16_t)((l >> 4) << (2 * ib));
	}
	put_half(blk, d);
	le_put_u16(blk + 2, scales_h);
	pack_iq4(L, blk + 8, QK_K);
}

void qp_encode_iq4_xs(const float *src, uint8_t *dst, int64_t nrows,
		      int64_t n_per_row, const float *imatrix)
{
	const int64_t nb = n_per_row / QK_K;
	for (int64_t r = 0; r < nrows; r++)
		for (int64_t ib = 0; ib < nb; ib++, src += QK_K, dst += 136)
			iq4_xs_block(src, dst, imatrix ? imatrix + QK_K * ib : NULL);
}
