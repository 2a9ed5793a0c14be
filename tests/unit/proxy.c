/* proxy: a prediction's interval brackets its value and is never negative
 * or NaN, even when a hand-made fit record's link or width overflows (a
 * fuzz finding: an infinite value times exp(-inf) gave a NaN lower bound). */
#include <math.h>

#include "../tap.h"
#include "proxy.h"

static qp_proxy *make(double power, double widen, double resid)
{
	static const char *const names[] = {"all"};
	static const double coef[] = {1};
	double res[] = {resid, resid / 2};
	qp_proxy_spec s = {
		.target = "kld_mean", .calibrated = true, .form = QP_FORM_TOTAL,
		.metric = QP_METRIC_REL2, .power = power, .n_coef = 1,
		.coef_names = names, .coef = coef, .coef_default = 1,
		.level = 0.9, .eps = 1e-4, .widen = widen, .loo_coverage = NAN,
		.n_resid = 2, .abs_resid = res,
	};
	qp_proxy *p = NULL;
	qp_err e;
	if (qp_proxy_new(&s, &p, &e) < 0)
		diag("qp_proxy_new: %s", e.msg);
	return p;
}

static int brackets(const qp_pred *r)
{
	return !isnan(r->lo) && !isnan(r->hi) && r->lo >= 0 && r->lo <= r->value &&
	       r->value <= r->hi;
}

int main(void)
{
	static const struct { double power, widen, resid; } cases[] = {
		{0.9, 1, 0.5},       {1e220, 1, 0.5}, {1e220, 1, 1e301},
		{2, 1e300, 1},       {1e300, 1e300, 1e300},
	};
	static const double sums[] = {0, 1e-9, 0.01, 1, 1e6, 1e300};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		qp_proxy *p = make(cases[c].power, cases[c].widen, cases[c].resid);
		if (!ok(p != NULL, "power %g widen %g resid %g: made", cases[c].power,
			cases[c].widen, cases[c].resid))
			continue;
		int good = 1;
		for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++) {
			qp_pred r;
			qp_proxy_predict(p, sums[i], &r);
			int b = brackets(&r);
			if (!b)
				diag("sum %g: value %g lo %g hi %g", sums[i], r.value, r.lo, r.hi);
			qp_proxy_predict_at(p, sums[i], 0.5, &r);
			good &= b & brackets(&r);
		}
		ok(good, "power %g widen %g resid %g: lo <= value <= hi, lo >= 0, no NaN",
		   cases[c].power, cases[c].widen, cases[c].resid);
		qp_proxy_free(p);
	}
	done_testing();
	return exit_status();
}
