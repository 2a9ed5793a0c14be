/* libFuzzer target for the recipe text format and llama-quantize
 * tensor-type files: parse the input both ways, match the rules against a
 * few names, free. */
#include <stddef.h>
#include <stdint.h>

#include "llq_mix.h"
#include "recipe_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"token_embd.weight",
		"blk.0.attn_q.weight", "blk.31.ffn_down_exps.weight", ""};
	const char *text = (const char *)data;
	volatile long sink = 0;
	qp_err e;
	qp_rtext r;
	if (qp_rtext_sniff(text, size) && qp_rtext_parse(text, size, &r, &e) == 0) {
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			sink += qp_rtext_match(&r, names[i]);
		qp_rtext_free(&r);
	}
	qp_llq_rules lr = {0};
	if (qp_ttfile_parse(text, size, &lr, &e) == 0)
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			sink += qp_llq_rules_match(&lr, names[i]);
	qp_llq_rules_free(&lr);
	(void)sink;
	return 0;
}
