/* side_bench — quantpipe's half of bench/ggml-side.sh: writes the
 * heavy-tailed test rows to a file (gen), and times qp_quantize on them
 * (run) single-threaded, best of REPS, printing one line per type in
 * ggml_harness's format: "TYPE plain_MB/s imatrix_MB/s fnv_plain
 * fnv_imatrix" ("-" where the type needs an imatrix), so the bytes can be
 * compared with ggml's in the same run.
 * Usage: side_bench gen FILE ROWS | side_bench run FILE REPS TYPE...
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant.h"
#include "types.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double uniform(uint64_t *s)
{
	*s = *s * 6364136223846793005u + 1442695040888963407u;
	return ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(uint64_t *s)
{
	return sqrt(-2 * log(uniform(s))) * cos(6.283185307179586 * uniform(s));
}

static uint64_t fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* Student-t (4 degrees of freedom) bulk, every 97th column 8x larger,
 * values rounded through F16 as checkpoints are (ties happen). */
static int gen(const char *path, int64_t nrows)
{
	const int64_t ncols = 4096, n = nrows * ncols;
	float *x = malloc((size_t)n * sizeof *x), *imp = malloc((size_t)ncols * sizeof *imp);
	uint64_t s = 42;
	for (int64_t i = 0; i < n; i++) {
		double c = 0;
		for (int k = 0; k < 4; k++) {
			double g = gauss(&s);
			c += g * g;
		}
		double t = gauss(&s) / sqrt(c / 4);
		float v = (float)(0.02 * t * ((i % ncols) % 97 == 0 ? 8.0 : 1.0));
		uint16_t h;
		qp_err e;
		qp_quantize(QP_F16, &v, (uint8_t *)&h, 1, 1, NULL, &e);
		qp_dequantize(QP_F16, &h, &x[i], 1, &e);
	}
	for (int64_t i = 0; i < ncols; i++)
		imp[i] = (float)(0.01 + 5 * uniform(&s) * uniform(&s));
	int64_t dims[2] = {nrows, ncols};
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(dims, sizeof dims, 1, f) == 1 &&
		 fwrite(x, sizeof *x, (size_t)n, f) == (size_t)n &&
		 fwrite(imp, sizeof *imp, (size_t)ncols, f) == (size_t)ncols;
	ok = f && fclose(f) == 0 && ok;
	free(x);
	free(imp);
	if (!ok)
		fprintf(stderr, "side_bench: cannot write %s\n", path);
	return ok ? 0 : 1;
}

static int run(const char *path, int reps, char **types, int ntypes)
{
	FILE *f = fopen(path, "rb");
	int64_t dims[2];
	if (!f || fread(dims, sizeof dims, 1, f) != 1) {
		fprintf(stderr, "side_bench: cannot read %s\n", path);
		return 1;
	}
	int64_t nrows = dims[0], ncols = dims[1], n = nrows * ncols;
	float *x = malloc((size_t)n * sizeof *x), *imp = malloc((size_t)ncols * sizeof *imp);
	uint8_t *dst = malloc((size_t)n * 4);
	if (fread(x, sizeof *x, (size_t)n, f) != (size_t)n ||
	    fread(imp, sizeof *imp, (size_t)ncols, f) != (size_t)ncols) {
		fprintf(stderr, "side_bench: %s is short\n", path);
		return 1;
	}
	fclose(f);
	double mb = (double)n * 4 / 1e6;
	for (int a = 0; a < ntypes; a++) {
		const qp_type_info *ti = qp_type_info_by_name(types[a]);
		uint64_t bytes;
		qp_err e;
		if (!ti || !qp_can_quantize(ti->id) ||
		    qp_type_nbytes(ti->id, dims + 1, 1, &bytes, &e) < 0) {
			printf("%s - - - -\n", types[a]);
			continue;
		}
		bytes *= (uint64_t)nrows;
		double mbs[2] = {0, 0};
		uint64_t h[2] = {0, 0};
		int have[2] = {0, 0};
		for (int w = 0; w < 2; w++) {
			const float *im = w ? imp : NULL;
			/* the first call builds the neighbour maps: not timed */
			if (qp_quantize(ti->id, x, dst, 1, ncols, im, &e) < 0)
				continue;
			double best = 1e30;
			for (int r = 0; r < reps; r++) {
				double t0 = now();
				qp_quantize(ti->id, x, dst, nrows, ncols, im, &e);
				double dt = now() - t0;
				best = dt < best ? dt : best;
			}
			mbs[w] = mb / best;
			h[w] = fnv1a(dst, (size_t)bytes);
			have[w] = 1;
		}
		if (have[0])
			printf("%s %.2f ", ti->name, mbs[0]);
		else
			printf("%s - ", ti->name);
		printf("%.2f ", mbs[1]);
		if (have[0])
			printf("%016llx ", (unsigned long long)h[0]);
		else
			printf("- ");
		printf("%016llx\n", (unsigned long long)h[1]);
		fflush(stdout);
	}
	free(x);
	free(imp);
	free(dst);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], atoll(argv[3]) < 1 ? 1 : atoll(argv[3]));
	if (argc >= 4 && strcmp(argv[1], "run") == 0)
		return run(argv[2], atoi(argv[3]) < 1 ? 1 : atoi(argv[3]), argv + 4, argc - 4);
	fprintf(stderr, "usage: side_bench gen FILE ROWS | side_bench run FILE REPS TYPE...\n");
	return 2;
}
