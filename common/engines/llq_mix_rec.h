/* llq_mix_rec.h — llq_mix's model from gguf-dump records.
 *
 * Promise: fills a qp_llq_model from a `model` record map (arch,
 * hyper.n_layer/n_head/n_head_kv/n_expert/n_embd, and from kv the
 * per-layer head counts' first element and nextn_predict_layers when
 * present) and from `tensor` record maps (name, shape, type, or type_id
 * for a type the table does not know).  A missing or malformed field is
 * an error naming it; nothing here exits.
 */
#ifndef QP_LLQ_MIX_REC_H
#define QP_LLQ_MIX_REC_H

#include <msgpack.h>

#include "err.h"
#include "llq_mix.h"

int qp_llq_model_set(qp_llq_model *m, const msgpack_object *model_map,
		     qp_err *e);
int qp_llq_model_add(qp_llq_model *m, const msgpack_object *tensor_map,
		     qp_err *e);

#endif
