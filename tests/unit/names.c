/* names: layer, role and family from real GGUF tensor names (llama.cpp
 * gguf-py/gguf/constants.py TENSOR_NAMES for llama, qwen2, qwen3,
 * qwen3moe, deepseek2, gemma3, mamba, qwen3next). */
#include "names.h"
#include "../tap.h"

static void check(const char *name, int layer, const char *role,
		  const char *family)
{
	qp_tensor_name t;
	qp_parse_tensor_name(name, &t);
	if (!ok(t.layer == layer && strcmp(t.role, role) == 0 &&
			strcmp(qp_family_name(t.family), family) == 0,
		"%s -> %d %s %s", name, layer, role, family))
		diag("got %d %s %s", t.layer, t.role,
		     qp_family_name(t.family));
}

int main(void)
{
	/* llama */
	check("token_embd.weight", -1, "token_embd", "embedding");
	check("output_norm.weight", -1, "output_norm", "norm");
	check("output.weight", -1, "output", "output");
	check("rope_freqs.weight", -1, "rope_freqs", "other");
	check("blk.0.attn_norm.weight", 0, "attn_norm", "norm");
	check("blk.0.attn_q.weight", 0, "attn_q", "attention");
	check("blk.1.attn_k.weight", 1, "attn_k", "attention");
	check("blk.2.attn_v.weight", 2, "attn_v", "attention");
	check("blk.31.attn_output.weight", 31, "attn_output", "attention");
	check("blk.3.ffn_norm.weight", 3, "ffn_norm", "norm");
	check("blk.3.ffn_gate.weight", 3, "ffn_gate", "ffn");
	check("blk.3.ffn_up.weight", 3, "ffn_up", "ffn");
	check("blk.3.ffn_down.weight", 3, "ffn_down", "ffn");
	check("blk.0.attn_rot_embd", 0, "attn_rot_embd", "attention");
	/* qwen2: biases */
	check("blk.5.attn_q.bias", 5, "attn_q", "attention");
	check("blk.5.attn_k.bias", 5, "attn_k", "attention");
	check("blk.5.attn_v.bias", 5, "attn_v", "attention");
	check("blk.5.attn_qkv.weight", 5, "attn_qkv", "attention");
	/* qwen3 */
	check("blk.7.attn_q_norm.weight", 7, "attn_q_norm", "norm");
	check("blk.7.attn_k_norm.weight", 7, "attn_k_norm", "norm");
	/* qwen3moe */
	check("blk.3.ffn_gate_inp.weight", 3, "ffn_gate_inp", "router");
	check("blk.3.ffn_gate_exps.weight", 3, "ffn_gate_exps", "expert");
	check("blk.3.ffn_up_exps.weight", 3, "ffn_up_exps", "expert");
	check("blk.3.ffn_down_exps.weight", 3, "ffn_down_exps", "expert");
	/* deepseek2 (MLA) */
	check("blk.0.attn_q_a.weight", 0, "attn_q_a", "attention");
	check("blk.0.attn_q_a_norm.weight", 0, "attn_q_a_norm", "norm");
	check("blk.0.attn_q_b.weight", 0, "attn_q_b", "attention");
	check("blk.0.attn_kv_a_mqa.weight", 0, "attn_kv_a_mqa", "attention");
	check("blk.0.attn_kv_a_norm.weight", 0, "attn_kv_a_norm", "norm");
	check("blk.0.attn_kv_b.weight", 0, "attn_kv_b", "attention");
	check("blk.0.attn_k_b.weight", 0, "attn_k_b", "attention");
	check("blk.0.attn_v_b.weight", 0, "attn_v_b", "attention");
	check("blk.60.ffn_gate_shexp.weight", 60, "ffn_gate_shexp",
	      "shared-expert");
	check("blk.60.ffn_up_shexp.weight", 60, "ffn_up_shexp", "shared-expert");
	check("blk.60.ffn_down_shexp.weight", 60, "ffn_down_shexp",
	      "shared-expert");
	check("blk.60.exp_probs_b.bias", 60, "exp_probs_b", "router");
	/* gemma3 */
	check("blk.4.post_attention_norm.weight", 4, "post_attention_norm",
	      "norm");
	check("blk.4.post_ffw_norm.weight", 4, "post_ffw_norm", "norm");
	/* mamba */
	check("blk.2.ssm_in.weight", 2, "ssm_in", "ssm");
	check("blk.2.ssm_conv1d.weight", 2, "ssm_conv1d", "ssm");
	check("blk.2.ssm_conv1d.bias", 2, "ssm_conv1d", "ssm");
	check("blk.2.ssm_x.weight", 2, "ssm_x", "ssm");
	check("blk.2.ssm_dt.weight", 2, "ssm_dt", "ssm");
	check("blk.2.ssm_dt.bias", 2, "ssm_dt", "ssm");
	check("blk.2.ssm_a", 2, "ssm_a", "ssm");
	check("blk.2.ssm_d", 2, "ssm_d", "ssm");
	check("blk.2.ssm_out.weight", 2, "ssm_out", "ssm");
	/* qwen3next */
	check("blk.9.attn_gate.weight", 9, "attn_gate", "attention");
	check("blk.9.ffn_gate_inp_shexp.weight", 9, "ffn_gate_inp_shexp",
	      "router");
	check("blk.9.ffn_gate_up_exps.weight", 9, "ffn_gate_up_exps", "expert");
	check("blk.9.ssm_ba.weight", 9, "ssm_ba", "ssm");
	check("blk.9.ssm_norm.weight", 9, "ssm_norm", "norm");
	/* others */
	check("token_embd_norm.weight", -1, "token_embd_norm", "norm");
	check("position_embd.weight", -1, "position_embd", "embedding");
	check("token_types.weight", -1, "token_types", "embedding");
	check("per_layer_token_embd.weight", -1, "per_layer_token_embd",
	      "embedding");
	check("blk.1.ffn_norm_exps.weight", 1, "ffn_norm_exps", "norm");
	check("blk.1.layer_output_norm.weight", 1, "layer_output_norm", "norm");
	/* unreadable names */
	check("blk.x.attn_q.weight", -1, "blk.x.attn_q.weight", "other");
	check("blk.3", -1, "blk.3", "other");
	check("blk.3.weight", 3, "weight", "other");
	check("blk..attn_q.weight", -1, "blk..attn_q.weight", "other");
	check("blk.99999999999.attn_q.weight", -1,
	      "blk.99999999999.attn_q.weight", "other");
	check("", -1, "", "other");
	check(".weight", -1, ".weight", "other");
	check("something.else", -1, "something.else", "other");
	char longname[300];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	qp_tensor_name t;
	qp_parse_tensor_name(longname, &t);
	ok(t.layer == -1 && strlen(t.role) == sizeof t.role - 1 &&
		   t.family == QP_FAM_OTHER,
	   "overlong name is truncated, family other");
	is_str(qp_family_name(QP_FAM_COUNT), "other", "out-of-range family");
	done_testing();
	return exit_status();
}
