/* imatrix_stats.h — the activation statistics `llama-imatrix
 * --show-statistics` prints.
 *
 * Promise: qp_imatrix_stats_compute() reproduces compute_statistics()
 * and compute_cossim() of llama.cpp tools/imatrix/imatrix.cpp: float
 * arithmetic in the same order, on the per-column mean squared activation
 * sum2/count, so the figures agree with what llama-imatrix prints to its
 * printed precision.  Deviation: columns of experts that saw no tokens are
 * left out (llama-imatrix divides by zero there and prints nan).
 */
#ifndef QP_IMATRIX_STATS_H
#define QP_IMATRIX_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "imatrix.h"

typedef struct qp_imatrix_stats {
	double sum_sq;       /* Σ over columns of the mean act² (Σ(Act²)) */
	double min, max, mean, std;
	double active;       /* fraction of columns with value > 1e-5 */
	int64_t n;           /* columns counted (N) */
	double entropy;      /* bits, of the columns' share of sum_sq */
	double entropy_norm; /* entropy / log2(n), 0..1 */
	double zd;           /* fraction of columns with z-score > 1 */
	double cossim;       /* with the same tensor of layer - 1, over the
				raw sums; 0 when has_prev is false */
	bool has_prev;       /* a previous-layer entry of equal size exists */
	double tokens;       /* max over experts of the count (tokens for
				GGUF, ncall for .dat) */
	int64_t n_expert, n_idle_experts;
} qp_imatrix_stats;

/* st[i] for entries[i], i < n_entries.  Statistics of an entry whose
 * experts all saw no tokens cannot exist (loading rejects it). */
int qp_imatrix_stats_compute(const qp_imatrix *im, qp_imatrix_stats *st,
			     qp_err *e);

/* Per-layer averages weighted by n, as the second table of
 * --show-statistics prints them (float, llama-imatrix's order). */
typedef struct qp_imatrix_layer_avg {
	int layer;
	double sum_sq, zd, cossim;
} qp_imatrix_layer_avg;

/* *out malloc'd, layers ascending; entries without "blk.N." are skipped. */
int qp_imatrix_layer_averages(const qp_imatrix *im,
			      const qp_imatrix_stats *st,
			      qp_imatrix_layer_avg **out, int64_t *n_out,
			      qp_err *e);

#endif
