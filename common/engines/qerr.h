/* qerr.h — the real round-trip error of quantization types on a tensor.
 *
 * Promise: for each requested type, the type llama-quantize would really
 * write (its shape fallbacks, and the tensors it never quantizes) and the
 * error of quantizing the tensor's values with our bit-exact quantizers
 * and dequantizing them back: mse, rmse, rel (||W-Q||/||W||), cos, maxabs,
 * sqnr_db, and with an importance matrix wmse (per row
 * sum_j imp_j (w_ij - q_ij)^2 / sum_j imp_j, averaged over rows).  All sums
 * are in double over fixed row chunks merged in order, so the result is
 * the same for any thread count.  Work is row by row: memory is O(row
 * length) per thread whatever the tensor's size.
 *
 * With sample_frac in (0, 1) only a share of the rows is measured (see
 * rowsample.h: a take-all stratum of the rows an error proxy marks as
 * heavy, a seeded uniform sample of the rest scaled up by the ratio
 * estimator) and the error metrics carry a 95% confidence interval.
 * With rotate_block > 0 each type is also measured after
 * a block-Hadamard rotation of every row, compared back in the original
 * frame, reported as "<TYPE>+had<BLOCK>".
 */
#ifndef QP_QERR_H
#define QP_QERR_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "tensor_src.h"

typedef struct qp_qerr_opts {
	const uint32_t *types;
	int n_types;
	int rotate_block;   /* 0: no rotated variants */
	bool crc;           /* crc32 of the quantized bytes (full runs only) */
	double sample_frac; /* 0 or >= 1: every row */
	uint64_t seed;
	int threads;
} qp_qerr_opts;

typedef struct qp_interval {
	double lo, hi;
} qp_interval;

typedef struct qp_qerr_result {
	char key[48];          /* "Q4_K", "Q4_K+had128" */
	uint32_t requested;
	int rotate_block;
	bool has_as;           /* false: llama-quantize would abort */
	uint32_t as;
	bool measured;
	char note[192];        /* why not measured, or what was special */
	bool used_imatrix;
	double mse, rmse, rel, cos, maxabs, sqnr_db;
	bool has_wmse;
	double wmse;
	uint64_t n_bytes;
	double bpw;
	bool has_crc;
	uint32_t crc;
	int64_t rows_measured, rows_total;
	bool has_ci;
	qp_interval ci_mse, ci_rmse, ci_rel, ci_sqnr;
} qp_qerr_result;

/* Results per requested type (and rotated variant right after it). */
int qp_qerr_count(const qp_qerr_opts *o);

/* imp: importance values [n_mat][row_len] for t, or NULL: one block per
 * matrix, n_mat = ne2·ne3 (qp_imatrix_for_tensor), row r takes block
 * r / ne1.  res holds qp_qerr_count(o). */
int qp_qerr_tensor(const qp_tensor_ref *t, const float *imp,
		   const qp_qerr_opts *o, qp_qerr_result *res, qp_err *e);

#endif
