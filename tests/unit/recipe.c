/* recipe: the struct, its record packed and parsed back, and the errors a
 * malformed recipe record gets. */
#include <math.h>

#include "../tap.h"
#include "buf.h"
#include "recipe.h"
#include "types.h"

static int buf_write(void *data, const char *p, size_t n)
{
	if (n)
		qp_buf_append(data, p, n);
	return 0;
}

static qp_buf pack(const qp_recipe *r)
{
	qp_buf b = {0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &b, buf_write);
	qp_err e;
	if (qp_recipe_pack(r, &pk, &e))
		diag("pack: %s", e.msg);
	return b;
}

/* Parses the bytes of one packed map. */
static int parse(const char *p, size_t n, qp_recipe *r, qp_err *e)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	int st = -1;
	if (msgpack_unpack_next(&u, p, n, &off) == MSGPACK_UNPACK_SUCCESS)
		st = qp_recipe_parse(&u.data, r, e);
	else
		qp_fail(e, "test: cannot unpack");
	msgpack_unpacked_destroy(&u);
	return st;
}

static void full_recipe(qp_recipe *r)
{
	qp_err e;
	qp_recipe_init(r);
	qp_recipe_set_model(r, "m.gguf", &e);
	qp_recipe_set_source(r, "mix:Q4_K_M", &e);
	qp_recipe_set_ftype(r, "Q4_K_M", &e);
	r->has_pure = true;
	r->pure = false;
	r->has_budget_bpw = true;
	r->budget_bpw = 4.5;
	r->has_budget_bytes = true;
	r->budget_bytes = 123456789;
	r->n_bytes = 123000000;
	r->bpw = 4.4875;
	r->has_optimal = true;
	r->opt_loss = 0.25;
	r->opt_bound = 0.2499;
	r->opt_gap = 0.0004;
	/* {"value": 1.5} */
	static const uint8_t pred[] = { 0x81, 0xa5, 'v', 'a', 'l', 'u', 'e',
					0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0 };
	qp_recipe_set_pred(r, pred, sizeof pred, &e);
	qp_recipe_add(r, "token_embd.weight", QP_Q4_K, &e);
	qp_recipe_add(r, "blk.0.attn_v.weight", QP_Q6_K, &e);
	qp_recipe_add(r, "output.weight", QP_Q6_K, &e);
}

static void test_roundtrip(void)
{
	qp_recipe r, back;
	qp_err e;
	full_recipe(&r);
	qp_buf b = pack(&r);
	ok(parse(b.p, b.len, &back, &e) == 0, "a packed recipe parses back");
	is_str(back.model, "m.gguf", "model");
	is_str(back.source, "mix:Q4_K_M", "source");
	is_str(back.ftype, "Q4_K_M", "ftype");
	ok(back.has_pure && !back.pure, "pure false kept");
	ok(back.has_budget_bpw && back.budget_bpw == 4.5, "budget.bpw");
	ok(back.has_budget_bytes && back.budget_bytes == 123456789,
	   "budget.bytes");
	is_int(back.n_bytes, 123000000, "n_bytes");
	is_double(back.bpw, 4.4875, 0, "bpw");
	ok(back.has_optimal && back.opt_gap == 0.0004 &&
		   back.opt_bound == 0.2499 && back.opt_loss == 0.25,
	   "optimal");
	is_int(back.n_tensors, 3, "three tensors");
	is_str(back.tensors[1].name, "blk.0.attn_v.weight",
	       "tensor order kept");
	is_int(back.tensors[1].type, QP_Q6_K, "type of the second tensor");
	is_int(qp_recipe_find(&back, "output.weight"), 2, "lookup by name");
	is_int(qp_recipe_find(&back, "output"), -1, "no prefix lookup");
	ok(back.pred_len == r.pred_len &&
		   memcmp(back.pred, r.pred, r.pred_len) == 0,
	   "pred passes through byte for byte");
	qp_buf b2 = pack(&back);
	ok(b2.len == b.len && memcmp(b.p, b2.p, b.len) == 0,
	   "pack(parse(pack(r))) == pack(r)");
	qp_recipe copy;
	qp_recipe_copy(&copy, &back, &e);
	qp_buf b3 = pack(&copy);
	ok(b3.len == b.len && memcmp(b.p, b3.p, b.len) == 0,
	   "a copy packs the same bytes");
	qp_buf_free(&b);
	qp_buf_free(&b2);
	qp_buf_free(&b3);
	qp_recipe_free(&copy);
	qp_recipe_free(&back);
	qp_recipe_free(&r);
}

static void test_minimal(void)
{
	qp_recipe r, back;
	qp_err e;
	qp_recipe_init(&r);
	ok(qp_recipe_pack(&r, &(msgpack_packer){0}, &e) == -1 &&
		   strstr(e.msg, "model"),
	   "no model id: pack refuses");
	qp_recipe_set_model(&r, "m", &e);
	qp_recipe_set_source(&r, "file:x", &e);
	qp_buf b = pack(&r);
	ok(parse(b.p, b.len, &back, &e) == 0, "minimal recipe parses");
	ok(!back.ftype && !back.has_pure && !back.has_budget_bpw &&
		   !back.has_budget_bytes && !back.has_optimal && !back.pred &&
		   back.n_tensors == 0,
	   "optional fields stay absent");
	ok(qp_recipe_add(&back, "a", QP_F16, &e) == 0 &&
		   qp_recipe_add(&back, "a", QP_F32, &e) == -1 &&
		   strstr(e.msg, "twice"),
	   "a tensor added twice is refused");
	ok(qp_recipe_set_type(&back, "a", QP_Q8_0, &e) == 0 &&
		   back.tensors[0].type == QP_Q8_0,
	   "set_type changes it");
	ok(qp_recipe_set_type(&back, "b", QP_Q8_0, &e) == -1,
	   "set_type of an absent tensor fails");
	qp_buf_free(&b);
	qp_recipe_free(&back);
	qp_recipe_free(&r);
}

static void test_many(void)
{
	qp_recipe r;
	qp_err e;
	char name[64];
	qp_recipe_init(&r);
	int bad = 0;
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof name, "blk.%d.ffn_up_exps.weight", i);
		if (qp_recipe_add(&r, name, (uint32_t)(i % 3 ? QP_Q4_K : QP_Q6_K),
				  &e))
			bad++;
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof name, "blk.%d.ffn_up_exps.weight", i);
		if (qp_recipe_find(&r, name) != i)
			bad++;
	}
	is_int(bad, 0, "5000 names added and found at their positions");
	qp_recipe_free(&r);
}

/* JSON-ish shorthand is not available here: build bad records by hand. */
static void expect_error(void (*build)(msgpack_packer *), const char *want,
			 const char *what)
{
	qp_buf b = {0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &b, buf_write);
	build(&pk);
	qp_recipe r;
	qp_err e = { "" };
	int st = parse(b.p, b.len, &r, &e);
	if (!ok(st == -1 && strstr(e.msg, want), "%s", what))
		diag("got %d: %s", st, e.msg);
	ok(r.n_tensors == 0 && !r.model, "%s: recipe left empty", what);
	qp_buf_free(&b);
}

static void head(msgpack_packer *pk, uint32_t n)
{
	msgpack_pack_map(pk, n);
	qp_pack_key_str(pk, "kind", "recipe");
	qp_pack_key_str(pk, "model", "m");
	qp_pack_key_str(pk, "source", "s");
}

static void bad_kind(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	qp_pack_key_str(pk, "kind", "measure");
}
static void no_types(msgpack_packer *pk)
{
	head(pk, 5);
	qp_pack_key_uint(pk, "n_bytes", 1);
	qp_pack_key_double(pk, "bpw", 1);
}
static void unknown_type(msgpack_packer *pk)
{
	head(pk, 6);
	qp_pack_key_uint(pk, "n_bytes", 1);
	qp_pack_key_double(pk, "bpw", 1);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, 1);
	qp_pack_key_str(pk, "a.weight", "Q4_Z");
}
static void removed_type(msgpack_packer *pk)
{
	head(pk, 6);
	qp_pack_key_uint(pk, "n_bytes", 1);
	qp_pack_key_double(pk, "bpw", 1);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, 1);
	qp_pack_key_str(pk, "a.weight", "Q4_0_4_4");
}
static void dup_tensor(msgpack_packer *pk)
{
	head(pk, 6);
	qp_pack_key_uint(pk, "n_bytes", 1);
	qp_pack_key_double(pk, "bpw", 1);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, 2);
	qp_pack_key_str(pk, "a.weight", "Q4_K");
	qp_pack_key_str(pk, "a.weight", "Q5_K");
}
static void type_not_str(msgpack_packer *pk)
{
	head(pk, 6);
	qp_pack_key_uint(pk, "n_bytes", 1);
	qp_pack_key_double(pk, "bpw", 1);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, 1);
	qp_pack_key_int(pk, "a.weight", 12);
}
static void negative_bytes(msgpack_packer *pk)
{
	head(pk, 6);
	qp_pack_key_int(pk, "n_bytes", -5);
	qp_pack_key_double(pk, "bpw", 1);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, 0);
}
static void bpw_str(msgpack_packer *pk)
{
	head(pk, 6);
	qp_pack_key_uint(pk, "n_bytes", 5);
	qp_pack_key_str(pk, "bpw", "4.5");
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, 0);
}
static void pure_int(msgpack_packer *pk)
{
	head(pk, 7);
	qp_pack_key_int(pk, "pure", 1);
	qp_pack_key_uint(pk, "n_bytes", 5);
	qp_pack_key_double(pk, "bpw", 1);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, 0);
}
static void optimal_partial(msgpack_packer *pk)
{
	head(pk, 7);
	qp_pack_key_uint(pk, "n_bytes", 5);
	qp_pack_key_double(pk, "bpw", 1);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, 0);
	qp_pack_str(pk, "optimal");
	msgpack_pack_map(pk, 1);
	qp_pack_key_double(pk, "loss", 1);
}
static void model_nul(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 6);
	qp_pack_key_str(pk, "kind", "recipe");
	qp_pack_str(pk, "model");
	qp_pack_strn(pk, "a\0b", 3);
	qp_pack_key_str(pk, "source", "s");
	qp_pack_key_uint(pk, "n_bytes", 5);
	qp_pack_key_double(pk, "bpw", 1);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, 0);
}
static void budget_neg(msgpack_packer *pk)
{
	head(pk, 7);
	qp_pack_str(pk, "budget");
	msgpack_pack_map(pk, 1);
	qp_pack_key_int(pk, "bytes", -1);
	qp_pack_key_uint(pk, "n_bytes", 5);
	qp_pack_key_double(pk, "bpw", 1);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, 0);
}

int main(void)
{
	test_roundtrip();
	test_minimal();
	test_many();
	expect_error(bad_kind, "not a recipe", "kind measure");
	expect_error(no_types, "\"types\" is missing", "types missing");
	expect_error(unknown_type, "unknown type \"Q4_Z\"", "unknown type");
	expect_error(removed_type, "unknown type", "removed type id name");
	expect_error(dup_tensor, "twice", "duplicate tensor");
	expect_error(type_not_str, "expected string", "type is an integer");
	expect_error(negative_bytes, "negative", "negative n_bytes");
	expect_error(bpw_str, "expected a number", "bpw a string");
	expect_error(pure_int, "expected boolean", "pure an integer");
	expect_error(optimal_partial, "optimal.bound", "optimal without bound");
	expect_error(model_nul, "NUL", "model with a NUL byte");
	expect_error(budget_neg, "budget.bytes", "negative budget bytes");
	done_testing();
	return exit_status();
}
