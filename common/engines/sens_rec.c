#include "sens_rec.h"

#include <math.h>
#include <stdlib.h>
#include <stdbool.h>

#include "rec.h"

/* An array of figures, each nil when it does not exist. */
static void nums(msgpack_packer *pk, const double *v, size_t n)
{
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		qp_pack_num(pk, v[i]);
}

void qp_sens_pack_stats(msgpack_packer *pk, const qp_wstats *w)
{
	qp_mapw m;
	qp_mapw_begin(&m, pk);
	msgpack_pack_int64(qp_mapw_key(&m, "n"), w->n);
	msgpack_pack_int64(qp_mapw_key(&m, "n_nonfinite"), w->n_nonfinite);
	qp_pack_num(qp_mapw_key(&m, "mean"), w->mean);
	qp_pack_num(qp_mapw_key(&m, "std"), w->std);
	qp_pack_num(qp_mapw_key(&m, "min"), w->min);
	qp_pack_num(qp_mapw_key(&m, "max"), w->max);
	qp_pack_num(qp_mapw_key(&m, "absmax"), w->absmax);
	qp_pack_num(qp_mapw_key(&m, "rms"), w->rms);
	qp_pack_num(qp_mapw_key(&m, "kurtosis"), w->kurtosis);
	qp_pack_num(qp_mapw_key(&m, "skew"), w->skew);
	qp_pack_num(qp_mapw_key(&m, "crest"), w->crest);
	qp_pack_num(qp_mapw_key(&m, "out3"), w->out3);
	qp_pack_num(qp_mapw_key(&m, "out6"), w->out6);
	qp_pack_num(qp_mapw_key(&m, "zeros"), w->zeros);
	qp_pack_num(qp_mapw_key(&m, "row_cv"), w->row_cv);
	qp_pack_num(qp_mapw_key(&m, "row_max_median"), w->row_max_median);
	qp_pack_num(qp_mapw_key(&m, "col_cv"), w->col_cv);
	qp_pack_num(qp_mapw_key(&m, "col_max_median"), w->col_max_median);
	qp_pack_num(qp_mapw_key(&m, "clip999"), w->clip999);
	qp_pack_num(qp_mapw_key(&m, "clip9999"), w->clip9999);
	nums(qp_mapw_key(&m, "sqnr_tensor"), w->sqnr_tensor, QP_WSTATS_NBITS);
	nums(qp_mapw_key(&m, "sqnr_row"), w->sqnr_row, QP_WSTATS_NBITS);
	nums(qp_mapw_key(&m, "sqnr_g32"), w->sqnr_g32, QP_WSTATS_NBITS);
	nums(qp_mapw_key(&m, "sqnr_g128"), w->sqnr_g128, QP_WSTATS_NBITS);
	msgpack_pack_int64(qp_mapw_key(&m, "sqnr_rows"), w->sqnr_rows);
	msgpack_pack_int64(qp_mapw_key(&m, "n_top"), w->n_top);
	qp_pack_num(qp_mapw_key(&m, "top_threshold"), w->top_threshold);
	qp_pack_num(qp_mapw_key(&m, "top_share"), w->top_share);
	if (w->n_expert > 1) {
		qp_mapw x;
		qp_mapw_begin(&x, qp_mapw_key(&m, "experts"));
		msgpack_pack_int64(qp_mapw_key(&x, "n"), w->n_expert);
		qp_pack_num(qp_mapw_key(&x, "cv"), w->expert_cv);
		qp_pack_num(qp_mapw_key(&x, "max_median"), w->expert_max_median);
		qp_pack_num(qp_mapw_key(&x, "max_min"), w->expert_max_min);
		nums(qp_mapw_key(&x, "rms"), w->expert_rms, (size_t)w->n_expert);
		qp_mapw_end(&x);
	}
	qp_mapw_end(&m);
}

void qp_sens_pack_sens(msgpack_packer *pk, const qp_sens_tensor *s,
		       bool with_act, bool with_svd)
{
	qp_mapw m;
	qp_mapw_begin(&m, pk);
	qp_pack_num(qp_mapw_key(&m, "score"), s->score);
	qp_pack_num(qp_mapw_key(&m, "nsds"), s->nsds);
	qp_pack_num(qp_mapw_key(&m, "nv"), s->nv);
	qp_pack_num(qp_mapw_key(&m, "nv_kurtosis"), s->nv_kurtosis);
	msgpack_pack_int64(qp_mapw_key(&m, "nv_n"), s->nv_n);
	qp_pack_num(qp_mapw_key(&m, "se"), with_svd ? s->se : NAN);
	if (with_svd) {
		qp_pack_num(qp_mapw_key(&m, "se_raw"), s->se_raw);
		nums(qp_mapw_key(&m, "sv"), s->sv, s->sv ? (size_t)s->n_sv : 0);
		msgpack_pack_int64(qp_mapw_key(&m, "sv_n"), s->sv ? s->n_sv : 0);
	}
	if (with_act) {
		qp_pack_num(qp_mapw_key(&m, "act"), s->act);
		qp_pack_num(qp_mapw_key(&m, "act_energy"), s->act_energy);
	}
	qp_pack_num(qp_mapw_key(&m, "w_role"), s->w_role);
	qp_pack_num(qp_mapw_key(&m, "w_depth"), s->w_depth);
	qp_pack_num(qp_mapw_key(&m, "w_size"), s->w_size);
	qp_pack_str(qp_mapw_key(&m, "family"), qp_family_name(s->family));
	if (with_act && s->is_matrix && !s->has_act)
		qp_pack_str(qp_mapw_key(&m, "note"),
			    "no imatrix entry: scored without activations");
	qp_mapw_end(&m);
}

void qp_sens_pack_imat(msgpack_packer *pk, const qp_imatrix_entry *ent,
		       const qp_imatrix_stats *st)
{
	qp_mapw m;
	qp_mapw_begin(&m, pk);
	qp_pack_num(qp_mapw_key(&m, "sum_sq"), st->sum_sq);
	qp_pack_num(qp_mapw_key(&m, "min"), st->min);
	qp_pack_num(qp_mapw_key(&m, "max"), st->max);
	qp_pack_num(qp_mapw_key(&m, "mean"), st->mean);
	qp_pack_num(qp_mapw_key(&m, "std"), st->std);
	qp_pack_num(qp_mapw_key(&m, "active"), st->active);
	msgpack_pack_int64(qp_mapw_key(&m, "n"), st->n);
	qp_pack_num(qp_mapw_key(&m, "entropy"), st->entropy);
	qp_pack_num(qp_mapw_key(&m, "entropy_norm"), st->entropy_norm);
	qp_pack_num(qp_mapw_key(&m, "zd"), st->zd);
	qp_pack_num(qp_mapw_key(&m, "cossim"), st->has_prev ? st->cossim : NAN);
	if (ent->n_expert == 1) {
		qp_pack_num(qp_mapw_key(&m, "tokens"), ent->counts[0]);
	} else {
		nums(qp_mapw_key(&m, "tokens"), ent->counts, (size_t)ent->n_expert);
		msgpack_pack_int64(qp_mapw_key(&m, "n_expert"), ent->n_expert);
		msgpack_packer *idle = qp_mapw_key(&m, "idle_experts");
		msgpack_pack_array(idle, (size_t)ent->n_idle_experts);
		for (int64_t x = 0; x < ent->n_expert; x++)
			if (!(ent->counts[x] > 0))
				msgpack_pack_int64(idle, x);
	}
	qp_mapw_end(&m);
}

void qp_sens_pack_partial(msgpack_packer *pk, const qp_sens_tensor *s,
			  const qp_sens_run_opts *o)
{
	qp_mapw m;
	qp_mapw_begin(&m, pk);
	qp_pack_bool(qp_mapw_key(&m, "partial"), true);
	qp_pack_bool(qp_mapw_key(&m, "matrix"), s->is_matrix);
	qp_pack_num(qp_mapw_key(&m, "nv_kurtosis"), s->nv_kurtosis);
	msgpack_pack_int64(qp_mapw_key(&m, "nv_n"), s->nv_n);
	qp_pack_num(qp_mapw_key(&m, "se_raw"), s->se_raw);
	nums(qp_mapw_key(&m, "sv"), s->sv, s->sv ? (size_t)s->n_sv : 0);
	qp_pack_bool(qp_mapw_key(&m, "has_act"), s->has_act);
	qp_pack_num(qp_mapw_key(&m, "act_energy"), s->act_energy);
	qp_pack_bool(qp_mapw_key(&m, "svd"), o->with_svd);
	qp_pack_bool(qp_mapw_key(&m, "imatrix"), o->with_act);
	qp_pack_num(qp_mapw_key(&m, "mem_bw"), o->mem_bw > 0 ? o->mem_bw : NAN);
	qp_mapw_end(&m);
}

static int bad_field(qp_err *e, const char *key)
{
	return qp_fail(e, "partial sens: field \"%s\" is missing or of the "
		       "wrong type", key);
}

static int get_bool(const msgpack_object *m, const char *key, bool *out,
		    qp_err *e)
{
	const msgpack_object *o = qp_map_get(m, key);
	if (!o || o->type != MSGPACK_OBJECT_BOOLEAN)
		return bad_field(e, key);
	*out = o->via.boolean;
	return 0;
}

/* A number, or nil for NaN. */
static int get_num(const msgpack_object *m, const char *key, double *out,
		   qp_err *e)
{
	const msgpack_object *o = qp_map_get(m, key);
	if (o && o->type == MSGPACK_OBJECT_NIL) {
		*out = NAN;
		return 0;
	}
	return o && qp_obj_number(o, out) ? 0 : bad_field(e, key);
}

int qp_sens_read_partial(const msgpack_object *sens, qp_sens_tensor *s,
			 qp_sens_run_opts *o, qp_err *e)
{
	if (!sens || sens->type != MSGPACK_OBJECT_MAP)
		return 0;
	const msgpack_object *mark = qp_map_get(sens, "partial");
	if (!mark || mark->type != MSGPACK_OBJECT_BOOLEAN || !mark->via.boolean)
		return 0;
	double nv_n;
	if (get_bool(sens, "matrix", &s->is_matrix, e) < 0 ||
	    get_num(sens, "nv_kurtosis", &s->nv_kurtosis, e) < 0 ||
	    get_num(sens, "nv_n", &nv_n, e) < 0 ||
	    get_num(sens, "se_raw", &s->se_raw, e) < 0 ||
	    get_bool(sens, "has_act", &s->has_act, e) < 0 ||
	    get_num(sens, "act_energy", &s->act_energy, e) < 0 ||
	    get_bool(sens, "svd", &o->with_svd, e) < 0 ||
	    get_bool(sens, "imatrix", &o->with_act, e) < 0 ||
	    get_num(sens, "mem_bw", &o->mem_bw, e) < 0)
		return -1;
	if (!(nv_n >= 0 && nv_n <= 9e15))
		return bad_field(e, "nv_n");
	s->nv_n = (int64_t)nv_n;
	if (isnan(o->mem_bw))
		o->mem_bw = 0;
	const msgpack_object *sv = qp_map_get(sens, "sv");
	if (!sv || sv->type != MSGPACK_OBJECT_ARRAY || sv->via.array.size > 1024)
		return bad_field(e, "sv");
	s->n_sv = (int)sv->via.array.size;
	s->sv = NULL;
	if (o->with_svd && s->is_matrix) {
		s->sv = malloc((s->n_sv ? (size_t)s->n_sv : 1) * sizeof *s->sv);
		if (!s->sv)
			return qp_fail(e, "out of memory");
		for (int i = 0; i < s->n_sv; i++)
			if (!qp_obj_number(&sv->via.array.ptr[i], &s->sv[i]))
				return bad_field(e, "sv");
	}
	return 1;
}
