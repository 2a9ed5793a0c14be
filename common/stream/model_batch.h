/* model_batch.h — filters that must see a whole model before writing.
 *
 * Promise: qp_model_filter_pipe() runs a record filter whose unit of work
 * is one model.  It keeps (qp_record_keep) every record from a model's
 * first tensor record up to the record that ends the model, checks that
 * the tensors belong together, and then hands the whole batch, in stream
 * order, to on_model(ctx, batch, writer, err).  The filter writes the
 * batch's records itself (enriched, or unchanged with
 * qp_model_batch_pass); nothing of a batch reaches the output unless
 * on_model writes it.  Every record outside a batch is written unchanged,
 * byte for byte, in its place.  The output (meta record first, -o FILE
 * atomic) and error lines are those of qp_filter_pipe.
 *
 * What a batch holds, in stream order:
 *   - the model's tensor records (kind "tensor", field "model" = the id),
 *   - every other record that comes after the model's first tensor and
 *     before the batch ends: records of other kinds that follow a model's
 *     tensors (a `measure` after the tensors, a `fit` record, a stray
 *     `meta` of a concatenated stream) are items of the batch, so the
 *     filter reaches them and decides where they go.
 * A batch ends (on_model is called) at:
 *   - a tensor record of another model,
 *   - a "model" record (it is then kept, see below, and passed through),
 *   - the end of an operand, unless across_operands is set: then only the
 *     end of the last operand ends the last batch (proxy-fit reads the
 *     model on stdin and the runs from the next file: `proxy-fit - runs.mp`).
 * Records before a model's first tensor (meta, model, ...) are not in any
 * batch: they pass through at once, or, when the filter sets on_outside,
 * go to on_outside (a filter that reads `measure` records wherever they
 * are, say); "model" records always pass through.
 *
 * Checks (one error, exit 1): a tensor record without a string "model";
 * a model id of 256 bytes or more; tensors of a model that come after
 * that model's batch ended ("record N (byte offset X): tensors of model
 * 'M' are not contiguous in the stream").
 *
 * Every "model" record seen is kept for the rest of the run: batch->model
 * is the last one whose "id" is the batch's id (NULL when the stream has
 * none), so a filter reads the model's hyper map from it.
 *
 * drop_kinds (NULL-terminated list, or NULL) names records the filter
 * replaces, typically its own output of an earlier run (sens-score's
 * "profile"): they are consumed wherever they appear and never reach a
 * batch or the output.
 *
 * Lifetime: the batch and every record in it are valid during on_model
 * only; copy what must outlive it.  on_model returns 0, or -1 with a
 * message in e naming what is wrong inside the input (a tensor, a field):
 * the caller adds the program and the operand.
 *
 * A filter that mixes whole-model work with other loops can drive the
 * same machinery itself: qp_model_stream_new, then qp_model_stream_record
 * for each record and qp_model_stream_end where a batch must end.
 */
#ifndef QP_MODEL_BATCH_H
#define QP_MODEL_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "filter.h" /* qp_filter_parse, and the pipe underneath */
#include "rec.h"

#define QP_MODEL_ID_MAX 256 /* bytes of a model id, with its NUL */

typedef struct qp_model_item {
	qp_kept_record k; /* k.rec is the record, k.raw its exact bytes */
	bool is_tensor;   /* kind "tensor" (of this batch's model) */
} qp_model_item;

typedef struct qp_model_batch {
	char id[QP_MODEL_ID_MAX]; /* the model id, NUL-terminated */
	size_t id_len;
	const qp_record *model;   /* its "model" record, or NULL */
	qp_model_item *items;     /* every record of the batch, stream order */
	size_t n_items;
	size_t n_tensors;         /* tensor items among them */
	size_t last_tensor;       /* index in items of the last tensor */
} qp_model_batch;

typedef int (*qp_on_model)(void *ctx, const qp_model_batch *b, qp_writer *w,
			   qp_err *e);

typedef struct qp_model_filter {
	const char *prog;
	qp_on_model on_model;
	void *ctx;
	const char *const *drop_kinds; /* NULL-terminated, or NULL */
	bool across_operands;          /* see above */
	/* NULL: records outside a batch pass through unchanged. */
	int (*on_outside)(void *ctx, const qp_record *rec, qp_writer *w,
			  qp_err *e);
} qp_model_filter;

/* The whole filter: output opened, meta written, every operand read,
 * batches handed to on_model, output closed.  Returns the exit status. */
int qp_model_filter_pipe(const qp_model_filter *mf, const qp_common *c,
			 int argc, char **argv);

/* The same work for a filter whose output is not records (recipe-emit's
 * text forms): every operand read (standard input without operands), the
 * batches handed to on_model with a writer whose records go nowhere, no
 * meta record, no output opened.  The first failure is reported as
 * "prog: OPERAND: what" and ends the run.  Returns the exit status. */
int qp_model_filter_drain(const qp_model_filter *mf, const qp_common *c);

/* Writes item i of b unchanged (pass-through). */
int qp_model_batch_pass(const qp_model_batch *b, size_t i, qp_writer *w,
			qp_err *e);

/* ---- the machinery, for filters that drive it themselves --------------- */

typedef struct qp_model_stream qp_model_stream;

/* NULL on allocation failure. mf is borrowed (prog is not used here). */
qp_model_stream *qp_model_stream_new(const qp_model_filter *mf);
void qp_model_stream_free(qp_model_stream *s);
/* Takes one record: keeps it in the open batch, starts or ends a batch,
 * passes it through, or drops it. */
int qp_model_stream_record(qp_model_stream *s, const qp_record *rec,
			   qp_writer *w, qp_err *e);
/* Ends the open batch, if any (calls on_model). */
int qp_model_stream_end(qp_model_stream *s, qp_writer *w, qp_err *e);

#endif
