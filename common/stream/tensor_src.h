/* tensor_src.h — a tensor record's data, wherever it lives.
 *
 * Promise: qp_tensor_ref_from_record reads the fields a tensor record must
 * have (name, type, shape, n_elem, n_bytes, and either data or path plus
 * offset), checks that they agree with each other (n_elem is the product
 * of shape, n_bytes is what the type takes for that shape, the data range
 * lies inside the file) and gives the bytes: inline, or mapped read-only
 * through a cache that maps each path once.  qp_tensor_rows_f32 then
 * dequantizes any range of rows exactly as ggml's to_float does.
 */
#ifndef QP_TENSOR_SRC_H
#define QP_TENSOR_SRC_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "rec.h"

typedef struct qp_map_cache qp_map_cache;

qp_map_cache *qp_map_cache_new(void);
void qp_map_cache_free(qp_map_cache *c);

typedef struct qp_tensor_ref {
	char name[256];
	char type_name[32];
	uint32_t type;        /* ggml id; valid when type_known */
	bool type_known;      /* the name is in the type table */
	int n_dims;
	int64_t ne[4];        /* dims past n_dims are 1 */
	uint64_t n_elem, n_bytes;
	int64_t row_len;      /* ne[0] */
	int64_t n_rows;       /* n_elem / ne[0] (all rows of all experts) */
	const uint8_t *data;  /* n_bytes of raw data, NULL if the type is unknown */
} qp_tensor_ref;

/* Fails (message naming the record and field) on missing or inconsistent
 * fields; a type the table does not know is not an error (type_known
 * false, data NULL). */
int qp_tensor_ref_from_record(const qp_record *rec, qp_map_cache *mc,
			      qp_tensor_ref *t, qp_err *e);

/* The same checks and facts without the data (data NULL, no file
 * opened): for a step that needs a tensor's shape and type only. */
int qp_tensor_ref_facts(const qp_record *rec, qp_tensor_ref *t, qp_err *e);

/* Bytes of one row of t in its own type. */
uint64_t qp_tensor_row_bytes(const qp_tensor_ref *t);

/* Dequantizes rows [row0, row0 + nrows) into out (nrows * row_len). */
int qp_tensor_rows_f32(const qp_tensor_ref *t, int64_t row0, int64_t nrows,
		       float *out, qp_err *e);

#endif
