/* fp16.h — IEEE half and bfloat16 conversions, exactly as ggml does them.
 *
 * Promise: qp_fp16_to_fp32 is exact (a signalling NaN comes back quiet,
 * as F16C and ggml give it); qp_fp32_to_fp16 rounds to nearest
 * even, subnormals and infinities included, and writes every NaN as
 * sign | 0x7e00: bit for bit ggml's portable ggml_compute_fp32_to_fp16,
 * the conversion llama-quantize's scales and F16 rows go through (F16C
 * would keep a NaN's payload); the bf16 pair matches ggml's
 * ggml_compute_fp32_to_bf16 / bf16_to_fp32.
 */
#ifndef QP_FP16_H
#define QP_FP16_H

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline uint32_t qp_f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static inline float qp_f32_from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static inline float qp_fp16_to_fp32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	if (exp == 0x1f) /* inf, or nan made quiet as F16C does */
		return qp_f32_from_bits(sign | 0x7f800000u | man << 13 |
					(man ? 0x00400000u : 0));
	if (exp == 0) {  /* zero or subnormal: man * 2^-24, exact in float */
		float v = (float)man * 0x1p-24f;
		return sign ? -v : v;
	}
	return qp_f32_from_bits(sign | (exp + 112) << 23 | man << 13);
}

static inline uint16_t qp_fp32_to_fp16(float f)
{
	uint32_t u = qp_f32_bits(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	uint32_t abs = u & 0x7fffffffu;
	if (abs > 0x7f800000u) /* nan: ggml's portable conversion drops the payload */
		return (uint16_t)(sign | 0x7e00);
	if (abs >= 0x477ff000u) /* rounds to >= 65520: infinity */
		return (uint16_t)(sign | 0x7c00);
	if (abs < 0x38800000u) { /* below 2^-14: subnormal half */
		/* abs as float is exact; scaling by 2^24 and rounding to
		 * nearest even with rint gives the subnormal mantissa. */
		float mag = qp_f32_from_bits(abs) * 0x1p24f;
		float r = __builtin_rintf(mag); /* default mode: nearest even */
		return (uint16_t)(sign | (uint16_t)r);
	}
	uint32_t mant_round = abs + 0xfffu + ((abs >> 13) & 1u);
	return (uint16_t)(sign | ((mant_round - 0x38000000u) >> 13));
}

#ifdef __SSE2__
/* Four halves (low 16 bits of each lane) to floats, bit for bit what
 * qp_fp16_to_fp32 gives: shifting exponent and mantissa into place and
 * multiplying by 2^112 rebases normals and subnormals exactly (no
 * rounding: the product is representable); infinities and NaNs get the
 * all-ones exponent, NaNs their quiet bit. */
static inline __m128 qp_fp16x4_to_fp32(__m128i h)
{
	const __m128i em = _mm_and_si128(h, _mm_set1_epi32(0x7fff));
	const __m128i sign = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x8000)), 16);
	const __m128i u = _mm_slli_epi32(em, 13);
	const __m128 finite = _mm_mul_ps(_mm_castsi128_ps(u),
					 _mm_castsi128_ps(_mm_set1_epi32(0x77800000)));
	const __m128i is_special = _mm_cmpgt_epi32(em, _mm_set1_epi32(0x7bff));
	const __m128i is_nan = _mm_cmpgt_epi32(em, _mm_set1_epi32(0x7c00));
	const __m128i special = _mm_or_si128(
		_mm_or_si128(u, _mm_set1_epi32(0x7f800000)),
		_mm_and_si128(is_nan, _mm_set1_epi32(0x00400000)));
	const __m128i bits = _mm_or_si128(
		_mm_and_si128(is_special, special),
		_mm_andnot_si128(is_special, _mm_castps_si128(finite)));
	return _mm_castsi128_ps(_mm_or_si128(bits, sign));
}
#endif

/* n little-endian halves at src to floats. */
static inline void qp_fp16_row_to_fp32(const uint8_t *src, float *dst,
				       int64_t n)
{
	int64_t i = 0;
#ifdef __SSE2__
	const __m128i zero = _mm_setzero_si128();
	for (; i + 8 <= n; i += 8) {
		__m128i raw = _mm_loadu_si128((const __m128i *)(src + 2 * i));
		_mm_storeu_ps(dst + i, qp_fp16x4_to_fp32(_mm_unpacklo_epi16(raw, zero)));
		_mm_storeu_ps(dst + i + 4, qp_fp16x4_to_fp32(_mm_unpackhi_epi16(raw, zero)));
	}
#endif
	for (; i < n; i++)
		dst[i] = qp_fp16_to_fp32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
}

static inline float qp_bf16_to_fp32(uint16_t h)
{
	return qp_f32_from_bits((uint32_t)h << 16);
}

static inline uint16_t qp_fp32_to_bf16(float f)
{
	uint32_t u = qp_f32_bits(f);
	if ((u & 0x7fffffffu) > 0x7f800000u) /* nan: force quiet */
		return (uint16_t)((u >> 16) | 64);
	return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

#endif
