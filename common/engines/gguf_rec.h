/* gguf_rec.h — model and tensor records from a parsed GGUF (DESIGN.md
 * schema 1: kinds "model" and "tensor").
 *
 * Promise: the model record carries id, path, format, arch, n_params,
 * n_bytes, hyper (from the architecture's own keys; unknown values nil),
 * gguf {version, alignment, n_kv, n_tensors} and kv (every metadata value;
 * arrays longer than QP_KV_ARRAY_INLINE summarised as {type, n} unless
 * kv_full).  A tensor record carries model, name, layer, role, family,
 * shape, type, n_elem, n_bytes (nil when the type is unknown, with
 * type_id), path and absolute offset; the caller adds crc32 and data.
 */
#ifndef QP_GGUF_REC_H
#define QP_GGUF_REC_H

#include <msgpack.h>
#include <stdbool.h>

#include "gguf.h"

#define QP_KV_ARRAY_INLINE 32

typedef struct qp_model_desc {
	const char *id;
	const char *path;
	const qp_gguf *g;      /* the shard holding the metadata */
	uint64_t n_params;     /* over all shards */
	uint64_t n_bytes;      /* tensor data bytes over all shards */
	uint64_t n_tensors;    /* over all shards */
	int64_t n_vocab_from_embd; /* token_embd ne[1], or -1 */
	int n_shards;
	bool kv_full;
} qp_model_desc;

void qp_pack_model_record(msgpack_packer *pk, const qp_model_desc *m);

/* extra: how many more fields the caller will pack into this map after
 * the standard ones (crc32, data). */
void qp_pack_tensor_record(msgpack_packer *pk, const char *model_id,
			   const qp_gguf_tensor *t, const char *path,
			   int extra);

#endif
