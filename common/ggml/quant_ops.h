/* quant_ops.h — the one table of what quantpipe does with each ggml type
 * (private to ggml/: quant.c holds the table, dequant.c the decoders).
 *
 * Promise: qp_type_ops_for(type) is the type's row, or NULL for a type
 * with none: its encoder (NULL: cannot quantize), its decoder (NULL:
 * cannot dequantize), the type llama-quantize's tensor_type_fallback
 * writes instead when a row does not fit the type's blocks (QP_F32: no
 * fallback defined, llama-quantize aborts), and whether llama-quantize
 * refuses the type without an importance matrix.  A new type is one row
 * in quant.c's table (and the functions it names).
 */
#ifndef QP_QUANT_OPS_H
#define QP_QUANT_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "quant_legacy.h" /* qp_encode_fn */

/* Decodes nblocks blocks (elements, for the plain types) at b into y. */
typedef void (*qp_decode_fn)(const uint8_t *b, float *y, int64_t nblocks);

typedef struct qp_type_ops {
	uint32_t type;
	qp_encode_fn encode;
	qp_decode_fn decode;
	uint32_t fallback;
	bool needs_imatrix;
} qp_type_ops;

const qp_type_ops *qp_type_ops_for(uint32_t type);

/* The decoders (dequant.c), after ggml's dequantize_row_*. */
void qp_deq_f32(const uint8_t *b, float *y, int64_t nb);
void qp_deq_f16(const uint8_t *b, float *y, int64_t nb);
void qp_deq_bf16(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q4_0(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q4_1(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q5_0(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q5_1(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q8_0(const uint8_t *b, float *y, int64_t nb);
void qp_deq_mxfp4(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q1_0(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q2_0(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q2_k(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q3_k(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q4_k(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q5_k(const uint8_t *b, float *y, int64_t nb);
void qp_deq_q6_k(const uint8_t *b, float *y, int64_t nb);
void qp_deq_tq1_0(const uint8_t *b, float *y, int64_t nb);
void qp_deq_tq2_0(const uint8_t *b, float *y, int64_t nb);
void qp_deq_iq2_xxs(const uint8_t *b, float *y, int64_t nb);
void qp_deq_iq2_xs(const uint8_t *b, float *y, int64_t nb);
void qp_deq_iq2_s(const uint8_t *b, float *y, int64_t nb);
void qp_deq_iq3_xxs(const uint8_t *b, float *y, int64_t nb);
void qp_deq_iq3_s(const uint8_t *b, float *y, int64_t nb);
void qp_deq_iq1_s(const uint8_t *b, float *y, int64_t nb);
void qp_deq_iq1_m(const uint8_t *b, float *y, int64_t nb);
void qp_deq_iq4_nl(const uint8_t *b, float *y, int64_t nb);
void qp_deq_iq4_xs(const uint8_t *b, float *y, int64_t nb);

#endif
