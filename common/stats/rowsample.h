/* rowsample.h — which rows of a tensor to measure, and how to scale
 * their errors up to the whole tensor with an honest interval.
 *
 * Quantization error per row is heavily right-skewed (a row holding one
 * large value loses a whole block to it), so a plain uniform sample of
 * rows underestimates it and its interval misses.  Instead one cheap pass
 * over every row computes an error proxy p_i = sum over blocks of 32 of
 * (block absmax)^2 times the block length -- what the error of blockwise
 * absmax quantizers grows with -- and sum w^2.  Rows whose proxy is so large that probability-proportional
 * sampling would have to take them for sure, and rows whose proxy stands
 * far above the median (up to half the budget), form a take-all stratum; the
 * other rows are sampled uniformly (a seeded hash of the tensor name and
 * the row), and their total is estimated with the regression estimator on
 * the proxy, whose known total makes it far tighter than a mean.
 *
 * At least QP_MIN_SAMPLE_ROWS rows are measured (all of a smaller tensor):
 * with fewer, intervals from skewed row errors cannot be trusted.
 *
 * Promise: the plan depends only on the data, the fraction and the seed
 * (never on the thread count).  On the gguf-synth 1b preset at 5%, 95.0%
 * of (tensor, type) full-pass errors fall inside the 95% intervals
 * (bench/qerr.sh).
 */
#ifndef QP_ROWSAMPLE_H
#define QP_ROWSAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "tensor_src.h"

#define QP_MIN_SAMPLE_ROWS 64

typedef struct qp_row_plan {
	int64_t n_rows;       /* rows of the tensor */
	int64_t n_sel;        /* rows to measure */
	int64_t *rows;        /* [n_sel] in increasing order */
	bool *take_all;       /* [n_sel] row is in the take-all stratum */
	double *proxy;        /* [n_sel] p_i of each selected row */
	int64_t n_take_all;
	int64_t n_rest;       /* rows outside the take-all stratum */
	double proxy_rest;    /* sum of p_i over them */
	double w2;            /* sum of w^2 over the whole tensor (exact) */
} qp_row_plan;

int qp_row_plan_make(const qp_tensor_ref *t, double frac, uint64_t seed,
		     int threads, qp_row_plan *plan, qp_err *e);
void qp_row_plan_free(qp_row_plan *plan);

/* Sums of a per-row quantity y (an error) over the measured rows. */
typedef struct qp_strata_sums {
	double take_all_y;              /* take-all stratum: exact part */
	double y, y2, p, p2, yp;        /* sampled rows */
	int64_t n;                      /* sampled rows */
} qp_strata_sums;

void qp_strata_add(qp_strata_sums *s, bool take_all, double y, double p);
void qp_strata_merge(qp_strata_sums *into, const qp_strata_sums *from);

/* Estimated total of y over all rows from the sums (a point estimate:
 * the regression estimator on the proxy for the sampled stratum). */
void qp_strata_total(const qp_row_plan *plan, const qp_strata_sums *s,
		     double *total);

/* The same estimate from y[i] of each measured row (indexed like
 * plan->rows), with its 95% interval [lo, hi]: Student t on the
 * regression residuals with the finite-population correction, centred
 * with Johnson's correction for their skewness (row errors are right-
 * skewed, which leaves a plain t interval too low).  lo = hi = total when
 * every row was measured; NaN when too few rows were sampled to say. */
void qp_row_estimate(const qp_row_plan *plan, const double *y, double *total,
		     double *lo, double *hi);

#endif
