/* quant_bench — single-threaded speed of every quantizer quantpipe has,
 * with and without an importance matrix, next to memcpy of the same bytes
 * measured in the same run; then the same work on 2 threads.
 *
 * Input: heavy-tailed synthetic weights (Gaussian bulk, a few outlier
 * columns), 4096 columns.  Prints MB/s of F32 input, best of 3.
 * Usage: quant_bench [ROWS]   (default 256 rows = 4 MiB of F32)
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant.h"
#include "threads.h"
#include "types.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double uniform(uint64_t *s)
{
	*s = *s * 6364136223846793005u + 1442695040888963407u;
	return ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
}

typedef struct work {
	uint32_t type;
	const float *x, *imp;
	uint8_t *dst;
	int64_t nrows, ncols;
	uint64_t row_bytes;
	int64_t rows_per_item;
} work;

static int quantize_item(void *ctx, size_t i)
{
	const work *w = ctx;
	int64_t r0 = (int64_t)i * w->rows_per_item;
	int64_t n = r0 + w->rows_per_item > w->nrows ? w->nrows - r0 : w->rows_per_item;
	qp_err e;
	return qp_quantize(w->type, w->x + r0 * w->ncols,
			   w->dst + (uint64_t)r0 * w->row_bytes, n, w->ncols,
			   w->imp, &e);
}

static double best_seconds(work *w, int threads)
{
	double best = 1e30;
	size_t items = (size_t)((w->nrows + w->rows_per_item - 1) / w->rows_per_item);
	for (int rep = 0; rep < 3; rep++) {
		double t0 = now();
		qp_parallel_for(threads, items, quantize_item, w);
		double t = now() - t0;
		best = t < best ? t : best;
	}
	return best;
}

static double memcpy_mbs(const float *x, int64_t n)
{
	float *y = malloc((size_t)n * sizeof *y);
	double best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now();
		memcpy(y, x, (size_t)n * sizeof *x);
		double t = now() - t0;
		best = t < best ? t : best;
	}
	volatile float sink = y[n / 2];
	(void)sink;
	free(y);
	return (double)n * 4 / 1e6 / best;
}

int main(int argc, char **argv)
{
	int64_t ncols = 4096, nrows = argc > 1 ? atoll(argv[1]) : 256;
	nrows = nrows < 8 ? 8 : nrows;
	int64_t n = ncols * nrows;
	float *x = malloc((size_t)n * sizeof *x);
	float *imp = malloc((size_t)ncols * sizeof *imp);
	uint8_t *dst = malloc((size_t)n * 4);
	if (!x || !imp || !dst) {
		fprintf(stderr, "quant_bench: out of memory\n");
		return 1;
	}
	uint64_t s = 42;
	for (int64_t i = 0; i < n; i++) {
		double g = sqrt(-2 * log(uniform(&s))) * cos(6.283185307179586 * uniform(&s));
		x[i] = (float)(0.02 * g * ((i % ncols) % 97 == 0 ? 12.0 : 1.0));
	}
	for (int64_t i = 0; i < ncols; i++)
		imp[i] = (float)(0.01 + 5 * uniform(&s) * uniform(&s));
	double mb = (double)n * 4 / 1e6;
	double base = memcpy_mbs(x, n);
	printf("# quantizers: %lld x %lld F32 (%.1f MB), best of 3\n",
	       (long long)nrows, (long long)ncols, mb);
	printf("# baseline memcpy of the same bytes: %.0f MB/s\n", base);
	printf("%-7s %12s %12s %12s %9s\n", "type", "plain_MB/s", "imatrix_MB/s",
	       "2thr_MB/s", "x_memcpy");
	for (uint32_t id = 0; id < 64; id++) {
		const qp_type_info *ti = qp_type_info_by_id(id);
		if (!ti || ti->removed || id == QP_F32 || !qp_can_quantize(id))
			continue;
		int64_t one = ncols;
		uint64_t rb;
		qp_err e;
		if (qp_type_nbytes(id, &one, 1, &rb, &e) < 0)
			continue;
		work w = {id, x, NULL, dst, nrows, ncols, rb, 8};
		/* one row first: builds the grid types' neighbour maps outside
		 * the timing, and finds the types that need an imatrix */
		bool needs = qp_quantize(id, x, dst, 1, ncols, NULL, &e) < 0;
		w.imp = needs ? imp : NULL;
		double plain = mb / best_seconds(&w, 1);
		double two = mb / best_seconds(&w, 2);
		w.imp = imp;
		double wimp = mb / best_seconds(&w, 1);
		if (needs)
			printf("%-7s %12s %12.1f %12.1f %9s  (needs an imatrix; "
			       "2thr with it)\n", ti->name, "-", wimp, two, "-");
		else
			printf("%-7s %12.1f %12.1f %12.1f %9.4f\n", ti->name, plain,
			       wimp, two, plain / base);
	}
	free(x);
	free(imp);
	free(dst);
	return 0;
}
