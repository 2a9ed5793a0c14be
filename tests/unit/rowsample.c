/* rowsample: the 95% interval of qp_row_estimate is a 95% interval.
 * The t quantile against tabulated values, then the estimator on
 * synthetic rows whose population total is known, over enough seeds that
 * a 90% interval (t = 1.645) or a 99% one could not pass. */
#include <math.h>
#include <stdint.h>

#include "../tap.h"
#include "rowsample.h"

/* Student t 0.975 quantiles (any statistics table). */
static const struct {
	double df, t;
} t_table[] = {
	{ 3, 3.182446 },   { 4, 2.776445 },  { 5, 2.570582 },
	{ 10, 2.228139 },  { 20, 2.085963 }, { 30, 2.042272 },
	{ 62, 1.998972 },  { 120, 1.979930 }, { 1000, 1.962339 },
	{ 1e9, 1.959964 },
};

static uint64_t rng_state;

static uint64_t next_u64(void) /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform01(void)
{
	return ((double)(next_u64() >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void) /* Box-Muller */
{
	return sqrt(-2 * log(uniform01())) * cos(6.283185307179586 * uniform01());
}

#define N_ROWS 4000
#define N_SAMPLED 200

/* One trial: N_ROWS rows of y = slope * p + noise of sd sigma (p the
 * proxy, uniform in [1, 2]); N_SAMPLED rows drawn without replacement.
 * Returns whether [lo, hi] holds the true total; *width its width. */
static int trial(double slope, double sigma, double *width)
{
	static double y_all[N_ROWS], p_all[N_ROWS], y[N_SAMPLED], p[N_SAMPLED];
	static int64_t rows[N_SAMPLED], idx[N_ROWS];
	static bool take_all[N_SAMPLED];
	double total = 0, proxy_total = 0;
	for (int i = 0; i < N_ROWS; i++) {
		p_all[i] = 1 + uniform01();
		y_all[i] = 10 + slope * p_all[i] + sigma * normal();
		total += y_all[i];
		proxy_total += p_all[i];
		idx[i] = i;
	}
	for (int i = 0; i < N_SAMPLED; i++) { /* partial Fisher-Yates */
		int j = i + (int)(next_u64() % (uint64_t)(N_ROWS - i));
		int64_t t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
		rows[i] = idx[i];
		y[i] = y_all[idx[i]];
		p[i] = p_all[idx[i]];
		take_all[i] = false;
	}
	qp_row_plan plan = {
		.n_rows = N_ROWS, .n_sel = N_SAMPLED, .rows = rows,
		.take_all = take_all, .proxy = p, .n_rest = N_ROWS,
		.proxy_rest = proxy_total,
	};
	double est, lo, hi;
	qp_row_estimate(&plan, y, &est, &lo, &hi);
	*width = hi - lo;
	return lo <= total && total <= hi;
}

/* Coverage over n seeds; the expected width (2 t se of the regression
 * estimator, se = N sigma / sqrt(k) sqrt(1 - k/N)) for comparison. */
static void coverage(const char *what, uint64_t seed, double slope,
		     double sigma)
{
	int n = 2000, inside = 0;
	double width = 0;
	for (int s = 0; s < n; s++) {
		double w;
		rng_state = seed + (uint64_t)s;
		inside += trial(slope, sigma, &w);
		width += w / n;
	}
	double want_width = 2 * qp_t975(N_SAMPLED - 2) * N_ROWS * sigma /
			    sqrt(N_SAMPLED) * sqrt(1.0 - (double)N_SAMPLED / N_ROWS);
	double rate = (double)inside / n;
	/* Binomial sd of the rate at 95% over 2000 trials is 0.0049: 93%
	 * is four of them below, and a 90% interval lands ten below. */
	ok(rate >= 0.93 && rate <= 0.97, "%s: %d of %d intervals (%.1f%%) hold the total",
	   what, inside, n, 100 * rate);
	/* 1%: the finite-population factor alone is 2.5% here */
	ok(fabs(width / want_width - 1) < 0.01,
	   "%s: mean width %.2f is 2 t se = %.2f within 1%%", what, width,
	   want_width);
}

int main(void)
{
	for (size_t i = 0; i < sizeof t_table / sizeof t_table[0]; i++) {
		double got = qp_t975(t_table[i].df);
		double df = t_table[i].df;
		double tol = df >= 10 ? 0.0001 : df >= 4 ? 0.003 : 0.0075;
		ok(fabs(got / t_table[i].t - 1) <= tol,
		   "t975(%g) = %.6f, table %.6f (within %.3g%%)", t_table[i].df,
		   got, t_table[i].t, 100 * tol);
	}
	ok(qp_t975(5) > qp_t975(6) && qp_t975(6) > qp_t975(100),
	   "t975 falls with the degrees of freedom");

	coverage("rows of constant mean, sd 3", 0x5eed0000, 0, 3);
	coverage("rows following the proxy, sd 0.5", 0xbeef0000, 40, 0.5);

	/* Every row measured: exact, no interval. */
	double y[4] = { 1, 2, 3, 4 }, p[4] = { 1, 1, 1, 1 }, total, lo, hi;
	int64_t rows[4] = { 0, 1, 2, 3 };
	bool ta[4] = { false, false, false, false };
	qp_row_plan all = { .n_rows = 4, .n_sel = 4, .rows = rows, .take_all = ta,
			    .proxy = p, .n_rest = 4, .proxy_rest = 4 };
	qp_row_estimate(&all, y, &total, &lo, &hi);
	ok(total == 10 && lo == 10 && hi == 10, "all rows measured: the exact total");
	/* Take-all rows count exactly, the others are estimated. */
	bool ta2[4] = { true, false, false, false };
	qp_row_plan part = { .n_rows = 10, .n_sel = 4, .rows = rows, .take_all = ta2,
			     .proxy = p, .n_rest = 9, .proxy_rest = 9 };
	qp_row_estimate(&part, y, &total, &lo, &hi);
	is_double(total, 1 + 9 * 3.0, 1e-12, "take-all row exact, 9 rows of mean 3");
	ok(lo < total && total < hi, "and an interval around it [%g, %g]", lo, hi);
	done_testing();
	return exit_status();
}
