/* gguf.h — GGUF reader (the writer is gguf_write.h).
 *
 * Promise (reader): qp_gguf_parse() accepts GGUF v2 and v3, little-endian,
 * and nothing else (v1 and big-endian files get a clear message).  Every
 * count, length, dimension, offset and size is checked against the bytes
 * that remain and against 64-bit overflow before it is used; a tensor whose
 * data would extend past the end of the file is an error naming the
 * tensor.  Strings and arrays in the result point into the caller's buffer
 * (zero copy), so the buffer must outlive the qp_gguf.  Parsing never
 * allocates in proportion to a count read from the file before checking
 * that the file holds at least that many bytes.
 */
#ifndef QP_GGUF_H
#define QP_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define QP_GGUF_MAX_DIMS 4
#define QP_GGUF_SIZE_UNKNOWN UINT64_MAX
#define QP_GGUF_DEFAULT_ALIGNMENT 32
/* ggml's GGML_MAX_NAME: llama.cpp cannot load longer tensor names. */
#define QP_GGUF_MAX_NAME 64

enum qp_gguf_vtype {
	QP_GGUF_U8 = 0, QP_GGUF_I8 = 1, QP_GGUF_U16 = 2, QP_GGUF_I16 = 3,
	QP_GGUF_U32 = 4, QP_GGUF_I32 = 5, QP_GGUF_F32 = 6, QP_GGUF_BOOL = 7,
	QP_GGUF_STRING = 8, QP_GGUF_ARRAY = 9, QP_GGUF_U64 = 10,
	QP_GGUF_I64 = 11, QP_GGUF_F64 = 12,
};

typedef struct qp_gguf_str {
	const char *ptr; /* not NUL-terminated */
	uint64_t len;
} qp_gguf_str;

typedef struct qp_gguf_value {
	uint32_t type; /* enum qp_gguf_vtype */
	union {
		uint64_t u;    /* U8 U16 U32 U64 */
		int64_t i;     /* I8 I16 I32 I64 */
		double f;      /* F32 F64 */
		bool b;        /* BOOL */
		qp_gguf_str s; /* STRING */
		struct {
			uint32_t elem_type;
			uint64_t n;
			const uint8_t *data; /* elements as encoded in the file */
			uint64_t nbytes;
		} arr;         /* ARRAY (elements may be arrays) */
	} v;
} qp_gguf_value;

/* Walks the elements of an ARRAY value. Parsing validated the whole array,
 * so iteration cannot fail. */
typedef struct qp_gguf_iter {
	const qp_gguf_value *arr;
	uint64_t next;
	const uint8_t *pos;
} qp_gguf_iter;

void qp_gguf_iter_init(qp_gguf_iter *it, const qp_gguf_value *arr);
/* 1 and the element in *out, or 0 past the last element. */
int qp_gguf_iter_next(qp_gguf_iter *it, qp_gguf_value *out);

typedef struct qp_gguf_kv {
	qp_gguf_str key;
	qp_gguf_value value;
} qp_gguf_kv;

typedef struct qp_gguf_tensor {
	qp_gguf_str name;
	uint32_t n_dims;
	int64_t ne[QP_GGUF_MAX_DIMS]; /* ggml order; dims past n_dims are 1 */
	uint32_t type;                /* ggml type id, possibly unknown */
	uint64_t rel_offset;          /* as written: relative to data section */
	uint64_t offset;              /* absolute byte offset in the file */
	uint64_t n_elem;
	uint64_t n_bytes;             /* valid only when size_known */
	bool size_known;              /* false for ids types.h does not know */
} qp_gguf_tensor;

typedef struct qp_gguf {
	uint32_t version;
	uint64_t n_kv, n_tensors;
	qp_gguf_kv *kv;
	qp_gguf_tensor *tensors;
	uint32_t alignment;    /* general.alignment or 32 */
	uint64_t meta_bytes;   /* header + kv + tensor infos */
	uint64_t data_offset;  /* absolute start of the data section */
} qp_gguf;

/* Parses buf[0..len).  file_size is the whole file's size when known (a
 * mapped file: then len == file_size) or QP_GGUF_SIZE_UNKNOWN for a stream.
 * Returns 0 on success; -1 on malformed input (message in e); 1 when buf
 * ends before the metadata does and more bytes may exist (only when
 * len < file_size): read more and call again with the longer buffer.
 * With a known file_size, tensor data ranges are checked against it. */
int qp_gguf_parse(const uint8_t *buf, size_t len, uint64_t file_size,
		  qp_gguf *g, qp_err *e);
void qp_gguf_free(qp_gguf *g);

const qp_gguf_kv *qp_gguf_find(const qp_gguf *g, const char *key);
/* Typed getters: false when the key is absent or of another kind.
 * get_int accepts any integer type (and BOOL is not an integer). */
bool qp_gguf_get_int(const qp_gguf *g, const char *key, int64_t *out);
bool qp_gguf_get_str(const qp_gguf *g, const char *key, qp_gguf_str *out);
bool qp_gguf_str_eq(qp_gguf_str s, const char *cstr);
/* malloc'd NUL-terminated copy (NULL on allocation failure) */
char *qp_gguf_strdup(qp_gguf_str s);
/* Bytes of a fixed-size value type, 0 for string, array and invalid. */
uint32_t qp_gguf_vtype_size(uint32_t t);
const char *qp_gguf_vtype_name(uint32_t t); /* "u32", "string", ... */

/* Split models: when g has split.count > 1 and path is the first shard
 * ("<base>-00001-of-0000N.gguf"), fills *paths with the N shard paths in
 * order (malloc'd array of malloc'd strings; free with
 * qp_gguf_split_paths_free).  A model that is not split gives n = 1 and
 * paths[0] = a copy of path. */
int qp_gguf_split_paths(const char *path, const qp_gguf *g, char ***paths,
			int *n, qp_err *e);
void qp_gguf_split_paths_free(char **paths, int n);

#endif
