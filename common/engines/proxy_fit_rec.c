/* proxy_fit_rec.c — see proxy_fit_rec.h. */
#include "proxy_fit_rec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "rec.h"
#include "recipe.h"
#include "types.h"

/* Figures of the fit record: a value that is not finite (no runs, a
 * degenerate rank correlation) is nil. */
static void pack_finite(msgpack_packer *pk, const char *key, double v)
{
	qp_pack_str(pk, key);
	if (isfinite(v))
		msgpack_pack_double(pk, v);
	else
		msgpack_pack_nil(pk);
}

void qp_fit_pack_pred(msgpack_packer *pk, const qp_pred *p, const char *target,
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

/* One baseline's figures over the runs in the fit: x (the baseline's
 * number) and y (the run's target) for the n runs where it is defined;
 * for quantbenchx (which 1) the mean absolute error of its delta-PPL
 * against the measured one, NaN without PPL. */
static void baseline_figures(const qp_fit_item *it, int n_items, int which,
			     double *x, double *y, int *n_out, double *mae_dppl)
{
	int n = 0, nd = 0;
	double mae = 0;
	for (int i = 0; i < n_items; i++) {
		const qp_baselines *b = &it[i].bl;
		bool has = which == 0 ? b->has_ramp : which == 1 ? b->has_bpw : b->has_taf;
		if (!it[i].used || !has)
			continue;
		x[n] = which == 0 ? b->ramp_local : which == 1 ? b->quantbenchx_dppl : b->taf_rank;
		y[n++] = it[i].y;
		if (which == 1 && isfinite(it[i].dppl)) {
			mae += fabs(b->quantbenchx_dppl - it[i].dppl);
			nd++;
		}
	}
	*n_out = n;
	*mae_dppl = nd ? mae / nd : NAN;
}

/* How each baseline ranks the measured runs (and quantbenchx's delta-PPL
 * against the measured one where the runs give PPL). */
static void pack_baseline_eval(msgpack_packer *pk, const qp_fit_item *it, int n_items)
{
	static const char *const names[] = {"ramp_local", "quantbenchx_bpw", "taf_band"};
	double *x = malloc((size_t)(n_items ? n_items : 1) * sizeof *x);
	double *y = malloc((size_t)(n_items ? n_items : 1) * sizeof *y);
	qp_pack_str(pk, "baselines");
	if (!x || !y)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_map(pk, 3);
	for (int which = 0; x && y && which < 3; which++) {
		int n;
		double mae_dppl;
		baseline_figures(it, n_items, which, x, y, &n, &mae_dppl);
		qp_pack_str(pk, names[which]);
		msgpack_pack_map(pk, which == 1 ? 3 : 2);
		qp_pack_key_int(pk, "n", n);
		pack_finite(pk, "spearman", qp_spearman(x, y, n));
		if (which == 1)
			pack_finite(pk, "mae_dppl", mae_dppl);
	}
	free(x);
	free(y);
}

static void pack_cv(msgpack_packer *pk, const qp_fit_cv *cv)
{
	qp_pack_str(pk, "cv");
	msgpack_pack_map(pk, 5);
	qp_pack_key_int(pk, "k", cv->k);
	pack_finite(pk, "spearman", cv->spearman);
	pack_finite(pk, "mae", cv->mae);
	pack_finite(pk, "mae_range", cv->mae_frac);
	pack_finite(pk, "coverage", cv->coverage);
}

/* The candidates the fit compared, those it did not skip. */
static void pack_candidates(msgpack_packer *pk, const qp_fit_report *rep)
{
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
		pack_finite(pk, "loo_rms_log", c->loo_rms_log);
		pack_finite(pk, "loo_spearman", c->loo_spearman);
	}
}

void qp_fit_pack_record(msgpack_packer *pk, const char *model,
			const qp_proxy *p, const qp_fit_report *rep,
			const qp_fit_eval *ev, const qp_fit_cv *cv,
			const qp_fit_notes *notes, const qp_fit_item *it,
			int n_items)
{
	/* the proxy's fields are packed as pairs into this map, so it is
	 * sized here: kind, model, the proxy's, 11 of ours, cv */
	uint32_t n = 2 + QP_PROXY_PACKED_FIELDS + 11 + (cv->done ? 1 : 0);
	msgpack_pack_map(pk, n);
	qp_pack_key_str(pk, "kind", "fit");
	qp_pack_key_str(pk, "model", model);
	qp_proxy_pack_fields(p, pk);
	qp_pack_key_int(pk, "n", ev->n);
	qp_pack_key_int(pk, "n_params", rep ? rep->n_params : 0);
	pack_finite(pk, "r2", ev->r2);
	pack_finite(pk, "spearman", ev->spearman);
	pack_finite(pk, "kendall", ev->kendall);
	pack_finite(pk, "mae", ev->mae);
	pack_finite(pk, "loo_mae", rep ? rep->loo_mae : NAN);
	pack_finite(pk, "loo_spearman", rep ? rep->loo_spearman : NAN);
	if (cv->done)
		pack_cv(pk, cv);
	pack_candidates(pk, rep);
	pack_baseline_eval(pk, it, n_items);
	qp_pack_str(pk, "notes");
	msgpack_pack_array(pk, (size_t)notes->n);
	for (int i = 0; i < notes->n; i++)
		qp_pack_str(pk, notes->v[i]);
}

/* terms[k]: the proxy term of the type of qerr entry k, NaN where the
 * proxy has none; returns how many it has. */
static uint32_t tensor_terms(const qp_proxy *p, const qp_proxy_tensor *t,
			     double *terms)
{
	const msgpack_object_map *q = &t->qerr->via.map;
	uint32_t n_ok = 0;
	for (uint32_t k = 0; k < q->size; k++) {
		char ty[48];
		const msgpack_object *key = &q->ptr[k].key;
		terms[k] = NAN;
		if (key->type != MSGPACK_OBJECT_STR || key->via.str.size >= sizeof ty)
			continue;
		memcpy(ty, key->via.str.ptr, key->via.str.size);
		ty[key->via.str.size] = 0;
		double v;
		if (qp_proxy_term(p, t, ty, &v, NULL) == 0) {
			terms[k] = v;
			n_ok++;
		}
	}
	return n_ok;
}

int qp_fit_write_tensor(const qp_proxy_model *m, const qp_proxy *p,
			const qp_model_batch *b, size_t i, int at, qp_writer *w,
			qp_err *e)
{
	const qp_proxy_tensor *t = at >= 0 && at < m->n_tensors && m->item_of[at] == i ?
				   &m->plain[at] : NULL;
	if (!t || !t->qerr)
		return qp_model_batch_pass(b, i, w, e);
	const msgpack_object_map *q = &t->qerr->via.map;
	double *terms = malloc((q->size ? q->size : 1) * sizeof *terms);
	if (!terms)
		return qp_fail(e, "out of memory");
	uint32_t n_ok = tensor_terms(p, t, terms);
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

/* The bytes of tensor t at type ty: its qerr entry's n_bytes, else the
 * tensor's own. */
static uint64_t bytes_at(const qp_proxy_tensor *t, const char *ty)
{
	uint64_t nb = t->n_bytes;
	if (!ty || !t->qerr)
		return nb;
	const msgpack_object_map *q = &t->qerr->via.map;
	for (uint32_t k = 0; k < q->size; k++)
		if (qp_obj_str_eq(&q->ptr[k].key, ty)) {
			const msgpack_object *o = qp_map_get(&q->ptr[k].val, "n_bytes");
			if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				nb = o->via.u64;
		}
	return nb;
}

/* Every tensor's type into r, and r's n_bytes and bpw. */
static int proposal_types(const qp_proxy_tensor *view, int n_tensors,
			  const qp_proxy_config *cfg, qp_recipe *r, qp_err *e)
{
	uint64_t bytes = 0, elems = 0;
	for (int i = 0; i < n_tensors; i++) {
		const qp_proxy_tensor *t = &view[i];
		const char *ty = cfg->types[i] ? cfg->types[i] : t->base_type;
		const qp_type_info *ti = qp_type_info_by_name(ty);
		if (!ti)
			return qp_fail(e, "tensor %s: unknown type %s", t->name, ty);
		if (qp_recipe_add(r, t->name, ti->id, e))
			return -1;
		elems += t->n_elem;
		bytes += bytes_at(t, cfg->types[i]);
	}
	r->n_bytes = bytes;
	r->bpw = elems ? 8.0 * (double)bytes / (double)elems : 0;
	return 0;
}

/* The proposal's pred, model, source and ftype. */
static int proposal_pred(const qp_proxy_model *m, const qp_proxy *p,
			 const qp_proposal *q, const qp_proxy_tensor *view,
			 double level, const char *target, qp_recipe *r,
			 qp_err *e)
{
	double s = 0;
	if (qp_proxy_sum(p, view, m->n_tensors, q->cfg.types, &s, e))
		return -1;
	qp_pred pr;
	qp_proxy_predict_at(p, s, level, &pr);
	qp_baselines bl;
	qp_baselines_compute(view, m->n_tensors, q->cfg.types, &bl);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	qp_fit_pack_pred(&pk, &pr, target, &bl);
	r->has_pure = true;
	r->pure = true;
	int rc = 0;
	if (qp_recipe_set_model(r, m->id, e) < 0 || qp_recipe_set_source(r, "propose", e) < 0 ||
	    qp_recipe_set_ftype(r, q->ftype, e) < 0 ||
	    qp_recipe_set_pred(r, (const uint8_t *)sb.data, sb.size, e) < 0)
		rc = -1;
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* The recipe record, then the proposal's label and quantize_args: the
 * recipe is packed, read back, and copied with the two extra fields. */
static int write_labelled(const qp_recipe *r, const qp_proposal *q,
			  qp_writer *w, qp_err *e)
{
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int rc = qp_recipe_pack(r, &pk, e);
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
	return rc;
}

int qp_fit_write_proposal(const qp_proxy_model *m, const qp_proxy *p,
			  const qp_proposal *q, double level, const char *target,
			  qp_writer *w, qp_err *e)
{
	qp_recipe r;
	qp_recipe_init(&r);
	const qp_proxy_tensor *view = qp_proxy_model_view(m, &q->cfg);
	int rc = proposal_types(view, m->n_tensors, &q->cfg, &r, e);
	if (rc == 0)
		rc = proposal_pred(m, p, q, view, level, target, &r, e);
	if (rc == 0)
		rc = write_labelled(&r, q, w, e);
	qp_recipe_free(&r);
	return rc;
}

int qp_fit_proxy_copy(const qp_proxy *p, qp_proxy **out, qp_err *e)
{
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, QP_PROXY_PACKED_FIELDS);
	qp_proxy_pack_fields(p, &pk);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	int rc = msgpack_unpack_next(&u, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS
		 ? qp_fail(e, "internal: cannot decode the proxy just packed")
		 : qp_proxy_from_fit(&u.data, out, e);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}
