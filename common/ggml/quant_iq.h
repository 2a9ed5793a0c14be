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

/* Builds (once) the neighbour map of type's grid.  Fails when memory runs
 * out, or when type is one ggml_quantize_chunk refuses without an
 * importance matrix (ggml_quantize_requires_imatrix: IQ2_XXS IQ2_XS IQ1_S;
 * it aborts) and has_imatrix is false.  0 for every other type. */
int qp_iq_ready(uint32_t type, bool has_imatrix, qp_err *e);

/* The encoders, with quant.h's qp_encode_fn signature (imatrix may be
 * NULL where ggml allows it: IQ1_M, IQ2_S, IQ3_XXS, IQ3_S, NVFP4). */
#define QP_IQ_ENCODER(name)                                                  \
	void name(const float *src, uint8_t *dst, int64_t nrows,             \
		  int64_t n_per_row, const float *imatrix)
QP_IQ_ENCODER(qp_encode_iq1_s);
QP_IQ_ENCODER(qp_encode_iq1_m);
QP_IQ_ENCODER(qp_encode_iq2_xxs);
QP_IQ_ENCODER(qp_encode_iq2_xs);
QP_IQ_ENCODER(qp_encode_iq2_s);
QP_IQ_ENCODER(qp_encode_iq3_xxs);
QP_IQ_ENCODER(qp_encode_iq3_s);
QP_IQ_ENCODER(qp_encode_nvfp4);
#undef QP_IQ_ENCODER

/* nblocks NVFP4 blocks (64 values, 36 bytes) to floats. */
void qp_decode_nvfp4(const uint8_t *b, float *y, int64_t nblocks);

#endif
