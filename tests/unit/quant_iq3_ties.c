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

#include "../fingerprint.h"
#include "../tap.h"
#include "quant.h"
#include "types.h"

enum { ROWS = 16, COLS = 2048, N = ROWS * COLS };

static uint64_t rng_state = 0x853c49e6748fea9bull;

static double uniform01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) * 0x1p-53;
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

static const struct iq3_case {
	uint32_t type;
	uint64_t fnv_imat, fnv_plain;
} cases[] = {
	{QP_IQ3_S, 0xa3e72801de68ddc0ull, 0x435f3449bd8b434cull},
	{QP_IQ3_XXS, 0x9a240e578c9137adull, 0x7777f109ec19843aull},
};

int main(int argc, char **argv)
{
	float *x = malloc(N * sizeof *x), *imat = malloc(COLS * sizeof *imat);
	uint8_t *q = malloc(N);
	fill(x);
	for (int i = 0; i < COLS; i++)
		imat[i] = 1;
	if (argc > 2 && strcmp(argv[1], "--write-data") == 0) {
		/* bench/side_bench's data format, for ggml_harness */
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
		int rc = qp_quantize(c->type, x, q, ROWS, COLS, imat, &e);
		uint64_t hi = fnv1a(q, nb);
		rc |= qp_quantize(c->type, x, q, ROWS, COLS, NULL, &e);
		uint64_t hp = fnv1a(q, nb);
		if (print) {
			printf("%s 0x%016llxull 0x%016llxull\n", nm,
			       (unsigned long long)hi, (unsigned long long)hp);
			continue;
		}
		ok(rc == 0 && hi == c->fnv_imat, "%s tie rows with imatrix: "
		   "ggml's bytes", nm);
		ok(hp == c->fnv_plain, "%s tie rows without imatrix: ggml's bytes",
		   nm);
	}
	free(x);
	free(imat);
	free(q);
	if (print)
		return 0;
	done_testing();
	return exit_status();
}
