/* blocks.h — facts of ggml's block layouts that encoders and decoders
 * share (ggml-common.h), written once.
 *
 * Promise: QP_QK_K is the super-block of the K-quants (and IQ4_XS);
 * qp_k4_scale_min unpacks the 6-bit scale and min of sub-block j from the
 * 12 scale bytes of Q4_K and Q5_K; qp_e8m0_half is the scale of an MXFP4
 * block: 2^(e-128) from its E8M0 exponent, with ggml's cases for e < 2.
 * Header only (static inline), so the quantizers' inner loops keep them
 * inlined.
 */
#ifndef QP_BLOCKS_H
#define QP_BLOCKS_H

#include <stdint.h>

#include "fp16.h"

#define QP_QK_K 256

static inline void qp_k4_scale_min(const uint8_t *q, int j, int *sc, int *mn)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*mn = q[j + 4] & 63;
	} else {
		*sc = (q[j + 4] & 0x0f) | (q[j - 4] >> 6) << 4;
		*mn = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
	}
}

static inline float qp_e8m0_half(uint8_t e)
{
	uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
	return qp_f32_from_bits(bits);
}

#endif
