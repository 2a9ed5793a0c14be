/* dequant.c — ggml's to_float for every block type quantpipe reads.
 *
 * Each decoder follows the float operations of ggml's dequantize_row_*
 * (ggml/src/ggml-quants.c) in the same order and with the same operand
 * types: ggml-base is built without FMA contraction, and C11 mode keeps
 * ours off too, so every product and sum is rounded exactly where ggml
 * rounds it.  Block layouts are ggml-common.h's, read byte by byte.
 */
#include "quant.h"

/* ggml's products and sums are rounded one by one: never fuse them (GCC
 * does not fuse in C11 mode and does not know this pragma; clang does). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <string.h>

#include "blocks.h"
#include "fp16.h"
#include "iq_tables.h"
#include "le.h"
#include "quant_ops.h"
#include "types.h"


static float half_at(const uint8_t *p)
{
	return qp_fp16_to_fp32(le_u16(p));
}

void qp_deq_f32(const uint8_t *b, float *y, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = le_f32(b + 4 * i);
}

void qp_deq_f16(const uint8_t *b, float *y, int64_t n)
{
	qp_fp16_row_to_fp32(b, y, n);
}

void qp_deq_bf16(const uint8_t *b, float *y, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = qp_bf16_to_fp32(le_u16(b + 2 * i));
}

/* ---- 32-element legacy blocks ----------------------------------------- */

void qp_deq_q4_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q4_0, y += QP_QK32) {
		const float d = half_at(b);
		for (int j = 0; j < 16; j++) {
			y[j] = (float)((b[2 + j] & 0x0f) - 8) * d;
			y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
		}
	}
}

void qp_deq_q4_1(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q4_1, y += QP_QK32) {
		const float d = half_at(b), m = half_at(b + 2);
		for (int j = 0; j < 16; j++) {
			y[j] = (float)(b[4 + j] & 0x0f) * d + m;
			y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
		}
	}
}

/* The fifth bit of element j is bit j of the 32-bit qh word. */
void qp_deq_q5_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q5_0, y += QP_QK32) {
		const float d = half_at(b);
		const uint32_t qh = le_u32(b + 2);
		const uint8_t *qs = b + 6;
		for (int j = 0; j < 16; j++) {
			int lo = (qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
			int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
			y[j] = (float)(lo - 16) * d;
			y[j + 16] = (float)(hi - 16) * d;
		}
	}
}

void qp_deq_q5_1(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q5_1, y += QP_QK32) {
		const float d = half_at(b), m = half_at(b + 2);
		const uint32_t qh = le_u32(b + 4);
		const uint8_t *qs = b + 8;
		for (int j = 0; j < 16; j++) {
			int lo = (qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
			int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
			y[j] = (float)lo * d + m;
			y[j + 16] = (float)hi * d + m;
		}
	}
}

void qp_deq_q8_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q8_0, y += QP_QK32) {
		const float d = half_at(b);
		for (int j = 0; j < 32; j++)
			y[j] = (float)(int8_t)b[2 + j] * d;
	}
}

void qp_deq_mxfp4(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_MXFP4, y += QP_QK32) {
		const float d = qp_e8m0_half(b[0]);
		for (int j = 0; j < 16; j++) {
			y[j] = (float)qp_mxfp4_values[b[1 + j] & 0x0f] * d;
			y[j + 16] = (float)qp_mxfp4_values[b[1 + j] >> 4] * d;
		}
	}
}

/* Q1_0: one sign bit per element, value +-d (d = mean |x|). */
void qp_deq_q1_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q1_0, y += QP_QK1_0) {
		const float d = half_at(b), neg = -d;
		for (int j = 0; j < 128; j++)
			y[j] = (b[2 + j / 8] >> (j % 8)) & 1 ? d : neg;
	}
}

/* Q2_0: 2-bit codes q, value (q - 1) * d. */
void qp_deq_q2_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q2_0, y += QP_QK2_0) {
		const float d = half_at(b);
		for (int j = 0; j < 64; j++) {
			int q = (b[2 + j / 4] >> (2 * (j % 4))) & 3;
			y[j] = (float)(q - 1) * d;
		}
	}
}

/* ---- K-quants (256-element super-blocks) -------------------------------- */

void qp_deq_q2_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q2_K) {
		const uint8_t *sc = b, *q = b + 16;
		const float d = half_at(b + 80), dmin = half_at(b + 82);
		int is = 0;
		for (int half = 0; half < 2; half++, q += 32) {
			for (int shift = 0; shift < 8; shift += 2) {
				for (int part = 0; part < 2; part++, is++) {
					const float dl = d * (float)(sc[is] & 0x0f);
					const float ml = dmin * (float)(sc[is] >> 4);
					const uint8_t *qq = q + 16 * part;
					for (int l = 0; l < 16; l++)
						*y++ = dl * (float)((qq[l] >> shift) & 3) - ml;
				}
			}
		}
	}
}

/* Scale j (0..15) of a Q3_K block: 4 low bits from scales[0..7], 2 high
 * bits from scales[8..11], stored biased by 32. */
static int q3_k_scale(const uint8_t *s, int j)
{
	int lo = j < 8 ? s[j] & 0x0f : s[j - 8] >> 4;
	int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
	return (lo | hi << 4) - 32;
}

void qp_deq_q3_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q3_K) {
		const uint8_t *hm = b, *q = b + 32, *s = b + 96;
		const float d_all = half_at(b + 108);
		uint8_t m = 1;
		int is = 0;
		for (int half = 0; half < 2; half++, q += 32) {
			for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
				for (int part = 0; part < 2; part++, is++) {
					const float dl = d_all * (float)q3_k_scale(s, is);
					const uint8_t *qq = q + 16 * part;
					const uint8_t *hh = hm + 16 * part;
					for (int l = 0; l < 16; l++) {
						int v = ((qq[l] >> shift) & 3) -
							((hh[l] & m) ? 0 : 4);
						*y++ = dl * (float)v;
					}
				}
			}
		}
	}
}

void qp_deq_q4_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q4_K) {
		const float d = half_at(b), dmin = half_at(b + 2);
		const uint8_t *s = b + 4, *q = b + 16;
		for (int is = 0; is < 8; is += 2, q += 32) {
			int sc, mn;
			qp_k4_scale_min(s, is, &sc, &mn);
			const float d1 = d * (float)sc, m1 = dmin * (float)mn;
			qp_k4_scale_min(s, is + 1, &sc, &mn);
			const float d2 = d * (float)sc, m2 = dmin * (float)mn;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (float)(q[l] & 0x0f) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (float)(q[l] >> 4) - m2;
		}
	}
}

void qp_deq_q5_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q5_K) {
		const float d = half_at(b), dmin = half_at(b + 2);
		const uint8_t *s = b + 4, *qh = b + 16, *ql = b + 48;
		uint8_t u1 = 1, u2 = 2;
		for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
			int sc, mn;
			qp_k4_scale_min(s, is, &sc, &mn);
			const float d1 = d * (float)sc, m1 = dmin * (float)mn;
			qp_k4_scale_min(s, is + 1, &sc, &mn);
			const float d2 = d * (float)sc, m2 = dmin * (float)mn;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (float)((ql[l] & 0x0f) +
						    (qh[l] & u1 ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (float)((ql[l] >> 4) +
						    (qh[l] & u2 ? 16 : 0)) - m2;
		}
	}
}

void qp_deq_q6_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_Q6_K) {
		const float d = half_at(b + 208);
		const uint8_t *ql = b, *qh = b + 128;
		const int8_t *sc = (const int8_t *)(b + 192);
		for (int n = 0; n < 2; n++, y += 128, ql += 64, qh += 32, sc += 8) {
			for (int l = 0; l < 32; l++) {
				int is = l / 16;
				int q1 = ((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32;
				int q2 = ((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32;
				int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
				int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
				y[l] = d * (float)sc[is] * (float)q1;
				y[l + 32] = d * (float)sc[is + 2] * (float)q2;
				y[l + 64] = d * (float)sc[is + 4] * (float)q3;
				y[l + 96] = d * (float)sc[is + 6] * (float)q4;
			}
		}
	}
}

/* ---- ternary ------------------------------------------------------------ */

/* TQ1_0 packs 5 trits per byte as a fixed-point fraction of 3^5; trit n is
 * the integer part of 3 * (byte * 3^n mod 256) / 256. */
static int tq1_trit(uint8_t byte, int n)
{
	static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
	uint8_t q = (uint8_t)(byte * pow3[n]);
	return (q * 3) >> 8;
}

void qp_deq_tq1_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_TQ1_0) {
		const uint8_t *qs = b, *qh = b + 48;
		const float d = half_at(b + 52);
		for (int n = 0; n < 5; n++)          /* qs[0..32): 160 values */
			for (int m = 0; m < 32; m++)
				*y++ = (float)(tq1_trit(qs[m], n) - 1) * d;
		for (int n = 0; n < 5; n++)          /* qs[32..48): 80 values */
			for (int m = 0; m < 16; m++)
				*y++ = (float)(tq1_trit(qs[32 + m], n) - 1) * d;
		for (int n = 0; n < 4; n++)          /* qh: 16 values */
			for (int j = 0; j < 4; j++)
				*y++ = (float)(tq1_trit(qh[j], n) - 1) * d;
	}
}

void qp_deq_tq2_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_TQ2_0) {
		const float d = half_at(b + 64);
		for (int j = 0; j < 64; j += 32)
			for (int l = 0; l < 4; l++)
				for (int m = 0; m < 32; m++) {
					int q = (b[j + m] >> (2 * l)) & 3;
					*y++ = (float)(q - 1) * d;
				}
	}
}

/* ---- IQ types ----------------------------------------------------------- */

static float sign_of(uint8_t signs, int j)
{
	return signs & (1u << j) ? -1.f : 1.f;
}

void qp_deq_iq2_xxs(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_IQ2_XXS) {
		const float d = half_at(b);
		for (int ib = 0; ib < 8; ib++) {
			const uint8_t *grid_idx = b + 2 + 8 * ib;
			const uint32_t aux = le_u32(b + 2 + 8 * ib + 4);
			const float db = d * (0.5f + (float)(aux >> 28)) * 0.25f;
			for (int l = 0; l < 4; l++, y += 8) {
				const uint8_t *g = qp_iq2xxs_grid[grid_idx[l]];
				const uint8_t s = qp_iq2_signs[(aux >> (7 * l)) & 127];
				for (int j = 0; j < 8; j++)
					y[j] = db * (float)g[j] * sign_of(s, j);
			}
		}
	}
}

void qp_deq_iq2_xs(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_IQ2_XS) {
		const float d = half_at(b);
		const uint8_t *scales = b + 66;
		for (int ib = 0; ib < 8; ib++) {
			float db[2];
			db[0] = d * (0.5f + (float)(scales[ib] & 0x0f)) * 0.25f;
			db[1] = d * (0.5f + (float)(scales[ib] >> 4)) * 0.25f;
			for (int l = 0; l < 4; l++, y += 8) {
				const uint16_t q = le_u16(b + 2 + 2 * (4 * ib + l));
				const uint8_t *g = qp_iq2xs_grid[q & 511];
				const uint8_t s = qp_iq2_signs[q >> 9];
				for (int j = 0; j < 8; j++)
					y[j] = db[l / 2] * (float)g[j] * sign_of(s, j);
			}
		}
	}
}

void qp_deq_iq2_s(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_IQ2_S) {
		const float d = half_at(b);
		const uint8_t *qs = b + 2, *signs = b + 2 + 32;
		const uint8_t *qh = b + 66, *scales = b + 74;
		for (int ib = 0; ib < 8; ib++, qs += 4, signs += 4) {
			float db[2];
			db[0] = d * (0.5f + (float)(scales[ib] & 0x0f)) * 0.25f;
			db[1] = d * (0.5f + (float)(scales[ib] >> 4)) * 0.25f;
			for (int l = 0; l < 4; l++, y += 8) {
				int idx = qs[l] | ((qh[ib] << (8 - 2 * l)) & 0x300);
				const uint8_t *g = qp_iq2s_grid[idx];
				for (int j = 0; j < 8; j++)
					y[j] = db[l / 2] * (float)g[j] *
					       sign_of(signs[l], j);
			}
		}
	}
}

void qp_deq_iq3_xxs(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_IQ3_XXS) {
		const float d = half_at(b);
		const uint8_t *qs = b + 2, *scales_signs = b + 2 + 64;
		for (int ib = 0; ib < 8; ib++, qs += 8) {
			const uint32_t aux = le_u32(scales_signs + 4 * ib);
			const float db = d * (0.5f + (float)(aux >> 28)) * 0.5f;
			for (int l = 0; l < 4; l++, y += 8) {
				const uint8_t s = qp_iq2_signs[(aux >> (7 * l)) & 127];
				const uint8_t *g1 = qp_iq3xxs_grid[qs[2 * l]];
				const uint8_t *g2 = qp_iq3xxs_grid[qs[2 * l + 1]];
				for (int j = 0; j < 4; j++) {
					y[j] = db * (float)g1[j] * sign_of(s, j);
					y[j + 4] = db * (float)g2[j] * sign_of(s, j + 4);
				}
			}
		}
	}
}

/* Eight values of IQ3_S: two grid points whose 9th index bits come from
 * qh, signs from one byte. */
static void iq3_s_eight(float *y, float db, const uint8_t *qs, uint8_t qh,
			int l, uint8_t signs)
{
	const uint8_t *g1 = qp_iq3s_grid[qs[2 * l] | ((qh << (8 - 2 * l)) & 256)];
	const uint8_t *g2 = qp_iq3s_grid[qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256)];
	for (int j = 0; j < 4; j++) {
		y[j] = db * (float)g1[j] * sign_of(signs, j);
		y[j + 4] = db * (float)g2[j] * sign_of(signs, j + 4);
	}
}

void qp_deq_iq3_s(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_IQ3_S) {
		const float d = half_at(b);
		const uint8_t *qs = b + 2, *qh = b + 66, *signs = b + 74;
		const uint8_t *scales = b + 106;
		for (int ib = 0; ib < 8; ib += 2) {
			const float db1 = d * (float)(1 + 2 * (scales[ib / 2] & 0x0f));
			const float db2 = d * (float)(1 + 2 * (scales[ib / 2] >> 4));
			for (int l = 0; l < 4; l++, y += 8)
				iq3_s_eight(y, db1, qs, qh[0], l, signs[l]);
			qs += 8;
			signs += 4;
			for (int l = 0; l < 4; l++, y += 8)
				iq3_s_eight(y, db2, qs, qh[1], l, signs[l]);
			qh += 2;
			qs += 8;
			signs += 4;
		}
	}
}

void qp_deq_iq1_s(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_IQ1_S) {
		const float d = half_at(b);
		const uint8_t *qs = b + 2;
		for (int ib = 0; ib < 8; ib++, qs += 4) {
			const uint16_t qh = le_u16(b + 34 + 2 * ib);
			const float dl = d * (float)(2 * ((qh >> 12) & 7) + 1);
			const float delta = qh & 0x8000 ? -QP_IQ1S_DELTA : QP_IQ1S_DELTA;
			for (int l = 0; l < 4; l++, y += 8) {
				const int8_t *g = qp_iq1s_grid[qs[l] | ((qh >> (3 * l)) & 7) << 8];
				for (int j = 0; j < 8; j++)
					y[j] = dl * ((float)g[j] + delta);
			}
		}
	}
}

void qp_deq_iq1_m(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_IQ1_M) {
		const uint8_t *qs = b, *qh = b + 32;
		uint16_t sc[4];
		for (int k = 0; k < 4; k++)
			sc[k] = le_u16(b + 48 + 2 * k);
		/* the fp16 super-block scale is spread over the top nibbles */
		const uint16_t dbits = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) |
						  ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
		const float d = qp_fp16_to_fp32(dbits);
		for (int ib = 0; ib < 8; ib++, qs += 4, qh += 2) {
			const int shift = 6 * (ib % 2);
			const float dl1 = d * (float)(2 * ((sc[ib / 2] >> shift) & 7) + 1);
			const float dl2 = d * (float)(2 * ((sc[ib / 2] >> (shift + 3)) & 7) + 1);
			const int idx[4] = {
				qs[0] | ((qh[0] << 8) & 0x700),
				qs[1] | ((qh[0] << 4) & 0x700),
				qs[2] | ((qh[1] << 8) & 0x700),
				qs[3] | ((qh[1] << 4) & 0x700),
			};
			const uint8_t dmask[4] = {qh[0] & 0x08, qh[0] & 0x80,
						  qh[1] & 0x08, qh[1] & 0x80};
			for (int l = 0; l < 4; l++, y += 8) {
				const float dl = l < 2 ? dl1 : dl2;
				const float delta = dmask[l] ? -QP_IQ1S_DELTA : QP_IQ1S_DELTA;
				const int8_t *g = qp_iq1s_grid[idx[l]];
				for (int j = 0; j < 8; j++)
					y[j] = dl * ((float)g[j] + delta);
			}
		}
	}
}

void qp_deq_iq4_nl(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_IQ4_NL, y += QP_QK32) {
		const float d = half_at(b);
		for (int j = 0; j < 16; j++) {
			y[j] = d * (float)qp_iq4nl_values[b[2 + j] & 0x0f];
			y[j + 16] = d * (float)qp_iq4nl_values[b[2 + j] >> 4];
		}
	}
}

void qp_deq_iq4_xs(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += QP_BLOCK_IQ4_XS) {
		const float d = half_at(b);
		const uint16_t scales_h = le_u16(b + 2);
		const uint8_t *scales_l = b + 4, *qs = b + 8;
		for (int ib = 0; ib < 8; ib++, y += 32, qs += 16) {
			int ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) |
				 ((scales_h >> (2 * ib)) & 3) << 4;
			const float dl = d * (float)(ls - 32);
			for (int j = 0; j < 16; j++) {
				y[j] = dl * (float)qp_iq4nl_values[qs[j] & 0x0f];
				y[j + 16] = dl * (float)qp_iq4nl_values[qs[j] >> 4];
			}
		}
	}
}

/* ---- dispatch ----------------------------------------------------------- */

bool qp_can_dequantize(uint32_t type)
{
	const qp_type_ops *ops = qp_type_ops_for(type);
	return ops && ops->decode;
}

int qp_dequantize(uint32_t type, const void *src, float *dst, int64_t n,
		  qp_err *e)
{
	char name[16];
	const qp_type_ops *ops = qp_type_ops_for(type);
	qp_decode_fn fn = ops ? ops->decode : NULL;
	const qp_type_info *ti = qp_type_info_by_id(type);
	if (!fn || !ti || ti->block_size == 0)
		return qp_fail(e, "cannot dequantize type %s",
			       qp_type_name(type, name));
	if (n < 0 || n % ti->block_size != 0)
		return qp_fail(e, "%s: %lld elements is not a multiple of the "
			       "block size %u", ti->name, (long long)n,
			       ti->block_size);
	/* plain types take an element count, block types a block count */
	fn(src, dst, ti->block_size == 1 ? n : n / ti->block_size);
	return 0;
}
