/* proxy-fit — calibrates measured errors against real llama-perplexity
 * runs, and predicts the quality loss of every configuration. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdarg.h>

#include "baselines.h"
#include "cli.h"
#include "fit.h"
#include "model_batch.h"
#include "proxy.h"
#include "proxy_batch.h"
#include "proxy_fit.h"
#include "propose.h"
#include "recipe.h"
#include "types.h"
#include "rec.h"

static const char usage[] =
	"Usage: proxy-fit [options] [FILE ...]\n"
	"Reads one model's tensor records carrying qerr (qerr-measure output),\n"
	"then measure records (measure-read output, or rec-show --from-json);\n"
	"calibrates a proxy on the measured runs and writes one fit record;\n"
	"adds pred (and resid on measured runs) to every measure and recipe\n"
	"record.  Without usable runs the built-in uncalibrated prior predicts.\n"
	"Typical use: qerr-measure ... | proxy-fit - runs.mp\n"
	"\n"
	"      --target T       kld (mean KLD; the default unless the runs give\n"
	"                       only ln PPL ratios) or dlnppl (ln(PPL(Q)/PPL(base)))\n"
	"      --level L        interval level (default 0.95)\n"
	"      --imatrix-qerr FILE\n"
	"                       the same tensors measured with qerr-measure\n"
	"                       --imatrix: used for runs marked imatrix: true\n"
	"      --prior          predict with the uncalibrated prior even when\n"
	"                       runs are given (the fit record then reports how\n"
	"                       the prior does on them)\n"
	"      --fit FILE       predict with the fit record in FILE (an earlier\n"
	"                       proxy-fit run, perhaps on another model) instead\n"
	"                       of fitting; the fit record reports how it does\n"
	"      --form F         fit only form F (total, family, family-depth,\n"
	"                       role, role-depth)\n"
	"      --metric M       fit only error metric M (wmse, mse, rel2)\n"
	"      --propose N      also write N recipe records: the configurations\n"
	"                       whose measurement would most improve the fit\n"
	"                       (D-optimal), with their llama-quantize arguments\n"
	"      --cv K           add K-fold cross-validation figures of the whole\n"
	"                       fitting procedure to the fit record\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Exit status: 0 success, 1 bad input or failed work, 2 bad usage.\n";

enum { OPT_TARGET = 256, OPT_LEVEL, OPT_IMAT, OPT_PRIOR, OPT_CV, OPT_FIT,
       OPT_FORM, OPT_METRIC, OPT_PROPOSE };

static const struct option long_opts[] = {
	{"target", required_argument, NULL, OPT_TARGET},
	{"level", required_argument, NULL, OPT_LEVEL},
	{"imatrix-qerr", required_argument, NULL, OPT_IMAT},
	{"prior", no_argument, NULL, OPT_PRIOR},
	{"cv", required_argument, NULL, OPT_CV},
	{"fit", required_argument, NULL, OPT_FIT},
	{"form", required_argument, NULL, OPT_FORM},
	{"metric", required_argument, NULL, OPT_METRIC},
	{"propose", required_argument, NULL, OPT_PROPOSE},
	{0},
};

typedef struct opts {
	const char *target; /* NULL: auto */
	double level;
	const char *imat_file;
	bool prior;
	int cv;
	const char *fit_file;
	int form, metric; /* -1: all */
	int propose;
} opts;

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	opts *o = ctx;
	long v;
	switch (opt) {
	case OPT_TARGET:
		if (!strcmp(arg, "kld") || !strcmp(arg, "kld_mean"))
			o->target = "kld_mean";
		else if (!strcmp(arg, "dlnppl") || !strcmp(arg, "ln_ppl_ratio"))
			o->target = "ln_ppl_ratio";
		else
			return qp_fail(e, "--target takes kld or dlnppl, not '%s'", arg);
		return 0;
	case OPT_LEVEL:
		if (qp_parse_double(arg, &o->level, e) < 0)
			return -1;
		if (!(o->level > 0 && o->level < 1))
			return qp_fail(e, "--level takes a number between 0 and 1, not %s", arg);
		return 0;
	case OPT_IMAT: o->imat_file = arg; return 0;
	case OPT_PRIOR: o->prior = true; return 0;
	case OPT_FIT: o->fit_file = arg; return 0;
	case OPT_PROPOSE:
		if (qp_parse_long(arg, 1, 1000, &v, e) < 0)
			return -1;
		o->propose = (int)v;
		return 0;
	case OPT_FORM:
		for (int i = 0; i < QP_FORM_COUNT; i++)
			if (!strcmp(arg, qp_proxy_form_name((qp_proxy_form)i))) {
				o->form = i;
				return 0;
			}
		return qp_fail(e, "--form takes total, family, family-depth, role or role-depth, not '%s'", arg);
	case OPT_METRIC:
		for (int i = 0; i < QP_METRIC_COUNT; i++)
			if (!strcmp(arg, qp_proxy_metric_name((qp_proxy_metric)i))) {
				o->metric = i;
				return 0;
			}
		return qp_fail(e, "--metric takes wmse, mse or rel2, not '%s'", arg);
	case OPT_CV:
		if (qp_parse_long(arg, 2, 1000, &v, e) < 0)
			return -1;
		o->cv = (int)v;
		return 0;
	}
	return qp_fail(e, "unknown option");
}

typedef struct run_ctx {
	const opts *o;
	bool quiet;
	qp_kept_record *imat;   /* tensor records of --imatrix-qerr */
	size_t n_imat;
	qp_proxy *given;        /* --fit FILE */
} run_ctx;

static void warn(const run_ctx *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void warn(const run_ctx *r, const char *fmt, ...)
{
	if (r->quiet)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "proxy-fit: warning: %s\n", msg);
}

/* One measure or recipe item of the batch. */
typedef struct item {
	size_t at;              /* batch item index */
	bool is_measure;
	qp_proxy_config cfg;
	bool has_result;        /* any result field */
	bool has_target;
	double y;
	bool used;              /* in the fit */
	int dup_of;             /* -1, or the item whose run it joined */
	qp_baselines bl;
	double dppl;            /* measured PPL increase, NaN if unknown */
} item;

static const char *const result_keys[] = {
	"ppl", "ln_ppl_ratio", "kld_mean", "kld_median", "kld_p99", "kld_max",
	"top1", "dp_rms", NULL};

static bool num_field(const msgpack_object *map, const char *key, double *v)
{
	return qp_obj_number(qp_map_get(map, key), v);
}

static const char *where(const qp_record *rec, char *buf, size_t n)
{
	snprintf(buf, n, "record %llu (byte offset %llu)",
		 (unsigned long long)rec->index, (unsigned long long)rec->offset);
	return buf;
}

static void pack_num_or_nil(msgpack_packer *pk, const char *key, double v)
{
	qp_pack_str(pk, key);
	if (isfinite(v))
		msgpack_pack_double(pk, v);
	else
		msgpack_pack_nil(pk);
}

static void pack_pred(msgpack_packer *pk, const qp_pred *p, const char *target,
		      const qp_baselines *b)
{
	msgpack_pack_map(pk, 7);
	qp_pack_key_str(pk, "target", target);
	qp_pack_key_double(pk, "value", p->value);
	qp_pack_key_double(pk, "lo", p->lo);
	qp_pack_key_double(pk, "hi", p->hi);
	qp_pack_key_double(pk, "level", p->level);
	qp_pack_key_bool(pk, "calibrated", p->calibrated);
	/* Each baseline only where its source defines it; see baselines.h. */
	qp_pack_str(pk, "baselines");
	msgpack_pack_map(pk, (uint32_t)(b->has_ramp + b->has_bpw + b->has_taf));
	if (b->has_ramp)
		qp_pack_key_double(pk, "ramp_local", b->ramp_local);
	if (b->has_bpw) {
		qp_pack_str(pk, "quantbenchx_bpw");
		msgpack_pack_map(pk, 2);
		qp_pack_key_double(pk, "bpw", b->bpw);
		qp_pack_key_double(pk, "dppl", b->quantbenchx_dppl);
	}
	if (b->has_taf) {
		qp_pack_str(pk, "taf_band");
		msgpack_pack_map(pk, 3);
		qp_pack_key_str(pk, "band", b->taf_band);
		qp_pack_key_str(pk, "scheme", b->taf_scheme);
		qp_pack_key_double(pk, "penalty", b->taf_penalty);
	}
}

/* How each baseline ranks the measured runs (and quantbenchx's delta-PPL
 * against the measured one where the runs give PPL). */
static void pack_baseline_eval(msgpack_packer *pk, const item *it, int n_items)
{
	double *x = malloc((size_t)(n_items ? n_items : 1) * sizeof *x);
	double *y = malloc((size_t)(n_items ? n_items : 1) * sizeof *y);
	qp_pack_str(pk, "baselines");
	if (!x || !y) {
		msgpack_pack_nil(pk);
		free(x);
		free(y);
		return;
	}
	msgpack_pack_map(pk, 3);
	for (int which = 0; which < 3; which++) {
		static const char *const names[] = {"ramp_local", "quantbenchx_bpw", "taf_band"};
		int n = 0, nd = 0;
		double mae = 0;
		for (int i = 0; i < n_items; i++) {
			const item *t = &it[i];
			if (!t->used)
				continue;
			const qp_baselines *b = &t->bl;
			bool has = which == 0 ? b->has_ramp : which == 1 ? b->has_bpw : b->has_taf;
			if (!has)
				continue;
			x[n] = which == 0 ? b->ramp_local : which == 1 ? b->quantbenchx_dppl : b->taf_rank;
			y[n++] = t->y;
			if (which == 1 && isfinite(t->dppl)) {
				mae += fabs(b->quantbenchx_dppl - t->dppl);
				nd++;
			}
		}
		qp_pack_str(pk, names[which]);
		msgpack_pack_map(pk, which == 1 ? 3 : 2);
		qp_pack_key_int(pk, "n", n);
		pack_num_or_nil(pk, "spearman", qp_spearman(x, y, n));
		if (which == 1)
			pack_num_or_nil(pk, "mae_dppl", nd ? mae / nd : NAN);
	}
	free(x);
	free(y);
}

typedef struct eval {
	int n;
	double r2, spearman, kendall, mae, coverage;
} eval;

/* How the proxy does on the measured items (in-sample for a fit, honest
 * for the prior on runs it was not fitted on). */
static int evaluate(const qp_proxy *p, const qp_proxy_model *m, item *it,
		    int n_items, double level, eval *ev, qp_err *e)
{
	double *y = malloc((size_t)(n_items ? n_items : 1) * sizeof *y);
	double *pr = malloc((size_t)(n_items ? n_items : 1) * sizeof *pr);
	int n = 0, cov = 0;
	if (!y || !pr) {
		free(y);
		free(pr);
		return qp_fail(e, "out of memory");
	}
	for (int i = 0; i < n_items; i++) {
		if (!it[i].used)
			continue;
		double s;
		if (qp_proxy_sum(p, qp_proxy_model_view(m, &it[i].cfg), m->n_tensors,
				 it[i].cfg.types, &s, e) < 0) {
			free(y);
			free(pr);
			return -1;
		}
		qp_pred q;
		qp_proxy_predict_at(p, s, level, &q);
		y[n] = it[i].y;
		pr[n] = q.value;
		cov += it[i].y >= q.lo && it[i].y <= q.hi;
		n++;
	}
	double mae = 0;
	for (int i = 0; i < n; i++)
		mae += fabs(pr[i] - y[i]);
	*ev = (eval){n, qp_r2(y, pr, n), qp_spearman(pr, y, n), qp_kendall(pr, y, n),
		     n ? mae / n : NAN, n ? (double)cov / n : NAN};
	free(y);
	free(pr);
	return 0;
}

/* Cross-validation figures of the fitting procedure (--cv K). */
typedef struct cv_fig {
	int k;
	double spearman, mae, mae_frac, coverage;
	bool done;
} cv_fig;

static int do_cv(const qp_fit_run *runs, int n, const qp_fit_opts *fo, int k,
		 cv_fig *cv, qp_err *e)
{
	double *pr = malloc((size_t)n * sizeof *pr), *lo = malloc((size_t)n * sizeof *lo);
	double *hi = malloc((size_t)n * sizeof *hi), *y = malloc((size_t)n * sizeof *y);
	int rc = 0;
	if (!pr || !lo || !hi || !y)
		rc = qp_fail(e, "out of memory");
	else
		rc = qp_fit_crossval(runs, n, k, fo, pr, lo, hi, e);
	if (rc == 0) {
		double mae = 0, ymin = INFINITY, ymax = -INFINITY;
		int cov = 0;
		for (int i = 0; i < n; i++) {
			y[i] = runs[i].y;
			mae += fabs(pr[i] - y[i]);
			cov += y[i] >= lo[i] && y[i] <= hi[i];
			if (y[i] < ymin)
				ymin = y[i];
			if (y[i] > ymax)
				ymax = y[i];
		}
		*cv = (cv_fig){k, qp_spearman(pr, y, n), mae / n,
			       ymax > ymin ? mae / n / (ymax - ymin) : NAN, (double)cov / n, true};
	}
	free(pr);
	free(lo);
	free(hi);
	free(y);
	return rc;
}

static void pack_fit_record(msgpack_packer *pk, const char *model,
			    const qp_proxy *p, const qp_fit_report *rep,
			    const eval *ev, const cv_fig *cv, char notes[][256],
			    int n_notes, const item *it, int n_items)
{
	uint32_t n = 2 + QP_PROXY_PACKED_FIELDS + 11 + (cv->done ? 1 : 0);
	msgpack_pack_map(pk, n);
	qp_pack_key_str(pk, "kind", "fit");
	qp_pack_key_str(pk, "model", model);
	qp_proxy_pack_fields(p, pk);
	qp_pack_key_int(pk, "n", ev->n);
	qp_pack_key_int(pk, "n_params", rep ? rep->n_params : 0);
	pack_num_or_nil(pk, "r2", ev->r2);
	pack_num_or_nil(pk, "spearman", ev->spearman);
	pack_num_or_nil(pk, "kendall", ev->kendall);
	pack_num_or_nil(pk, "mae", ev->mae);
	pack_num_or_nil(pk, "loo_mae", rep ? rep->loo_mae : NAN);
	pack_num_or_nil(pk, "loo_spearman", rep ? rep->loo_spearman : NAN);
	if (cv->done) {
		qp_pack_str(pk, "cv");
		msgpack_pack_map(pk, 5);
		qp_pack_key_int(pk, "k", cv->k);
		pack_num_or_nil(pk, "spearman", cv->spearman);
		pack_num_or_nil(pk, "mae", cv->mae);
		pack_num_or_nil(pk, "mae_range", cv->mae_frac);
		pack_num_or_nil(pk, "coverage", cv->coverage);
	}
	qp_pack_str(pk, "candidates");
	int nc = rep ? rep->n_cand : 0, shown = 0;
	for (int i = 0; i < nc; i++)
		shown += !rep->cand[i].skipped;
	msgpack_pack_array(pk, (size_t)shown);
	for (int i = 0; i < nc; i++) {
		const qp_fit_cand *c = &rep->cand[i];
		if (c->skipped)
			continue;
		msgpack_pack_map(pk, 7);
		qp_pack_key_str(pk, "form", qp_proxy_form_name(c->form));
		qp_pack_key_str(pk, "metric", qp_proxy_metric_name(c->metric));
		qp_pack_key_str(pk, "weighting", c->relative ? "relative" : "absolute");
		qp_pack_key_double(pk, "power", c->power);
		qp_pack_key_int(pk, "n_params", c->n_params);
		pack_num_or_nil(pk, "loo_rms_log", c->loo_rms_log);
		pack_num_or_nil(pk, "loo_spearman", c->loo_spearman);
	}
	pack_baseline_eval(pk, it, n_items);
	qp_pack_str(pk, "notes");
	msgpack_pack_array(pk, (size_t)n_notes);
	for (int i = 0; i < n_notes; i++)
		qp_pack_str(pk, notes[i]);
}

/* A tensor record with proxy {weight, terms {TYPE: term}} (the terms of
 * the types its qerr measured; plain view); one without qerr passes. */
static int write_tensor(const qp_proxy_model *m, const qp_proxy *p,
			const qp_model_batch *b, size_t i, int at, qp_writer *w,
			qp_err *e)
{
	const qp_proxy_tensor *t = at >= 0 && at < m->n_tensors && m->item_of[at] == i ?
				   &m->plain[at] : NULL;
	if (!t || !t->qerr)
		return qp_model_batch_pass(b, i, w, e);
	const msgpack_object_map *q = &t->qerr->via.map;
	uint32_t n_ok = 0;
	double *terms = malloc((q->size ? q->size : 1) * sizeof *terms);
	if (!terms)
		return qp_fail(e, "out of memory");
	for (uint32_t k = 0; k < q->size; k++) {
		char ty[48];
		terms[k] = NAN;
		if (q->ptr[k].key.type != MSGPACK_OBJECT_STR || q->ptr[k].key.via.str.size >= sizeof ty)
			continue;
		memcpy(ty, q->ptr[k].key.via.str.ptr, q->ptr[k].key.via.str.size);
		ty[q->ptr[k].key.via.str.size] = 0;
		double v;
		if (qp_proxy_term(p, t, ty, &v, NULL) == 0) {
			terms[k] = v;
			n_ok++;
		}
	}
	qp_writer_enrich(w, &b->items[i].k.rec, "proxy");
	msgpack_packer *pk = qp_writer_packer(w);
	msgpack_pack_map(pk, 2);
	qp_pack_key_double(pk, "weight", qp_proxy_weight(p, t));
	qp_pack_str(pk, "terms");
	msgpack_pack_map(pk, n_ok);
	for (uint32_t k = 0; k < q->size; k++)
		if (!isnan(terms[k])) {
			msgpack_pack_object(pk, q->ptr[k].key);
			msgpack_pack_double(pk, terms[k]);
		}
	free(terms);
	return qp_writer_end(w, e);
}

/* One proposal as a recipe record (recipe.h), plus the label and the
 * llama-quantize arguments that make it. */
static int write_proposal(const qp_proxy_model *m, const qp_proxy *p,
			  const qp_proposal *q, double level, const char *target,
			  qp_writer *w, qp_err *e)
{
	qp_recipe r;
	qp_recipe_init(&r);
	int rc = 0;
	uint64_t bytes = 0, elems = 0;
	const qp_proxy_tensor *view = qp_proxy_model_view(m, &q->cfg);
	for (int i = 0; i < m->n_tensors && rc == 0; i++) {
		const qp_proxy_tensor *t = &view[i];
		const char *ty = q->cfg.types[i] ? q->cfg.types[i] : t->base_type;
		const qp_type_info *ti = qp_type_info_by_name(ty);
		if (!ti) {
			rc = qp_fail(e, "tensor %s: unknown type %s", t->name, ty);
			break;
		}
		rc = qp_recipe_add(&r, t->name, ti->id, e);
		elems += t->n_elem;
		uint64_t nb = t->n_bytes;
		if (q->cfg.types[i] && t->qerr) {
			for (uint32_t k = 0; k < t->qerr->via.map.size; k++)
				if (qp_obj_str_eq(&t->qerr->via.map.ptr[k].key, q->cfg.types[i])) {
					const msgpack_object *o = qp_map_get(&t->qerr->via.map.ptr[k].val, "n_bytes");
					if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
						nb = o->via.u64;
				}
		}
		bytes += nb;
	}
	double s = 0;
	if (rc == 0)
		rc = qp_proxy_sum(p, view, m->n_tensors, q->cfg.types, &s, e);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	if (rc == 0) {
		qp_pred pr;
		qp_proxy_predict_at(p, s, level, &pr);
		qp_baselines bl;
		qp_baselines_compute(view, m->n_tensors, q->cfg.types, &bl);
		msgpack_packer pk;
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		pack_pred(&pk, &pr, target, &bl);
		r.n_bytes = bytes;
		r.bpw = elems ? 8.0 * (double)bytes / (double)elems : 0;
		r.has_pure = true;
		r.pure = true;
		if (qp_recipe_set_model(&r, m->id, e) < 0 || qp_recipe_set_source(&r, "propose", e) < 0 ||
		    qp_recipe_set_ftype(&r, q->ftype, e) < 0 ||
		    qp_recipe_set_pred(&r, (const uint8_t *)sb.data, sb.size, e) < 0)
			rc = -1;
	}
	msgpack_sbuffer_destroy(&sb);
	if (rc == 0) {
		/* Pack the record, then copy it with the two extra fields. */
		msgpack_sbuffer_init(&sb);
		msgpack_packer pk;
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		rc = qp_recipe_pack(&r, &pk, e);
		msgpack_unpacked u;
		msgpack_unpacked_init(&u);
		size_t off = 0;
		if (rc == 0 && msgpack_unpack_next(&u, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS)
			rc = qp_fail(e, "internal: cannot decode the recipe just packed");
		if (rc == 0) {
			qp_record fake = {0};
			fake.map = u.data;
			static const char *const own[] = {"label", "quantize_args"};
			qp_writer_enrich_keys(w, &fake, own, 2, 2);
			msgpack_packer *wp = qp_writer_packer(w);
			qp_pack_key_str(wp, "label", q->label);
			qp_pack_str(wp, "quantize_args");
			msgpack_pack_array(wp, (size_t)q->n_args);
			for (int a = 0; a < q->n_args; a++)
				qp_pack_str(wp, q->args[a]);
			rc = qp_writer_end(w, e);
		}
		msgpack_unpacked_destroy(&u);
		msgpack_sbuffer_destroy(&sb);
	}
	qp_recipe_free(&r);
	return rc;
}

static int write_proposals(const qp_proxy_model *m, const qp_proxy *p,
			   const item *it, int n_items, int n_want, double level,
			   const char *target, qp_writer *w, qp_err *e)
{
	qp_proxy_config *meas = calloc((size_t)(n_items ? n_items : 1), sizeof *meas);
	if (!meas)
		return qp_fail(e, "out of memory");
	int n_meas = 0;
	for (int i = 0; i < n_items; i++)
		if (it[i].used)
			meas[n_meas++] = it[i].cfg; /* borrowed */
	qp_proposal *props = NULL;
	int n_props = 0;
	int rc = qp_propose(m, p, meas, n_meas, n_want, &props, &n_props, e);
	free(meas);
	for (int i = 0; i < n_props && rc == 0; i++)
		rc = write_proposal(m, p, &props[i], level, target, w, e);
	qp_proposals_free(props, n_props);
	return rc;
}

static int on_model(void *ctx, const qp_model_batch *b, qp_writer *w, qp_err *e)
{
	run_ctx *r = ctx;
	const opts *o = r->o;
	const qp_record **imat = NULL;
	qp_proxy_model m;
	item *it = NULL;
	qp_fit_run *runs = NULL;
	qp_proxy *p = NULL;
	qp_fit_report rep;
	memset(&rep, 0, sizeof rep);
	int n_items = 0, rc = 0, n_notes = 0;
	char notes[QP_FIT_MAX_NOTES + 8][256];
	char wb[96];
	if (r->n_imat) {
		imat = malloc(r->n_imat * sizeof *imat);
		if (!imat)
			return qp_fail(e, "out of memory");
		for (size_t i = 0; i < r->n_imat; i++)
			imat[i] = &r->imat[i].rec;
	}
	rc = qp_proxy_model_init(&m, b, imat, r->n_imat, e);
	free(imat);
	if (rc < 0)
		return -1;
	it = calloc(b->n_items, sizeof *it);
	runs = calloc(b->n_items ? b->n_items : 1, sizeof *runs);
	if (!it || !runs) {
		rc = qp_fail(e, "out of memory");
		goto out;
	}
	/* The target: asked, or the given fit's, or kld_mean unless the runs
	 * give only ln_ppl_ratio. */
	const char *target = o->target;
	if (!target && r->given)
		target = qp_proxy_target(r->given);
	if (!target) {
		bool kld = false, lnr = false;
		for (size_t i = 0; i < b->n_items; i++) {
			const qp_record *rec = &b->items[i].k.rec;
			double v;
			if (!qp_rec_is(rec, "measure"))
				continue;
			kld |= num_field(&rec->map, "kld_mean", &v);
			lnr |= num_field(&rec->map, "ln_ppl_ratio", &v);
		}
		target = lnr && !kld ? "ln_ppl_ratio" : "kld_mean";
	}
	for (size_t i = 0; i < b->n_items; i++) {
		const qp_record *rec = &b->items[i].k.rec;
		bool is_m = qp_rec_is(rec, "measure"), is_r = qp_rec_is(rec, "recipe");
		if (!is_m && !is_r)
			continue;
		item *x = &it[n_items];
		x->at = i;
		x->is_measure = is_m;
		x->dup_of = -1;
		if (qp_proxy_config_read(&m, &rec->map, &x->cfg, e) < 0) {
			qp_fail_prefix(e, "%s", where(rec, wb, sizeof wb));
			rc = -1;
			goto out;
		}
		n_items++;
		qp_baselines_compute(qp_proxy_model_view(&m, &x->cfg), m.n_tensors,
				     x->cfg.types, &x->bl);
		x->dppl = NAN;
		double ppl, base, lr;
		if (is_m && num_field(&rec->map, "ppl", &ppl)) {
			if (num_field(&rec->map, "base_ppl", &base))
				x->dppl = ppl - base;
			else if (num_field(&rec->map, "ln_ppl_ratio", &lr))
				x->dppl = ppl - ppl / exp(lr);
		}
		if (!is_m)
			continue;
		const msgpack_object *mm = qp_map_get(&rec->map, "model");
		if (mm && mm->type == MSGPACK_OBJECT_STR && !qp_obj_str_eq(mm, m.id))
			warn(r, "%s: measure of model '%.*s', the tensors are of model '%s'",
			     where(rec, wb, sizeof wb), (int)mm->via.str.size, mm->via.str.ptr, m.id);
		for (int k = 0; result_keys[k]; k++) {
			double v;
			if (qp_map_get(&rec->map, result_keys[k]) && num_field(&rec->map, result_keys[k], &v))
				x->has_result = true;
		}
		double v;
		if (!num_field(&rec->map, target, &v))
			continue;
		x->has_target = true;
		if (x->cfg.n_named == 0) {
			rc = qp_fail(e, "%s: a measured run without types: proxy-fit cannot tell "
				     "which configuration it measured", where(rec, wb, sizeof wb));
			goto out;
		}
		if (isnan(v)) {
			warn(r, "%s: %s is NaN: run left out of the fit", where(rec, wb, sizeof wb), target);
			continue;
		}
		if (!strcmp(target, "kld_mean") && v < 0) {
			warn(r, "%s: kld_mean %g is negative (a KL divergence cannot be): run left "
			     "out of the fit", where(rec, wb, sizeof wb), v);
			continue;
		}
		if (!isfinite(v)) {
			warn(r, "%s: %s is infinite: run left out of the fit", where(rec, wb, sizeof wb), target);
			continue;
		}
		x->y = v < 0 ? 0 : v; /* ln ratio below 0 is noise around no loss */
		x->used = true;
	}
	/* Duplicates: the same configuration measured twice is one run with
	 * the mean of its measurements (two copies would let leave-one-out
	 * see the held-out run). */
	for (int i = 0; i < n_items; i++) {
		if (!it[i].used)
			continue;
		int cnt = 1;
		double s = it[i].y;
		for (int j = i + 1; j < n_items; j++)
			if (it[j].used && qp_proxy_config_same(&it[i].cfg, &it[j].cfg)) {
				it[j].used = false;
				it[j].dup_of = i;
				s += it[j].y;
				cnt++;
				warn(r, "%s measures the same configuration as %s: averaged",
				     where(&b->items[it[j].at].k.rec, wb, sizeof wb),
				     where(&b->items[it[i].at].k.rec, (char[96]){0}, 96));
			}
		if (cnt > 1) {
			it[i].y = s / cnt;
			if (n_notes < QP_FIT_MAX_NOTES)
				snprintf(notes[n_notes++], sizeof notes[0],
					 "%d measurements of one configuration were averaged", cnt);
		}
	}
	int n_runs = 0;
	for (int i = 0; i < n_items; i++)
		if (it[i].used) {
			runs[n_runs++] = (qp_fit_run){it[i].y, qp_proxy_model_view(&m, &it[i].cfg),
						      m.n_tensors, it[i].cfg.types};
			if (it[i].cfg.imatrix && !m.imat) {
				warn(r, "%s was quantized with an imatrix, but no --imatrix-qerr was "
				     "given: its errors come from the main stream's qerr",
				     where(&b->items[it[i].at].k.rec, wb, sizeof wb));
			}
		}
	qp_fit_opts fo = {target, o->level, 0, o->metric, o->form};
	cv_fig cv = {0};
	bool fitted = false;
	if (r->given) {
		if (strcmp(qp_proxy_target(r->given), target)) {
			rc = qp_fail(e, "the --fit record predicts %s, but the target is %s",
				     qp_proxy_target(r->given), target);
			goto out;
		}
		char buf[96];
		snprintf(buf, sizeof buf, "%s", target);
		/* A private copy keeps ownership simple: rebuild from packing. */
		msgpack_sbuffer sb;
		msgpack_sbuffer_init(&sb);
		msgpack_packer pk;
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, QP_PROXY_PACKED_FIELDS);
		qp_proxy_pack_fields(r->given, &pk);
		msgpack_unpacked u;
		msgpack_unpacked_init(&u);
		size_t off = 0;
		msgpack_unpack_next(&u, sb.data, sb.size, &off);
		rc = qp_proxy_from_fit(&u.data, &p, e);
		msgpack_unpacked_destroy(&u);
		msgpack_sbuffer_destroy(&sb);
		if (rc < 0)
			goto out;
		snprintf(notes[n_notes++], sizeof notes[0], "--fit: predictions from a given fit record; the runs were not used to fit");
	} else if (o->prior || n_runs < 2) {
		if (qp_proxy_prior(target, &p, e) < 0) {
			rc = -1;
			goto out;
		}
		if (o->prior)
			snprintf(notes[n_notes++], sizeof notes[0], "--prior: the runs were not used to fit");
		else if (n_runs == 1) {
			warn(r, "one measured run is too few to fit: the uncalibrated prior predicts");
			snprintf(notes[n_notes++], sizeof notes[0],
				 "one measured run is too few to fit: uncalibrated prior");
		} else {
			bool any = false;
			for (int i = 0; i < n_items; i++)
				any |= it[i].is_measure && it[i].has_target;
			if (any)
				warn(r, "no usable measured run: the uncalibrated prior predicts");
			snprintf(notes[n_notes++], sizeof notes[0],
				 "no measured runs: uncalibrated prior");
		}
	} else {
		if (qp_fit_proxy(runs, n_runs, &fo, &p, &rep, e) < 0) {
			rc = -1;
			goto out;
		}
		fitted = true;
		for (int i = 0; i < rep.n_notes && n_notes < QP_FIT_MAX_NOTES + 8; i++)
			snprintf(notes[n_notes++], sizeof notes[0], "%s", rep.notes[i]);
		if (n_runs < 10 && n_notes < QP_FIT_MAX_NOTES + 8)
			snprintf(notes[n_notes++], sizeof notes[0],
				 "%d runs: the interval rests on few held-out residuals", n_runs);
	}
	if (o->cv && n_runs >= 2 * o->cv && fitted) {
		if (do_cv(runs, n_runs, &fo, o->cv, &cv, e) < 0) {
			rc = -1;
			goto out;
		}
	} else if (o->cv && n_notes < QP_FIT_MAX_NOTES + 8) {
		snprintf(notes[n_notes++], sizeof notes[0],
			 "--cv %d needs at least %d runs: no cross-validation", o->cv, 2 * o->cv);
	}
	eval ev = {0};
	if (evaluate(p, &m, it, n_items, o->level, &ev, e) < 0) {
		rc = -1;
		goto out;
	}
	/* Write: tensors and other records in place, the fit record right
	 * after the last tensor, pred on measures and recipes. */
	int next_item = 0, tensor_k = 0;
	for (size_t i = 0; i < b->n_items && rc == 0; i++) {
		const qp_record *rec = &b->items[i].k.rec;
		if (next_item < n_items && it[next_item].at == i) {
			item *x = &it[next_item++];
			double s;
			if (qp_proxy_sum(p, qp_proxy_model_view(&m, &x->cfg), m.n_tensors,
					 x->cfg.types, &s, e) < 0) {
				qp_fail_prefix(e, "%s", where(rec, wb, sizeof wb));
				rc = -1;
				break;
			}
			qp_pred q;
			qp_proxy_predict_at(p, s, o->level, &q);
			static const char *const own[] = {"pred", "resid"};
			bool resid = x->is_measure && x->has_target && (x->used || x->dup_of >= 0);
			qp_writer_enrich_keys(w, rec, own, 2, resid ? 2 : 1);
			msgpack_packer *pk = qp_writer_packer(w);
			qp_pack_str(pk, "pred");
			pack_pred(pk, &q, target, &x->bl);
			if (resid) {
				double y = 0;
				num_field(&rec->map, target, &y);
				qp_pack_key_double(pk, "resid", y - q.value);
			}
			rc = qp_writer_end(w, e);
		} else if (qp_rec_is(rec, "fit")) {
			continue; /* ours from an earlier run: replaced */
		} else if (b->items[i].is_tensor) {
			rc = write_tensor(&m, p, b, i, tensor_k++, w, e);
		} else {
			rc = qp_model_batch_pass(b, i, w, e);
		}
		if (rc == 0 && i == b->last_tensor) {
			pack_fit_record(qp_writer_packer(w), m.id, p, fitted ? &rep : NULL,
					&ev, &cv, notes, n_notes, it, n_items);
			rc = qp_writer_end(w, e);
			if (rc == 0 && o->propose)
				rc = write_proposals(&m, p, it, n_items, o->propose, o->level, target, w, e);
		}
	}
out:
	for (int i = 0; i < n_items; i++)
		qp_proxy_config_free(&it[i].cfg);
	free(it);
	free(runs);
	qp_proxy_free(p);
	qp_fit_report_free(&rep);
	qp_proxy_model_free(&m);
	return rc;
}

typedef struct imat_list {
	run_ctx *r;
	size_t cap;
} imat_list;

static int keep_imat(void *ctx, const qp_record *rec, qp_err *e)
{
	imat_list *l = ctx;
	run_ctx *r = l->r;
	if (!qp_rec_is(rec, "tensor"))
		return 0;
	if (r->n_imat == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		qp_kept_record *nk = realloc(r->imat, cap * sizeof *nk);
		if (!nk)
			return qp_fail(e, "out of memory");
		r->imat = nk;
		l->cap = cap;
	}
	if (qp_record_keep(rec, &r->imat[r->n_imat], e) < 0)
		return -1;
	r->n_imat++;
	return 0;
}

static int load_imat(run_ctx *r, const char *path)
{
	qp_err e;
	imat_list l = {r, 0};
	if (qp_records_each(path, keep_imat, &l, &e) < 0) {
		qp_report("proxy-fit", path, e.msg);
		return 1;
	}
	if (r->n_imat == 0) {
		qp_report("proxy-fit", path, "no tensor records (want qerr-measure --imatrix output)");
		return 1;
	}
	return 0;
}

static int take_fit(void *ctx, const qp_record *rec, qp_err *e)
{
	run_ctx *r = ctx;
	if (!qp_rec_is(rec, "fit"))
		return 0;
	if (qp_proxy_from_fit(&rec->map, &r->given, e) < 0) {
		char wb[96];
		qp_fail_prefix(e, "%s", where(rec, wb, sizeof wb));
		return -1;
	}
	return 1;
}

static int load_fit(run_ctx *r, const char *path)
{
	qp_err e;
	if (qp_records_each(path, take_fit, r, &e) < 0) {
		qp_report("proxy-fit", path, e.msg);
		return 1;
	}
	if (!r->given) {
		qp_report("proxy-fit", path, "no fit record");
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	opts o = {.level = 0.95, .form = -1, .metric = -1};
	qp_tool tool = {"proxy-fit", usage, "", long_opts, on_option, &o, usage_end};
	qp_common c;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	run_ctx r = {.o = &o, .quiet = c.quiet};
	if (o.imat_file && load_imat(&r, o.imat_file) != 0)
		return 1;
	if (o.fit_file && load_fit(&r, o.fit_file) != 0)
		return 1;
	static const char *const drop[] = {NULL};
	qp_model_filter mf = {.prog = "proxy-fit", .on_model = on_model, .ctx = &r,
			      .drop_kinds = drop, .across_operands = true};
	st = qp_model_filter_pipe(&mf, &c, argc, argv);
	for (size_t i = 0; i < r.n_imat; i++)
		qp_kept_free(&r.imat[i]);
	free(r.imat);
	qp_proxy_free(r.given);
	return st;
}
