/* Unit tests for common/sens and common/profile: the score pieces on
 * hand-computed values, MAD-sigmoid edge cases, model normalisation, and
 * the profile record of a small mixture-of-experts model. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "profile.h"
#include "rec.h"
#include "sens.h"
#include "sens_rec.h"
#include "types.h"

static void test_pieces(void)
{
	double flat[4] = {1, 1, 1, 1};
	is_double(qp_sens_spectral_energy(flat, 4), 4 * 4, 1e-12,
		  "SE of 4 equal singular values: sum 4 times erank 4");
	double one[3] = {5, 0, 0};
	is_double(qp_sens_spectral_energy(one, 3), 5, 1e-12,
		  "SE of a rank-one matrix: its singular value");
	double zero[2] = {0, 0};
	is_double(qp_sens_spectral_energy(zero, 2), 0, 0, "SE of a zero matrix");
	double two[2] = {3, 1};
	double h = -(0.75 * log(0.75) + 0.25 * log(0.25));
	is_double(qp_sens_spectral_energy(two, 2), 4 * exp(h), 1e-12,
		  "SE of (3, 1)");

	double x[4] = {-1, -1, 1, 1};
	is_double(qp_sens_excess_kurtosis(x, 4), 1 - 3, 1e-12,
		  "kurtosis of a symmetric two-point law is -2");
	double c[2] = {7, 7};
	ok(isnan(qp_sens_excess_kurtosis(c, 2)), "kurtosis of a constant is NaN");

	is_double(qp_sens_depth_weight(0, 5), 1.5, 0, "depth: first layer 1.5");
	is_double(qp_sens_depth_weight(2, 5), 1.0, 0, "depth: middle layer 1.0");
	is_double(qp_sens_depth_weight(4, 5), 1.5, 0, "depth: last layer 1.5");
	is_double(qp_sens_depth_weight(1, 5), 1.125, 1e-15, "depth: U-shaped");
	is_double(qp_sens_depth_weight(-1, 5), 1.5, 0, "depth: global tensors at the ends");
	ok(qp_sens_role_weight(QP_FAM_OUTPUT) > qp_sens_role_weight(QP_FAM_FFN) &&
		   qp_sens_role_weight(QP_FAM_EMBEDDING) < qp_sens_role_weight(QP_FAM_FFN),
	   "role weights: output above ffn above embedding");
}

static void test_mad_sigmoid(void)
{
	qp_err e;
	double x[5] = {1, 2, 3, 4, 100}, out[5];
	ok(qp_sens_mad_sigmoid(x, 5, out, &e) == 0, "MAD-sigmoid runs");
	/* median 3, |x - 3| = 2 1 0 1 97 -> MAD 1, scale 1.4826 */
	is_double(out[2], 0.5, 1e-15, "the median maps to 0.5");
	is_double(out[3], 1 / (1 + exp(-1 / 1.4826)), 1e-15, "one MAD above");
	ok(out[4] > 0.9999 && out[0] < 0.5, "an outlier saturates, not the scale");
	double y[4] = {2, NAN, 2, 2}, o2[4];
	qp_sens_mad_sigmoid(y, 4, o2, &e);
	ok(o2[0] == 0.5 && isnan(o2[1]) && o2[3] == 0.5,
	   "all equal: 0.5 everywhere, NaN stays NaN");
	double z[5] = {1, 1, 1, 1, 9}, o3[5];
	qp_sens_mad_sigmoid(z, 5, o3, &e);
	/* MAD 0 -> 1.2533 * mean |x - 1| = 1.2533 * 1.6 */
	is_double(o3[4], 1 / (1 + exp(-8 / (1.2533 * 1.6))), 1e-15,
		  "MAD 0 falls back to the mean absolute deviation");
	ok(qp_sens_mad_sigmoid(NULL, 0, NULL, &e) == 0, "no values is fine");
}

static qp_sens_tensor mat(int layer, qp_family f, int64_t n, double kurt,
			  double se, double act)
{
	qp_sens_tensor s = {.layer = layer, .family = f, .n_elem = n,
			    .is_matrix = true, .nv_kurtosis = kurt,
			    .se_raw = se, .act_energy = act, .has_act = act > 0};
	return s;
}

static void test_normalise(void)
{
	qp_err e;
	qp_sens_tensor t[5] = {
		mat(0, QP_FAM_ATTENTION, 100, 1, 10, 1),
		mat(1, QP_FAM_FFN, 300, 2, 20, exp(1)),
		mat(2, QP_FAM_FFN, 300, 3, 30, exp(2)),
		mat(-1, QP_FAM_OUTPUT, 300, 50, 40, 0),
		{.layer = 0, .family = QP_FAM_NORM, .n_elem = 10, .nv_kurtosis = 99},
	};
	ok(qp_sens_normalise(t, 5, 3, &e) == 0, "normalise runs");
	/* kurtosis 1 2 3 50: median 2.5, MAD 1 */
	is_double(t[1].nv, 1 / (1 + exp(0.5 / 1.4826)), 1e-15, "nv of the second");
	is_double(t[1].nsds, 1 - (1 - t[1].nv) * (1 - t[1].se), 1e-15,
		  "nsds = 1 - (1 - nv)(1 - se)");
	is_double(t[1].w_size, log1p(300.0 / 250.0), 1e-15,
		  "w_size over the mean size of the matrices");
	ok(isnan(t[3].act) && !isnan(t[3].score), "no activation: scored from nsds alone");
	is_double(t[3].score, 1.3 * 1.5 * log1p(300.0 / 250.0) * t[3].nsds, 1e-12,
		  "score without activation");
	double base = 1 - (1 - t[2].nsds) * (1 - t[2].act);
	is_double(t[2].score, t[2].w_role * t[2].w_depth * t[2].w_size * base,
		  1e-15, "score with activation");
	is_double(t[2].act, 1 / (1 + exp(-1 / 1.4826)), 1e-15,
		  "act normalises ln(energy)");
	ok(isnan(t[4].score) && isnan(t[4].nv), "a norm vector gets no score");
}

static qp_profile_tensor pt(const char *name, const char *type, int layer,
			    qp_family f, int64_t ne0, int64_t ne1, int64_t ne2,
			    uint64_t bytes)
{
	qp_profile_tensor t = {.layer = layer, .family = f,
			       .n_elem = ne0 * ne1 * ne2, .n_bytes = bytes,
			       .ne = {ne0, ne1, ne2, 1}, .n_dims = ne2 > 1 ? 3 : 2};
	snprintf(t.name, sizeof t.name, "%s", name);
	snprintf(t.type, sizeof t.type, "%s", type);
	return t;
}

static void test_profile(void)
{
	qp_profile_tensor t[4] = {
		pt("token_embd.weight", "Q8_0", -1, QP_FAM_EMBEDDING, 64, 100, 1, 6400),
		pt("output.weight", "Q8_0", -1, QP_FAM_OUTPUT, 64, 100, 1, 6400),
		pt("blk.0.ffn_up_exps.weight", "Q4_K", 0, QP_FAM_EXPERT, 64, 128, 8, 36864),
		pt("blk.0.attn_q.weight", "F16", 0, QP_FAM_ATTENTION, 64, 64, 1, 8192),
	};
	qp_profile_hyper h = {-1, -1, -1, 8, 2, -1, -1, -1, -1, 2, 4096};
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	qp_err e;
	ok(qp_profile_pack(&pk, "m", 1, t, 4, &h, 10, &e) == 0, "profile packs");
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	ok(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
		   off == sb.size, "one complete map");
	const msgpack_object *m = &u.data;
	const msgpack_object *v = qp_map_path(m, "arch.n_expert");
	is_int(v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (long long)v->via.u64 : -1,
	       8, "n_expert from the expert tensor's ne2");
	v = qp_map_path(m, "params_active");
	/* 6400 + 6400 + 65536 * 2/8 + 4096 */
	is_int(v ? (long long)v->via.u64 : -1, 6400 + 6400 + 16384 + 4096,
	       "active parameters: experts at n_used / n_expert");
	v = qp_map_path(m, "bytes_per_token");
	is_int(v ? (long long)v->via.u64 : -1, 64 + 6400 + 9216 + 8192,
	       "bytes per token: one embedding row, experts at their share");
	v = qp_map_path(m, "by_type.Q8_0.n_bytes");
	is_int(v ? (long long)v->via.u64 : -1, 12800, "bytes by type");
	v = qp_map_path(m, "arch.gqa_ratio");
	is_double(v ? v->via.f64 : NAN, 4.0, 0, "GQA ratio");
	v = qp_map_path(m, "tok_per_s");
	is_double(v ? v->via.f64 : NAN, 10e9 / (64 + 6400 + 9216 + 8192), 1e-6,
		  "decode speed from the bandwidth");
	v = qp_map_path(m, "arch.sliding_window");
	is_int(v ? (long long)v->via.u64 : -1, 4096, "sliding window");
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

/* A 3-D expert tensor of 3 experts x 4 rows x 8 columns, F32 in memory,
 * with an imatrix entry whose expert 1 saw no tokens. */
static void test_experts(void)
{
	float w[3 * 4 * 8];
	for (int i = 0; i < 96; i++)
		w[i] = (float)((i % 7) - 3) * (1.0f + (float)(i / 32));
	qp_tensor_ref t = {.name = "blk.0.ffn_up_exps.weight", .type_name = "F32",
			   .type = QP_F32, .type_known = true, .n_dims = 3,
			   .ne = {8, 4, 3, 1}, .n_elem = 96, .n_bytes = sizeof w,
			   .row_len = 8, .n_rows = 12, .data = (const uint8_t *)w};
	double sum2[24], counts[3] = {10, 0, 5};
	for (int i = 0; i < 24; i++)
		sum2[i] = 1 + i;
	qp_imatrix_entry ent = {.name = t.name, .n_cols = 8, .n_expert = 3,
				.sum2 = sum2, .counts = counts, .n_idle_experts = 1};
	qp_sens_opts o;
	qp_sens_opts_default(&o);
	qp_sens_tensor s;
	qp_err e;
	int rc = qp_sens_measure(&t, &ent, &o, &s, &e);
	ok(rc == 0, "expert tensor measured");
	if (rc)
		diag("%s", e.msg);
	double want = 0;
	for (int x = 0; x < 3; x++)
		for (int r = 0; r < 4; r++)
			for (int j = 0; j < 8; j++) {
				double v = w[(x * 4 + r) * 8 + j];
				if (counts[x] > 0)
					want += v * v * sum2[x * 8 + j] / counts[x];
			}
	is_double(s.act_energy, want, 1e-12 * want,
		  "activation energy per expert; the idle expert adds nothing");
	is_int(s.ws.n_expert, 3, "stats see 3 experts");
	ok(s.ws.expert_max_min > 2.9 && s.ws.expert_max_min < 3.1,
	   "per-expert RMS spread (scales 1, 2, 3)");
	is_int(s.n_sv, 8, "SVD of the stacked 12 x 8 rows: 8 values");
	qp_sens_tensor_free(&s);

	qp_imatrix_stats st = {.sum_sq = 3, .n = 16, .has_prev = false};
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	qp_sens_pack_imat(&pk, &ent, &st);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	ok(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
		   off == sb.size && u.data.type == MSGPACK_OBJECT_MAP,
	   "imat of an expert tensor is one map");
	const msgpack_object *tok = qp_map_get(&u.data, "tokens");
	const msgpack_object *idle = qp_map_get(&u.data, "idle_experts");
	const msgpack_object *cs = qp_map_get(&u.data, "cossim");
	ok(tok && tok->type == MSGPACK_OBJECT_ARRAY && tok->via.array.size == 3 &&
		   tok->via.array.ptr[2].via.f64 == 5,
	   "tokens: one count per expert");
	ok(idle && idle->type == MSGPACK_OBJECT_ARRAY && idle->via.array.size == 1 &&
		   idle->via.array.ptr[0].via.u64 == 1,
	   "idle_experts flags the expert that saw no tokens");
	ok(cs && cs->type == MSGPACK_OBJECT_NIL, "no previous layer: cossim nil");
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);

	ent.n_cols = 4;
	ok(qp_sens_measure(&t, &ent, &o, &s, &e) < 0 && strstr(e.msg, "does not fit"),
	   "an imatrix entry of the wrong width is refused");
	qp_sens_tensor_free(&s);
}

int main(void)
{
	test_experts();
	test_pieces();
	test_mad_sigmoid();
	test_normalise();
	test_profile();
	done_testing();
	return exit_status();
}
