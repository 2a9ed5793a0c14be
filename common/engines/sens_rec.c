#include "sens_rec.h"

#include <math.h>

#include "rec.h"

static void pack_num(msgpack_packer *pk, double v)
{
	if (isnan(v))
		msgpack_pack_nil(pk);
	else
		msgpack_pack_double(pk, v);
}

static void key_num(msgpack_packer *pk, const char *key, double v)
{
	qp_pack_str(pk, key);
	pack_num(pk, v);
}

static void pack_nums(msgpack_packer *pk, const char *key, const double *v,
		      size_t n)
{
	qp_pack_str(pk, key);
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		pack_num(pk, v[i]);
}

void qp_sens_pack_stats(msgpack_packer *pk, const qp_wstats *w)
{
	bool experts = w->n_expert > 1;
	msgpack_pack_map(pk, 28 + (experts ? 1 : 0));
	qp_pack_key_int(pk, "n", w->n);
	qp_pack_key_int(pk, "n_nonfinite", w->n_nonfinite);
	key_num(pk, "mean", w->mean);
	key_num(pk, "std", w->std);
	key_num(pk, "min", w->min);
	key_num(pk, "max", w->max);
	key_num(pk, "absmax", w->absmax);
	key_num(pk, "rms", w->rms);
	key_num(pk, "kurtosis", w->kurtosis);
	key_num(pk, "skew", w->skew);
	key_num(pk, "crest", w->crest);
	key_num(pk, "out3", w->out3);
	key_num(pk, "out6", w->out6);
	key_num(pk, "zeros", w->zeros);
	key_num(pk, "row_cv", w->row_cv);
	key_num(pk, "row_max_median", w->row_max_median);
	key_num(pk, "col_cv", w->col_cv);
	key_num(pk, "col_max_median", w->col_max_median);
	key_num(pk, "clip999", w->clip999);
	key_num(pk, "clip9999", w->clip9999);
	pack_nums(pk, "sqnr_tensor", w->sqnr_tensor, QP_WSTATS_NBITS);
	pack_nums(pk, "sqnr_row", w->sqnr_row, QP_WSTATS_NBITS);
	pack_nums(pk, "sqnr_g32", w->sqnr_g32, QP_WSTATS_NBITS);
	pack_nums(pk, "sqnr_g128", w->sqnr_g128, QP_WSTATS_NBITS);
	qp_pack_key_int(pk, "sqnr_rows", w->sqnr_rows);
	qp_pack_key_int(pk, "n_top", w->n_top);
	key_num(pk, "top_threshold", w->top_threshold);
	key_num(pk, "top_share", w->top_share);
	if (experts) {
		qp_pack_str(pk, "experts");
		msgpack_pack_map(pk, 5);
		qp_pack_key_int(pk, "n", w->n_expert);
		key_num(pk, "cv", w->expert_cv);
		key_num(pk, "max_median", w->expert_max_median);
		key_num(pk, "max_min", w->expert_max_min);
		pack_nums(pk, "rms", w->expert_rms, (size_t)w->n_expert);
	}
}

void qp_sens_pack_sens(msgpack_packer *pk, const qp_sens_tensor *s,
		       bool with_act, bool with_svd)
{
	bool note = with_act && s->is_matrix && !s->has_act;
	msgpack_pack_map(pk, 10 + (with_svd ? 3 : 0) + (with_act ? 2 : 0) +
				     (note ? 1 : 0));
	key_num(pk, "score", s->score);
	key_num(pk, "nsds", s->nsds);
	key_num(pk, "nv", s->nv);
	key_num(pk, "nv_kurtosis", s->nv_kurtosis);
	qp_pack_key_int(pk, "nv_n", s->nv_n);
	key_num(pk, "se", with_svd ? s->se : NAN);
	if (with_svd) {
		key_num(pk, "se_raw", s->se_raw);
		pack_nums(pk, "sv", s->sv, s->sv ? (size_t)s->n_sv : 0);
		qp_pack_key_int(pk, "sv_n", s->sv ? s->n_sv : 0);
	}
	if (with_act) {
		key_num(pk, "act", s->act);
		key_num(pk, "act_energy", s->act_energy);
	}
	key_num(pk, "w_role", s->w_role);
	key_num(pk, "w_depth", s->w_depth);
	key_num(pk, "w_size", s->w_size);
	qp_pack_key_str(pk, "family", qp_family_name(s->family));
	if (note)
		qp_pack_key_str(pk, "note",
				"no imatrix entry: scored without activations");
}

void qp_sens_pack_imat(msgpack_packer *pk, const qp_imatrix_entry *ent,
		       const qp_imatrix_stats *st)
{
	bool moe = ent->n_expert > 1;
	msgpack_pack_map(pk, 12 + (moe ? 2 : 0));
	key_num(pk, "sum_sq", st->sum_sq);
	key_num(pk, "min", st->min);
	key_num(pk, "max", st->max);
	key_num(pk, "mean", st->mean);
	key_num(pk, "std", st->std);
	key_num(pk, "active", st->active);
	qp_pack_key_int(pk, "n", st->n);
	key_num(pk, "entropy", st->entropy);
	key_num(pk, "entropy_norm", st->entropy_norm);
	key_num(pk, "zd", st->zd);
	key_num(pk, "cossim", st->has_prev ? st->cossim : NAN);
	if (!moe) {
		key_num(pk, "tokens", ent->counts[0]);
		return;
	}
	pack_nums(pk, "tokens", ent->counts, (size_t)ent->n_expert);
	qp_pack_key_int(pk, "n_expert", ent->n_expert);
	qp_pack_str(pk, "idle_experts");
	msgpack_pack_array(pk, (size_t)ent->n_idle_experts);
	for (int64_t x = 0; x < ent->n_expert; x++)
		if (!(ent->counts[x] > 0))
			msgpack_pack_int64(pk, x);
}
