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

#include "../golden.h"
#include "quant.h"
#include "types.h"

enum { ROWS = 3, COLS = 2048, N = ROWS * COLS };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform01(void)
{
	return xorshift01(&rng_state);
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

static const golden_case cases[] = { /* without an imatrix only */
	{QP_IQ3_S, 0, 0x12c1a2e875f30880ull},
	{QP_IQ3_XXS, 0, 0x557944cf970ec690ull},
};

int main(int argc, char **argv)
{
	float *x = malloc(N * sizeof *x), *imat = malloc(COLS * sizeof *imat);
	if (!x || !imat)
		return 1;
	for (int r = 0; r < ROWS; r++)
		for (int g = 0; g < COLS / 32; g++)
			fill_group(x + r * COLS + 32 * g, r, g);
	for (int i = 0; i < COLS; i++)	/* for --write-data; unused here */
		imat[i] = 1;
	int rc = golden_main(argc, argv, cases, sizeof cases / sizeof *cases,
			     x, ROWS, COLS, imat, false, "NaN groups",
			     "ggml's bytes");
	free(x);
	free(imat);
	return rc;
}
