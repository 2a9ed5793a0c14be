/* svd.h — the largest singular values of a big matrix read row by row.
 *
 * Promise: qp_svd_top() gives the k largest singular values of the m x n
 * matrix A (m rows of n floats, filled by a callback that dequantizes) by
 * randomized SVD (Halko, Martinsson and Tropp 2011, algorithm 4.4):
 * l = k + oversample columns of a Gaussian test matrix drawn from a fixed
 * seed (element (j, c) is a function of the seed, j and c only), then
 * `power_iters` power iterations re-orthonormalised by QR each time, then
 * the singular values of the l x n projection.  The small dense
 * factorizations (QR: dgeqrf + dorgqr; SVD: dgesdd) are the system's LAPACK.
 * When l >= min(m, n) the sketch spans the whole range and the values are
 * exact up to rounding.
 *
 * Cost: A is read 2 + 2*power_iters times (each pass 2*m*n*l flops in
 * double), memory O((m + n) * l) doubles plus QP_SVD_SLABS partial n x l
 * products and one chunk of rows per thread; never a copy of A.
 *
 * Determinism: rows are cut into QP_SVD_SLABS contiguous slabs that depend
 * on m only; each slab is summed in row order and slabs are merged in slab
 * order, so the result is bit-identical for any thread count.
 */
#ifndef QP_SVD_H
#define QP_SVD_H

#include <stdint.h>

#include "err.h"

#define QP_SVD_SLABS 16

/* Fills dst with rows [row0, row0 + n_rows) of n floats each; called
 * concurrently from several threads when n_threads > 1. */
typedef int (*qp_svd_rows_fn)(void *ctx, int64_t row0, int64_t n_rows,
			      float *dst, qp_err *e);

typedef struct qp_svd_opts {
	int rank;        /* k wanted; capped at min(m, n) */
	int oversample;  /* extra sketch columns (default 8 when 0) */
	int power_iters; /* power iterations (negative: 0) */
	uint64_t seed;
	int n_threads;
} qp_svd_opts;

/* sv[0..*n_sv) gets the singular values, largest first; sv must hold
 * opts->rank values. */
int qp_svd_top(int64_t m, int64_t n, qp_svd_rows_fn fn, void *ctx,
	       const qp_svd_opts *opts, double *sv, int *n_sv, qp_err *e);

/* Singular values of a small dense column-major m x n matrix (a is
 * overwritten); s holds min(m, n) values, largest first.  For tests and
 * for callers that have the matrix in memory. */
int qp_svd_dense_values(int m, int n, double *a, double *s, qp_err *e);

#endif
