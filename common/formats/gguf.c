#include "gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checked.h"
#include "le.h"
#include "types.h"

/* Smallest encodings, used to refuse counts before allocating for them:
 * a kv is a key length (8), a value type (4) and at least one byte; a
 * tensor info is a name length (8), n_dims (4), one dimension (8), a type
 * (4) and an offset (8); a nested array has a type (4) and a count (8). */
#define MIN_KV_BYTES 13u
#define MIN_TENSOR_INFO_BYTES 32u
#define ARRAY_HEADER_BYTES 12u
#define MAX_ARRAY_DEPTH 8

/* ---- values ------------------------------------------------------------ */

static const char *const vtype_names[] = {
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
	"string", "array", "u64", "i64", "f64",
};

const char *qp_gguf_vtype_name(uint32_t t)
{
	if (t < sizeof vtype_names / sizeof vtype_names[0])
		return vtype_names[t];
	return "invalid";
}

uint32_t qp_gguf_vtype_size(uint32_t t)
{
	switch (t) {
	case QP_GGUF_U8: case QP_GGUF_I8: case QP_GGUF_BOOL: return 1;
	case QP_GGUF_U16: case QP_GGUF_I16: return 2;
	case QP_GGUF_U32: case QP_GGUF_I32: case QP_GGUF_F32: return 4;
	case QP_GGUF_U64: case QP_GGUF_I64: case QP_GGUF_F64: return 8;
	default: return 0;
	}
}

static bool valid_vtype(uint32_t t)
{
	return t <= QP_GGUF_F64;
}

/* Decodes a value that parsing already validated; returns its size. */
static uint64_t decode_value(const uint8_t *p, uint32_t type,
			     qp_gguf_value *out)
{
	out->type = type;
	switch (type) {
	case QP_GGUF_U8: out->v.u = p[0]; return 1;
	case QP_GGUF_I8: out->v.i = (int8_t)p[0]; return 1;
	case QP_GGUF_U16: out->v.u = le_u16(p); return 2;
	case QP_GGUF_I16: out->v.i = (int16_t)le_u16(p); return 2;
	case QP_GGUF_U32: out->v.u = le_u32(p); return 4;
	case QP_GGUF_I32: out->v.i = (int32_t)le_u32(p); return 4;
	case QP_GGUF_F32: out->v.f = le_f32(p); return 4;
	case QP_GGUF_BOOL: out->v.b = p[0] != 0; return 1;
	case QP_GGUF_U64: out->v.u = le_u64(p); return 8;
	case QP_GGUF_I64: out->v.i = (int64_t)le_u64(p); return 8;
	case QP_GGUF_F64: out->v.f = le_f64(p); return 8;
	case QP_GGUF_STRING:
		out->v.s.len = le_u64(p);
		out->v.s.ptr = (const char *)p + 8;
		return 8 + out->v.s.len;
	default: /* ARRAY */
		break;
	}
	out->v.arr.elem_type = le_u32(p);
	out->v.arr.n = le_u64(p + 4);
	out->v.arr.data = p + ARRAY_HEADER_BYTES;
	uint32_t fs = qp_gguf_vtype_size(out->v.arr.elem_type);
	uint64_t nbytes = 0;
	if (fs) {
		nbytes = out->v.arr.n * fs;
	} else {
		qp_gguf_value elem;
		for (uint64_t i = 0; i < out->v.arr.n; i++)
			nbytes += decode_value(out->v.arr.data + nbytes,
					       out->v.arr.elem_type, &elem);
	}
	out->v.arr.nbytes = nbytes;
	return ARRAY_HEADER_BYTES + nbytes;
}

void qp_gguf_iter_init(qp_gguf_iter *it, const qp_gguf_value *arr)
{
	it->arr = arr;
	it->next = 0;
	it->pos = arr->type == QP_GGUF_ARRAY ? arr->v.arr.data : NULL;
}

int qp_gguf_iter_next(qp_gguf_iter *it, qp_gguf_value *out)
{
	if (it->arr->type != QP_GGUF_ARRAY || it->next >= it->arr->v.arr.n)
		return 0;
	it->pos += decode_value(it->pos, it->arr->v.arr.elem_type, out);
	it->next++;
	return 1;
}

/* ---- reader ------------------------------------------------------------ */

typedef struct reader {
	const uint8_t *buf;
	size_t len;
	uint64_t file_size;
	size_t pos;
	char where[200]; /* what is being read, for messages */
	qp_err *e;
} reader;

static void printable(char *dst, size_t cap, const char *s, uint64_t n)
{
	size_t k = 0;
	for (uint64_t i = 0; i < n && k + 4 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (n > 0 && k + 4 >= cap && n > k) {
		memcpy(dst + k, "...", 3);
		k += 3;
	}
	dst[k] = '\0';
}

static void set_where(reader *r, const char *what, const char *name,
		      uint64_t name_len)
{
	char clean[96];
	printable(clean, sizeof clean, name, name_len);
	snprintf(r->where, sizeof r->where, "%s '%s'", what, clean);
}

static bool more_may_exist(const reader *r)
{
	return r->file_size == QP_GGUF_SIZE_UNKNOWN || r->len < r->file_size;
}

/* 0 when n bytes remain at r->pos; 1 when they may come with more input;
 * -1 (message set) when the file cannot hold them. */
static int need(reader *r, uint64_t n, const char *what)
{
	uint64_t avail = r->len - r->pos;
	if (n <= avail)
		return 0;
	bool past_file = r->file_size != QP_GGUF_SIZE_UNKNOWN &&
			 n > r->file_size - r->pos;
	if (!past_file && more_may_exist(r))
		return 1;
	uint64_t left = r->file_size != QP_GGUF_SIZE_UNKNOWN
				? r->file_size - r->pos : avail;
	if (n == UINT64_MAX)
		return qp_fail(r->e,
			       "at byte %zu: %s: %s does not fit in the %llu bytes left",
			       r->pos, r->where, what, (unsigned long long)left);
	return qp_fail(r->e,
		       "at byte %zu: %s: %s needs %llu bytes, only %llu left",
		       r->pos, r->where, what, (unsigned long long)n,
		       (unsigned long long)left);
}

static int read_u32(reader *r, uint32_t *out, const char *what)
{
	int rc = need(r, 4, what);
	if (rc)
		return rc;
	*out = le_u32(r->buf + r->pos);
	r->pos += 4;
	return 0;
}

static int read_u64(reader *r, uint64_t *out, const char *what)
{
	int rc = need(r, 8, what);
	if (rc)
		return rc;
	*out = le_u64(r->buf + r->pos);
	r->pos += 8;
	return 0;
}

static int read_str(reader *r, qp_gguf_str *s, const char *what)
{
	uint64_t n;
	int rc = read_u64(r, &n, what);
	if (rc)
		return rc;
	if ((rc = need(r, n, what)))
		return rc;
	s->ptr = (const char *)r->buf + r->pos;
	s->len = n;
	r->pos += n;
	return 0;
}

static uint64_t times_or_max(uint64_t n, uint64_t size)
{
	uint64_t total;
	return ck_mul_u64(n, size, &total) ? total : UINT64_MAX;
}

/* Validates the value of type at r->pos and moves past it. */
static int skip_value(reader *r, uint32_t type, int depth)
{
	char what[96];
	uint32_t fs = qp_gguf_vtype_size(type);
	if (fs) {
		int rc = need(r, fs, qp_gguf_vtype_name(type));
		if (rc == 0)
			r->pos += fs;
		return rc;
	}
	if (type == QP_GGUF_STRING) {
		qp_gguf_str s;
		return read_str(r, &s, "string");
	}
	if (type != QP_GGUF_ARRAY)
		return qp_fail(r->e, "at byte %zu: %s: invalid value type %u",
			       r->pos, r->where, (unsigned)type);
	if (depth >= MAX_ARRAY_DEPTH)
		return qp_fail(r->e,
			       "at byte %zu: %s: arrays nested deeper than %d",
			       r->pos, r->where, MAX_ARRAY_DEPTH);
	size_t start = r->pos;
	uint32_t elem_type;
	uint64_t n;
	int rc;
	if ((rc = read_u32(r, &elem_type, "array type")) ||
	    (rc = read_u64(r, &n, "array count")))
		return rc;
	if (!valid_vtype(elem_type))
		return qp_fail(r->e,
			       "at byte %zu: %s: invalid array element type %u",
			       start, r->where, (unsigned)elem_type);
	fs = qp_gguf_vtype_size(elem_type);
	uint64_t min_each = fs ? fs : elem_type == QP_GGUF_STRING
					      ? 8 : ARRAY_HEADER_BYTES;
	snprintf(what, sizeof what, "array of %llu %s elements",
		 (unsigned long long)n, qp_gguf_vtype_name(elem_type));
	if ((rc = need(r, times_or_max(n, min_each), what)))
		return rc;
	if (fs) {
		r->pos += (size_t)(n * fs);
		return 0;
	}
	for (uint64_t i = 0; i < n; i++)
		if ((rc = skip_value(r, elem_type, depth + 1)))
			return rc;
	return 0;
}

typedef struct named_at {
	qp_gguf_str name;
	uint64_t at;
} named_at;

static int cmp_named(const void *a, const void *b)
{
	const named_at *x = a, *y = b;
	uint64_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
	int c = n ? memcmp(x->name.ptr, y->name.ptr, (size_t)n) : 0;
	if (c)
		return c;
	if (x->name.len != y->name.len)
		return x->name.len < y->name.len ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* Sorting finds duplicates in n log n: a model with 100k tensors must not
 * cost 10^10 comparisons. */
static int check_unique(named_at *v, uint64_t n, const char *what, qp_err *e)
{
	if (n < 2)
		return 0;
	qsort(v, (size_t)n, sizeof *v, cmp_named);
	for (uint64_t i = 1; i < n; i++) {
		if (v[i].name.len == v[i - 1].name.len &&
		    (v[i].name.len == 0 ||
		     memcmp(v[i].name.ptr, v[i - 1].name.ptr,
			    (size_t)v[i].name.len) == 0)) {
			char clean[96];
			printable(clean, sizeof clean, v[i].name.ptr,
				  v[i].name.len);
			return qp_fail(e,
				       "at byte %llu: duplicate %s '%s' (first at byte %llu)",
				       (unsigned long long)v[i].at, what, clean,
				       (unsigned long long)v[i - 1].at);
		}
	}
	return 0;
}

static int parse_header(reader *r, qp_gguf *g)
{
	snprintf(r->where, sizeof r->where, "header");
	int rc = need(r, 4, "magic");
	if (rc)
		return rc;
	if (memcmp(r->buf, "GGUF", 4) != 0)
		return qp_fail(r->e,
			       "not a GGUF file (magic %02x %02x %02x %02x, want \"GGUF\")",
			       r->buf[0], r->buf[1], r->buf[2], r->buf[3]);
	r->pos = 4;
	uint32_t v;
	if ((rc = read_u32(r, &v, "version")))
		return rc;
	uint32_t swapped = __builtin_bswap32(v);
	if (v == 1)
		return qp_fail(r->e,
			       "GGUF version 1 is not supported (only v2 and v3)");
	if (swapped == 2 || swapped == 3)
		return qp_fail(r->e, "big-endian GGUF is not supported");
	if (v != 2 && v != 3)
		return qp_fail(r->e,
			       "GGUF version %u is not supported (only v2 and v3)",
			       (unsigned)v);
	g->version = v;
	if ((rc = read_u64(r, &g->n_tensors, "tensor count")) ||
	    (rc = read_u64(r, &g->n_kv, "kv count")))
		return rc;
	return 0;
}

static int parse_kvs(reader *r, qp_gguf *g, named_at **at)
{
	char what[64];
	snprintf(r->where, sizeof r->where, "kv count");
	snprintf(what, sizeof what, "%llu key-value pairs",
		 (unsigned long long)g->n_kv);
	int rc = need(r, times_or_max(g->n_kv, MIN_KV_BYTES), what);
	if (rc)
		return rc;
	g->kv = calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof *g->kv);
	*at = calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof **at);
	if (!g->kv || !*at)
		return qp_fail(r->e, "out of memory for %llu key-value pairs",
			       (unsigned long long)g->n_kv);
	for (uint64_t i = 0; i < g->n_kv; i++) {
		qp_gguf_kv *kv = &g->kv[i];
		(*at)[i].at = r->pos;
		snprintf(r->where, sizeof r->where, "key %llu",
			 (unsigned long long)i);
		if ((rc = read_str(r, &kv->key, "key")))
			return rc;
		(*at)[i].name = kv->key;
		set_where(r, "key", kv->key.ptr, kv->key.len);
		uint32_t type;
		if ((rc = read_u32(r, &type, "value type")))
			return rc;
		if (!valid_vtype(type))
			return qp_fail(r->e,
				       "at byte %zu: %s: invalid value type %u",
				       r->pos - 4, r->where, (unsigned)type);
		size_t start = r->pos;
		if ((rc = skip_value(r, type, 0)))
			return rc;
		decode_value(r->buf + start, type, &kv->value);
	}
	return check_unique(*at, g->n_kv, "key", r->e);
}

static int parse_alignment(qp_gguf *g, const named_at *at, qp_err *e)
{
	g->alignment = QP_GGUF_DEFAULT_ALIGNMENT;
	for (uint64_t i = 0; i < g->n_kv; i++) {
		if (!qp_gguf_str_eq(g->kv[i].key, "general.alignment"))
			continue;
		const qp_gguf_value *v = &g->kv[i].value;
		if (v->type != QP_GGUF_U32)
			return qp_fail(e,
				       "at byte %llu: key 'general.alignment' is %s, must be u32",
				       (unsigned long long)at[i].at,
				       qp_gguf_vtype_name(v->type));
		if (v->v.u == 0 || (v->v.u & (v->v.u - 1)) != 0)
			return qp_fail(e,
				       "at byte %llu: key 'general.alignment' is %llu, must be a power of two",
				       (unsigned long long)at[i].at,
				       (unsigned long long)v->v.u);
		g->alignment = (uint32_t)v->v.u;
	}
	return 0;
}

static int parse_tensor_info(reader *r, qp_gguf_tensor *t)
{
	int rc;
	if ((rc = read_str(r, &t->name, "name")))
		return rc;
	set_where(r, "tensor", t->name.ptr, t->name.len);
	size_t at = r->pos;
	if ((rc = read_u32(r, &t->n_dims, "n_dims")))
		return rc;
	if (t->n_dims < 1 || t->n_dims > QP_GGUF_MAX_DIMS)
		return qp_fail(r->e, "at byte %zu: %s: n_dims %u is not 1 to %d",
			       at, r->where, (unsigned)t->n_dims,
			       QP_GGUF_MAX_DIMS);
	uint64_t n_elem = 1;
	for (int d = 0; d < QP_GGUF_MAX_DIMS; d++) {
		uint64_t ne = 1;
		at = r->pos;
		if ((uint32_t)d < t->n_dims &&
		    (rc = read_u64(r, &ne, "dimension")))
			return rc;
		if (ne > (uint64_t)INT64_MAX)
			return qp_fail(r->e,
				       "at byte %zu: %s: dimension %d is negative",
				       at, r->where, d);
		if (!ck_mul_u64(n_elem, ne, &n_elem) ||
		    n_elem > (uint64_t)INT64_MAX)
			return qp_fail(r->e,
				       "at byte %zu: %s: element count overflows 64 bits",
				       at, r->where);
		t->ne[d] = (int64_t)ne;
	}
	t->n_elem = n_elem;
	if ((rc = read_u32(r, &t->type, "type")) ||
	    (rc = read_u64(r, &t->rel_offset, "data offset")))
		return rc;
	return 0;
}

/* Sizes, alignment and bounds of one tensor's data, once the data section
 * start is known. */
static int place_tensor(const qp_gguf *g, qp_gguf_tensor *t,
			uint64_t file_size, qp_err *e)
{
	char name[96];
	printable(name, sizeof name, t->name.ptr, t->name.len);
	const qp_type_info *ti = qp_type_info_by_id(t->type);
	t->size_known = ti && !ti->removed;
	t->n_bytes = 0;
	if (t->size_known &&
	    qp_type_nbytes(t->type, t->ne, (int)t->n_dims, &t->n_bytes, e))
		return qp_fail_prefix(e, "tensor '%s'", name);
	if (t->rel_offset % g->alignment != 0)
		return qp_fail(e,
			       "tensor '%s': data offset %llu is not a multiple of the alignment %u",
			       name, (unsigned long long)t->rel_offset,
			       (unsigned)g->alignment);
	uint64_t end;
	if (!ck_add_u64(g->data_offset, t->rel_offset, &t->offset) ||
	    !ck_add_u64(t->offset, t->n_bytes, &end))
		return qp_fail(e, "tensor '%s': data offset %llu overflows 64 bits",
			       name, (unsigned long long)t->rel_offset);
	if (file_size == QP_GGUF_SIZE_UNKNOWN)
		return 0;
	if (end > file_size || t->offset > file_size)
		return qp_fail(e,
			       "tensor '%s': data [%llu, %llu) extends past the end of the file (size %llu)",
			       name, (unsigned long long)t->offset,
			       (unsigned long long)end,
			       (unsigned long long)file_size);
	return 0;
}

static int parse_tensors(reader *r, qp_gguf *g)
{
	char what[64];
	snprintf(r->where, sizeof r->where, "tensor count");
	snprintf(what, sizeof what, "%llu tensor infos",
		 (unsigned long long)g->n_tensors);
	int rc = need(r, times_or_max(g->n_tensors, MIN_TENSOR_INFO_BYTES),
		      what);
	if (rc)
		return rc;
	size_t n = g->n_tensors ? (size_t)g->n_tensors : 1;
	g->tensors = calloc(n, sizeof *g->tensors);
	named_at *at = calloc(n, sizeof *at);
	if (!g->tensors || !at) {
		free(at);
		return qp_fail(r->e, "out of memory for %llu tensor infos",
			       (unsigned long long)g->n_tensors);
	}
	for (uint64_t i = 0; i < g->n_tensors && rc == 0; i++) {
		snprintf(r->where, sizeof r->where, "tensor info %llu",
			 (unsigned long long)i);
		at[i].at = r->pos;
		rc = parse_tensor_info(r, &g->tensors[i]);
		at[i].name = g->tensors[i].name;
	}
	if (rc == 0)
		rc = check_unique(at, g->n_tensors, "tensor name", r->e);
	free(at);
	if (rc)
		return rc;
	g->meta_bytes = r->pos;
	if (!ck_align_u64(g->meta_bytes, g->alignment, &g->data_offset))
		return qp_fail(r->e, "data section offset overflows 64 bits");
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if (place_tensor(g, &g->tensors[i], r->file_size, r->e))
			return -1;
	return 0;
}

int qp_gguf_parse(const uint8_t *buf, size_t len, uint64_t file_size,
		  qp_gguf *g, qp_err *e)
{
	memset(g, 0, sizeof *g);
	if (file_size != QP_GGUF_SIZE_UNKNOWN && len > file_size)
		return qp_fail(e, "buffer of %zu bytes is longer than the file (%llu)",
			       len, (unsigned long long)file_size);
	reader r = { .buf = buf, .len = len, .file_size = file_size, .e = e };
	named_at *kv_at = NULL;
	int rc = parse_header(&r, g);
	if (rc == 0)
		rc = parse_kvs(&r, g, &kv_at);
	if (rc == 0)
		rc = parse_alignment(g, kv_at, e);
	free(kv_at);
	if (rc == 0)
		rc = parse_tensors(&r, g);
	if (rc != 0)
		qp_gguf_free(g);
	return rc;
}

void qp_gguf_free(qp_gguf *g)
{
	if (!g)
		return;
	free(g->kv);
	free(g->tensors);
	memset(g, 0, sizeof *g);
}

/* ---- lookups ----------------------------------------------------------- */

bool qp_gguf_str_eq(qp_gguf_str s, const char *cstr)
{
	size_t n = strlen(cstr);
	return s.len == n && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

char *qp_gguf_strdup(qp_gguf_str s)
{
	if (s.len >= SIZE_MAX)
		return NULL;
	char *c = malloc((size_t)s.len + 1);
	if (!c)
		return NULL;
	if (s.len)
		memcpy(c, s.ptr, (size_t)s.len);
	c[s.len] = '\0';
	return c;
}

const qp_gguf_kv *qp_gguf_find(const qp_gguf *g, const char *key)
{
	for (uint64_t i = 0; i < g->n_kv; i++)
		if (qp_gguf_str_eq(g->kv[i].key, key))
			return &g->kv[i];
	return NULL;
}

bool qp_gguf_get_int(const qp_gguf *g, const char *key, int64_t *out)
{
	const qp_gguf_kv *kv = qp_gguf_find(g, key);
	if (!kv)
		return false;
	switch (kv->value.type) {
	case QP_GGUF_U8: case QP_GGUF_U16: case QP_GGUF_U32: case QP_GGUF_U64:
		if (kv->value.v.u > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)kv->value.v.u;
		return true;
	case QP_GGUF_I8: case QP_GGUF_I16: case QP_GGUF_I32: case QP_GGUF_I64:
		*out = kv->value.v.i;
		return true;
	default:
		return false;
	}
}

bool qp_gguf_get_str(const qp_gguf *g, const char *key, qp_gguf_str *out)
{
	const qp_gguf_kv *kv = qp_gguf_find(g, key);
	if (!kv || kv->value.type != QP_GGUF_STRING)
		return false;
	*out = kv->value.v.s;
	return true;
}

/* ---- split models ------------------------------------------------------ */

/* llama.cpp's llama_split_path: "%s-%05d-of-%05d.gguf", shard numbers from 1;
 * split.count is a u16 there. */
#define MAX_SPLIT_COUNT 65535

void qp_gguf_split_paths_free(char **paths, int n)
{
	if (!paths)
		return;
	for (int i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

int qp_gguf_split_paths(const char *path, const qp_gguf *g, char ***paths,
			int *n, qp_err *e)
{
	*paths = NULL;
	*n = 0;
	int64_t count = 1, no = 0;
	if (qp_gguf_find(g, "split.count") &&
	    !qp_gguf_get_int(g, "split.count", &count))
		return qp_fail(e, "split.count is not an integer");
	if (qp_gguf_find(g, "split.no") && !qp_gguf_get_int(g, "split.no", &no))
		return qp_fail(e, "split.no is not an integer");
	if (count < 1 || count > MAX_SPLIT_COUNT)
		return qp_fail(e, "split.count %lld is not 1 to %d",
			       (long long)count, MAX_SPLIT_COUNT);
	if (count > 1 && no != 0)
		return qp_fail(e,
			       "shard %lld of %lld of a split model; open the first shard",
			       (long long)no + 1, (long long)count);
	char suffix[64];
	snprintf(suffix, sizeof suffix, "-%05d-of-%05d.gguf", 1, (int)count);
	size_t plen = strlen(path), slen = strlen(suffix);
	if (count > 1 &&
	    (plen <= slen || strcmp(path + plen - slen, suffix) != 0))
		return qp_fail(e,
			       "split model of %lld shards, but the name does not end in \"%s\"",
			       (long long)count, suffix);
	char **v = calloc((size_t)count, sizeof *v);
	if (!v)
		return qp_fail(e, "out of memory");
	size_t prefix = count > 1 ? plen - slen : plen;
	for (int i = 0; i < (int)count; i++) {
		size_t cap = prefix + slen + 16;
		v[i] = malloc(cap);
		if (!v[i]) {
			qp_gguf_split_paths_free(v, i);
			return qp_fail(e, "out of memory");
		}
		if (count == 1)
			memcpy(v[i], path, plen + 1);
		else
			snprintf(v[i], cap, "%.*s-%05d-of-%05d.gguf",
				 (int)prefix, path, i + 1, (int)count);
	}
	*paths = v;
	*n = (int)count;
	return 0;
}
