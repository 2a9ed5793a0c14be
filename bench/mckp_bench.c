/* mckp_bench — the knapsack at model scale, next to a plain greedy measured
 * in the same run.
 *
 * Synthetic instances: tensors with the sizes of a dense model (1,000) or
 * of a large MoE with per-expert tensors (20,000), 15 candidate types with
 * ggml's real bytes per block, and a loss per type that falls with bits
 * like quantization error does (about 4x per extra bit) times a per-tensor
 * weight, with +-20% noise so hulls are not trivial.  Budget: 4.5 bpw.
 * Prints time (best of 3), the proof (loss, bound, gap, exact) and the
 * greedy's time and loss.  Targets: 1,000 tensors < 100 ms, 20,000 < 2 s,
 * frontier of 1,000 < 1 s.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mckp.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static double uniform(void)
{
	rs = rs * 6364136223846793005u + 1442695040888963407u;
	return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}

/* name, elements per block, bytes per block */
static const struct { uint32_t id, blk, size; } types[15] = {
	{ 19, 256, 50 }, { 29, 256, 56 }, { 16, 256, 66 }, { 17, 256, 74 },
	{ 22, 256, 82 }, { 10, 256, 84 }, { 18, 256, 98 }, { 11, 256, 110 },
	{ 21, 256, 110 }, { 23, 256, 136 }, { 12, 256, 144 }, { 13, 256, 176 },
	{ 14, 256, 210 }, { 8, 32, 34 }, { 1, 1, 2 },
};

static qp_mckp_item *make(int n, uint64_t *elems_out)
{
	qp_mckp_item *it = malloc((size_t)n * sizeof *it);
	qp_mckp_option *o = malloc((size_t)n * 15 * sizeof *o);
	uint64_t elems = 0;
	for (int i = 0; i < n; i++) {
		/* shapes: 4096 x {1024, 4096, 14336} and some 2048 x 768 experts */
		static const uint64_t rows[] = { 1024, 4096, 4096, 14336, 768 };
		uint64_t ne = 4096 * rows[i % 5];
		double w = 0.2 + 5 * uniform() * uniform();
		for (int j = 0; j < 15; j++) {
			double bits = 8.0 * types[j].size / types[j].blk;
			o[i * 15 + j].bytes = ne / types[j].blk * types[j].size;
			o[i * 15 + j].loss = w * ne * 1e-9 * pow(2, -2 * bits) * (0.8 + 0.4 * uniform());
			o[i * 15 + j].type = types[j].id;
		}
		it[i].opt = &o[i * 15];
		it[i].n_opt = 15;
		elems += ne;
	}
	*elems_out = elems;
	return it;
}

static void free_items(qp_mckp_item *it)
{
	free((void *)it[0].opt);
	free(it);
}

static int cmp_opt_bytes(const void *a, const void *b)
{
	const qp_mckp_option *x = a, *y = b;
	return x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

typedef struct step {
	int item, to;
	double ratio;
	uint64_t db;
} step;
static int cmp_ratio(const void *a, const void *b)
{
	const step *x = a, *y = b;
	return x->ratio > y->ratio ? -1 : x->ratio < y->ratio;
}

/* Plain greedy: undominated options by bytes, steps between consecutive options ranked
 * by loss saved per byte, taken while they fit (no hull, no bound). */
static double greedy(const qp_mckp_item *it, int n, uint64_t budget)
{
	qp_mckp_option *o = malloc((size_t)n * 15 * sizeof *o);
	step *s = malloc((size_t)n * 15 * sizeof *s);
	int *pos = calloc((size_t)n, sizeof *pos);
	int ns = 0;
	uint64_t bytes = 0;
	double loss = 0;
	for (int i = 0; i < n; i++) {
		memcpy(&o[i * 15], it[i].opt, 15 * sizeof *o);
		qsort(&o[i * 15], 15, sizeof *o, cmp_opt_bytes);
		/* drop options that save nothing over a smaller one */
		int m = 1;
		for (int j = 1; j < 15; j++)
			if (o[i * 15 + j].loss < o[i * 15 + m - 1].loss)
				o[i * 15 + m++] = o[i * 15 + j];
		bytes += o[i * 15].bytes;
		loss += o[i * 15].loss;
		for (int j = 1; j < m; j++) {
			s[ns].item = i;
			s[ns].to = j;
			s[ns].db = o[i * 15 + j].bytes - o[i * 15 + j - 1].bytes;
			s[ns].ratio = (o[i * 15 + j - 1].loss - o[i * 15 + j].loss) /
				      (double)(s[ns].db ? s[ns].db : 1);
			ns++;
		}
	}
	qsort(s, (size_t)ns, sizeof *s, cmp_ratio);
	for (int k = 0; k < ns; k++) {
		int i = s[k].item;
		if (pos[i] != s[k].to - 1 || bytes + s[k].db > budget)
			continue;
		bytes += s[k].db;
		loss += o[i * 15 + s[k].to].loss - o[i * 15 + s[k].to - 1].loss;
		pos[i] = s[k].to;
	}
	free(o);
	free(s);
	free(pos);
	return loss;
}

static void run(int n)
{
	uint64_t elems;
	qp_mckp_item *it = make(n, &elems);
	uint64_t budget = (uint64_t)(elems * 4.5 / 8);
	int *choice = malloc((size_t)n * sizeof *choice);
	qp_mckp_result res;
	qp_err e;
	double best = 1e30, gbest = 1e30, gloss = 0;
	for (int r = 0; r < 3; r++) {
		double t0 = now();
		if (qp_mckp_solve(it, n, budget, NULL, choice, &res, &e) != 0) {
			fprintf(stderr, "mckp_bench: %s\n", e.msg);
			exit(1);
		}
		double t = now() - t0;
		if (t < best)
			best = t;
		t0 = now();
		gloss = greedy(it, n, budget);
		t = now() - t0;
		if (t < gbest)
			gbest = t;
	}
	printf("%6d tensors x 15 types at 4.5 bpw: %8.1f ms (greedy %6.1f ms, %.1fx)  "
	       "loss %.9g bound %.9g gap %.2e %s core %d nodes %" PRIu64 "; greedy loss +%.3f%%\n",
	       n, best * 1e3, gbest * 1e3, best / gbest, res.loss, res.bound,
	       res.gap, res.exact ? "exact" : "not-exact", res.core, res.nodes,
	       100 * (gloss - res.loss) / res.loss);
	if (n <= 1000) {
		double fb = 1e30;
		int64_t steps = 0;
		for (int r = 0; r < 3; r++) {
			qp_mckp_frontier f;
			double t0 = now();
			if (qp_mckp_frontier_build(it, n, &f, &e)) {
				fprintf(stderr, "mckp_bench: %s\n", e.msg);
				exit(1);
			}
			double t = now() - t0;
			if (t < fb)
				fb = t;
			steps = f.n_steps;
			qp_mckp_frontier_free(&f);
		}
		printf("%6d tensors frontier: %8.1f ms for %" PRId64 " breakpoints (%.1fx greedy)\n",
		       n, fb * 1e3, steps, fb / gbest);
	}
	free(choice);
	free_items(it);
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: mckp_bench\n");
		return 2;
	}
	run(1000);
	run(20000);
	return 0;
}
