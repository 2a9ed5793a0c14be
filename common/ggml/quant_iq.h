/* quant_iq.h — ggml's grid quantizers (IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S
 * IQ3_XXS IQ3_S) and NVFP4 (private to quant.c and dequant.c; the public
 * entry points are qp_quantize and qp_dequantize in quant.h).
 *
 * Promise: each qp_encode_*() writes, byte for byte, what ggml's
 * ggml_quantize_chunk writes for nrows rows of n_per_row floats, with the
 * importance matrix and (for the types ggml can quantize without one)
 * without it.  qp_decode_nvfp4 is ggml's dequantize_row_nvfp4 bit for bit.
 * The lattice neighbour maps the searches need are built once, on first
 * use, under pthread_once: qp_iq_ready() must have returned 0 for a type
 * before its encoder runs.  Callers see no mutable state; all functions
 * are thread-safe.
 */
#ifndef QP_QUANT_IQ_H
#define QP_QUANT_IQ_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* True for the types this module encodes. */
bool qp_iq_encodes(uint32_t type);

/* Builds (once) the neighbour map of type's grid.  Fails when memory runs
 * out, or when type is one ggml_quantize_chunk refuses without an
 * importance matrix (ggml_quantize_requires_imatrix: IQ2_XXS IQ2_XS IQ1_S;
 * it aborts) and has_imatrix is false.  0 for every other type. */
int qp_iq_ready(uint32_t type, bool has_imatrix, qp_err *e);

/* The encoder of type (NULL when not one of this module's). */
void (*qp_iq_encoder(uint32_t type))(const float *src, uint8_t *dst,
				     int64_t nrows, int64_t n_per_row,
				     const float *imatrix);

/* nblocks NVFP4 blocks (64 values, 36 bytes) to floats. */
void qp_decode_nvfp4(const uint8_t *b, float *y, int64_t nblocks);

#endif
