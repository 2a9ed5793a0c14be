/* quant_k_bench — single-threaded speed of the K-quant encoders.
 *
 * Synthetic input like the figures in fixtures/figures/quantize-perf.txt
 * (N(0, 0.02) weights, 4096 columns), encoded by the lane-parallel path
 * and by the scalar reference in the same run; prints MB/s of F32 input
 * for each, their ratio, and whether the bytes agree.  Best of 3 runs.
 * Usage: quant_k_bench [ROWS]   (default 256 rows = 4 MiB of F32)
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant_k.h"

typedef int (*quant_fn)(const float *, void *, int64_t, int64_t,
			const float *);

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng = 42;

static double uniform(void)
{
	rng = rng * 6364136223846793005u + 1442695040888963407u;
	return (double)(rng >> 11) / 9007199254740992.0;
}

typedef struct job {
	uint32_t id;
	quant_fn fn;
	const float *x, *imp;
	uint8_t *dst;
	int64_t nrows, ncols;
} job;

static double best_seconds(const job *j, bool scalar)
{
	double best = 1e30;
	for (int rep = 0; rep < 3; rep++) {
		double t0 = now();
		if (scalar)
			qp_quantize_k_scalar(j->id, j->x, j->dst, j->nrows,
					     j->ncols, j->imp);
		else
			j->fn(j->x, j->dst, j->nrows, j->ncols, j->imp);
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		uint32_t id;
		size_t bytes;
		quant_fn fn;
	} types[] = {
		{ "Q2_K", 10, QP_Q2_K_BLOCK_BYTES, qp_quantize_q2_k },
		{ "Q3_K", 11, QP_Q3_K_BLOCK_BYTES, qp_quantize_q3_k },
		{ "Q4_K", 12, QP_Q4_K_BLOCK_BYTES, qp_quantize_q4_k },
		{ "Q5_K", 13, QP_Q5_K_BLOCK_BYTES, qp_quantize_q5_k },
		{ "Q6_K", 14, QP_Q6_K_BLOCK_BYTES, qp_quantize_q6_k },
	};
	int64_t ncols = 4096, nrows = argc > 1 ? atoll(argv[1]) : 256;
	if (nrows < 1)
		nrows = 1;
	int64_t n = ncols * nrows;
	float *x = malloc((size_t)n * sizeof *x);
	float *imp = malloc((size_t)ncols * sizeof *imp);
	uint8_t *a = malloc((size_t)n), *b = malloc((size_t)n);
	if (!x || !imp || !a || !b) {
		fprintf(stderr, "quant_k_bench: out of memory\n");
		return 1;
	}
	for (int64_t i = 0; i < n; i++) {
		double u1 = uniform() + 1e-300, u2 = uniform();
		x[i] = (float)(0.02 * sqrt(-2 * log(u1)) *
			       cos(6.283185307179586 * u2));
	}
	for (int64_t i = 0; i < ncols; i++)
		imp[i] = (float)(0.01 + 5 * uniform() * uniform());
	double mb = (double)n * 4 / 1e6;
	printf("# %lld x %lld F32 (%.1f MB), single thread, best of 3\n",
	       (long long)nrows, (long long)ncols, mb);
	printf("%-5s %-9s %12s %12s %7s %s\n", "type", "path", "scalar_MB/s",
	       "fast_MB/s", "ratio", "bytes");
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
		for (int with_imp = 0; with_imp < 2; with_imp++) {
			job j = { types[t].id, types[t].fn, x,
				  with_imp ? imp : NULL, b, nrows, ncols };
			double ts = best_seconds(&j, true);
			j.dst = a;
			double tf = best_seconds(&j, false);
			size_t bytes = (size_t)(n / QP_QK_K) * types[t].bytes;
			printf("%-5s %-9s %12.1f %12.1f %7.2f %s\n",
			       types[t].name, with_imp ? "imatrix" : "reference",
			       mb / ts, mb / tf, ts / tf,
			       memcmp(a, b, bytes) ? "DIFFER" : "same");
		}
	free(x);
	free(imp);
	free(a);
	free(b);
	return 0;
}
