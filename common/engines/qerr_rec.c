#include "qerr_rec.h"

#include "rec.h"
#include "types.h"

static void pack_interval(msgpack_packer *pk, const char *key, qp_interval v)
{
	qp_pack_str(pk, key);
	msgpack_pack_array(pk, 2);
	msgpack_pack_double(pk, v.lo);
	msgpack_pack_double(pk, v.hi);
}

static void pack_result(msgpack_packer *pk, const qp_qerr_result *r,
			bool imatrix_given)
{
	char tn[16];
	size_t n = 1 + (r->note[0] != 0);
	if (r->has_as)
		n += 2;
	if (r->measured)
		n += 6 + r->has_wmse + r->has_crc + (imatrix_given ? 1 : 0) +
		     (r->rows_measured < r->rows_total ? 1 : 0) + r->has_ci;
	msgpack_pack_map(pk, n);
	qp_pack_str(pk, "as");
	if (r->has_as)
		qp_pack_str(pk, qp_type_name(r->as, tn));
	else
		msgpack_pack_nil(pk);
	if (r->note[0])
		qp_pack_key_str(pk, "note", r->note);
	if (r->has_as) {
		qp_pack_key_uint(pk, "n_bytes", r->n_bytes);
		qp_pack_key_double(pk, "bpw", r->bpw);
	}
	if (!r->measured)
		return;
	qp_pack_key_double(pk, "mse", r->mse);
	qp_pack_key_double(pk, "rmse", r->rmse);
	qp_pack_key_double(pk, "rel", r->rel);
	qp_pack_key_double(pk, "cos", r->cos);
	qp_pack_key_double(pk, "maxabs", r->maxabs);
	qp_pack_key_double(pk, "sqnr_db", r->sqnr_db);
	if (r->has_wmse)
		qp_pack_key_double(pk, "wmse", r->wmse);
	if (imatrix_given)
		qp_pack_key_bool(pk, "imatrix", r->used_imatrix);
	if (r->has_crc)
		qp_pack_key_uint(pk, "crc32", r->crc);
	if (r->rows_measured < r->rows_total)
		qp_pack_key_int(pk, "rows", r->rows_measured);
	if (r->has_ci) {
		qp_pack_str(pk, "ci95");
		msgpack_pack_map(pk, 4);
		pack_interval(pk, "mse", r->ci_mse);
		pack_interval(pk, "rmse", r->ci_rmse);
		pack_interval(pk, "rel", r->ci_rel);
		pack_interval(pk, "sqnr_db", r->ci_sqnr);
	}
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
