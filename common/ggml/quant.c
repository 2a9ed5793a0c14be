/* quant.c — qp_quantize dispatch, what can be quantized, and
 * llama-quantize's shape fallbacks.
 */
#include "quant.h"

#include <string.h>

#include "le.h"
#include "quant_iq.h"
#include "quant_k.h"
#include "quant_legacy.h"
#include "quant_ops.h"
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

/* The one row per type: encoder, decoder, llama-quantize's fallback
 * (tensor_type_fallback in llama-quant.cpp: the 32-block type a 256-block
 * or Q2_0 type is replaced by; QP_F32 when none is defined) and whether
 * llama-quantize requires an imatrix (tensor_requires_imatrix, whose
 * token_embd/output exemption and Q2_K-in-Q2_K_S rule are the caller's).
 * Indexed by ggml type id; a type without a row can do nothing. */
#define ROW(id, enc, dec, fb, imat) [id] = {id, enc, dec, fb, imat}
static const qp_type_ops type_ops[] = {
	ROW(QP_F32, encode_f32, qp_deq_f32, QP_F32, false),
	ROW(QP_F16, qp_encode_f16, qp_deq_f16, QP_F32, false),
	ROW(QP_BF16, qp_encode_bf16, qp_deq_bf16, QP_F32, false),
	ROW(QP_Q4_0, qp_encode_q4_0, qp_deq_q4_0, QP_F32, false),
	ROW(QP_Q4_1, qp_encode_q4_1, qp_deq_q4_1, QP_F32, false),
	ROW(QP_Q5_0, qp_encode_q5_0, qp_deq_q5_0, QP_F32, false),
	ROW(QP_Q5_1, qp_encode_q5_1, qp_deq_q5_1, QP_F32, false),
	ROW(QP_Q8_0, qp_encode_q8_0, qp_deq_q8_0, QP_F32, false),
	ROW(QP_MXFP4, qp_encode_mxfp4, qp_deq_mxfp4, QP_F32, false),
	ROW(QP_Q1_0, qp_encode_q1_0, qp_deq_q1_0, QP_F32, false),
	ROW(QP_Q2_0, qp_encode_q2_0, qp_deq_q2_0, QP_Q4_0, false),
	ROW(QP_TQ1_0, qp_encode_tq1_0, qp_deq_tq1_0, QP_Q4_0, false),
	ROW(QP_TQ2_0, qp_encode_tq2_0, qp_deq_tq2_0, QP_Q4_0, false),
	ROW(QP_Q2_K, encode_q2_k, qp_deq_q2_k, QP_Q4_0, false),
	ROW(QP_Q3_K, encode_q3_k, qp_deq_q3_k, QP_Q4_0, false),
	ROW(QP_Q4_K, encode_q4_k, qp_deq_q4_k, QP_Q5_0, false),
	ROW(QP_Q5_K, encode_q5_k, qp_deq_q5_k, QP_Q5_1, false),
	ROW(QP_Q6_K, encode_q6_k, qp_deq_q6_k, QP_Q8_0, false),
	ROW(QP_IQ4_NL, qp_encode_iq4_nl, qp_deq_iq4_nl, QP_F32, false),
	ROW(QP_IQ4_XS, qp_encode_iq4_xs, qp_deq_iq4_xs, QP_IQ4_NL, false),
	ROW(QP_IQ1_S, qp_encode_iq1_s, qp_deq_iq1_s, QP_IQ4_NL, true),
	ROW(QP_IQ1_M, qp_encode_iq1_m, qp_deq_iq1_m, QP_IQ4_NL, true),
	ROW(QP_IQ2_XXS, qp_encode_iq2_xxs, qp_deq_iq2_xxs, QP_IQ4_NL, true),
	ROW(QP_IQ2_XS, qp_encode_iq2_xs, qp_deq_iq2_xs, QP_IQ4_NL, true),
	ROW(QP_IQ2_S, qp_encode_iq2_s, qp_deq_iq2_s, QP_IQ4_NL, true),
	ROW(QP_IQ3_XXS, qp_encode_iq3_xxs, qp_deq_iq3_xxs, QP_IQ4_NL, true),
	ROW(QP_IQ3_S, qp_encode_iq3_s, qp_deq_iq3_s, QP_IQ4_NL, false),
	ROW(QP_NVFP4, qp_encode_nvfp4, qp_decode_nvfp4, QP_F32, false),
};
#undef ROW

const qp_type_ops *qp_type_ops_for(uint32_t type)
{
	if (type >= sizeof type_ops / sizeof type_ops[0])
		return NULL;
	const qp_type_ops *ops = &type_ops[type];
	return ops->encode || ops->decode ? ops : NULL;
}

static qp_encode_fn encoder_for(uint32_t type)
{
	const qp_type_ops *ops = qp_type_ops_for(type);
	return ops ? ops->encode : NULL;
}

bool qp_can_quantize(uint32_t type)
{
	return encoder_for(type) != NULL;
}

bool qp_quant_requires_imatrix(uint32_t type)
{
	const qp_type_ops *ops = qp_type_ops_for(type);
	return ops && ops->needs_imatrix;
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
	if (qp_iq_ready(type, imatrix != NULL, e))
		return -1;
	fn(src, dst, nrows, n_per_row, imatrix);
	return 0;
}

/* QP_F32 when no fallback is defined (F32 is never a fallback). */
static uint32_t fallback_of(uint32_t type)
{
	const qp_type_ops *ops = qp_type_ops_for(type);
	return ops ? ops->fallback : QP_F32;
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
