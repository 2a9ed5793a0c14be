#include "model_batch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter.h"

struct qp_model_stream {
	const qp_model_filter *mf;
	qp_model_batch cur;
	size_t cap;
	qp_kept_record *models; /* every "model" record seen */
	size_t n_models;
	char (*done)[QP_MODEL_ID_MAX]; /* ids of the batches already ended */
	size_t n_done;
};

static bool id_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

qp_model_stream *qp_model_stream_new(const qp_model_filter *mf)
{
	qp_model_stream *s = calloc(1, sizeof *s);
	if (s)
		s->mf = mf;
	return s;
}

static void batch_clear(qp_model_batch *b)
{
	for (size_t i = 0; i < b->n_items; i++)
		qp_kept_free(&b->items[i].k);
	b->n_items = b->n_tensors = b->last_tensor = 0;
	b->id_len = 0;
	b->id[0] = '\0';
	b->model = NULL;
}

void qp_model_stream_free(qp_model_stream *s)
{
	if (!s)
		return;
	batch_clear(&s->cur);
	free(s->cur.items);
	for (size_t i = 0; i < s->n_models; i++)
		qp_kept_free(&s->models[i]);
	free(s->models);
	free(s->done);
	free(s);
}

int qp_model_batch_pass(const qp_model_batch *b, size_t i, qp_writer *w,
			qp_err *e)
{
	return qp_writer_raw(w, b->items[i].k.raw, b->items[i].k.rec.raw_len, e);
}

static const qp_record *model_record(const qp_model_stream *s,
				     const char *id, size_t len)
{
	for (size_t i = s->n_models; i-- > 0;) {
		const msgpack_object *v = qp_map_get(&s->models[i].rec.map, "id");
		if (v && v->type == MSGPACK_OBJECT_STR &&
		    id_eq(v->via.str.ptr, v->via.str.size, id, len))
			return &s->models[i].rec;
	}
	return NULL;
}

int qp_model_stream_end(qp_model_stream *s, qp_writer *w, qp_err *e)
{
	qp_model_batch *b = &s->cur;
	if (b->n_tensors == 0)
		return 0;
	char (*p)[QP_MODEL_ID_MAX] = realloc(s->done, (s->n_done + 1) * sizeof *p);
	if (!p)
		return qp_fail(e, "out of memory");
	s->done = p;
	memcpy(p[s->n_done++], b->id, b->id_len + 1);
	b->model = model_record(s, b->id, b->id_len);
	int rc = s->mf->on_model(s->mf->ctx, b, w, e);
	batch_clear(b);
	return rc;
}

static int keep(qp_model_stream *s, const qp_record *rec, bool is_tensor,
		qp_err *e)
{
	qp_model_batch *b = &s->cur;
	if (b->n_items == s->cap) {
		qp_model_item *p = qp_grow(b->items, &s->cap, sizeof *p, 64);
		if (!p)
			return qp_fail(e, "out of memory");
		b->items = p;
	}
	qp_model_item *it = &b->items[b->n_items];
	memset(it, 0, sizeof *it);
	if (qp_record_keep(rec, &it->k, e) < 0) {
		qp_kept_free(&it->k);
		return -1;
	}
	it->is_tensor = is_tensor;
	if (is_tensor) {
		b->n_tensors++;
		b->last_tensor = b->n_items;
	}
	b->n_items++;
	return 0;
}

static int on_tensor(qp_model_stream *s, const qp_record *rec, qp_writer *w,
		     qp_err *e)
{
	qp_model_batch *b = &s->cur;
	const msgpack_object *m = qp_rec_field(rec, "model", MSGPACK_OBJECT_STR, e);
	if (!m)
		return -1;
	const char *id = m->via.str.ptr;
	size_t len = m->via.str.size;
	if (len >= QP_MODEL_ID_MAX)
		return qp_fail_record(e, rec->index, rec->offset,
				      "field \"model\" is longer than %d bytes",
				      QP_MODEL_ID_MAX - 1);
	if (b->n_tensors && !id_eq(id, len, b->id, b->id_len) &&
	    qp_model_stream_end(s, w, e) < 0)
		return -1;
	for (size_t i = 0; i < s->n_done; i++)
		if (id_eq(id, len, s->done[i], strlen(s->done[i])))
			return qp_fail_record(e, rec->index, rec->offset,
					      "tensors of model '%s' are not "
					      "contiguous in the stream", s->done[i]);
	if (b->n_tensors == 0) {
		memcpy(b->id, id, len);
		b->id[len] = '\0';
		b->id_len = len;
	}
	return keep(s, rec, true, e);
}

static int keep_model_record(qp_model_stream *s, const qp_record *rec,
			     qp_err *e)
{
	qp_kept_record *p = realloc(s->models, (s->n_models + 1) * sizeof *p);
	if (!p)
		return qp_fail(e, "out of memory");
	s->models = p;
	memset(&p[s->n_models], 0, sizeof *p);
	if (qp_record_keep(rec, &p[s->n_models], e) < 0) {
		qp_kept_free(&p[s->n_models]);
		return -1;
	}
	s->n_models++;
	return 0;
}

static bool dropped(const qp_model_filter *mf, const qp_record *rec)
{
	for (const char *const *k = mf->drop_kinds; k && *k; k++)
		if (qp_rec_is(rec, *k))
			return true;
	return false;
}

int qp_model_stream_record(qp_model_stream *s, const qp_record *rec,
			   qp_writer *w, qp_err *e)
{
	if (qp_rec_is(rec, "tensor"))
		return on_tensor(s, rec, w, e);
	if (qp_rec_is(rec, "model")) {
		if (qp_model_stream_end(s, w, e) < 0 || keep_model_record(s, rec, e) < 0)
			return -1;
		return qp_writer_raw(w, rec->raw, rec->raw_len, e);
	}
	if (dropped(s->mf, rec))
		return 0;
	if (s->cur.n_tensors)
		return keep(s, rec, false, e);
	if (s->mf->on_outside)
		return s->mf->on_outside(s->mf->ctx, rec, w, e);
	return qp_writer_raw(w, rec->raw, rec->raw_len, e);
}

static int on_record_cb(void *ctx, const qp_record *rec, qp_writer *w,
			qp_err *e)
{
	return qp_model_stream_record(ctx, rec, w, e);
}

static int on_end_cb(void *ctx, qp_writer *w, qp_err *e)
{
	return qp_model_stream_end(ctx, w, e);
}

int qp_model_filter_pipe(const qp_model_filter *mf, const qp_common *c,
			 int argc, char **argv)
{
	qp_model_stream *s = qp_model_stream_new(mf);
	if (!s) {
		qp_report(mf->prog, NULL, "out of memory");
		return 1;
	}
	qp_filter f = {
		.prog = mf->prog, .on_record = on_record_cb, .ctx = s,
		.on_end = mf->across_operands ? NULL : on_end_cb,
		.on_last_end = mf->across_operands ? on_end_cb : NULL,
	};
	int status = qp_filter_pipe(&f, c, argc, argv);
	qp_model_stream_free(s);
	return status;
}

typedef struct drain_step {
	qp_model_stream *s;
	qp_writer *w;
} drain_step;

static int drain_record(void *ctx, const qp_record *rec, qp_err *e)
{
	const drain_step *d = ctx;
	return qp_model_stream_record(d->s, rec, d->w, e) < 0 ? -1 : 0;
}

/* Reads every operand (or "-") through s; the first failure ends it. */
static int drain_operands(const qp_model_filter *mf, const qp_common *c,
			  qp_model_stream *s, qp_writer *w)
{
	drain_step d = {s, w};
	int n = c->n_files ? c->n_files : 1;
	for (int i = 0; i < n; i++) {
		const char *path = c->n_files ? c->files[i] : "-";
		bool last = i == n - 1;
		qp_err e;
		if (qp_records_each(path, drain_record, &d, &e) < 0 ||
		    ((last || !mf->across_operands) &&
		     qp_model_stream_end(s, w, &e) < 0)) {
			qp_report(mf->prog, path, e.msg);
			return 1;
		}
	}
	return 0;
}

int qp_model_filter_drain(const qp_model_filter *mf, const qp_common *c)
{
	qp_err e;
	int devnull = open("/dev/null", O_WRONLY);
	if (devnull < 0) {
		qp_report(mf->prog, "/dev/null", strerror(errno));
		return 1;
	}
	qp_writer *w = qp_writer_new(devnull, false);
	qp_model_stream *s = w ? qp_model_stream_new(mf) : NULL;
	int status = 1;
	if (!s)
		qp_report(mf->prog, NULL, "out of memory");
	else
		status = drain_operands(mf, c, s, w);
	qp_model_stream_free(s);
	if (w)
		qp_writer_close(w, &e);
	close(devnull);
	return status;
}
