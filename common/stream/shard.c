/* shard.c — sharded filters and their merge (see shard.h). */
#include "shard.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHARDS 65536u

int qp_shard_parse(const char *arg, qp_shard_spec *s, qp_err *e)
{
	char *end;
	unsigned long i = strtoul(arg, &end, 10);
	if (end == arg || *end != '/' || arg[0] == '-' || arg[0] == '+')
		return qp_fail(e, "--shard takes I/N (0 <= I < N), not '%s'", arg);
	const char *q = end + 1;
	unsigned long n = strtoul(q, &end, 10);
	if (end == q || *end || q[0] == '-' || q[0] == '+' || n == 0 || n > MAX_SHARDS || i >= n)
		return qp_fail(e, "--shard takes I/N with 0 <= I < N <= %u, not '%s'",
			       MAX_SHARDS, arg);
	s->index = (uint32_t)i;
	s->count = (uint32_t)n;
	return 0;
}

char **qp_shard_strip_argv(int argc, char **argv, int *out_argc)
{
	char **v = calloc((size_t)argc + 1, sizeof *v);
	if (!v)
		return NULL;
	int n = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (i > 0 && strcmp(a, "--") == 0) { /* operands only from here */
			while (i < argc)
				v[n++] = argv[i++];
			break;
		}
		if (i > 0 && (strcmp(a, "--shard") == 0 || strcmp(a, "--output") == 0 ||
			      strcmp(a, "-o") == 0)) {
			i++;
			continue;
		}
		if (i > 0 && (strncmp(a, "--shard=", 8) == 0 ||
			      strncmp(a, "--output=", 9) == 0 ||
			      (a[0] == '-' && a[1] == 'o' && a[2])))
			continue;
		v[n++] = argv[i];
	}
	*out_argc = n;
	return v;
}

/* ---- the assignment ---------------------------------------------------- */

typedef struct item {
	uint64_t work;
	size_t index;
} item;

static int by_work_desc(const void *a, const void *b)
{
	const item *x = a, *y = b;
	if (x->work != y->work)
		return x->work < y->work ? 1 : -1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* A min-heap of shards by (load, shard index). */
typedef struct bin {
	uint64_t load;
	uint32_t shard;
} bin;

static bool bin_less(const bin *a, const bin *b)
{
	return a->load != b->load ? a->load < b->load : a->shard < b->shard;
}

static void sift_down(bin *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && bin_less(&h[l], &h[m]))
			m = l;
		if (r < n && bin_less(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		bin t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

int qp_shard_assign(const uint64_t *work, size_t n, uint32_t count,
		    uint32_t *owner, qp_err *e)
{
	item *it = malloc((n ? n : 1) * sizeof *it);
	bin *h = malloc((size_t)count * sizeof *h);
	if (!it || !h) {
		free(it);
		free(h);
		return qp_fail(e, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		it[i] = (item){work[i], i};
	qsort(it, n, sizeof *it, by_work_desc);
	for (uint32_t s = 0; s < count; s++)
		h[s] = (bin){0, s}; /* already a heap: loads equal, shards ascending */
	for (size_t k = 0; k < n; k++) {
		owner[it[k].index] = h[0].shard;
		h[0].load += it[k].work;
		sift_down(h, count, 0);
	}
	free(it);
	free(h);
	return 0;
}

/* ---- shard records ----------------------------------------------------- */

static int write_mark(qp_writer *w, const qp_shard_spec *s, const char *key,
		      uint64_t v, qp_err *e)
{
	msgpack_packer *pk = qp_writer_packer(w);
	msgpack_pack_map(pk, 4);
	qp_pack_key_str(pk, "kind", "shard");
	qp_pack_key_uint(pk, "shard", s->index);
	qp_pack_key_uint(pk, "of", s->count);
	qp_pack_key_uint(pk, key, v);
	return qp_writer_end(w, e);
}

/* ---- the sharder ------------------------------------------------------- */

typedef struct kept_tensor {
	qp_kept_record k;
	uint64_t seq, work;
} kept_tensor;

struct qp_sharder {
	qp_shard_spec spec;
	uint64_t work_per_elem;
	uint64_t seq;
	kept_tensor **t;
	size_t n, cap;
	uint64_t owned;
};

qp_sharder *qp_sharder_new(qp_shard_spec spec, uint64_t work_per_elem)
{
	qp_sharder *s = calloc(1, sizeof *s);
	if (s) {
		s->spec = spec;
		s->work_per_elem = work_per_elem ? work_per_elem : 1;
	}
	return s;
}

void qp_sharder_free(qp_sharder *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (s->t[i]) {
			qp_kept_free(&s->t[i]->k);
			free(s->t[i]);
		}
	}
	free(s->t);
	free(s);
}

int qp_sharder_record(qp_sharder *s, const qp_record *rec, qp_writer *w,
		      qp_err *e)
{
	s->seq++;
	if (!qp_rec_is(rec, "tensor")) {
		if (write_mark(w, &s->spec, "seq", s->seq, e) < 0)
			return -1;
		return qp_writer_raw(w, rec->raw, rec->raw_len, e);
	}
	uint64_t n_elem;
	if (qp_rec_uint(rec, "n_elem", &n_elem, e) < 0)
		return -1;
	if (s->n == s->cap) {
		kept_tensor **t = qp_grow(s->t, &s->cap, sizeof *t, 256);
		if (!t)
			return qp_fail(e, "out of memory");
		s->t = t;
	}
	kept_tensor *k = calloc(1, sizeof *k);
	if (!k)
		return qp_fail(e, "out of memory");
	if (qp_record_keep(rec, &k->k, e) < 0) {
		free(k);
		return -1;
	}
	k->seq = s->seq;
	/* +1: a tensor costs something even when no type applies to it */
	k->work = n_elem > (UINT64_MAX - 1) / s->work_per_elem ? UINT64_MAX
							       : n_elem * s->work_per_elem + 1;
	s->t[s->n++] = k;
	return 0;
}

uint64_t qp_sharder_owned(const qp_sharder *s)
{
	return s->owned;
}

int qp_sharder_finish(qp_sharder *s, qp_writer *w, qp_shard_work_fn fn,
		      void *ctx, qp_err *e)
{
	uint64_t *work = malloc((s->n ? s->n : 1) * sizeof *work);
	uint32_t *owner = malloc((s->n ? s->n : 1) * sizeof *owner);
	int st = work && owner ? 0 : qp_fail(e, "out of memory");
	for (size_t i = 0; st == 0 && i < s->n; i++)
		work[i] = s->t[i]->work;
	if (st == 0)
		st = qp_shard_assign(work, s->n, s->spec.count, owner, e);
	for (size_t i = 0; st == 0 && i < s->n; i++)
		s->owned += owner[i] == s->spec.index;
	for (size_t i = 0; st == 0 && i < s->n; i++) {
		kept_tensor *k = s->t[i];
		if (owner[i] == s->spec.index) {
			st = write_mark(w, &s->spec, "seq", k->seq, e);
			if (st == 0)
				st = fn(ctx, &k->k.rec, w, e);
		}
		qp_kept_free(&k->k);
		free(k);
		s->t[i] = NULL;
	}
	if (st == 0)
		st = write_mark(w, &s->spec, "total", s->seq, e);
	free(work);
	free(owner);
	return st;
}

/* ---- the merge --------------------------------------------------------- */

typedef struct entry {
	uint64_t seq;
	uint32_t shard;
	uint64_t rec_index; /* where it came from, for messages */
	uint8_t *raw;
	size_t len;
} entry;

struct qp_merger {
	uint8_t *meta;
	size_t meta_len;
	uint64_t meta_index;
	uint32_t count;
	uint8_t *seen, *closed;
	uint64_t total;
	bool have_total;
	bool pending;
	uint64_t pending_seq;
	uint32_t pending_shard;
	entry *v;
	size_t n, cap;
	uint64_t n_marks;
};

qp_merger *qp_merger_new(void)
{
	return calloc(1, sizeof(qp_merger));
}

void qp_merger_free(qp_merger *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].raw);
	free(m->v);
	free(m->meta);
	free(m->seen);
	free(m->closed);
	free(m);
}

static uint8_t *copy_bytes(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (c)
		memcpy(c, p, n);
	return c;
}

static int on_mark(qp_merger *m, const qp_record *rec, qp_err *e)
{
	uint64_t shard, of, v;
	if (qp_rec_uint(rec, "shard", &shard, e) < 0 || qp_rec_uint(rec, "of", &of, e) < 0)
		return -1;
	if (of == 0 || of > MAX_SHARDS || shard >= of)
		return qp_fail_record(e, rec->index, rec->offset, "shard %llu of %llu is not a shard",
			       (unsigned long long)shard, (unsigned long long)of);
	if (!m->count) {
		m->count = (uint32_t)of;
		m->seen = calloc(of, 1);
		m->closed = calloc(of, 1);
		if (!m->seen || !m->closed)
			return qp_fail(e, "out of memory");
	} else if (of != m->count) {
		return qp_fail_record(e, rec->index, rec->offset, "a shard of %llu, but the shards before are of %u: "
			       "outputs of different runs",
			       (unsigned long long)of, m->count);
	}
	m->seen[shard] = 1;
	m->n_marks++;
	const msgpack_object *total = qp_map_get(&rec->map, "total");
	if (total) {
		if (qp_rec_uint(rec, "total", &v, e) < 0)
			return -1;
		if (m->closed[shard])
			return qp_fail_record(e, rec->index, rec->offset, "shard %llu/%u ends twice: the same shard "
				       "given twice?", (unsigned long long)shard,
				       m->count);
		if (m->have_total && v != m->total)
			return qp_fail_record(e, rec->index, rec->offset, "shard %llu/%u read %llu records, another "
				       "shard %llu: outputs of different inputs",
				       (unsigned long long)shard, m->count,
				       (unsigned long long)v, (unsigned long long)m->total);
		m->closed[shard] = 1;
		m->total = v;
		m->have_total = true;
		return 0;
	}
	if (qp_rec_uint(rec, "seq", &v, e) < 0)
		return -1;
	if (v == 0)
		return qp_fail_record(e, rec->index, rec->offset, "seq 0: positions start at 1");
	m->pending = true;
	m->pending_seq = v;
	m->pending_shard = (uint32_t)shard;
	return 0;
}

int qp_merger_add(qp_merger *m, const qp_record *rec, qp_err *e)
{
	bool is_mark = qp_rec_is(rec, "shard");
	if (m->pending) {
		if (is_mark)
			return qp_fail_record(e, rec->index, rec->offset, "a shard record right after a shard record");
		if (m->n == m->cap) {
			entry *v = qp_grow(m->v, &m->cap, sizeof *v, 1024);
			if (!v)
				return qp_fail(e, "out of memory");
			m->v = v;
		}
		uint8_t *raw = copy_bytes(rec->raw, rec->raw_len);
		if (!raw)
			return qp_fail(e, "out of memory");
		m->v[m->n++] = (entry){m->pending_seq, m->pending_shard, rec->index, raw,
				       rec->raw_len};
		m->pending = false;
		return 0;
	}
	if (is_mark)
		return on_mark(m, rec, e);
	if (qp_rec_is(rec, "meta")) {
		if (!m->meta) {
			m->meta = copy_bytes(rec->raw, rec->raw_len);
			if (!m->meta)
				return qp_fail(e, "out of memory");
			m->meta_len = rec->raw_len;
			m->meta_index = rec->index;
			return 0;
		}
		if (!m->n_marks)
			return qp_fail_record(e, rec->index, rec->offset, "a second meta record before any shard "
				       "record: not the output of a --shard run");
		if (rec->raw_len != m->meta_len || memcmp(rec->raw, m->meta, m->meta_len))
			return qp_fail_record(e, rec->index, rec->offset, "a meta record unlike the first (record %llu): "
				       "shards of runs with other options?",
				       (unsigned long long)m->meta_index);
		return 0;
	}
	return qp_fail_record(e, rec->index, rec->offset, "a %.*s record without its shard record: not the "
		       "output of a --shard run", (int)rec->kind_len,
		       rec->kind);
}

static int by_seq(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	return 0;
}

int qp_sharder_each_kept(const qp_sharder *s, qp_kept_fn fn, void *ctx,
			 qp_err *e)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i] && fn(ctx, &s->t[i]->k.rec, e) < 0)
			return -1;
	return 0;
}

static int write_raw(void *ctx, const uint8_t *raw, size_t len, qp_err *e)
{
	return qp_writer_raw(ctx, raw, len, e);
}

int qp_merger_finish(qp_merger *m, qp_writer *w, qp_err *e)
{
	return qp_merger_each(m, write_raw, w, e);
}

int qp_merger_each(qp_merger *m, qp_raw_fn fn, void *ctx, qp_err *e)
{
	if (m->pending)
		return qp_fail(e, "the stream ends after a shard record: a truncated "
			       "shard output?");
	if (!m->n_marks)
		return qp_fail(e, "no shard records: not the output of --shard runs");
	for (uint32_t s = 0; s < m->count; s++) {
		if (!m->seen[s])
			return qp_fail(e, "shard %u/%u is missing", s, m->count);
		if (!m->closed[s])
			return qp_fail(e, "shard %u/%u has no end record: its output is "
				       "truncated", s, m->count);
	}
	qsort(m->v, m->n, sizeof *m->v, by_seq);
	uint64_t want = 1;
	for (size_t i = 0; i < m->n; i++) {
		entry *x = &m->v[i];
		if (i > 0 && x->seq == m->v[i - 1].seq) {
			entry *p = &m->v[i - 1];
			if (x->shard == p->shard)
				return qp_fail(e, "position %llu twice from shard %u/%u: the "
					       "same shard given twice?", (unsigned long long)x->seq,
					       x->shard, m->count);
			if (x->len != p->len || memcmp(x->raw, p->raw, x->len))
				return qp_fail(e, "position %llu: shards %u and %u wrote "
					       "different records (records %llu and %llu): "
					       "outputs of different inputs",
					       (unsigned long long)x->seq, p->shard, x->shard,
					       (unsigned long long)p->rec_index,
					       (unsigned long long)x->rec_index);
			continue;
		}
		if (x->seq != want)
			return qp_fail(e, "position %llu of the unsharded output is missing",
				       (unsigned long long)want);
		want++;
	}
	if (want - 1 != m->total)
		return qp_fail(e, "the shards read %llu records but only %llu are here: "
			       "a truncated shard output?", (unsigned long long)m->total,
			       (unsigned long long)(want - 1));
	if (m->meta && fn(ctx, m->meta, m->meta_len, e) < 0)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		if (i > 0 && m->v[i].seq == m->v[i - 1].seq)
			continue;
		if (fn(ctx, m->v[i].raw, m->v[i].len, e) < 0)
			return -1;
	}
	return 0;
}
