#include "qerr_rec.h"

#include "rec.h"
#include "types.h"

static void pack_interval(msgpack_packer *pk, qp_interval v)
{
	msgpack_pack_array(pk, 2);
	msgpack_pack_double(pk, v.lo);
	msgpack_pack_double(pk, v.hi);
}

static void pack_result(msgpack_packer *pk, const qp_qerr_result *r,
			bool imatrix_given)
{
	char tn[16];
	qp_mapw m;
	qp_mapw_begin(&m, pk);
	msgpack_packer *as = qp_mapw_key(&m, "as");
	if (r->has_as)
		qp_pack_str(as, qp_type_name(r->as, tn));
	else
		msgpack_pack_nil(as);
	if (r->note[0])
		qp_pack_str(qp_mapw_key(&m, "note"), r->note);
	if (r->has_as) {
		msgpack_pack_uint64(qp_mapw_key(&m, "n_bytes"), r->n_bytes);
		msgpack_pack_double(qp_mapw_key(&m, "bpw"), r->bpw);
	}
	if (r->measured) {
		msgpack_pack_double(qp_mapw_key(&m, "mse"), r->mse);
		msgpack_pack_double(qp_mapw_key(&m, "rmse"), r->rmse);
		msgpack_pack_double(qp_mapw_key(&m, "rel"), r->rel);
		msgpack_pack_double(qp_mapw_key(&m, "cos"), r->cos);
		msgpack_pack_double(qp_mapw_key(&m, "maxabs"), r->maxabs);
		msgpack_pack_double(qp_mapw_key(&m, "sqnr_db"), r->sqnr_db);
		if (r->has_wmse)
			msgpack_pack_double(qp_mapw_key(&m, "wmse"), r->wmse);
		if (imatrix_given)
			qp_pack_bool(qp_mapw_key(&m, "imatrix"), r->used_imatrix);
		if (r->has_crc)
			msgpack_pack_uint64(qp_mapw_key(&m, "crc32"), r->crc);
		if (r->rows_measured < r->rows_total)
			msgpack_pack_int64(qp_mapw_key(&m, "rows"), r->rows_measured);
		if (r->has_ci) {
			qp_mapw ci;
			qp_mapw_begin(&ci, qp_mapw_key(&m, "ci95"));
			pack_interval(qp_mapw_key(&ci, "mse"), r->ci_mse);
			pack_interval(qp_mapw_key(&ci, "rmse"), r->ci_rmse);
			pack_interval(qp_mapw_key(&ci, "rel"), r->ci_rel);
			pack_interval(qp_mapw_key(&ci, "sqnr_db"), r->ci_sqnr);
			qp_mapw_end(&ci);
		}
	}
	qp_mapw_end(&m);
}

void qp_qerr_pack(msgpack_packer *pk, const qp_qerr_result *res, int n,
		  bool imatrix_given)
{
	msgpack_pack_map(pk, (size_t)n);
	for (int i = 0; i < n; i++) {
		qp_pack_str(pk, res[i].key);
		pack_result(pk, &res[i], imatrix_given);
	}
}
