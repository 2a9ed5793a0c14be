/* fp16.h — IEEE half and bfloat16 conversions, exactly as ggml does them.
 *
 * Promise: qp_fp16_to_fp32 is exact (a signalling NaN comes back quiet,
 * as F16C and ggml give it); qp_fp32_to_fp16 rounds to nearest
 * even (what ggml's F16C path and its portable fallback both produce,
 * including subnormals, infinities and NaN); the bf16 pair matches ggml's
 * ggml_compute_fp32_to_bf16 / bf16_to_fp32.
 */
#ifndef QP_FP16_H
#define QP_FP16_H

#include <stdint.h>
#include <string.h>

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
	if (abs > 0x7f800000u) /* nan: quiet, keep top payload bits */
		return (uint16_t)(sign | 0x7e00 | (abs >> 13 & 0x1ff));
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
