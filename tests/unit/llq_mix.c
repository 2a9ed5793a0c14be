/* llq_mix: llama-quantize's choices on hand-made models, each case read
 * off src/llama-quant.cpp (the llq_arch test checks the same models
 * against the real llama-quantize when it is there). */
#include "../tap.h"
#include "llq_mix.h"
#include "types.h"

static qp_llq_model model;

static void begin(const char *arch, int n_layer, int n_head, int n_head_kv,
		  int n_expert)
{
	qp_llq_model_free(&model);
	qp_llq_model_init(&model);
	snprintf(model.arch, sizeof model.arch, "%s", arch);
	model.n_layer_all = n_layer;
	model.n_head = n_head;
	model.n_head_kv = n_head_kv;
	model.n_expert = n_expert;
}

static void tensor(const char *name, int64_t a, int64_t b, int64_t c)
{
	qp_err e;
	int64_t ne[3] = {a, b, c};
	int nd = c > 1 ? 3 : b > 0 ? 2 : 1;
	if (qp_llq_model_add_tensor(&model, name, nd, ne, nd > 1 ? QP_F16 : QP_F32, &e))
		diag("add: %s", e.msg);
}

/* a dense llama layer set: n layers, width d, kv width */
static void dense(int n, int64_t d, int64_t kv, bool output)
{
	char name[64];
	tensor("token_embd.weight", d, 1000, 1);
	if (output)
		tensor("output.weight", d, 1000, 1);
	for (int l = 0; l < n; l++) {
		static const char *const r[] = {"attn_q", "attn_k", "attn_v",
			"attn_output", "ffn_gate", "ffn_up", "ffn_down", "attn_norm"};
		for (int k = 0; k < 8; k++) {
			snprintf(name, sizeof name, "blk.%d.%s.weight", l, r[k]);
			tensor(name, k == 6 ? 512 : d, k == 7 ? 0 : k == 1 || k == 2 ? kv : d, 1);
		}
	}
}

static qp_llq_choice out[4096];

static uint32_t type_of(const char *name)
{
	for (size_t i = 0; i < model.n; i++)
		if (strcmp(model.t[i].name, name) == 0)
			return out[i].type;
	return QP_LLQ_NO_TYPE;
}

static int mix(const char *ftype, qp_llq_params *p, qp_err *e)
{
	p->ftype = qp_llq_ftype_by_name(ftype);
	return qp_llq_mix(&model, p, out, e);
}

static void expect(const char *name, uint32_t want, const char *what)
{
	char a[16], b[16];
	uint32_t got = type_of(name);
	if (!ok(got == want, "%s: %s", what, name))
		diag("got %s, want %s", qp_type_name(got, a), qp_type_name(want, b));
}

int main(void)
{
	qp_llq_params p;
	qp_err e;

	/* ftypes */
	ok(qp_llq_ftype_by_name("q4_k_m") && qp_llq_ftype_by_name("q4_k_m")->id == 15,
	   "ftype names are case-insensitive");
	ok(qp_llq_ftype_by_name("Q4_K")->id == 15 &&
		   strcmp(qp_llq_ftype_by_name("Q4_K")->alias_of, "Q4_K_M") == 0,
	   "Q4_K is Q4_K_M");
	ok(qp_llq_ftype_by_name(" 18") && strcmp(qp_llq_ftype_by_name(" 18")->name, "Q6_K") == 0,
	   "a number, as std::stoi reads it");
	ok(!qp_llq_ftype_by_name("COPY") && !qp_llq_ftype_by_name("Q4_K_X") &&
		   !qp_llq_ftype_by_name("99"), "unknown ftypes");
	ok(!qp_llq_ftype_quantized(qp_llq_ftype_by_name("BF16")) &&
		   qp_llq_ftype_quantized(qp_llq_ftype_by_name("IQ2_M")), "which ftypes quantize");

	/* the loader's order: by layer number, then by name */
	begin("llama", 16, 32, 8, 0);
	tensor("blk.10.attn_v.weight", 256, 64, 1);
	tensor("blk.2.attn_v.weight", 256, 64, 1);
	for (int l = 0; l < 16; l++) {
		char name[64];
		if (l == 10 || l == 2)
			continue;
		snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
		tensor(name, 256, 64, 1);
	}
	qp_llq_params_init(&p);
	ok(mix("Q4_K_M", &p, &e) == 0, "Q4_K_M on 16 attn_v");
	/* use_more_bits(i, 16): i < 2, i >= 14, (i - 2) % 3 == 2 */
	expect("blk.2.attn_v.weight", QP_Q4_K, "counter in layer order, not stream order");
	expect("blk.10.attn_v.weight", QP_Q6_K, "layer 10: (10-2)%3 == 2");
	expect("blk.4.attn_v.weight", QP_Q6_K, "layer 4");
	expect("blk.15.attn_v.weight", QP_Q6_K, "last layers");

	/* a --tensor-type rule takes its tensor out of the counters */
	begin("llama", 4, 8, 8, 0);
	dense(4, 256, 256, true);
	qp_llq_rules rules = {0};
	qp_llq_rules_add(&rules, "blk\\.0\\.attn_v=q8_0", &e);
	qp_llq_params_init(&p);
	p.rules = &rules;
	ok(mix("Q3_K_M", &p, &e) == 0, "Q3_K_M with a rule on blk.0.attn_v");
	expect("blk.0.attn_v.weight", QP_Q8_0, "the rule");
	expect("blk.1.attn_v.weight", QP_Q5_K, "first counted attn_v");
	expect("blk.2.attn_v.weight", QP_Q5_K, "second counted: the rule did not count");
	expect("blk.3.attn_v.weight", QP_Q4_K, "third");
	p.rules = NULL;
	ok(mix("Q3_K_M", &p, &e) == 0, "Q3_K_M without it");
	expect("blk.2.attn_v.weight", QP_Q4_K, "blk.2 then is the third attn_v");
	qp_llq_params_init(&p);
	p.rules = &rules;
	ok(mix("F16", &p, &e) == 0, "F16 with the rule");
	expect("blk.0.attn_v.weight", QP_F16, "rules are ignored for F16");
	qp_llq_rules_free(&rules);

	/* 70B: llama with 80 layers and GQA; not the 65B (no GQA) */
	begin("llama", 80, 64, 8, 0);
	dense(80, 256, 32, true);
	qp_llq_params_init(&p);
	ok(mix("Q4_K_S", &p, &e) == 0, "Q4_K_S on an 80-layer GQA llama");
	expect("blk.0.attn_v.weight", QP_Q5_K, "first four attn_v");
	expect("blk.9.attn_v.weight", QP_Q5_K, "70B: Q4_K attn_v becomes Q5_K");
	model.n_head_kv = 64;
	ok(mix("Q4_K_S", &p, &e) == 0, "Q4_K_S on its 65B twin");
	expect("blk.9.attn_v.weight", QP_Q4_K, "65B: no bump");
	snprintf(model.arch, sizeof model.arch, "qwen2");
	ok(mix("Q4_K_S", &p, &e) == 0, "qwen2 with 80 layers");
	expect("blk.9.attn_v.weight", QP_Q5_K, "qwen2 80 layers is a 70B");

	/* GQA and Q2_K */
	begin("llama", 2, 8, 2, 0);
	dense(2, 256, 64, true);
	qp_llq_params_init(&p);
	ok(mix("Q2_K", &p, &e) == 0, "Q2_K, GQA 4");
	expect("blk.0.attn_v.weight", QP_Q4_K, "GQA >= 4");
	model.n_head_kv = 4;
	ok(mix("Q2_K", &p, &e) == 0, "Q2_K, GQA 2");
	expect("blk.0.attn_v.weight", QP_Q3_K, "GQA < 4");
	expect("blk.0.ffn_down.weight", QP_Q3_K, "ffn_down");
	expect("blk.0.attn_output.weight", QP_Q3_K, "attn_output");

	/* tied embeddings */
	begin("llama", 2, 8, 8, 0);
	dense(2, 256, 256, false);
	qp_llq_params_init(&p);
	ok(mix("Q4_K_M", &p, &e) == 0, "Q4_K_M, tied");
	expect("token_embd.weight", QP_Q6_K, "tied token_embd is treated as the output");
	p.output_type = QP_Q8_0;
	ok(mix("Q4_K_M", &p, &e) == 0, "--output-tensor-type q8_0, tied");
	expect("token_embd.weight", QP_Q8_0, "tied token_embd takes the output type");
	p.token_embd_type = QP_Q4_0;
	ok(mix("Q4_K_M", &p, &e) == 0, "--token-embedding-type wins");
	expect("token_embd.weight", QP_Q4_0, "token_embd");
	qp_llq_params_init(&p);
	p.token_embd_type = QP_Q6_K;
	ok(mix("F16", &p, &e) == 0, "F16 with --token-embedding-type");
	expect("token_embd.weight", QP_Q6_K, "the option still applies to F16");

	/* options win before fallbacks; --leave-output-tensor */
	begin("llama", 1, 8, 8, 0);
	dense(1, 64, 64, true);
	qp_llq_params_init(&p);
	p.token_embd_type = QP_Q6_K;
	p.leave_output = true;
	ok(mix("Q4_K_M", &p, &e) == 0, "64-wide, --token-embedding-type q6_k");
	expect("token_embd.weight", QP_Q6_K, "no fallback for the option's type");
	expect("output.weight", QP_F16, "--leave-output-tensor keeps the source type");
	expect("blk.0.attn_q.weight", QP_Q5_0, "fallback Q4_K -> Q5_0");
	expect("blk.0.attn_norm.weight", QP_F32, "norms are kept");
	ok(mix("Q4_0", &p, &e) == 0,
	   "Q4_0 on 512-wide ffn_down is fine; the 64-wide tensors too");

	/* MoE with 8 experts */
	begin("llama", 8, 8, 2, 8);
	tensor("token_embd.weight", 256, 1000, 1);
	tensor("output.weight", 256, 1000, 1);
	for (int l = 0; l < 8; l++) {
		char name[64];
		snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
		tensor(name, 256, 64, 1);
		snprintf(name, sizeof name, "blk.%d.attn_k.weight", l);
		tensor(name, 256, 64, 1);
		snprintf(name, sizeof name, "blk.%d.attn_output.weight", l);
		tensor(name, 256, 256, 1);
		snprintf(name, sizeof name, "blk.%d.ffn_down_exps.weight", l);
		tensor(name, 512, 256, 8);
		snprintf(name, sizeof name, "blk.%d.ffn_down_shexp.weight", l);
		tensor(name, 512, 256, 1);
		snprintf(name, sizeof name, "blk.%d.ffn_gate_inp.weight", l);
		tensor(name, 256, 8, 1);
	}
	qp_llq_params_init(&p);
	ok(mix("Q4_K_M", &p, &e) == 0, "Q4_K_M, 8 experts");
	expect("blk.3.attn_v.weight", QP_Q8_0, "8 experts: attn_v Q8_0");
	expect("blk.3.attn_k.weight", QP_Q8_0, "attn_k Q8_0");
	expect("blk.3.attn_output.weight", QP_Q5_K, "attn_output Q5_K");
	expect("blk.0.ffn_down_exps.weight", QP_Q6_K, "ffn_down by the layer in its name");
	expect("blk.0.ffn_down_shexp.weight", QP_Q6_K, "shared expert: same layer");
	expect("blk.1.ffn_down_exps.weight", QP_Q4_K, "layer 1");
	expect("blk.7.ffn_down_exps.weight", QP_Q6_K, "layer 7");
	expect("blk.0.ffn_gate_inp.weight", QP_F16, "the router is kept");
	ok(mix("MXFP4_MOE", &p, &e) == 0, "MXFP4_MOE");
	expect("blk.0.ffn_down_exps.weight", QP_MXFP4, "3-D experts get MXFP4");
	expect("blk.0.ffn_down_shexp.weight", QP_Q8_0, "the rest Q8_0");
	expect("output.weight", QP_Q8_0, "the output Q8_0");
	ok(mix("IQ2_XS", &p, &e) == 0, "IQ2_XS");
	expect("blk.0.attn_k.weight", QP_Q4_K, "8 experts: attn_k Q4_K");
	ok(out[0].requires_imatrix == false && out[2].requires_imatrix == false,
	   "token_embd and attn_v: no imatrix needed");
	expect("blk.0.ffn_down_exps.weight", QP_Q2_K, "first ffn_down by count");
	tensor("ffn_down.weight", 512, 256, 1); /* no blk.N. in an MoE */
	ok(mix("Q4_K_M", &p, &e) == -1 && strstr(e.msg, "failed to determine the layer"),
	   "an MoE ffn tensor without a layer: llama-quantize aborts");

	/* imatrix-dependent choices */
	begin("llama", 8, 8, 8, 0);
	dense(8, 256, 256, true);
	qp_llq_params_init(&p);
	ok(mix("IQ4_XS", &p, &e) == 0, "IQ4_XS without an imatrix");
	expect("blk.0.ffn_down.weight", QP_Q5_K, "first eighth of ffn_down Q5_K");
	p.imatrix = true;
	ok(mix("IQ4_XS", &p, &e) == 0, "IQ4_XS with one");
	expect("blk.0.ffn_down.weight", QP_IQ4_XS, "with an imatrix it stays");
	ok(mix("Q4_0", &p, &e) == 0, "Q4_0 with an imatrix");
	expect("blk.0.ffn_down.weight", QP_Q4_1, "first ffn_down Q4_1");
	ok(mix("Q2_K_S", &p, &e) == 0, "Q2_K_S");
	ok(out[2].requires_imatrix && !out[0].requires_imatrix,
	   "Q2_K needs an imatrix in a Q2_K_S file, not for token_embd");

	qp_llq_model_free(&model);
	done_testing();
	return exit_status();
}
