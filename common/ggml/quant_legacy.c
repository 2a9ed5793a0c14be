/* quant_legacy.c — ggml's encoders for F16/BF16, the 32-element legacy
 * blocks (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0), MXFP4, Q1_0, Q2_0, TQ1_0, TQ2_0,
 * IQ4_NL and IQ4_XS.
 *
 * Bit-exactness rests on doing ggml's float operations (ggml-quants.c,
 * quantize_row_*_ref and quantize_*_impl) in the same order with the same
 * operand types: every product, sum and quotient is a float rounded where
 * ggml rounds it, sums are sequential in element order, and no FMA is
 * contracted (C11 mode).  The algorithms are ggml's; the code is ours.
 * The importance-weighted scale searches (make_qx_quants, make_qkx3_quants)
 * are the ones the K-quants use, in quant_search.c.
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

#include "blocks.h"
#include "cpu.h"
#include "fp16.h"
#include "iq_tables.h"
#include "le.h"
#include "quant_search.h"

/* SSE2 paths below do, lane by lane, the scalar code's float operations on
 * the same operands, so both give the same bytes; the plain C code stays
 * the definition (and is what builds without SSE2).  The AVX2 twins
 * (cpu.h) are chosen once per call when the processor has AVX2. */
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define QK_K QP_QK_K

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

static void put_half(uint8_t *p, float f)
{
	le_put_u16(p, qp_fp32_to_fp16(f));
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
#ifdef __SSE2__
	const __m128i lo = _mm_loadu_si128((const __m128i *)lv);
	const __m128i hi = _mm_loadu_si128((const __m128i *)(lv + 16));
	const __m128i nib = _mm_set1_epi8(0x0f);
	_mm_storeu_si128((__m128i *)qs, _mm_or_si128(_mm_and_si128(lo, nib),
		_mm_slli_epi16(_mm_and_si128(hi, nib), 4)));
	if (qh) /* bit 4 of each byte to bit 7, which movemask collects */
		le_put_u32(qh, (uint32_t)_mm_movemask_epi8(_mm_slli_epi16(lo, 3)) |
			       (uint32_t)_mm_movemask_epi8(_mm_slli_epi16(hi, 3)) << 16);
#else
	uint32_t h = 0;
	for (int j = 0; j < 16; j++) {
		qs[j] = (uint8_t)((lv[j] & 0x0f) | (lv[j + 16] & 0x0f) << 4);
		h |= (uint32_t)((lv[j] >> 4) & 1) << j;
		h |= (uint32_t)((lv[j + 16] >> 4) & 1) << (j + 16);
	}
	if (qh)
		le_put_u32(qh, h);
#endif
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

/* qp_signed_absmax of 32 values: max_ps(new, acc) keeps acc when new is NaN,
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

#if QP_HAVE_AVX2
/* AVX2 twins of the reference encoders, eight blocks at a time: each
 * block's statistic (absmax, min/max) is found in its own registers, then
 * the eight scales' divisions and half conversions run once in eight
 * lanes (a vector division rounds as the scalar one does), and each block's
 * levels come from the same per-lane operations as the SSE2 code. */
static inline QP_AVX2 __m256 abs8(__m256 v)
{
	return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}

static inline QP_AVX2 __m128 hmax8(__m256 m)
{
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, _MM_SHUFFLE(1, 0, 3, 2)));
	return _mm_max_ps(h, _mm_shuffle_ps(h, h, _MM_SHUFFLE(2, 3, 0, 1)));
}

/* qp_fp32_to_fp16 of eight floats, in the low 16 bits of each lane: the
 * scalar function's four cases computed in every lane, then chosen by the
 * same tests on the magnitude's bits (the subnormal case's rint is the
 * conversion under the default rounding mode).  Checked once against the
 * scalar function on all 2^32 floats (an off-line run, too long for a
 * test; the fingerprints cover the edge cases). */
static inline QP_AVX2 __m256i fp16x8(__m256 f)
{
	const __m256i u = _mm256_castps_si256(f);
	const __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
	const __m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x8000));
	const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(abs, 13), _mm256_set1_epi32(1));
	const __m256i rounded = _mm256_add_epi32(abs, _mm256_add_epi32(odd, _mm256_set1_epi32(0xfff)));
	__m256i r = _mm256_srli_epi32(_mm256_sub_epi32(rounded, _mm256_set1_epi32(0x38000000)), 13);
	const __m256i sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x38800000), abs);
	const __m256i subv = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_castsi256_ps(abs),
							      _mm256_set1_ps(0x1p24f)));
	r = _mm256_blendv_epi8(r, subv, sub);
	const __m256i inf = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x477fefff));
	r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7c00), inf);
	const __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
	r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7e00), nan);
	return _mm256_or_si256(r, sign);
}

/* d != 0 ? 1 / d : 0 in eight lanes (NaN != 0, as in C) */
static inline QP_AVX2 __m256 inverse_or_zero8(__m256 d)
{
	const __m256 nz = _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_UQ);
	return _mm256_and_ps(nz, _mm256_div_ps(_mm256_set1_ps(1.0f), d));
}

/* The 16 low bytes of two vectors of eight int32, in order. */
static inline QP_AVX2 __m128i low_bytes16_avx2(__m256i a, __m256i b)
{
	const __m256i ff = _mm256_set1_epi32(0xff);
	__m256i p = _mm256_packs_epi32(_mm256_and_si256(a, ff), _mm256_and_si256(b, ff));
	p = _mm256_permute4x64_epi64(p, _MM_SHUFFLE(3, 1, 2, 0));
	return _mm_packus_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}

/* pack_nibbles of 32 int32 levels in l[0..3] (elements 8k..8k+7 in l[k]):
 * their low bytes in order in one vector, then as pack_nibbles' SSE2 code
 * (one movemask collects the fifth bits). */
static inline QP_AVX2 void pack_nibbles32_avx2(const __m256i *l, uint8_t *qs, uint8_t *qh)
{
	const __m256i ff = _mm256_set1_epi32(0xff);
	const __m256i p01 = _mm256_packs_epi32(_mm256_and_si256(l[0], ff), _mm256_and_si256(l[1], ff));
	const __m256i p23 = _mm256_packs_epi32(_mm256_and_si256(l[2], ff), _mm256_and_si256(l[3], ff));
	/* dwords: l0[0-3] l1[0-3] l2[0-3] l3[0-3] l0[4-7] l1[4-7] l2[4-7] l3[4-7] */
	const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(p01, p23),
		_mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	const __m128i lo = _mm256_castsi256_si128(bytes), hi = _mm256_extracti128_si256(bytes, 1);
	const __m128i nib = _mm_set1_epi8(0x0f);
	_mm_storeu_si128((__m128i *)qs, _mm_or_si128(_mm_and_si128(lo, nib),
		_mm_slli_epi16(_mm_and_si128(hi, nib), 4)));
	if (qh) /* bit 4 of each byte to bit 7, which movemask collects */
		le_put_u32(qh, (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(bytes, 3)));
}

/* signed_absmax32 with eight lanes. */
static QP_AVX2 float signed_absmax32_avx2(const float *x)
{
	__m256 a[4], m = _mm256_setzero_ps();
	for (int k = 0; k < 4; k++) {
		a[k] = abs8(_mm256_loadu_ps(x + 8 * k));
		m = _mm256_max_ps(a[k], m); /* NaN: keeps m */
	}
	const __m128 amax = hmax8(m);
	if (!(_mm_cvtss_f32(amax) > 0.0f))
		return 0.0f;
	const __m256 am = _mm256_broadcastss_ps(amax);
	uint32_t hit = 0;
	for (int k = 0; k < 4; k++)
		hit |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a[k], am, _CMP_EQ_OQ)) << (8 * k);
	return x[__builtin_ctz(hit)];
}

/* Lane b: the largest (smallest) of v[b]'s eight lanes, none NaN; a
 * transposing reduction, so eight blocks share its shuffles. */
#define QP_REDUCE8X8(name, op)							\
static inline QP_AVX2 __m256 name(const __m256 *v)					\
{										\
	__m256 t[4], u[2];							\
	for (int k = 0; k < 4; k++) /* (a02 b02 a13 b13 | a46 b46 a57 b57) */	\
		t[k] = op(_mm256_unpacklo_ps(v[2 * k], v[2 * k + 1]),		\
			  _mm256_unpackhi_ps(v[2 * k], v[2 * k + 1]));		\
	for (int k = 0; k < 2; k++) { /* (a0-3 b0-3 c0-3 d0-3 | a4-7 ...) */	\
		const __m256d p = _mm256_castps_pd(t[2 * k]);			\
		const __m256d q = _mm256_castps_pd(t[2 * k + 1]);		\
		u[k] = op(_mm256_castpd_ps(_mm256_unpacklo_pd(p, q)),		\
			  _mm256_castpd_ps(_mm256_unpackhi_pd(p, q)));		\
	}									\
	return op(_mm256_permute2f128_ps(u[0], u[1], 0x20),			\
		  _mm256_permute2f128_ps(u[0], u[1], 0x31));			\
}
QP_REDUCE8X8(hmax8x8, _mm256_max_ps)
QP_REDUCE8X8(hmin8x8, _mm256_min_ps)
#undef QP_REDUCE8X8

/* The largest and smallest value of each of eight 32-value blocks (lane b
 * for block b), NaN skipped, starting from hi0 and lo0. */
static inline QP_AVX2 __attribute__((always_inline))
void max_min8x32_avx2(const float *x, __m256 hi0, __m256 lo0, __m256 *max, __m256 *min)
{
	__m256 hi[8], lo[8];
#pragma GCC unroll 8
	for (int b = 0; b < 8; b++) {
		__m256 h = hi0, l = lo0;
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++) {
			const __m256 v = _mm256_loadu_ps(x + 32 * b + 8 * k);
			h = _mm256_max_ps(v, h); /* NaN v keeps the accumulator */
			l = _mm256_min_ps(v, l);
		}
		hi[b] = h;
		lo[b] = l;
	}
	*max = hmax8x8(hi);
	*min = hmin8x8(lo);
}

/* qp_signed_absmax of eight blocks, lane b for block b.  With the largest
 * value hi and the smallest lo of a block (NaN skipped, both starting at
 * +0), the value of largest magnitude is hi when hi > -lo and lo when
 * -lo > hi, whichever came first; +0 when both are zero, as the scalar
 * search leaves it.  Only when hi = -lo != 0 does the order decide: those
 * blocks are searched one by one. */
static QP_AVX2 __m256 signed_absmax8x32_avx2(const float *x)
{
	__m256 mx, mn;
	max_min8x32_avx2(x, _mm256_setzero_ps(), _mm256_setzero_ps(), &mx, &mn);
	const __m256 neg_mn = _mm256_xor_ps(mn, _mm256_set1_ps(-0.0f));
	const __m256 max = _mm256_blendv_ps(mn, mx, _mm256_cmp_ps(mx, neg_mn, _CMP_GE_OQ));
	const int tie = _mm256_movemask_ps(_mm256_and_ps(
		_mm256_cmp_ps(mx, neg_mn, _CMP_EQ_OQ),
		_mm256_cmp_ps(mx, _mm256_setzero_ps(), _CMP_NEQ_OQ)));
	if (!tie)
		return max;
	float m[8];
	_mm256_storeu_ps(m, max);
	for (int b = 0; b < 8; b++)
		if (tie >> b & 1)
			m[b] = signed_absmax32_avx2(x + 32 * b);
	return _mm256_loadu_ps(m);
}

/* Eight ref_symmetric blocks (bits a constant where it is inlined). */
static inline QP_AVX2 __attribute__((always_inline))
void ref_symmetric8_bits(const float *x, uint8_t *blk, int bits)
{
	const int half = 1 << (bits - 1), bsize = bits == 4 ? 18 : 22;
	float ids[8];
	uint32_t h[8];
	const __m256 d = _mm256_div_ps(signed_absmax8x32_avx2(x), _mm256_set1_ps((float)-half));
	_mm256_storeu_ps(ids, inverse_or_zero8(d));
	_mm256_storeu_si256((__m256i *)h, fp16x8(d));
	const __m256 vbias = _mm256_set1_ps((float)half + 0.5f);
	const __m256i vtop = _mm256_set1_epi32((1 << bits) - 1);
	for (int b = 0; b < 8; b++, x += 32, blk += bsize) {
		le_put_u16(blk, (uint16_t)h[b]);
		const __m256 vid = _mm256_set1_ps(ids[b]);
		__m256i l[4];
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++) {
			const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid), vbias);
			l[k] = _mm256_min_epi32(_mm256_cvttps_epi32(v), vtop);
		}
		if (bits == 4)
			pack_nibbles32_avx2(l, blk + 2, NULL);
		else
			pack_nibbles32_avx2(l, blk + 6, blk + 2);
	}
}

/* Eight ref_affine blocks (bits a constant where it is inlined). */
static inline QP_AVX2 __attribute__((always_inline))
void ref_affine8_bits(const float *x, uint8_t *blk, int bits)
{
	const int top = (1 << bits) - 1, bsize = bits == 4 ? 20 : 24;
	float mins[8], ids[8];
	uint32_t hd[8], hm[8];
	__m256 vmax, vmin;
	max_min8x32_avx2(x, _mm256_set1_ps(-FLT_MAX), _mm256_set1_ps(FLT_MAX), &vmax, &vmin);
	/* a zero min or max: the scalar order decides between +0 and -0 */
	const int zero = _mm256_movemask_ps(_mm256_or_ps(
		_mm256_cmp_ps(vmin, _mm256_setzero_ps(), _CMP_EQ_OQ),
		_mm256_cmp_ps(vmax, _mm256_setzero_ps(), _CMP_EQ_OQ)));
	if (zero) {
		float maxs[8];
		_mm256_storeu_ps(mins, vmin);
		_mm256_storeu_ps(maxs, vmax);
		for (int b = 0; b < 8; b++)
			if (zero >> b & 1)
				min_max(x + 32 * b, 32, mins + b, maxs + b);
		vmin = _mm256_loadu_ps(mins);
		vmax = _mm256_loadu_ps(maxs);
	}
	const __m256 d = _mm256_div_ps(_mm256_sub_ps(vmax, vmin), _mm256_set1_ps((float)top));
	_mm256_storeu_ps(mins, vmin);
	_mm256_storeu_ps(ids, inverse_or_zero8(d));
	_mm256_storeu_si256((__m256i *)hd, fp16x8(d));
	_mm256_storeu_si256((__m256i *)hm, fp16x8(vmin));
	const __m256 vhalf = _mm256_set1_ps(0.5f);
	/* ggml clamps Q4_1 levels but lets Q5_1 wrap */
	const __m256i vtop = _mm256_set1_epi32(top);
	for (int b = 0; b < 8; b++, x += 32, blk += bsize) {
		le_put_u16(blk, (uint16_t)hd[b]);
		le_put_u16(blk + 2, (uint16_t)hm[b]);
		const __m256 vid = _mm256_set1_ps(ids[b]), vm = _mm256_set1_ps(mins[b]);
		__m256i l[4];
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++) {
			const __m256 xm = _mm256_sub_ps(_mm256_loadu_ps(x + 8 * k), vm);
			const __m256 v = _mm256_add_ps(_mm256_mul_ps(xm, vid), vhalf);
			l[k] = _mm256_cvttps_epi32(v);
			if (bits == 4)
				l[k] = _mm256_min_epi32(l[k], vtop);
		}
		if (bits == 4)
			pack_nibbles32_avx2(l, blk + 4, NULL);
		else
			pack_nibbles32_avx2(l, blk + 8, blk + 4);
	}
}

/* The blocks of a row in batches of eight; returns how many were done. */
static QP_AVX2 int64_t ref_row_avx2(const float *x, uint8_t *row, int64_t nb,
				    int bits, bool affine)
{
	const int bsize = (bits == 4 ? 18 : 22) + (affine ? 2 : 0);
	int64_t ib = 0;
	for (; ib + 8 <= nb; ib += 8) {
		const float *xb = x + 32 * ib;
		uint8_t *blk = row + bsize * ib;
		if (affine && bits == 4)
			ref_affine8_bits(xb, blk, 4);
		else if (affine)
			ref_affine8_bits(xb, blk, 5);
		else if (bits == 4)
			ref_symmetric8_bits(xb, blk, 4);
		else
			ref_symmetric8_bits(xb, blk, 5);
	}
	return ib;
}
#endif

/* Symmetric 4/5-bit: d = max / -2^(bits-1), level = trunc(x/d + 2^(bits-1) + 0.5). */
static void ref_symmetric(const float *x, uint8_t *blk, int bits)
{
	const int half = 1 << (bits - 1), top = (1 << bits) - 1;
#ifdef __SSE2__
	const float max = signed_absmax32(x);
#else
	float amax;
	const float max = qp_signed_absmax(x, 32, &amax);
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

/* ---- importance-weighted encoders (searches in quant_search.c) ---------- */

#if QP_HAVE_AVX2
/* qp_imatrix_weights' w (not its sum) in eight lanes: the same product,
 * sum, square root (correctly rounded, as sqrtf) and product per value;
 * n is a multiple of 8. */
static QP_AVX2 void imatrix_weights_avx2(const float *x, const float *imp,
					 float sigma2, int n, float *w)
{
	const __m256 s2 = _mm256_set1_ps(sigma2);
	for (int i = 0; i < n; i += 8) {
		const __m256 xv = _mm256_loadu_ps(x + i);
		const __m256 r = _mm256_sqrt_ps(_mm256_add_ps(s2, _mm256_mul_ps(xv, xv)));
		_mm256_storeu_ps(w + i, _mm256_mul_ps(_mm256_loadu_ps(imp + i), r));
	}
}
#endif

/* The importance weights of n values (a multiple of 32). */
static void imatrix_weights(const float *x, const float *imp, float sigma2,
			    int n, float *w, bool avx2)
{
#if QP_HAVE_AVX2
	if (avx2) {
		imatrix_weights_avx2(x, imp, sigma2, n, w);
		return;
	}
#endif
	(void)avx2;
	qp_imatrix_weights(x, imp, sigma2, n, w);
}

/* Blocks searched together: the lane searches run eight side by side with
 * AVX2 (two batches of four with SSE2). */
enum { IMAT_BATCH = 8 };

static int batch_size(int64_t ib, int64_t nb)
{
	return nb - ib < IMAT_BATCH ? (int)(nb - ib) : IMAT_BATCH;
}

/* Q4_0 / Q5_0 with an importance matrix. */
static void imat_symmetric_row(const float *x, uint8_t *dst, int64_t n,
			       const float *qw, int bits, bool avx2,
			       float sum_x2)
{
	const int bsize = bits == 4 ? 18 : 22;
	const float sigma2 = sum_x2 / (float)n; /* ggml's prior */
	float w[32 * IMAT_BATCH], d[IMAT_BATCH];
	int8_t L[32 * IMAT_BATCH];
	for (int64_t ib = 0; ib < n / 32; ib += IMAT_BATCH) {
		const int nb = batch_size(ib, n / 32);
		imatrix_weights(x + 32 * ib, qw + 32 * ib, sigma2, 32 * nb, w, avx2);
		qp_fit_symmetric_groups(nb, 32, 1 << (bits - 1), x + 32 * ib,
					w, L, d, true);
		for (int k = 0; k < nb; k++) {
			uint8_t *blk = dst + bsize * (ib + k);
			const uint8_t *lv = (const uint8_t *)L + 32 * k;
			put_half(blk, d[k]);
			if (bits == 4)
				pack_nibbles(lv, blk + 2, NULL);
			else
				pack_nibbles(lv, blk + 6, blk + 2);
		}
	}
}

/* Q4_1 / Q5_1 with an importance matrix. */
static void imat_affine_row(const float *x, uint8_t *dst, int64_t n,
			    const float *qw, int bits, bool avx2, float sum_x2)
{
	const int bsize = bits == 4 ? 20 : 24;
	/* ggml's quantize_q4_1 / quantize_q5_1 search: make_qkx3_quants */
	const qp_asym_search search = { (1 << bits) - 1, -0.9f, 0.05f, 36,
					false, QP_ASYM_QKX3 };
	const float sigma2 = sum_x2 / (float)n;
	float w[32 * IMAT_BATCH], d[IMAT_BATCH], neg_min[IMAT_BATCH];
	uint8_t L[32 * IMAT_BATCH];
	for (int64_t ib = 0; ib < n / 32; ib += IMAT_BATCH) {
		const int nb = batch_size(ib, n / 32);
		imatrix_weights(x + 32 * ib, qw + 32 * ib, sigma2, 32 * nb, w, avx2);
		qp_fit_asymmetric_groups(nb, 32, &search, x + 32 * ib, w, L, d,
					 neg_min, true);
		for (int k = 0; k < nb; k++) {
			uint8_t *blk = dst + bsize * (ib + k);
			put_half(blk, d[k]);
			put_half(blk + 2, -neg_min[k]);
			if (bits == 4)
				pack_nibbles(L + 32 * k, blk + 4, NULL);
			else
				pack_nibbles(L + 32 * k, blk + 8, blk + 4);
		}
	}
}

static void encode_legacy(const float *src, uint8_t *dst, int64_t nrows,
			  int64_t n_per_row, const float *imatrix, int bits,
			  bool affine)
{
	const int bsize = (bits == 4 ? 18 : 22) + (affine ? 2 : 0);
	const int64_t nb = n_per_row / 32;
	const bool avx2 = qp_cpu_avx2();
	float sum_x2[8]; /* ggml's sum of x^2 per row, eight rows at once */
	for (int64_t r = 0; r < nrows; r++) {
		const float *x = src + r * n_per_row;
		uint8_t *row = dst + r * nb * bsize;
		if (imatrix && r % 8 == 0)
			qp_sum_squares_groups(nrows - r < 8 ? (int)(nrows - r) : 8,
					      n_per_row, n_per_row, x, sum_x2);
		if (imatrix && affine)
			imat_affine_row(x, row, n_per_row, imatrix, bits, avx2,
					sum_x2[r % 8]);
		else if (imatrix)
			imat_symmetric_row(x, row, n_per_row, imatrix, bits, avx2,
					   sum_x2[r % 8]);
		else {
			int64_t ib = 0;
#if QP_HAVE_AVX2
			if (avx2)
				ib = ref_row_avx2(x, row, nb, bits, affine);
#endif
			for (; ib < nb; ib++) {
				if (affine)
					ref_affine(x + 32 * ib, row + bsize * ib, bits);
				else
					ref_symmetric(x + 32 * ib, row + bsize * ib, bits);
			}
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

#ifdef __SSE2__
/* (int)roundf(v) of four floats, as the scalar conversion gives it
 * (0x80000000 for NaN, infinities and |v| >= 2^31): truncate, then step
 * away from zero when the dropped part, v - trunc(v) (exact), is >= 0.5. */
static __m128i roundf4(__m128 v)
{
	const __m128i t = _mm_cvttps_epi32(v);
	const __m128 frac = abs4(_mm_sub_ps(v, _mm_cvtepi32_ps(t)));
	const __m128i up = _mm_castps_si128(_mm_cmpge_ps(frac, _mm_set1_ps(0.5f)));
	const __m128i wild = _mm_cmpeq_epi32(t, _mm_set1_epi32(INT32_MIN));
	const __m128i away = _mm_or_si128(_mm_srai_epi32(_mm_castps_si128(v), 31),
					  _mm_set1_epi32(1)); /* -1 or +1 */
	return _mm_add_epi32(t, _mm_and_si128(_mm_andnot_si128(wild, up), away));
}

/* One Q8_0 block, or false when a NaN makes the order of the scalar absmax
 * matter. */
static bool q8_0_block_sse2(const float *src, uint8_t *dst)
{
	__m128 m = _mm_setzero_ps(), nan = _mm_setzero_ps();
	for (int j = 0; j < 32; j += 4) {
		const __m128 v = _mm_loadu_ps(src + j);
		m = _mm_max_ps(abs4(v), m);
		nan = _mm_or_ps(nan, _mm_cmpunord_ps(v, v));
	}
	if (_mm_movemask_ps(nan))
		return false;
	const float d = _mm_cvtss_f32(hmax4(m)) / 127.0f;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	put_half(dst, d);
	const __m128 vid = _mm_set1_ps(id);
	__m128i l[8];
	for (int k = 0; k < 8; k++)
		l[k] = roundf4(_mm_mul_ps(_mm_loadu_ps(src + 4 * k), vid));
	_mm_storeu_si128((__m128i *)(dst + 2), low_bytes16(l));
	_mm_storeu_si128((__m128i *)(dst + 18), low_bytes16(l + 4));
	return true;
}
#endif

#if QP_HAVE_AVX2
/* roundf4 in eight lanes. */
static inline QP_AVX2 __m256i roundf8(__m256 v)
{
	const __m256i t = _mm256_cvttps_epi32(v);
	const __m256 frac = abs8(_mm256_sub_ps(v, _mm256_cvtepi32_ps(t)));
	const __m256i up = _mm256_castps_si256(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ));
	const __m256i wild = _mm256_cmpeq_epi32(t, _mm256_set1_epi32(INT32_MIN));
	const __m256i away = _mm256_or_si256(_mm256_srai_epi32(_mm256_castps_si256(v), 31),
					     _mm256_set1_epi32(1));
	return _mm256_add_epi32(t, _mm256_and_si256(_mm256_andnot_si256(wild, up), away));
}

/* Eight Q8_0 blocks, or false (nothing written) when a NaN in one of them
 * makes the order of the scalar absmax matter. */
static QP_AVX2 bool q8_0_8blocks_avx2(const float *src, uint8_t *dst)
{
	float ids[8];
	uint32_t h[8];
	__m256 nan = _mm256_setzero_ps(), m[8];
#pragma GCC unroll 8
	for (int b = 0; b < 8; b++) {
		m[b] = _mm256_setzero_ps();
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++) {
			const __m256 v = _mm256_loadu_ps(src + 32 * b + 8 * k);
			m[b] = _mm256_max_ps(abs8(v), m[b]);
			nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
		}
	}
	if (_mm256_movemask_ps(nan))
		return false;
	const __m256 d = _mm256_div_ps(hmax8x8(m), _mm256_set1_ps(127.0f));
	_mm256_storeu_ps(ids, inverse_or_zero8(d));
	_mm256_storeu_si256((__m256i *)h, fp16x8(d));
	for (int b = 0; b < 8; b++, src += QP_QK32, dst += QP_BLOCK_Q8_0) {
		le_put_u16(dst, (uint16_t)h[b]);
		const __m256 vid = _mm256_set1_ps(ids[b]);
		__m256i l[4];
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++)
			l[k] = roundf8(_mm256_mul_ps(_mm256_loadu_ps(src + 8 * k), vid));
		_mm_storeu_si128((__m128i *)(dst + 2), low_bytes16_avx2(l[0], l[1]));
		_mm_storeu_si128((__m128i *)(dst + 18), low_bytes16_avx2(l[2], l[3]));
	}
	return true;
}
#endif

/* The low byte of (int32_t)v.  C leaves the conversion of NaN, infinities
 * and |v| >= 2^31 undefined; ggml's x86 build converts with a 32-bit
 * truncation that gives INT32_MIN for them (what the SIMD twins do), and
 * compilers differ on the undefined case, so it is spelled out. */
static uint8_t low_byte_of_int32(float v)
{
	const int32_t i = v >= -0x1p31f && v < 0x1p31f ? (int32_t)v : INT32_MIN;
	return (uint8_t)(i & 0xff);
}

static void q8_0_block(const float *src, uint8_t *dst)
{
#ifdef __SSE2__
	if (q8_0_block_sse2(src, dst))
		return;
#endif
	const float d = absmax(src, 32) / 127.0f;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	put_half(dst, d);
	for (int j = 0; j < 32; j++)
		dst[2 + j] = low_byte_of_int32(roundf(src[j] * id));
}

/* Q8_0 ignores the importance matrix in ggml. */
void qp_encode_q8_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	const int64_t nb = nrows * n_per_row / QP_QK32;
	int64_t ib = 0;
#if QP_HAVE_AVX2
	if (qp_cpu_avx2())
		for (; ib + 8 <= nb; ib += 8, src += 8 * QP_QK32, dst += 8 * QP_BLOCK_Q8_0)
			if (!q8_0_8blocks_avx2(src, dst))
				for (int k = 0; k < 8; k++)
					q8_0_block(src + QP_QK32 * k, dst + QP_BLOCK_Q8_0 * k);
#endif
	for (; ib < nb; ib++, src += QP_QK32, dst += QP_BLOCK_Q8_0)
		q8_0_block(src, dst);
}

/* ---- MXFP4 -------------------------------------------------------------- */
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

/* mxfp4_nearest4 by midpoints, when every |x| <= 16 d (0 < d <= 2^123, so
 * that the levels and midpoints are finite and exact: v d and (v + w) d / 2
 * have few significant bits, MXFP4's d is a power of two and NVFP4's a
 * UE4M3 value): within
 * [a, b] of two neighbouring levels (b <= 2a, or a = 0) both errors y - a
 * and b - y are exact (Sterbenz), so the nearer one is decided exactly at
 * the midpoint, the lower on a tie as the first-minimum scan keeps it; the
 * other levels' errors are larger by at least d, far above their rounding
 * (|err| < 16 d).  So the index for y = |x| is the number of midpoints
 * below y (0 for NaN, as there); the sign moves it as in mxfp4_nearest4. */
static __m128i mxfp4_nearest4_mid(__m128 x, const __m128 *mid)
{
	const __m128 y = abs4(x);
	__m128i idx = _mm_setzero_si128();
	for (int i = 0; i < 7; i++)
		idx = _mm_sub_epi32(idx, _mm_castps_si128(_mm_cmpgt_ps(y, mid[i])));
	const __m128i neg = _mm_castps_si128(_mm_cmplt_ps(x, _mm_setzero_ps()));
	const __m128i nonzero = _mm_xor_si128(_mm_cmpeq_epi32(idx, _mm_setzero_si128()),
					      _mm_set1_epi32(-1));
	return _mm_or_si128(idx, _mm_and_si128(_mm_and_si128(neg, nonzero),
					       _mm_set1_epi32(8)));
}

/* The indices of 16 values, in order, in the low bytes: by midpoints when
 * mid is set, else by the scan. */
static __m128i mxfp4_indices16(const float *x, const __m128 *level_d,
			       const __m128 *mid)
{
	__m128i l[4];
	for (int k = 0; k < 4; k++)
		l[k] = mid ? mxfp4_nearest4_mid(_mm_loadu_ps(x + 4 * k), mid)
			   : mxfp4_nearest4(_mm_loadu_ps(x + 4 * k), level_d);
	return low_bytes16(l);
}
#endif

void qp_e2m1_pack(const float *x, int n, float d, uint8_t *qs)
{
#ifdef __SSE2__
	__m128 level_d[8], mid[7], m = _mm_setzero_ps();
	for (int i = 0; i < 8; i++)
		level_d[i] = _mm_set1_ps((float)qp_mxfp4_values[i] * d);
	for (int i = 0; i < 7; i++)
		mid[i] = _mm_set1_ps((float)(qp_mxfp4_values[i] + qp_mxfp4_values[i + 1]) * d / 2);
	for (int j = 0; j < n; j += 4)
		m = _mm_max_ps(abs4(_mm_loadu_ps(x + j)), m); /* NaN: keeps m */
	/* d <= 2^123: 20 d, the largest midpoint sum, stays finite */
	const bool by_mid = d > 0.0f && d <= 0x1p123f && _mm_cvtss_f32(hmax4(m)) <= 16.0f * d;
	const __m128i lo = mxfp4_indices16(x, level_d, by_mid ? mid : NULL);
	if (n == 32) {
		const __m128i hi = mxfp4_indices16(x + 16, level_d, by_mid ? mid : NULL);
		_mm_storeu_si128((__m128i *)qs, _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
		return;
	}
	/* n == 16: byte j = index j | index j+8 << 4 */
	_mm_storel_epi64((__m128i *)qs,
			 _mm_or_si128(lo, _mm_slli_epi16(_mm_srli_si128(lo, 8), 4)));
#else
	for (int j = 0; j < n / 2; j++)
		qs[j] = (uint8_t)(mxfp4_nearest(x[j], d) |
				  mxfp4_nearest(x[j + n / 2], d) << 4);
#endif
}

/* The shared exponent, ggml's (uint8_t)(floorf(log2f(amax)) - 2 + 127).
 * For a normal amax = 2^E * m whose m is at least 2^-10 away from 1 and
 * from 2, log2(amax) is at least 7e-4 away from an integer, far more than
 * log2f's error (a few ulps of a value below 128: < 1e-4), so the floor is
 * E, read from the exponent bits; log2f (slow) decides the rest. */
static uint8_t mxfp4_exponent(float amax)
{
	if (!(amax > 0.0f))
		return 0;
	const uint32_t bits = qp_f32_bits(amax);
	const uint32_t ex = bits >> 23, man = bits & 0x7fffffu;
	if (ex >= 1 && ex <= 254 && man >= 0x2000u && man <= 0x7fffffu - 0x2000u)
		return (uint8_t)((int)ex - 2);
	return (uint8_t)(int)(floorf(log2f(amax)) - 2 + 127);
}

#if QP_HAVE_AVX2
/* MXFP4 blocks with eight lanes.  When the scale d = 2^k is far from the
 * ends of the float range and every |x| <= 16 d, the midpoints m d of
 * qp_e2m1_pack's midpoint path (m = 0.5 1.5 2.5 3.5 5 7 10) are exact,
 * and so is z = |x| * 2^-k unless it underflows (and then it is below
 * every m, as |x| is below every m d); so |x| > m d exactly when z > m,
 * and the index is the number of such m, as there.  Other blocks go
 * through qp_e2m1_pack. */
static QP_AVX2 void mxfp4_blocks_avx2(const float *src, uint8_t *dst, int64_t nb)
{
	static const float mids[7] = {0.5f, 1.5f, 2.5f, 3.5f, 5.0f, 7.0f, 10.0f};
	__m256 mid[7];
	for (int i = 0; i < 7; i++)
		mid[i] = _mm256_set1_ps(mids[i]);
	const __m256i eight = _mm256_set1_epi32(8);
	for (int64_t ib = 0; ib < nb; ib++, src += QP_QK32, dst += QP_BLOCK_MXFP4) {
		__m256 y[4], m = _mm256_setzero_ps();
		for (int k = 0; k < 4; k++) {
			y[k] = abs8(_mm256_loadu_ps(src + 8 * k));
			m = _mm256_max_ps(y[k], m); /* NaN: keeps m */
		}
		const float amax = _mm_cvtss_f32(hmax8(m));
		const uint8_t e = mxfp4_exponent(amax);
		const float d = qp_e8m0_half(e);
		dst[0] = e;
		if (e < 32 || e > 224 || !(amax <= 16.0f * d)) {
			qp_e2m1_pack(src, 32, d, dst + 1);
			continue;
		}
		const __m256 inv_d = _mm256_set1_ps(qp_f32_from_bits((uint32_t)(255 - e) << 23));
		__m256i l[4];
		for (int k = 0; k < 4; k++) {
			const __m256 z = _mm256_mul_ps(y[k], inv_d);
			const __m256i first = _mm256_castps_si256(_mm256_cmp_ps(z, mid[0], _CMP_GT_OQ));
			__m256i idx = _mm256_sub_epi32(_mm256_setzero_si256(), first);
			for (int i = 1; i < 7; i++)
				idx = _mm256_sub_epi32(idx, _mm256_castps_si256(
					_mm256_cmp_ps(z, mid[i], _CMP_GT_OQ)));
			/* a negative x with a nonzero index: the negative half */
			const __m256i neg = _mm256_srai_epi32(_mm256_loadu_si256((const __m256i *)(src + 8 * k)), 31);
			l[k] = _mm256_or_si256(idx, _mm256_and_si256(_mm256_and_si256(neg, first), eight));
		}
		const __m256i a = _mm256_or_si256(l[0], _mm256_slli_epi32(l[2], 4));
		const __m256i b = _mm256_or_si256(l[1], _mm256_slli_epi32(l[3], 4));
		_mm_storeu_si128((__m128i *)(dst + 1), low_bytes16_avx2(a, b));
	}
}
#endif

void qp_encode_mxfp4(const float *src, uint8_t *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	const int64_t nb = nrows * n_per_row / QP_QK32;
#if QP_HAVE_AVX2
	if (qp_cpu_avx2()) {
		mxfp4_blocks_avx2(src, dst, nb);
		return;
	}
#endif
	for (int64_t ib = 0; ib < nb; ib++, src += QP_QK32, dst += QP_BLOCK_MXFP4) {
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
		const uint8_t e = mxfp4_exponent(amax);
		const float d = qp_e8m0_half(e);
		dst[0] = e;
		qp_e2m1_pack(src, 32, d, dst + 1);
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
	const int64_t nb = nrows * n_per_row / QP_QK1_0;
	int64_t ib = 0;
#ifdef __SSE2__
	for (; ib + 4 <= nb; ib += 4, src += 4 * QP_QK1_0, dst += 4 * QP_BLOCK_Q1_0)
		q1_0_four_blocks(src, dst);
#endif
	for (; ib < nb; ib++, src += QP_QK1_0, dst += QP_BLOCK_Q1_0)
		q1_0_block(src, dst);
}

void qp_encode_q2_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	const int64_t nb = nrows * n_per_row / QP_QK2_0;
	for (int64_t ib = 0; ib < nb; ib++, src += QP_QK2_0, dst += QP_BLOCK_Q2_0) {
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
	for (int64_t ib = 0; ib < nb; ib++, dst += QP_BLOCK_TQ1_0) {
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
	for (int64_t ib = 0; ib < nb; ib++, dst += QP_BLOCK_TQ2_0) {
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

#ifdef __SSE2__
/* The nearest-level search as comparisons with fixed thresholds.  For x in
 * [v[k], v[k+1]) ggml picks v[k+1] when !(x - v[k] < v[k+1] - x); both
 * sides are exact floats near the midpoint m = (v[k] + v[k+1]) / 2 (the
 * levels are integers below 128 in magnitude and every |m| >= 4.5, so x,
 * x - v[k] and v[k+1] - x share a binade there), so the choice flips
 * exactly at m, and further away rounding cannot reorder the two sides.
 * Hence the index is the number of midpoints m with !(x < m): 0 for x <=
 * v[0], 15 for x >= v[15] and for NaN, as in iq4_nearest.  The tables
 * hold each midpoint, level and gap to the next level in all four lanes
 * (index 15: no next level, gap 0). */
typedef struct iq4_lut {
	__m128 mid[16], level[16], gap[16];
} iq4_lut;

static void iq4_lut_init(iq4_lut *t)
{
	const int8_t *v = qp_iq4nl_values;
	for (int k = 0; k < 16; k++) {
		float next = k < 15 ? (float)v[k + 1] : (float)v[k];
		t->level[k] = _mm_set1_ps((float)v[k]);
		t->gap[k] = _mm_set1_ps(next - (float)v[k]);
		t->mid[k] = _mm_set1_ps(k < 15 ? ((float)v[k] + next) / 2 : INFINITY);
	}
}

/* iq4_nearest of four values. */
static inline __m128i iq4_index4(__m128 al, const iq4_lut *t)
{
	__m128i n = _mm_setzero_si128();
	for (int k = 0; k < 15; k++)
		n = _mm_sub_epi32(n, _mm_castps_si128(_mm_cmpnlt_ps(al, t->mid[k])));
	return n;
}

/* The level v[iq4_nearest(al)] of four values: v[0] plus the gaps passed
 * (small integers, so every sum is exact). */
static inline __m128 iq4_level4(__m128 al, const iq4_lut *t)
{
	__m128 q = t->level[0];
	for (int k = 0; k < 15; k++)
		q = _mm_add_ps(q, _mm_and_ps(_mm_cmpnlt_ps(al, t->mid[k]), t->gap[k]));
	return q;
}

/* The weighted scale fit of iq4_block_scale (below, the plain C twin) with
 * ntry 7: its 16 candidate inverse scales (the first from the absmax
 * scale, then itry = -7..7) each in one lane of c[0..3], every lane adding
 * its sums over the block in element order, as the scalar loop does; then
 * the scalar loop's choice among the 16 sums.  The 15 itry candidates are
 * (itry - 127) / max: one sign, within a factor 134/120 of each other, and
 * consecutive midpoints differ by more than that factor (>= 1.23), so for
 * one element their levels are v[lo] or v[lo+1], lo the level of the
 * candidate product nearest to -inf: one comparison per lane instead of
 * fifteen.  The first candidate's levels (opposite sign) are found for
 * four elements at a time. */
static float iq4_block_scale(const float *xb, const float *w,
			     const iq4_lut *t)
{
	const int8_t *v = qp_iq4nl_values;
	float amax;
	const float max = qp_signed_absmax(xb, 32, &amax);
	if (amax < QP_GROUP_EPS)
		return 0;
	const float d0 = -max / (float)v[0];
	float cand[16];
	cand[0] = 1 / d0;
	for (int k = 1; k < 16; k++)
		cand[k] = (float)(k - 8 + v[0]) / max;
	int32_t lo[32];
	float q0[32];
	const __m128 c_first = _mm_set1_ps(cand[0]);
	const __m128 c_lo = _mm_set1_ps(cand[1]), c_hi = _mm_set1_ps(cand[15]);
	for (int j = 0; j < 32; j += 4) {
		const __m128 xv = _mm_loadu_ps(xb + j);
		/* both NaN when x is: then lo = 15, gap 0 */
		const __m128 a = _mm_min_ps(_mm_mul_ps(c_lo, xv), _mm_mul_ps(c_hi, xv));
		_mm_storeu_si128((__m128i *)(lo + j), iq4_index4(a, t));
		_mm_storeu_ps(q0 + j, iq4_level4(_mm_mul_ps(c_first, xv), t));
	}
	__m128 c[4], sqx[4], sq2[4];
	for (int k = 0; k < 4; k++) {
		c[k] = _mm_loadu_ps(cand + 4 * k);
		sqx[k] = sq2[k] = _mm_setzero_ps();
	}
	const __m128 not_first = _mm_castsi128_ps(_mm_set_epi32(-1, -1, -1, 0));
	for (int j = 0; j < 32; j++) {
		const __m128 xv = _mm_set1_ps(xb[j]), wv = _mm_set1_ps(w[j]);
		const __m128 mid = t->mid[lo[j]], gap = t->gap[lo[j]];
		const __m128 level = t->level[lo[j]];
		for (int k = 0; k < 4; k++) {
			/* lane 0 of c[0] is the first candidate: its level is q0 */
			const __m128 base = k ? level : _mm_move_ss(level, _mm_set_ss(q0[j]));
			const __m128 step = k ? gap : _mm_and_ps(gap, not_first);
			const __m128 al = _mm_mul_ps(c[k], xv);
			const __m128 q = _mm_add_ps(base, _mm_and_ps(_mm_cmpnlt_ps(al, mid), step));
			const __m128 wq = _mm_mul_ps(wv, q);
			sqx[k] = _mm_add_ps(sqx[k], _mm_mul_ps(wq, xv));
			sq2[k] = _mm_add_ps(sq2[k], _mm_mul_ps(wq, q));
		}
	}
	float sumqx[16], sumq2[16];
	for (int k = 0; k < 4; k++) {
		_mm_storeu_ps(sumqx + 4 * k, sqx[k]);
		_mm_storeu_ps(sumq2 + 4 * k, sq2[k]);
	}
	float d = sumq2[0] > 0 ? sumqx[0] / sumq2[0] : 0.f;
	float best = d * sumqx[0];
	for (int k = 1; k < 16; k++)
		if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best * sumq2[k]) {
			d = sumqx[k] / sumq2[k];
			best = d * sumqx[k];
		}
	return d;
}

/* iq4_nearest(id * x[j]) for 32 values. */
static void iq4_levels(const float *x, float id, uint8_t *L, const iq4_lut *t)
{
	const __m128 idv = _mm_set1_ps(id);
	for (int j = 0; j < 32; j += 16) {
		__m128i n[4];
		for (int k = 0; k < 4; k++)
			n[k] = iq4_index4(_mm_mul_ps(idv, _mm_loadu_ps(x + j + 4 * k)), t);
		__m128i lo = _mm_packs_epi32(n[0], n[1]), hi = _mm_packs_epi32(n[2], n[3]);
		_mm_storeu_si128((__m128i *)(L + j), _mm_packus_epi16(lo, hi));
	}
}
#else
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

typedef char iq4_lut; /* the scalar search needs no tables */

static void iq4_lut_init(iq4_lut *t)
{
	*t = 0;
}

/* Weighted fit of one 32-value block's scale: starting from the absmax
 * scale, tries 2*ntry+1 alternatives and keeps the best. */
static float iq4_block_scale(const float *xb, const float *w,
			     const iq4_lut *t)
{
	(void)t;
	const int ntry = 7;
	const int8_t *v = qp_iq4nl_values;
	float amax;
	const float max = qp_signed_absmax(xb, 32, &amax);
	if (amax < QP_GROUP_EPS)
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

static void iq4_levels(const float *x, float id, uint8_t *L, const iq4_lut *t)
{
	(void)t;
	for (int j = 0; j < 32; j++)
		L[j] = (uint8_t)iq4_nearest(id * x[j]);
}
#endif

/* Importance of each value of a super-block: the imatrix mixed with the
 * super-block's energy when there is one, else x^2. */
static void iq4_weights(const float *xb, const float *qw, float sigma2,
			float *w)
{
	if (qw) {
		qp_imatrix_weights(xb, qw, sigma2, 32, w);
		return;
	}
	for (int j = 0; j < 32; j++)
		w[j] = xb[j] * xb[j];
}

static float iq4_sigma2(const float *x, int n)
{
	return qp_sum_squares(x, n) * (2.f / (float)n);
}

static void pack_iq4(const uint8_t *L, uint8_t *q4, int n)
{
	for (int i = 0; i < n / 32; i++)
		for (int j = 0; j < 16; j++)
			q4[16 * i + j] = (uint8_t)(L[32 * i + j] |
						   L[32 * i + 16 + j] << 4);
}

static void iq4_nl_block(const float *x, uint8_t *blk, const float *qw,
			 const iq4_lut *t)
{
	float w[32];
	uint8_t L[32];
	iq4_weights(x, qw, iq4_sigma2(x, 32), w);
	const float scale = iq4_block_scale(x, w, t);
	const float id = scale != 0.0f ? 1 / scale : 0;
	iq4_levels(x, id, L, t);
	put_half(blk, scale);
	pack_iq4(L, blk + 2, 32);
}

void qp_encode_iq4_nl(const float *src, uint8_t *dst, int64_t nrows,
		      int64_t n_per_row, const float *imatrix)
{
	const int64_t nb = n_per_row / 32;
	iq4_lut t;
	iq4_lut_init(&t);
	for (int64_t r = 0; r < nrows; r++)
		for (int64_t ib = 0; ib < nb; ib++, src += QP_QK32, dst += QP_BLOCK_IQ4_NL)
			iq4_nl_block(src, dst, imatrix ? imatrix + 32 * ib : NULL, &t);
}

/* IQ4_XS: eight IQ4_NL-like blocks whose scales are 6-bit multiples of a
 * super-block scale d = -max_scale / 32. */
static void iq4_xs_block(const float *x, uint8_t *blk, const float *qw,
			 const iq4_lut *t)
{
	float w[32], scales[8];
	uint8_t L[QK_K];
	const float sigma2 = iq4_sigma2(x, QK_K);
	for (int ib = 0; ib < 8; ib++) {
		iq4_weights(x + 32 * ib, qw ? qw + 32 * ib : NULL, sigma2, w);
		scales[ib] = iq4_block_scale(x + 32 * ib, w, t);
	}
	float amax_scale;
	const float max_scale = qp_signed_absmax(scales, 8, &amax_scale);
	const float d = -max_scale / 32;
	const float id = d != 0.0f ? 1 / d : 0.f;
	uint16_t scales_h = 0;
	uint8_t *scales_l = blk + 4;
	memset(scales_l, 0, 4);
	for (int ib = 0; ib < 8; ib++) {
		int l = qp_clamp_int(qp_nearest_int(id * scales[ib]), -32, 31);
		const float dl = d * (float)l;
		const float idl = dl != 0.0f ? 1 / dl : 0.f;
		iq4_levels(x + 32 * ib, idl, L + 32 * ib, t);
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
	iq4_lut t;
	iq4_lut_init(&t);
	for (int64_t r = 0; r < nrows; r++)
		for (int64_t ib = 0; ib < nb; ib++, src += QK_K, dst += QP_BLOCK_IQ4_XS)
			iq4_xs_block(src, dst, imatrix ? imatrix + QK_K * ib : NULL, &t);
}
