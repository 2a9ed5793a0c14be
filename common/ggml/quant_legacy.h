/* quant_legacy.h — ggml's encoders for the non-K block types (private to
 * quant.c; the public entry point is qp_quantize in quant.h).
 *
 * Promise: each qp_encode_*() writes, byte for byte, what ggml's
 * ggml_quantize_chunk writes for nrows rows of n_per_row floats: the
 * reference encoder when imatrix is NULL, the importance-weighted one when
 * not (types that ignore the importance matrix in ggml ignore it here too).
 * The caller has checked that n_per_row is a positive multiple of the
 * type's block size and that dst is large enough.  No allocation, no
 * global state.
 */
#ifndef QP_QUANT_LEGACY_H
#define QP_QUANT_LEGACY_H

#include <stdint.h>

typedef void (*qp_encode_fn)(const float *src, uint8_t *dst, int64_t nrows,
			     int64_t n_per_row, const float *imatrix);

void qp_encode_f16(const float *src, uint8_t *dst, int64_t nrows,
		   int64_t n_per_row, const float *imatrix);
void qp_encode_bf16(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix);
void qp_encode_q4_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix);
void qp_encode_q4_1(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix);
void qp_encode_q5_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix);
void qp_encode_q5_1(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix);
void qp_encode_q8_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix);
void qp_encode_mxfp4(const float *src, uint8_t *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix);
void qp_encode_q1_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix);
void qp_encode_q2_0(const float *src, uint8_t *dst, int64_t nrows,
		    int64_t n_per_row, const float *imatrix);
void qp_encode_tq1_0(const float *src, uint8_t *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix);
void qp_encode_tq2_0(const float *src, uint8_t *dst, int64_t nrows,
		     int64_t n_per_row, const float *imatrix);
void qp_encode_iq4_nl(const float *src, uint8_t *dst, int64_t nrows,
		      int64_t n_per_row, const float *imatrix);
void qp_encode_iq4_xs(const float *src, uint8_t *dst, int64_t nrows,
		      int64_t n_per_row, const float *imatrix);

/* ggml's best_index_mxfp4 (the E2M1 level of kvalues_mxfp4 nearest to x[j]
 * at scale d, the first on ties) of n = 16 or 32 values, packed as MXFP4
 * and NVFP4 blocks hold them: byte j has x[j]'s index in its low nibble
 * and x[j + n/2]'s in its high one. */
void qp_e2m1_pack(const float *x, int n, float d, uint8_t *qs);

#endif
