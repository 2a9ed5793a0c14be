#include "gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checked.h"
#include "gguf.h"
#include "le.h"
#include "types.h"

#define ARRAY_HEADER_BYTES 12u /* element type u32, count u64 */

typedef struct wkv {
	char *key;
	uint32_t type;
	uint8_t *val; /* the value as encoded in the file */
	size_t val_len;
} wkv;

typedef struct wtensor {
	char *name;
	uint32_t type;
	int n_dims;
	int64_t ne[QP_GGUF_MAX_DIMS];
	uint64_t n_bytes;
} wtensor;

struct qp_gguf_writer {
	wkv *kv;
	size_t n_kv, cap_kv;
	wtensor *t;
	size_t n_t, cap_t;
};

qp_gguf_writer *qp_gguf_writer_new(void)
{
	return calloc(1, sizeof(qp_gguf_writer));
}

void qp_gguf_writer_free(qp_gguf_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_kv; i++) {
		free(w->kv[i].key);
		free(w->kv[i].val);
	}
	for (size_t i = 0; i < w->n_t; i++)
		free(w->t[i].name);
	free(w->kv);
	free(w->t);
	free(w);
}

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p = realloc(*v, ncap * size);
	if (!p)
		return false;
	*v = p;
	*cap = ncap;
	return true;
}

/* Takes ownership of val. Setting a key again replaces its value, so the
 * file never holds a key twice. */
static int set_kv(qp_gguf_writer *w, const char *key, uint32_t type,
		  uint8_t *val, size_t val_len)
{
	if (!val)
		return -1;
	for (size_t i = 0; i < w->n_kv; i++) {
		if (strcmp(w->kv[i].key, key) == 0) {
			free(w->kv[i].val);
			w->kv[i].type = type;
			w->kv[i].val = val;
			w->kv[i].val_len = val_len;
			return 0;
		}
	}
	char *k = strdup(key);
	if (!k || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
		free(k);
		free(val);
		return -1;
	}
	w->kv[w->n_kv++] = (wkv){ k, type, val, val_len };
	return 0;
}

static int set_fixed(qp_gguf_writer *w, const char *key, uint32_t type,
		     uint64_t bits)
{
	size_t n = qp_gguf_vtype_size(type);
	uint8_t *v = malloc(8);
	if (v)
		le_put_u64(v, bits); /* little-endian: the low n bytes are it */
	return set_kv(w, key, type, v, n);
}

int qp_gguf_w_u32(qp_gguf_writer *w, const char *key, uint32_t v)
{
	return set_fixed(w, key, QP_GGUF_U32, v);
}

int qp_gguf_w_i32(qp_gguf_writer *w, const char *key, int32_t v)
{
	return set_fixed(w, key, QP_GGUF_I32, (uint32_t)v);
}

int qp_gguf_w_u64(qp_gguf_writer *w, const char *key, uint64_t v)
{
	return set_fixed(w, key, QP_GGUF_U64, v);
}

int qp_gguf_w_f32(qp_gguf_writer *w, const char *key, float v)
{
	uint32_t bits;
	memcpy(&bits, &v, sizeof bits);
	return set_fixed(w, key, QP_GGUF_F32, bits);
}

int qp_gguf_w_bool(qp_gguf_writer *w, const char *key, bool v)
{
	return set_fixed(w, key, QP_GGUF_BOOL, v ? 1 : 0);
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
	le_put_u64(p, n);
	if (n)
		memcpy(p + 8, s, n);
	return p + 8 + n;
}

int qp_gguf_w_str(qp_gguf_writer *w, const char *key, const char *v)
{
	size_t n = strlen(v);
	uint8_t *val = malloc(8 + n);
	if (val)
		put_str(val, v, n);
	return set_kv(w, key, QP_GGUF_STRING, val, 8 + n);
}

static uint8_t *array_header(uint32_t elem_type, uint64_t n, size_t body)
{
	if (body > SIZE_MAX - ARRAY_HEADER_BYTES)
		return NULL;
	uint8_t *val = malloc(ARRAY_HEADER_BYTES + body);
	if (val) {
		le_put_u32(val, elem_type);
		le_put_u64(val + 4, n);
	}
	return val;
}

int qp_gguf_w_arr_str(qp_gguf_writer *w, const char *key,
		      const char *const *v, uint64_t n)
{
	size_t body = 0;
	for (uint64_t i = 0; i < n; i++) {
		size_t add = strlen(v[i]);
		if (add > SIZE_MAX - 8 - body)
			return -1;
		body += 8 + add;
	}
	uint8_t *val = array_header(QP_GGUF_STRING, n, body);
	if (val) {
		uint8_t *p = val + ARRAY_HEADER_BYTES;
		for (uint64_t i = 0; i < n; i++)
			p = put_str(p, v[i], strlen(v[i]));
	}
	return set_kv(w, key, QP_GGUF_ARRAY, val, ARRAY_HEADER_BYTES + body);
}

static int set_arr32(qp_gguf_writer *w, const char *key, uint32_t elem_type,
		     const void *v, uint64_t n)
{
	if (n > (SIZE_MAX - ARRAY_HEADER_BYTES) / 4)
		return -1;
	size_t body = (size_t)n * 4;
	uint8_t *val = array_header(elem_type, n, body);
	if (val) {
		const uint8_t *src = v;
		for (uint64_t i = 0; i < n; i++) {
			uint32_t u;
			memcpy(&u, src + 4 * i, 4);
			le_put_u32(val + ARRAY_HEADER_BYTES + 4 * i, u);
		}
	}
	return set_kv(w, key, QP_GGUF_ARRAY, val, ARRAY_HEADER_BYTES + body);
}

int qp_gguf_w_arr_i32(qp_gguf_writer *w, const char *key, const int32_t *v,
		      uint64_t n)
{
	return set_arr32(w, key, QP_GGUF_I32, v, n);
}

int qp_gguf_w_arr_f32(qp_gguf_writer *w, const char *key, const float *v,
		      uint64_t n)
{
	return set_arr32(w, key, QP_GGUF_F32, v, n);
}

int qp_gguf_w_tensor(qp_gguf_writer *w, const char *name, uint32_t type,
		     const int64_t *ne, int n_dims, qp_err *e)
{
	size_t len = strlen(name);
	if (len == 0 || len >= QP_GGUF_MAX_NAME)
		return qp_fail(e, "tensor name '%s' must be 1 to %d characters",
			       name, QP_GGUF_MAX_NAME - 1);
	for (size_t i = 0; i < w->n_t; i++)
		if (strcmp(w->t[i].name, name) == 0)
			return qp_fail(e, "duplicate tensor name '%s'", name);
	wtensor t = { .type = type, .n_dims = n_dims };
	if (qp_type_nbytes(type, ne, n_dims, &t.n_bytes, e))
		return qp_fail_prefix(e, "tensor '%s'", name);
	for (int d = 0; d < QP_GGUF_MAX_DIMS; d++)
		t.ne[d] = d < n_dims ? ne[d] : 1;
	t.name = strdup(name);
	if (!t.name || !grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t)) {
		free(t.name);
		return qp_fail(e, "out of memory");
	}
	w->t[w->n_t++] = t;
	return 0;
}

static int write_all(int fd, const void *buf, size_t n, qp_err *e)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return qp_fail_errno(e, "write");
		if (k == 0)
			return qp_fail(e, "write: no progress");
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int write_zeros(int fd, uint64_t n, qp_err *e)
{
	static const uint8_t zeros[4096];
	while (n > 0) {
		size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
		if (write_all(fd, zeros, k, e))
			return -1;
		n -= k;
	}
	return 0;
}

static int writer_alignment(const qp_gguf_writer *w, uint32_t *align,
			    qp_err *e)
{
	*align = QP_GGUF_DEFAULT_ALIGNMENT;
	for (size_t i = 0; i < w->n_kv; i++) {
		if (strcmp(w->kv[i].key, "general.alignment") != 0)
			continue;
		if (w->kv[i].type != QP_GGUF_U32)
			return qp_fail(e, "general.alignment must be a u32");
		uint32_t a = le_u32(w->kv[i].val);
		if (a == 0 || (a & (a - 1)) != 0)
			return qp_fail(e,
				       "general.alignment %u is not a power of two",
				       (unsigned)a);
		*align = a;
	}
	return 0;
}

/* Header, kv and tensor infos in one buffer, padded to the alignment
 * (metadata is small next to the data). */
static uint8_t *build_meta(const qp_gguf_writer *w, uint32_t align,
			   size_t *meta_len,
			   uint64_t *data_len, qp_err *e)
{
	size_t n = 4 + 4 + 8 + 8;
	for (size_t i = 0; i < w->n_kv; i++)
		n += 8 + strlen(w->kv[i].key) + 4 + w->kv[i].val_len;
	for (size_t i = 0; i < w->n_t; i++)
		n += 8 + strlen(w->t[i].name) + 4 + 8 * (size_t)w->t[i].n_dims +
		     4 + 8;
	uint64_t padded;
	if (!ck_align_u64(n, align, &padded) || padded > SIZE_MAX) {
		qp_fail(e, "metadata too large");
		return NULL;
	}
	uint8_t *buf = calloc(1, (size_t)padded);
	if (!buf) {
		qp_fail(e, "out of memory for %llu bytes of metadata",
			(unsigned long long)padded);
		return NULL;
	}
	uint8_t *p = buf;
	memcpy(p, "GGUF", 4);
	le_put_u32(p + 4, 3);
	le_put_u64(p + 8, w->n_t);
	le_put_u64(p + 16, w->n_kv);
	p += 24;
	for (size_t i = 0; i < w->n_kv; i++) {
		p = put_str(p, w->kv[i].key, strlen(w->kv[i].key));
		le_put_u32(p, w->kv[i].type);
		memcpy(p + 4, w->kv[i].val, w->kv[i].val_len);
		p += 4 + w->kv[i].val_len;
	}
	uint64_t off = 0;
	for (size_t i = 0; i < w->n_t; i++) {
		const wtensor *t = &w->t[i];
		p = put_str(p, t->name, strlen(t->name));
		le_put_u32(p, (uint32_t)t->n_dims);
		p += 4;
		for (int d = 0; d < t->n_dims; d++, p += 8)
			le_put_u64(p, (uint64_t)t->ne[d]);
		le_put_u32(p, t->type);
		le_put_u64(p + 4, off);
		p += 12;
		if (!ck_add_u64(off, t->n_bytes, &off) ||
		    !ck_align_u64(off, align, &off)) {
			free(buf);
			qp_fail(e, "data section size overflows 64 bits");
			return NULL;
		}
	}
	*meta_len = (size_t)padded;
	*data_len = off;
	return buf;
}

static int write_data(const qp_gguf_writer *w, int fd, uint32_t align,
		      qp_gguf_fill_fn fill, void *ctx, qp_err *e)
{
	/* One buffer, the size of the largest tensor, reused for all. */
	uint64_t largest = 0;
	for (size_t i = 0; i < w->n_t; i++)
		if (w->t[i].n_bytes > largest)
			largest = w->t[i].n_bytes;
	if (largest > SIZE_MAX)
		return qp_fail(e, "tensor of %llu bytes does not fit in memory",
			       (unsigned long long)largest);
	uint8_t *buf = malloc(largest ? (size_t)largest : 1);
	if (!buf)
		return qp_fail(e, "out of memory for a %llu-byte tensor",
			       (unsigned long long)largest);
	int rc = 0;
	for (size_t i = 0; i < w->n_t && rc == 0; i++) {
		const wtensor *t = &w->t[i];
		uint64_t pad = (align - t->n_bytes % align) % align;
		if (fill(ctx, i, buf, t->n_bytes, e))
			rc = qp_fail_prefix(e, "tensor '%s'", t->name);
		else if (write_all(fd, buf, (size_t)t->n_bytes, e) ||
			 write_zeros(fd, pad, e))
			rc = qp_fail_prefix(e, "tensor '%s'", t->name);
	}
	free(buf);
	return rc;
}

/* The data section as a hole: extend the file without writing. */
static int write_hole(int fd, uint64_t data_len, qp_err *e)
{
	off_t here = lseek(fd, 0, SEEK_CUR);
	if (here < 0)
		return qp_fail_errno(e, "lseek");
	uint64_t end;
	if (!ck_add_u64((uint64_t)here, data_len, &end) ||
	    end > (uint64_t)INT64_MAX)
		return qp_fail(e, "file size overflows");
	if (ftruncate(fd, (off_t)end) != 0)
		return qp_fail_errno(e, "ftruncate");
	if (lseek(fd, (off_t)end, SEEK_SET) < 0)
		return qp_fail_errno(e, "lseek");
	return 0;
}

int qp_gguf_writer_write(qp_gguf_writer *w, int fd, qp_gguf_fill_fn fill,
			 void *ctx, qp_err *e)
{
	uint32_t align;
	if (writer_alignment(w, &align, e))
		return -1;
	size_t meta_len;
	uint64_t data_len;
	uint8_t *meta = build_meta(w, align, &meta_len, &data_len, e);
	if (!meta)
		return -1;
	int rc = write_all(fd, meta, meta_len, e);
	free(meta);
	if (rc)
		return -1;
	if (fill)
		return write_data(w, fd, align, fill, ctx, e);
	return write_hole(fd, data_len, e);
}
