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
 * When l would be min(m, n) (min(m, n) <= rank + oversample) a sketch would
 * span the whole range and give A's values up to rounding; A is then
 * factorized directly instead: read once, reduced to bidiagonal form by
 * Householder reflections here (a QR first when m or n is >= 5/3 the
 * other), the bidiagonal's values by LAPACK's dlasq1 — exact up to
 * rounding, as backward stable as dgesdd.  NaN and infinities in A are
 * read as 0 (left out), so the factorizations always see finite values.
 *
 * Cost: the sketch reads A 2 + 2*power_iters times (each pass 2*m*n*l
 * flops in double), memory O((m + n) * l) doubles plus QP_SVD_SLABS
 * partial n x l products and one chunk of rows per thread; never a copy of
 * A.  The direct reduction reads A once into m*n doubles (no more than the
 * sketch's (m + n) * l would be) and costs about 4*m*n*min(m, n) flops.
 *
 * Determinism: rows are cut into QP_SVD_SLABS contiguous slabs that depend
 * on m only; each slab is summed in row order and slabs are merged in slab
 * order, so the result is bit-identical for any thread count.  The direct
 * reduction runs on one thread, in a fixed order.
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
