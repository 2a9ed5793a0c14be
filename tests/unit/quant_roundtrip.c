/* quant_roundtrip: quant.h on synthetic data — hand-made blocks decode to
 * the values the format defines, quantize/dequantize round trips stay
 * within each type's error, types that ignore the imatrix ignore it,
 * llama-quantize's fallback rules, and bad arguments fail cleanly. */
#include <stdint.h>
#include <stdlib.h>

#include "../tap.h"
#include "fp16.h"
#include "iq_tables.h"
#include "quant.h"
#include "types.h"

/* ---- constant tables ---------------------------------------------------- */

static uint64_t fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static int all_in(const uint8_t *b, size_t n, const uint8_t *set, int nset)
{
	for (size_t i = 0; i < n; i++) {
		int found = 0;
		for (int k = 0; k < nset; k++)
			found |= b[i] == set[k];
		if (!found)
			return 0;
	}
	return 1;
}

/* FNV-1a of each table's bytes, computed with a separate script from
 * ggml-common.h's own text: guards against any edit of iq_tables.c. */
static void check_tables(void)
{
	static const struct {
		const char *name;
		const void *data;
		size_t size;
		uint64_t fnv;
	} t[] = {
		{"iq2xxs_grid", qp_iq2xxs_grid, sizeof qp_iq2xxs_grid, 0xbb4ee025b5ac6e8eull},
		{"iq2xs_grid", qp_iq2xs_grid, sizeof qp_iq2xs_grid, 0xc9b1ee61e79909bdull},
		{"iq2s_grid", qp_iq2s_grid, sizeof qp_iq2s_grid, 0x123edd38a3b62b90ull},
		{"iq3xxs_grid", qp_iq3xxs_grid, sizeof qp_iq3xxs_grid, 0xdfa5dc83d6a155d5ull},
		{"iq3s_grid", qp_iq3s_grid, sizeof qp_iq3s_grid, 0xfa37020c25b44829ull},
		{"iq1s_grid", qp_iq1s_grid, sizeof qp_iq1s_grid, 0x6703ed863501ae2eull},
		{"ksigns_iq2xs", qp_iq2_signs, sizeof qp_iq2_signs, 0xf19ba8f8c3292ba5ull},
		{"kvalues_iq4nl", qp_iq4nl_values, sizeof qp_iq4nl_values, 0x055d06d2d8fa0f75ull},
		{"kvalues_mxfp4", qp_mxfp4_values, sizeof qp_mxfp4_values, 0x3f0e3c08af1e5eb5ull},
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		ok(fnv1a(t[i].data, t[i].size) == t[i].fnv,
		   "%s: %zu bytes, same as ggml-common.h", t[i].name, t[i].size);
	static const uint8_t iq2[3] = {8, 25, 43};
	static const uint8_t iq1[3] = {0xff, 0, 1};
	static const uint8_t iq3s[8] = {1, 3, 5, 7, 9, 11, 13, 15};
	ok(all_in(&qp_iq2xxs_grid[0][0], sizeof qp_iq2xxs_grid, iq2, 3) &&
	   all_in(&qp_iq2xs_grid[0][0], sizeof qp_iq2xs_grid, iq2, 3) &&
	   all_in(&qp_iq2s_grid[0][0], sizeof qp_iq2s_grid, iq2, 3),
	   "IQ2 grids hold only the magnitudes 8, 25, 43");
	ok(all_in((const uint8_t *)&qp_iq1s_grid[0][0], sizeof qp_iq1s_grid, iq1, 3),
	   "IQ1 grid holds only -1, 0, +1");
	ok(all_in(&qp_iq3s_grid[0][0], sizeof qp_iq3s_grid, iq3s, 8),
	   "IQ3_S grid holds only odd magnitudes 1..15");
	int parity = 1;
	for (int i = 0; i < 128; i++) {
		int bits = __builtin_popcount(qp_iq2_signs[i]);
		parity &= (qp_iq2_signs[i] & 127) == i && bits % 2 == 0;
	}
	ok(parity, "ksigns: 7 stored sign bits plus an even-parity bit");
}

/* ---- known encodings ---------------------------------------------------- */

static int same_floats(const float *got, const float *want, int n)
{
	for (int i = 0; i < n; i++)
		if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
			diag("element %d: got %.9g, want %.9g", i, got[i],
			     want[i]);
			return 0;
		}
	return 1;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void check_known_blocks(void)
{
	qp_err e;
	uint8_t b[256];
	float y[256], want[256];

	/* Q4_0: d = 0.5 (0x3800); nibble q gives (q - 8) * d; element j in
	 * the low nibble of byte j, element j+16 in the high nibble */
	put16(b, 0x3800);
	for (int j = 0; j < 16; j++)
		b[2 + j] = (uint8_t)(j | (15 - j) << 4);
	for (int j = 0; j < 16; j++) {
		want[j] = (float)(j - 8) * 0.5f;
		want[j + 16] = (float)(7 - j) * 0.5f;
	}
	ok(qp_dequantize(QP_Q4_0, b, y, 32, &e) == 0 && same_floats(y, want, 32),
	   "Q4_0 block decodes to (q - 8) * d");

	/* Q4_1: d = 2, m = -1: q * d + m */
	put16(b, 0x4000);
	put16(b + 2, 0xbc00);
	for (int j = 0; j < 16; j++)
		b[4 + j] = (uint8_t)(j | j << 4);
	for (int j = 0; j < 16; j++)
		want[j] = want[j + 16] = (float)j * 2.0f - 1.0f;
	ok(qp_dequantize(QP_Q4_1, b, y, 32, &e) == 0 && same_floats(y, want, 32),
	   "Q4_1 block decodes to q * d + m");

	/* Q5_0: fifth bit of element j is bit j of qh (little-endian u32) */
	memset(b, 0, 22);
	put16(b, 0x3c00);
	b[2] = 0x01;  /* element 0 */
	b[5] = 0x80;  /* element 31 */
	for (int j = 0; j < 32; j++)
		want[j] = -16.0f;
	want[0] = 0.0f;
	want[31] = 0.0f;
	ok(qp_dequantize(QP_Q5_0, b, y, 32, &e) == 0 && same_floats(y, want, 32),
	   "Q5_0 high bits come from qh");

	/* Q8_0: int8 * d */
	put16(b, 0x3c00);
	for (int j = 0; j < 32; j++) {
		b[2 + j] = (uint8_t)(int8_t)(j - 16);
		want[j] = (float)(j - 16);
	}
	ok(qp_dequantize(QP_Q8_0, b, y, 32, &e) == 0 && same_floats(y, want, 32),
	   "Q8_0 block decodes to q * d");

	/* Q1_0: bit set -> +d, clear -> -d */
	memset(b, 0, 18);
	put16(b, 0x3400); /* 0.25 */
	b[2] = 0x05;
	for (int j = 0; j < 128; j++)
		want[j] = -0.25f;
	want[0] = want[2] = 0.25f;
	ok(qp_dequantize(QP_Q1_0, b, y, 128, &e) == 0 &&
	   same_floats(y, want, 128), "Q1_0 block decodes to +-d");

	/* Q2_0: codes 0..3 -> -d, 0, d, 2d, four per byte from the LSB */
	put16(b, 0x4000);
	for (int j = 0; j < 16; j++)
		b[2 + j] = 0xe4; /* codes 0,1,2,3 */
	for (int j = 0; j < 64; j++)
		want[j] = (float)(j % 4 - 1) * 2.0f;
	ok(qp_dequantize(QP_Q2_0, b, y, 64, &e) == 0 && same_floats(y, want, 64),
	   "Q2_0 block decodes to (q - 1) * d");

	/* MXFP4: e = 128 gives d = 2^(128-128) = 1; e2m1 doubled values */
	static const float fp4[16] = {0, 1, 2, 3, 4, 6, 8, 12,
				      0, -1, -2, -3, -4, -6, -8, -12};
	b[0] = 128;
	for (int j = 0; j < 16; j++) {
		b[1 + j] = (uint8_t)(j | (15 - j) << 4);
		want[j] = fp4[j];
		want[j + 16] = fp4[15 - j];
	}
	ok(qp_dequantize(QP_MXFP4, b, y, 32, &e) == 0 && same_floats(y, want, 32),
	   "MXFP4 block decodes through the e2m1 table");

	/* IQ4_NL: d * kvalues_iq4nl[q] */
	static const int8_t nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
				      1, 13, 25, 38, 53, 69, 89, 113};
	put16(b, 0x3c00);
	for (int j = 0; j < 16; j++) {
		b[2 + j] = (uint8_t)(j | j << 4);
		want[j] = want[j + 16] = (float)nl[j];
	}
	ok(qp_dequantize(QP_IQ4_NL, b, y, 32, &e) == 0 &&
	   same_floats(y, want, 32), "IQ4_NL block decodes through kvalues");

	/* a signalling-NaN half comes out quiet, as from ggml and F16C */
	put16(b, 0x7c01);
	put16(b + 2, 0xfd00);
	ok(qp_dequantize(QP_F16, b, y, 2, &e) == 0 &&
	   qp_f32_bits(y[0]) == 0x7fc02000u && qp_f32_bits(y[1]) == 0xffe00000u,
	   "F16 NaNs decode quiet with their payload");

	/* TQ2_0: 2-bit codes q -> (q - 1) * d, 4 per byte in 32-byte groups */
	memset(b, 0, 66);
	for (int j = 0; j < 64; j++)
		b[j] = 0x24; /* codes 0,1,2,0 */
	put16(b + 64, 0x3c00);
	for (int g = 0; g < 2; g++)
		for (int l = 0; l < 4; l++)
			for (int m = 0; m < 32; m++)
				want[128 * g + 32 * l + m] = (float)((0x24 >> (2 * l) & 3) - 1);
	ok(qp_dequantize(QP_TQ2_0, b, y, 256, &e) == 0 &&
	   same_floats(y, want, 256), "TQ2_0 block decodes to (q - 1) * d");

	/* IQ2_XXS: per 32 values, 4 grid indices then a u32 of 4 x 7 sign
	 * bits and a 4-bit scale: db = d * (0.5 + s) * 0.25 */
	memset(b, 0, 66);
	put16(b, 0x3c00);
	b[2] = 1;                          /* group 0 uses grid point 1 */
	b[6] = 1;                          /* sign pattern 1 for group 0 */
	b[9] = 3 << 4;                     /* scale 3 in the top nibble */
	for (int j = 0; j < 256; j++)
		want[j] = j < 32 ? 0.875f * 8 : 1.0f;
	for (int j = 0; j < 8; j++)
		want[j] = 0.875f * (float)qp_iq2xxs_grid[1][j] *
			  (qp_iq2_signs[1] >> j & 1 ? -1.f : 1.f);
	ok(qp_dequantize(QP_IQ2_XXS, b, y, 256, &e) == 0 &&
	   same_floats(y, want, 256), "IQ2_XXS block: grid, signs and scale");

	/* IQ1_S: 8-bit index low bits in qs, 3 high bits per group, scale and
	 * delta sign in the u16 qh of each 32 values */
	memset(b, 0, 50);
	put16(b, 0x3c00);
	b[2] = 5;                          /* group 0: low index bits */
	put16(b + 34, (uint16_t)(0x8000 | 2 << 12 | 1)); /* high bits 1 */
	for (int j = 0; j < 256; j++)
		want[j] = 1.0f * ((float)qp_iq1s_grid[0][j % 8] + 0.125f);
	for (int j = 0; j < 32; j++)
		want[j] = 5.0f * ((float)qp_iq1s_grid[0][j % 8] - 0.125f);
	for (int j = 0; j < 8; j++)
		want[j] = 5.0f * ((float)qp_iq1s_grid[261][j] - 0.125f);
	ok(qp_dequantize(QP_IQ1_S, b, y, 256, &e) == 0 &&
	   same_floats(y, want, 256), "IQ1_S block: 11-bit index, scale, delta");

	/* TQ1_0: byte 0 encodes trits (2,1,0,2,1) as ceil(t*256/243) */
	memset(b, 0, 54);
	{
		const int t[5] = {2, 1, 0, 2, 1};
		unsigned v = 0;
		for (int k = 0; k < 5; k++)
			v = v * 3 + (unsigned)t[k];
		b[0] = (uint8_t)((v * 256 + 242) / 243);
		put16(b + 52, 0x3c00);
		ok(qp_dequantize(QP_TQ1_0, b, y, 256, &e) == 0 &&
		   y[0] == 1.0f && y[32] == 0.0f && y[64] == -1.0f &&
		   y[96] == 1.0f && y[128] == 0.0f && y[1] == -1.0f,
		   "TQ1_0 base-3 packing decodes trit by trit");
	}
}

/* ---- round trips on random data ----------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

/* Gaussian-ish weights with a few outliers, like real LLM weights. */
static void fill_weights(float *x, int64_t n, float scale)
{
	for (int64_t i = 0; i < n; i++) {
		double g = sqrt(-2 * log(uniform01())) * cos(6.283185307 * uniform01());
		if (uniform01() < 0.01)
			g *= 6;
		x[i] = (float)(g * scale);
	}
}

typedef struct bound {
	uint32_t type;
	double rel_rmse; /* rmse / rms of the data */
} bound;

static const bound bounds[] = {
	{QP_F32, 0}, {QP_F16, 1e-3}, {QP_BF16, 5e-3},
	{QP_Q8_0, 0.012}, {QP_Q5_0, 0.08}, {QP_Q5_1, 0.06},
	{QP_Q4_0, 0.16}, {QP_Q4_1, 0.12}, {QP_IQ4_NL, 0.12}, {QP_IQ4_XS, 0.12},
	{QP_MXFP4, 0.25}, {QP_Q6_K, 0.03}, {QP_Q5_K, 0.06}, {QP_Q4_K, 0.12},
	{QP_Q3_K, 0.25}, {QP_Q2_K, 0.45}, {QP_TQ1_0, 0.9}, {QP_TQ2_0, 0.9},
	{QP_Q2_0, 0.9}, {QP_Q1_0, 0.9},
};

static double rel_rmse(const float *x, const float *y, int64_t n)
{
	double se = 0, ss = 0;
	for (int64_t i = 0; i < n; i++) {
		double d = (double)x[i] - y[i];
		se += d * d;
		ss += (double)x[i] * x[i];
	}
	return sqrt(se / ss);
}

/* Error weighted by the importance of each column. */
static double weighted_se(const float *x, const float *y, const float *imat,
			  int64_t rows, int64_t cols)
{
	double se = 0;
	for (int64_t r = 0; r < rows; r++)
		for (int64_t c = 0; c < cols; c++) {
			double d = (double)x[r * cols + c] - y[r * cols + c];
			se += imat[c] * d * d;
		}
	return se;
}

static void check_roundtrips(void)
{
	enum { ROWS = 6, COLS = 512, N = ROWS * COLS };
	float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
	float *imat = malloc(COLS * sizeof *imat);
	uint8_t *q = malloc(N * 4), *q2 = malloc(N * 4);
	char tname[16];
	qp_err e;
	fill_weights(x, N, 0.02f);
	for (int i = 0; i < COLS; i++)
		imat[i] = (float)(uniform01() * uniform01() * 10);
	for (size_t k = 0; k < sizeof bounds / sizeof *bounds; k++) {
		const uint32_t t = bounds[k].type;
		const char *nm = qp_type_name(t, tname);
		int rc = qp_quantize(t, x, q, ROWS, COLS, NULL, &e);
		rc |= qp_dequantize(t, q, y, N, &e);
		double r = rel_rmse(x, y, N);
		ok(rc == 0 && r <= bounds[k].rel_rmse, "%s round trip: relative "
		   "rmse %.4f <= %.4f", nm, r, bounds[k].rel_rmse);
		rc = qp_quantize(t, x, q2, ROWS, COLS, imat, &e);
		rc |= qp_dequantize(t, q2, y, N, &e);
		r = rel_rmse(x, y, N);
		ok(rc == 0 && r <= bounds[k].rel_rmse * 1.5,
		   "%s with imatrix: relative rmse %.4f", nm, r);
		const qp_type_info *ti = qp_type_info_by_id(t);
		if (memcmp(q, q2, (size_t)N / ti->block_size * ti->type_size) == 0)
			continue; /* the imatrix does not change this type */
		double with = weighted_se(x, y, imat, ROWS, COLS);
		qp_dequantize(t, q, y, N, &e);
		double without = weighted_se(x, y, imat, ROWS, COLS);
		ok(with < without, "%s: the imatrix lowers the weighted "
			   "error (%.3g < %.3g)", nm, with, without);
	}
	/* types whose ggml encoder ignores quant_weights */
	static const uint32_t blind[] = {QP_F16, QP_BF16, QP_Q8_0, QP_MXFP4,
					 QP_Q1_0, QP_Q2_0, QP_TQ1_0, QP_TQ2_0};
	for (size_t k = 0; k < sizeof blind / sizeof *blind; k++) {
		const qp_type_info *ti = qp_type_info_by_id(blind[k]);
		size_t bytes = (size_t)N / ti->block_size * ti->type_size;
		qp_quantize(blind[k], x, q, ROWS, COLS, NULL, &e);
		qp_quantize(blind[k], x, q2, ROWS, COLS, imat, &e);
		ok(memcmp(q, q2, bytes) == 0, "%s ignores the imatrix",
		   ti->name);
	}
	/* zero rows stay zero */
	memset(x, 0, N * sizeof *x);
	for (size_t k = 0; k < sizeof bounds / sizeof *bounds; k++) {
		const uint32_t t = bounds[k].type;
		int rc = qp_quantize(t, x, q, ROWS, COLS, NULL, &e);
		rc |= qp_dequantize(t, q, y, N, &e);
		int zeros = rc == 0;
		for (int64_t i = 0; i < N && zeros; i++)
			zeros = y[i] == 0.0f || (t == QP_Q1_0 && fabsf(y[i]) == 0.0f);
		ok(zeros, "%s: zero rows decode to zeros",
		   qp_type_name(t, tname));
	}
	free(x);
	free(y);
	free(imat);
	free(q);
	free(q2);
}

/* The F16/BF16 encoders round to nearest even (fp16.h is verified
 * separately); spot-check the tie cases through qp_quantize. */
static void check_half_rounding(void)
{
	qp_err e;
	float x[4] = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65520.0f, -0.0f};
	uint8_t q[8];
	qp_quantize(QP_F16, x, q, 1, 4, NULL, &e);
	ok(q[0] == 0x00 && q[1] == 0x3c && q[2] == 0x02 && q[3] == 0x3c &&
	   q[4] == 0x00 && q[5] == 0x7c && q[6] == 0x00 && q[7] == 0x80,
	   "F16: ties to even, overflow to inf, -0 kept");
	float z[2] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f};
	qp_quantize(QP_BF16, z, q, 1, 2, NULL, &e);
	ok(q[0] == 0x80 && q[1] == 0x3f && q[2] == 0x82 && q[3] == 0x3f,
	   "BF16: ties to even");
}

/* ggml's portable fp32->fp16 (the one llama-quantize runs) writes every
 * NaN as sign | 0x7e00, payload dropped; F16C would keep it. */
static void check_nan_halves(void)
{
	qp_err e;
	const float nan_payload = qp_f32_from_bits(0x7fc7e000u);
	float h[2] = {nan_payload, -nan_payload};
	uint8_t q[9 * 34];
	qp_quantize(QP_F16, h, q, 1, 2, NULL, &e);
	ok(q[0] == 0x00 && q[1] == 0x7e && q[2] == 0x00 && q[3] == 0xfe,
	   "F16: a NaN's payload is dropped, its sign kept");
	/* Q8_0's amax is NaN when a block's last value is: blocks 2 (inside
	 * an eight-block batch) and 8 (the tail) get a NaN scale */
	float x[9 * 32];
	for (int i = 0; i < 9 * 32; i++)
		x[i] = 0.5f;
	x[2 * 32 + 31] = x[8 * 32 + 31] = nan_payload;
	qp_quantize(QP_Q8_0, x, q, 1, 9 * 32, NULL, &e);
	ok(q[2 * 34] == 0x00 && q[2 * 34 + 1] == 0x7e && q[8 * 34] == 0x00 &&
	   q[8 * 34 + 1] == 0x7e, "Q8_0: a NaN scale is stored as ggml's 0x7e00");
}

/* ---- fallbacks ---------------------------------------------------------- */

static void check_fallbacks(void)
{
	static const struct {
		uint32_t type;
		int64_t ne0;
		uint32_t want;
		bool ok;
	} cases[] = {
		{QP_Q4_K, 256, QP_Q4_K, true},
		{QP_Q2_K, 64, QP_Q4_0, true}, {QP_Q3_K, 64, QP_Q4_0, true},
		{QP_TQ1_0, 64, QP_Q4_0, true}, {QP_TQ2_0, 64, QP_Q4_0, true},
		{QP_Q4_K, 64, QP_Q5_0, true}, {QP_Q5_K, 64, QP_Q5_1, true},
		{QP_Q6_K, 64, QP_Q8_0, true}, {QP_IQ2_XXS, 64, QP_IQ4_NL, true},
		{QP_IQ1_M, 64, QP_IQ4_NL, true}, {QP_IQ3_S, 64, QP_IQ4_NL, true},
		{QP_IQ4_XS, 64, QP_IQ4_NL, true},
		{QP_Q2_K, 172, QP_F16, true}, {QP_Q6_K, 172, QP_F16, true},
		{QP_IQ4_XS, 172, QP_F16, true},
		{QP_Q2_0, 64, QP_Q2_0, true}, {QP_Q2_0, 96, QP_Q4_0, true},
		{QP_Q2_0, 172, QP_F16, true},
		{QP_Q1_0, 64, QP_Q1_0, false}, {QP_Q1_0, 256, QP_Q1_0, true},
		{QP_Q4_0, 172, QP_Q4_0, false}, {QP_Q8_0, 172, QP_Q8_0, false},
		{QP_IQ4_NL, 172, QP_IQ4_NL, false}, {QP_MXFP4, 172, QP_MXFP4, false},
		{QP_Q4_0, 64, QP_Q4_0, true},
		{QP_F16, 172, QP_F16, true}, {QP_F32, 7, QP_F32, true},
		{QP_BF16, 172, QP_BF16, true},
	};
	char a[16], b[16], c[16];
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		bool good = !cases[i].ok;
		uint32_t got = qp_quant_fallback(cases[i].type, cases[i].ne0, &good);
		ok(good == cases[i].ok && (!good || got == cases[i].want),
		   "fallback %s at ne0 %lld -> %s%s (got %s)",
		   qp_type_name(cases[i].type, a), (long long)cases[i].ne0,
		   qp_type_name(cases[i].want, b), cases[i].ok ? "" : " (abort)",
		   qp_type_name(got, c));
	}
}

/* ---- capabilities and errors -------------------------------------------- */

static void check_capabilities(void)
{
	static const uint32_t deq[] = {
		QP_F32, QP_F16, QP_BF16, QP_Q4_0, QP_Q4_1, QP_Q5_0, QP_Q5_1,
		QP_Q8_0, QP_Q2_K, QP_Q3_K, QP_Q4_K, QP_Q5_K, QP_Q6_K, QP_IQ1_S,
		QP_IQ1_M, QP_IQ2_XXS, QP_IQ2_XS, QP_IQ2_S, QP_IQ3_XXS, QP_IQ3_S,
		QP_IQ4_NL, QP_IQ4_XS, QP_TQ1_0, QP_TQ2_0, QP_MXFP4, QP_Q1_0,
		QP_Q2_0};
	int all = 1;
	for (size_t i = 0; i < sizeof deq / sizeof *deq; i++)
		all &= qp_can_dequantize(deq[i]);
	ok(all, "every ggml block type in use can be dequantized");
	ok(!qp_can_dequantize(QP_Q8_1) && !qp_can_dequantize(4) &&
	   !qp_can_dequantize(1000), "Q8_1, removed and unknown ids cannot");
	static const uint32_t q[] = {
		QP_F32, QP_F16, QP_BF16, QP_Q4_0, QP_Q4_1, QP_Q5_0, QP_Q5_1,
		QP_Q8_0, QP_IQ4_NL, QP_IQ4_XS, QP_TQ1_0, QP_TQ2_0, QP_MXFP4,
		QP_Q1_0, QP_Q2_0, QP_Q2_K, QP_Q3_K, QP_Q4_K, QP_Q5_K, QP_Q6_K};
	all = 1;
	for (size_t i = 0; i < sizeof q / sizeof *q; i++)
		all &= qp_can_quantize(q[i]);
	ok(all, "every llama-quantize target can be quantized");
	ok(qp_can_quantize(QP_IQ2_XXS) && qp_can_quantize(QP_IQ3_S) &&
	   qp_can_quantize(QP_IQ1_M) && qp_can_quantize(QP_NVFP4) &&
	   !qp_can_quantize(QP_Q8_K),
	   "grid IQ types and NVFP4 too (tests/unit/quant_iq.c), not Q8_K");
	ok(qp_quant_requires_imatrix(QP_IQ2_XXS) &&
	   qp_quant_requires_imatrix(QP_IQ3_XXS) &&
	   qp_quant_requires_imatrix(QP_IQ1_M) &&
	   !qp_quant_requires_imatrix(QP_IQ3_S) &&
	   !qp_quant_requires_imatrix(QP_Q2_K) &&
	   !qp_quant_requires_imatrix(QP_IQ4_XS),
	   "imatrix requirement as in llama-quantize");

	qp_err e;
	float x[64] = {0}, y[64];
	uint8_t b[256];
	e.msg[0] = '\0';
	ok(qp_quantize(QP_Q4_0, x, b, 1, 48, NULL, &e) == -1 &&
	   strstr(e.msg, "block size") != NULL,
	   "quantize rejects rows that are not whole blocks: %s", e.msg);
	ok(qp_quantize(QP_Q8_K, x, b, 1, 256, NULL, &e) == -1 &&
	   strstr(e.msg, "Q8_K") != NULL,
	   "quantize rejects an unsupported type: %s", e.msg);
	ok(qp_quantize(1000, x, b, 1, 32, NULL, &e) == -1,
	   "quantize rejects an unknown id: %s", e.msg);
	ok(qp_dequantize(QP_Q8_0, b, y, 48, &e) == -1,
	   "dequantize rejects a partial block: %s", e.msg);
	ok(qp_dequantize(77, b, y, 32, &e) == -1,
	   "dequantize rejects an unknown id: %s", e.msg);
	ok(qp_quantize(QP_Q4_0, x, b, 0, 32, NULL, &e) == 0,
	   "zero rows is fine");
}

/* Fingerprints of the imatrix encodings of fixed pseudo-random rows, made
 * with the plain transcription of ggml's loops (Q4_0/Q5_0/IQ4_NL are also
 * checked against llama-quantize's own output in quant_fixtures; Q4_1,
 * Q5_1 and IQ4_XS with an imatrix have no fixture): any later rewrite for
 * speed must keep them. */
static void check_imatrix_golden(int print)
{
	enum { ROWS = 8, COLS = 1024, N = ROWS * COLS };
	static const struct {
		uint32_t type;
		uint64_t fnv;
	} golden[] = {
		{QP_Q4_0, 0x59054d1775bfc5d8ull}, {QP_Q4_1, 0xf094f2a8b6b320aaull},
		{QP_Q5_0, 0x43ea8a50315b6fe8ull}, {QP_Q5_1, 0xc8385d922b113f62ull},
		{QP_IQ4_NL, 0x31d6e48ec4a81d35ull}, {QP_IQ4_XS, 0x06b0dd1f781178c6ull},
	};
	float *x = malloc(N * sizeof *x), *imat = malloc(COLS * sizeof *imat);
	uint8_t *q = malloc(N * 4);
	qp_err e;
	rng_state = 0x243f6a8885a308d3ull;
	fill_weights(x, N, 0.05f);
	for (int i = 0; i < COLS; i++)
		imat[i] = (float)(uniform01() * uniform01() * 100);
	for (size_t k = 0; k < sizeof golden / sizeof *golden; k++) {
		const qp_type_info *ti = qp_type_info_by_id(golden[k].type);
		size_t bytes = (size_t)N / ti->block_size * ti->type_size;
		qp_quantize(golden[k].type, x, q, ROWS, COLS, imat, &e);
		uint64_t h = fnv1a(q, bytes);
		if (print)
			printf("%s 0x%016llxull\n", ti->name, (unsigned long long)h);
		else
			ok(h == golden[k].fnv, "%s with imatrix: same bytes as "
			   "the reference transcription", ti->name);
	}
	free(x);
	free(imat);
	free(q);
}

/* Rows made to hit the edges of the nearest-level searches and roundings:
 * values that are exactly the midpoints between two IQ4_NL levels at the
 * first candidate scale (a block whose largest value is 127 * 2^-k makes
 * that scale 2^-k; the same blocks put Q8_0's x/d on exact halves), levels
 * themselves, ties, NaN, infinities, denormals, constant and all-negative
 * blocks.  The fingerprints were made with the plain C code (the
 * transcription of ggml's loops, what `make check-plain` builds); the SSE2
 * paths must give the same bytes. */
static void fill_edges(float *x, int64_t n)
{
	const int8_t *v = qp_iq4nl_values;
	fill_weights(x, n, 0.03f);
	for (int64_t b = 0; b < n / 32; b++) {
		float *xb = x + 32 * b;
		const float s = ldexpf(1.f, -(int)(b % 9) - 3);
		switch (b % 8) {
		case 0: case 1: case 2: /* midpoints and levels, scaled */
			for (int j = 0; j < 32; j++) {
				int k = (int)(uniform01() * 15);
				float mid = ((float)v[k] + (float)v[k + 1]) / 2;
				float val = uniform01() < 0.3 ? (float)v[k] : mid;
				xb[j] = (uniform01() < 0.5 ? -val : val) * s;
			}
			xb[(b * 7) % 32] = (b % 2 ? -127.f : 127.f) * s;
			break;
		case 3: /* few distinct values: ties */
			for (int j = 0; j < 32; j++)
				xb[j] = (float)((int)(uniform01() * 7) - 3) * 0.01f;
			break;
		case 4: /* special values */
			if (b % 24 == 4)
				xb[5] = NAN;
			else if (b % 24 == 12)
				xb[9] = INFINITY;
			else
				xb[31] = -INFINITY;
			break;
		case 5: /* denormals */
			for (int j = 0; j < 32; j++)
				xb[j] = (float)(j - 16) * 1e-40f;
			break;
		case 6: /* constant, or all negative */
			for (int j = 0; j < 32; j++)
				xb[j] = b % 16 == 6 ? 0.25f : -fabsf(xb[j]);
			break;
		default:
			break;
		}
	}
}

/* One fingerprint: a type, with or without the importance matrix. */
typedef struct golden_case {
	uint32_t type;
	bool imatrix;
	uint64_t fnv;
} golden_case;

/* Quantizes ROWS x COLS values made by fill (from seed) with every case's
 * type and compares the bytes' hash with the case's, or prints the hashes
 * (--print-golden, run on the plain C build to make them). */
static void check_golden(const golden_case *golden, size_t ncases, int rows,
			 int cols, void (*fill)(float *, int64_t), uint64_t seed,
			 const char *what, int print)
{
	const int n = rows * cols;
	float *x = malloc((size_t)n * sizeof *x), *imat = malloc((size_t)cols * sizeof *imat);
	uint8_t *q = malloc((size_t)n * 4);
	qp_err e;
	rng_state = seed;
	fill(x, n);
	for (int i = 0; i < cols; i++)
		imat[i] = (float)(uniform01() * uniform01() * 100);
	for (size_t k = 0; k < ncases; k++) {
		const qp_type_info *ti = qp_type_info_by_id(golden[k].type);
		size_t bytes = (size_t)n / ti->block_size * ti->type_size;
		qp_quantize(golden[k].type, x, q, rows, cols,
			    golden[k].imatrix ? imat : NULL, &e);
		uint64_t h = fnv1a(q, bytes);
		if (print)
			printf("%s %s 0x%016llxull\n", ti->name,
			       golden[k].imatrix ? "imatrix" : "plain",
			       (unsigned long long)h);
		else
			ok(h == golden[k].fnv, "%s %s on %s: same bytes as the "
			   "plain C code", ti->name,
			   golden[k].imatrix ? "with imatrix" : "without imatrix", what);
	}
	free(x);
	free(imat);
	free(q);
}

static void check_edge_golden(int print)
{
	static const golden_case golden[] = {
		{QP_IQ4_NL, false, 0x684372316b295a6full},
		{QP_IQ4_NL, true, 0x405cae4a54f9a097ull},
		{QP_IQ4_XS, false, 0x46c6eae69ae7649dull},
		{QP_IQ4_XS, true, 0x704c0c83215e2419ull},
		{QP_Q8_0, false, 0x4d89ecdee1618d2bull},
		{QP_MXFP4, false, 0x536cf5884416865dull},
		{QP_NVFP4, false, 0x4cc86814e2c6af2full},
		{QP_Q4_0, false, 0x7b483c9d58b7de34ull},
		{QP_Q4_1, false, 0x78af214aa3eba700ull},
		{QP_Q5_0, false, 0x89fe5554e32fc400ull},
		{QP_Q5_1, false, 0x64cbc4e929f76c71ull},
	};
	check_golden(golden, sizeof golden / sizeof *golden, 8, 1024, fill_edges,
		     0x13198a2e03707344ull, "edge values", print);
}

/* Rows made for the eight-block vector paths of the legacy encoders and
 * MXFP4: 13 blocks a row (a batch of eight and a tail), and among them
 * blocks whose largest magnitude comes twice with both signs (either sign
 * first), both infinities, NaN alone and all NaN, +0/-0 mixtures, a zero
 * as the minimum, constant blocks, scales whose half overflows or is
 * subnormal or sits on a rounding tie, MXFP4 levels and midpoints at
 * exact powers of two and at the ends of the float range (where 20 d,
 * a sum of two MXFP4 levels, overflows).  Fingerprints
 * made with the plain C code. */
static void fill_batch_edges(float *x, int64_t n)
{
	const int8_t *v = qp_mxfp4_values;
	fill_weights(x, n, 0.03f);
	for (int64_t b = 0; b < n / 32; b++) {
		float *xb = x + 32 * b;
		const float s = ldexpf(1.f, -(int)(b % 5));
		switch (b % 17) {
		case 0: /* the largest magnitude twice, negative first */
			xb[3] = -0.5f;
			xb[20] = 0.5f;
			break;
		case 1: /* ... positive first */
			xb[2] = 0.25f;
			xb[30] = -0.25f;
			break;
		case 2:
			xb[7] = INFINITY;
			xb[1] = -INFINITY;
			break;
		case 3: /* scales too large for a half */
			for (int j = 0; j < 32; j++)
				xb[j] *= 3e7f;
			break;
		case 4: /* scales that are subnormal halves */
			for (int j = 0; j < 32; j++)
				xb[j] *= 1e-4f;
			break;
		case 5: /* d = 1 + 2^-11 (Q4_0) or 127 (1 + 3 2^-11) / 127: ties */
			xb[9] = -8.f * (1.f + 0x1p-11f);
			xb[10] = 127.f * (1.f + 3 * 0x1p-11f) / 32;
			break;
		case 6:
			xb[13] = NAN;
			break;
		case 7:
			for (int j = 0; j < 32; j++)
				xb[j] = j % 3 ? -0.0f : 0.0f;
			break;
		case 8: /* a zero minimum, a -0 after it */
			for (int j = 0; j < 32; j++)
				xb[j] = fabsf(xb[j]) + 0.01f;
			xb[5] = 0.0f;
			xb[17] = -0.0f;
			break;
		case 9:
			for (int j = 0; j < 32; j++)
				xb[j] = -0.5f;
			break;
		case 10: /* MXFP4 levels and midpoints at d = s */
			for (int j = 0; j < 32; j++) {
				int k = (int)(uniform01() * 7);
				float val = uniform01() < 0.5 ? (float)v[k]
					: ((float)v[k] + (float)v[k + 1]) / 2;
				xb[j] = (uniform01() < 0.5 ? -val : val) * s / 2;
			}
			xb[0] = 12.f * s / 2;
			break;
		case 11: /* near the top of the float range */
			for (int j = 0; j < 32; j++)
				xb[j] *= 0x1p110f;
			break;
		case 12: /* small normal floats */
			for (int j = 0; j < 32; j++)
				xb[j] *= 0x1p-110f;
			break;
		case 13: /* the largest magnitude a power of two */
			xb[4] = -4.0f;
			break;
		case 14:
			for (int j = 0; j < 32; j++)
				xb[j] = NAN;
			break;
		case 15: /* negative only, the maximum a zero */
			for (int j = 0; j < 32; j++)
				xb[j] = -fabsf(xb[j]);
			xb[11] = 0.0f;
			break;
		case 16: /* the top of the float range: MXFP4 e = 252, 253 */
			for (int j = 0; j < 32; j++)
				xb[j] *= 1e38f;
			xb[6] = b % 2 ? 3e38f : -3.3e38f;
			xb[21] = b % 2 ? -2.9e38f : 1.9e38f;
			break;
		default:
			break;
		}
	}
}

static void check_batch_edge_golden(int print)
{
	static const golden_case golden[] = {
		{QP_Q4_0, false, 0xdc0131870059221cull},
		{QP_Q4_1, false, 0x11c2167a4846c599ull},
		{QP_Q5_0, false, 0x69cd410411d156b7ull},
		{QP_Q5_1, false, 0x7722fc9c29a60952ull},
		{QP_Q8_0, false, 0x61fab50517667427ull},
		{QP_MXFP4, false, 0x70b6b04e929d5782ull},
		{QP_Q4_0, true, 0x29358ec75b38a469ull},
		{QP_Q4_1, true, 0x9f1184039fa60f24ull},
		{QP_Q5_0, true, 0xa7ef1c1cc56c863full},
		{QP_Q5_1, true, 0x93d2559c5cda1292ull},
	};
	check_golden(golden, sizeof golden / sizeof *golden, 6, 13 * 32, fill_batch_edges,
		     0xa4093822299f31d0ull, "batch edge values", print);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--print-golden") == 0) {
		check_imatrix_golden(1);
		check_edge_golden(1);
		check_batch_edge_golden(1);
		return 0;
	}
	check_tables();
	check_known_blocks();
	check_roundtrips();
	check_half_rounding();
	check_nan_halves();
	check_fallbacks();
	check_capabilities();
	check_imatrix_golden(0);
	check_edge_golden(0);
	check_batch_edge_golden(0);
	done_testing();
	return exit_status();
}
