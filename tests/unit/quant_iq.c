/* Unit tests for the grid quantizers and NVFP4 (common/quant_iq.c).
 * Bit-exactness with ggml is checked against the real llama-quantize in
 * tests/t0410-qerr-grid.t; here: error bounds, the imatrix rules, the
 * once-built neighbour maps under concurrent first use, NVFP4 blocks, and
 * fingerprints of the encodings (made by the version the shell test
 * verified) that any rewrite for speed must keep. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../golden.h"
#include "quant.h"
#include "types.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform01(void)
{
	return xorshift01(&rng_state);
}

/* Heavy-tailed weights (a Student-t with 3 degrees of freedom, scaled),
 * with some exact ties and an all-zero and a tiny group: the cases where
 * sort order and thresholds matter. */
static void fill(float *x, int64_t n, float scale)
{
	for (int64_t i = 0; i < n; i++) {
		double z = 0, c = 0;
		for (int k = 0; k < 4; k++) {
			double u = uniform01() * 2 - 1;
			if (k == 0)
				z = u * 1.7;
			else
				c += u * u;
		}
		x[i] = (float)(scale * z / sqrt(c / 3 + 1e-3));
	}
	for (int64_t i = 64; i + 8 < n; i += 97)
		x[i + 3] = x[i + 5] = x[i]; /* ties */
	if (n >= 1024) {
		memset(x + 512, 0, 32 * sizeof *x);	/* an empty group */
		for (int i = 768; i < 800; i++)		/* a tiny group */
			x[i] = 1e-9f * (float)(i % 7 - 3);
	}
}

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

enum { ROWS = 4, COLS = 1024, N = ROWS * COLS };

static const struct grid_case {
	uint32_t type;
	double bound;		/* relative rmse with the imatrix */
	bool plain;		/* ggml quantizes it without an imatrix */
	uint64_t fnv_imat, fnv_plain;
} cases[] = {
	/* IQ3_S: ggml packs the groups after fill's empty one a slot early
	 * (quant_ggml_edges), so that super-block decodes wrong, as llama.cpp
	 * decodes it: hence the looser bound */
	{QP_IQ3_S, 0.40, true, 0x876c0dd0249806a1ull, 0x3c0e0405d129cc62ull},
	{QP_IQ3_XXS, 0.30, true, 0x0531c9175aeff588ull, 0x107d437932894072ull},
	{QP_IQ2_S, 0.40, true, 0x09d5b341e6aa5cffull, 0x80ba68bb462e7e2aull},
	{QP_IQ2_XS, 0.45, false, 0x5964a2c06771e374ull, 0},
	{QP_IQ2_XXS, 0.50, false, 0x067551e26aca9008ull, 0},
	{QP_IQ1_M, 0.65, true, 0x13575f4cec2b42f0ull, 0x3b4c27049ebbdd6cull},
	{QP_IQ1_S, 0.70, false, 0xb5e45c0d76a9fc19ull, 0},
	{QP_NVFP4, 0.20, true, 0xfc3db00eee16a9f8ull, 0xfc3db00eee16a9f8ull},
};

static float *x, *imat, *y;
static uint8_t *q;

static size_t nbytes(uint32_t t)
{
	const qp_type_info *ti = qp_type_info_by_id(t);
	return (size_t)N / ti->block_size * ti->type_size;
}

static void check_cases(int print)
{
	char buf[16];
	qp_err e;
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		const struct grid_case *c = &cases[k];
		const char *nm = qp_type_name(c->type, buf);
		int rc = qp_quantize(c->type, x, q, ROWS, COLS, imat, &e);
		uint64_t h = fnv1a(q, nbytes(c->type));
		rc |= qp_dequantize(c->type, q, y, N, &e);
		double r = rel_rmse(x, y, N);
		uint64_t hp = 0;
		if (c->plain) {
			qp_quantize(c->type, x, q, ROWS, COLS, NULL, &e);
			hp = fnv1a(q, nbytes(c->type));
		}
		if (print) {
			printf("%s 0x%016llxull 0x%016llxull\n", nm,
			       (unsigned long long)h, (unsigned long long)hp);
			continue;
		}
		ok(rc == 0 && r <= c->bound, "%s with imatrix: relative rmse "
		   "%.4f <= %.2f", nm, r, c->bound);
		ok(h == c->fnv_imat, "%s with imatrix: same bytes as the "
		   "version checked against llama-quantize", nm);
		if (c->plain)
			ok(hp == c->fnv_plain, "%s without imatrix: same bytes "
			   "as the checked version", nm);
		else
			ok(qp_quantize(c->type, x, q, ROWS, COLS, NULL, &e) == -1 &&
			   strstr(e.msg, "importance matrix") != NULL,
			   "%s without imatrix fails as ggml does: %s", nm, e.msg);
	}
}

/* First use from two threads at once: the maps are built once and both
 * get the bytes a single thread gets. */
typedef struct job {
	uint32_t type;
	uint8_t *out;
	int rc;
} job;

static void *run_job(void *arg)
{
	job *j = arg;
	qp_err e;
	j->rc = qp_quantize(j->type, x, j->out, ROWS, COLS, imat, &e);
	return NULL;
}

static void check_threads(void)
{
	size_t n = nbytes(QP_IQ1_S);
	job a = {QP_IQ1_S, malloc(n), -1}, b = {QP_IQ1_S, malloc(n), -1};
	pthread_t ta, tb;
	pthread_create(&ta, NULL, run_job, &a);
	pthread_create(&tb, NULL, run_job, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	qp_err e;
	qp_quantize(QP_IQ1_S, x, q, ROWS, COLS, imat, &e);
	ok(a.rc == 0 && b.rc == 0 && memcmp(a.out, q, n) == 0 &&
	   memcmp(b.out, q, n) == 0,
	   "IQ1_S: concurrent first use gives the same bytes");
	free(a.out);
	free(b.out);
}

/* Inputs where a lane mistake in a SIMD twin shows: blocks of one value
 * under equal importances (many neighbours with exactly equal errors, so
 * the first-minimum rule decides), values from a five-value set (ties in
 * every sort), subnormals, zero importances, large magnitudes, and a NaN
 * and an infinity in a block of their own.  Fingerprints of the bytes of
 * the version checked against llama-quantize (before the AVX2 search),
 * which the AVX2, SSE2 and plain builds must all give. */
static void fill_special(float *v, float *im)
{
	for (int i = 0; i < COLS; i++)
		im[i] = i < 256 ? 1.0f : i % 7 == 0 ? 0.0f
			: (float)(uniform01() * uniform01() * 10);
	fill(v, N, 0.02f);
	for (int i = 0; i < 256; i++) {
		v[i] = 0.01f;				/* row 0: one value */
		v[1024 + i] = -0.003f;			/* row 1: one value */
		v[256 + i] = 0.01f * (float)(i * 7 % 5 - 2); /* five values */
		v[512 + i] = i % 16 ? 1e-40f * (float)(i % 5 - 2) : 0.01f;
		v[1024 + 256 + i] = 1e15f * (float)(i % 9 - 4);
	}
	v[2048 + 300] = NAN;
	v[3072 + 600] = INFINITY;
}

static const struct special_case {
	uint32_t type;
	bool plain;
	uint64_t fnv_imat, fnv_plain;
} special_cases[] = {
	{QP_IQ2_S, true, 0xbeea6c533f69921aull, 0x43943c66fc760619ull},
	{QP_IQ2_XS, false, 0xd174f8720f4aa0a8ull, 0},
	{QP_IQ2_XXS, false, 0x9ef53c3775318149ull, 0},
	{QP_IQ1_S, false, 0x9e2320347aa6bc39ull, 0},
	{QP_IQ1_M, true, 0x9de5077c86765858ull, 0x8b281e67ef817315ull},
};

static void check_special(int print)
{
	float *v = malloc(N * sizeof *v), *im = malloc(COLS * sizeof *im);
	char buf[16];
	qp_err e;
	fill_special(v, im);
	for (size_t k = 0; k < sizeof special_cases / sizeof *special_cases; k++) {
		const struct special_case *c = &special_cases[k];
		const char *nm = qp_type_name(c->type, buf);
		qp_quantize(c->type, v, q, ROWS, COLS, im, &e);
		uint64_t h = fnv1a(q, nbytes(c->type)), hp = 0;
		if (c->plain) {
			qp_quantize(c->type, v, q, ROWS, COLS, NULL, &e);
			hp = fnv1a(q, nbytes(c->type));
		}
		if (print) {
			printf("special %s 0x%016llxull 0x%016llxull\n", nm,
			       (unsigned long long)h, (unsigned long long)hp);
			continue;
		}
		ok(h == c->fnv_imat, "%s, special inputs, with imatrix: same bytes "
		   "as the checked version", nm);
		if (c->plain)
			ok(hp == c->fnv_plain, "%s, special inputs, without imatrix: "
			   "same bytes as the checked version", nm);
	}
	free(v);
	free(im);
}

static void check_nvfp4_block(void)
{
	/* scales 0x38 (1.0, halved: 0.5), 0x00 (0), 0x7f (0), 0x01
	 * (2^-9 subnormal, halved); levels 1 (=1) and 0xF (= -12) */
	uint8_t b[36] = {0x38, 0x00, 0x7f, 0x01};
	memset(b + 4, 0xf1, 32);
	float out[64];
	qp_err e;
	ok(qp_dequantize(QP_NVFP4, b, out, 64, &e) == 0 &&
	   out[0] == 0.5f && out[8] == -6.0f && out[16] == 0 && out[40] == 0 &&
	   out[48] == 0x1p-10f && out[63] == -12 * 0x1p-10f,
	   "NVFP4 block: UE4M3 scales (zero, 0x7f, subnormal) and e2m1 levels");
	float z[64] = {0};
	z[5] = 3.0f;
	z[20] = -1e6f; /* scale saturates at 448 */
	qp_quantize(QP_NVFP4, z, b, 1, 64, NULL, &e);
	ok(b[0] == 0x30 && b[1] == 0x7e && b[2] == 0 && b[3] == 0,
	   "NVFP4 scales: 3/6 rounds to 0.5 (0x30), -1e6 saturates (0x7e), "
	   "zero sub-blocks 0 (got %02x %02x %02x %02x)", b[0], b[1], b[2],
	   b[3]);
}

static void check_zero_rows(void)
{
	char nm[16];
	qp_err e;
	memset(x, 0, N * sizeof *x);
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		int rc = qp_quantize(cases[k].type, x, q, ROWS, COLS, imat, &e);
		rc |= qp_dequantize(cases[k].type, q, y, N, &e);
		int zeros = rc == 0;
		for (int64_t i = 0; i < N && zeros; i++)
			zeros = y[i] == 0.0f;
		ok(zeros, "%s: zero rows decode to zeros",
		   qp_type_name(cases[k].type, nm));
	}
}

int main(int argc, char **argv)
{
	x = malloc(N * sizeof *x);
	y = malloc(N * sizeof *y);
	imat = malloc(COLS * sizeof *imat);
	q = malloc(N * 4);
	fill(x, N, 0.02f);
	for (int i = 0; i < COLS; i++)
		imat[i] = (float)(uniform01() * uniform01() * 10);
	if (argc > 1 && strcmp(argv[1], "--print-golden") == 0) {
		check_cases(1);
		check_special(1);
		return 0;
	}
	check_threads();
	check_cases(0);
	check_special(0);
	check_nvfp4_block();
	check_zero_rows();
	free(x);
	free(y);
	free(imat);
	free(q);
	done_testing();
	return exit_status();
}
