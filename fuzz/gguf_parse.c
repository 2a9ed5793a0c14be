/* libFuzzer target for the GGUF reader: parse with the whole input as the
 * file, walk every array (nested ones too), free. */
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t walk(const qp_gguf_value *arr, int depth)
{
	qp_gguf_iter it;
	qp_gguf_value v;
	uint64_t n = 0;
	qp_gguf_iter_init(&it, arr);
	while (qp_gguf_iter_next(&it, &v)) {
		n++;
		if (v.type == QP_GGUF_ARRAY && depth < 16)
			n += walk(&v, depth + 1);
		else if (v.type == QP_GGUF_STRING && v.v.s.len)
			n += (uint8_t)v.v.s.ptr[v.v.s.len - 1];
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	qp_gguf g;
	qp_err e;
	volatile uint64_t sink = 0;
	if (qp_gguf_parse(data, size, size, &g, &e) == 0) {
		for (uint64_t i = 0; i < g.n_kv; i++) {
			const qp_gguf_kv *kv = &g.kv[i];
			if (kv->key.len)
				sink += (uint8_t)kv->key.ptr[kv->key.len - 1];
			if (kv->value.type == QP_GGUF_ARRAY)
				sink += walk(&kv->value, 0);
		}
		for (uint64_t i = 0; i < g.n_tensors; i++) {
			const qp_gguf_tensor *t = &g.tensors[i];
			if (t->size_known && t->n_bytes)
				sink += data[t->offset + t->n_bytes - 1];
		}
		qp_gguf_free(&g);
	}
	/* the stream protocol on a prefix must not crash either */
	if (qp_gguf_parse(data, size / 2, QP_GGUF_SIZE_UNKNOWN, &g, &e) == 0)
		qp_gguf_free(&g);
	(void)sink;
	return 0;
}
