/* ggml_harness — times ggml's own quantizers (the quantize_* functions of
 * ggml-quants.c that ggml_quantize_chunk dispatches to, after the
 * ggml_quantize_init step it does) on the data side_bench wrote, single
 * threaded, best of N; prints "TYPE plain_MB/s imatrix_MB/s fnv_plain
 * fnv_imatrix" (a "-" where ggml refuses: IQ2_XXS, IQ2_XS, IQ1_S without an
 * imatrix).  Built by bench/ggml-side.sh from an llama.cpp source tree
 * (LLAMA_CPP_SRC); nothing of llama.cpp is part of quantpipe.
 * Usage: ggml_harness DATA REPS
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml.h"
#include "ggml-quants.h"

/* The four ggml.c functions ggml-quants.c calls. */
static const struct { enum ggml_type t; int blck, size; const char *name; } info[] = {
	{GGML_TYPE_Q4_0, 32, 18, "Q4_0"}, {GGML_TYPE_Q4_1, 32, 20, "Q4_1"},
	{GGML_TYPE_Q5_0, 32, 22, "Q5_0"}, {GGML_TYPE_Q5_1, 32, 24, "Q5_1"},
	{GGML_TYPE_Q8_0, 32, 34, "Q8_0"}, {GGML_TYPE_Q2_K, 256, 84, "Q2_K"},
	{GGML_TYPE_Q3_K, 256, 110, "Q3_K"}, {GGML_TYPE_Q4_K, 256, 144, "Q4_K"},
	{GGML_TYPE_Q5_K, 256, 176, "Q5_K"}, {GGML_TYPE_Q6_K, 256, 210, "Q6_K"},
	{GGML_TYPE_IQ4_NL, 32, 18, "IQ4_NL"}, {GGML_TYPE_IQ4_XS, 256, 136, "IQ4_XS"},
	{GGML_TYPE_MXFP4, 32, 17, "MXFP4"}, {GGML_TYPE_NVFP4, 64, 36, "NVFP4"},
	{GGML_TYPE_IQ3_S, 256, 110, "IQ3_S"}, {GGML_TYPE_IQ3_XXS, 256, 98, "IQ3_XXS"},
	{GGML_TYPE_IQ2_S, 256, 82, "IQ2_S"}, {GGML_TYPE_IQ2_XS, 256, 74, "IQ2_XS"},
	{GGML_TYPE_IQ2_XXS, 256, 66, "IQ2_XXS"}, {GGML_TYPE_IQ1_M, 256, 56, "IQ1_M"},
	{GGML_TYPE_IQ1_S, 256, 50, "IQ1_S"},
};
#define N_INFO (sizeof info / sizeof info[0])

static int idx_of(enum ggml_type t)
{
	for (size_t i = 0; i < N_INFO; i++)
		if (info[i].t == t)
			return (int)i;
	fprintf(stderr, "ggml_harness: type %d not in the table\n", (int)t);
	abort();
}

void ggml_abort(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s:%d: ", file, line);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	abort();
}
size_t ggml_type_size(enum ggml_type t) { return (size_t)info[idx_of(t)].size; }
size_t ggml_row_size(enum ggml_type t, int64_t ne)
{
	return (size_t)info[idx_of(t)].size * (size_t)ne / (size_t)info[idx_of(t)].blck;
}
const char *ggml_type_name(enum ggml_type t) { return info[idx_of(t)].name; }

typedef size_t (*qfn)(const float *, void *, int64_t, int64_t, const float *);

static qfn fn_of(enum ggml_type t)
{
	switch (t) {
	case GGML_TYPE_Q4_0: return quantize_q4_0;
	case GGML_TYPE_Q4_1: return quantize_q4_1;
	case GGML_TYPE_Q5_0: return quantize_q5_0;
	case GGML_TYPE_Q5_1: return quantize_q5_1;
	case GGML_TYPE_Q8_0: return quantize_q8_0;
	case GGML_TYPE_Q2_K: return quantize_q2_K;
	case GGML_TYPE_Q3_K: return quantize_q3_K;
	case GGML_TYPE_Q4_K: return quantize_q4_K;
	case GGML_TYPE_Q5_K: return quantize_q5_K;
	case GGML_TYPE_Q6_K: return quantize_q6_K;
	case GGML_TYPE_IQ4_NL: return quantize_iq4_nl;
	case GGML_TYPE_IQ4_XS: return quantize_iq4_xs;
	case GGML_TYPE_MXFP4: return quantize_mxfp4;
	case GGML_TYPE_NVFP4: return quantize_nvfp4;
	case GGML_TYPE_IQ3_S: return quantize_iq3_s;
	case GGML_TYPE_IQ3_XXS: return quantize_iq3_xxs;
	case GGML_TYPE_IQ2_S: return quantize_iq2_s;
	case GGML_TYPE_IQ2_XS: return quantize_iq2_xs;
	case GGML_TYPE_IQ2_XXS: return quantize_iq2_xxs;
	case GGML_TYPE_IQ1_M: return quantize_iq1_m;
	case GGML_TYPE_IQ1_S: return quantize_iq1_s;
	default: return NULL;
	}
}

/* ggml_quantize_init, without ggml.c's mutex (one thread here). */
static void init_type(enum ggml_type t)
{
	switch (t) {
	case GGML_TYPE_IQ2_XXS: case GGML_TYPE_IQ2_XS: case GGML_TYPE_IQ2_S:
	case GGML_TYPE_IQ1_S: case GGML_TYPE_IQ1_M:
		iq2xs_init_impl(t);
		break;
	case GGML_TYPE_IQ3_XXS: iq3xs_init_impl(256); break;
	case GGML_TYPE_IQ3_S: iq3xs_init_impl(512); break;
	default: break;
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: ggml_harness DATA REPS [TYPE...]\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	int64_t dims[2];
	if (!f || fread(dims, sizeof dims, 1, f) != 1) {
		fprintf(stderr, "ggml_harness: cannot read %s\n", argv[1]);
		return 1;
	}
	int64_t nrows = dims[0], ncols = dims[1], n = nrows * ncols;
	float *x = malloc((size_t)n * sizeof *x), *imp = malloc((size_t)ncols * sizeof *imp);
	uint8_t *dst = malloc((size_t)n * 4);
	if (fread(x, sizeof *x, (size_t)n, f) != (size_t)n ||
	    fread(imp, sizeof *imp, (size_t)ncols, f) != (size_t)ncols) {
		fprintf(stderr, "ggml_harness: %s is short\n", argv[1]);
		return 1;
	}
	fclose(f);
	int reps = atoi(argv[2]);
	double mb = (double)n * 4 / 1e6;
	for (int a = 3; a < argc; a++) {
		size_t k = 0;
		while (k < N_INFO && strcmp(info[k].name, argv[a]) != 0)
			k++;
		if (k == N_INFO) {
			printf("%s - - - -\n", argv[a]);
			continue;
		}
		enum ggml_type t = info[k].t;
		init_type(t);
		size_t bytes = ggml_row_size(t, ncols) * (size_t)nrows;
		bool need = t == GGML_TYPE_IQ2_XXS || t == GGML_TYPE_IQ2_XS || t == GGML_TYPE_IQ1_S;
		double mbs[2] = {0, 0};
		uint64_t h[2] = {0, 0};
		for (int w = 0; w < 2; w++) {
			if (w == 0 && need)
				continue;
			double best = 1e30;
			for (int r = 0; r < reps; r++) {
				double t0 = now();
				fn_of(t)(x, dst, nrows, ncols, w ? imp : NULL);
				double dt = now() - t0;
				best = dt < best ? dt : best;
			}
			mbs[w] = mb / best;
			h[w] = fnv1a(dst, bytes);
		}
		if (need)
			printf("%s - %.2f - %016llx\n", info[k].name, mbs[1],
			       (unsigned long long)h[1]);
		else
			printf("%s %.2f %.2f %016llx %016llx\n", info[k].name, mbs[0],
			       mbs[1], (unsigned long long)h[0], (unsigned long long)h[1]);
		fflush(stdout);
	}
	free(x);
	free(imp);
	free(dst);
	return 0;
}
