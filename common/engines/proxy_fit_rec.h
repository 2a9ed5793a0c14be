/* proxy_fit_rec.h — the records proxy-fit writes.
 *
 * Promise: qp_fit_pack_pred packs a prediction as the pred map {target,
 * value, lo, hi, level, calibrated, baselines} (each baseline only where
 * its source defines it, baselines.h).  qp_fit_pack_record packs the fit
 * record: kind, model, the proxy's fields (proxy.h), the evaluation on
 * the measured runs, cv when it was run, the candidates the fit compared
 * (those not skipped), how each baseline ranks the runs, the notes; a
 * figure that is not finite is nil.  qp_fit_write_tensor writes a tensor
 * record with proxy {weight, terms {TYPE: term}} for the types its qerr
 * measured (a tensor without qerr passes unchanged).  qp_fit_write_proposal
 * writes a proposal (propose.h) as a recipe record (recipe.h) with its
 * pred, label and quantize_args.  qp_fit_proxy_copy copies a proxy by
 * packing its fields and reading them back.
 */
#ifndef QP_PROXY_FIT_REC_H
#define QP_PROXY_FIT_REC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "baselines.h"
#include "err.h"
#include "model_batch.h"
#include "propose.h"
#include "proxy.h"
#include "proxy_batch.h"
#include "proxy_fit.h"

/* One measure or recipe record of the batch. */
typedef struct qp_fit_item {
	size_t at;              /* batch item index */
	bool is_measure;
	qp_proxy_config cfg;
	bool has_result;        /* any result field */
	bool has_target;
	double y;
	bool used;              /* in the fit */
	int dup_of;             /* -1, or the item whose run it joined */
	qp_baselines bl;
	double dppl;            /* measured PPL increase, NaN if unknown */
} qp_fit_item;

/* How a proxy does on the runs it predicts. */
typedef struct qp_fit_eval {
	int n;
	double r2, spearman, kendall, mae, coverage;
} qp_fit_eval;

/* Cross-validation figures of the fitting procedure (--cv K). */
typedef struct qp_fit_cv {
	int k;
	double spearman, mae, mae_frac, coverage;
	bool done;
} qp_fit_cv;

#define QP_FIT_NOTES (QP_FIT_MAX_NOTES + 8)

typedef struct qp_fit_notes {
	char v[QP_FIT_NOTES][256];
	int n;
} qp_fit_notes;

void qp_fit_pack_pred(msgpack_packer *pk, const qp_pred *p,
		      const char *target, const qp_baselines *b);

/* rep: the fit's report, or NULL for a proxy that was not fitted here. */
void qp_fit_pack_record(msgpack_packer *pk, const char *model,
			const qp_proxy *p, const qp_fit_report *rep,
			const qp_fit_eval *ev, const qp_fit_cv *cv,
			const qp_fit_notes *notes, const qp_fit_item *it,
			int n_items);

/* Tensor item i of b, the at-th tensor of m. */
int qp_fit_write_tensor(const qp_proxy_model *m, const qp_proxy *p,
			const qp_model_batch *b, size_t i, int at,
			qp_writer *w, qp_err *e);

int qp_fit_write_proposal(const qp_proxy_model *m, const qp_proxy *p,
			  const qp_proposal *q, double level,
			  const char *target, qp_writer *w, qp_err *e);

/* A private copy of a proxy, through its packed fields (so the copy
 * owns everything it holds). */
int qp_fit_proxy_copy(const qp_proxy *p, qp_proxy **out, qp_err *e);

#endif
