#include "gguf_rec.h"

#include <stdio.h>
#include <string.h>

#include "names.h"
#include "rec.h"
#include "types.h"

static void pack_gstr(msgpack_packer *pk, qp_gguf_str s)
{
	qp_pack_strn(pk, s.ptr, (size_t)s.len);
}

static void pack_value(msgpack_packer *pk, const qp_gguf_value *v, bool full);

static void pack_array(msgpack_packer *pk, const qp_gguf_value *v, bool full)
{
	if (!full && v->v.arr.n > QP_KV_ARRAY_INLINE) {
		msgpack_pack_map(pk, 2);
		qp_pack_key_str(pk, "type", qp_gguf_vtype_name(v->v.arr.elem_type));
		qp_pack_key_uint(pk, "n", v->v.arr.n);
		return;
	}
	msgpack_pack_array(pk, (size_t)v->v.arr.n);
	qp_gguf_iter it;
	qp_gguf_value el;
	qp_gguf_iter_init(&it, v);
	while (qp_gguf_iter_next(&it, &el))
		pack_value(pk, &el, full);
}

static void pack_value(msgpack_packer *pk, const qp_gguf_value *v, bool full)
{
	switch (v->type) {
	case QP_GGUF_U8: case QP_GGUF_U16: case QP_GGUF_U32: case QP_GGUF_U64:
		msgpack_pack_uint64(pk, v->v.u);
		break;
	case QP_GGUF_I8: case QP_GGUF_I16: case QP_GGUF_I32: case QP_GGUF_I64:
		msgpack_pack_int64(pk, v->v.i);
		break;
	case QP_GGUF_F32: msgpack_pack_float(pk, (float)v->v.f); break;
	case QP_GGUF_F64: msgpack_pack_double(pk, v->v.f); break;
	case QP_GGUF_BOOL:
		if (v->v.b)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		break;
	case QP_GGUF_STRING: pack_gstr(pk, v->v.s); break;
	case QP_GGUF_ARRAY: pack_array(pk, v, full); break;
	default: msgpack_pack_nil(pk);
	}
}

/* An integer key, or the largest element of an integer array (per-layer
 * values such as some models' feed_forward_length). */
static bool kv_int_or_max(const qp_gguf *g, const char *key, int64_t *out)
{
	if (qp_gguf_get_int(g, key, out))
		return true;
	const qp_gguf_kv *kv = qp_gguf_find(g, key);
	if (!kv || kv->value.type != QP_GGUF_ARRAY || kv->value.v.arr.n == 0)
		return false;
	qp_gguf_iter it;
	qp_gguf_value el;
	bool any = false;
	qp_gguf_iter_init(&it, &kv->value);
	while (qp_gguf_iter_next(&it, &el)) {
		int64_t x;
		if (el.type == QP_GGUF_ARRAY || el.type == QP_GGUF_STRING ||
		    el.type == QP_GGUF_BOOL || el.type == QP_GGUF_F32 ||
		    el.type == QP_GGUF_F64)
			return false;
		x = (el.type == QP_GGUF_I8 || el.type == QP_GGUF_I16 ||
		     el.type == QP_GGUF_I32 || el.type == QP_GGUF_I64)
			    ? el.v.i : (int64_t)el.v.u;
		if (!any || x > *out)
			*out = x;
		any = true;
	}
	return any;
}

static bool arch_int(const qp_gguf *g, const char *arch, const char *suffix,
		     int64_t *out)
{
	char key[256];
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	return kv_int_or_max(g, key, out);
}

typedef struct hyper_field {
	const char *name;
	bool known, optional;
	int64_t value;
} hyper_field;

enum { H_LAYER, H_EMBD, H_FF, H_HEAD, H_HEAD_KV, H_HEAD_DIM, H_VOCAB, H_CTX,
       H_EXPERT, H_EXPERT_USED, H_SWA, H_COUNT };

static void hyper_fill(const qp_model_desc *m, const char *arch,
		       hyper_field *h)
{
	static const char *const names[H_COUNT] = {
		"n_layer", "n_embd", "n_ff", "n_head", "n_head_kv", "head_dim",
		"n_vocab", "n_ctx_train", "n_expert", "n_expert_used",
		"sliding_window"};
	static const char *const keys[H_COUNT] = {
		"block_count", "embedding_length", "feed_forward_length",
		"attention.head_count", "attention.head_count_kv",
		"attention.key_length", "vocab_size", "context_length",
		"expert_count", "expert_used_count", "attention.sliding_window"};
	const qp_gguf *g = m->g;
	for (int i = 0; i < H_COUNT; i++) {
		h[i] = (hyper_field){names[i], false, i >= H_EXPERT, 0};
		h[i].known = arch && arch_int(g, arch, keys[i], &h[i].value);
	}
	if (!h[H_HEAD_KV].known && h[H_HEAD].known) /* llama.cpp's default */
		h[H_HEAD_KV] = (hyper_field){"n_head_kv", true, false,
					     h[H_HEAD].value};
	if (!h[H_HEAD_DIM].known && h[H_HEAD].known && h[H_EMBD].known &&
	    h[H_HEAD].value > 0)
		h[H_HEAD_DIM] = (hyper_field){"head_dim", true, false,
					      h[H_EMBD].value / h[H_HEAD].value};
	const qp_gguf_kv *tokens = qp_gguf_find(g, "tokenizer.ggml.tokens");
	if (tokens && tokens->value.type == QP_GGUF_ARRAY)
		h[H_VOCAB] = (hyper_field){"n_vocab", true, false,
					   (int64_t)tokens->value.v.arr.n};
	else if (!h[H_VOCAB].known && m->n_vocab_from_embd >= 0)
		h[H_VOCAB] = (hyper_field){"n_vocab", true, false,
					   m->n_vocab_from_embd};
}

static void pack_hyper(msgpack_packer *pk, const qp_model_desc *m,
		       const char *arch)
{
	hyper_field h[H_COUNT];
	hyper_fill(m, arch, h);
	size_t n = 0;
	for (int i = 0; i < H_COUNT; i++)
		n += !h[i].optional || h[i].known;
	msgpack_pack_map(pk, n);
	for (int i = 0; i < H_COUNT; i++) {
		if (h[i].optional && !h[i].known)
			continue;
		qp_pack_str(pk, h[i].name);
		if (h[i].known)
			msgpack_pack_int64(pk, h[i].value);
		else
			msgpack_pack_nil(pk);
	}
}

static void pack_kv(msgpack_packer *pk, const qp_gguf *g, bool full)
{
	msgpack_pack_map(pk, (size_t)g->n_kv);
	for (uint64_t i = 0; i < g->n_kv; i++) {
		pack_gstr(pk, g->kv[i].key);
		pack_value(pk, &g->kv[i].value, full);
	}
}

void qp_pack_model_record(msgpack_packer *pk, const qp_model_desc *m)
{
	const qp_gguf *g = m->g;
	char arch[128] = "";
	qp_gguf_str s;
	if (qp_gguf_get_str(g, "general.architecture", &s) &&
	    s.len < sizeof arch && !memchr(s.ptr, '\0', (size_t)s.len)) {
		memcpy(arch, s.ptr, (size_t)s.len);
		arch[s.len] = '\0';
	}
	msgpack_pack_map(pk, m->n_shards > 1 ? 11 : 10);
	qp_pack_key_str(pk, "kind", "model");
	qp_pack_key_str(pk, "id", m->id);
	qp_pack_key_str(pk, "path", m->path);
	qp_pack_key_str(pk, "format", "gguf");
	qp_pack_str(pk, "arch");
	if (*arch)
		qp_pack_str(pk, arch);
	else
		msgpack_pack_nil(pk);
	qp_pack_key_uint(pk, "n_params", m->n_params);
	qp_pack_key_uint(pk, "n_bytes", m->n_bytes);
	qp_pack_str(pk, "hyper");
	pack_hyper(pk, m, *arch ? arch : NULL);
	qp_pack_str(pk, "gguf");
	msgpack_pack_map(pk, 4);
	qp_pack_key_uint(pk, "version", g->version);
	qp_pack_key_uint(pk, "alignment", g->alignment);
	qp_pack_key_uint(pk, "n_kv", g->n_kv);
	qp_pack_key_uint(pk, "n_tensors", m->n_tensors);
	if (m->n_shards > 1)
		qp_pack_key_int(pk, "n_shards", m->n_shards);
	qp_pack_str(pk, "kv");
	pack_kv(pk, g, m->kv_full);
}

void qp_pack_tensor_record(msgpack_packer *pk, const char *model_id,
			   const qp_gguf_tensor *t, const char *path, int extra)
{
	char name[512], tname[16];
	size_t nlen = t->name.len < sizeof name ? (size_t)t->name.len
						: sizeof name - 1;
	memcpy(name, t->name.ptr, nlen);
	name[nlen] = '\0';
	qp_tensor_name tn;
	qp_parse_tensor_name(name, &tn);
	msgpack_pack_map(pk, (size_t)(12 + !t->size_known + extra));
	qp_pack_key_str(pk, "kind", "tensor");
	qp_pack_key_str(pk, "model", model_id);
	qp_pack_str(pk, "name");
	pack_gstr(pk, t->name);
	qp_pack_key_int(pk, "layer", tn.layer);
	qp_pack_key_str(pk, "role", tn.role);
	qp_pack_key_str(pk, "family", qp_family_name(tn.family));
	qp_pack_str(pk, "shape");
	msgpack_pack_array(pk, t->n_dims);
	for (uint32_t d = 0; d < t->n_dims; d++)
		msgpack_pack_int64(pk, t->ne[d]);
	qp_pack_key_str(pk, "type", qp_type_name(t->type, tname));
	if (!t->size_known)
		qp_pack_key_uint(pk, "type_id", t->type);
	qp_pack_key_uint(pk, "n_elem", t->n_elem);
	qp_pack_str(pk, "n_bytes");
	if (t->size_known)
		msgpack_pack_uint64(pk, t->n_bytes);
	else
		msgpack_pack_nil(pk);
	qp_pack_key_str(pk, "path", path);
	qp_pack_key_uint(pk, "offset", t->offset);
}
