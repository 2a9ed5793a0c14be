#include "names.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* True when one of the '_'/'.'-separated words of role is word:
 * "attn_q_a_norm", "post_ffw_norm_1" and "ffn_norm_exps" all contain
 * "norm", "attn_q" does not contain "q_a". */
static bool has_word(const char *role, const char *word)
{
	size_t k = strlen(word);
	for (const char *p = role; *p;) {
		size_t n = strcspn(p, "_.");
		if (n == k && memcmp(p, word, k) == 0)
			return true;
		p += n;
		if (*p)
			p++;
	}
	return false;
}

static qp_family family_of(const char *role)
{
	/* Order matters: a norm inside attention ("attn_q_norm") is a norm,
	 * the shared expert's gate ("ffn_gate_inp_shexp") is a router. */
	if (strcmp(role, "norm") == 0 || has_word(role, "norm") ||
	    has_word(role, "ln"))
		return QP_FAM_NORM;
	if (starts_with(role, "ffn_gate_inp") ||
	    strcmp(role, "exp_probs_b") == 0)
		return QP_FAM_ROUTER;
	if (has_word(role, "shexp"))
		return QP_FAM_SHEXP;
	if (has_word(role, "exps") || has_word(role, "chexps"))
		return QP_FAM_EXPERT;
	if (starts_with(role, "attn_") || starts_with(role, "cross_attn_"))
		return QP_FAM_ATTENTION;
	if (starts_with(role, "ffn_") || strcmp(role, "ffn") == 0)
		return QP_FAM_FFN;
	if (starts_with(role, "ssm_"))
		return QP_FAM_SSM;
	if (has_word(role, "embd") || strcmp(role, "token_types") == 0)
		return QP_FAM_EMBEDDING;
	if (strcmp(role, "output") == 0)
		return QP_FAM_OUTPUT;
	return QP_FAM_OTHER;
}

/* Parses "blk.N." at the start of name; returns the length of the prefix
 * (0 when absent or malformed) and N in *layer. */
static size_t block_prefix(const char *name, int *layer)
{
	if (!starts_with(name, "blk."))
		return 0;
	const char *p = name + 4;
	long n = 0;
	size_t digits = 0;
	while (p[digits] >= '0' && p[digits] <= '9') {
		n = n * 10 + (p[digits] - '0');
		if (n > 1000000000L)
			return 0;
		digits++;
	}
	if (digits == 0 || p[digits] != '.')
		return 0;
	*layer = (int)n;
	return 4 + digits + 1;
}

static void unreadable(const char *name, qp_tensor_name *out)
{
	out->layer = -1;
	snprintf(out->role, sizeof out->role, "%s", name);
	out->family = QP_FAM_OTHER;
}

void qp_parse_tensor_name(const char *name, qp_tensor_name *out)
{
	if (!name) {
		unreadable("", out);
		return;
	}
	int layer = -1;
	size_t skip = block_prefix(name, &layer);
	if (starts_with(name, "blk.") && skip == 0) {
		unreadable(name, out);
		return;
	}
	const char *role = name + skip;
	size_t n = strlen(role);
	if (ends_with(role, n, ".weight"))
		n -= strlen(".weight");
	else if (ends_with(role, n, ".bias"))
		n -= strlen(".bias");
	if (n == 0 || n >= sizeof out->role) {
		unreadable(name, out);
		return;
	}
	memcpy(out->role, role, n);
	out->role[n] = '\0';
	out->layer = layer;
	out->family = family_of(out->role);
}

const char *qp_family_name(qp_family f)
{
	static const char *const names[QP_FAM_COUNT] = {
		[QP_FAM_ATTENTION] = "attention",
		[QP_FAM_FFN] = "ffn",
		[QP_FAM_EXPERT] = "expert",
		[QP_FAM_SHEXP] = "shared-expert",
		[QP_FAM_ROUTER] = "router",
		[QP_FAM_NORM] = "norm",
		[QP_FAM_EMBEDDING] = "embedding",
		[QP_FAM_OUTPUT] = "output",
		[QP_FAM_SSM] = "ssm",
		[QP_FAM_OTHER] = "other",
	};
	if ((unsigned)f >= QP_FAM_COUNT)
		return "other";
	return names[f];
}
