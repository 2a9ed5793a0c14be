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

/* "attention", "ffn", "expert", "shared-expert", "router", "norm",
 * "embedding", "output", "ssm", "other" */
const char *qp_family_name(qp_family f);

#endif
