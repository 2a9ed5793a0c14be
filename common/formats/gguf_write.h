/* gguf_write.h — GGUF writer.
 *
 * Promise: produces a valid GGUF v3 file, tensor data aligned to
 * general.alignment (default 32), data streamed tensor by tensor from a
 * callback so a model of any size is written in bounded memory.
 */
#ifndef QP_GGUF_WRITE_H
#define QP_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct qp_gguf_writer qp_gguf_writer;

/* Supplies tensor i's data: writes exactly n_bytes to dst. -1 on failure
 * (message in e). */
typedef int (*qp_gguf_fill_fn)(void *ctx, size_t i, uint8_t *dst,
			       uint64_t n_bytes, qp_err *e);

qp_gguf_writer *qp_gguf_writer_new(void);
void qp_gguf_writer_free(qp_gguf_writer *w);
/* KV setters copy key and value. Alignment comes from a u32
 * "general.alignment" kv when one is set. */
int qp_gguf_w_u32(qp_gguf_writer *w, const char *key, uint32_t v);
int qp_gguf_w_i32(qp_gguf_writer *w, const char *key, int32_t v);
int qp_gguf_w_u64(qp_gguf_writer *w, const char *key, uint64_t v);
int qp_gguf_w_f32(qp_gguf_writer *w, const char *key, float v);
int qp_gguf_w_bool(qp_gguf_writer *w, const char *key, bool v);
int qp_gguf_w_str(qp_gguf_writer *w, const char *key, const char *v);
int qp_gguf_w_arr_str(qp_gguf_writer *w, const char *key,
		      const char *const *v, uint64_t n);
int qp_gguf_w_arr_i32(qp_gguf_writer *w, const char *key, const int32_t *v,
		      uint64_t n);
int qp_gguf_w_arr_f32(qp_gguf_writer *w, const char *key, const float *v,
		      uint64_t n);
/* Adds a tensor (ne in ggml order). Its bytes come from fill at write time. */
int qp_gguf_w_tensor(qp_gguf_writer *w, const char *name, uint32_t type,
		     const int64_t *ne, int n_dims, qp_err *e);
/* Writes the file to fd.  When fill is NULL the data section is left as a
 * hole (sparse file: the metadata is complete, data reads as zeros).
 * Memory: fill gets one buffer the size of the largest tensor, allocated
 * once and reused for every tensor (a multi-GB tensor costs that much RAM).
 * With fill, only write(2) is used, so fd may be a pipe; without, fd must
 * be a regular file (ftruncate). */
int qp_gguf_writer_write(qp_gguf_writer *w, int fd, qp_gguf_fill_fn fill,
			 void *ctx, qp_err *e);

#endif
