/* Unit tests for IQ3_S and IQ3_XXS on groups holding a NaN, without an
 * imatrix (common/ggml/quant_iq.c).  ggml takes a group's maximum as
 * max = max > x ? max : x in index order, so a NaN resets it and the
 * maximum is that of the values after the last NaN (0 when they are all
 * zero: the group is then empty).  The AVX2 kernel takes its maximum
 * with vector instructions only when the group has no NaN; these rows
 * fail if it did so with a NaN too.  Each group's NaN sits in a
 * sub-vector of zeros (so that sub-vector rounds onto the grid at every
 * scale and ggml's neighbour search, which aborts when every score is
 * NaN, never runs on it), never last in its group (ggml aborts on a NaN
 * scale), with larger values before it than after in rows 0 and 2.  With
 * an imatrix every weight of the super-block is NaN and ggml aborts, so
 * only the rows without one are checked.  The fingerprints are ggml's:
 * the rows written with --write-data (bench/side_bench's data format)
 * and quantized by ggml-quants.c give the same bytes.  The AVX2, SSE2
 * and plain builds must all give them (make check, make check-plain). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fingerprint.h"
#include "../tap.h"
#include "quant.h"
#include "types.h"

enum { ROWS = 3, COLS = 2048, N = ROWS * COLS };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) * 0x1p-53;
}

static float nan_of(uint32_t bits)
{
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

/* Group g of row r: a NaN at position p (its sub-vector's other values
 * 0), values of scale `before` ahead of that sub-vector and `after`
 * behind it; every fifth group has no NaN.  Row 1 has the larger values
 * behind the NaN, row 2 a second NaN (negative) three sub-vectors on. */
static void fill_group(float *x, int r, int g)
{
	const double before = r == 1 ? 0.02 : 1, after = r == 1 ? 1 : 0.05;
	int p = 4 * (g % 8) + (g / 8) % 4;
	if (p == 31)
		p = 28;
	const int p2 = r == 2 && g % 8 < 4 ? p + 12 : -1;
	for (int i = 0; i < 32; i++) {
		const double m = 0.01 + uniform01();
		x[i] = (float)(m * (i < p / 4 * 4 ? before : after));
		if (uniform01() < 0.5)
			x[i] = -x[i];
	}
	if (g % 5 == 4)
		return;
	for (int i = p / 4 * 4; i < p / 4 * 4 + 4; i++)
		x[i] = 0;
	x[p] = nan_of(0x7fc00000);
	if (p2 >= 0) {
		for (int i = p2 / 4 * 4; i < p2 / 4 * 4 + 4; i++)
			x[i] = 0;
		x[p2] = nan_of(0xffc00000);
	}
}

static const struct iq3_case {
	uint32_t type;
	uint64_t fnv_plain;
} cases[] = {
	{QP_IQ3_S, 0x12c1a2e875f30880ull},
	{QP_IQ3_XXS, 0x557944cf970ec690ull},
};

int main(int argc, char **argv)
{
	float *x = malloc(N * sizeof *x), *imat = malloc(COLS * sizeof *imat);
	uint8_t *q = malloc(N);
	if (!x || !imat || !q)
		return 1;
	for (int r = 0; r < ROWS; r++)
		for (int g = 0; g < COLS / 32; g++)
			fill_group(x + r * COLS + 32 * g, r, g);
	for (int i = 0; i < COLS; i++)
		imat[i] = 1;
	if (argc > 2 && strcmp(argv[1], "--write-data") == 0) {
		/* bench/side_bench's data format (the imatrix unused here) */
		FILE *f = fopen(argv[2], "wb");
		int64_t dims[2] = {ROWS, COLS};
		int okw = f && fwrite(dims, sizeof dims, 1, f) == 1 &&
			  fwrite(x, sizeof *x, N, f) == N &&
			  fwrite(imat, sizeof *imat, COLS, f) == COLS;
		okw = f && fclose(f) == 0 && okw;
		return okw ? 0 : 1;
	}
	int print = argc > 1 && strcmp(argv[1], "--print-golden") == 0;
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		const struct iq3_case *c = &cases[k];
		const qp_type_info *ti = qp_type_info_by_id(c->type);
		size_t nb = (size_t)N / ti->block_size * ti->type_size;
		char buf[16];
		const char *nm = qp_type_name(c->type, buf);
		qp_err e;
		int rc = qp_quantize(c->type, x, q, ROWS, COLS, NULL, &e);
		uint64_t hp = fnv1a(q, nb);
		if (print) {
			printf("%s 0x%016llxull\n", nm, (unsigned long long)hp);
			continue;
		}
		ok(rc == 0 && hp == c->fnv_plain, "%s NaN groups without imatrix: "
		   "ggml's bytes", nm);
	}
	free(x);
	free(imat);
	free(q);
	if (print)
		return 0;
	done_testing();
	return exit_status();
}
