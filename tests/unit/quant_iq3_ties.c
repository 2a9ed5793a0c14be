/* Unit tests for IQ3_S and IQ3_XXS's neighbour search (common/ggml/quant_iq.c):
 * rows of exact ties.  Each sub-vector of four repeats its magnitudes
 * (aabb, abab, aaab, abba, aaaa, abbb; in rows 8 to 15 every group of 32
 * has only two magnitudes) with equal weights for equal magnitudes
 * (the imatrix is all ones, and without one the weights are x^2), so
 * neighbours that swap levels between equal coordinates score exactly the
 * same and the search must take the first of them in list order — also
 * when the tied neighbours are eight or more places apart (in different
 * batches of the AVX2 search, which keeps a first minimum per lane and
 * breaks ties between lanes by list index), and when a list's last batch
 * is padded.  The groups' spreads differ so that the winning candidate
 * moves across lanes and batches.  The fingerprints were made by the
 * scalar search (the plain C build) and are ggml's: the same rows written
 * in bench/side_bench's data format give ggml_harness's bytes.  The
 * AVX2, SSE2 and plain builds must all give them (make check, make
 * check-plain); a search that breaks ties by lane instead of by index,
 * or keeps a later equal score, fails here. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../golden.h"
#include "quant.h"
#include "types.h"

enum { ROWS = 16, COLS = 2048, N = ROWS * COLS };

static uint64_t rng_state = 0x853c49e6748fea9bull;

static double uniform01(void)
{
	return xorshift01(&rng_state);
}

/* A heavy-tailed magnitude (in odd rows rounded to a few bits, so that
 * ties between different sub-vectors' values happen too). */
static float magnitude(int row, double spread)
{
	double u = uniform01() + 0.02, v = uniform01() + 0.05;
	double m = spread * u / v;
	if (row % 2)
		m = ldexp(nearbyint(ldexp(m / spread, 4)), -4) * spread;
	return (float)m;
}

static void fill(float *x)
{
	static const char *pattern[] = {"aabb", "abab", "aaab", "abba", "aaaa", "abbb"};
	float ga = 0, gb = 0;
	for (int r = 0; r < ROWS; r++)
		for (int s = 0; s < COLS / 4; s++) {
			double spread = 0.001 * (1 + (s / 8) % 11);
			/* rows 8 on: two magnitudes per group of 32, in any mix */
			if (r < 8 || s % 8 == 0) {
				ga = magnitude(r, spread);
				gb = magnitude(r, spread);
			}
			float a = r < 8 ? magnitude(r, spread) : ga;
			float b = r < 8 ? magnitude(r, spread) : gb;
			const char *p = pattern[(int)(uniform01() * 6)];
			for (int i = 0; i < 4; i++) {
				float v = p[i] == 'a' ? a : b;
				x[r * COLS + 4 * s + i] = uniform01() < 0.5 ? -v : v;
			}
		}
}

static const golden_case cases[] = {
	{QP_IQ3_S, 0xa3e72801de68ddc0ull, 0x435f3449bd8b434cull},
	{QP_IQ3_XXS, 0x9a240e578c9137adull, 0x7777f109ec19843aull},
};

int main(int argc, char **argv)
{
	float *x = malloc(N * sizeof *x), *imat = malloc(COLS * sizeof *imat);
	if (!x || !imat)
		return 1;
	fill(x);
	for (int i = 0; i < COLS; i++)
		imat[i] = 1;
	int rc = golden_main(argc, argv, cases, sizeof cases / sizeof *cases,
			     x, ROWS, COLS, imat, true, "tie rows", "ggml's bytes");
	free(x);
	free(imat);
	return rc;
}
