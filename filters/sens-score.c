/* sens-score — weight and activation statistics, sensitivity scores and
 * the model profile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "imatrix.h"
#include "imatrix_stats.h"
#include "imatrix_match.h"
#include "model_batch.h"
#include "names.h"
#include "profile.h"
#include "progress.h"
#include "rec.h"
#include "sens.h"
#include "sens_rec.h"
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
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
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

typedef struct run {
	const opts *o;
	const qp_common *c;
	qp_sens_opts sopts;
	qp_imatrix im;
	qp_imatrix_stats *im_stats;
	bool have_im;
	qp_map_cache *maps;
	qp_progress progress;
	uint64_t n_done;
} run;

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
	if (qp_sens_measure(&t, mw->ent[k], &r->sopts, &mw->sens[k], e) < 0)
		return qp_fail_prefix(e, "%s", t.name);
	qp_progress_update(&r->progress, ++r->n_done);
	return 0;
}

/* Tensors the imatrix does not cover are listed on stderr (their records
 * say so too). */
static void warn_uncovered(run *r, const char *model, const model_work *mw)
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
		qp_reportf("sens-score", model,
			   "warning: %d tensor%s not in the imatrix, scored without "
			   "activations: %s%s", n_missing, n_missing > 1 ? "s are" : " is",
			   list, n_missing > 4 ? ", ..." : "");
}

static int write_tensor(run *r, qp_writer *w, const qp_record *rec,
			const model_work *mw, size_t k, qp_err *e)
{
	static const char *const owned[] = {"stats", "imat", "sens"};
	const qp_imatrix_entry *ent = mw->ent[k];
	qp_mapw own;
	qp_mapw_begin(&own, NULL);
	qp_sens_pack_stats(qp_mapw_key(&own, "stats"), &mw->sens[k].ws);
	if (ent)
		qp_sens_pack_imat(qp_mapw_key(&own, "imat"), ent,
				  &r->im_stats[ent - r->im.entries]);
	qp_sens_pack_sens(qp_mapw_key(&own, "sens"), &mw->sens[k], r->have_im,
			  r->sopts.svd);
	qp_writer_enrich_map(w, rec, owned, 3, &own);
	return qp_writer_end(w, e);
}

/* The batch in stream order, the profile right after the last tensor. */
static int write_model(run *r, const qp_model_batch *b, const model_work *mw,
		       const qp_profile_hyper *h, qp_writer *w, qp_err *e)
{
	for (size_t i = 0, k = 0; i < b->n_items; i++) {
		int rc = b->items[i].is_tensor
				 ? write_tensor(r, w, &b->items[i].k.rec, mw, k++, e)
				 : qp_model_batch_pass(b, i, w, e);
		if (rc < 0)
			return -1;
		if (i == b->last_tensor &&
		    (qp_profile_pack(qp_writer_packer(w), b->id, b->id_len, mw->prof,
				     mw->n, h, r->o->mem_bw, e) < 0 ||
		     qp_writer_end(w, e) < 0))
			return -1;
	}
	return 0;
}

static int score_model(run *r, const qp_model_batch *b, model_work *mw,
		       qp_writer *w, qp_err *e)
{
	/* every imatrix entry must name a tensor of the model */
	if (r->have_im && qp_imatrix_check_batch(&r->im, b, e) < 0)
		return qp_fail_prefix(e, "%s", r->o->imatrix);
	for (size_t i = 0; i < b->n_items; i++)
		if (b->items[i].is_tensor &&
		    measure_one(r, &b->items[i].k.rec, mw, mw->n++, e) < 0)
			return -1;
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
			qp_report("sens-score", o->imatrix, e.msg);
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
	free(r->im_stats);
	if (r->have_im)
		qp_imatrix_free(&r->im);
	qp_map_cache_free(r->maps);
}

int main(int argc, char **argv)
{
	opts o = {.svd_iters = -1};
	qp_tool tool = {"sens-score", usage, "m:b:", long_opts, on_option, &o, usage_end};
	qp_common c;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	run r = {0};
	int status = setup(&r, &o, &c);
	/* a profile from an earlier run is replaced by the new one */
	static const char *const replaced[] = {"profile", NULL};
	qp_model_filter mf = {.prog = "sens-score", .on_model = on_model, .ctx = &r,
			      .drop_kinds = replaced};
	if (status == 0)
		status = qp_model_filter_pipe(&mf, &c, argc, argv);
	cleanup(&r);
	return status;
}
