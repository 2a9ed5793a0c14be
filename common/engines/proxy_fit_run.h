/* proxy_fit_run.h — what proxy-fit does with one model: its measured
 * runs, the proxy that predicts, the batch written back with predictions.
 *
 * Promise: qp_fit_job_model() is a qp_on_model (model_batch.h).  It reads
 * the batch's measure and recipe records as configurations of the
 * model's tensors (proxy_batch.h).  The target is the one asked for, else
 * the given fit's, else kld_mean unless the measures give only
 * ln_ppl_ratio.  A measure that has the target is a run, except when the
 * value is NaN, infinite or (kld_mean) negative: left out with a warning;
 * the same configuration measured twice is one run with the mean.  The
 * proxy is the given fit (--fit), or the uncalibrated prior (--prior, or
 * fewer than two runs), or one fitted on the runs (proxy_fit.h), with
 * --cv K figures when there are at least 2K runs.  The batch is written
 * in stream order (proxy_fit_rec.h): tensors with their proxy key,
 * measures and recipes with pred (and resid on the runs), an earlier fit
 * record dropped, the new fit record (and the --propose proposals) right
 * after the last tensor.  Warnings go to the job's sink.
 *
 * qp_fit_job_load_imatrix keeps the tensor records of a file (qerr-measure
 * --imatrix output) for the imatrix view; qp_fit_job_load_fit takes the
 * first fit record of a file as the given fit.  Both fail with what is
 * wrong inside the file; the caller names it.
 */
#ifndef QP_PROXY_FIT_RUN_H
#define QP_PROXY_FIT_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "model_batch.h"
#include "proxy.h"

/* What the command line asks for. */
typedef struct qp_fit_ask {
	const char *target;  /* "kld_mean", "ln_ppl_ratio", or NULL: see above */
	double level;        /* interval level */
	bool prior;          /* predict with the prior even with runs */
	int cv;              /* K of --cv, 0: none */
	int form, metric;    /* the only proxy form and metric, -1: all */
	int propose;         /* proposals to write, 0: none */
} qp_fit_ask;

typedef struct qp_fit_job {
	const qp_fit_ask *ask;
	qp_warn warn;           /* warnings (err.h) */
	qp_kept_record *imat;   /* tensor records of the imatrix run, owned */
	size_t n_imat;
	qp_proxy *given;        /* the given fit, owned, or NULL */
} qp_fit_job;

int qp_fit_job_load_imatrix(qp_fit_job *j, const char *path, qp_err *e);
int qp_fit_job_load_fit(qp_fit_job *j, const char *path, qp_err *e);
void qp_fit_job_free(qp_fit_job *j);

/* A qp_on_model; ctx is a qp_fit_job. */
int qp_fit_job_model(void *ctx, const qp_model_batch *b, qp_writer *w,
		     qp_err *e);

#endif
