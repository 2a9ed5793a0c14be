/* llq_size.c — the header llama-quantize writes, byte for byte in size. */
#include "llq_size.h"

#include <string.h>

static int is_key(const qp_gguf_kv *kv, const char *name)
{
	return qp_gguf_str_eq(kv->key, name);
}

/* Encoded size of one KV pair: key (u64 length + bytes), type, value. */
static uint64_t kv_size(const qp_gguf_kv *kv)
{
	uint64_t n = 8 + kv->key.len + 4;
	const qp_gguf_value *v = &kv->value;
	switch (v->type) {
	case QP_GGUF_U8: case QP_GGUF_I8: case QP_GGUF_BOOL: return n + 1;
	case QP_GGUF_U16: case QP_GGUF_I16: return n + 2;
	case QP_GGUF_U32: case QP_GGUF_I32: case QP_GGUF_F32: return n + 4;
	case QP_GGUF_U64: case QP_GGUF_I64: case QP_GGUF_F64: return n + 8;
	case QP_GGUF_STRING: return n + 8 + v->v.s.len;
	case QP_GGUF_ARRAY: return n + 4 + 8 + v->v.arr.nbytes;
	default: return n;
	}
}

static uint64_t new_u32_size(const char *key)
{
	return 8 + strlen(key) + 4 + 4;
}

static uint64_t new_str_size(const char *key, const char *val)
{
	size_t l = strlen(val);
	if (l > 127)
		l = 127; /* llama_model_kv_override.val_str is char[128] */
	return 8 + strlen(key) + 4 + 8 + l;
}

static const char *const removed_keys[] = {
	"split.no", "split.count", "split.tensors.count",
};

int qp_llq_layout_of(const qp_gguf *g, const qp_llq_imatrix_kv *im,
		     qp_llq_layout *out, qp_err *e)
{
	memset(out, 0, sizeof *out);
	/* keys llama-quantize sets; each replaces a same-named source key */
	const char *set_u32[4];
	int n_set = 0;
	set_u32[n_set++] = "general.quantization_version";
	set_u32[n_set++] = "general.file_type";
	const char *set_str[2];
	const char *str_val[2];
	int n_str = 0;
	if (im) {
		set_str[n_str] = "quantize.imatrix.file";
		str_val[n_str++] = im->file ? im->file : "";
		if (im->dataset) {
			set_str[n_str] = "quantize.imatrix.dataset";
			str_val[n_str++] = im->dataset;
		}
		set_u32[n_set++] = "quantize.imatrix.entries_count";
		if (im->n_chunks > 0)
			set_u32[n_set++] = "quantize.imatrix.chunks_count";
	}
	uint64_t bytes = 4 + 4 + 8 + 8, n_kv = 0;
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const qp_gguf_kv *kv = &g->kv[i];
		int drop = 0;
		for (size_t r = 0; r < sizeof removed_keys / sizeof *removed_keys; r++)
			drop |= is_key(kv, removed_keys[r]);
		for (int s = 0; s < n_set; s++)
			drop |= is_key(kv, set_u32[s]);
		for (int s = 0; s < n_str; s++)
			drop |= is_key(kv, set_str[s]);
		if (drop)
			continue;
		bytes += kv_size(kv);
		n_kv++;
	}
	for (int s = 0; s < n_set; s++) {
		bytes += new_u32_size(set_u32[s]);
		n_kv++;
	}
	for (int s = 0; s < n_str; s++) {
		bytes += new_str_size(set_str[s], str_val[s]);
		n_kv++;
	}
	uint64_t elements = 0;
	for (uint64_t t = 0; t < g->n_tensors; t++) {
		const qp_gguf_tensor *ti = &g->tensors[t];
		/* ggml_n_dims: trailing dimensions of 1 are not written */
		uint32_t nd = 1;
		for (uint32_t d = 0; d < QP_GGUF_MAX_DIMS; d++)
			if (ti->ne[d] > 1)
				nd = d + 1;
		bytes += 8 + ti->name.len + 4 + 8 * (uint64_t)nd + 4 + 8;
		if (elements + ti->n_elem < elements)
			return qp_fail(e, "element count overflows 64 bits");
		elements += ti->n_elem;
	}
	out->meta_bytes = qp_llq_padded(bytes);
	out->n_kv = n_kv;
	out->n_elements = elements;
	return 0;
}

uint64_t qp_llq_padded(uint64_t n_bytes)
{
	return (n_bytes + QP_LLQ_ALIGNMENT - 1) / QP_LLQ_ALIGNMENT * QP_LLQ_ALIGNMENT;
}

double qp_llq_bpw(uint64_t tensor_bytes, uint64_t n_elements)
{
	return n_elements ? (double)tensor_bytes * 8.0 / (double)n_elements : 0;
}
