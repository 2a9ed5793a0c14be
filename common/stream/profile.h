/* profile.h — the profile record of one model: where its parameters and
 * bytes are, its architecture facts, and what decoding one token reads.
 *
 * Promise: qp_profile_pack() writes one complete
 * {"kind":"profile","model":ID,...} record from the model's tensors (in
 * any order; output sorted, so it is deterministic) and the hyper map of
 * its model record (when there is one).  Definitions:
 *  - bpw = 8 · bytes / parameters, overall, per role family, per type and
 *    per layer (layer -1 holds the global tensors).
 *  - Mixture of experts: expert tensors are the "expert" family; n_expert
 *    and n_expert_used come from the hyper map (n_expert falls back to the
 *    tensors' ne2).  Active parameters = the rest + expert parameters ·
 *    n_expert_used / n_expert.
 *  - bytes_per_token: what one decoded token reads: every tensor's bytes,
 *    expert tensors at their active share, and token_embd at one row when
 *    the model has a separate output tensor (a lookup, not a matmul).
 *    With a bandwidth B GB/s: tok_per_s = B·10⁹ / bytes_per_token, an upper
 *    bound for memory-bound decoding (KV-cache reads not counted).
 */
#ifndef QP_PROFILE_H
#define QP_PROFILE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "names.h"
#include "tensor_src.h"

typedef struct qp_profile_hyper {
	/* -1 when unknown */
	int64_t n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, n_vocab;
	int64_t n_ctx_train, n_expert, n_expert_used, sliding_window;
} qp_profile_hyper;

/* From a model record's map (its "hyper" field); all -1 when map is NULL
 * or has no hyper. */
void qp_profile_hyper_from_model(const msgpack_object *model_map,
				 qp_profile_hyper *h);

typedef struct qp_profile_tensor {
	char name[256];
	char type[32];
	int layer;
	qp_family family;
	int64_t n_elem;
	uint64_t n_bytes;
	int64_t ne[4];
	int n_dims;
} qp_profile_tensor;

/* The facts of one tensor the profile needs (layer and family from its
 * name). */
void qp_profile_tensor_from_ref(const qp_tensor_ref *t, qp_profile_tensor *p);

/* mem_bw_gbs <= 0: no speed estimate. */
int qp_profile_pack(msgpack_packer *pk, const char *model_id, size_t id_len,
		    const qp_profile_tensor *t, size_t n,
		    const qp_profile_hyper *h, double mem_bw_gbs, qp_err *e);

#endif
