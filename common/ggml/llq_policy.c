#include "llq_policy.h"

#include <string.h>

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Substrings that make llama-quantize copy a tensor unchanged. */
static const char *const kept_substrings[] = {
	"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight",
	"altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
	"shortconv.conv.weight", "indexer.k_proj.weight",
	"indexer.q_proj.weight",
	"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
	"time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
	"time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
	"time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
	"time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
	"time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd",
	"sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
	".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
};

/* Whole names it never quantizes (BERT-style position and type tables). */
static const char *const kept_names[] = {
	"position_embd.weight", "token_types.weight",
};

bool qp_llq_quantizes(const char *name, int n_dims)
{
	if (!ends_with(name, "weight") || n_dims < 2)
		return false;
	for (size_t i = 0; i < sizeof kept_names / sizeof kept_names[0]; i++)
		if (strcmp(name, kept_names[i]) == 0)
			return false;
	for (size_t i = 0; i < sizeof kept_substrings / sizeof kept_substrings[0]; i++)
		if (strstr(name, kept_substrings[i]))
			return false;
	return true;
}
