/* Unit tests for common/fit: NNLS against known solutions (interior,
 * on the boundary, collinear columns, zero column), rank correlations
 * with ties, R², and the conformal quantile's rank and saturation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "fit.h"

static void test_nnls(void)
{
	qp_err e;
	/* b = A [1, 2]: the unconstrained solution is feasible. */
	double a[] = {1, 0, 1, 2, 0, 1, 1, 3}; /* 4 x 2 column-major */
	double b[4], x[2], rn;
	for (int i = 0; i < 4; i++)
		b[i] = a[i] * 1 + a[4 + i] * 2;
	ok(qp_nnls(4, 2, a, b, x, &rn, &e) == 0, "nnls interior: solves");
	is_double(x[0], 1, 1e-10, "interior x0");
	is_double(x[1], 2, 1e-10, "interior x1");
	is_double(rn, 0, 1e-10, "interior residual 0");
	/* b = A [-1, 2]: x0 clamps to 0, x1 is the 1-D least squares. */
	for (int i = 0; i < 4; i++)
		b[i] = -a[i] + 2 * a[4 + i];
	ok(qp_nnls(4, 2, a, b, x, &rn, &e) == 0, "nnls boundary: solves");
	is_double(x[0], 0, 0, "boundary x0 = 0");
	double num = 0, den = 0;
	for (int i = 0; i < 4; i++) {
		num += a[4 + i] * b[i];
		den += a[4 + i] * a[4 + i];
	}
	is_double(x[1], num / den, 1e-10, "boundary x1 = 1-D least squares");
	/* Collinear columns and a zero column: finite, >= 0, fits b. */
	double c[] = {1, 2, 3, 2, 4, 6, 0, 0, 0};
	double bc[] = {3, 6, 9};
	double xc[3];
	ok(qp_nnls(3, 3, c, bc, xc, &rn, &e) == 0, "nnls collinear: solves");
	ok(xc[0] >= 0 && xc[1] >= 0 && xc[2] == 0, "collinear: x >= 0, zero column 0");
	is_double(xc[0] + 2 * xc[1], 3, 1e-9, "collinear: fits");
	/* All-negative target: x = 0. */
	double bn[] = {-1, -2, -3};
	ok(qp_nnls(3, 3, c, bn, xc, &rn, &e) == 0 && xc[0] == 0 && xc[1] == 0,
	   "negative target gives x = 0");
	ok(qp_nnls(0, 2, a, b, x, &rn, &e) < 0, "empty system is an error");
}

static void test_ranks(void)
{
	double x[] = {1, 2, 3, 4, 5}, y[] = {2, 4, 6, 8, 100}, z[] = {5, 4, 3, 2, 1};
	is_double(qp_spearman(x, y, 5), 1, 1e-12, "spearman monotone = 1");
	is_double(qp_spearman(x, z, 5), -1, 1e-12, "spearman reversed = -1");
	is_double(qp_kendall(x, y, 5), 1, 1e-12, "kendall monotone = 1");
	double t[] = {1, 1, 2, 3}, u[] = {1, 2, 3, 4};
	/* tau-b with one tie in t: (5 - 0) / sqrt(5 * 6) */
	is_double(qp_kendall(t, u, 4), 5 / sqrt(30), 1e-12, "kendall tau-b with a tie");
	/* Spearman with ties: ranks 1.5 1.5 3 4 against 1 2 3 4. */
	is_double(qp_spearman(t, u, 4), 0.9486832980505138, 1e-12, "spearman average ranks");
	double k[] = {3, 3, 3};
	ok(isnan(qp_spearman(k, x, 3)), "constant side gives NaN");
	is_double(qp_r2(x, x, 5), 1, 0, "r2 perfect = 1");
}

static void test_conformal(void)
{
	double r[19];
	for (int i = 0; i < 19; i++)
		r[i] = 19 - i; /* 19 .. 1, unsorted on purpose */
	int sat;
	/* ceil(20 * 0.9) = 18th smallest of 1..19 */
	is_double(qp_conformal_q(r, 19, 0.9, &sat), 18, 0, "rank ceil((n+1)L)");
	ok(!sat, "not saturated");
	/* ceil(20 * 0.99) = 20 > 19: the largest, saturated */
	is_double(qp_conformal_q(r, 19, 0.99, &sat), 19, 0, "saturated gives the max");
	ok(sat, "saturated flag");
}

int main(void)
{
	test_nnls();
	test_ranks();
	test_conformal();
	done_testing();
	return exit_status();
}
