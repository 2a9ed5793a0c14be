#include "rec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"

/* ---- framing: find where one msgpack value ends, without recursion ---- */

static uint64_t be_uint(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Size of the header and payload of the item at p (avail bytes of it are
 * in memory) and how many child items it opens.  Returns 1 with size and
 * children set, 0 when more header bytes are needed, -1 for a byte that
 * starts no msgpack value. */
static int item_shape(const uint8_t *p, size_t avail, uint64_t *size,
		      uint64_t *children)
{
	uint8_t b = p[0];
	*children = 0;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
		*size = 1;
		return 1;
	}
	if (b >= 0x80 && b <= 0x8f) {
		*size = 1;
		*children = 2u * (b & 0x0f);
		return 1;
	}
	if (b >= 0x90 && b <= 0x9f) {
		*size = 1;
		*children = b & 0x0f;
		return 1;
	}
	if (b >= 0xa0 && b <= 0xbf) {
		*size = 1u + (b & 0x1f);
		return 1;
	}
	/* Fixed-size scalars: c1 is the one byte msgpack never uses. */
	static const uint8_t fixed[32] = {
		/* c0 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 9, 2, 3, 5, 9,
		/* d0 */ 2, 3, 5, 9, 3, 4, 6, 10, 18, 0, 0, 0, 0, 0, 0, 0,
	};
	if (fixed[b - 0xc0]) {
		*size = fixed[b - 0xc0];
		return 1;
	}
	int lenbytes, extra = 0;
	bool is_map = false, is_array = false;
	switch (b) {
	case 0xc4: case 0xd9: lenbytes = 1; break;
	case 0xc5: case 0xda: lenbytes = 2; break;
	case 0xc6: case 0xdb: lenbytes = 4; break;
	case 0xc7: lenbytes = 1; extra = 1; break;
	case 0xc8: lenbytes = 2; extra = 1; break;
	case 0xc9: lenbytes = 4; extra = 1; break;
	case 0xdc: lenbytes = 2; is_array = true; break;
	case 0xdd: lenbytes = 4; is_array = true; break;
	case 0xde: lenbytes = 2; is_map = true; break;
	case 0xdf: lenbytes = 4; is_map = true; break;
	default: return -1;
	}
	if (avail < 1u + (size_t)lenbytes)
		return 0;
	uint64_t n = be_uint(p + 1, lenbytes);
	if (is_map || is_array) {
		*size = 1u + (uint64_t)lenbytes;
		*children = is_map ? 2 * n : n;
	} else {
		*size = 1u + (uint64_t)lenbytes + (uint64_t)extra + n;
	}
	return 1;
}

typedef struct span_state {
	uint64_t pos;   /* bytes of the value accounted for */
	int depth;      /* containers open; left[depth] is the innermost */
	uint64_t left[QP_MSGPACK_MAX_DEPTH + 1]; /* items still to read per level */
} span_state;

static void span_init(span_state *st)
{
	st->pos = 0;
	st->depth = 0;
	st->left[0] = 1;
}

/* Advances st over p[0..n). 1 done, 0 need more, -1 invalid, -2 nested
 * deeper than QP_MSGPACK_MAX_DEPTH.  *claimed is set to the end the
 * current item claims (for early caps). */
static int span_step(const uint8_t *p, size_t n, span_state *st,
		     uint64_t *claimed)
{
	for (;;) {
		if (st->left[st->depth] == 0) {
			if (st->depth == 0)
				return 1;
			st->depth--;
			continue;
		}
		if (st->pos >= n)
			return 0;
		uint64_t size, children;
		int r = item_shape(p + st->pos, n - st->pos, &size, &children);
		if (r <= 0)
			return r;
		*claimed = st->pos + size;
		if (st->pos + size > n)
			return 0;
		/* msgpack-c counts an empty container as a level too */
		uint8_t b = p[st->pos];
		bool container = (b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf);
		if (container && st->depth == QP_MSGPACK_MAX_DEPTH)
			return -2;
		st->pos += size;
		st->left[st->depth]--;
		if (children > 0)
			st->left[++st->depth] = children;
	}
}

int qp_msgpack_span(const uint8_t *p, size_t n, size_t *len)
{
	span_state st;
	span_init(&st);
	uint64_t claimed = 0;
	int r = span_step(p, n, &st, &claimed);
	if (r == 1)
		*len = (size_t)st.pos;
	return r;
}

/* ---- reader ---------------------------------------------------------- */

enum { READ_CHUNK = 1 << 18 };

struct qp_reader {
	int fd;
	const char *name;
	size_t max_record;
	uint8_t *buf;
	size_t cap, len, start; /* record being framed is buf[start..len) */
	uint64_t base;          /* stream offset of buf[0] */
	uint64_t index;
	span_state st;
	bool eof;
	msgpack_unpacked unp;
};

qp_reader *qp_reader_new(int fd, const char *name, size_t max_record)
{
	qp_reader *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->fd = fd;
	r->name = name;
	r->max_record = max_record ? max_record : QP_DEFAULT_MAX_RECORD;
	span_init(&r->st);
	msgpack_unpacked_init(&r->unp);
	return r;
}

void qp_reader_free(qp_reader *r)
{
	if (!r)
		return;
	msgpack_unpacked_destroy(&r->unp);
	free(r->buf);
	free(r);
}

/* Makes room for at least one more chunk after len, keeping buf[start..). */
static int reader_make_room(qp_reader *r, qp_err *e)
{
	if (r->start > 0 && r->cap - r->len < READ_CHUNK) {
		memmove(r->buf, r->buf + r->start, r->len - r->start);
		r->base += r->start;
		r->len -= r->start;
		r->start = 0;
	}
	if (r->cap - r->len >= READ_CHUNK)
		return 0;
	size_t cap = r->cap ? r->cap * 2 : 2 * READ_CHUNK;
	while (cap - r->len < READ_CHUNK)
		cap *= 2;
	uint8_t *p = realloc(r->buf, cap);
	if (!p)
		return qp_fail(e, "out of memory reading record %llu",
			       (unsigned long long)r->index + 1);
	r->buf = p;
	r->cap = cap;
	return 0;
}

static int reader_fill(qp_reader *r, qp_err *e)
{
	if (reader_make_room(r, e) < 0)
		return -1;
	for (;;) {
		ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return qp_fail_errno(e, "read");
		if (n == 0)
			r->eof = true;
		r->len += (size_t)n;
		return 0;
	}
}

static uint64_t rec_offset(const qp_reader *r)
{
	return r->base + r->start;
}

static int frame_error(const qp_reader *r, qp_err *e, const char *what)
{
	return qp_fail_record(e, r->index + 1, rec_offset(r), "%s", what);
}

/* Frames the next record: 1 with its length, 0 at clean EOF, -1 error. */
static int reader_frame(qp_reader *r, size_t *rec_len, qp_err *e)
{
	for (;;) {
		static const uint8_t none[1];
		const uint8_t *p = r->buf ? r->buf + r->start : none;
		size_t have = r->len - r->start;
		if (have > 0 && r->st.pos == 0) {
			uint8_t b = p[0];
			if (!((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf)) {
				char what[96];
				snprintf(what, sizeof what,
					 "not a msgpack map (first byte 0x%02x)", b);
				return frame_error(r, e, what);
			}
		}
		uint64_t claimed = 0;
		int s = have ? span_step(p, have, &r->st, &claimed) : 0;
		if (s == -2) {
			char what[96];
			snprintf(what, sizeof what,
				 "nested deeper than %d levels", QP_MSGPACK_MAX_DEPTH);
			return frame_error(r, e, what);
		}
		if (s < 0)
			return frame_error(r, e, "invalid msgpack byte 0xc1");
		if (s == 1) {
			*rec_len = (size_t)r->st.pos;
			return 1;
		}
		if (claimed > r->max_record || have >= r->max_record) {
			char what[128];
			snprintf(what, sizeof what,
				 "record larger than the limit of %zu bytes",
				 r->max_record);
			return frame_error(r, e, what);
		}
		if (r->eof) {
			if (have == 0)
				return 0;
			char what[128];
			snprintf(what, sizeof what,
				 "truncated: the stream ends %zu bytes into the record",
				 have);
			return frame_error(r, e, what);
		}
		if (reader_fill(r, e) < 0)
			return -1;
	}
}

int qp_record_check(const msgpack_object *map, qp_err *e)
{
	const msgpack_object *kind = qp_map_get(map, "kind");
	if (!kind)
		return qp_fail(e, "field \"kind\" is missing");
	if (kind->type != MSGPACK_OBJECT_STR)
		return qp_fail(e, "field \"kind\" is not a string");
	if (!qp_obj_str_eq(kind, "meta"))
		return 0;
	const msgpack_object *schema = qp_map_get(map, "schema");
	if (!schema || (schema->type != MSGPACK_OBJECT_POSITIVE_INTEGER))
		return qp_fail(e, "meta record without an integer \"schema\"");
	if (schema->via.u64 != QP_SCHEMA_MAJOR)
		return qp_fail(e, "schema %llu is not understood by this program "
			       "(schema %d)", (unsigned long long)schema->via.u64,
			       QP_SCHEMA_MAJOR);
	return 0;
}

static int reader_check_record(qp_reader *r, qp_record *rec, qp_err *e)
{
	qp_err why;
	if (qp_record_check(&rec->map, &why) < 0)
		return frame_error(r, e, why.msg);
	const msgpack_object *kind = qp_map_get(&rec->map, "kind");
	rec->kind = kind->via.str.ptr;
	rec->kind_len = kind->via.str.size;
	return 0;
}

int qp_reader_next(qp_reader *r, qp_record *rec, qp_err *e)
{
	size_t n;
	int f = reader_frame(r, &n, e);
	if (f <= 0)
		return f;
	const uint8_t *p = r->buf + r->start;
	size_t off = 0;
	msgpack_unpack_return ur =
		msgpack_unpack_next(&r->unp, (const char *)p, n, &off);
	if (ur != MSGPACK_UNPACK_SUCCESS || off != n)
		return frame_error(r, e, ur == MSGPACK_UNPACK_NOMEM_ERROR
						 ? "out of memory decoding"
						 : "undecodable msgpack");
	*rec = (qp_record){
		.raw = p, .raw_len = n, .map = r->unp.data,
		.index = r->index + 1, .offset = rec_offset(r),
		.source = r->name,
	};
	if (reader_check_record(r, rec, e) < 0)
		return -1;
	r->index++;
	r->start += n;
	span_init(&r->st);
	return 1;
}

/* ---- kept records ------------------------------------------------------ */

int qp_record_keep(const qp_record *src, qp_kept_record *dst, qp_err *e)
{
	*dst = (qp_kept_record){0};
	dst->raw = malloc(src->raw_len ? src->raw_len : 1);
	if (!dst->raw)
		return qp_fail(e, "out of memory keeping record %llu",
			       (unsigned long long)src->index);
	memcpy(dst->raw, src->raw, src->raw_len);
	msgpack_unpacked_init(&dst->unp);
	size_t off = 0;
	if (msgpack_unpack_next(&dst->unp, (const char *)dst->raw, src->raw_len,
				&off) != MSGPACK_UNPACK_SUCCESS) {
		qp_kept_free(dst);
		return qp_fail_record(e, src->index, src->offset,
				      "cannot decode it again");
	}
	dst->rec = *src;
	dst->rec.raw = dst->raw;
	dst->rec.map = dst->unp.data;
	const msgpack_object *kind = qp_map_get(&dst->rec.map, "kind");
	dst->rec.kind = kind->via.str.ptr;
	return 0;
}

int qp_record_from_raw(const uint8_t *raw, size_t len, uint64_t index,
		       qp_kept_record *dst, qp_err *e)
{
	*dst = (qp_kept_record){0};
	size_t span = 0;
	if (qp_msgpack_span(raw, len, &span) != 1 || span != len)
		return qp_fail(e, "record %llu: not one msgpack value",
			       (unsigned long long)index);
	dst->raw = malloc(len ? len : 1);
	if (!dst->raw)
		return qp_fail(e, "out of memory keeping record %llu",
			       (unsigned long long)index);
	memcpy(dst->raw, raw, len);
	msgpack_unpacked_init(&dst->unp);
	size_t off = 0;
	const msgpack_object *kind = NULL;
	if (msgpack_unpack_next(&dst->unp, (const char *)dst->raw, len, &off) ==
		    MSGPACK_UNPACK_SUCCESS &&
	    dst->unp.data.type == MSGPACK_OBJECT_MAP)
		kind = qp_map_get(&dst->unp.data, "kind");
	if (!kind || kind->type != MSGPACK_OBJECT_STR) {
		qp_kept_free(dst);
		return qp_fail(e, "record %llu: not a record (no kind)",
			       (unsigned long long)index);
	}
	dst->rec = (qp_record){.raw = dst->raw, .raw_len = len,
			       .map = dst->unp.data, .kind = kind->via.str.ptr,
			       .kind_len = kind->via.str.size, .index = index};
	return 0;
}

void qp_kept_free(qp_kept_record *k)
{
	if (!k->raw)
		return;
	msgpack_unpacked_destroy(&k->unp);
	free(k->raw);
	k->raw = NULL;
}

/* ---- field access ------------------------------------------------------ */

bool qp_obj_str_eq(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	       memcmp(o->via.str.ptr, s, n) == 0;
}

bool qp_rec_is(const qp_record *rec, const char *kind)
{
	size_t n = strlen(kind);
	return rec->kind_len == n && memcmp(rec->kind, kind, n) == 0;
}

const msgpack_object *qp_map_get(const msgpack_object *map, const char *key)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (qp_obj_str_eq(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

const msgpack_object *qp_map_path(const msgpack_object *map, const char *path)
{
	char part[256];
	const msgpack_object *o = map;
	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof part)
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		o = qp_map_get(o, part);
		path += n + (dot ? 1 : 0);
	}
	return o;
}

const char *qp_obj_type_name(msgpack_object_type t)
{
	switch (t) {
	case MSGPACK_OBJECT_NIL: return "nil";
	case MSGPACK_OBJECT_BOOLEAN: return "boolean";
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "integer";
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return "float";
	case MSGPACK_OBJECT_STR: return "string";
	case MSGPACK_OBJECT_ARRAY: return "array";
	case MSGPACK_OBJECT_MAP: return "map";
	case MSGPACK_OBJECT_BIN: return "bin";
	case MSGPACK_OBJECT_EXT: return "ext";
	}
	return "unknown";
}

static int field_error(const qp_record *rec, const char *key, qp_err *e,
		       const char *what)
{
	return qp_fail_record(e, rec->index, rec->offset, "field \"%s\" %s",
			      key, what);
}

static bool same_family(msgpack_object_type a, msgpack_object_type b)
{
	bool ai = a == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		  a == MSGPACK_OBJECT_NEGATIVE_INTEGER;
	bool bi = b == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		  b == MSGPACK_OBJECT_NEGATIVE_INTEGER;
	bool af = a == MSGPACK_OBJECT_FLOAT32 || a == MSGPACK_OBJECT_FLOAT64;
	bool bf = b == MSGPACK_OBJECT_FLOAT32 || b == MSGPACK_OBJECT_FLOAT64;
	return a == b || (ai && bi) || (af && bf);
}

const msgpack_object *qp_rec_field(const qp_record *rec, const char *key,
				   msgpack_object_type want, qp_err *e)
{
	const msgpack_object *o = qp_map_get(&rec->map, key);
	if (!o) {
		field_error(rec, key, e, "is missing");
		return NULL;
	}
	if (!same_family(o->type, want)) {
		char what[96];
		snprintf(what, sizeof what, "is %s, expected %s",
			 qp_obj_type_name(o->type), qp_obj_type_name(want));
		field_error(rec, key, e, what);
		return NULL;
	}
	return o;
}

int qp_rec_str(const qp_record *rec, const char *key, char *buf, size_t size,
	       qp_err *e)
{
	const msgpack_object *o = qp_rec_field(rec, key, MSGPACK_OBJECT_STR, e);
	if (!o)
		return -1;
	if (o->via.str.size >= size)
		return field_error(rec, key, e, "is too long");
	if (memchr(o->via.str.ptr, '\0', o->via.str.size))
		return field_error(rec, key, e, "contains a NUL byte");
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return 0;
}

int qp_rec_int(const qp_record *rec, const char *key, int64_t *out, qp_err *e)
{
	const msgpack_object *o =
		qp_rec_field(rec, key, MSGPACK_OBJECT_POSITIVE_INTEGER, e);
	if (!o)
		return -1;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 > INT64_MAX)
		return field_error(rec, key, e, "is out of range");
	*out = o->via.i64;
	return 0;
}

int qp_rec_uint(const qp_record *rec, const char *key, uint64_t *out,
		qp_err *e)
{
	const msgpack_object *o =
		qp_rec_field(rec, key, MSGPACK_OBJECT_POSITIVE_INTEGER, e);
	if (!o)
		return -1;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return field_error(rec, key, e, "is negative");
	*out = o->via.u64;
	return 0;
}

bool qp_obj_number(const msgpack_object *o, double *out)
{
	if (!o)
		return false;
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return true;
	case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return true;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return true;
	default: return false;
	}
}

int qp_rec_double(const qp_record *rec, const char *key, double *out,
		  qp_err *e)
{
	const msgpack_object *o = qp_map_get(&rec->map, key);
	if (!o)
		return field_error(rec, key, e, "is missing");
	if (qp_obj_number(o, out))
		return 0;
	char what[96];
	snprintf(what, sizeof what, "is %s, expected a number",
		 qp_obj_type_name(o->type));
	return field_error(rec, key, e, what);
}

/* ---- writer ------------------------------------------------------------ */

enum { WRITE_FLUSH_AT = 1 << 20 };

struct qp_writer {
	int fd;
	bool json;
	qp_buf rec;     /* the record being packed */
	qp_buf out;     /* queued output bytes */
	msgpack_packer pk;
	int write_errno; /* first write error, latched */
	bool oom;
	msgpack_unpacked unp;
};

static int packer_append(void *data, const char *buf, size_t len)
{
	qp_buf *b = data;
	qp_buf_append(b, buf, len);
	return b->oom ? -1 : 0;
}

qp_writer *qp_writer_new(int fd, bool json)
{
	qp_writer *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->fd = fd;
	w->json = json;
	msgpack_packer_init(&w->pk, &w->rec, packer_append);
	msgpack_unpacked_init(&w->unp);
	return w;
}

msgpack_packer *qp_writer_packer(qp_writer *w)
{
	return &w->pk;
}

static void write_all(qp_writer *w, const char *p, size_t n)
{
	while (n > 0 && !w->write_errno) {
		ssize_t k = write(w->fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			w->write_errno = errno;
			return;
		}
		p += k;
		n -= (size_t)k;
	}
}

static void writer_flush(qp_writer *w)
{
	write_all(w, w->out.p, w->out.len);
	w->out.len = 0;
}

static int writer_report(qp_writer *w, qp_err *e)
{
	if (w->oom || w->rec.oom || w->out.oom)
		return qp_fail(e, "out of memory writing records");
	if (w->write_errno) {
		errno = w->write_errno;
		return qp_fail_errno(e, "write");
	}
	return 0;
}

static void writer_queue(qp_writer *w, const uint8_t *p, size_t n)
{
	if (n >= WRITE_FLUSH_AT) { /* big records bypass the queue */
		writer_flush(w);
		write_all(w, (const char *)p, n);
		return;
	}
	qp_buf_append(&w->out, p, n);
	if (w->out.len >= WRITE_FLUSH_AT)
		writer_flush(w);
}

static int writer_emit(qp_writer *w, const uint8_t *p, size_t n, qp_err *e)
{
	if (!w->json) {
		writer_queue(w, p, n);
		return writer_report(w, e);
	}
	size_t off = 0;
	if (msgpack_unpack_next(&w->unp, (const char *)p, n, &off) !=
	    MSGPACK_UNPACK_SUCCESS)
		return qp_fail(e, "cannot decode a record to show it as JSON");
	qp_buf line = {0};
	qp_json_from_obj(&line, &w->unp.data);
	qp_buf_putc(&line, '\n');
	w->oom |= line.oom;
	writer_queue(w, (const uint8_t *)line.p, line.len);
	qp_buf_free(&line);
	return writer_report(w, e);
}

int qp_writer_end(qp_writer *w, qp_err *e)
{
	size_t n = 0;
	if (w->rec.oom)
		return writer_report(w, e);
	int span = qp_msgpack_span((const uint8_t *)w->rec.p, w->rec.len, &n);
	if (span == -2) {
		w->rec.len = 0;
		return qp_fail(e, "record nested deeper than %d levels (no "
			       "reader would accept it)", QP_MSGPACK_MAX_DEPTH);
	}
	if (span != 1 ||
	    n != w->rec.len || (uint8_t)w->rec.p[0] < 0x80 ||
	    ((uint8_t)w->rec.p[0] > 0x8f && (uint8_t)w->rec.p[0] < 0xde))
		return qp_fail(e, "internal error: packed record is not one map");
	int r = writer_emit(w, (const uint8_t *)w->rec.p, w->rec.len, e);
	w->rec.len = 0;
	return r;
}

int qp_writer_end_checked(qp_writer *w, qp_err *e)
{
	if (w->rec.oom)
		return writer_report(w, e);
	size_t n = 0;
	if (qp_msgpack_span((const uint8_t *)w->rec.p, w->rec.len, &n) == 1) {
		msgpack_unpacked u;
		msgpack_unpacked_init(&u);
		size_t off = 0;
		msgpack_unpack_return ur = msgpack_unpack_next(
			&u, w->rec.p, w->rec.len, &off);
		int rc = ur == MSGPACK_UNPACK_SUCCESS
				 ? qp_record_check(&u.data, e)
				 : qp_fail(e, "out of memory checking the record");
		msgpack_unpacked_destroy(&u);
		if (rc < 0) {
			w->rec.len = 0;
			return -1;
		}
	}
	return qp_writer_end(w, e);
}

int qp_writer_raw(qp_writer *w, const uint8_t *p, size_t n, qp_err *e)
{
	return writer_emit(w, p, n, e);
}

int qp_writer_close(qp_writer *w, qp_err *e)
{
	if (!w)
		return 0;
	writer_flush(w);
	int r = writer_report(w, e);
	msgpack_unpacked_destroy(&w->unp);
	qp_buf_free(&w->rec);
	qp_buf_free(&w->out);
	free(w);
	return r;
}

static bool is_owned(const msgpack_object *key, const char *const *own,
		     int n_own)
{
	for (int j = 0; j < n_own; j++)
		if (qp_obj_str_eq(key, own[j]))
			return true;
	return false;
}

int qp_writer_enrich_keys(qp_writer *w, const qp_record *rec,
			  const char *const *own, int n_own, uint32_t n_new)
{
	const msgpack_object_map *m = &rec->map.via.map;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < m->size; i++)
		kept += !is_owned(&m->ptr[i].key, own, n_own);
	msgpack_pack_map(&w->pk, kept + n_new);
	for (uint32_t i = 0; i < m->size; i++) {
		if (is_owned(&m->ptr[i].key, own, n_own))
			continue;
		msgpack_pack_object(&w->pk, m->ptr[i].key);
		msgpack_pack_object(&w->pk, m->ptr[i].val);
	}
	return 0;
}

int qp_writer_enrich(qp_writer *w, const qp_record *rec, const char *own_key)
{
	qp_writer_enrich_keys(w, rec, &own_key, 1, 1);
	qp_pack_str(&w->pk, own_key);
	return 0;
}

int qp_write_meta(qp_writer *w, const char *tool, int argc, char **argv,
		  qp_err *e)
{
	msgpack_packer *pk = &w->pk;
	msgpack_pack_map(pk, 5);
	qp_pack_key_str(pk, "kind", "meta");
	qp_pack_key_int(pk, "schema", QP_SCHEMA_MAJOR);
	qp_pack_key_str(pk, "tool", tool);
	qp_pack_key_str(pk, "version", QP_VERSION);
	qp_pack_str(pk, "argv");
	msgpack_pack_array(pk, (size_t)argc);
	for (int i = 0; i < argc; i++)
		qp_pack_str(pk, argv[i]);
	return qp_writer_end(w, e);
}

void qp_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void qp_pack_str(msgpack_packer *pk, const char *s)
{
	qp_pack_strn(pk, s, strlen(s));
}

void qp_pack_key_str(msgpack_packer *pk, const char *key, const char *val)
{
	qp_pack_str(pk, key);
	qp_pack_str(pk, val);
}

void qp_pack_key_int(msgpack_packer *pk, const char *key, int64_t val)
{
	qp_pack_str(pk, key);
	msgpack_pack_int64(pk, val);
}

void qp_pack_key_uint(msgpack_packer *pk, const char *key, uint64_t val)
{
	qp_pack_str(pk, key);
	msgpack_pack_uint64(pk, val);
}

void qp_pack_key_double(msgpack_packer *pk, const char *key, double val)
{
	qp_pack_str(pk, key);
	msgpack_pack_double(pk, val);
}

void qp_pack_key_bool(msgpack_packer *pk, const char *key, bool val)
{
	qp_pack_str(pk, key);
	if (val)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

/* ---- counted maps, nil ------------------------------------------------- */

void qp_mapw_begin(qp_mapw *m, msgpack_packer *out)
{
	*m = (qp_mapw){.out = out};
	msgpack_packer_init(&m->pk, &m->buf, packer_append);
}

msgpack_packer *qp_mapw_key(qp_mapw *m, const char *key)
{
	m->n++;
	qp_pack_str(&m->pk, key);
	return &m->pk;
}

/* Header and entries to out; an allocation failure of m marks out's
 * buffer too when it is one of ours, so the record fails as a whole. */
static void mapw_emit(qp_mapw *m, msgpack_packer *out)
{
	msgpack_pack_map(out, m->n);
	if (m->buf.len)
		out->callback(out->data, m->buf.p, m->buf.len);
	if (m->buf.oom && out->callback == packer_append)
		((qp_buf *)out->data)->oom = true;
	qp_buf_free(&m->buf);
}

void qp_mapw_end(qp_mapw *m)
{
	if (m->out)
		mapw_emit(m, m->out);
	else
		qp_buf_free(&m->buf);
}

void qp_mapw_drop(qp_mapw *m)
{
	qp_buf_free(&m->buf);
	m->n = 0;
}

int qp_writer_enrich_map(qp_writer *w, const qp_record *rec,
			 const char *const *own_keys, int n_own, qp_mapw *own)
{
	qp_writer_enrich_keys(w, rec, own_keys, n_own, own->n);
	if (own->buf.len)
		qp_buf_append(&w->rec, own->buf.p, own->buf.len);
	if (own->buf.oom)
		w->rec.oom = true;
	qp_buf_free(&own->buf);
	return 0;
}

void qp_pack_num(msgpack_packer *pk, double v)
{
	if (isnan(v))
		msgpack_pack_nil(pk);
	else
		msgpack_pack_double(pk, v);
}

void qp_pack_count(msgpack_packer *pk, int64_t v)
{
	if (v < 0)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_int64(pk, v);
}

void qp_pack_key_num(msgpack_packer *pk, const char *key, double v)
{
	qp_pack_str(pk, key);
	qp_pack_num(pk, v);
}

void qp_pack_key_count(msgpack_packer *pk, const char *key, int64_t v)
{
	qp_pack_str(pk, key);
	qp_pack_count(pk, v);
}

void qp_pack_bool(msgpack_packer *pk, bool val)
{
	if (val)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}
