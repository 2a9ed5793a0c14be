/* blocks.h — facts of ggml's block layouts that encoders and decoders
 * share (ggml-common.h), written once.
 *
 * Promise: QP_QK_K is the super-block of the K-quants (and IQ4_XS);
 * QP_QK_* are the elements of every other block and QP_BLOCK_* the bytes
 * of each type's block, summed from the fields of ggml-common.h's
 * block_* structs in their order (the type table, types.c, and the
 * decoders step by them; tests/unit/types.c checks the table against
 * gguf-py's GGML_QUANT_SIZES in tests/data/types.tsv);
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
#define QP_QK32 32      /* the legacy blocks: Q4_0 .. Q8_1, IQ4_NL, MXFP4 */
#define QP_QK_NVFP4 64
#define QP_QK1_0 128
#define QP_QK2_0 64

#define QP_HALF 2       /* one ggml_half (fp16) field */

/* Bytes per block: the fields in struct order. */
#define QP_BLOCK_Q4_0    (QP_HALF + QP_QK32 / 2)
#define QP_BLOCK_Q4_1    (2 * QP_HALF + QP_QK32 / 2)
#define QP_BLOCK_Q5_0    (QP_HALF + 4 + QP_QK32 / 2)
#define QP_BLOCK_Q5_1    (2 * QP_HALF + 4 + QP_QK32 / 2)
#define QP_BLOCK_Q8_0    (QP_HALF + QP_QK32)
#define QP_BLOCK_Q8_1    (2 * QP_HALF + QP_QK32)
#define QP_BLOCK_MXFP4   (1 + QP_QK32 / 2)
#define QP_BLOCK_IQ4_NL  (QP_HALF + QP_QK32 / 2)
#define QP_BLOCK_NVFP4   (QP_QK_NVFP4 / 16 + QP_QK_NVFP4 / 2)
#define QP_BLOCK_Q1_0    (QP_HALF + QP_QK1_0 / 8)
#define QP_BLOCK_Q2_0    (QP_HALF + QP_QK2_0 / 4)
#define QP_BLOCK_Q2_K    (QP_QK_K / 16 + QP_QK_K / 4 + 2 * QP_HALF)
#define QP_BLOCK_Q3_K    (QP_QK_K / 8 + QP_QK_K / 4 + 12 + QP_HALF)
#define QP_BLOCK_Q4_K    (2 * QP_HALF + 12 + QP_QK_K / 2)
#define QP_BLOCK_Q5_K    (2 * QP_HALF + 12 + QP_QK_K / 8 + QP_QK_K / 2)
#define QP_BLOCK_Q6_K    (QP_QK_K / 2 + QP_QK_K / 4 + QP_QK_K / 16 + QP_HALF)
#define QP_BLOCK_Q8_K    (4 + QP_QK_K + 2 * (QP_QK_K / 16))
#define QP_BLOCK_IQ2_XXS (QP_HALF + 2 * (QP_QK_K / 8))
#define QP_BLOCK_IQ2_XS  (QP_HALF + 2 * (QP_QK_K / 8) + QP_QK_K / 32)
#define QP_BLOCK_IQ2_S   (QP_HALF + QP_QK_K / 4 + QP_QK_K / 32 + QP_QK_K / 32)
#define QP_BLOCK_IQ3_XXS (QP_HALF + 3 * (QP_QK_K / 8))
#define QP_BLOCK_IQ3_S   (QP_HALF + QP_QK_K / 4 + QP_QK_K / 32 + QP_QK_K / 8 + QP_QK_K / 64)
#define QP_BLOCK_IQ1_S   (QP_HALF + QP_QK_K / 8 + 2 * (QP_QK_K / 32))
#define QP_BLOCK_IQ1_M   (QP_QK_K / 8 + QP_QK_K / 16 + QP_QK_K / 32)
#define QP_BLOCK_IQ4_XS  (QP_HALF + 2 + QP_QK_K / 64 + QP_QK_K / 2)
#define QP_BLOCK_TQ1_0   ((QP_QK_K - 4 * (QP_QK_K / 64)) / 5 + QP_QK_K / 64 + QP_HALF)
#define QP_BLOCK_TQ2_0   (QP_QK_K / 4 + QP_HALF)

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
