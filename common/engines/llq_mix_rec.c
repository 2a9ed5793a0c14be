/* llq_mix_rec.c — llq_mix model facts from records. */
#include "llq_mix_rec.h"

#include <stdio.h>
#include <string.h>

#include "rec.h"
#include "types.h"

static bool obj_int(const msgpack_object *o, int64_t *out)
{
	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*out = (int64_t)o->via.u64;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return true;
	}
	return false;
}

/* A kv value that may be a per-layer array given in full: its first
 * element is what llama.cpp's n_head(0) / n_head_kv(0) read. */
static bool kv_first_int(const msgpack_object *kv, const char *arch,
			 const char *suffix, int64_t *out)
{
	char key[160];
	if (!kv || kv->type != MSGPACK_OBJECT_MAP || !*arch)
		return false;
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	const msgpack_object *o = qp_map_get(kv, key);
	if (o && o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size > 0)
		return obj_int(&o->via.array.ptr[0], out);
	return obj_int(o, out);
}

int qp_llq_model_set(qp_llq_model *m, const msgpack_object *model,
		     qp_err *e)
{
	const msgpack_object *arch = qp_map_get(model, "arch");
	m->arch[0] = '\0';
	if (arch && arch->type == MSGPACK_OBJECT_STR &&
	    arch->via.str.size < sizeof m->arch &&
	    !memchr(arch->via.str.ptr, '\0', arch->via.str.size)) {
		memcpy(m->arch, arch->via.str.ptr, arch->via.str.size);
		m->arch[arch->via.str.size] = '\0';
	}
	const msgpack_object *hy = qp_map_get(model, "hyper");
	if (!hy || hy->type != MSGPACK_OBJECT_MAP)
		return qp_fail(e, "model record without a \"hyper\" map");
	const msgpack_object *kv = qp_map_get(model, "kv");
	if (!obj_int(qp_map_get(hy, "n_layer"), &m->n_layer_all) ||
	    m->n_layer_all <= 0 || m->n_layer_all > 4096)
		return qp_fail(e, "model has no usable hyper.n_layer "
			       "(block_count): llama-quantize cannot load it");
	if (!kv_first_int(kv, m->arch, "attention.head_count", &m->n_head) &&
	    !obj_int(qp_map_get(hy, "n_head"), &m->n_head))
		m->n_head = 0;
	if (!kv_first_int(kv, m->arch, "attention.head_count_kv",
			  &m->n_head_kv) &&
	    !obj_int(qp_map_get(hy, "n_head_kv"), &m->n_head_kv))
		m->n_head_kv = m->n_head; /* llama.cpp's default */
	if (!obj_int(qp_map_get(hy, "n_expert"), &m->n_expert))
		m->n_expert = 0;
	if (!obj_int(qp_map_get(hy, "n_embd"), &m->n_embd))
		m->n_embd = 0;
	if (!kv_first_int(kv, m->arch, "nextn_predict_layers",
			  &m->n_layer_nextn))
		m->n_layer_nextn = 0;
	if (m->n_head < 0 || m->n_head_kv < 0 || m->n_expert < 0 ||
	    m->n_layer_nextn < 0 || m->n_layer_nextn > m->n_layer_all)
		return qp_fail(e, "model has negative head, expert or "
			       "layer counts");
	return 0;
}

int qp_llq_model_add(qp_llq_model *m, const msgpack_object *rec, qp_err *e)
{
	const msgpack_object *name = qp_map_get(rec, "name");
	const msgpack_object *shape = qp_map_get(rec, "shape");
	const msgpack_object *type = qp_map_get(rec, "type");
	if (!name || name->type != MSGPACK_OBJECT_STR ||
	    memchr(name->via.str.ptr, '\0', name->via.str.size))
		return qp_fail(e, "tensor record without a \"name\" string");
	char nm[512];
	if (name->via.str.size >= sizeof nm)
		return qp_fail(e, "tensor name is too long");
	memcpy(nm, name->via.str.ptr, name->via.str.size);
	nm[name->via.str.size] = '\0';
	if (!shape || shape->type != MSGPACK_OBJECT_ARRAY ||
	    shape->via.array.size < 1 || shape->via.array.size > 4)
		return qp_fail(e, "tensor \"%s\": field \"shape\" is not an "
			       "array of 1 to 4 sizes", nm);
	int64_t ne[4];
	for (uint32_t i = 0; i < shape->via.array.size; i++)
		if (!obj_int(&shape->via.array.ptr[i], &ne[i]) || ne[i] < 0)
			return qp_fail(e, "tensor \"%s\": field \"shape\" "
				       "holds a bad size", nm);
	uint32_t tid = QP_LLQ_NO_TYPE;
	if (type && type->type == MSGPACK_OBJECT_STR && type->via.str.size < 32) {
		char tn[32];
		memcpy(tn, type->via.str.ptr, type->via.str.size);
		tn[type->via.str.size] = '\0';
		const qp_type_info *ti = qp_type_info_by_name(tn);
		if (ti)
			tid = ti->id;
	}
	int64_t id;
	if (tid == QP_LLQ_NO_TYPE && obj_int(qp_map_get(rec, "type_id"), &id) &&
	    id >= 0 && id < 1 << 16)
		tid = (uint32_t)id;
	if (tid == QP_LLQ_NO_TYPE)
		return qp_fail(e, "tensor \"%s\": no usable \"type\"", nm);
	return qp_llq_model_add_tensor(m, nm, (int)shape->via.array.size, ne,
				       tid, e);
}

