/* imatrix.c — see imatrix.h. */
#include "imatrix.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "gguf.h"
#include "le.h"
#include "mapfile.h"

/* No real imatrix comes near these; larger values mean a corrupt file. */
#define MAX_COUNT 1e18
#define MAX_NAME_LEN QP_IMATRIX_MAX_NAME
#define MAX_DATASET_LEN (1 << 20)

#define GGML_TYPE_F32 0

void qp_imatrix_free(qp_imatrix *im)
{
	if (!im)
		return;
	for (int64_t i = 0; i < im->n_entries; i++) {
		qp_imatrix_entry *en = &im->entries[i];
		free(en->name);
		free(en->sum2);
		free(en->counts);
		free(en->importance);
	}
	free(im->entries);
	for (int64_t i = 0; i < im->n_datasets; i++)
		free(im->datasets[i]);
	free(im->datasets);
	memset(im, 0, sizeof *im);
}

static void imatrix_init(qp_imatrix *im, int format)
{
	memset(im, 0, sizeof *im);
	im->format = format;
	im->counts_are_tokens = format == QP_IMATRIX_GGUF;
	im->chunk_count = -1;
	im->chunk_size = -1;
}

static char *dup_bytes(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* Copies a name read from a file; rejects what cannot be a C string. */
static int copy_text(const char *p, size_t n, size_t max, char **out,
		     const char *what, qp_err *e)
{
	if (n == 0)
		return qp_fail(e, "%s: empty name", what);
	if (n > max)
		return qp_fail(e, "%s: name of %zu bytes is too long", what, n);
	if (memchr(p, '\0', n))
		return qp_fail(e, "%s: name contains a NUL byte", what);
	if (!(*out = dup_bytes(p, n)))
		return qp_fail(e, "%s: out of memory", what);
	return 0;
}

static int copy_name(const char *p, size_t n, char **out, const char *what,
		     qp_err *e)
{
	return copy_text(p, n, MAX_NAME_LEN, out, what, e);
}

static int alloc_entry_arrays(qp_imatrix_entry *en, qp_err *e)
{
	size_t nv = (size_t)(en->n_cols * en->n_expert);
	en->sum2 = malloc(nv * sizeof *en->sum2);
	en->importance = malloc(nv * sizeof *en->importance);
	en->counts = malloc((size_t)en->n_expert * sizeof *en->counts);
	if (!en->sum2 || !en->importance || !en->counts)
		return qp_fail(e, "%s: out of memory", en->name);
	return 0;
}

/* Checks the sums and counts of a filled entry and derives importance the
 * way llama-quantize does: float sum / float count, 1 for idle experts. */
static int finish_entry(qp_imatrix_entry *en, qp_err *e)
{
	en->n_idle_experts = 0;
	for (int64_t x = 0; x < en->n_expert; x++) {
		double c = en->counts[x];
		if (!isfinite(c) || c < 0 || c > MAX_COUNT || c != floor(c))
			return qp_fail(e, "%s: expert %lld: bad count %g",
				       en->name, (long long)x, c);
		if (c == 0)
			en->n_idle_experts++;
	}
	if (en->n_idle_experts == en->n_expert)
		return qp_fail(e, "%s: count is zero (no tokens seen)",
			       en->name);
	for (int64_t x = 0; x < en->n_expert; x++) {
		float c = (float)en->counts[x];
		for (int64_t j = 0; j < en->n_cols; j++) {
			int64_t i = x * en->n_cols + j;
			double s = en->sum2[i];
			if (!isfinite(s) || s < 0)
				return qp_fail(e, "%s: column %lld: bad sum %g",
					       en->name, (long long)i, s);
			en->importance[i] = c > 0 ? (float)s / c : 1.0f;
		}
	}
	return 0;
}

static int cmp_entry_name(const void *a, const void *b)
{
	return strcmp(((const qp_imatrix_entry *)a)->name,
		      ((const qp_imatrix_entry *)b)->name);
}

static int sort_entries(qp_imatrix *im, qp_err *e)
{
	qsort(im->entries, (size_t)im->n_entries, sizeof *im->entries,
	      cmp_entry_name);
	for (int64_t i = 1; i < im->n_entries; i++)
		if (strcmp(im->entries[i - 1].name, im->entries[i].name) == 0)
			return qp_fail(e, "%s: duplicate entry",
				       im->entries[i].name);
	return 0;
}

const qp_imatrix_entry *qp_imatrix_find(const qp_imatrix *im,
					const char *name)
{
	qp_imatrix_entry key = {.name = (char *)name};
	return bsearch(&key, im->entries, (size_t)im->n_entries,
		       sizeof *im->entries, cmp_entry_name);
}

/* ---- legacy .dat ------------------------------------------------------ */

typedef struct reader {
	const uint8_t *p;
	size_t left;
	size_t off;
} reader;

static int rd_i32(reader *r, int32_t *out, const char *what, qp_err *e)
{
	if (r->left < 4)
		return qp_fail(e, "truncated at byte %zu reading %s", r->off,
			       what);
	*out = (int32_t)le_u32(r->p);
	r->p += 4;
	r->left -= 4;
	r->off += 4;
	return 0;
}

static int rd_bytes(reader *r, size_t n, const uint8_t **out,
		    const char *what, qp_err *e)
{
	if (r->left < n)
		return qp_fail(e, "truncated at byte %zu reading %s (%zu bytes,"
			       " %zu left)", r->off, what, n, r->left);
	*out = r->p;
	r->p += n;
	r->left -= n;
	r->off += n;
	return 0;
}

/* int32 name_len 1, name 1, ncall, nval, one float */
#define DAT_MIN_ENTRY_BYTES 17

static int dat_entry(reader *r, int64_t idx, qp_imatrix_entry *en, qp_err *e)
{
	char what[64];
	snprintf(what, sizeof what, "entry %lld", (long long)idx);
	int32_t len, ncall, nval;
	const uint8_t *p;
	if (rd_i32(r, &len, "name length", e))
		return qp_fail_prefix(e, "%s", what);
	if (len <= 0 || (size_t)len > r->left)
		return qp_fail(e, "%s: bad name length %d at byte %zu (%zu "
			       "bytes left)", what, len, r->off - 4, r->left);
	if (rd_bytes(r, (size_t)len, &p, "name", e) ||
	    copy_name((const char *)p, (size_t)len, &en->name, what, e))
		return -1;
	if (rd_i32(r, &ncall, "ncall", e) || rd_i32(r, &nval, "nval", e))
		return qp_fail_prefix(e, "%s", en->name);
	if (ncall <= 0)
		return qp_fail(e, "%s: ncall is %d (no data)", en->name, ncall);
	if (nval <= 0 || (size_t)nval > r->left / 4)
		return qp_fail(e, "%s: bad value count %d at byte %zu (%zu "
			       "bytes left)", en->name, nval, r->off - 4,
			       r->left);
	if (rd_bytes(r, (size_t)nval * 4, &p, "values", e))
		return qp_fail_prefix(e, "%s", en->name);
	en->n_cols = nval;
	en->n_expert = 1;
	if (alloc_entry_arrays(en, e))
		return -1;
	en->counts[0] = ncall;
	for (int32_t j = 0; j < nval; j++)
		en->sum2[j] = le_f32(p + 4 * (size_t)j);
	return finish_entry(en, e);
}

/* Optional since older files end after the entries. */
static int dat_trailer(reader *r, qp_imatrix *im, qp_err *e)
{
	if (r->left == 0)
		return 0;
	int32_t last_chunk, len;
	const uint8_t *p;
	if (rd_i32(r, &last_chunk, "last chunk", e) ||
	    rd_i32(r, &len, "dataset name length", e))
		return -1;
	if (last_chunk < 0)
		return qp_fail(e, "bad chunk count %d", last_chunk);
	if (len < 0 || (size_t)len != r->left)
		return qp_fail(e, "dataset name length %d at byte %zu does not "
			       "match the %zu bytes left", len, r->off - 4,
			       r->left);
	if (rd_bytes(r, (size_t)len, &p, "dataset name", e))
		return -1;
	im->chunk_count = last_chunk;
	if (len == 0)
		return 0;
	if (!(im->datasets = calloc(1, sizeof *im->datasets)))
		return qp_fail(e, "out of memory");
	if (copy_text((const char *)p, (size_t)len, MAX_DATASET_LEN,
		      &im->datasets[0], "dataset", e))
		return -1;
	im->n_datasets = 1;
	return 0;
}

int qp_imatrix_parse_dat(const uint8_t *buf, size_t len, qp_imatrix *im,
			 qp_err *e)
{
	imatrix_init(im, QP_IMATRIX_DAT);
	reader r = {buf, len, 0};
	int32_t n;
	if (rd_i32(&r, &n, "entry count", e))
		return -1;
	if (n <= 0 || (size_t)n > r.left / DAT_MIN_ENTRY_BYTES)
		return qp_fail(e, "bad entry count %d for a file of %zu bytes",
			       n, len);
	if (!(im->entries = calloc((size_t)n, sizeof *im->entries)))
		return qp_fail(e, "out of memory");
	for (int32_t i = 0; i < n; i++) {
		im->n_entries = i + 1; /* so free() sees partial entries */
		if (dat_entry(&r, i, &im->entries[i], e))
			goto fail;
	}
	if (dat_trailer(&r, im, e) || sort_entries(im, e))
		goto fail;
	return 0;
fail:
	qp_imatrix_free(im);
	return -1;
}

/* ---- GGUF --------------------------------------------------------------- */

enum { PART_SUM2 = 0, PART_COUNTS = 1 };

typedef struct part_ref {
	const char *base; /* name without the suffix, not NUL-terminated */
	size_t base_len;
	int kind;
	const qp_gguf_tensor *t;
} part_ref;

static int cmp_part(const void *a, const void *b)
{
	const part_ref *x = a, *y = b;
	size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
	int c = memcmp(x->base, y->base, n);
	if (c)
		return c;
	if (x->base_len != y->base_len)
		return x->base_len < y->base_len ? -1 : 1;
	return x->kind - y->kind;
}

static bool strip_suffix(qp_gguf_str s, const char *suf, size_t *base_len)
{
	size_t n = strlen(suf);
	if (s.len <= n || memcmp(s.ptr + s.len - n, suf, n) != 0)
		return false;
	*base_len = (size_t)s.len - n;
	return true;
}

static int gguf_collect_parts(const qp_gguf *g, part_ref **out, size_t *n,
			      qp_err *e)
{
	part_ref *parts = calloc(g->n_tensors ? g->n_tensors : 1,
				 sizeof *parts);
	if (!parts)
		return qp_fail(e, "out of memory");
	size_t k = 0;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const qp_gguf_tensor *t = &g->tensors[i];
		size_t bl;
		int kind;
		if (strip_suffix(t->name, ".in_sum2", &bl))
			kind = PART_SUM2;
		else if (strip_suffix(t->name, ".counts", &bl))
			kind = PART_COUNTS;
		else
			continue;
		parts[k++] = (part_ref){t->name.ptr, bl, kind, t};
	}
	qsort(parts, k, sizeof *parts, cmp_part);
	*out = parts;
	*n = k;
	return 0;
}

static int gguf_check_f32(const qp_gguf_tensor *t, const char *name,
			  const char *part, qp_err *e)
{
	if (t->type != GGML_TYPE_F32)
		return qp_fail(e, "%s: %s has ggml type %u, not F32", name,
			       part, t->type);
	if (!t->size_known || t->n_bytes != t->n_elem * 4)
		return qp_fail(e, "%s: %s has a bad size", name, part);
	return 0;
}

static int gguf_entry(const uint8_t *buf, const part_ref *sum,
		      const part_ref *cnt, qp_imatrix_entry *en, qp_err *e)
{
	const qp_gguf_tensor *ts = sum->t, *tc = cnt->t;
	if (gguf_check_f32(ts, en->name, "in_sum2", e) ||
	    gguf_check_f32(tc, en->name, "counts", e))
		return -1;
	if (ts->n_dims > 2 || ts->ne[2] != 1 || ts->ne[3] != 1 ||
	    ts->ne[0] <= 0 || ts->ne[1] <= 0)
		return qp_fail(e, "%s: in_sum2 has %u dims [%lld, %lld, %lld, "
			       "%lld], want [n_cols] or [n_cols, n_expert]",
			       en->name, ts->n_dims, (long long)ts->ne[0],
			       (long long)ts->ne[1], (long long)ts->ne[2],
			       (long long)ts->ne[3]);
	en->n_cols = ts->ne[0];
	en->n_expert = ts->ne[1];
	if (tc->n_elem != (uint64_t)en->n_expert)
		return qp_fail(e, "%s: %llu counts for %lld experts", en->name,
			       (unsigned long long)tc->n_elem,
			       (long long)en->n_expert);
	if (alloc_entry_arrays(en, e))
		return -1;
	const uint8_t *ps = buf + ts->offset, *pc = buf + tc->offset;
	for (uint64_t i = 0; i < ts->n_elem; i++)
		en->sum2[i] = le_f32(ps + 4 * i);
	for (int64_t x = 0; x < en->n_expert; x++)
		en->counts[x] = le_f32(pc + 4 * (uint64_t)x);
	return finish_entry(en, e);
}

static int gguf_pair_entries(const uint8_t *buf, const part_ref *parts,
			     size_t n, qp_imatrix *im, qp_err *e)
{
	if (!(im->entries = calloc(n ? n : 1, sizeof *im->entries)))
		return qp_fail(e, "out of memory");
	for (size_t i = 0; i < n;) {
		const part_ref *a = &parts[i];
		qp_imatrix_entry *en = &im->entries[im->n_entries++];
		if (copy_name(a->base, a->base_len, &en->name, "tensor", e))
			return -1;
		const part_ref *b = i + 1 < n ? &parts[i + 1] : NULL;
		bool same_base = b && a->base_len == b->base_len &&
				 memcmp(a->base, b->base, a->base_len) == 0;
		bool pair = same_base && a->kind == PART_SUM2 &&
			    b->kind == PART_COUNTS;
		if (same_base && a->kind == b->kind)
			return qp_fail(e, "%s: duplicate %s tensor", en->name,
				       a->kind == PART_SUM2 ? "in_sum2"
							    : "counts");
		if (!pair)
			return qp_fail(e, "%s: %s without %s", en->name,
				       a->kind == PART_SUM2 ? "in_sum2"
							    : "counts",
				       a->kind == PART_SUM2 ? "counts"
							    : "in_sum2");
		if (gguf_entry(buf, a, &parts[i + 1], en, e))
			return -1;
		i += 2;
	}
	return 0;
}

static int gguf_meta(const qp_gguf *g, qp_imatrix *im, qp_err *e)
{
	qp_gguf_str type;
	if (qp_gguf_get_str(g, "general.type", &type) &&
	    !qp_gguf_str_eq(type, "imatrix"))
		return qp_fail(e, "general.type is '%.*s', not 'imatrix'",
			       (int)(type.len > 64 ? 64 : type.len), type.ptr);
	int64_t v;
	if (qp_gguf_get_int(g, "imatrix.chunk_count", &v))
		im->chunk_count = v;
	if (qp_gguf_get_int(g, "imatrix.chunk_size", &v))
		im->chunk_size = v;
	const qp_gguf_kv *kv = qp_gguf_find(g, "imatrix.datasets");
	if (!kv || kv->value.type != QP_GGUF_ARRAY ||
	    kv->value.v.arr.elem_type != QP_GGUF_STRING)
		return 0;
	uint64_t n = kv->value.v.arr.n;
	if (!(im->datasets = calloc(n ? n : 1, sizeof *im->datasets)))
		return qp_fail(e, "imatrix.datasets: out of memory");
	qp_gguf_iter it;
	qp_gguf_value s;
	qp_gguf_iter_init(&it, &kv->value);
	while (qp_gguf_iter_next(&it, &s)) {
		char *d = qp_gguf_strdup(s.v.s);
		if (!d)
			return qp_fail(e, "imatrix.datasets: out of memory");
		im->datasets[im->n_datasets++] = d;
	}
	return 0;
}

int qp_imatrix_parse_gguf(const uint8_t *buf, size_t len, qp_imatrix *im,
			  qp_err *e)
{
	imatrix_init(im, QP_IMATRIX_GGUF);
	qp_gguf g;
	int rc = qp_gguf_parse(buf, len, len, &g, e);
	if (rc != 0)
		return rc < 0 ? -1 : qp_fail(e, "truncated GGUF metadata");
	part_ref *parts = NULL;
	size_t n = 0;
	rc = -1;
	if (gguf_meta(&g, im, e) || gguf_collect_parts(&g, &parts, &n, e))
		goto out;
	if (n == 0) {
		qp_fail(e, "no <name>.in_sum2 / <name>.counts tensors: not an "
			   "imatrix");
		goto out;
	}
	if (gguf_pair_entries(buf, parts, n, im, e) || sort_entries(im, e))
		goto out;
	rc = 0;
out:
	free(parts);
	qp_gguf_free(&g);
	if (rc)
		qp_imatrix_free(im);
	return rc;
}

int qp_imatrix_parse(const uint8_t *buf, size_t len, qp_imatrix *im,
		     qp_err *e)
{
	if (len >= 4 && memcmp(buf, "GGUF", 4) == 0)
		return qp_imatrix_parse_gguf(buf, len, im, e);
	return qp_imatrix_parse_dat(buf, len, im, e);
}

int qp_imatrix_load(const char *path, qp_imatrix *im, qp_err *e)
{
	qp_map m;
	imatrix_init(im, QP_IMATRIX_DAT);
	if (qp_map_open(path, &m, e))
		return -1;
	int rc = m.size == 0 ? qp_fail(e, "empty file")
			     : qp_imatrix_parse(m.data, m.size, im, e);
	qp_map_close(&m);
	return rc ? -1 : 0;
}

int qp_imatrix_set_cols(qp_imatrix *im, int64_t idx, int64_t n_cols,
			qp_err *e)
{
	if (idx < 0 || idx >= im->n_entries)
		return qp_fail(e, "imatrix entry %lld out of range",
			       (long long)idx);
	qp_imatrix_entry *en = &im->entries[idx];
	int64_t nv = en->n_cols * en->n_expert;
	if (n_cols == en->n_cols)
		return 0;
	if (n_cols <= 0 || nv % n_cols != 0 || en->n_expert != 1)
		return qp_fail(e, "%s: %lld values (%lld experts) cannot be "
			       "split into rows of %lld columns", en->name,
			       (long long)nv, (long long)en->n_expert,
			       (long long)n_cols);
	double c = en->counts[0];
	double *cnt = malloc((size_t)(nv / n_cols) * sizeof *cnt);
	if (!cnt)
		return qp_fail(e, "%s: out of memory", en->name);
	for (int64_t x = 0; x < nv / n_cols; x++)
		cnt[x] = c;
	free(en->counts);
	en->counts = cnt;
	en->n_expert = nv / n_cols;
	en->n_cols = n_cols;
	return 0;
}

int64_t qp_imatrix_idle_experts(const qp_imatrix_entry *en, int64_t *out,
				int64_t cap)
{
	int64_t k = 0;
	for (int64_t x = 0; x < en->n_expert; x++)
		if (en->counts[x] == 0) {
			if (k < cap)
				out[k] = x;
			k++;
		}
	return k;
}
