/* quant.h — ggml's quantizers and dequantizers, bit-exact.
 *
 * Promise: qp_dequantize() produces, bit for bit, the F32 values ggml's
 * to_float produces for the same bytes.  qp_quantize() produces, byte for
 * byte, what llama-quantize writes for the same rows (ggml_quantize_chunk):
 * the reference path when imatrix is NULL, the importance-weighted path
 * when it is not.  No global state; every function is thread-safe.
 */
#ifndef QP_QUANT_H
#define QP_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* True when qp_dequantize knows the type. */
bool qp_can_dequantize(uint32_t type);
/* True when qp_quantize knows the type (with or without an imatrix):
 * F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K IQ4_NL IQ4_XS TQ1_0
 * TQ2_0 MXFP4 NVFP4 Q1_0 Q2_0 and the grid types IQ1_S IQ1_M IQ2_XXS
 * IQ2_XS IQ2_S IQ3_XXS IQ3_S (not Q8_K). */
bool qp_can_quantize(uint32_t type);
/* True for types llama-quantize refuses to write without an importance
 * matrix (tensor_requires_imatrix: IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S
 * IQ3_XXS).  llama-quantize exempts token_embd.weight and output.weight,
 * and also requires one for Q2_K inside a Q2_K_S file: those name- and
 * ftype-dependent rules are the caller's. */
bool qp_quant_requires_imatrix(uint32_t type);

/* Dequantizes n elements (a multiple of the block size) from src. */
int qp_dequantize(uint32_t type, const void *src, float *dst, int64_t n,
		  qp_err *e);

/* Quantizes nrows rows of n_per_row floats into dst (nrows * row bytes).
 * imatrix, when not NULL, holds n_per_row importance values (the
 * per-column weights llama-quantize passes: in_sum2 / count).  As in ggml,
 * F16 BF16 Q8_0 MXFP4 NVFP4 TQ1_0 TQ2_0 Q1_0 Q2_0 ignore it; IQ4_NL and
 * IQ4_XS without one use ggml's quantize_iq4_* search (what llama-quantize
 * writes), not the quantize_row_iq4_nl_ref shortcut.
 * Fails when n_per_row is not a multiple of the block size, the type
 * cannot be quantized, or it is IQ1_S, IQ2_XXS or IQ2_XS and imatrix is
 * NULL (ggml_quantize_chunk aborts there). */
int qp_quantize(uint32_t type, const float *src, void *dst, int64_t nrows,
		int64_t n_per_row, const float *imatrix, qp_err *e);

/* The type llama-quantize really writes for a tensor whose rows are ne0
 * long when `type` is requested (its tensor_type_fallback rules); returns
 * `type` itself when it fits, and sets *ok false when llama-quantize would
 * abort (no fallback defined). */
uint32_t qp_quant_fallback(uint32_t type, int64_t ne0, bool *ok);

#endif
