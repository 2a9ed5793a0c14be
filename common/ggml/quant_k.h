/* quant_k.h — ggml's K-quant encoders (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K).
 *
 * Promise: each qp_quantize_qN_k() writes, byte for byte, what ggml's
 * ggml_quantize_chunk writes for the same rows (and so what llama-quantize
 * writes): with imatrix NULL the reference encoder (quantize_row_qN_K_ref),
 * otherwise the importance-weighted encoder (quantize_qN_K with
 * quant_weights).  Blocks are 256 values; the block layouts are ggml's
 * (ggml-common.h).  Deterministic, no global state, thread-safe.
 *
 * Contract: n_per_row is a positive multiple of 256 (the caller checks);
 * dst holds nrows * (n_per_row / 256) blocks of the type's size; imatrix is
 * NULL or holds n_per_row importance values (llama-quantize's per-column
 * in_sum2 / counts).  Every function returns 0.
 */
#ifndef QP_QUANT_K_H
#define QP_QUANT_K_H

#include <stdint.h>

#include "blocks.h" /* QP_QK_K */

/* Bytes per 256-value block, as in ggml-common.h. */
enum {
	QP_Q2_K_BLOCK_BYTES = 84,
	QP_Q3_K_BLOCK_BYTES = 110,
	QP_Q4_K_BLOCK_BYTES = 144,
	QP_Q5_K_BLOCK_BYTES = 176,
	QP_Q6_K_BLOCK_BYTES = 210,
};

int qp_quantize_q2_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix);
int qp_quantize_q3_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix);
int qp_quantize_q4_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix);
int qp_quantize_q5_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix);
int qp_quantize_q6_k(const float *src, void *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix);

/* The same encoders computed one group at a time, without the lane-parallel
 * search: identical bytes, several times slower.  Kept as the reference
 * the fast path is tested and benchmarked against.  type is the ggml id
 * (10 = Q2_K .. 14 = Q6_K); returns -1 for any other type. */
int qp_quantize_k_scalar(uint32_t type, const float *src, void *dst,
			 int64_t nrows, int64_t n_per_row,
			 const float *imatrix);

#endif
