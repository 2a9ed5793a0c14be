/* fit.c — see fit.h. */
#include "fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (Fortran 77 interface, as svd.c uses). */
extern void dgelsd_(const int *m, const int *n, const int *nrhs, double *a,
		    const int *lda, double *b, const int *ldb, double *s,
		    const double *rcond, int *rank, double *work,
		    const int *lwork, int *iwork, int *info);

/* Least squares on the columns listed in cols (k of them) of the
 * column-major m x n matrix a: z[cols[j]] gets the solution, others 0. */
static int ls_on_columns(int m, const double *a, const double *b,
			 const int *cols, int k, double *z, int n, double *ws,
			 qp_err *e)
{
	int ldb = m > k ? m : k, nrhs = 1, rank = 0, info = 0, lwork = -1;
	double *sub = ws, *rhs = ws + (size_t)m * k, *sv = rhs + ldb;
	double rcond = 1e-12, query = 0;
	for (int j = 0; j < k; j++)
		memcpy(sub + (size_t)j * m, a + (size_t)cols[j] * m,
		       (size_t)m * sizeof *a);
	memset(rhs, 0, (size_t)ldb * sizeof *rhs);
	memcpy(rhs, b, (size_t)m * sizeof *b);
	int iwork_query = 0;
	dgelsd_(&m, &k, &nrhs, sub, &m, rhs, &ldb, sv, &rcond, &rank, &query,
		&lwork, &iwork_query, &info);
	if (info != 0)
		return qp_fail(e, "LAPACK dgelsd workspace query failed (info %d)", info);
	lwork = (int)query + 1;
	int liwork = iwork_query > 1 ? iwork_query : 1;
	/* dgelsd's query reports the integer workspace in iwork[0]; give a
	 * generous floor anyway. */
	if (liwork < 64 * (m + k))
		liwork = 64 * (m + k);
	double *work = malloc((size_t)lwork * sizeof *work);
	int *iwork = malloc((size_t)liwork * sizeof *iwork);
	if (!work || !iwork) {
		free(work);
		free(iwork);
		return qp_fail(e, "out of memory");
	}
	dgelsd_(&m, &k, &nrhs, sub, &m, rhs, &ldb, sv, &rcond, &rank, work,
		&lwork, iwork, &info);
	free(work);
	free(iwork);
	if (info != 0)
		return qp_fail(e, "LAPACK dgelsd failed (info %d)", info);
	for (int j = 0; j < n; j++)
		z[j] = 0;
	for (int j = 0; j < k; j++)
		z[cols[j]] = rhs[j];
	return 0;
}

int qp_nnls(int m, int n, const double *a_in, const double *b, double *x,
	    double *resid_norm, qp_err *e)
{
	if (m < 1 || n < 1)
		return qp_fail(e, "nnls: empty system (%d x %d)", m, n);
	size_t mn = (size_t)m * n;
	int kmax = n;
	size_t ws_len = (size_t)m * kmax + (size_t)(m > n ? m : n) + (size_t)n;
	double *a = malloc(mn * sizeof *a), *scale = malloc((size_t)n * sizeof *scale);
	double *w = malloc((size_t)n * sizeof *w), *z = malloc((size_t)n * sizeof *z);
	double *r = malloc((size_t)m * sizeof *r), *ws = malloc(ws_len * sizeof *ws);
	int *passive = calloc((size_t)n, sizeof *passive), *cols = malloc((size_t)n * sizeof *cols);
	int rc = 0;
	if (!a || !scale || !w || !z || !r || !ws || !passive || !cols) {
		rc = qp_fail(e, "out of memory");
		goto out;
	}
	/* Unit-norm columns; a zero column stays zero and its x stays 0. */
	for (int j = 0; j < n; j++) {
		double s = 0;
		for (int i = 0; i < m; i++)
			s += a_in[i + (size_t)j * m] * a_in[i + (size_t)j * m];
		s = sqrt(s);
		scale[j] = s > 0 ? s : 1;
		for (int i = 0; i < m; i++)
			a[i + (size_t)j * m] = s > 0 ? a_in[i + (size_t)j * m] / s : 0;
		x[j] = 0;
	}
	double bnorm = 0;
	for (int i = 0; i < m; i++)
		bnorm += b[i] * b[i];
	bnorm = sqrt(bnorm);
	double tol = 1e-12 * (bnorm > 0 ? bnorm : 1) * (m > n ? m : n);
	int n_passive = 0;
	for (int outer = 0; outer < 3 * n + 10; outer++) {
		/* r = b - A x; w = A^T r */
		for (int i = 0; i < m; i++) {
			double s = b[i];
			for (int j = 0; j < n; j++)
				s -= a[i + (size_t)j * m] * x[j];
			r[i] = s;
		}
		int best = -1;
		double best_w = tol;
		for (int j = 0; j < n; j++) {
			double s = 0;
			for (int i = 0; i < m; i++)
				s += a[i + (size_t)j * m] * r[i];
			w[j] = s;
			if (!passive[j] && s > best_w) {
				best_w = s;
				best = j;
			}
		}
		if (best < 0)
			break;
		passive[best] = 1;
		n_passive++;
		for (int inner = 0; inner < 3 * n + 10; inner++) {
			int k = 0;
			for (int j = 0; j < n; j++)
				if (passive[j])
					cols[k++] = j;
			if ((rc = ls_on_columns(m, a, b, cols, k, z, n, ws, e)) < 0)
				goto out;
			int feasible = 1;
			for (int j = 0; j < k; j++)
				if (z[cols[j]] <= 0)
					feasible = 0;
			if (feasible) {
				memcpy(x, z, (size_t)n * sizeof *x);
				break;
			}
			double alpha = 1;
			for (int j = 0; j < k; j++) {
				int c = cols[j];
				if (z[c] <= 0) {
					double d = x[c] - z[c];
					double t = d > 0 ? x[c] / d : 0;
					if (t < alpha)
						alpha = t;
				}
			}
			for (int j = 0; j < n; j++) {
				x[j] += alpha * (z[j] - x[j]);
				if (passive[j] && x[j] <= 1e-15) {
					passive[j] = 0;
					x[j] = 0;
					n_passive--;
				}
			}
			if (n_passive == 0)
				break;
		}
		/* The column just added may have been dropped again at once:
		 * with nothing gained, stop instead of cycling. */
		if (!passive[best])
			break;
	}
	double rn = 0;
	for (int i = 0; i < m; i++) {
		double s = b[i];
		for (int j = 0; j < n; j++)
			s -= a[i + (size_t)j * m] * x[j];
		rn += s * s;
	}
	for (int j = 0; j < n; j++)
		x[j] = x[j] > 0 ? x[j] / scale[j] : 0;
	if (resid_norm)
		*resid_norm = sqrt(rn);
out:
	free(a);
	free(scale);
	free(w);
	free(z);
	free(r);
	free(ws);
	free(passive);
	free(cols);
	return rc;
}

/* ---- rank statistics --------------------------------------------------- */

typedef struct idx_val {
	double v;
	int i;
} idx_val;

static int cmp_idx_val(const void *pa, const void *pb)
{
	const idx_val *a = pa, *b = pb;
	if (a->v < b->v)
		return -1;
	if (a->v > b->v)
		return 1;
	return a->i - b->i;
}

/* Average ranks (ties share their mean rank); 0 on allocation failure. */
static int ranks(const double *v, int n, double *rk)
{
	idx_val *t = malloc((size_t)n * sizeof *t);
	if (!t)
		return 0;
	for (int i = 0; i < n; i++)
		t[i] = (idx_val){v[i], i};
	qsort(t, (size_t)n, sizeof *t, cmp_idx_val);
	for (int i = 0; i < n;) {
		int j = i;
		while (j + 1 < n && t[j + 1].v == t[i].v)
			j++;
		double avg = (i + j) / 2.0 + 1;
		for (int k = i; k <= j; k++)
			rk[t[k].i] = avg;
		i = j + 1;
	}
	free(t);
	return 1;
}

static double pearson(const double *x, const double *y, int n)
{
	double mx = 0, my = 0;
	for (int i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= n;
	my /= n;
	double sxy = 0, sxx = 0, syy = 0;
	for (int i = 0; i < n; i++) {
		sxy += (x[i] - mx) * (y[i] - my);
		sxx += (x[i] - mx) * (x[i] - mx);
		syy += (y[i] - my) * (y[i] - my);
	}
	if (sxx <= 0 || syy <= 0)
		return NAN;
	return sxy / sqrt(sxx * syy);
}

double qp_spearman(const double *x, const double *y, int n)
{
	if (n < 2)
		return NAN;
	double *rx = malloc((size_t)n * sizeof *rx), *ry = malloc((size_t)n * sizeof *ry);
	double rho = NAN;
	if (rx && ry && ranks(x, n, rx) && ranks(y, n, ry))
		rho = pearson(rx, ry, n);
	free(rx);
	free(ry);
	return rho;
}

double qp_kendall(const double *x, const double *y, int n)
{
	if (n < 2)
		return NAN;
	double conc = 0, disc = 0, tie_x = 0, tie_y = 0;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			double dx = x[i] - x[j], dy = y[i] - y[j];
			if (dx == 0 && dy == 0)
				continue;
			if (dx == 0)
				tie_x++;
			else if (dy == 0)
				tie_y++;
			else if ((dx > 0) == (dy > 0))
				conc++;
			else
				disc++;
		}
	double den = sqrt((conc + disc + tie_x) * (conc + disc + tie_y));
	return den > 0 ? (conc - disc) / den : NAN;
}

double qp_r2(const double *y, const double *pred, int n)
{
	if (n < 2)
		return NAN;
	double my = 0;
	for (int i = 0; i < n; i++)
		my += y[i];
	my /= n;
	double sse = 0, sst = 0;
	for (int i = 0; i < n; i++) {
		sse += (y[i] - pred[i]) * (y[i] - pred[i]);
		sst += (y[i] - my) * (y[i] - my);
	}
	return sst > 0 ? 1 - sse / sst : NAN;
}

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	return (a > b) - (a < b);
}

double qp_conformal_q(const double *abs_resid, int n, double level,
		      int *saturated)
{
	*saturated = 0;
	if (n < 1)
		return INFINITY;
	double *s = malloc((size_t)n * sizeof *s);
	if (!s)
		return INFINITY;
	memcpy(s, abs_resid, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	double want = ceil((n + 1) * level - 1e-9);
	int rank = (int)want;
	if (rank < 1)
		rank = 1;
	if (rank > n) {
		*saturated = 1;
		rank = n;
	}
	double q = s[rank - 1];
	free(s);
	return q;
}
