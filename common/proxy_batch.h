/* proxy_batch.h — one model's tensors and configurations, as proxy-fit and
 * recipe-emit see them.
 *
 * Promise: qp_proxy_model_init reads a model batch (model_batch.h): every
 * tensor record becomes a qp_proxy_tensor (proxy.h) with the model's
 * n_layer (model record hyper.n_layer, else 1 + the largest blk.N) and the
 * element total of the tensors that carry qerr; an optional second set of
 * tensor records (the same model measured by qerr-measure --imatrix) gives
 * the view used for configurations quantized with an imatrix.  Tensor
 * names are found by binary search, so a configuration of T tensors costs
 * O(T log T).  qp_proxy_config reads a `measure` or `recipe` record's
 * types map into one type per tensor: a name the model lacks is an error
 * naming it; a tensor the map leaves out keeps its base type (term 0).
 * The borrowed records must outlive the model.
 */
#ifndef QP_PROXY_BATCH_H
#define QP_PROXY_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "model_batch.h"
#include "proxy.h"

typedef struct qp_proxy_model {
	char id[QP_MODEL_ID_MAX];
	int n_layer;
	int n_tensors;
	qp_proxy_tensor *plain;  /* n_tensors, the batch's tensors in order */
	qp_proxy_tensor *imat;   /* n_tensors, or NULL: no imatrix view */
	int *by_name;            /* indices sorted by name */
	size_t *item_of;         /* batch item index of each tensor */
} qp_proxy_model;

/* imat_recs: n_imat tensor records of the same model measured with an
 * imatrix (may be 0); each must name a tensor of the batch. */
int qp_proxy_model_init(qp_proxy_model *m, const qp_model_batch *b,
			const qp_record *const *imat_recs, size_t n_imat,
			qp_err *e);
void qp_proxy_model_free(qp_proxy_model *m);
int qp_proxy_model_find(const qp_proxy_model *m, const char *name);

/* A configuration: one type name per tensor (NULL = base type). */
typedef struct qp_proxy_config {
	int n;
	char (*buf)[16];
	const char **types;
	bool imatrix;        /* the record's "imatrix" is true */
	int n_named;         /* tensors the types map named */
} qp_proxy_config;

/* From a record's "types" map; a record without one gets n_named 0. */
int qp_proxy_config_read(const qp_proxy_model *m, const msgpack_object *rec,
			 qp_proxy_config *c, qp_err *e);
void qp_proxy_config_free(qp_proxy_config *c);
/* True when two configurations give every tensor the same type and the
 * same imatrix flag. */
bool qp_proxy_config_same(const qp_proxy_config *a, const qp_proxy_config *b);
/* The view a configuration's terms come from. */
const qp_proxy_tensor *qp_proxy_model_view(const qp_proxy_model *m,
					   const qp_proxy_config *c);

#endif
