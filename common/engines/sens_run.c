/* sens_run.c — see sens_run.h. */
#include "sens_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "imatrix.h"
#include "imatrix_match.h"
#include "imatrix_stats.h"
#include "names.h"
#include "profile.h"
#include "progress.h"
#include "rec.h"
#include "sens.h"
#include "sens_rec.h"
#include "tensor_src.h"

struct qp_sens_runner {
	qp_sens_run_cfg cfg;
	qp_model_filter mf; /* the unsharded run, and the merge's scoring */
	qp_sens_opts sopts;
	qp_imatrix im;
	qp_imatrix_stats *im_stats;
	bool have_im;
	qp_map_cache *maps;
	qp_progress progress;
	char progress_label[64];
	uint64_t n_done;
	qp_sharder *sharder;     /* --shard */
	qp_merger *merger;       /* --merge */
	qp_model_stream *merged; /* --merge: the merged records, by model */
	qp_sens_run_opts ro;     /* --merge: the shards' options */
	bool have_ro;
	qp_writer *out;
	uint64_t n_merged;
};

typedef struct qp_sens_runner run;

/* One model's results, one slot per tensor record of the batch. */
typedef struct model_work {
	qp_sens_tensor *sens;
	qp_profile_tensor *prof;
	const qp_imatrix_entry **ent;
	size_t n;
} model_work;

static int measure_one(run *r, const qp_record *rec, model_work *mw, size_t k,
		       qp_err *e)
{
	qp_tensor_ref t;
	bool resplit;
	if (qp_tensor_ref_from_record(rec, r->maps, &t, e) < 0)
		return -1;
	qp_profile_tensor_from_ref(&t, &mw->prof[k]);
	if (r->have_im &&
	    (qp_imatrix_for_tensor(&r->im, &t, &mw->ent[k], &resplit, e) < 0 ||
	     (resplit && qp_imatrix_stats_compute(&r->im, r->im_stats, e) < 0)))
		return -1;
	int rc = qp_sens_measure(&t, mw->ent[k], &r->sopts, &mw->sens[k], e);
	if (rc < 0)
		return qp_fail_prefix(e, "%s", t.name);
	if (rc == 1 && !r->cfg.quiet) /* passed through unscored */
		qp_reportf(r->cfg.prog, NULL, "warning: tensor '%s': %s", t.name,
			   e->msg);
	qp_progress_update(&r->progress, ++r->n_done);
	return 0;
}

/* Tensors the imatrix does not cover are listed on stderr (their records
 * say so too). */
static void warn_uncovered(run *r, const char *model, const model_work *mw)
{
	if (!r->have_im || r->cfg.quiet)
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
		qp_reportf(r->cfg.prog, model,
			   "warning: %d tensor%s not in the imatrix, scored without "
			   "activations: %s%s", n_missing, n_missing > 1 ? "s are" : " is",
			   list, n_missing > 4 ? ", ..." : "");
}

/* The record with the keys sens-score owns: stats, imat and the scored
 * sens, or (a shard's) stats, imat and the partial sens. */
static int write_tensor(run *r, qp_writer *w, const qp_record *rec,
			const qp_sens_tensor *s, const qp_imatrix_entry *ent,
			bool partial, qp_err *e)
{
	static const char *const owned[] = {"stats", "imat", "sens"};
	qp_mapw own;
	qp_mapw_begin(&own, NULL);
	qp_sens_pack_stats(qp_mapw_key(&own, "stats"), &s->ws);
	if (ent)
		qp_sens_pack_imat(qp_mapw_key(&own, "imat"), ent,
				  &r->im_stats[ent - r->im.entries]);
	qp_sens_run_opts ro = {r->sopts.svd, r->have_im, r->cfg.mem_bw};
	if (partial)
		qp_sens_pack_partial(qp_mapw_key(&own, "sens"), s, &ro);
	else
		qp_sens_pack_sens(qp_mapw_key(&own, "sens"), s, r->have_im,
				  r->sopts.svd);
	qp_writer_enrich_map(w, rec, owned, 3, &own);
	return qp_writer_end(w, e);
}

/* The merge: a shard's record with its sens key scored (stats and imat
 * are already there, where an unsharded run puts them). */
static int write_completed(run *r, qp_writer *w, const qp_record *rec,
			   const qp_sens_tensor *s, qp_err *e)
{
	static const char *const owned[] = {"sens"};
	qp_mapw own;
	qp_mapw_begin(&own, NULL);
	qp_sens_pack_sens(qp_mapw_key(&own, "sens"), s, r->ro.with_act,
			  r->ro.with_svd);
	qp_writer_enrich_map(w, rec, owned, 1, &own);
	return qp_writer_end(w, e);
}

/* The batch in stream order, the profile right after the last tensor. */
static int write_model(run *r, const qp_model_batch *b, const model_work *mw,
		       const qp_profile_hyper *h, qp_writer *w, qp_err *e)
{
	double mem_bw = r->merger ? r->ro.mem_bw : r->cfg.mem_bw;
	for (size_t i = 0, k = 0; i < b->n_items; i++) {
		bool scored = b->items[i].is_tensor && !mw->sens[k].skipped;
		k += b->items[i].is_tensor && !scored;
		const qp_record *rec = &b->items[i].k.rec;
		int rc = !scored ? qp_model_batch_pass(b, i, w, e)
			 : r->merger ? write_completed(r, w, rec, &mw->sens[k], e)
			 : write_tensor(r, w, rec, &mw->sens[k], mw->ent[k], false, e);
		k += scored;
		if (rc < 0)
			return -1;
		if (i == b->last_tensor &&
		    (qp_profile_pack(qp_writer_packer(w), b->id, b->id_len, mw->prof,
				     mw->n, h, mem_bw, e) < 0 ||
		     qp_writer_end(w, e) < 0))
			return -1;
	}
	return 0;
}

/* --merge: what a shard measured, read back from its record. */
static int read_measured(run *r, const qp_record *rec, model_work *mw,
			 size_t k, qp_err *e)
{
	qp_tensor_ref t;
	if (qp_tensor_ref_facts(rec, &t, e) < 0)
		return -1;
	qp_profile_tensor_from_ref(&t, &mw->prof[k]);
	qp_sens_tensor *s = &mw->sens[k];
	*s = (qp_sens_tensor){
		.layer = mw->prof[k].layer, .family = mw->prof[k].family,
		.n_elem = (int64_t)t.n_elem, .skipped = true,
	};
	qp_sens_run_opts ro;
	qp_err pe;
	int rc = qp_sens_read_partial(qp_map_get(&rec->map, "sens"), s, &ro, &pe);
	/* rec is a record of the merged stream: its index is no record
	 * number of any one input */
	if (rc < 0)
		return qp_fail(e, "tensor '%s': %s", t.name,
			       pe.msg);
	if (rc == 1 && (ro.with_svd != r->ro.with_svd ||
			ro.with_act != r->ro.with_act || ro.mem_bw != r->ro.mem_bw))
		return qp_fail(e, "tensor '%s': measured with other options than "
			       "the tensors before it: shards of different runs?",
			       t.name);
	/* not measured by its shard (nothing to measure): passed through */
	s->skipped = rc == 0;
	return 0;
}

static int score_model(run *r, const qp_model_batch *b, model_work *mw,
		       qp_writer *w, qp_err *e)
{
	/* every imatrix entry must name a tensor of the model */
	if (r->have_im && qp_imatrix_check_batch(&r->im, b, e) < 0)
		return qp_fail_prefix(e, "%s", r->cfg.imatrix);
	for (size_t i = 0; i < b->n_items; i++) {
		if (!b->items[i].is_tensor)
			continue;
		const qp_record *rec = &b->items[i].k.rec;
		size_t k = mw->n++;
		if ((r->merger ? read_measured(r, rec, mw, k, e)
			       : measure_one(r, rec, mw, k, e)) < 0)
			return -1;
	}
	warn_uncovered(r, b->id, mw);
	qp_profile_hyper h;
	qp_profile_hyper_from_model(b->model ? &b->model->map : NULL, &h);
	if (qp_sens_normalise(mw->sens, mw->n, (int)h.n_layer, e) < 0)
		return -1;
	return write_model(r, b, mw, &h, w, e);
}

static int on_model(void *ctx, const qp_model_batch *b, qp_writer *w,
		    qp_err *e)
{
	size_t n = b->n_tensors;
	model_work mw = {
		.sens = calloc(n, sizeof *mw.sens),
		.prof = calloc(n, sizeof *mw.prof),
		.ent = calloc(n, sizeof *mw.ent),
	};
	int rc = (mw.sens && mw.prof && mw.ent) ? score_model(ctx, b, &mw, w, e)
						: qp_fail(e, "out of memory");
	for (size_t k = 0; mw.sens && k < n; k++)
		qp_sens_tensor_free(&mw.sens[k]);
	free(mw.sens);
	free(mw.prof);
	free(mw.ent);
	return rc;
}

/* ---- --shard: this shard's tensors measured, not yet scored ------------ */

static int shard_record(void *ctx, const qp_record *rec, qp_writer *w,
			qp_err *e)
{
	run *r = ctx;
	if (qp_rec_is(rec, "profile"))
		return 0; /* replaced, as in an unsharded run */
	return qp_sharder_record(r->sharder, rec, w, e);
}

/* What the unsharded run does for every tensor before it measures any:
 * the imatrix check per model, and the entries split into experts (their
 * statistics, which a shard's imat keys show, depend on all tensors). */
typedef struct imatrix_walk {
	run *r;
	bool *used;
	char model[QP_MODEL_ID_MAX];
	bool open;
} imatrix_walk;

static int walk_close(imatrix_walk *iw, qp_err *e)
{
	if (!iw->open)
		return 0;
	iw->open = false;
	int rc = qp_imatrix_check_used(&iw->r->im, iw->used, iw->model, e);
	memset(iw->used, 0, (size_t)iw->r->im.n_entries * sizeof *iw->used);
	return rc < 0 ? qp_fail_prefix(e, "%s", iw->r->cfg.imatrix) : 0;
}

static int walk_tensor(void *ctx, const qp_record *rec, qp_err *e)
{
	imatrix_walk *iw = ctx;
	run *r = iw->r;
	char model[QP_MODEL_ID_MAX], name[256];
	if (qp_rec_str(rec, "model", model, sizeof model, e) < 0 ||
	    qp_rec_str(rec, "name", name, sizeof name, e) < 0)
		return -1;
	if (iw->open && strcmp(model, iw->model) != 0 && walk_close(iw, e) < 0)
		return -1;
	if (!iw->open) {
		snprintf(iw->model, sizeof iw->model, "%s", model);
		iw->open = true;
	}
	int64_t idx = qp_imatrix_index(&r->im, name);
	if (idx >= 0)
		iw->used[idx] = true;
	qp_tensor_ref t;
	const qp_imatrix_entry *ent;
	bool resplit;
	if (qp_tensor_ref_from_record(rec, r->maps, &t, e) < 0 ||
	    qp_imatrix_for_tensor(&r->im, &t, &ent, &resplit, e) < 0 ||
	    (resplit && qp_imatrix_stats_compute(&r->im, r->im_stats, e) < 0))
		return -1;
	return 0;
}

static int shard_tensor(void *ctx, const qp_record *rec, qp_writer *w,
			qp_err *e)
{
	run *r = ctx;
	qp_tensor_ref t;
	const qp_imatrix_entry *ent = NULL;
	if (qp_tensor_ref_from_record(rec, r->maps, &t, e) < 0 ||
	    (r->have_im && qp_imatrix_for_tensor(&r->im, &t, &ent, NULL, e) < 0))
		return -1;
	qp_sens_tensor s;
	int rc = qp_sens_measure(&t, ent, &r->sopts, &s, e);
	if (rc < 0)
		rc = qp_fail_prefix(e, "%s", t.name);
	else if (rc == 1) { /* passed through unscored */
		if (!r->cfg.quiet)
			qp_reportf(r->cfg.prog, NULL, "warning: tensor '%s': %s",
				   t.name, e->msg);
		rc = qp_writer_raw(w, rec->raw, rec->raw_len, e);
	} else {
		rc = write_tensor(r, w, rec, &s, ent, true, e);
	}
	qp_sens_tensor_free(&s);
	qp_progress_update(&r->progress, ++r->n_done);
	return rc;
}

static int shard_end(void *ctx, qp_writer *w, qp_err *e)
{
	run *r = ctx;
	if (r->have_im) {
		imatrix_walk iw = {.r = r};
		iw.used = calloc((size_t)r->im.n_entries + 1, sizeof *iw.used);
		if (!iw.used)
			return qp_fail(e, "out of memory");
		int rc = qp_sharder_each_kept(r->sharder, walk_tensor, &iw, e);
		if (rc == 0)
			rc = walk_close(&iw, e);
		free(iw.used);
		if (rc < 0)
			return -1;
	}
	return qp_sharder_finish(r->sharder, w, shard_tensor, r, e);
}

/* ---- --merge: the shards' records in order, each model scored --------- */

static int merge_record(void *ctx, const qp_record *rec, qp_writer *w,
			qp_err *e)
{
	(void)w;
	run *r = ctx;
	/* the shards' options: any partial sens says them (the merger checks
	 * that every shard ran with the same, by their meta records); read
	 * before any model is scored */
	if (!r->have_ro && qp_rec_is(rec, "tensor")) {
		qp_sens_tensor s = {0};
		qp_err ignored;
		r->have_ro = qp_sens_read_partial(qp_map_get(&rec->map, "sens"), &s,
						  &r->ro, &ignored) == 1;
		if (!r->have_ro)
			r->ro = (qp_sens_run_opts){0};
		free(s.sv);
	}
	return qp_merger_add(r->merger, rec, e);
}

static int merge_feed(void *ctx, const uint8_t *raw, size_t len, qp_err *e)
{
	run *r = ctx;
	qp_kept_record k;
	if (qp_record_from_raw(raw, len, ++r->n_merged, &k, e) < 0)
		return -1;
	int rc = qp_model_stream_record(r->merged, &k.rec, r->out, e);
	qp_kept_free(&k);
	return rc;
}

static int merge_end(void *ctx, qp_writer *w, qp_err *e)
{
	run *r = ctx;
	r->out = w;
	if (qp_merger_each(r->merger, merge_feed, r, e) < 0)
		return -1;
	return qp_model_stream_end(r->merged, w, e);
}

/* a profile from an earlier run is replaced by the new one; the merged
 * stream is scored model by model, as the unsharded run scores its input */
static const char *const replaced[] = {"profile", NULL};

static int open_measuring(run *r, qp_err *e)
{
	const qp_sens_run_cfg *o = &r->cfg;
	qp_sens_opts_default(&r->sopts);
	r->sopts.n_threads = o->threads;
	r->sopts.svd = !o->no_svd;
	if (o->svd_rank)
		r->sopts.svd_rank = (int)o->svd_rank;
	if (o->svd_iters >= 0)
		r->sopts.svd_power_iters = (int)o->svd_iters;
	r->maps = qp_map_cache_new();
	if (!r->maps)
		return qp_fail(e, "out of memory");
	if (o->imatrix) {
		if (qp_imatrix_load(o->imatrix, &r->im, e) < 0)
			return qp_fail_prefix(e, "%s", o->imatrix);
		r->have_im = true;
		r->im_stats = calloc((size_t)r->im.n_entries + 1, sizeof *r->im_stats);
		if (!r->im_stats)
			return qp_fail(e, "out of memory");
		if (qp_imatrix_stats_compute(&r->im, r->im_stats, e) < 0)
			return qp_fail_prefix(e, "%s", o->imatrix);
	}
	if (o->sharded && !(r->sharder = qp_sharder_new(o->shard, 1)))
		return qp_fail(e, "out of memory");
	snprintf(r->progress_label, sizeof r->progress_label, "%s: tensors",
		 o->prog);
	qp_progress_init(&r->progress, qp_progress_wanted(o->quiet),
			 r->progress_label, 0);
	return 0;
}

int qp_sens_runner_new(const qp_sens_run_cfg *cfg, qp_sens_runner **out,
		       qp_err *e)
{
	*out = NULL;
	run *r = calloc(1, sizeof *r);
	if (!r)
		return qp_fail(e, "out of memory");
	r->cfg = *cfg;
	r->mf = (qp_model_filter){.prog = cfg->prog, .on_model = on_model,
				  .ctx = r, .drop_kinds = replaced};
	int rc = 0;
	if (cfg->merge) {
		r->merger = qp_merger_new();
		r->merged = qp_model_stream_new(&r->mf);
		if (!r->merger || !r->merged)
			rc = qp_fail(e, "out of memory");
	} else {
		rc = open_measuring(r, e);
	}
	if (rc < 0) {
		qp_sens_runner_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

void qp_sens_runner_free(qp_sens_runner *r)
{
	if (!r)
		return;
	qp_progress_end(&r->progress);
	free(r->im_stats);
	if (r->have_im)
		qp_imatrix_free(&r->im);
	qp_map_cache_free(r->maps);
	qp_sharder_free(r->sharder);
	qp_merger_free(r->merger);
	qp_model_stream_free(r->merged);
	free(r);
}

const qp_model_filter *qp_sens_runner_model_filter(const qp_sens_runner *r)
{
	return &r->mf;
}

void qp_sens_runner_filter(qp_sens_runner *r, qp_filter *f)
{
	*f = (qp_filter){.prog = r->cfg.prog, .ctx = r};
	if (r->sharder) {
		f->on_record = shard_record;
		f->on_last_end = shard_end;
	} else {
		f->on_record = merge_record;
		f->on_last_end = merge_end;
	}
}
