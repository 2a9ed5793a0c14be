/* wstats.h — weight statistics of one tensor, streamed in row chunks.
 *
 * Promise: qp_wstats_compute() reads the tensor through a callback that
 * fills fixed chunks of rows with floats (the caller dequantizes), twice
 * (pass 1: moments, rows, columns, the high radix histogram and the
 * row/group SQNR of the sampled rows; pass 2: what needs the mean, σ and
 * absmax), on n_threads threads.  Chunk c is always rows
 * [c*chunk_rows, (c+1)*chunk_rows); each chunk's partial result is computed
 * on its own and merged in chunk order (moments with Chan et al.'s pairwise
 * update, all in double; histograms are integer counts), so the result is
 * bit-identical for any thread count given the same chunk_rows, and
 * between the SSE2 kernels and their plain C twins (same lanes, same order
 * of operations).  Memory is O(rows + cols) plus, per thread, one chunk of
 * floats and 2 MiB of histograms: never a copy of the tensor.
 *
 * Definitions (over the finite values; NaN/Inf are counted in n_nonfinite
 * and left out of everything else).  Exact over ALL values:
 *  - mean, std, skew, kurtosis (excess): population moments.
 *  - crest = absmax / rms, rms = sqrt(Σw²/n).
 *  - out3, out6: fraction with |w - mean| > 3σ (6σ); zeros: fraction == 0.
 *  - row_cv, col_cv: std/mean of the L2 norms of rows (ne0 values each)
 *    and of columns (over all rows); *_max_median: max/median of them.
 *  - experts (3-D and 4-D tensors: ne2*ne3 experts of ne1 rows):
 *    expert_rms[x], and their cv, max/median, max/min.
 *  - clip999, clip9999: the nearest-rank 99.9% and 99.99% percentiles of
 *    |w| (the value of rank ceil(p*n) in ascending order), exact: a 2-level
 *    radix histogram over the float's bits (pass 1: top 16 bits, pass 2:
 *    low 16 bits inside the selected bins).  Symmetric clipping ranges are
 *    [-clip, clip]; the min-max range is [min, max].
 *  - top_share: share of the 4-bit per-tensor Σ error² (every value) carried
 *    by the n_top = ceil(n/1000) values of largest |w| (exact; ties at the
 *    threshold contribute equally, as their error is the same).
 * On a sample of whole rows (sqnr_rows of them):
 *  - sqnr_*[b - 2], b = 2..8: 10 log10(Σw² / Σ(w - q·d)²), both sums over
 *    the sampled rows only, of symmetric round-to-nearest quantization,
 *    qmax = 2^(b-1) - 1, d = absmax/qmax of the whole tensor (absmax over
 *    all values), of the row, or of each group of 32 / 128 consecutive
 *    values of a row (a row's last group may be shorter), q = w·(1/d)
 *    rounded half away from zero and clamped to ±qmax (ggml's way: the
 *    inverse scale multiplies), computed in double as written.  A scale of
 *    0 quantizes exactly.  +inf when there is no error (NaN when the
 *    sampled rows are all zero).
 *    The sample: k = min(n_rows, max(1, floor(sqnr_values / ne0))) rows
 *    (sqnr_values: opts, default QP_WSTATS_SQNR_VALUES), row
 *    floor(i * n_rows / k) for i = 0..k-1 (rows counted over all of
 *    ne1*ne2*ne3), i.e. evenly spaced from row 0, and every row of a tensor
 *    of at most sqnr_values values.
 * Values that cannot be defined (std 0, no rows...) are NaN.
 */
#ifndef QP_WSTATS_H
#define QP_WSTATS_H

#include <stdint.h>

#include "err.h"

#define QP_WSTATS_NBITS 7 /* b = 2..8 */
#define QP_WSTATS_SQNR_VALUES 262144 /* default SQNR sample, in values */

/* Fills dst with rows [row0, row0 + n_rows) of ne0 floats each.  Called
 * concurrently from several threads when n_threads > 1. */
typedef int (*qp_wstats_rows_fn)(void *ctx, int64_t row0, int64_t n_rows,
				 float *dst, qp_err *e);

typedef struct qp_wstats_opts {
	int n_threads;      /* 1 or more */
	int64_t chunk_rows; /* 0: default, ceil(65536 / ne0) rows */
	int64_t sqnr_values; /* 0: default, QP_WSTATS_SQNR_VALUES */
} qp_wstats_opts;

typedef struct qp_wstats {
	int64_t n_cols, n_rows, n_expert;
	int64_t n, n_nonfinite, n_zero, n_out3, n_out6;
	double mean, std, min, max, absmax, rms, skew, kurtosis, crest;
	double out3, out6, zeros;
	double row_cv, row_max_median, col_cv, col_max_median;
	double *expert_rms; /* [n_expert], malloc'd */
	double expert_cv, expert_max_median, expert_max_min;
	double clip999, clip9999;
	double sqnr_tensor[QP_WSTATS_NBITS], sqnr_row[QP_WSTATS_NBITS];
	double sqnr_g32[QP_WSTATS_NBITS], sqnr_g128[QP_WSTATS_NBITS];
	int64_t sqnr_rows; /* rows the sqnr_* figures come from */
	int64_t n_top;
	double top_threshold, top_share;
} qp_wstats;

/* ne in ggml order, n_dims 1..4.  out is filled (free with
 * qp_wstats_free) on success. */
int qp_wstats_compute(const int64_t *ne, int n_dims, qp_wstats_rows_fn fn,
		      void *ctx, const qp_wstats_opts *opts, qp_wstats *out,
		      qp_err *e);
void qp_wstats_free(qp_wstats *s);

/* The error² of one value under the symmetric b-bit quantizer with scale
 * absmax/qmax (exposed for tests and for callers that need the same
 * definition). */
double qp_wstats_qerr2(double w, double absmax, int bits);

#endif
