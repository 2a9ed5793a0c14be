/* proxy_fit_run.c — see proxy_fit_run.h. */
#include "proxy_fit_run.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines.h"
#include "buf.h"
#include "filter.h"
#include "fit.h"
#include "propose.h"
#include "proxy_batch.h"
#include "proxy_fit.h"
#include "proxy_fit_rec.h"
#include "rec.h"

/* ---- the job's inputs besides the stream ------------------------------- */

typedef struct imat_list {
	qp_fit_job *j;
	size_t cap;
} imat_list;

static int keep_imat(void *ctx, const qp_record *rec, qp_err *e)
{
	imat_list *l = ctx;
	qp_fit_job *j = l->j;
	if (!qp_rec_is(rec, "tensor"))
		return 0;
	if (j->n_imat == l->cap) {
		qp_kept_record *nk = qp_grow(j->imat, &l->cap, sizeof *nk, 64);
		if (!nk)
			return qp_fail(e, "out of memory");
		j->imat = nk;
	}
	if (qp_record_keep(rec, &j->imat[j->n_imat], e) < 0)
		return -1;
	j->n_imat++;
	return 0;
}

int qp_fit_job_load_imatrix(qp_fit_job *j, const char *path, qp_err *e)
{
	imat_list l = {j, 0};
	if (qp_records_each(path, keep_imat, &l, e) < 0)
		return -1;
	if (j->n_imat == 0)
		return qp_fail(e, "no tensor records (want qerr-measure --imatrix output)");
	return 0;
}

static const char *where(const qp_record *rec, char *buf, size_t n)
{
	snprintf(buf, n, "record %llu (byte offset %llu)",
		 (unsigned long long)rec->index, (unsigned long long)rec->offset);
	return buf;
}

static int take_fit(void *ctx, const qp_record *rec, qp_err *e)
{
	qp_fit_job *j = ctx;
	if (!qp_rec_is(rec, "fit"))
		return 0;
	if (qp_proxy_from_fit(&rec->map, &j->given, e) < 0) {
		char wb[96];
		return qp_fail_prefix(e, "%s", where(rec, wb, sizeof wb));
	}
	return 1;
}

int qp_fit_job_load_fit(qp_fit_job *j, const char *path, qp_err *e)
{
	if (qp_records_each(path, take_fit, j, e) < 0)
		return -1;
	return j->given ? 0 : qp_fail(e, "no fit record");
}

void qp_fit_job_free(qp_fit_job *j)
{
	for (size_t i = 0; i < j->n_imat; i++)
		qp_kept_free(&j->imat[i]);
	free(j->imat);
	qp_proxy_free(j->given);
	j->imat = NULL;
	j->n_imat = 0;
	j->given = NULL;
}

/* ---- one model ----------------------------------------------------------- */

typedef struct model_run {
	const qp_fit_job *j;
	const qp_model_batch *b;
	qp_proxy_model m;
	qp_fit_item *it;        /* the measure and recipe items, stream order */
	int n_items;
	qp_fit_run *runs;       /* the runs the fit sees */
	int n_runs;
	const char *target;
	qp_proxy *p;            /* the proxy that predicts, owned */
	qp_fit_report rep;
	bool fitted;            /* p was fitted here (rep is its report) */
	qp_fit_cv cv;
	qp_fit_eval ev;
	qp_fit_notes notes;
} model_run;

/* Adds a note while there are fewer than limit. */
static void note(qp_fit_notes *n, int limit, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(qp_fit_notes *n, int limit, const char *fmt, ...)
{
	if (n->n >= limit || n->n >= QP_FIT_NOTES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(n->v[n->n++], sizeof n->v[0], fmt, ap);
	va_end(ap);
}

static bool num_field(const msgpack_object *map, const char *key, double *v)
{
	return qp_obj_number(qp_map_get(map, key), v);
}

static int view_init(model_run *r, qp_err *e)
{
	const qp_fit_job *j = r->j;
	const qp_record **imat = NULL;
	if (j->n_imat) {
		imat = malloc(j->n_imat * sizeof *imat);
		if (!imat)
			return qp_fail(e, "out of memory");
		for (size_t i = 0; i < j->n_imat; i++)
			imat[i] = &j->imat[i].rec;
	}
	int rc = qp_proxy_model_init(&r->m, r->b, imat, j->n_imat, e);
	free(imat);
	return rc;
}

/* The target: asked, or the given fit's, or kld_mean unless the runs
 * give only ln_ppl_ratio. */
static const char *choose_target(const qp_fit_job *j, const qp_model_batch *b)
{
	if (j->ask->target)
		return j->ask->target;
	if (j->given)
		return qp_proxy_target(j->given);
	bool kld = false, lnr = false;
	for (size_t i = 0; i < b->n_items; i++) {
		const qp_record *rec = &b->items[i].k.rec;
		double v;
		if (!qp_rec_is(rec, "measure"))
			continue;
		kld |= num_field(&rec->map, "kld_mean", &v);
		lnr |= num_field(&rec->map, "ln_ppl_ratio", &v);
	}
	return lnr && !kld ? "ln_ppl_ratio" : "kld_mean";
}

/* The measured PPL increase of a measure record, NaN if unknown. */
static double measured_dppl(const qp_record *rec)
{
	double ppl, base, lr;
	if (!num_field(&rec->map, "ppl", &ppl))
		return NAN;
	if (num_field(&rec->map, "base_ppl", &base))
		return ppl - base;
	if (num_field(&rec->map, "ln_ppl_ratio", &lr))
		return ppl - ppl / exp(lr);
	return NAN;
}

static const char *const result_keys[] = {
	"ppl", "ln_ppl_ratio", "kld_mean", "kld_median", "kld_p99", "kld_max",
	"top1", "dp_rms", NULL};

/* A measure's result: has_result, and the target value that makes it a
 * run (used) unless it cannot be one. */
static int measure_value(model_run *r, const qp_record *rec, qp_fit_item *x,
			 qp_err *e)
{
	char wb[96];
	const char *target = r->target;
	const msgpack_object *mm = qp_map_get(&rec->map, "model");
	if (mm && mm->type == MSGPACK_OBJECT_STR && !qp_obj_str_eq(mm, r->m.id))
		qp_warnf(&r->j->warn, "%s: measure of model '%.*s', the tensors are of model '%s'",
		     where(rec, wb, sizeof wb), (int)mm->via.str.size, mm->via.str.ptr, r->m.id);
	for (int k = 0; result_keys[k]; k++) {
		double v;
		if (qp_map_get(&rec->map, result_keys[k]) && num_field(&rec->map, result_keys[k], &v))
			x->has_result = true;
	}
	double v;
	if (!num_field(&rec->map, target, &v))
		return 0;
	x->has_target = true;
	if (x->cfg.n_named == 0)
		return qp_fail(e, "%s: a measured run without types: proxy-fit cannot tell "
			       "which configuration it measured", where(rec, wb, sizeof wb));
	if (isnan(v))
		qp_warnf(&r->j->warn, "%s: %s is NaN: run left out of the fit", where(rec, wb, sizeof wb), target);
	else if (!strcmp(target, "kld_mean") && v < 0)
		qp_warnf(&r->j->warn, "%s: kld_mean %g is negative (a KL divergence cannot be): run left "
		     "out of the fit", where(rec, wb, sizeof wb), v);
	else if (!isfinite(v))
		qp_warnf(&r->j->warn, "%s: %s is infinite: run left out of the fit", where(rec, wb, sizeof wb), target);
	else {
		x->y = v < 0 ? 0 : v; /* ln ratio below 0 is noise around no loss */
		x->used = true;
	}
	return 0;
}

/* Every measure and recipe record of the batch as an item. */
static int read_items(model_run *r, qp_err *e)
{
	const qp_model_batch *b = r->b;
	for (size_t i = 0; i < b->n_items; i++) {
		const qp_record *rec = &b->items[i].k.rec;
		bool is_m = qp_rec_is(rec, "measure");
		if (!is_m && !qp_rec_is(rec, "recipe"))
			continue;
		qp_fit_item *x = &r->it[r->n_items];
		*x = (qp_fit_item){.at = i, .is_measure = is_m, .dup_of = -1};
		if (qp_proxy_config_read(&r->m, &rec->map, &x->cfg, e) < 0) {
			char wb[96];
			return qp_fail_prefix(e, "%s", where(rec, wb, sizeof wb));
		}
		r->n_items++;
		qp_baselines_compute(qp_proxy_model_view(&r->m, &x->cfg), r->m.n_tensors,
				     x->cfg.types, &x->bl);
		x->dppl = is_m ? measured_dppl(rec) : NAN;
		if (is_m && measure_value(r, rec, x, e) < 0)
			return -1;
	}
	return 0;
}

/* Duplicates: the same configuration measured twice is one run with
 * the mean of its measurements (two copies would let leave-one-out
 * see the held-out run). */
static void merge_duplicates(model_run *r)
{
	qp_fit_item *it = r->it;
	const qp_model_batch *b = r->b;
	for (int i = 0; i < r->n_items; i++) {
		if (!it[i].used)
			continue;
		int cnt = 1;
		double s = it[i].y;
		for (int j = i + 1; j < r->n_items; j++) {
			if (!it[j].used || !qp_proxy_config_same(&it[i].cfg, &it[j].cfg))
				continue;
			it[j].used = false;
			it[j].dup_of = i;
			s += it[j].y;
			cnt++;
			char wj[96], wi[96];
			qp_warnf(&r->j->warn, "%s measures the same configuration as %s: averaged",
			     where(&b->items[it[j].at].k.rec, wj, sizeof wj),
			     where(&b->items[it[i].at].k.rec, wi, sizeof wi));
		}
		if (cnt > 1) {
			it[i].y = s / cnt;
			note(&r->notes, QP_FIT_MAX_NOTES,
			     "%d measurements of one configuration were averaged", cnt);
		}
	}
}

static void collect_runs(model_run *r)
{
	for (int i = 0; i < r->n_items; i++) {
		const qp_fit_item *x = &r->it[i];
		if (!x->used)
			continue;
		r->runs[r->n_runs++] = (qp_fit_run){x->y, qp_proxy_model_view(&r->m, &x->cfg),
						    r->m.n_tensors, x->cfg.types};
		if (x->cfg.imatrix && !r->m.imat) {
			char wb[96];
			qp_warnf(&r->j->warn, "%s was quantized with an imatrix, but no --imatrix-qerr was "
			     "given: its errors come from the main stream's qerr",
			     where(&r->b->items[x->at].k.rec, wb, sizeof wb));
		}
	}
}

static int use_given(model_run *r, qp_err *e)
{
	const qp_proxy *given = r->j->given;
	if (strcmp(qp_proxy_target(given), r->target))
		return qp_fail(e, "the --fit record predicts %s, but the target is %s",
			       qp_proxy_target(given), r->target);
	if (qp_fit_proxy_copy(given, &r->p, e) < 0)
		return -1;
	note(&r->notes, QP_FIT_NOTES, "--fit: predictions from a given fit record; "
	     "the runs were not used to fit");
	return 0;
}

static int use_prior(model_run *r, qp_err *e)
{
	if (qp_proxy_prior(r->target, &r->p, e) < 0)
		return -1;
	if (r->j->ask->prior) {
		note(&r->notes, QP_FIT_NOTES, "--prior: the runs were not used to fit");
	} else if (r->n_runs == 1) {
		qp_warnf(&r->j->warn, "one measured run is too few to fit: the uncalibrated prior predicts");
		note(&r->notes, QP_FIT_NOTES,
		     "one measured run is too few to fit: uncalibrated prior");
	} else {
		bool any = false;
		for (int i = 0; i < r->n_items; i++)
			any |= r->it[i].is_measure && r->it[i].has_target;
		if (any)
			qp_warnf(&r->j->warn, "no usable measured run: the uncalibrated prior predicts");
		note(&r->notes, QP_FIT_NOTES, "no measured runs: uncalibrated prior");
	}
	return 0;
}

static int use_fit(model_run *r, const qp_fit_opts *fo, qp_err *e)
{
	if (qp_fit_proxy(r->runs, r->n_runs, fo, &r->p, &r->rep, e) < 0)
		return -1;
	r->fitted = true;
	for (int i = 0; i < r->rep.n_notes; i++)
		note(&r->notes, QP_FIT_NOTES, "%s", r->rep.notes[i]);
	if (r->n_runs < 10)
		note(&r->notes, QP_FIT_NOTES,
		     "%d runs: the interval rests on few held-out residuals", r->n_runs);
	return 0;
}

/* Cross-validation figures of the whole fitting procedure (--cv K). */
static int cross_validate(model_run *r, const qp_fit_opts *fo, int k, qp_err *e)
{
	int n = r->n_runs;
	const qp_fit_run *runs = r->runs;
	double *pr = malloc((size_t)n * sizeof *pr), *lo = malloc((size_t)n * sizeof *lo);
	double *hi = malloc((size_t)n * sizeof *hi), *y = malloc((size_t)n * sizeof *y);
	int rc = !pr || !lo || !hi || !y ? qp_fail(e, "out of memory")
		 : qp_fit_crossval(runs, n, k, fo, pr, lo, hi, e);
	if (rc == 0) {
		double mae = 0, ymin = INFINITY, ymax = -INFINITY;
		int cov = 0;
		for (int i = 0; i < n; i++) {
			y[i] = runs[i].y;
			mae += fabs(pr[i] - y[i]);
			cov += y[i] >= lo[i] && y[i] <= hi[i];
			ymin = y[i] < ymin ? y[i] : ymin;
			ymax = y[i] > ymax ? y[i] : ymax;
		}
		r->cv = (qp_fit_cv){k, qp_spearman(pr, y, n), mae / n,
				    ymax > ymin ? mae / n / (ymax - ymin) : NAN,
				    (double)cov / n, true};
	}
	free(pr);
	free(lo);
	free(hi);
	free(y);
	return rc;
}

/* The proxy that predicts, and --cv's figures. */
static int choose_proxy(model_run *r, qp_err *e)
{
	const qp_fit_ask *a = r->j->ask;
	qp_fit_opts fo = {r->target, a->level, 0, a->metric, a->form};
	int rc;
	if (r->j->given)
		rc = use_given(r, e);
	else if (a->prior || r->n_runs < 2)
		rc = use_prior(r, e);
	else
		rc = use_fit(r, &fo, e);
	if (rc < 0)
		return -1;
	if (a->cv && r->n_runs >= 2 * a->cv && r->fitted)
		return cross_validate(r, &fo, a->cv, e);
	if (a->cv)
		note(&r->notes, QP_FIT_NOTES, "--cv %d needs at least %d runs: "
		     "no cross-validation", a->cv, 2 * a->cv);
	return 0;
}

static int predict(const model_run *r, const qp_fit_item *x, qp_pred *q,
		   qp_err *e)
{
	double s;
	if (qp_proxy_sum(r->p, qp_proxy_model_view(&r->m, &x->cfg), r->m.n_tensors,
			 x->cfg.types, &s, e) < 0)
		return -1;
	qp_proxy_predict_at(r->p, s, r->j->ask->level, q);
	return 0;
}

/* How the proxy does on the measured items (in-sample for a fit, honest
 * for the prior on runs it was not fitted on). */
static int evaluate(model_run *r, qp_err *e)
{
	int n_items = r->n_items;
	double *y = malloc((size_t)(n_items ? n_items : 1) * sizeof *y);
	double *pr = malloc((size_t)(n_items ? n_items : 1) * sizeof *pr);
	int n = 0, cov = 0, rc = !y || !pr ? qp_fail(e, "out of memory") : 0;
	for (int i = 0; rc == 0 && i < n_items; i++) {
		qp_pred q;
		if (!r->it[i].used)
			continue;
		if (predict(r, &r->it[i], &q, e) < 0) {
			rc = -1;
			break;
		}
		y[n] = r->it[i].y;
		pr[n] = q.value;
		cov += y[n] >= q.lo && y[n] <= q.hi;
		n++;
	}
	if (rc == 0) {
		double mae = 0;
		for (int i = 0; i < n; i++)
			mae += fabs(pr[i] - y[i]);
		r->ev = (qp_fit_eval){n, qp_r2(y, pr, n), qp_spearman(pr, y, n),
				      qp_kendall(pr, y, n), n ? mae / n : NAN,
				      n ? (double)cov / n : NAN};
	}
	free(y);
	free(pr);
	return rc;
}

/* A measure or recipe with pred, and resid on a run. */
static int write_item(const model_run *r, const qp_fit_item *x,
		      const qp_record *rec, qp_writer *w, qp_err *e)
{
	qp_pred q;
	if (predict(r, x, &q, e) < 0) {
		char wb[96];
		return qp_fail_prefix(e, "%s", where(rec, wb, sizeof wb));
	}
	static const char *const own[] = {"pred", "resid"};
	bool resid = x->is_measure && x->has_target && (x->used || x->dup_of >= 0);
	qp_writer_enrich_keys(w, rec, own, 2, resid ? 2 : 1);
	msgpack_packer *pk = qp_writer_packer(w);
	qp_pack_str(pk, "pred");
	qp_fit_pack_pred(pk, &q, r->target, &x->bl);
	if (resid) {
		double y = 0;
		num_field(&rec->map, r->target, &y);
		qp_pack_key_double(pk, "resid", y - q.value);
	}
	return qp_writer_end(w, e);
}

static int write_proposals(const model_run *r, qp_writer *w, qp_err *e)
{
	qp_proxy_config *meas = calloc((size_t)(r->n_items ? r->n_items : 1), sizeof *meas);
	if (!meas)
		return qp_fail(e, "out of memory");
	int n_meas = 0;
	for (int i = 0; i < r->n_items; i++)
		if (r->it[i].used)
			meas[n_meas++] = r->it[i].cfg; /* borrowed */
	qp_proposal *props = NULL;
	int n_props = 0;
	int rc = qp_propose(&r->m, r->p, meas, n_meas, r->j->ask->propose,
			    &props, &n_props, e);
	free(meas);
	for (int i = 0; i < n_props && rc == 0; i++)
		rc = qp_fit_write_proposal(&r->m, r->p, &props[i], r->j->ask->level,
					   r->target, w, e);
	qp_proposals_free(props, n_props);
	return rc;
}

/* The fit record (and the proposals) after the last tensor. */
static int write_fit(const model_run *r, qp_writer *w, qp_err *e)
{
	qp_fit_pack_record(qp_writer_packer(w), r->m.id, r->p,
			   r->fitted ? &r->rep : NULL, &r->ev, &r->cv,
			   &r->notes, r->it, r->n_items);
	int rc = qp_writer_end(w, e);
	if (rc == 0 && r->j->ask->propose)
		rc = write_proposals(r, w, e);
	return rc;
}

/* Tensors and other records in place, an earlier fit record replaced. */
static int write_batch(const model_run *r, qp_writer *w, qp_err *e)
{
	const qp_model_batch *b = r->b;
	int next_item = 0, tensor_k = 0, rc = 0;
	for (size_t i = 0; i < b->n_items && rc == 0; i++) {
		const qp_record *rec = &b->items[i].k.rec;
		if (next_item < r->n_items && r->it[next_item].at == i)
			rc = write_item(r, &r->it[next_item++], rec, w, e);
		else if (qp_rec_is(rec, "fit"))
			continue; /* ours from an earlier run: replaced */
		else if (b->items[i].is_tensor)
			rc = qp_fit_write_tensor(&r->m, r->p, b, i, tensor_k++, w, e);
		else
			rc = qp_model_batch_pass(b, i, w, e);
		if (rc == 0 && i == b->last_tensor)
			rc = write_fit(r, w, e);
	}
	return rc;
}

static void model_run_free(model_run *r)
{
	for (int i = 0; i < r->n_items; i++)
		qp_proxy_config_free(&r->it[i].cfg);
	free(r->it);
	free(r->runs);
	qp_proxy_free(r->p);
	qp_fit_report_free(&r->rep);
	qp_proxy_model_free(&r->m);
}

int qp_fit_job_model(void *ctx, const qp_model_batch *b, qp_writer *w,
		     qp_err *e)
{
	model_run r;
	memset(&r, 0, sizeof r);
	r.j = ctx;
	r.b = b;
	if (view_init(&r, e) < 0)
		return -1;
	r.it = calloc(b->n_items ? b->n_items : 1, sizeof *r.it);
	r.runs = calloc(b->n_items ? b->n_items : 1, sizeof *r.runs);
	int rc = !r.it || !r.runs ? qp_fail(e, "out of memory") : 0;
	r.target = choose_target(r.j, b);
	if (rc == 0)
		rc = read_items(&r, e);
	if (rc == 0) {
		merge_duplicates(&r);
		collect_runs(&r);
		rc = choose_proxy(&r, e);
	}
	if (rc == 0)
		rc = evaluate(&r, e);
	if (rc == 0)
		rc = write_batch(&r, w, e);
	model_run_free(&r);
	return rc;
}
