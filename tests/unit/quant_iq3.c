/* Unit tests for IQ3_S and IQ3_XXS's lane kernels (common/ggml/quant_iq.c):
 * fingerprints of rows built so that a slip in one lane of a candidate
 * batch or of a neighbour batch changes bytes — every group of a row sees
 * a different mix of candidates on and off the grid, exact ties between
 * neighbours (all-equal and repeated values), zero and tiny (denormal)
 * groups, a group whose scale candidates overflow to infinity, infinite
 * and NaN inputs, both signs, and equal, zero and negative importances.
 * The fingerprints were made by the scalar search that
 * tests/t0410-qerr-grid.t checks against llama-quantize (IQ3_S's again
 * after its empty-group packing was made ggml's, quant_ggml_edges.c); on
 * NaN, inf and negative importances ggml aborts, so there they pin our
 * own bytes.  The AVX2, SSE2 and plain builds must all give them (make
 * check, make check-plain). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../golden.h"
#include "quant.h"
#include "types.h"

enum { ROWS = 3, COLS = 2048, N = ROWS * COLS };

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static double uniform01(void)
{
	return xorshift01(&rng_state);
}

/* Row 0: ordinary heavy-tailed groups, each with its own spread (so the
 * winning candidate moves across lanes); row 1: the edge groups; row 2:
 * coarse values on few levels (many on-grid points, many exact ties). */
static void fill(float *x)
{
	for (int i = 0; i < COLS; i++) {
		double u = uniform01() * 2 - 1, v = uniform01() + 0.05;
		double spread = 0.002 * (1 + (i / 32) % 13);
		x[i] = (float)(spread * u / v);
	}
	float *r = x + COLS;
	for (int i = 0; i < COLS; i++)
		r[i] = (float)(0.01 * (uniform01() * 2 - 1));
	for (int i = 0; i < 32; i++) {
		r[i] = 0.25f;			/* all equal */
		r[32 + i] = i % 2 ? -0.25f : 0.25f;	/* equal magnitudes */
		r[64 + i] = 0;			/* empty */
		r[96 + i] = 1e-40f * (float)(i % 5);	/* denormal: id overflows */
		r[128 + i] = i == 7 ? 1e30f : 1e-3f;	/* one huge value */
		r[160 + i] = i < 16 ? 0 : 0.5f;	/* half zero */
		r[192 + i] = (float)(i % 8) * 0.125f;	/* on levels */
		r[224 + i] = -(float)(i % 3) * 0.1f;	/* all signs negative */
	}
	r[256 + 5] = INFINITY;				/* an infinite value */
	r[512 + 9] = -INFINITY;
	r[768 + 3] = NAN;				/* a NaN: its super-block */
	r[1024 + 40] = 1e-30f;				/* tiny beside ordinary */
	float *c = x + 2 * COLS;
	for (int i = 0; i < COLS; i++)
		c[i] = (float)((int)(uniform01() * 9) - 4) * 0.03f;
}

static const golden_case cases[] = {
	{QP_IQ3_S, 0x1ac2182543db8ba5ull, 0xa63a9461c902052bull},
	{QP_IQ3_XXS, 0x5959fad584ad431eull, 0x22981b2d571ab8f3ull},
};

int main(int argc, char **argv)
{
	float *x = malloc(N * sizeof *x), *imat = malloc(COLS * sizeof *imat);
	if (!x || !imat)
		return 1;
	fill(x);
	for (int i = 0; i < COLS; i++)
		imat[i] = (float)(uniform01() * uniform01() * 10);
	for (int i = 0; i < 64; i++)	/* equal importances: exact ties */
		imat[i] = 1;
	imat[40] = 0;	/* a zero weight */
	imat[41] = -1;	/* a negative one: its weights are NaN */
	int rc = golden_main(argc, argv, cases, sizeof cases / sizeof *cases,
			     x, ROWS, COLS, imat, true, "edge rows",
			     "the checked version's bytes");
	free(x);
	free(imat);
	return rc;
}
