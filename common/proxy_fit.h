/* proxy_fit.h — calibrating a proxy on measured runs.
 *
 * Promise: qp_fit_proxy fits every candidate form (proxy.h: total,
 * family, family-depth, role, role-depth) on every error metric (wmse,
 * mse, rel2), each with a link value = sum^p (p on a fixed grid from 0.5
 * to 2; p = 1 is the plain additive form, p > 1 lets the total error
 * interact with itself) and two weightings (relative — least squares on
 * the log scale to first order — and absolute), all by non-negative least
 * squares (fit.h), and keeps the candidate whose leave-one-out
 * predictions have the smallest RMS error on the log scale.  A candidate
 * with more coefficients than the runs can support (n_runs < n_params + 2)
 * is left out, and the report says so.  The interval half-width is the
 * conformal quantile of the absolute held-out log residuals
 * (log(y + eps) - log(pred + eps)); its leave-one-out coverage checks
 * each run against the quantile of the other runs' residuals.
 *
 * Deterministic: fixed candidate order, fixed grid, ties keep the earlier
 * (simpler) candidate.
 */
#ifndef QP_PROXY_FIT_H
#define QP_PROXY_FIT_H

#include <stdbool.h>

#include "err.h"
#include "proxy.h"

/* One measured configuration. */
typedef struct qp_fit_run {
	double y;                        /* the target measured (>= 0) */
	const qp_proxy_tensor *tensors;  /* the model's tensors, their qerr
					  * measured the way this run was
					  * quantized (imatrix or not) */
	int n_tensors;
	const char *const *types;        /* per tensor; NULL: left at base type */
} qp_fit_run;

typedef struct qp_fit_opts {
	const char *target;  /* "kld_mean" or "ln_ppl_ratio" */
	double level;        /* interval level, e.g. 0.95 */
	double eps;          /* log floor (0: 1e-4) */
	int only_metric;     /* -1 all, else a qp_proxy_metric */
	int only_form;       /* -1 all, else a qp_proxy_form */
} qp_fit_opts;

#define QP_FIT_MAX_CAND 64
#define QP_FIT_MAX_NOTES 8

typedef struct qp_fit_cand {
	qp_proxy_form form;
	qp_proxy_metric metric;
	bool relative;
	double power;
	int n_params;
	bool skipped;          /* too few runs */
	double loo_rms_log, loo_spearman;
} qp_fit_cand;

typedef struct qp_fit_report {
	int n, n_params;
	bool relative;
	double r2, spearman, kendall, mae;
	double loo_mae, loo_spearman, loo_r2, loo_coverage;
	double *fitted;   /* n in-sample predictions (caller frees) */
	double *loo_pred; /* n held-out predictions (caller frees) */
	int n_cand;
	qp_fit_cand cand[QP_FIT_MAX_CAND];
	int n_notes;
	char notes[QP_FIT_MAX_NOTES][256];
} qp_fit_report;

/* Needs n_runs >= 2.  *p gets the chosen proxy; rep (may be NULL) the
 * figures (free rep->fitted and rep->loo_pred with qp_fit_report_free). */
int qp_fit_proxy(const qp_fit_run *runs, int n_runs, const qp_fit_opts *o,
		 qp_proxy **p, qp_fit_report *rep, qp_err *e);
void qp_fit_report_free(qp_fit_report *rep);

/* K-fold cross-validation of the whole procedure (selection included):
 * run i is held out in fold i % k; pred, lo, hi get its held-out
 * prediction and interval at o->level. k >= 2, n_runs >= 2k. */
int qp_fit_crossval(const qp_fit_run *runs, int n_runs, int k,
		    const qp_fit_opts *o, double *pred, double *lo, double *hi,
		    qp_err *e);

/* The sum of a proxy's terms over a configuration (NULL types keep the
 * base type). */
int qp_proxy_sum(const qp_proxy *p, const qp_proxy_tensor *tensors,
		 int n_tensors, const char *const *types, double *sum,
		 qp_err *e);

#endif
