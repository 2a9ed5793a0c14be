/* The type table: which types quantize, dequantize, need an imatrix and
 * fall back to what, over every id 0..63 (the lists quant.h documents and
 * llama-quant.cpp's tensor_type_fallback / tensor_requires_imatrix). */
#include <string.h>

#include "../tap.h"
#include "quant.h"
#include "quant_ops.h"
#include "types.h"

static bool in(uint32_t t, const uint32_t *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == t)
			return true;
	return false;
}

int main(void)
{
	static const uint32_t enc[] = {
		QP_F32, QP_F16, QP_BF16, QP_Q4_0, QP_Q4_1, QP_Q5_0, QP_Q5_1, QP_Q8_0,
		QP_Q2_K, QP_Q3_K, QP_Q4_K, QP_Q5_K, QP_Q6_K, QP_IQ4_NL, QP_IQ4_XS,
		QP_TQ1_0, QP_TQ2_0, QP_MXFP4, QP_Q1_0, QP_Q2_0, QP_NVFP4,
		QP_IQ1_S, QP_IQ1_M, QP_IQ2_XXS, QP_IQ2_XS, QP_IQ2_S, QP_IQ3_XXS,
		QP_IQ3_S};
	static const uint32_t imat[] = {QP_IQ1_S, QP_IQ1_M, QP_IQ2_XXS, QP_IQ2_XS,
					QP_IQ2_S, QP_IQ3_XXS};
	static const struct { uint32_t type, fb; } fbs[] = {
		{QP_IQ1_S, QP_IQ4_NL}, {QP_IQ1_M, QP_IQ4_NL}, {QP_IQ2_XXS, QP_IQ4_NL},
		{QP_IQ2_XS, QP_IQ4_NL}, {QP_IQ2_S, QP_IQ4_NL}, {QP_IQ3_XXS, QP_IQ4_NL},
		{QP_IQ3_S, QP_IQ4_NL}, {QP_IQ4_XS, QP_IQ4_NL}, {QP_Q2_0, QP_Q4_0},
		{QP_Q2_K, QP_Q4_0}, {QP_Q3_K, QP_Q4_0}, {QP_TQ1_0, QP_Q4_0},
		{QP_TQ2_0, QP_Q4_0}, {QP_Q4_K, QP_Q5_0}, {QP_Q5_K, QP_Q5_1},
		{QP_Q6_K, QP_Q8_0}};
	int bad_q = 0, bad_d = 0, bad_i = 0, bad_f = 0, bad_row = 0;
	for (uint32_t t = 0; t < 64; t++) {
		bool q = in(t, enc, sizeof enc / sizeof enc[0]);
		bool d = q;
		bad_q += qp_can_quantize(t) != q;
		bad_d += qp_can_dequantize(t) != d;
		bad_i += qp_quant_requires_imatrix(t) != in(t, imat, sizeof imat / sizeof imat[0]);
		const qp_type_ops *ops = qp_type_ops_for(t);
		bad_row += ops ? ops->type != t : d;
		uint32_t want = QP_F32;
		for (size_t i = 0; i < sizeof fbs / sizeof fbs[0]; i++)
			if (fbs[i].type == t)
				want = fbs[i].fb;
		/* a row of 32 values fits every 32-block fallback but no 256-block
		 * or Q2_0 type; Q4_0 and friends fit it themselves */
		bool ok;
		const qp_type_info *ti = qp_type_info_by_id(t);
		if (!ti || ti->removed || ti->block_size == 0)
			continue;
		uint32_t got = qp_quant_fallback(t, 32, &ok);
		if (ti->block_size <= 32 && 32 % ti->block_size == 0)
			bad_f += !(ok && got == t);
		else if (want == QP_F32)
			bad_f += ok;
		else
			bad_f += !(ok && got == want);
	}
	ok(bad_q == 0, "qp_can_quantize: the documented types, and only them");
	ok(bad_d == 0, "qp_can_dequantize: the same types");
	ok(bad_i == 0, "qp_quant_requires_imatrix: IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ3_XXS");
	ok(bad_f == 0, "qp_quant_fallback: tensor_type_fallback's table");
	ok(bad_row == 0, "every row sits at its own id");
	done_testing();
	return exit_status();
}
