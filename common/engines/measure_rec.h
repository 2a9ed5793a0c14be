/* measure_rec.h — `measure` records: what a llama-perplexity run measured on
 * which quantized file.
 *
 * Promise: qp_model_file_read reads a GGUF's header (every shard of a
 * split model) and gives what a measure record states about the file:
 * each tensor's name and type in file order, the tensor count, the
 * tensor data bytes (sum of each tensor's bytes: what llama.cpp's loader
 * prints as "file size"), the element count and the bytes on disk.  A
 * tensor of a type whose size is unknown is an error naming it.
 * qp_measure_pack writes one measure record from a parsed log and such a
 * file; it writes only what the log printed (no figure is derived), plus
 * n_bytes and bpw = 8 * n_bytes / n_elem, llama.cpp's BPW.
 */
#ifndef QP_MEASURE_REC_H
#define QP_MEASURE_REC_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pplog.h"

typedef struct qp_model_tensor {
	char *name;
	char type[24];
} qp_model_tensor;

typedef struct qp_model_file {
	qp_model_tensor *tensors;
	uint64_t n_tensors, n_bytes, n_elem, file_bytes;
} qp_model_file;

int qp_model_file_read(const char *path, qp_model_file *m, qp_err *e);
void qp_model_file_free(qp_model_file *m);

/* Reads a whole file ("-" is standard input) of at most cap bytes into a
 * malloc'd buffer (NUL-terminated; *len excludes the NUL). */
int qp_read_whole(const char *path, size_t cap, char **text, size_t *len,
		  qp_err *e);

typedef struct qp_measure_src {
	const char *model_id;  /* the base model's id */
	const char *gguf_path; /* the measured file, as given */
	const char *log_path;  /* the log, as given */
	const qp_pplog *log;
	const qp_model_file *file;
} qp_measure_src;

void qp_measure_pack(msgpack_packer *pk, const qp_measure_src *s);

#endif
