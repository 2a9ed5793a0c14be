/* sens-score — weight and activation statistics, sensitivity scores and
 * the model profile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "filter.h"
#include "imatrix.h"
#include "names.h"
#include "profile.h"
#include "progress.h"
#include "rec.h"
#include "sens.h"
#include "tensor_src.h"

static const char usage[] =
	"Usage: sens-score [options] [FILE ...]\n"
	"Adds to every tensor record its weight statistics (key stats), its\n"
	"activation statistics from an importance matrix (key imat) and its\n"
	"sensitivity scores (key sens), normalised over the tensors of its\n"
	"model, and writes a profile record after each model's last tensor.\n"
	"Reads records (gguf-dump output) from FILE or standard input.\n"
	"\n"
	"  -m, --imatrix FILE   llama.cpp importance matrix (GGUF or legacy .dat):\n"
	"                       add imat and the activation part of the score\n"
	"      --no-svd         skip the singular values (no SE part in nsds)\n"
	"      --svd-rank N     singular values used for SE (default 64)\n"
	"      --svd-iters N    power iterations of the randomized SVD (default 2)\n"
	"  -b, --mem-bw GBS     memory bandwidth in GB/s: add a decode-speed\n"
	"                       estimate to the profile record\n"
	"\n"
	"  -@, --threads N      threads (default 1); output is the same for any N\n"
	"  -o, --output FILE    write to FILE (atomically) instead of stdout\n"
	"  -q, --quiet          no progress and no warnings on stderr\n"
	"  -h, --help           this help\n"
	"  -V, --version        versions of sens-score and its libraries\n"
	"\n"
	"Exit status: 0 success, 1 bad input or failed work, 2 bad usage.\n";

enum { OPT_NO_SVD = 256, OPT_SVD_RANK, OPT_SVD_ITERS };

typedef struct opts {
	const char *imatrix;
	bool no_svd;
	long svd_rank, svd_iters;
	double mem_bw;
} opts;

static const struct option long_opts[] = {
	{"imatrix", required_argument, NULL, 'm'},
	{"no-svd", no_argument, NULL, OPT_NO_SVD},
	{"svd-rank", required_argument, NULL, OPT_SVD_RANK},
	{"svd-iters", required_argument, NULL, OPT_SVD_ITERS},
	{"mem-bw", required_argument, NULL, 'b'},
	{0},
};

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	opts *o = ctx;
	switch (opt) {
	case 'm': o->imatrix = arg; return 0;
	case OPT_NO_SVD: o->no_svd = true; return 0;
	case OPT_SVD_RANK: return qp_parse_long(arg, 1, 1024, &o->svd_rank, e);
	case OPT_SVD_ITERS: return qp_parse_long(arg, 0, 16, &o->svd_iters, e);
	case 'b':
		if (qp_parse_double(arg, &o->mem_bw, e) < 0)
			return -1;
		if (!(o->mem_bw > 0 && o->mem_bw < 1e9))
			return qp_fail(e, "--mem-bw takes a bandwidth in GB/s above 0, not %s", arg);
		return 0;
	}
	return qp_fail(e, "unknown option");
}

/* ---- buffered records ----------------------------------------------------- */

/* A kept record and whether it is a tensor record. */
typedef struct saved {
	qp_kept_record k;
	bool is_tensor;
} saved;

static int save_record(const qp_record *src, saved *s, qp_err *e)
{
	if (qp_record_keep(src, &s->k, e) < 0)
		return -1;
	s->is_tensor = qp_rec_is(&s->k.rec, "tensor");
	return 0;
}

static void saved_free(saved *s)
{
	qp_kept_free(&s->k);
}

typedef struct model_buf {
	char id[256];
	size_t id_len;
	saved *items;
	size_t n, cap, n_tensors, last_tensor;
} model_buf;

typedef struct run {
	const opts *o;
	const qp_common *c;
	qp_sens_opts sopts;
	qp_imatrix im;
	qp_imatrix_stats *im_stats;
	bool have_im;
	qp_map_cache *maps;
	qp_writer *w;
	qp_progress progress;
	uint64_t n_done;
	model_buf cur;
	saved *models; /* model records seen */
	size_t n_models;
	char (*done_ids)[256];
	size_t n_done_ids;
} run;

static bool id_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* ---- one model ------------------------------------------------------------ */

typedef struct model_work {
	qp_sens_tensor *sens;
	qp_profile_tensor *prof;
	const qp_imatrix_entry **ent;
	int64_t *ent_idx;
	size_t n;
} model_work;

static const msgpack_object *model_record_map(const run *r, const char *id,
					      size_t id_len)
{
	for (size_t i = r->n_models; i-- > 0;) {
		const msgpack_object *v = qp_map_get(&r->models[i].k.rec.map, "id");
		if (v && v->type == MSGPACK_OBJECT_STR &&
		    id_eq(v->via.str.ptr, v->via.str.size, id, id_len))
			return &r->models[i].k.rec.map;
	}
	return NULL;
}

static int64_t imatrix_index(const run *r, const char *name)
{
	const qp_imatrix_entry *ent = qp_imatrix_find(&r->im, name);
	return ent ? (int64_t)(ent - r->im.entries) : -1;
}

static int check_imatrix_entry(const qp_tensor_ref *t,
			       const qp_imatrix_entry *ent, qp_err *e)
{
	int64_t n_expert = t->n_dims >= 3 ? t->ne[2] * t->ne[3] : 1;
	if (ent->n_cols == t->row_len && ent->n_expert == n_expert)
		return 0;
	return qp_fail(e, "imatrix entry '%s' is %lld x %lld experts, but the "
		       "tensor has rows of %lld and %lld experts (an imatrix of "
		       "another model?)", t->name, (long long)ent->n_cols,
		       (long long)ent->n_expert, (long long)t->row_len,
		       (long long)n_expert);
}

/* A legacy .dat entry does not say how many experts it holds: split it
 * by the tensor's row length, then recompute the statistics (they are
 * per column of each expert). */
static int split_dat_entry(run *r, const qp_tensor_ref *t, int64_t idx,
			   qp_err *e)
{
	const qp_imatrix_entry *ent = &r->im.entries[idx];
	if (r->im.format != QP_IMATRIX_DAT || ent->n_expert != 1 ||
	    ent->n_cols == t->row_len || t->n_dims < 3)
		return 0;
	if (qp_imatrix_set_cols(&r->im, idx, t->row_len, e) < 0 ||
	    qp_imatrix_stats_compute(&r->im, r->im_stats, e) < 0)
		return qp_fail_prefix(e, "%s", r->o->imatrix);
	return 0;
}

static int measure_one(run *r, const qp_record *rec, model_work *mw, size_t k,
		       qp_err *e)
{
	qp_tensor_ref t;
	if (qp_tensor_ref_from_record(rec, r->maps, &t, e) < 0)
		return -1;
	qp_profile_tensor *p = &mw->prof[k];
	snprintf(p->name, sizeof p->name, "%s", t.name);
	snprintf(p->type, sizeof p->type, "%s", t.type_name);
	p->n_elem = (int64_t)t.n_elem;
	p->n_bytes = t.n_bytes;
	p->n_dims = t.n_dims;
	memcpy(p->ne, t.ne, sizeof p->ne);
	qp_tensor_name tn;
	qp_parse_tensor_name(t.name, &tn);
	p->layer = tn.layer;
	p->family = tn.family;
	const qp_imatrix_entry *ent =
		mw->ent_idx[k] >= 0 ? &r->im.entries[mw->ent_idx[k]] : NULL;
	if (ent && split_dat_entry(r, &t, mw->ent_idx[k], e) < 0)
		return -1;
	if (ent && check_imatrix_entry(&t, ent, e) < 0)
		return -1;
	mw->ent[k] = ent;
	if (qp_sens_measure(&t, ent, &r->sopts, &mw->sens[k], e) < 0)
		return qp_fail_prefix(e, "%s", t.name);
	qp_progress_update(&r->progress, ++r->n_done);
	return 0;
}

/* Every imatrix entry must name a tensor of the model: an entry that does
 * not is an imatrix of another model.  Tensors the imatrix does not cover
 * are listed on stderr (their records say so too). */
static int check_imatrix_names(run *r, const model_work *mw, qp_err *e)
{
	if (!r->have_im)
		return 0;
	char *used = calloc((size_t)r->im.n_entries + 1, 1);
	if (!used)
		return qp_fail(e, "out of memory");
	for (size_t k = 0; k < mw->n; k++)
		if (mw->ent_idx[k] >= 0)
			used[mw->ent_idx[k]] = 1;
	int64_t unused = -1, n_unused = 0;
	for (int64_t i = 0; i < r->im.n_entries; i++)
		if (!used[i] && n_unused++ == 0)
			unused = i;
	free(used);
	if (n_unused > 0)
		return qp_fail(e, "%s: imatrix entry '%s'%s names no tensor of model "
			       "'%s' (an imatrix of another model?)", r->o->imatrix,
			       r->im.entries[unused].name,
			       n_unused > 1 ? " and others" : "", r->cur.id);
	return 0;
}

static void warn_uncovered(run *r, const model_work *mw)
{
	if (!r->have_im || r->c->quiet)
		return;
	char list[400] = "";
	int n_missing = 0;
	for (size_t k = 0; k < mw->n; k++) {
		const qp_sens_tensor *s = &mw->sens[k];
		if (!s->is_matrix || s->has_act || s->family == QP_FAM_EMBEDDING)
			continue;
		if (n_missing++ < 4)
			snprintf(list + strlen(list), sizeof list - strlen(list),
				 "%s%s", n_missing > 1 ? ", " : "", mw->prof[k].name);
	}
	if (n_missing)
		qp_reportf("sens-score", r->cur.id,
			   "warning: %d tensor%s not in the imatrix, scored without "
			   "activations: %s%s", n_missing, n_missing > 1 ? "s are" : " is",
			   list, n_missing > 4 ? ", ..." : "");
}

static int write_tensor(run *r, const qp_record *rec, const model_work *mw,
			size_t k, qp_err *e)
{
	static const char *const own[] = {"stats", "imat", "sens"};
	msgpack_packer *pk = qp_writer_packer(r->w);
	bool imat = mw->ent[k] != NULL;
	qp_writer_enrich_keys(r->w, rec, own, 3, 2 + imat);
	qp_pack_str(pk, "stats");
	qp_sens_pack_stats(pk, &mw->sens[k].ws);
	if (imat) {
		qp_pack_str(pk, "imat");
		qp_sens_pack_imat(pk, mw->ent[k], &r->im_stats[mw->ent_idx[k]]);
	}
	qp_pack_str(pk, "sens");
	qp_sens_pack_sens(pk, &mw->sens[k], r->have_im, r->sopts.svd);
	return qp_writer_end(r->w, e);
}

static int write_model(run *r, const model_work *mw, qp_err *e)
{
	model_buf *b = &r->cur;
	size_t k = 0;
	for (size_t i = 0; i < b->n; i++) {
		saved *s = &b->items[i];
		int rc = s->is_tensor ? write_tensor(r, &s->k.rec, mw, k++, e)
				      : qp_writer_raw(r->w, s->k.raw, s->k.rec.raw_len, e);
		if (rc < 0)
			return -1;
		if (i != b->last_tensor)
			continue;
		qp_profile_hyper h;
		qp_profile_hyper_from_model(model_record_map(r, b->id, b->id_len), &h);
		if (qp_profile_pack(qp_writer_packer(r->w), b->id, b->id_len,
				    mw->prof, mw->n, &h, r->o->mem_bw, e) < 0 ||
		    qp_writer_end(r->w, e) < 0)
			return -1;
	}
	return 0;
}

static int score_model(run *r, model_work *mw, qp_err *e)
{
	model_buf *b = &r->cur;
	size_t k = 0;
	for (size_t i = 0; i < b->n && r->have_im; i++) {
		char name[256];
		if (!b->items[i].is_tensor)
			continue;
		if (qp_rec_str(&b->items[i].k.rec, "name", name, sizeof name, e) < 0)
			return -1;
		mw->ent_idx[k++] = imatrix_index(r, name);
	}
	mw->n = k;
	if (check_imatrix_names(r, mw, e) < 0)
		return -1;
	k = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (!b->items[i].is_tensor)
			continue;
		if (measure_one(r, &b->items[i].k.rec, mw, k, e) < 0)
			return -1;
		mw->n = ++k;
	}
	warn_uncovered(r, mw);
	qp_profile_hyper h;
	qp_profile_hyper_from_model(model_record_map(r, b->id, b->id_len), &h);
	if (qp_sens_normalise(mw->sens, mw->n, (int)h.n_layer, e) < 0)
		return -1;
	return write_model(r, mw, e);
}

static void model_buf_clear(model_buf *b)
{
	for (size_t i = 0; i < b->n; i++)
		saved_free(&b->items[i]);
	b->n = b->n_tensors = 0;
	b->id_len = 0;
}

static int remember_done(run *r, qp_err *e)
{
	char (*p)[256] = realloc(r->done_ids, (r->n_done_ids + 1) * sizeof *p);
	if (!p)
		return qp_fail(e, "out of memory");
	r->done_ids = p;
	memcpy(p[r->n_done_ids], r->cur.id, r->cur.id_len);
	p[r->n_done_ids][r->cur.id_len] = '\0';
	r->n_done_ids++;
	return 0;
}

/* Scores and writes the buffered model (nothing when none is buffered). */
static int flush_model(run *r, qp_err *e)
{
	model_buf *b = &r->cur;
	if (b->n_tensors == 0) {
		for (size_t i = 0; i < b->n; i++)
			if (qp_writer_raw(r->w, b->items[i].k.raw, b->items[i].k.rec.raw_len, e) < 0)
				return -1;
		model_buf_clear(b);
		return 0;
	}
	size_t n = b->n_tensors;
	model_work mw = {
		.sens = calloc(n, sizeof *mw.sens),
		.prof = calloc(n, sizeof *mw.prof),
		.ent = calloc(n, sizeof *mw.ent),
		.ent_idx = malloc(n * sizeof *mw.ent_idx),
	};
	for (size_t k = 0; mw.ent_idx && k < n; k++)
		mw.ent_idx[k] = -1;
	int rc = (mw.sens && mw.prof && mw.ent && mw.ent_idx)
			 ? score_model(r, &mw, e)
			 : qp_fail(e, "out of memory");
	if (rc == 0)
		rc = remember_done(r, e);
	for (size_t k = 0; mw.sens && k < n; k++)
		qp_sens_tensor_free(&mw.sens[k]);
	free(mw.sens);
	free(mw.prof);
	free(mw.ent);
	free(mw.ent_idx);
	model_buf_clear(b);
	return rc;
}

/* ---- the stream ----------------------------------------------------------- */

static int buffer_record(run *r, const qp_record *rec, qp_err *e)
{
	model_buf *b = &r->cur;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		saved *p = realloc(b->items, cap * sizeof *p);
		if (!p)
			return qp_fail(e, "out of memory");
		b->items = p;
		b->cap = cap;
	}
	saved *s = &b->items[b->n];
	memset(s, 0, sizeof *s);
	if (save_record(rec, s, e) < 0) {
		saved_free(s);
		return -1;
	}
	if (s->is_tensor) {
		b->n_tensors++;
		b->last_tensor = b->n;
	}
	b->n++;
	return 0;
}

static int on_tensor(run *r, const qp_record *rec, qp_err *e)
{
	const msgpack_object *m = qp_rec_field(rec, "model", MSGPACK_OBJECT_STR, e);
	if (!m)
		return -1;
	const char *id = m->via.str.ptr;
	size_t len = m->via.str.size;
	if (len >= sizeof r->cur.id)
		return qp_fail(e, "record %llu: field \"model\" is longer than %zu bytes",
			       (unsigned long long)rec->index, sizeof r->cur.id - 1);
	if (r->cur.n_tensors && !id_eq(id, len, r->cur.id, r->cur.id_len) &&
	    flush_model(r, e) < 0)
		return -1;
	for (size_t i = 0; i < r->n_done_ids; i++)
		if (id_eq(id, len, r->done_ids[i], strlen(r->done_ids[i])))
			return qp_fail(e, "record %llu (byte offset %llu): tensors of "
				       "model '%s' are not contiguous in the stream",
				       (unsigned long long)rec->index,
				       (unsigned long long)rec->offset, r->done_ids[i]);
	if (r->cur.n_tensors == 0) {
		memcpy(r->cur.id, id, len);
		r->cur.id[len] = '\0';
		r->cur.id_len = len;
	}
	return buffer_record(r, rec, e);
}

static int keep_model_record(run *r, const qp_record *rec, qp_err *e)
{
	saved *p = realloc(r->models, (r->n_models + 1) * sizeof *p);
	if (!p)
		return qp_fail(e, "out of memory");
	r->models = p;
	memset(&p[r->n_models], 0, sizeof *p);
	if (save_record(rec, &p[r->n_models], e) < 0) {
		saved_free(&p[r->n_models]);
		return -1;
	}
	r->n_models++;
	return 0;
}

static int on_record(run *r, const qp_record *rec, qp_err *e)
{
	if (qp_rec_is(rec, "tensor"))
		return on_tensor(r, rec, e);
	if (qp_rec_is(rec, "model")) {
		if (flush_model(r, e) < 0 || keep_model_record(r, rec, e) < 0)
			return -1;
		return qp_writer_raw(r->w, rec->raw, rec->raw_len, e);
	}
	if (qp_rec_is(rec, "profile"))
		return 0; /* ours, from an earlier run: replaced by the new one */
	if (r->cur.n_tensors)
		return buffer_record(r, rec, e);
	return qp_writer_raw(r->w, rec->raw, rec->raw_len, e);
}

static int on_record_cb(void *ctx, const qp_record *rec, qp_err *e)
{
	return on_record(ctx, rec, e);
}

/* The end of an operand ends its last model. */
static int on_end_cb(void *ctx, qp_err *e)
{
	return flush_model(ctx, e);
}

static int setup(run *r, const opts *o, const qp_common *c)
{
	r->o = o;
	r->c = c;
	qp_sens_opts_default(&r->sopts);
	r->sopts.n_threads = c->threads;
	r->sopts.svd = !o->no_svd;
	if (o->svd_rank)
		r->sopts.svd_rank = (int)o->svd_rank;
	if (o->svd_iters >= 0)
		r->sopts.svd_power_iters = (int)o->svd_iters;
	r->maps = qp_map_cache_new();
	if (!r->maps) {
		qp_report("sens-score", NULL, "out of memory");
		return 1;
	}
	qp_err e;
	if (o->imatrix) {
		if (qp_imatrix_load(o->imatrix, &r->im, &e) < 0) {
			qp_report("sens-score", NULL, e.msg); /* names the file */
			return 1;
		}
		r->have_im = true;
		r->im_stats = calloc((size_t)r->im.n_entries + 1, sizeof *r->im_stats);
		if (!r->im_stats) {
			qp_report("sens-score", NULL, "out of memory");
			return 1;
		}
		if (qp_imatrix_stats_compute(&r->im, r->im_stats, &e) < 0) {
			qp_report("sens-score", o->imatrix, e.msg);
			return 1;
		}
	}
	qp_progress_init(&r->progress, qp_progress_wanted(c->quiet),
			 "sens-score: tensors", 0);
	return 0;
}

static void cleanup(run *r)
{
	qp_progress_end(&r->progress);
	model_buf_clear(&r->cur);
	free(r->cur.items);
	for (size_t i = 0; i < r->n_models; i++)
		saved_free(&r->models[i]);
	free(r->models);
	free(r->done_ids);
	free(r->im_stats);
	if (r->have_im)
		qp_imatrix_free(&r->im);
	qp_map_cache_free(r->maps);
}

int main(int argc, char **argv)
{
	opts o = {.svd_iters = -1};
	qp_tool tool = {"sens-score", usage, "m:b:", long_opts, on_option, &o};
	qp_common c;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	run r = {0};
	int status = setup(&r, &o, &c);
	qp_filter f = {"sens-score", on_record_cb, on_end_cb, &r, &r.w};
	if (status == 0)
		status = qp_filter_pipe(&f, &c, argc, argv);
	cleanup(&r);
	return status;
}
