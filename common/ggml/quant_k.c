/* quant_k.c — ggml's K-quant encoders, bit-exact.
 *
 * Bit-exactness rests on doing every float operation in the same order and
 * precision as ggml-quants.c (float, not double; no fused multiply-add,
 * which -std=c11 guarantees for gcc); comments name the ggml routine each
 * piece mirrors so a reader can check the order against it.  The per-group
 * scale searches are ggml's shared ones, in quant_search.c.
 */
#include "quant_k.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "blocks.h"
#include "cpu.h"
#include "fp16.h"
#include "le.h"
#include "quant_search.h"
#include "types.h"

/* ---- block layouts (ggml-common.h) ---------------------------------- */

/* Four 2-bit planes: byte k of each 32-byte half holds the values at
 * k, k+32, k+64, k+96 of that 128-value half. */
static void pack_2bit(const uint8_t *q, uint8_t *qs)
{
#ifdef __SSE2__
	/* levels are 0..3: 16-bit shifts by at most 6 keep them in their byte */
	for (int half = 0; half < 2; half++)
		for (int k = 0; k < 32; k += 16) {
			const uint8_t *v = q + 128 * half + k;
			__m128i a = _mm_loadu_si128((const __m128i *)v);
			__m128i b = _mm_loadu_si128((const __m128i *)(v + 32));
			__m128i c = _mm_loadu_si128((const __m128i *)(v + 64));
			__m128i e = _mm_loadu_si128((const __m128i *)(v + 96));
			__m128i r = _mm_or_si128(
				_mm_or_si128(a, _mm_slli_epi16(b, 2)),
				_mm_or_si128(_mm_slli_epi16(c, 4),
					     _mm_slli_epi16(e, 6)));
			_mm_storeu_si128((__m128i *)(qs + 32 * half + k), r);
		}
	return;
#endif
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
	for (int j = 0; j < 8; j++)
		sc[j] = (uint8_t)((ls[j] & 0xF) | (ls[j + 8] & 0xF) << 4);
	for (int m = 0; m < 4; m++)
		sc[8 + m] = (uint8_t)((ls[m] >> 4) | (ls[m + 4] >> 4) << 2 |
				      (ls[m + 8] >> 4) << 4 |
				      (ls[m + 12] >> 4) << 6);
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

/* Final levels of the min/scale formats: x ~ d * q - dm per group.  The
 * SIMD twins divide as the scalar loop does and round by the same 1.5 *
 * 2^23 addition; the clamp to 0..nmax (nmax <= 255) is the saturating
 * packs to 16 and to unsigned 8 bits, which keep the order, then a byte
 * minimum.  NaN payloads reach the levels (nearest_int reads the low
 * mantissa bits): when x and dm are both NaN, x86 returns the first
 * operand's, and the scalar x + dm puts x first, but a compiler may swap
 * the operands of a vector add, so the twins take x's (quieted) NaN
 * explicitly wherever x is NaN. */
static void requantize_group(const float *x, int n, float d, float dm,
			     int nmax, uint8_t *q)
{
	int i = 0;
#ifdef __SSE2__
	const __m128 dv = _mm_set1_ps(d), mv = _mm_set1_ps(dm);
	const __m128 magic = _mm_set1_ps(12582912.f);
	const __m128i mant = _mm_set1_epi32(0x007fffff);
	const __m128i bias = _mm_set1_epi32(0x00400000);
	const __m128i top = _mm_set1_epi8((char)nmax);
	const __m128 quiet = _mm_castsi128_ps(_mm_set1_epi32(0x00400000));
	for (; i + 16 <= n; i += 16) {
		__m128i l[4];
		for (int k = 0; k < 4; k++) {
			__m128 xv = _mm_loadu_ps(x + i + 4 * k);
			__m128 nan = _mm_cmpunord_ps(xv, xv);
			__m128 sum = _mm_or_ps(_mm_andnot_ps(nan, _mm_add_ps(xv, mv)),
					       _mm_and_ps(nan, _mm_or_ps(xv, quiet)));
			__m128 v = _mm_div_ps(sum, dv);
			__m128i r = _mm_castps_si128(_mm_add_ps(v, magic));
			l[k] = _mm_sub_epi32(_mm_and_si128(r, mant), bias);
		}
		__m128i b = _mm_packus_epi16(_mm_packs_epi32(l[0], l[1]),
					     _mm_packs_epi32(l[2], l[3]));
		_mm_storeu_si128((__m128i *)(q + i), _mm_min_epu8(b, top));
	}
#endif
	for (; i < n; i++)
		q[i] = (uint8_t)qp_clamp_int(qp_nearest_int((x[i] + dm) / d), 0,
					     nmax);
}

#if QP_HAVE_AVX2
static QP_AVX2 void requantize_group_avx2(const float *x, int n, float d,
					  float dm, int nmax, uint8_t *q)
{
	const __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(dm);
	const __m256 magic = _mm256_set1_ps(12582912.f);
	const __m256i mant = _mm256_set1_epi32(0x007fffff);
	const __m256i bias = _mm256_set1_epi32(0x00400000);
	const __m128i top = _mm_set1_epi8((char)nmax);
	const __m256 quiet = _mm256_castsi256_ps(_mm256_set1_epi32(0x00400000));
	int i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256i l[2];
		for (int k = 0; k < 2; k++) {
			__m256 xv = _mm256_loadu_ps(x + i + 8 * k);
			__m256 sum = _mm256_blendv_ps(
				_mm256_add_ps(xv, mv), _mm256_or_ps(xv, quiet),
				_mm256_cmp_ps(xv, xv, _CMP_UNORD_Q));
			__m256 v = _mm256_div_ps(sum, dv);
			__m256i r = _mm256_castps_si256(_mm256_add_ps(v, magic));
			l[k] = _mm256_sub_epi32(_mm256_and_si256(r, mant), bias);
		}
		/* packs work per 128-bit half: the permute puts them in order */
		__m256i p16 = _mm256_permute4x64_epi64(
			_mm256_packs_epi32(l[0], l[1]), 0xD8);
		__m128i b = _mm_packus_epi16(_mm256_castsi256_si128(p16),
					     _mm256_extracti128_si256(p16, 1));
		_mm_storeu_si128((__m128i *)(q + i), _mm_min_epu8(b, top));
	}
	for (; i < n; i++)
		q[i] = (uint8_t)qp_clamp_int(qp_nearest_int((x[i] + dm) / d), 0,
					     nmax);
}
#endif

static void requantize_asym(const float *x, int group, int n_groups,
			    const float *d, const float *dm, int nmax,
			    uint8_t *q)
{
#if QP_HAVE_AVX2
	if (qp_cpu_avx2()) {
		for (int j = 0; j < n_groups; j++)
			if (d[j] != 0) /* else keep the search's levels, as ggml */
				requantize_group_avx2(x + group * j, group, d[j],
						      dm[j], nmax, q + group * j);
		return;
	}
#endif
	for (int j = 0; j < n_groups; j++)
		if (d[j] != 0) /* else keep the search's levels, as ggml does */
			requantize_group(x + group * j, group, d[j], dm[j], nmax,
					 q + group * j);
}

/* ---- Q2_K: 16 groups of 16, 2-bit levels, 4-bit scale and min -------- */

static const qp_asym_search Q2_REF = { 3, -0.5f, 0.1f, 15, true, QP_ASYM_QKX2 };
static const qp_asym_search Q2_IMAT = { 3, -0.9f, 0.05f, 36, false, QP_ASYM_QKX3 };

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
	qp_fit_asymmetric_groups(16, 16, &Q2_REF, x, w, q, scales, mins, fast);
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
			sc[j] = (uint8_t)qp_nearest_int(iscale * scales[j]);
		d = max_scale / 15.f;
	}
	if (max_min > 0) {
		float iscale = 15.f / max_min;
		for (int j = 0; j < 16; j++)
			sc[j] |= (uint8_t)((unsigned)qp_nearest_int(iscale * mins[j])
					  << 4);
		dmin = max_min / 15.f;
	}
	le_put_u16(blk + 80, qp_fp32_to_fp16(d));
	le_put_u16(blk + 82, qp_fp32_to_fp16(dmin));
	q2_k_finish(x, blk, q);
}

static void q2_k_block_imat(const float *x, const float *imp, uint8_t *blk,
			    bool fast, float sum_x2)
{
	uint8_t q[256], ls[16], lm[16];
	float w[256], sw[16], scales[16], mins[16];
	float sigma2 = sum_x2 / 256.f;
	qp_imatrix_weights_groups(16, 16, x, imp, sigma2, w, sw);
	qp_fit_asymmetric_groups(16, 16, &Q2_IMAT, x, w, q, scales, mins, fast);
	float d = qp_fit_positive(16, 15, scales, ls, sw);
	float dmin = qp_fit_positive(16, 15, mins, lm, sw);
	le_put_u16(blk + 80, qp_fp32_to_fp16(d));
	le_put_u16(blk + 82, qp_fp32_to_fp16(dmin));
	for (int j = 0; j < 16; j++)
		blk[j] = (uint8_t)(ls[j] | lm[j] << 4);
	q2_k_finish(x, blk, q);
}

/* ---- Q3_K: 16 groups of 16, 3-bit levels, 6-bit signed scales ------- */

/* The groups' final scales d_all * (ls - 32) from the packed scales ls
 * (0..63: ggml reads back ls - 32 from the packed bytes, lo | hi << 4 is
 * ls again); true when one is 0: ggml keeps that group's search levels,
 * so the caller needs them (the searches run without storing levels
 * first, as most blocks have none). */
static bool q3_group_scales(const uint8_t *blk, const int *ls, float *d)
{
	float d_all = qp_fp16_to_fp32(le_u16(blk + 108));
	bool some_zero = false;
	for (int j = 0; j < 16; j++) {
		d[j] = d_all * (float)(ls[j] - 32);
		some_zero |= d[j] == 0;
	}
	return some_zero;
}

/* q: the search's levels of the groups whose d is 0 (the others are
 * found here). */
#if QP_HAVE_AVX2
/* q3_k_finish in AVX2: two groups' levels per step (qp_symmetric_levels'
 * division, rounding by 1.5 * 2^23 and clamp, 0..7 after the offset), a
 * group whose d is 0 taking the search's levels instead; then, per 32
 * values (bit c of the high-bit mask, 2-bit plane c % 4 of half c / 4),
 * bit 2 to the mask and l & 3 shifted into the planes: a byte's bits
 * never cross into its neighbour once masked. */
static QP_AVX2 void q3_k_finish_avx2(const float *x, uint8_t *blk,
				     const float *d, const int8_t *q)
{
	uint8_t lv[256];
	const __m256 magic = _mm256_set1_ps(12582912.f);
	const __m256i mant = _mm256_set1_epi32(0x007fffff);
	const __m256i bias = _mm256_set1_epi32(0x00400000 - 4);
	const __m256i lo = _mm256_setzero_si256(), hi = _mm256_set1_epi32(7);
	const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	for (int j = 0; j < 16; j += 2) {
		__m256i l[4];
		const __m256 d0 = _mm256_set1_ps(d[j]), d1 = _mm256_set1_ps(d[j + 1]);
#pragma GCC unroll 4
		for (int k = 0; k < 4; k++) {
			__m256 v = _mm256_div_ps(_mm256_loadu_ps(x + 16 * j + 8 * k),
						 k < 2 ? d0 : d1);
			__m256i r = _mm256_castps_si256(_mm256_add_ps(v, magic));
			r = _mm256_sub_epi32(_mm256_and_si256(r, mant), bias);
			l[k] = _mm256_min_epi32(_mm256_max_epi32(r, lo), hi);
		}
		/* packs work per 128-bit half: dwords (four levels each) come
		 * out as 0 2 4 6 1 3 5 7 of the 32, the permute orders them */
		__m256i b = _mm256_packs_epi16(_mm256_packs_epi32(l[0], l[1]),
					       _mm256_packs_epi32(l[2], l[3]));
		_mm256_storeu_si256((__m256i *)(lv + 16 * j),
				    _mm256_permutevar8x32_epi32(b, order));
		if (d[j] == 0) /* ggml keeps the search's levels */
			memcpy(lv + 16 * j, q + 16 * j, 16);
		if (d[j + 1] == 0)
			memcpy(lv + 16 * (j + 1), q + 16 * (j + 1), 16);
	}
	const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
	__m256i hm = _mm256_setzero_si256();
#pragma GCC unroll 2
	for (int h = 0; h < 2; h++) {
		__m256i planes = _mm256_setzero_si256();
#pragma GCC unroll 4
		for (int s = 0; s < 4; s++) {
			const int c = 4 * h + s;
			__m256i v = _mm256_loadu_si256((const __m256i *)(lv + 32 * c));
			__m256i high = _mm256_cmpeq_epi8(_mm256_and_si256(v, four), four);
			hm = _mm256_or_si256(hm, _mm256_and_si256(high,
					     _mm256_set1_epi8((char)(1 << c))));
			planes = _mm256_or_si256(planes, _mm256_slli_epi16(
					_mm256_and_si256(v, three), 2 * s));
		}
		_mm256_storeu_si256((__m256i *)(blk + 32 + 32 * h), planes);
	}
	_mm256_storeu_si256((__m256i *)blk, hm);
	_mm256_zeroupper();
}
#endif

static void q3_k_finish(const float *x, uint8_t *blk, const float *d, int8_t *q)
{
#if QP_HAVE_AVX2
	if (qp_cpu_avx2()) {
		q3_k_finish_avx2(x, blk, d, q);
		return;
	}
#endif
	uint8_t *hmask = blk, *qs = blk + 32;
	qp_symmetric_levels_groups(16, 16, 4, x, d, q);
	uint8_t low[256];
	/* levels are 0..7: bit 2 goes to the high-bit mask, l & 3 (that is
	 * l - 4 * (l > 3)) to the 2-bit planes; branch-free, l > 3 is a coin
	 * toss */
#ifdef __SSE2__
	const __m128i three = _mm_set1_epi8(3), four = _mm_set1_epi8(4);
	__m128i hm[2] = { _mm_setzero_si128(), _mm_setzero_si128() };
	for (int c = 0; c < 8; c++)
		for (int h = 0; h < 2; h++) {
			__m128i v = _mm_loadu_si128((const __m128i *)(q + 32 * c + 16 * h));
			__m128i high = _mm_cmpeq_epi8(_mm_and_si128(v, four), four);
			hm[h] = _mm_or_si128(hm[h], _mm_and_si128(high,
					     _mm_set1_epi8((char)(1 << c))));
			_mm_storeu_si128((__m128i *)(low + 32 * c + 16 * h),
					 _mm_and_si128(v, three));
		}
	_mm_storeu_si128((__m128i *)hmask, hm[0]);
	_mm_storeu_si128((__m128i *)(hmask + 16), hm[1]);
#else
	memset(hmask, 0, 32);
	for (int k = 0; k < 256; k++) {
		int l = q[k];
		hmask[k % 32] |= (uint8_t)((l >> 2 & 1) << (k / 32));
		low[k] = (uint8_t)(l & 3);
	}
#endif
	pack_2bit(low, qs);
}

#if QP_HAVE_AVX2
/* q3_k_block_ref's scale levels in AVX2: the signed extreme of the 16
 * scales (its magnitude by a max reduction, NaN skipped as maxps keeps
 * the other operand; then the first scale of that magnitude, as the
 * scalar search's strict > finds it), and each level's product, rounding
 * (the low mantissa bits after adding 1.5 * 2^23), int8 wrap and clamp. */
static QP_AVX2 float q3_scale_levels_avx2(const float *scales, int *ls)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256 s0 = _mm256_loadu_ps(scales), s1 = _mm256_loadu_ps(scales + 8);
	__m256 a0 = _mm256_andnot_ps(sign, s0), a1 = _mm256_andnot_ps(sign, s1);
	/* maxps(v, m) is m when v is NaN: no NaN enters the maximum */
	__m256 m = _mm256_max_ps(a1, _mm256_max_ps(a0, _mm256_setzero_ps()));
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, _MM_SHUFFLE(1, 0, 3, 2)));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, _MM_SHUFFLE(2, 3, 0, 1)));
	float max_scale = 0;
	if (_mm_cvtss_f32(h) > 0) {
		__m256 am = _mm256_broadcastss_ps(h);
		unsigned hit = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a0, am, _CMP_EQ_OQ)) |
			       (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a1, am, _CMP_EQ_OQ)) << 8;
		max_scale = scales[__builtin_ctz(hit)];
	}
	if (max_scale == 0) {
		memset(ls, 0, 16 * sizeof *ls);
		_mm256_zeroupper();
		return 0;
	}
	const __m256 is = _mm256_set1_ps(-32.f / max_scale);
	const __m256 magic = _mm256_set1_ps(12582912.f);
	const __m256i mant = _mm256_set1_epi32(0x007fffff);
	const __m256i bias = _mm256_set1_epi32(0x00400000);
	__m256 sv[2] = { s0, s1 };
	for (int k = 0; k < 2; k++) {
		__m256i r = _mm256_castps_si256(_mm256_add_ps(_mm256_mul_ps(is, sv[k]), magic));
		r = _mm256_sub_epi32(_mm256_and_si256(r, mant), bias);
		r = _mm256_srai_epi32(_mm256_slli_epi32(r, 24), 24); /* (int8_t) */
		r = _mm256_min_epi32(_mm256_max_epi32(r, _mm256_set1_epi32(-32)),
				     _mm256_set1_epi32(31));
		_mm256_storeu_si256((__m256i *)(ls + 8 * k),
				    _mm256_add_epi32(r, _mm256_set1_epi32(32)));
	}
	_mm256_zeroupper();
	return max_scale;
}
#endif

/* ggml's 6-bit scale levels of the 16 group scales (0 when all are 0);
 * returns the signed extreme they are relative to. */
static float q3_scale_levels(const float *scales, int *ls)
{
#if QP_HAVE_AVX2
	if (qp_cpu_avx2())
		return q3_scale_levels_avx2(scales, ls);
#endif
	float amax;
	float max_scale = qp_signed_absmax(scales, 16, &amax);
	memset(ls, 0, 16 * sizeof *ls);
	if (max_scale != 0) {
		float iscale = -32.f / max_scale;
		for (int j = 0; j < 16; j++) {
			int l = (int8_t)qp_nearest_int(iscale * scales[j]);
			ls[j] = qp_clamp_int(l, -32, 31) + 32;
		}
	}
	return max_scale;
}

static void q3_k_block_ref(const float *x, uint8_t *blk, bool fast)
{
	int8_t q[256];
	float scales[16];
	qp_fit_symmetric_refine_groups(16, 16, 4, x, NULL, scales, fast);
	int ls[16];
	float max_scale = q3_scale_levels(scales, ls);
	float d = 0;
	if (max_scale != 0)
		d = 1 / (-32.f / max_scale);
	pack_q3_scales(ls, blk + 96);
	le_put_u16(blk + 108, qp_fp32_to_fp16(d));
	float dj[16];
	if (q3_group_scales(blk, ls, dj))
		qp_fit_symmetric_refine_groups(16, 16, 4, x, q, scales, fast);
	q3_k_finish(x, blk, dj, q);
}

static void q3_k_block_imat(const float *x, const float *imp, uint8_t *blk,
			    bool fast, float sum_x2)
{
	int8_t q[256], lq[16];
	float w[256], sw[16], scales[16];
	float sigma2 = 2 * sum_x2 / 256.f;
	qp_imatrix_weights_groups(16, 16, x, imp, sigma2, w, sw);
	qp_fit_symmetric_groups(16, 16, 4, x, w, NULL, scales, fast);
	float d;
	qp_fit_symmetric_groups(1, 16, 32, scales, sw, lq, &d, fast);
	int ls[16];
	for (int j = 0; j < 16; j++)
		ls[j] = lq[j];
	pack_q3_scales(ls, blk + 96);
	le_put_u16(blk + 108, qp_fp32_to_fp16(d));
	float dj[16];
	if (q3_group_scales(blk, ls, dj))
		qp_fit_symmetric_groups(16, 16, 4, x, w, q, scales, fast);
	q3_k_finish(x, blk, dj, q);
}

/* ---- Q4_K and Q5_K: 8 groups of 32, 6-bit scales and mins ----------- */

static const qp_asym_search Q4_REF = { 15, -1.f, 0.1f, 20, false, QP_ASYM_QKX2 };
static const qp_asym_search Q5_REF = { 31, -0.5f, 0.1f, 15, false, QP_ASYM_QKX2 };
static const qp_asym_search Q4_IMAT = { 15, -0.9f, 0.05f, 36, false, QP_ASYM_QKX3 };
static const qp_asym_search Q5_IMAT = { 31, -0.9f, 0.05f, 36, false, QP_ASYM_QKX3 };

/* Header (d, dmin, scales) is written; compute the final levels. */
static void k4_requantize(const float *x, const uint8_t *blk, int nmax,
			  uint8_t *q)
{
	float d = qp_fp16_to_fp32(le_u16(blk));
	float dmin = qp_fp16_to_fp32(le_u16(blk + 2));
	float dj[8], mj[8];
	for (int j = 0; j < 8; j++) {
		int s, m;
		qp_k4_scale_min(blk + 4, j, &s, &m);
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
		ls[j] = (uint8_t)qp_nearest_int(inv_scale * scales[j]);
		lm[j] = (uint8_t)qp_nearest_int(inv_min * mins[j]);
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
static void k4_fit_ref(const float *x, const qp_asym_search *p, uint8_t *q,
		       float *scales, float *mins, bool fast)
{
	float w[256];
	for (int j = 0; j < 8; j++) {
		const float *xg = x + 32 * j;
		float av = sqrtf(qp_sum_squares(xg, 32) / 32.f);
		int i = 0;
#ifdef __SSE2__
		const __m128 avv = _mm_set1_ps(av);
		const __m128 sign = _mm_set1_ps(-0.0f);
		for (; i < 32; i += 4)
			_mm_storeu_ps(w + 32 * j + i,
				      _mm_add_ps(avv, _mm_andnot_ps(sign,
						 _mm_loadu_ps(xg + i))));
#endif
		for (; i < 32; i++)
			w[32 * j + i] = av + fabsf(xg[i]);
	}
	qp_fit_asymmetric_groups(8, 32, p, x, w, q, scales, mins, fast);
}

static void k4_fit_imat(const float *x, const float *imp,
			const qp_asym_search *p, uint8_t *q, float *scales,
			float *mins, float *sw, bool fast, float sum_x2)
{
	float w[256];
	float sigma2 = 2 * sum_x2 / 256.f;
	qp_imatrix_weights_groups(8, 32, x, imp, sigma2, w, sw);
	qp_fit_asymmetric_groups(8, 32, p, x, w, q, scales, mins, fast);
}

static void q4_k_pack(const uint8_t *q, uint8_t *blk)
{
	uint8_t *qs = blk + 16;
#ifdef __SSE2__
	/* levels are 0..15: the 16-bit shift moves no bit across a byte */
	for (int c = 0; c < 4; c++)
		for (int k = 0; k < 32; k += 16) {
			__m128i lo = _mm_loadu_si128((const __m128i *)(q + 64 * c + k));
			__m128i hi = _mm_loadu_si128((const __m128i *)(q + 64 * c + k + 32));
			_mm_storeu_si128((__m128i *)(qs + 32 * c + k),
					 _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
		}
	return;
#endif
	for (int c = 0; c < 4; c++)
		for (int k = 0; k < 32; k++)
			qs[32 * c + k] = (uint8_t)(q[64 * c + k] |
						   q[64 * c + k + 32] << 4);
}

static void q5_k_pack(const uint8_t *q, uint8_t *blk)
{
	uint8_t *qh = blk + 16, *qs = blk + 48;
#ifdef __SSE2__
	/* levels are 0..31: l > 15 is bit 4, l - 16 then is l & 15; masked
	 * first, the 16-bit shifts move no bit across a byte (branch-free:
	 * l > 15 is a coin toss) */
	const __m128i nib = _mm_set1_epi8(0xF), one = _mm_set1_epi8(1);
	for (int k = 0; k < 32; k += 16) {
		__m128i h = _mm_setzero_si128();
		for (int c = 0; c < 4; c++) {
			__m128i lo = _mm_loadu_si128((const __m128i *)(q + 64 * c + k));
			__m128i hi = _mm_loadu_si128((const __m128i *)(q + 64 * c + k + 32));
			_mm_storeu_si128((__m128i *)(qs + 32 * c + k),
					 _mm_or_si128(_mm_and_si128(lo, nib),
						      _mm_slli_epi16(_mm_and_si128(hi, nib), 4)));
			__m128i lb = _mm_and_si128(_mm_srli_epi16(lo, 4), one);
			__m128i hb = _mm_and_si128(_mm_srli_epi16(hi, 4), one);
			h = _mm_or_si128(h, _mm_or_si128(_mm_slli_epi16(lb, 2 * c),
							 _mm_slli_epi16(hb, 2 * c + 1)));
		}
		_mm_storeu_si128((__m128i *)(qh + k), h);
	}
	return;
#endif
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
		     bool five_bit, bool fast, float sum_x2)
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
			    mins, sw, fast, sum_x2);
		uint8_t ls[8], lm[8];
		float d = qp_fit_positive(8, 63, scales, ls, sw);
		float dmin = qp_fit_positive(8, 63, mins, lm, sw);
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
	float scales[16], max_abs;
	const float *wq = imp; /* NULL: ggml's default weights x^2 */
	qp_fit_symmetric_groups(16, 16, 32, x, wq, NULL, scales, fast);
	float max_scale = qp_signed_absmax(scales, 16, &max_abs);
	memset(blk, 0, QP_Q6_K_BLOCK_BYTES);
	if (max_abs < QP_GROUP_EPS)
		return;
	float iscale = -128.f / max_scale;
	uint16_t d_half = qp_fp32_to_fp16(1 / iscale);
	le_put_u16(blk + 208, d_half);
	float d = qp_fp16_to_fp32(d_half);
	int8_t *sc = (int8_t *)(blk + 192);
	for (int j = 0; j < 16; j++) {
		int l = qp_nearest_int(iscale * scales[j]);
		sc[j] = (int8_t)(l < 127 ? l : 127);
	}
	float dj[16];
	bool some_zero = false;
	for (int j = 0; j < 16; j++) {
		dj[j] = d * (float)sc[j];
		some_zero |= dj[j] == 0;
	}
	if (some_zero) /* ggml keeps those groups' search levels */
		qp_fit_symmetric_groups(16, 16, 32, x, wq, q, scales, fast);
	qp_symmetric_levels_groups(16, 16, 32, x, dj, q);
	uint8_t *ql = blk, *qh = blk + 128;
#ifdef __SSE2__
	/* levels are 0..63: 16-bit shifts move no set bit across a byte once
	 * masked (the low nibble, or the top two bits as 0..3) */
	const __m128i nib = _mm_set1_epi8(0xF), two = _mm_set1_epi8(3);
	for (int half = 0; half < 2; half++) {
		const int8_t *v = q + 128 * half;
		for (int k = 0; k < 32; k += 16) {
			__m128i a = _mm_loadu_si128((const __m128i *)(v + k));
			__m128i b = _mm_loadu_si128((const __m128i *)(v + k + 32));
			__m128i c = _mm_loadu_si128((const __m128i *)(v + k + 64));
			__m128i e = _mm_loadu_si128((const __m128i *)(v + k + 96));
			__m128i lo0 = _mm_or_si128(_mm_and_si128(a, nib),
				_mm_slli_epi16(_mm_and_si128(c, nib), 4));
			__m128i lo1 = _mm_or_si128(_mm_and_si128(b, nib),
				_mm_slli_epi16(_mm_and_si128(e, nib), 4));
			__m128i ha = _mm_and_si128(_mm_srli_epi16(a, 4), two);
			__m128i hb = _mm_and_si128(_mm_srli_epi16(b, 4), two);
			__m128i hc = _mm_and_si128(_mm_srli_epi16(c, 4), two);
			__m128i hd = _mm_and_si128(_mm_srli_epi16(e, 4), two);
			__m128i h = _mm_or_si128(
				_mm_or_si128(ha, _mm_slli_epi16(hb, 2)),
				_mm_or_si128(_mm_slli_epi16(hc, 4),
					     _mm_slli_epi16(hd, 6)));
			_mm_storeu_si128((__m128i *)(ql + k), lo0);
			_mm_storeu_si128((__m128i *)(ql + k + 32), lo1);
			_mm_storeu_si128((__m128i *)(qh + k), h);
		}
		ql += 64;
		qh += 32;
	}
#else
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
#endif
}

/* ---- row drivers ---------------------------------------------------- */

/* sum_x2: the block's sum of x^2, in ggml's order (the importance prior
 * of Q2_K..Q5_K; unused without an imatrix and by Q6_K). */
typedef void (*block_fn)(const float *x, const float *imp, uint8_t *blk,
			 bool fast, float sum_x2);

static void q2_k_block(const float *x, const float *imp, uint8_t *blk,
		       bool fast, float sum_x2)
{
	if (imp)
		q2_k_block_imat(x, imp, blk, fast, sum_x2);
	else
		q2_k_block_ref(x, blk, fast);
}

static void q3_k_block(const float *x, const float *imp, uint8_t *blk,
		       bool fast, float sum_x2)
{
	if (imp)
		q3_k_block_imat(x, imp, blk, fast, sum_x2);
	else
		q3_k_block_ref(x, blk, fast);
}

static void q4_k_block(const float *x, const float *imp, uint8_t *blk,
		       bool fast, float sum_x2)
{
	k4_block(x, imp, blk, false, fast, sum_x2);
}

static void q5_k_block(const float *x, const float *imp, uint8_t *blk,
		       bool fast, float sum_x2)
{
	k4_block(x, imp, blk, true, fast, sum_x2);
}

static void q6_k_block_fn(const float *x, const float *imp, uint8_t *blk,
			  bool fast, float sum_x2)
{
	(void)sum_x2;
	q6_k_block(x, imp, blk, fast);
}

/* With an imatrix the blocks' sums of x^2 are found eight blocks at a
 * time on the lane path (qp_sum_squares_groups: eight serial chains of
 * adds side by side instead of one after another), one by one on the
 * scalar path. */
static int quantize_rows(block_fn fn, size_t block_bytes, const float *src,
			 void *dst, int64_t nrows, int64_t n_per_row,
			 const float *imatrix, bool fast, bool wants_sums)
{
	int64_t nb = n_per_row / QP_QK_K;
	uint8_t *out = dst;
	float sums[8] = { 0 };
	for (int64_t r = 0; r < nrows; r++)
		for (int64_t b = 0; b < nb; b++) {
			const float *x = src + r * n_per_row + b * QP_QK_K;
			const float *imp = imatrix ? imatrix + b * QP_QK_K
						   : NULL;
			if (imp && wants_sums && !fast)
				sums[0] = qp_sum_squares(x, QP_QK_K);
			else if (imp && wants_sums && b % 8 == 0)
				qp_sum_squares_groups(nb - b < 8 ? (int)(nb - b) : 8,
						      QP_QK_K, QP_QK_K, x, sums);
			fn(x, imp, out, fast, sums[fast ? b % 8 : 0]);
			out += block_bytes;
		}
	return 0;
}

static int quantize_type(uint32_t type, const float *src, void *dst,
			 int64_t nrows, int64_t n_per_row,
			 const float *imatrix, bool fast)
{
	switch (type) {
	case QP_Q2_K:
		return quantize_rows(q2_k_block, QP_Q2_K_BLOCK_BYTES, src, dst,
				     nrows, n_per_row, imatrix, fast, true);
	case QP_Q3_K:
		return quantize_rows(q3_k_block, QP_Q3_K_BLOCK_BYTES, src, dst,
				     nrows, n_per_row, imatrix, fast, true);
	case QP_Q4_K:
		return quantize_rows(q4_k_block, QP_Q4_K_BLOCK_BYTES, src, dst,
				     nrows, n_per_row, imatrix, fast, true);
	case QP_Q5_K:
		return quantize_rows(q5_k_block, QP_Q5_K_BLOCK_BYTES, src, dst,
				     nrows, n_per_row, imatrix, fast, true);
	case QP_Q6_K:
		return quantize_rows(q6_k_block_fn, QP_Q6_K_BLOCK_BYTES, src, dst,
				     nrows, n_per_row, imatrix, fast, false);
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
	return quantize_type(QP_Q2_K, src, dst, nrows, n_per_row, imatrix, true);
}

int qp_quantize_q3_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	return quantize_type(QP_Q3_K, src, dst, nrows, n_per_row, imatrix, true);
}

int qp_quantize_q4_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	return quantize_type(QP_Q4_K, src, dst, nrows, n_per_row, imatrix, true);
}

int qp_quantize_q5_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	return quantize_type(QP_Q5_K, src, dst, nrows, n_per_row, imatrix, true);
}

int qp_quantize_q6_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix)
{
	return quantize_type(QP_Q6_K, src, dst, nrows, n_per_row, imatrix, true);
}
