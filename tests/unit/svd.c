/* Unit tests for common/svd: randomized top-k singular values against
 * LAPACK's dense SVD of the same matrix; exact when the sketch covers the
 * rank; identical for any thread count; read errors propagate. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "svd.h"

static uint64_t rng_state;

static double rng_gauss(void)
{
	uint64_t z1 = (rng_state += 0x9e3779b97f4a7c15ull);
	z1 = (z1 ^ (z1 >> 30)) * 0xbf58476d1ce4e5b9ull;
	z1 = (z1 ^ (z1 >> 27)) * 0x94d049bb133111ebull;
	z1 ^= z1 >> 31;
	uint64_t z2 = (rng_state += 0x9e3779b97f4a7c15ull);
	z2 = (z2 ^ (z2 >> 30)) * 0xbf58476d1ce4e5b9ull;
	z2 = (z2 ^ (z2 >> 27)) * 0x94d049bb133111ebull;
	z2 ^= z2 >> 31;
	double u1 = ((double)(z1 >> 11) + 0.5) / 9007199254740992.0;
	double u2 = ((double)(z2 >> 11) + 0.5) / 9007199254740992.0;
	return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

typedef struct mat {
	int64_t m, n;
	float *a; /* row-major */
	int64_t fail_row; /* -1: never */
} mat;

static int rows_fn(void *ctx, int64_t row0, int64_t n_rows, float *dst,
		   qp_err *e)
{
	const mat *x = ctx;
	if (x->fail_row >= row0 && x->fail_row < row0 + n_rows)
		return qp_fail(e, "row %lld is unreadable", (long long)x->fail_row);
	memcpy(dst, x->a + row0 * x->n, (size_t)(n_rows * x->n) * sizeof *dst);
	return 0;
}

/* A decaying spectrum: sum of r rank-one terms with weights 1/(1+i)^p,
 * plus a little noise. */
static mat make(int64_t m, int64_t n, int r, double p, double noise,
		uint64_t seed)
{
	mat x = {m, n, calloc((size_t)(m * n), sizeof(float)), -1};
	double *acc = calloc((size_t)(m * n), sizeof *acc);
	rng_state = seed;
	double *u = malloc((size_t)m * sizeof *u), *v = malloc((size_t)n * sizeof *v);
	for (int k = 0; k < r; k++) {
		double w = 1 / pow(1 + k, p);
		for (int64_t i = 0; i < m; i++)
			u[i] = rng_gauss();
		for (int64_t j = 0; j < n; j++)
			v[j] = rng_gauss();
		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < n; j++)
				acc[i * n + j] += w * u[i] * v[j];
	}
	for (int64_t i = 0; i < m * n; i++)
		x.a[i] = (float)(acc[i] + noise * rng_gauss());
	free(u);
	free(v);
	free(acc);
	return x;
}

static double *dense_values(const mat *x)
{
	double *cm = malloc((size_t)(x->m * x->n) * sizeof *cm);
	int64_t mn = x->m < x->n ? x->m : x->n;
	double *s = malloc((size_t)mn * sizeof *s);
	for (int64_t i = 0; i < x->m; i++)
		for (int64_t j = 0; j < x->n; j++)
			cm[j * x->m + i] = x->a[i * x->n + j];
	qp_err e;
	if (qp_svd_dense_values((int)x->m, (int)x->n, cm, s, &e) < 0)
		diag("dense: %s", e.msg);
	free(cm);
	return s;
}

static void check_against_dense(int64_t m, int64_t n, int rank, int iters,
				double rel_tol, const char *what)
{
	mat x = make(m, n, 200, 1.0, 0.01, (uint64_t)(m * 31 + n));
	double *want = dense_values(&x);
	double sv[128];
	int nsv = 0;
	qp_err e;
	qp_svd_opts o = {.rank = rank, .oversample = 8, .power_iters = iters,
			 .seed = 7, .n_threads = 2};
	int rc = qp_svd_top(m, n, rows_fn, &x, &o, sv, &nsv, &e);
	ok(rc == 0, "%s: runs", what);
	if (rc)
		diag("%s", e.msg);
	int64_t mn = m < n ? m : n;
	is_int(nsv, rank < mn ? rank : mn, "%s: number of values", what);
	double worst = 0;
	for (int i = 0; i < nsv; i++) {
		double rel = fabs(sv[i] - want[i]) / want[0];
		if (rel > worst)
			worst = rel;
	}
	ok(worst <= rel_tol, "%s: within %g of sigma_max (worst %.3g)", what,
	   rel_tol, worst);
	free(want);
	free(x.a);
}

int main(void)
{
	check_against_dense(64, 64, 64, 0, 1e-9, "64x64 full rank, exact");
	check_against_dense(32, 172, 64, 0, 1e-9, "32x172 wide, exact");
	/* min(m, n) <= rank + oversample: the direct reduction, every shape
	 * it takes (tall enough for a QR first, square-ish, wide, a vector) */
	check_against_dense(400, 40, 64, 2, 1e-12, "400x40 tall (QR first), exact");
	check_against_dense(50, 40, 64, 2, 1e-12, "50x40 (no QR), exact");
	check_against_dense(40, 50, 64, 2, 1e-12, "40x50 wide, exact");
	check_against_dense(72, 1000, 64, 2, 1e-12, "72x1000 wide, l = 72, exact");
	check_against_dense(2, 2, 64, 2, 1e-12, "2x2, exact");
	check_against_dense(1, 9, 64, 2, 1e-12, "1x9, exact");
	check_against_dense(9, 1, 64, 2, 1e-12, "9x1, exact");
	check_against_dense(30, 64, 24, 0, 1e-12, "30x64 top 24 (l = 32 > 30): exact");
	check_against_dense(300, 120, 16, 2, 2e-3, "300x120 top 16, 2 power iterations");
	check_against_dense(500, 257, 64, 2, 1e-2, "500x257 top 64, 2 power iterations");

	/* determinism across thread counts */
	mat x = make(333, 97, 50, 0.7, 0.1, 99);
	double a[16], b[16];
	int na, nb;
	qp_err e;
	qp_svd_opts o = {.rank = 16, .power_iters = 2, .seed = 3, .n_threads = 1};
	qp_svd_top(x.m, x.n, rows_fn, &x, &o, a, &na, &e);
	o.n_threads = 2;
	qp_svd_top(x.m, x.n, rows_fn, &x, &o, b, &nb, &e);
	ok(na == nb && memcmp(a, b, sizeof a) == 0, "bit-identical for 1 and 2 threads");
	o.n_threads = 5;
	qp_svd_top(x.m, x.n, rows_fn, &x, &o, b, &nb, &e);
	ok(na == nb && memcmp(a, b, sizeof a) == 0, "bit-identical for 5 threads");

	/* a matrix with fewer rows than slabs */
	mat tiny = make(3, 5, 3, 1, 0, 5);
	double want_t[3];
	{
		double *w = dense_values(&tiny);
		memcpy(want_t, w, sizeof want_t);
		free(w);
	}
	o = (qp_svd_opts){.rank = 64, .power_iters = 1, .seed = 1, .n_threads = 2};
	ok(qp_svd_top(3, 5, rows_fn, &tiny, &o, a, &na, &e) == 0 && na == 3 &&
		   fabs(a[0] - want_t[0]) < 1e-6 * want_t[0] &&
		   fabs(a[2] - want_t[2]) < 1e-6 * want_t[0],
	   "3x5: rank capped at 3, exact");
	free(tiny.a);

	/* zero matrix */
	mat zero = {10, 10, calloc(100, sizeof(float)), -1};
	o = (qp_svd_opts){.rank = 4, .power_iters = 2, .seed = 1, .n_threads = 1};
	ok(qp_svd_top(10, 10, rows_fn, &zero, &o, a, &na, &e) == 0 && na == 4 &&
		   a[0] == 0 && a[3] == 0,
	   "zero matrix: zero singular values");
	free(zero.a);

	/* rank 2 of 60 x 30 (small integers, exact in float): the other 28
	 * values are zero up to rounding */
	{
		mat lr = {60, 30, malloc(60 * 30 * sizeof(float)), -1};
		for (int i = 0; i < 60; i++)
			for (int j = 0; j < 30; j++)
				lr.a[i * 30 + j] = (float)((i % 5 + 1) * (j % 7 + 1) +
							   (i % 3) * (j % 4));
		double want_lr[30], v[30];
		double *w = dense_values(&lr);
		memcpy(want_lr, w, sizeof want_lr);
		free(w);
		o = (qp_svd_opts){.rank = 30, .power_iters = 2, .seed = 1, .n_threads = 1};
		int good = qp_svd_top(60, 30, rows_fn, &lr, &o, v, &na, &e) == 0 && na == 30;
		for (int i = 0; good && i < 30; i++)
			good = fabs(v[i] - want_lr[i]) <= 1e-12 * want_lr[0] &&
			       (i < 2 ? v[i] > 1e-3 * v[0] : v[i] <= 1e-12 * v[0]) &&
			       (i == 0 || v[i] <= v[i - 1]);
		ok(good, "60x30 of rank 2: two values, then zeros, largest first");
		/* NaN and infinities are read as 0 */
		lr.a[7] = NAN;
		lr.a[100] = INFINITY;
		float keep[2] = {0, 0};
		mat zeroed = lr;
		zeroed.a = malloc(60 * 30 * sizeof(float));
		memcpy(zeroed.a, lr.a, 60 * 30 * sizeof(float));
		zeroed.a[7] = keep[0];
		zeroed.a[100] = keep[1];
		double b2[30];
		int nb2;
		ok(qp_svd_top(60, 30, rows_fn, &lr, &o, v, &na, &e) == 0 &&
			   qp_svd_top(60, 30, rows_fn, &zeroed, &o, b2, &nb2, &e) == 0 &&
			   memcmp(v, b2, sizeof b2) == 0,
		   "60x30 with NaN and Inf: the values of the matrix with zeros there");
		free(zeroed.a);
		free(lr.a);
	}

	/* errors */
	x.fail_row = 200;
	o = (qp_svd_opts){.rank = 8, .power_iters = 1, .seed = 1, .n_threads = 2};
	ok(qp_svd_top(x.m, x.n, rows_fn, &x, &o, a, &na, &e) < 0 &&
		   strstr(e.msg, "row 200 is unreadable") && na == 0,
	   "a read error is reported");
	ok(qp_svd_top(0, 5, rows_fn, &x, &o, a, &na, &e) < 0, "empty matrix refused");
	free(x.a);

	done_testing();
	return exit_status();
}
