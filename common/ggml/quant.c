/* quant.c — qp_quantize dispatch, what can be quantized, and
 * llama-quantize's shape fallbacks.
 */
#include "quant.h"

#include <string.h>

#include "le.h"
#include "quant_k.h"
#include "quant_legacy.h"
#include "types.h"

static void encode_f32(const float *src, uint8_t *dst, int64_t nrows,
		       int64_t n_per_row, const float *imatrix)
{
	(void)imatrix;
	for (int64_t i = 0; i < nrows * n_per_row; i++)
		le_put_f32(dst + 4 * i, src[i]);
}

/* The K-quant encoders live in quant_k.c; their int result is always 0. */
#define K_ENCODER(name, fn)                                                    \
	static void name(const float *src, uint8_t *dst, int64_t nrows,       \
			 int64_t n_per_row, const float *imatrix)              \
	{                                                                      \
		(void)fn(src, dst, nrows, n_per_row, imatrix);                 \
	}
K_ENCODER(encode_q2_k, qp_quantize_q2_k)
K_ENCODER(encode_q3_k, qp_quantize_q3_k)
K_ENCODER(encode_q4_k, qp_quantize_q4_k)
K_ENCODER(encode_q5_k, qp_quantize_q5_k)
K_ENCODER(encode_q6_k, qp_quantize_q6_k)

static qp_encode_fn encoder_for(uint32_t type)
{
	switch (type) {
	case QP_F32: return encode_f32;
	case QP_F16: return qp_encode_f16;
	case QP_BF16: return qp_encode_bf16;
	case QP_Q4_0: return qp_encode_q4_0;
	case QP_Q4_1: return qp_encode_q4_1;
	case QP_Q5_0: return qp_encode_q5_0;
	case QP_Q5_1: return qp_encode_q5_1;
	case QP_Q8_0: return qp_encode_q8_0;
	case QP_MXFP4: return qp_encode_mxfp4;
	case QP_Q1_0: return qp_encode_q1_0;
	case QP_Q2_0: return qp_encode_q2_0;
	case QP_TQ1_0: return qp_encode_tq1_0;
	case QP_TQ2_0: return qp_encode_tq2_0;
	case QP_IQ4_NL: return qp_encode_iq4_nl;
	case QP_IQ4_XS: return qp_encode_iq4_xs;
	case QP_Q2_K: return encode_q2_k;
	case QP_Q3_K: return encode_q3_k;
	case QP_Q4_K: return encode_q4_k;
	case QP_Q5_K: return encode_q5_k;
	case QP_Q6_K: return encode_q6_k;
	default: return NULL;
	}
}

bool qp_can_quantize(uint32_t type)
{
	return encoder_for(type) != NULL;
}

/* llama-quantize's tensor_requires_imatrix (token_embd.weight and
 * output.weight are exempt there, and Q2_K only in Q2_K_S files: those
 * name- and ftype-dependent rules are the caller's). */
bool qp_quant_requires_imatrix(uint32_t type)
{
	switch (type) {
	case QP_IQ1_S: case QP_IQ1_M: case QP_IQ2_XXS: case QP_IQ2_XS:
	case QP_IQ2_S: case QP_IQ3_XXS:
		return true;
	default:
		return false;
	}
}

int qp_quantize(uint32_t type, const float *src, void *dst, int64_t nrows,
		int64_t n_per_row, const float *imatrix, qp_err *e)
{
	char name[16];
	qp_encode_fn fn = encoder_for(type);
	const qp_type_info *ti = qp_type_info_by_id(type);
	if (!fn || !ti || ti->block_size == 0)
		return qp_fail(e, "cannot quantize to type %s",
			       qp_type_name(type, name));
	if (n_per_row <= 0 || nrows < 0 || n_per_row % ti->block_size != 0)
		return qp_fail(e, "%s: rows of %lld values are not a multiple "
			       "of the block size %u", ti->name,
			       (long long)n_per_row, ti->block_size);
	fn(src, dst, nrows, n_per_row, imatrix);
	return 0;
}

/* tensor_type_fallback in llama-quant.cpp: the 32-block type a 256-block
 * (or Q2_0) type is replaced by; 0 when there is none (F32 is never a
 * fallback). */
static uint32_t fallback_of(uint32_t type)
{
	switch (type) {
	case QP_IQ1_S: case QP_IQ1_M: case QP_IQ2_XXS: case QP_IQ2_XS:
	case QP_IQ2_S: case QP_IQ3_XXS: case QP_IQ3_S: case QP_IQ4_XS:
		return QP_IQ4_NL;
	case QP_Q2_0: case QP_Q2_K: case QP_Q3_K: case QP_TQ1_0: case QP_TQ2_0:
		return QP_Q4_0;
	case QP_Q4_K: return QP_Q5_0;
	case QP_Q5_K: return QP_Q5_1;
	case QP_Q6_K: return QP_Q8_0;
	default: return QP_F32;
	}
}

static bool row_fits(uint32_t type, int64_t ne0)
{
	const qp_type_info *ti = qp_type_info_by_id(type);
	return ti && ti->block_size > 0 && ne0 % ti->block_size == 0;
}

uint32_t qp_quant_fallback(uint32_t type, int64_t ne0, bool *ok)
{
	*ok = true;
	if (row_fits(type, ne0))
		return type;
	uint32_t fb = fallback_of(type);
	if (fb == QP_F32) {
		*ok = false; /* "no tensor type fallback is defined" */
		return type;
	}
	/* a fallback that does not fit either: llama-quantize writes F16 */
	return row_fits(fb, ne0) ? fb : QP_F16;
}
