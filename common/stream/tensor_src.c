#include "tensor_src.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "mapfile.h"
#include "quant.h"
#include "types.h"

typedef struct cached_map {
	char *path;
	qp_map map;
} cached_map;

struct qp_map_cache {
	cached_map *v;
	size_t n;
};

qp_map_cache *qp_map_cache_new(void)
{
	return calloc(1, sizeof(qp_map_cache));
}

void qp_map_cache_free(qp_map_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		qp_map_close(&c->v[i].map);
		free(c->v[i].path);
	}
	free(c->v);
	free(c);
}

static const qp_map *cache_get(qp_map_cache *c, const char *path, qp_err *e)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].path, path) == 0)
			return &c->v[i].map;
	cached_map *v = realloc(c->v, (c->n + 1) * sizeof *v);
	if (!v) {
		qp_fail(e, "out of memory");
		return NULL;
	}
	c->v = v;
	cached_map *m = &v[c->n];
	if (qp_map_open(path, &m->map, e) < 0)
		return NULL;
	if (!(m->path = strdup(path))) {
		qp_map_close(&m->map);
		qp_fail(e, "out of memory");
		return NULL;
	}
	return &v[c->n++].map;
}

static int rec_error(const qp_record *rec, const qp_tensor_ref *t, qp_err *e,
		     const char *what)
{
	return qp_fail_record(e, rec->index, rec->offset, "tensor '%s': %s",
			      t->name, what);
}

static int read_shape(const qp_record *rec, qp_tensor_ref *t, qp_err *e)
{
	const msgpack_object *shape =
		qp_rec_field(rec, "shape", MSGPACK_OBJECT_ARRAY, e);
	if (!shape)
		return -1;
	uint32_t n = shape->via.array.size;
	if (n < 1 || n > 4)
		return rec_error(rec, t, e, "shape must have 1 to 4 dimensions");
	t->n_dims = (int)n;
	uint64_t n_elem = 1;
	for (int d = 0; d < 4; d++) {
		t->ne[d] = 1;
		if (d >= t->n_dims)
			continue;
		const msgpack_object *x = &shape->via.array.ptr[d];
		if (x->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    x->via.u64 > (uint64_t)INT64_MAX)
			return rec_error(rec, t, e, "shape holds a value that is not a non-negative integer");
		t->ne[d] = (int64_t)x->via.u64;
		if (!ck_mul_u64(n_elem, x->via.u64, &n_elem))
			return rec_error(rec, t, e, "shape product overflows 64 bits");
	}
	uint64_t want;
	if (qp_rec_uint(rec, "n_elem", &want, e) < 0)
		return -1;
	if (want != n_elem)
		return rec_error(rec, t, e, "n_elem does not match the shape");
	t->n_elem = n_elem;
	t->row_len = t->ne[0];
	t->n_rows = t->row_len ? (int64_t)(n_elem / (uint64_t)t->row_len) : 0;
	return 0;
}

static int read_type(const qp_record *rec, qp_tensor_ref *t, qp_err *e)
{
	if (qp_rec_str(rec, "type", t->type_name, sizeof t->type_name, e) < 0)
		return -1;
	const qp_type_info *ti = qp_type_info_by_name(t->type_name);
	t->type_known = ti && !ti->removed;
	t->type = ti ? ti->id : 0;
	if (!t->type_known)
		return 0;
	uint64_t want;
	qp_err sz;
	if (qp_type_nbytes(t->type, t->ne, t->n_dims, &want, &sz) < 0)
		return rec_error(rec, t, e, sz.msg);
	const msgpack_object *nb = qp_map_get(&rec->map, "n_bytes");
	if (!nb || nb->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return rec_error(rec, t, e, "field \"n_bytes\" is missing or not an integer");
	if (nb->via.u64 != want)
		return rec_error(rec, t, e, "n_bytes does not match type and shape");
	t->n_bytes = want;
	return 0;
}

static int read_data(const qp_record *rec, qp_map_cache *mc, qp_tensor_ref *t,
		     qp_err *e)
{
	const msgpack_object *data = qp_map_get(&rec->map, "data");
	if (data) {
		if (data->type != MSGPACK_OBJECT_BIN)
			return rec_error(rec, t, e, "field \"data\" is not bin");
		if (data->via.bin.size != t->n_bytes)
			return rec_error(rec, t, e, "inline data size does not match n_bytes");
		t->data = (const uint8_t *)data->via.bin.ptr;
		return 0;
	}
	char path[4096];
	uint64_t off, end;
	if (qp_rec_str(rec, "path", path, sizeof path, e) < 0 ||
	    qp_rec_uint(rec, "offset", &off, e) < 0)
		return -1;
	qp_err me;
	const qp_map *m = cache_get(mc, path, &me);
	if (!m) {
		qp_fail_prefix(&me, "%s", path);
		return rec_error(rec, t, e, me.msg);
	}
	if (!ck_add_u64(off, t->n_bytes, &end) || end > m->size) {
		char what[4400];
		snprintf(what, sizeof what, "data [%llu, +%llu) lies past the end of %s (%zu bytes)",
			 (unsigned long long)off, (unsigned long long)t->n_bytes,
			 path, m->size);
		return rec_error(rec, t, e, what);
	}
	t->data = m->data + off;
	return 0;
}

int qp_tensor_ref_facts(const qp_record *rec, qp_tensor_ref *t, qp_err *e)
{
	*t = (qp_tensor_ref){0};
	if (qp_rec_str(rec, "name", t->name, sizeof t->name, e) < 0 ||
	    read_shape(rec, t, e) < 0 || read_type(rec, t, e) < 0)
		return -1;
	return 0;
}

int qp_tensor_ref_from_record(const qp_record *rec, qp_map_cache *mc,
			      qp_tensor_ref *t, qp_err *e)
{
	if (qp_tensor_ref_facts(rec, t, e) < 0)
		return -1;
	return t->type_known ? read_data(rec, mc, t, e) : 0;
}

uint64_t qp_tensor_row_bytes(const qp_tensor_ref *t)
{
	return t->n_rows ? t->n_bytes / (uint64_t)t->n_rows : 0;
}

int qp_tensor_rows_f32(const qp_tensor_ref *t, int64_t row0, int64_t nrows,
		       float *out, qp_err *e)
{
	if (!t->data)
		return qp_fail(e, "tensor '%s': type %s cannot be read", t->name,
			       t->type_name);
	const uint8_t *src = t->data + (uint64_t)row0 * qp_tensor_row_bytes(t);
	return qp_dequantize(t->type, src, out, nrows * t->row_len, e);
}
