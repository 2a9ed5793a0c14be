#include "rowsample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "threads.h"

enum { PROXY_BLOCK = 32, PROXY_CHUNK_ROWS = 64 };

/* ---- the proxy pass ---------------------------------------------------- */

typedef struct proxy_job {
	const qp_tensor_ref *t;
	double *p, *w2;   /* per row */
	qp_err *errs;     /* per chunk */
} proxy_job;

/* The proxy: sum over blocks of 32 of (block absmax)^2 times the block's
 * length, what the error of blockwise absmax quantizers grows with. */
static void row_proxy(const float *w, int64_t n, double *p, double *w2)
{
	double sp = 0, sw = 0;
	for (int64_t b = 0; b < n; b += PROXY_BLOCK) {
		double amax = 0;
		int64_t end = b + PROXY_BLOCK < n ? b + PROXY_BLOCK : n;
		for (int64_t i = b; i < end; i++) {
			double a = fabs((double)w[i]);
			amax = a > amax || isnan(a) ? a : amax;
			sw += (double)w[i] * w[i];
		}
		sp += amax * amax * (double)(end - b);
	}
	*p = sp;
	*w2 = sw;
}

static int proxy_chunk(void *ctx, size_t c)
{
	proxy_job *j = ctx;
	int64_t r0 = (int64_t)c * PROXY_CHUNK_ROWS;
	int64_t r1 = r0 + PROXY_CHUNK_ROWS < j->t->n_rows ? r0 + PROXY_CHUNK_ROWS
							   : j->t->n_rows;
	float *w = malloc((size_t)j->t->row_len * sizeof *w);
	if (!w)
		return qp_fail(&j->errs[c], "out of memory");
	int st = 0;
	for (int64_t r = r0; r < r1 && st == 0; r++) {
		st = qp_tensor_rows_f32(j->t, r, 1, w, &j->errs[c]);
		if (st == 0)
			row_proxy(w, j->t->row_len, &j->p[r], &j->w2[r]);
	}
	free(w);
	return st;
}

/* ---- selection ---------------------------------------------------------- */

static uint64_t row_hash(uint64_t seed, uint64_t name_hash, uint64_t row)
{
	uint64_t z = seed ^ (name_hash * 0x9e3779b97f4a7c15ull) ^
		     (row * 0xc2b2ae3d27d4eb4full);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

typedef struct keyed {
	double key;      /* proxy, for the take-all ranking */
	uint64_t hash;   /* for the uniform sample */
	int64_t row;
} keyed;

static int by_proxy_desc(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

static int by_hash(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

static int by_row(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	return x->row < y->row ? -1 : x->row > y->row;
}

/* The take-all stratum, from v sorted by proxy, largest first: the rows
 * probability-proportional-to-proxy sampling of k rows would take for
 * sure, and the rows whose proxy stands out (over OUTLIER_FACTOR times
 * the median: the rare rows holding a large value, whose error the proxy
 * predicts least well) up to half the budget.  Leaves at least 2 draws. */
#define OUTLIER_FACTOR 1.5
static int64_t take_all_count(const keyed *v, int64_t n, int64_t k,
			      double total)
{
	int64_t m = 0;
	while (m < n && k - m > 2 && v[m].key * (double)(k - m) > total) {
		total -= v[m].key;
		m++;
	}
	double median = n ? v[n / 2].key : 0;
	while (m < n && m < k / 2 && k - m > 2 &&
	       v[m].key > OUTLIER_FACTOR * median)
		m++;
	return m;
}

static int select_rows(const qp_tensor_ref *t, double frac, uint64_t seed,
		       const double *p, qp_row_plan *plan, qp_err *e)
{
	int64_t n = t->n_rows;
	int64_t k = (int64_t)ceil(frac * (double)n);
	k = k < QP_MIN_SAMPLE_ROWS ? QP_MIN_SAMPLE_ROWS : k;
	k = k > n ? n : k;
	keyed *v = malloc((size_t)(n ? n : 1) * sizeof *v);
	plan->rows = malloc((size_t)(k ? k : 1) * sizeof *plan->rows);
	plan->take_all = malloc((size_t)(k ? k : 1) * sizeof *plan->take_all);
	plan->proxy = malloc((size_t)(k ? k : 1) * sizeof *plan->proxy);
	if (!v || !plan->rows || !plan->take_all || !plan->proxy) {
		free(v);
		return qp_fail(e, "out of memory");
	}
	uint64_t name_hash = crc32(0L, (const Bytef *)t->name, (uInt)strlen(t->name));
	double total = 0;
	for (int64_t i = 0; i < n; i++) {
		v[i] = (keyed){p[i], row_hash(seed, name_hash, (uint64_t)i), i};
		total += p[i];
	}
	qsort(v, (size_t)n, sizeof *v, by_proxy_desc);
	int64_t m = take_all_count(v, n, k, total);
	qsort(v + m, (size_t)(n - m), sizeof *v, by_hash);
	plan->n_take_all = m;
	plan->n_rest = n - m;
	plan->proxy_rest = 0;
	for (int64_t i = m; i < n; i++)
		plan->proxy_rest += p[v[i].row];
	for (int64_t i = 0; i < k; i++)
		v[i].key = i < m ? 1 : 0; /* remember the stratum */
	qsort(v, (size_t)k, sizeof *v, by_row);
	for (int64_t i = 0; i < k; i++) {
		plan->rows[i] = v[i].row;
		plan->take_all[i] = v[i].key != 0;
		plan->proxy[i] = p[v[i].row];
	}
	plan->n_sel = k;
	free(v);
	return 0;
}

int qp_row_plan_make(const qp_tensor_ref *t, double frac, uint64_t seed,
		     int threads, qp_row_plan *plan, qp_err *e)
{
	*plan = (qp_row_plan){.n_rows = t->n_rows};
	int64_t n = t->n_rows;
	size_t chunks = (size_t)((n + PROXY_CHUNK_ROWS - 1) / PROXY_CHUNK_ROWS);
	proxy_job j = {t, calloc((size_t)(n ? n : 1), sizeof(double)),
		       calloc((size_t)(n ? n : 1), sizeof(double)),
		       calloc(chunks ? chunks : 1, sizeof(qp_err))};
	int st = j.p && j.w2 && j.errs ? 0 : qp_fail(e, "out of memory");
	if (st == 0 && qp_parallel_for(threads, chunks, proxy_chunk, &j) != 0) {
		for (size_t c = 0; c < chunks; c++)
			if (j.errs[c].msg[0]) {
				*e = j.errs[c];
				break;
			}
		st = -1;
	}
	for (int64_t i = 0; st == 0 && i < n; i++)
		plan->w2 += j.w2[i];
	if (st == 0)
		st = select_rows(t, frac, seed, j.p, plan, e);
	free(j.p);
	free(j.w2);
	free(j.errs);
	return st;
}

void qp_row_plan_free(qp_row_plan *plan)
{
	free(plan->rows);
	free(plan->take_all);
	free(plan->proxy);
	*plan = (qp_row_plan){0};
}

/* ---- estimation ------------------------------------------------------- */

void qp_strata_add(qp_strata_sums *s, bool take_all, double y, double p)
{
	if (take_all) {
		s->take_all_y += y;
		return;
	}
	s->y += y;
	s->y2 += y * y;
	s->p += p;
	s->p2 += p * p;
	s->yp += y * p;
	s->n++;
}

void qp_strata_merge(qp_strata_sums *into, const qp_strata_sums *from)
{
	into->take_all_y += from->take_all_y;
	into->y += from->y;
	into->y2 += from->y2;
	into->p += from->p;
	into->p2 += from->p2;
	into->yp += from->yp;
	into->n += from->n;
}

/* Student t 0.975 quantile for df degrees of freedom (Cornish-Fisher
 * expansion around the normal 1.96; within 0.5% for df >= 3). */
static double t975(double df)
{
	double z = 1.959963984540054, z3 = z * z * z, z5 = z3 * z * z,
	       z7 = z5 * z * z;
	return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df * df) +
	       (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df * df * df);
}

void qp_strata_total(const qp_row_plan *plan, const qp_strata_sums *s,
		     double *total)
{
	double k = (double)s->n, N = (double)plan->n_rest;
	*total = s->take_all_y;
	if (s->n == 0)
		return;
	double ybar = s->y / k, pbar = s->p / k;
	double Spp = s->p2 - k * pbar * pbar;
	double Syp = s->yp - k * ybar * pbar;
	double b = Spp > 0 ? Syp / Spp : 0;
	*total += N * (ybar + b * (plan->proxy_rest / N - pbar));
}

typedef struct sample_moments {
	double k, ybar, pbar, Spp, Syp;
} sample_moments;

/* Centred two-pass sums over the sampled (not take-all) rows. */
static void moments(const qp_row_plan *plan, const double *y, double *take_all,
		    sample_moments *m)
{
	double sy = 0, sp = 0;
	*m = (sample_moments){0};
	*take_all = 0;
	for (int64_t i = 0; i < plan->n_sel; i++) {
		if (plan->take_all[i]) {
			*take_all += y[i];
			continue;
		}
		m->k++;
		sy += y[i];
		sp += plan->proxy[i];
	}
	if (m->k == 0)
		return;
	m->ybar = sy / m->k;
	m->pbar = sp / m->k;
	for (int64_t i = 0; i < plan->n_sel; i++) {
		if (plan->take_all[i])
			continue;
		double dp = plan->proxy[i] - m->pbar;
		m->Spp += dp * dp;
		m->Syp += (y[i] - m->ybar) * dp;
	}
}

void qp_row_estimate(const qp_row_plan *plan, const double *y, double *total,
		     double *lo, double *hi)
{
	sample_moments m;
	double N = (double)plan->n_rest;
	moments(plan, y, total, &m);
	*lo = *hi = *total;
	if (m.k == 0)
		return;
	double b = m.Spp > 0 ? m.Syp / m.Spp : 0;
	double ppop = plan->proxy_rest / N;
	*total += N * (m.ybar + b * (ppop - m.pbar));
	*lo = *hi = *total;
	if (m.k >= N)
		return; /* every row of the stratum measured: exact */
	double df = m.Spp > 0 ? m.k - 2 : m.k - 1;
	if (df < 1) {
		*lo = *hi = NAN;
		return;
	}
	double s2 = 0, m3 = 0;
	for (int64_t i = 0; i < plan->n_sel; i++) {
		if (plan->take_all[i])
			continue;
		double e = (y[i] - m.ybar) - b * (plan->proxy[i] - m.pbar);
		s2 += e * e;
		m3 += e * e * e;
	}
	s2 /= df;
	m3 /= m.k;
	double se = sqrt((1 - m.k / N) * s2 / m.k);
	double shift = s2 > 0 ? m3 / (6 * s2 * m.k) : 0;
	double t = t975(df);
	*lo = *total + N * (shift - t * se);
	*hi = *total + N * (shift + t * se);
}
