/* proxy_fit.c — see proxy_fit.h. */
#include "proxy_fit.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"

static const double power_grid[] = {0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
				    1.1, 1.25, 1.5, 1.75, 2.0};
#define N_POWER ((int)(sizeof power_grid / sizeof power_grid[0]))

int qp_proxy_sum(const qp_proxy *p, const qp_proxy_tensor *tensors,
		 int n_tensors, const char *const *types, double *sum,
		 qp_err *e)
{
	double s = 0;
	for (int t = 0; t < n_tensors; t++) {
		if (!types[t])
			continue;
		double term;
		if (qp_proxy_term(p, &tensors[t], types[t], &term, e) < 0)
			return -1;
		s += term;
	}
	*sum = s;
	return 0;
}

/* The design of one form: coefficient names and, per run, the weighted
 * error sum of each coefficient's tensors. */
typedef struct design {
	int n_groups;
	char (*names)[112];
	double *x;      /* n_runs x n_groups, column-major */
	int *used;      /* column has a nonzero entry */
	int n_used;
} design;

static void design_free(design *d)
{
	free(d->names);
	free(d->x);
	free(d->used);
	memset(d, 0, sizeof *d);
}

static int group_index(design *d, const char *name, int cap)
{
	for (int g = 0; g < d->n_groups; g++)
		if (!strcmp(d->names[g], name))
			return g;
	if (d->n_groups == cap)
		return -1;
	size_t len = strnlen(name, sizeof d->names[0] - 1);
	memcpy(d->names[d->n_groups], name, len);
	d->names[d->n_groups][len] = 0;
	return d->n_groups++;
}

/* atoms: n_runs x n_tensors (row-major by run). */
static int build_design(const qp_fit_run *runs, int n_runs, int n_tensors,
			const double *atoms, qp_proxy_form form, design *d,
			qp_err *e)
{
	int cap = 2 * n_tensors + 64;
	memset(d, 0, sizeof *d);
	d->names = calloc((size_t)cap, sizeof *d->names);
	d->x = calloc((size_t)n_runs * (size_t)cap, sizeof *d->x);
	d->used = calloc((size_t)cap, sizeof *d->used);
	int *gi = malloc((size_t)n_tensors * 2 * sizeof *gi);
	double *gw = malloc((size_t)n_tensors * 2 * sizeof *gw);
	if (!d->names || !gi || !gw || !d->x || !d->used) {
		free(gi);
		free(gw);
		design_free(d);
		return qp_fail(e, "out of memory");
	}
	/* Group names per tensor; recomputed only when a run views another
	 * tensor list (runs of one model share it; the prior mixes models). */
	const qp_proxy_tensor *seen = NULL;
	for (int r = 0; r < n_runs; r++) {
		if (runs[r].tensors != seen) {
			seen = runs[r].tensors;
			for (int t = 0; t < n_tensors && t < runs[r].n_tensors; t++) {
				char names[2][112];
				double w[2];
				int k = qp_proxy_groups(form, &seen[t], names, w);
				for (int j = 0; j < 2; j++) {
					gi[2 * t + j] = j < k ? group_index(d, names[j], cap) : -1;
					gw[2 * t + j] = j < k ? w[j] : 0;
				}
			}
		}
		for (int t = 0; t < runs[r].n_tensors; t++) {
			double a = atoms[(size_t)r * n_tensors + t];
			if (a == 0)
				continue;
			for (int j = 0; j < 2; j++)
				if (gi[2 * t + j] >= 0 && gw[2 * t + j] != 0)
					d->x[r + (size_t)gi[2 * t + j] * n_runs] += gw[2 * t + j] * a;
		}
	}
	for (int g = 0; g < d->n_groups; g++) {
		for (int r = 0; r < n_runs; r++)
			if (d->x[r + (size_t)g * n_runs] != 0)
				d->used[g] = 1;
		d->n_used += d->used[g];
	}
	free(gi);
	free(gw);
	return 0;
}

typedef struct work {
	int n;          /* runs */
	int k;          /* used columns */
	double *xu;     /* n x k used columns */
	double *a, *b;  /* weighted system (at most n rows) */
	double *c;      /* k */
} work;

static double row_sum(const work *w, int r, const double *c)
{
	double s = 0;
	for (int j = 0; j < w->k; j++)
		s += w->xu[r + (size_t)j * w->n] * c[j];
	return s;
}

static double link_pred(double s, double power)
{
	return s > 0 ? pow(s, power) : 0;
}

/* Fits on every run but `skip` (-1: all). */
static int fit_subset(work *w, const double *y, int skip, double power,
		      bool relative, double eps, double *c, qp_err *e)
{
	int m = 0;
	double eps_p = pow(eps, 1 / power);
	for (int r = 0; r < w->n; r++) {
		if (r == skip)
			continue;
		m++;
	}
	int i = 0;
	for (int r = 0; r < w->n; r++) {
		if (r == skip)
			continue;
		double yt = pow(y[r], 1 / power);
		double wt = relative ? 1 / (yt + eps_p) : 1;
		w->b[i] = wt * yt;
		for (int j = 0; j < w->k; j++)
			w->a[i + (size_t)j * m] = wt * w->xu[r + (size_t)j * w->n];
		i++;
	}
	return qp_nnls(m, w->k, w->a, w->b, c, NULL, e);
}

static double log_resid(double y, double pred, double eps)
{
	return log(y + eps) - log(pred + eps);
}

static double score_in_sample(const work *w, const double *y, const double *c,
			      double power, bool relative, double eps)
{
	double s = 0;
	for (int r = 0; r < w->n; r++) {
		double p = link_pred(row_sum(w, r, c), power);
		double d = relative ? log_resid(y[r], p, eps) : y[r] - p;
		s += d * d;
	}
	return s;
}

/* Picks the power on all runs, then leave-one-out with it. */
static int eval_candidate(work *w, const double *y, bool relative, double eps,
			  double *best_power, double *loo, qp_err *e)
{
	double best = INFINITY;
	*best_power = 1;
	for (int g = 0; g < N_POWER; g++) {
		if (fit_subset(w, y, -1, power_grid[g], relative, eps, w->c, e) < 0)
			return -1;
		double s = score_in_sample(w, y, w->c, power_grid[g], relative, eps);
		if (s < best) {
			best = s;
			*best_power = power_grid[g];
		}
	}
	for (int i = 0; i < w->n; i++) {
		if (fit_subset(w, y, i, *best_power, relative, eps, w->c, e) < 0)
			return -1;
		loo[i] = link_pred(row_sum(w, i, w->c), *best_power);
	}
	return 0;
}

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	return (a > b) - (a < b);
}

void qp_fit_report_free(qp_fit_report *rep)
{
	if (!rep)
		return;
	free(rep->fitted);
	free(rep->loo_pred);
	rep->fitted = rep->loo_pred = NULL;
}

static void note(qp_fit_report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(qp_fit_report *rep, const char *fmt, ...)
{
	if (!rep || rep->n_notes == QP_FIT_MAX_NOTES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rep->notes[rep->n_notes++], sizeof rep->notes[0], fmt, ap);
	va_end(ap);
}

int qp_fit_proxy(const qp_fit_run *runs, int n_runs, const qp_fit_opts *o,
		 qp_proxy **p, qp_fit_report *rep, qp_err *e)
{
	*p = NULL;
	qp_fit_report local;
	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof *rep);
	if (n_runs < 2)
		return qp_fail(e, "a fit needs at least 2 measured runs, not %d", n_runs);
	int n_t = 0;
	for (int r = 0; r < n_runs; r++)
		if (runs[r].n_tensors > n_t)
			n_t = runs[r].n_tensors;
	double eps = o->eps > 0 ? o->eps : 1e-4;
	int n = n_runs, rc = 0;
	double *y = malloc((size_t)n * sizeof *y);
	double *atoms = malloc((size_t)QP_METRIC_COUNT * n * (n_t ? n_t : 1) * sizeof *atoms);
	double *loo = malloc((size_t)n * sizeof *loo), *best_loo = malloc((size_t)n * sizeof *best_loo);
	double *lr = malloc((size_t)n * sizeof *lr);
	work w = {0};
	w.n = n;
	design d = {0};
	qp_proxy_form best_form = QP_FORM_TOTAL;
	qp_proxy_metric best_metric = QP_METRIC_MSE;
	bool best_rel = true;
	double best_power = 1, best_score = INFINITY;
	if (!y || !atoms || !loo || !best_loo || !lr) {
		rc = qp_fail(e, "out of memory");
		goto out;
	}
	for (int r = 0; r < n; r++) {
		if (!(runs[r].y >= 0) || !isfinite(runs[r].y)) {
			rc = qp_fail(e, "run %d: target %g is not a finite value >= 0", r + 1, runs[r].y);
			goto out;
		}
		y[r] = runs[r].y;
	}
	for (int m = 0; m < QP_METRIC_COUNT; m++)
		for (int r = 0; r < n; r++)
			for (int t = 0; t < n_t; t++) {
				double *a = &atoms[((size_t)m * n + r) * n_t + t];
				*a = 0;
				if (t >= runs[r].n_tensors || !runs[r].types[t])
					continue;
				if (qp_proxy_atom(&runs[r].tensors[t], runs[r].types[t],
						  (qp_proxy_metric)m, a, e) < 0) {
					rc = -1;
					goto out;
				}
			}
	int skipped_forms = 0;
	for (int f = 0; f < QP_FORM_COUNT; f++) {
		if (o->only_form >= 0 && f != o->only_form)
			continue;
		for (int m = 0; m < QP_METRIC_COUNT; m++) {
			if (o->only_metric >= 0 && m != o->only_metric)
				continue;
			if ((rc = build_design(runs, n, n_t, atoms + (size_t)m * n * n_t,
					       (qp_proxy_form)f, &d, e)) < 0)
				goto out;
			int k = d.n_used;
			bool too_few = k == 0 || (f != QP_FORM_TOTAL && n < k + 2);
			free(w.xu);
			free(w.a);
			free(w.b);
			free(w.c);
			w.k = k;
			w.xu = malloc((size_t)n * (k ? k : 1) * sizeof *w.xu);
			w.a = malloc((size_t)n * (k ? k : 1) * sizeof *w.a);
			w.b = malloc((size_t)n * sizeof *w.b);
			w.c = malloc((size_t)(k ? k : 1) * sizeof *w.c);
			if (!w.xu || !w.a || !w.b || !w.c) {
				rc = qp_fail(e, "out of memory");
				goto out;
			}
			for (int g = 0, j = 0; g < d.n_groups; g++)
				if (d.used[g])
					memcpy(w.xu + (size_t)j++ * n, d.x + (size_t)g * n,
					       (size_t)n * sizeof *w.xu);
			for (int rel = 1; rel >= 0; rel--) {
				qp_fit_cand *c = rep->n_cand < QP_FIT_MAX_CAND ? &rep->cand[rep->n_cand++] : NULL;
				if (c)
					*c = (qp_fit_cand){(qp_proxy_form)f, (qp_proxy_metric)m, rel != 0,
							   1, k, too_few, NAN, NAN};
				if (too_few) {
					if (rel)
						skipped_forms++;
					continue;
				}
				double power;
				if ((rc = eval_candidate(&w, y, rel != 0, eps, &power, loo, e)) < 0)
					goto out;
				double s = 0;
				for (int i = 0; i < n; i++) {
					double dr = log_resid(y[i], loo[i], eps);
					s += dr * dr;
				}
				s = sqrt(s / n);
				if (c) {
					c->power = power;
					c->loo_rms_log = s;
					c->loo_spearman = qp_spearman(loo, y, n);
				}
				if (s < best_score) {
					best_score = s;
					best_form = (qp_proxy_form)f;
					best_metric = (qp_proxy_metric)m;
					best_rel = rel != 0;
					best_power = power;
					memcpy(best_loo, loo, (size_t)n * sizeof *loo);
				}
			}
			design_free(&d);
		}
	}
	if (!isfinite(best_score)) {
		rc = qp_fail(e, "no form could be fitted: the runs quantize no tensor "
			     "(every run leaves the model at its base types)");
		goto out;
	}
	if (skipped_forms)
		note(rep, "%d form/metric pairs need more runs than the %d given "
		     "(n_runs < n_params + 2) and were not tried", skipped_forms, n);
	/* Refit the winner on every run. */
	if ((rc = build_design(runs, n, n_t, atoms + (size_t)best_metric * n * n_t,
			       best_form, &d, e)) < 0)
		goto out;
	{
		int k = d.n_used;
		free(w.xu);
		free(w.a);
		free(w.b);
		free(w.c);
		w.k = k;
		w.xu = malloc((size_t)n * k * sizeof *w.xu);
		w.a = malloc((size_t)n * k * sizeof *w.a);
		w.b = malloc((size_t)n * sizeof *w.b);
		w.c = malloc((size_t)k * sizeof *w.c);
		const char **names = malloc((size_t)k * sizeof *names);
		double *sorted = malloc((size_t)k * sizeof *sorted);
		rep->fitted = malloc((size_t)n * sizeof *rep->fitted);
		rep->loo_pred = malloc((size_t)n * sizeof *rep->loo_pred);
		if (!w.xu || !w.a || !w.b || !w.c || !names || !sorted || !rep->fitted ||
		    !rep->loo_pred) {
			free(names);
			free(sorted);
			rc = qp_fail(e, "out of memory");
			goto out;
		}
		for (int g = 0, j = 0; g < d.n_groups; g++)
			if (d.used[g]) {
				names[j] = d.names[g];
				memcpy(w.xu + (size_t)j++ * n, d.x + (size_t)g * n,
				       (size_t)n * sizeof *w.xu);
			}
		if ((rc = fit_subset(&w, y, -1, best_power, best_rel, eps, w.c, e)) < 0) {
			free(names);
			free(sorted);
			goto out;
		}
		/* A coefficient for a group no run quantized: the median of
		 * the fitted ones (a neutral guess the fit record names). */
		memcpy(sorted, w.c, (size_t)k * sizeof *sorted);
		qsort(sorted, (size_t)k, sizeof *sorted, cmp_double);
		double def = k ? (k % 2 ? sorted[k / 2] : (sorted[k / 2 - 1] + sorted[k / 2]) / 2) : 0;
		for (int i = 0; i < n; i++) {
			rep->fitted[i] = link_pred(row_sum(&w, i, w.c), best_power);
			rep->loo_pred[i] = best_loo[i];
			lr[i] = fabs(log_resid(y[i], best_loo[i], eps));
		}
		/* Leave-one-out coverage: run i against the quantile of the
		 * other runs' held-out residuals. */
		int covered = 0;
		double *others = sorted; /* reuse needs n values */
		others = malloc((size_t)(n > 1 ? n - 1 : 1) * sizeof *others);
		if (!others) {
			free(names);
			free(sorted);
			rc = qp_fail(e, "out of memory");
			goto out;
		}
		int any_sat = 0;
		for (int i = 0; i < n; i++) {
			int j = 0, sat;
			for (int r = 0; r < n; r++)
				if (r != i)
					others[j++] = lr[r];
			double q = qp_conformal_q(others, n - 1, o->level, &sat);
			any_sat |= sat;
			covered += lr[i] <= q;
		}
		free(others);
		qp_proxy_spec s = {
			.target = o->target, .calibrated = true, .form = best_form,
			.metric = best_metric, .power = best_power, .n_coef = k,
			.coef_names = names, .coef = w.c, .coef_default = def,
			.level = o->level, .eps = eps, .widen = 1,
			.loo_coverage = (double)covered / n, .n_resid = n, .abs_resid = lr,
		};
		rc = qp_proxy_new(&s, p, e);
		free(names);
		free(sorted);
		if (rc < 0)
			goto out;
		if (any_sat)
			note(rep, "%d runs are too few for a %g interval from held-out "
			     "residuals: it is the widest residual seen", n, o->level);
		rep->n = n;
		rep->n_params = k;
		rep->relative = best_rel;
		rep->r2 = qp_r2(y, rep->fitted, n);
		rep->spearman = qp_spearman(rep->fitted, y, n);
		rep->kendall = qp_kendall(rep->fitted, y, n);
		rep->loo_spearman = qp_spearman(rep->loo_pred, y, n);
		rep->loo_r2 = qp_r2(y, rep->loo_pred, n);
		rep->loo_coverage = (double)covered / n;
		double mae = 0, loo_mae = 0;
		for (int i = 0; i < n; i++) {
			mae += fabs(rep->fitted[i] - y[i]);
			loo_mae += fabs(rep->loo_pred[i] - y[i]);
		}
		rep->mae = mae / n;
		rep->loo_mae = loo_mae / n;
	}
out:
	design_free(&d);
	free(w.xu);
	free(w.a);
	free(w.b);
	free(w.c);
	free(y);
	free(atoms);
	free(loo);
	free(best_loo);
	free(lr);
	if (rc < 0) {
		qp_fit_report_free(rep);
		qp_proxy_free(*p);
		*p = NULL;
	}
	if (rep == &local)
		qp_fit_report_free(rep);
	return rc;
}

int qp_fit_crossval(const qp_fit_run *runs, int n_runs, int k,
		    const qp_fit_opts *o, double *pred, double *lo, double *hi,
		    qp_err *e)
{
	if (k < 2 || n_runs < 2 * k)
		return qp_fail(e, "%d-fold cross-validation needs at least %d runs, not %d",
			       k, 2 * k, n_runs);
	qp_fit_run *train = malloc((size_t)n_runs * sizeof *train);
	if (!train)
		return qp_fail(e, "out of memory");
	int rc = 0;
	for (int f = 0; f < k && rc == 0; f++) {
		int m = 0;
		for (int i = 0; i < n_runs; i++)
			if (i % k != f)
				train[m++] = runs[i];
		qp_proxy *p = NULL;
		if ((rc = qp_fit_proxy(train, m, o, &p, NULL, e)) < 0)
			break;
		for (int i = f; i < n_runs; i += k) {
			double s;
			if ((rc = qp_proxy_sum(p, runs[i].tensors, runs[i].n_tensors,
					       runs[i].types, &s, e)) < 0)
				break;
			qp_pred pr;
			qp_proxy_predict(p, s, &pr);
			pred[i] = pr.value;
			lo[i] = pr.lo;
			hi[i] = pr.hi;
		}
		qp_proxy_free(p);
	}
	free(train);
	return rc;
}
