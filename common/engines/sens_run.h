/* sens_run.h — what sens-score does with its records: each model scored,
 * a shard's tensors measured (--shard I/N), the shards' outputs merged.
 *
 * Promise: a runner made by qp_sens_runner_new measures every tensor of a
 * model (stats, imat, the sens parts), scores them over their model and
 * writes the batch in stream order with the profile record right after
 * the model's last tensor; a shard run writes its own tensors measured,
 * not scored, and the merge of the shards' outputs writes, byte for byte,
 * what the unsharded run writes.  It never exits and never names the
 * record stream it reads (the caller does); errors in the importance
 * matrix are named by the path the caller gave.  Warnings (a tensor
 * passed through unscored, tensors the imatrix does not cover) go to
 * stderr under cfg.prog unless cfg.quiet.
 */
#ifndef QP_SENS_RUN_H
#define QP_SENS_RUN_H

#include <stdbool.h>

#include "filter.h"
#include "model_batch.h"
#include "shard.h"

typedef struct qp_sens_run_cfg {
	const char *prog;    /* names the program in warnings */
	const char *imatrix; /* importance matrix path, or NULL */
	bool no_svd;
	long svd_rank;  /* 0: the default */
	long svd_iters; /* -1: the default */
	double mem_bw;  /* GB/s, 0: no decode-speed estimate */
	int threads;
	bool quiet;
	bool sharded; /* measure only shard */
	qp_shard_spec shard;
	bool merge; /* merge the shards' outputs (no measuring options) */
} qp_sens_run_cfg;

typedef struct qp_sens_runner qp_sens_runner;

/* Loads the imatrix and what the work needs.  0, or -1 with e set (an
 * imatrix error prefixed with its path) and *out NULL. */
int qp_sens_runner_new(const qp_sens_run_cfg *cfg, qp_sens_runner **out,
		       qp_err *e);
void qp_sens_runner_free(qp_sens_runner *r);

/* The unsharded run: a model filter that scores each model (and drops a
 * profile from an earlier run). */
const qp_model_filter *qp_sens_runner_model_filter(const qp_sens_runner *r);

/* --shard or --merge: the record filter that runs it, over every operand
 * (f->prog and f->ctx set too). */
void qp_sens_runner_filter(qp_sens_runner *r, qp_filter *f);

#endif
