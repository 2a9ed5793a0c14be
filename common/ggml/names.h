/* names.h — what a GGUF tensor name says about the tensor.
 *
 * Promise: from a GGUF tensor name, the layer (from "blk.N.", -1 for global
 * tensors), the role (the name without "blk.N." and without the final
 * ".weight"/".bias" suffix — the GGUF suffix itself is the role, so new
 * architectures need no table change) and a role family used for
 * weighting.  Never fails: a name it cannot read has layer -1, the whole
 * name as role, and family "other".
 */
#ifndef QP_NAMES_H
#define QP_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum qp_family {
	QP_FAM_ATTENTION,
	QP_FAM_FFN,
	QP_FAM_EXPERT,
	QP_FAM_SHEXP,
	QP_FAM_ROUTER,
	QP_FAM_NORM,
	QP_FAM_EMBEDDING,
	QP_FAM_OUTPUT,
	QP_FAM_SSM,
	QP_FAM_OTHER,
	QP_FAM_COUNT
} qp_family;

typedef struct qp_tensor_name {
	int layer;         /* N of "blk.N.", else -1 */
	char role[96];     /* "attn_q", "ffn_down_exps", "token_embd", ... */
	qp_family family;
} qp_tensor_name;

void qp_parse_tensor_name(const char *name, qp_tensor_name *out);

/* Whether layer (from a tensor's name) can be a layer of its model, so a
 * per-layer table sized by it stays as small as the model: below
 * block_count when the model states it (> 0); otherwise below n_tensors
 * (every layer holds at least one tensor, so a model of n tensors has no
 * layer numbered n or more).  Fails naming the tensor and the bound. */
int qp_layer_in_model(int layer, int64_t block_count, size_t n_tensors,
		      const char *name, qp_err *e);

/* "attention", "ffn", "expert", "shared-expert", "router", "norm",
 * "embedding", "output", "ssm", "other" */
const char *qp_family_name(qp_family f);

#endif
