/* fit.h — small dense fitting: non-negative least squares, rank
 * correlations, held-out residual intervals.
 *
 * Promise: qp_nnls solves min ||A x - b||_2 subject to x >= 0 by the
 * Lawson-Hanson active-set method (Lawson and Hanson 1974, ch. 23); every
 * least-squares solve on the passive set is LAPACK's dgelsd (SVD based, so
 * collinear columns give the minimum-norm solution instead of garbage).
 * Columns are scaled to unit norm first (errors of different metrics span
 * many orders of magnitude) and the solution scaled back.  The rank
 * statistics handle ties (average ranks; Kendall's tau-b).  Everything is
 * deterministic: no threads, fixed iteration order.  No global state.
 */
#ifndef QP_FIT_H
#define QP_FIT_H

#include "err.h"

/* A is m x n, column-major (element (i, j) at a[i + j*m]); a and b are not
 * modified.  x gets n values >= 0; *resid_norm (may be NULL) ||Ax - b||.
 * m >= 1, n >= 1. */
int qp_nnls(int m, int n, const double *a, const double *b, double *x,
	    double *resid_norm, qp_err *e);

/* Rank correlations of x and y (n values); NaN when n < 2 or a side is
 * constant. */
double qp_spearman(const double *x, const double *y, int n);
double qp_kendall(const double *x, const double *y, int n);
/* 1 - SSE/SST of pred against y; NaN when y is constant. */
double qp_r2(const double *y, const double *pred, int n);

/* The half-width q of a symmetric held-out interval: the
 * ceil((n + 1) * level)-th smallest of the n absolute residuals (the
 * split-conformal / jackknife quantile, Barber et al. 2021).  When that
 * rank exceeds n the interval cannot reach the level from n residuals:
 * *saturated is set and the largest residual is returned. */
double qp_conformal_q(const double *abs_resid, int n, double level,
		      int *saturated);

#endif
