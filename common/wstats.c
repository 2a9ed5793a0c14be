/* wstats.c — see wstats.h. */
#include "wstats.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "threads.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define HBINS 65536 /* one radix level: 16 bits of a float's pattern */
#define NQUERY 3    /* ranks: 99.9 %, 99.99 %, the top-0.1 % threshold */
#define Q999 0
#define Q9999 1
#define QTOP 2
#define TOP_BITS 4 /* the quantizer top_share is measured for */
#define DEFAULT_CHUNK_VALUES 65536

typedef struct qscale {
	double d, id, qmax;
} qscale;

typedef struct moments {
	double n, mean, m2, m3, m4; /* m_k: Σ (w - mean)^k */
} moments;

/* Everything one chunk contributes that is not an integer histogram; reset
 * per chunk and merged into the total in chunk order. */
typedef struct chunk_part {
	moments mom;
	int64_t nonfinite, zeros, out3, out6;
	double min, max, sumsq;
	double err_row[QP_WSTATS_NBITS], err_g32[QP_WSTATS_NBITS];
	double err_g128[QP_WSTATS_NBITS], err_tensor[QP_WSTATS_NBITS];
	double err_above; /* pass 3: 4-bit error² of values above the top bin */
	double *col_sumsq; /* pass 1: [n_cols] */
} chunk_part;

typedef struct part {
	chunk_part c;
	float *buf;     /* chunk_rows * n_cols */
	uint64_t *hist; /* pass 2: HBINS; pass 3: NQUERY * HBINS */
	qp_err err;
} part;

typedef struct run {
	int64_t n_cols, n_rows, n_expert, chunk_rows, n_chunks;
	qp_wstats_rows_fn fn;
	void *ctx;
	int pass;
	chunk_part tot;
	double *row_sumsq;
	int64_t *row_n;
	uint64_t *hist_hi, *hist_lo;
	uint32_t q_bin[NQUERY];
	uint64_t q_rank[NQUERY]; /* rank inside the bin, 1-based */
	uint64_t n_above_top_bin;
	double mean, std, absmax;
	qscale qs[QP_WSTATS_NBITS]; /* per-tensor scales, from pass 1 */

	pthread_mutex_t lock;
	pthread_cond_t turn;
	bool sync_ready;
	int64_t next_merge;
	bool failed;
	int64_t fail_chunk;
	qp_err fail_err;
	part **parts; /* every part made in this pass */
	int n_parts, cap_parts;
	part **idle;
	int n_idle;
} run;

/* round(x) half away from zero for |x| < 2^31 (here |x| <= qmax + 1),
 * without a libm call: x - trunc(x) is exact, so the comparison with 0.5
 * is too. */
static inline double round_half_away(double x)
{
	double t = (double)(int32_t)x, f = x - t;
	return t + (double)(f >= 0.5) - (double)(f <= -0.5);
}

static inline qscale qscale_make(double absmax, int bits)
{
	double qmax = (double)((1 << (bits - 1)) - 1);
	double d = absmax / qmax;
	return (qscale){d, absmax > 0 ? 1.0 / d : 0, qmax};
}

static inline double qerr2(double w, qscale s)
{
	double q = round_half_away(w * s.id);
	q = q > s.qmax ? s.qmax : q < -s.qmax ? -s.qmax : q;
	double err = w - q * s.d;
	return err * err;
}

/* Σ qerr2 over w[0..n) as four running sums, element j going to sum
 * j % 4, combined as (s0 + s1) + (s2 + s3): a fixed order, so the SSE2
 * path (two sums per register) and the plain C one give the same bits. */
#ifdef __SSE2__
static double qerr2_sum(const float *w, int64_t n, qscale s)
{
	__m128d acc[2] = {_mm_setzero_pd(), _mm_setzero_pd()};
	const __m128d id = _mm_set1_pd(s.id), d = _mm_set1_pd(s.d);
	const __m128d qmax = _mm_set1_pd(s.qmax), nqmax = _mm_set1_pd(-s.qmax);
	const __m128d half = _mm_set1_pd(0.5), nhalf = _mm_set1_pd(-0.5);
	const __m128d one = _mm_set1_pd(1.0);
	int64_t j = 0;
	for (; j + 4 <= n; j += 4)
		for (int k = 0; k < 2; k++) {
			__m128d v = _mm_cvtps_pd(_mm_castsi128_ps(
				_mm_loadl_epi64((const __m128i *)(w + j + 2 * k))));
			__m128d x = _mm_mul_pd(v, id);
			__m128d t = _mm_cvtepi32_pd(_mm_cvttpd_epi32(x));
			__m128d f = _mm_sub_pd(x, t);
			t = _mm_add_pd(t, _mm_and_pd(_mm_cmpge_pd(f, half), one));
			t = _mm_sub_pd(t, _mm_and_pd(_mm_cmple_pd(f, nhalf), one));
			t = _mm_max_pd(_mm_min_pd(t, qmax), nqmax);
			__m128d err = _mm_sub_pd(v, _mm_mul_pd(t, d));
			acc[k] = _mm_add_pd(acc[k], _mm_mul_pd(err, err));
		}
	double s4[4];
	_mm_storeu_pd(s4, acc[0]);
	_mm_storeu_pd(s4 + 2, acc[1]);
	for (; j < n; j++)
		s4[j & 3] += qerr2(w[j], s);
	return (s4[0] + s4[1]) + (s4[2] + s4[3]);
}
#else
static double qerr2_sum(const float *w, int64_t n, qscale s)
{
	double s4[4] = {0, 0, 0, 0};
	int64_t j = 0;
	for (; j + 4 <= n; j += 4)
		for (int k = 0; k < 4; k++)
			s4[k] += qerr2(w[j + k], s);
	for (; j < n; j++)
		s4[j & 3] += qerr2(w[j], s);
	return (s4[0] + s4[1]) + (s4[2] + s4[3]);
}
#endif

double qp_wstats_qerr2(double w, double absmax, int bits)
{
	return qerr2(w, qscale_make(absmax, bits));
}

/* Chan, Golub & LeVeque's pairwise update of central moments. */
static void moments_merge(moments *a, const moments *b)
{
	if (b->n == 0)
		return;
	if (a->n == 0) {
		*a = *b;
		return;
	}
	double na = a->n, nb = b->n, n = na + nb;
	double d = b->mean - a->mean, dn = d / n;
	double m2 = a->m2 + b->m2 + d * dn * na * nb;
	double m3 = a->m3 + b->m3 + d * dn * dn * na * nb * (na - nb) +
		    3 * dn * (na * b->m2 - nb * a->m2);
	double m4 = a->m4 + b->m4 +
		    d * dn * dn * dn * na * nb * (na * na - na * nb + nb * nb) +
		    6 * dn * dn * (na * na * b->m2 + nb * nb * a->m2) +
		    4 * dn * (na * b->m3 - nb * a->m3);
	a->mean += dn * nb;
	a->m2 = m2;
	a->m3 = m3;
	a->m4 = m4;
	a->n = n;
}

static uint32_t abs_bits(float w)
{
	uint32_t u;
	memcpy(&u, &w, sizeof u);
	return u & 0x7fffffffu;
}

static double bits_value(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* ---- pass 1: moments, rows, columns, per-row and per-group SQNR -------- */

static void group_errors(const float *w, int64_t n, double *err)
{
	double amax = 0;
	bool all_finite = true;
	for (int64_t j = 0; j < n; j++) {
		if (!isfinite(w[j]))
			all_finite = false;
		else if (fabs(w[j]) > amax)
			amax = fabs(w[j]);
	}
	for (int b = 0; b < QP_WSTATS_NBITS; b++) {
		qscale s = qscale_make(amax, b + 2);
		double sum = 0;
		if (all_finite)
			sum = qerr2_sum(w, n, s);
		else
			for (int64_t j = 0; j < n; j++)
				if (isfinite(w[j]))
					sum += qerr2(w[j], s);
		err[b] += sum;
	}
}

static void grouped_errors(const float *w, int64_t n, int64_t g, double *err)
{
	for (int64_t j = 0; j < n; j += g)
		group_errors(w + j, n - j < g ? n - j : g, err);
}

static void pass1_row(run *r, chunk_part *c, const float *w, int64_t row,
		      double *chunk_sum)
{
	double sumsq = 0;
	int64_t n = 0;
	for (int64_t j = 0; j < r->n_cols; j++) {
		float v = w[j];
		if (!isfinite(v)) {
			c->nonfinite++;
			continue;
		}
		double d = v, d2 = d * d;
		n++;
		sumsq += d2;
		*chunk_sum += d;
		c->col_sumsq[j] += d2;
		c->zeros += v == 0;
		c->min = d < c->min ? d : c->min;
		c->max = d > c->max ? d : c->max;
	}
	r->row_sumsq[row] = sumsq;
	r->row_n[row] = n;
	c->sumsq += sumsq;
	grouped_errors(w, r->n_cols, r->n_cols, c->err_row);
	grouped_errors(w, r->n_cols, 32, c->err_g32);
	grouped_errors(w, r->n_cols, 128, c->err_g128);
}

static void pass1_chunk(run *r, part *p, int64_t row0, int64_t nr)
{
	chunk_part *c = &p->c;
	double sum = 0;
	memset(c->col_sumsq, 0, (size_t)r->n_cols * sizeof *c->col_sumsq);
	for (int64_t i = 0; i < nr; i++)
		pass1_row(r, c, p->buf + i * r->n_cols, row0 + i, &sum);
	int64_t nv = nr * r->n_cols, n = nv - c->nonfinite;
	if (n == 0)
		return;
	double mean = sum / (double)n, m2 = 0, m3 = 0, m4 = 0;
	for (int64_t i = 0; i < nv; i++) {
		if (!isfinite(p->buf[i]))
			continue;
		double d = p->buf[i] - mean, d2 = d * d;
		m2 += d2;
		m3 += d2 * d;
		m4 += d2 * d2;
	}
	c->mom = (moments){(double)n, mean, m2, m3, m4};
}

/* ---- pass 2: tails, per-tensor SQNR, high radix histogram -------------- */

static void pass2_chunk(run *r, part *p, int64_t nv)
{
	chunk_part *c = &p->c;
	int64_t nonfinite = 0;
	for (int64_t i = 0; i < nv; i++) {
		float v = p->buf[i];
		if (!isfinite(v)) {
			nonfinite++;
			continue;
		}
		double dev = fabs(v - r->mean);
		c->out3 += dev > 3 * r->std;
		c->out6 += dev > 6 * r->std;
		p->hist[abs_bits(v) >> 16]++;
	}
	for (int b = 0; b < QP_WSTATS_NBITS; b++) {
		if (nonfinite == 0) {
			c->err_tensor[b] = qerr2_sum(p->buf, nv, r->qs[b]);
			continue;
		}
		for (int64_t i = 0; i < nv; i++)
			if (isfinite(p->buf[i]))
				c->err_tensor[b] += qerr2(p->buf[i], r->qs[b]);
	}
}

/* ---- pass 3: low radix histograms inside the selected bins ------------- */

static void pass3_chunk(run *r, part *p, int64_t nv)
{
	chunk_part *c = &p->c;
	for (int64_t i = 0; i < nv; i++) {
		float v = p->buf[i];
		if (!isfinite(v))
			continue;
		uint32_t u = abs_bits(v), hi = u >> 16;
		for (int q = 0; q < NQUERY; q++)
			if (hi == r->q_bin[q])
				p->hist[(size_t)q * HBINS + (u & 0xffff)]++;
		if (hi > r->q_bin[QTOP])
			c->err_above += qerr2(v, r->qs[TOP_BITS - 2]);
	}
}

/* ---- ordered merge ------------------------------------------------------ */

static void add_errs(double *a, const double *b)
{
	for (int i = 0; i < QP_WSTATS_NBITS; i++)
		a[i] += b[i];
}

static void merge_chunk(run *r, const chunk_part *c)
{
	chunk_part *t = &r->tot;
	moments_merge(&t->mom, &c->mom);
	t->nonfinite += c->nonfinite;
	t->zeros += c->zeros;
	t->out3 += c->out3;
	t->out6 += c->out6;
	t->min = c->min < t->min ? c->min : t->min;
	t->max = c->max > t->max ? c->max : t->max;
	t->sumsq += c->sumsq;
	add_errs(t->err_row, c->err_row);
	add_errs(t->err_g32, c->err_g32);
	add_errs(t->err_g128, c->err_g128);
	add_errs(t->err_tensor, c->err_tensor);
	t->err_above += c->err_above;
	if (r->pass == 1)
		for (int64_t j = 0; j < r->n_cols; j++)
			t->col_sumsq[j] += c->col_sumsq[j];
}

static void reset_chunk(chunk_part *c)
{
	double *cols = c->col_sumsq;
	memset(c, 0, sizeof *c);
	c->col_sumsq = cols;
	c->min = INFINITY;
	c->max = -INFINITY;
}

static void part_free(part *p)
{
	if (!p)
		return;
	free(p->c.col_sumsq);
	free(p->buf);
	free(p->hist);
	free(p);
}

static size_t hist_len(int pass)
{
	return pass == 2 ? HBINS : pass == 3 ? (size_t)NQUERY * HBINS : 0;
}

static part *part_new(run *r)
{
	part *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->buf = malloc((size_t)(r->chunk_rows * r->n_cols) * sizeof *p->buf);
	if (r->pass == 1)
		p->c.col_sumsq = malloc((size_t)r->n_cols * sizeof(double));
	size_t hl = hist_len(r->pass);
	if (hl)
		p->hist = calloc(hl, sizeof *p->hist);
	if (!p->buf || (r->pass == 1 && !p->c.col_sumsq) || (hl && !p->hist)) {
		part_free(p);
		return NULL;
	}
	return p;
}

/* A part no other item is using: at most one per running thread exists. */
static part *part_get(run *r)
{
	part *p = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->n_idle > 0) {
		p = r->idle[--r->n_idle];
	} else if (r->n_parts < r->cap_parts && (p = part_new(r))) {
		r->parts[r->n_parts++] = p;
	}
	pthread_mutex_unlock(&r->lock);
	return p;
}

static void part_put(run *r, part *p)
{
	pthread_mutex_lock(&r->lock);
	r->idle[r->n_idle++] = p;
	pthread_mutex_unlock(&r->lock);
}

static void fail_locked(run *r, int64_t chunk, const qp_err *err)
{
	if (!r->failed || chunk < r->fail_chunk) {
		r->fail_chunk = chunk;
		r->fail_err = *err;
	}
	r->failed = true;
	pthread_cond_broadcast(&r->turn);
}

static void compute_chunk(run *r, part *p, int64_t row0, int64_t nr)
{
	reset_chunk(&p->c);
	if (r->pass == 1)
		pass1_chunk(r, p, row0, nr);
	else if (r->pass == 2)
		pass2_chunk(r, p, nr * r->n_cols);
	else
		pass3_chunk(r, p, nr * r->n_cols);
}

static int chunk_item(void *ctx, size_t i)
{
	run *r = ctx;
	int64_t chunk = (int64_t)i, row0 = chunk * r->chunk_rows;
	int64_t nr = r->n_rows - row0 < r->chunk_rows ? r->n_rows - row0
						      : r->chunk_rows;
	part *p = part_get(r);
	if (!p) {
		qp_err oom;
		qp_fail(&oom, "out of memory");
		pthread_mutex_lock(&r->lock);
		fail_locked(r, chunk, &oom);
		pthread_mutex_unlock(&r->lock);
		return -1;
	}
	int rc = r->fn(r->ctx, row0, nr, p->buf, &p->err);
	if (rc == 0)
		compute_chunk(r, p, row0, nr);
	pthread_mutex_lock(&r->lock);
	if (rc != 0)
		fail_locked(r, chunk, &p->err);
	while (!r->failed && r->next_merge != chunk)
		pthread_cond_wait(&r->turn, &r->lock);
	if (!r->failed) {
		merge_chunk(r, &p->c);
		r->next_merge++;
		pthread_cond_broadcast(&r->turn);
	}
	rc = r->failed ? -1 : 0;
	pthread_mutex_unlock(&r->lock);
	part_put(r, p);
	return rc;
}

static void free_parts(run *r)
{
	for (int i = 0; i < r->n_parts; i++)
		part_free(r->parts[i]);
	r->n_parts = r->n_idle = 0;
}

/* Integer histograms: their sum does not depend on which part saw what. */
static void sum_histograms(run *r)
{
	uint64_t *dst = r->pass == 2 ? r->hist_hi : r->hist_lo;
	size_t hl = hist_len(r->pass);
	for (int i = 0; i < r->n_parts; i++)
		for (size_t b = 0; b < hl; b++)
			dst[b] += r->parts[i]->hist[b];
}

static int run_pass(run *r, int pass, int n_threads, qp_err *e)
{
	r->pass = pass;
	r->next_merge = 0;
	r->failed = false;
	qp_parallel_for(n_threads, (size_t)r->n_chunks, chunk_item, r);
	int rc = 0;
	if (r->failed) {
		*e = r->fail_err;
		rc = qp_fail_prefix(e, "rows %lld..%lld",
				    (long long)(r->fail_chunk * r->chunk_rows),
				    (long long)((r->fail_chunk + 1) *
						r->chunk_rows - 1));
	} else {
		sum_histograms(r);
	}
	free_parts(r);
	return rc;
}

/* ---- summaries ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* cv (population std / mean) and max/median of v[0..n); NaN when empty. */
static int spread(const double *v, int64_t n, double *cv, double *max_median,
		  double *max_min)
{
	*cv = *max_median = NAN;
	if (max_min)
		*max_min = NAN;
	if (n <= 0)
		return 0;
	double *s = malloc((size_t)n * sizeof *s);
	if (!s)
		return -1;
	memcpy(s, v, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	double sum = 0, ss = 0;
	for (int64_t i = 0; i < n; i++)
		sum += v[i];
	double mean = sum / (double)n;
	for (int64_t i = 0; i < n; i++)
		ss += (v[i] - mean) * (v[i] - mean);
	double median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	*cv = sqrt(ss / (double)n) / mean;
	*max_median = s[n - 1] / median;
	if (max_min)
		*max_min = s[n - 1] / s[0];
	free(s);
	return 0;
}

static double sqnr_db(double signal, double noise)
{
	return 10 * log10(signal / noise);
}

static int finish_norms(run *r, qp_wstats *o, qp_err *e)
{
	int64_t m = r->n_rows > r->n_cols ? r->n_rows : r->n_cols;
	double *v = malloc((size_t)(m ? m : 1) * sizeof *v);
	if (!v)
		return qp_fail(e, "out of memory");
	for (int64_t i = 0; i < r->n_rows; i++)
		v[i] = sqrt(r->row_sumsq[i]);
	int rc = spread(v, r->n_rows, &o->row_cv, &o->row_max_median, NULL);
	for (int64_t j = 0; j < r->n_cols; j++)
		v[j] = sqrt(r->tot.col_sumsq[j]);
	rc |= spread(v, r->n_cols, &o->col_cv, &o->col_max_median, NULL);
	int64_t rows_per = r->n_rows / r->n_expert;
	for (int64_t x = 0; x < r->n_expert; x++) {
		double ss = 0;
		int64_t n = 0;
		for (int64_t i = x * rows_per; i < (x + 1) * rows_per; i++) {
			ss += r->row_sumsq[i];
			n += r->row_n[i];
		}
		o->expert_rms[x] = n ? sqrt(ss / (double)n) : NAN;
	}
	if (r->n_expert > 1)
		rc |= spread(o->expert_rms, r->n_expert, &o->expert_cv,
			     &o->expert_max_median, &o->expert_max_min);
	else
		o->expert_cv = o->expert_max_median = o->expert_max_min = NAN;
	free(v);
	return rc ? qp_fail(e, "out of memory") : 0;
}

static int finish_pass1(run *r, qp_wstats *o, qp_err *e)
{
	const chunk_part *t = &r->tot;
	double n = t->mom.n;
	o->n = (int64_t)n;
	o->n_nonfinite = t->nonfinite;
	o->n_zero = t->zeros;
	o->mean = n ? t->mom.mean : NAN;
	o->std = n ? sqrt(t->mom.m2 / n) : NAN;
	o->skew = t->mom.m2 > 0 ? sqrt(n) * t->mom.m3 / pow(t->mom.m2, 1.5)
				: NAN;
	o->kurtosis = t->mom.m2 > 0 ? n * t->mom.m4 / (t->mom.m2 * t->mom.m2) - 3
				    : NAN;
	o->min = n ? t->min : NAN;
	o->max = n ? t->max : NAN;
	o->absmax = n ? fmax(fabs(t->min), fabs(t->max)) : NAN;
	o->rms = n ? sqrt(t->sumsq / n) : NAN;
	o->crest = o->absmax / o->rms;
	o->zeros = n ? (double)t->zeros / n : NAN;
	for (int b = 0; b < QP_WSTATS_NBITS; b++) {
		o->sqnr_row[b] = sqnr_db(t->sumsq, t->err_row[b]);
		o->sqnr_g32[b] = sqnr_db(t->sumsq, t->err_g32[b]);
		o->sqnr_g128[b] = sqnr_db(t->sumsq, t->err_g128[b]);
	}
	r->mean = o->mean;
	r->std = o->std;
	r->absmax = o->absmax;
	for (int b = 0; b < QP_WSTATS_NBITS; b++)
		r->qs[b] = qscale_make(o->absmax, b + 2);
	return finish_norms(r, o, e);
}

/* The bin holding ascending rank k (1-based) and the rank inside it. */
static void locate_rank(const uint64_t *hist, uint64_t k, uint32_t *bin,
			uint64_t *rank_in_bin)
{
	uint64_t below = 0;
	for (uint32_t b = 0; b < HBINS; b++) {
		if (below + hist[b] >= k) {
			*bin = b;
			*rank_in_bin = k - below;
			return;
		}
		below += hist[b];
	}
	*bin = HBINS - 1;
	*rank_in_bin = 0;
}

static void finish_pass2(run *r, qp_wstats *o)
{
	uint64_t n = (uint64_t)o->n;
	o->n_out3 = r->tot.out3;
	o->n_out6 = r->tot.out6;
	o->out3 = (double)r->tot.out3 / (double)n;
	o->out6 = (double)r->tot.out6 / (double)n;
	for (int b = 0; b < QP_WSTATS_NBITS; b++)
		o->sqnr_tensor[b] = sqnr_db(r->tot.sumsq, r->tot.err_tensor[b]);
	o->n_top = (int64_t)((n + 999) / 1000);
	uint64_t ranks[NQUERY] = {
		(999 * n + 999) / 1000,  /* ceil(0.999 n) */
		(9999 * n + 9999) / 10000,
		n - (uint64_t)o->n_top + 1,
	};
	for (int q = 0; q < NQUERY; q++)
		locate_rank(r->hist_hi, ranks[q], &r->q_bin[q], &r->q_rank[q]);
	r->n_above_top_bin = 0;
	for (uint32_t b = r->q_bin[QTOP] + 1; b < HBINS; b++)
		r->n_above_top_bin += r->hist_hi[b];
}

static double query_value(const run *r, int q, uint32_t *lo)
{
	locate_rank(r->hist_lo + (size_t)q * HBINS, r->q_rank[q], lo,
		    &(uint64_t){0});
	return bits_value(r->q_bin[q] << 16 | *lo);
}

static void finish_pass3(run *r, qp_wstats *o)
{
	uint32_t lo;
	o->clip999 = query_value(r, Q999, &lo);
	o->clip9999 = query_value(r, Q9999, &lo);
	o->top_threshold = query_value(r, QTOP, &lo);
	const uint64_t *h = r->hist_lo + (size_t)QTOP * HBINS;
	uint64_t n_gt = r->n_above_top_bin;
	double top = r->tot.err_above;
	for (uint32_t l = lo + 1; l < HBINS; l++) {
		if (!h[l])
			continue;
		n_gt += h[l];
		double v = bits_value(r->q_bin[QTOP] << 16 | l);
		top += (double)h[l] * qp_wstats_qerr2(v, r->absmax, TOP_BITS);
	}
	top += (double)((uint64_t)o->n_top - n_gt) *
	       qp_wstats_qerr2(o->top_threshold, r->absmax, TOP_BITS);
	o->top_share = top / r->tot.err_tensor[TOP_BITS - 2];
}

/* ---- entry point -------------------------------------------------------- */

static int run_init(run *r, const int64_t *ne, int n_dims,
		    const qp_wstats_opts *opts, qp_wstats *o, qp_err *e)
{
	if (n_dims < 1 || n_dims > 4)
		return qp_fail(e, "wstats: %d dimensions", n_dims);
	for (int d = 0; d < n_dims; d++)
		if (ne[d] <= 0)
			return qp_fail(e, "wstats: dimension %d is %lld", d,
				       (long long)ne[d]);
	r->n_cols = ne[0];
	r->n_rows = 1;
	r->n_expert = 1;
	uint64_t nv = (uint64_t)ne[0];
	for (int d = 1; d < n_dims; d++) {
		r->n_rows *= ne[d];
		if (!ck_mul_u64(nv, (uint64_t)ne[d], &nv) || nv > INT64_MAX)
			return qp_fail(e, "wstats: the shape overflows");
	}
	for (int d = 2; d < n_dims; d++)
		r->n_expert *= ne[d];
	r->chunk_rows = opts && opts->chunk_rows > 0
				? opts->chunk_rows
				: (DEFAULT_CHUNK_VALUES + r->n_cols - 1) / r->n_cols;
	if (r->chunk_rows > r->n_rows)
		r->chunk_rows = r->n_rows;
	r->n_chunks = (r->n_rows + r->chunk_rows - 1) / r->chunk_rows;
	int n_threads = opts && opts->n_threads > 1 ? opts->n_threads : 1;
	r->cap_parts = n_threads + 1;
	r->parts = calloc((size_t)r->cap_parts, sizeof *r->parts);
	r->idle = calloc((size_t)r->cap_parts, sizeof *r->idle);
	r->row_sumsq = calloc((size_t)r->n_rows, sizeof *r->row_sumsq);
	r->row_n = calloc((size_t)r->n_rows, sizeof *r->row_n);
	r->tot.col_sumsq = calloc((size_t)r->n_cols, sizeof(double));
	r->hist_hi = calloc(HBINS, sizeof *r->hist_hi);
	r->hist_lo = calloc((size_t)NQUERY * HBINS, sizeof *r->hist_lo);
	o->n_cols = r->n_cols;
	o->n_rows = r->n_rows;
	o->n_expert = r->n_expert;
	o->expert_rms = calloc((size_t)r->n_expert, sizeof *o->expert_rms);
	if (!r->parts || !r->idle || !r->row_sumsq || !r->row_n ||
	    !r->tot.col_sumsq || !r->hist_hi || !r->hist_lo || !o->expert_rms)
		return qp_fail(e, "wstats: out of memory");
	reset_chunk(&r->tot);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->turn, NULL);
	r->sync_ready = true;
	return 0;
}

static void run_free(run *r)
{
	free(r->parts);
	free(r->idle);
	free(r->row_sumsq);
	free(r->row_n);
	free(r->tot.col_sumsq);
	free(r->hist_hi);
	free(r->hist_lo);
}

static void set_undefined_tail(qp_wstats *o)
{
	o->out3 = o->out6 = o->clip999 = o->clip9999 = NAN;
	o->top_threshold = o->top_share = NAN;
	for (int b = 0; b < QP_WSTATS_NBITS; b++)
		o->sqnr_tensor[b] = NAN;
}

int qp_wstats_compute(const int64_t *ne, int n_dims, qp_wstats_rows_fn fn,
		      void *ctx, const qp_wstats_opts *opts, qp_wstats *o,
		      qp_err *e)
{
	run r = {.fn = fn, .ctx = ctx};
	memset(o, 0, sizeof *o);
	int n_threads = opts && opts->n_threads > 1 ? opts->n_threads : 1;
	int rc = run_init(&r, ne, n_dims, opts, o, e);
	if (rc == 0)
		rc = run_pass(&r, 1, n_threads, e);
	if (rc == 0)
		rc = finish_pass1(&r, o, e);
	if (rc == 0 && o->n == 0)
		set_undefined_tail(o);
	if (rc == 0 && o->n > 0)
		rc = run_pass(&r, 2, n_threads, e);
	if (rc == 0 && o->n > 0) {
		finish_pass2(&r, o);
		rc = run_pass(&r, 3, n_threads, e);
	}
	if (rc == 0 && o->n > 0)
		finish_pass3(&r, o);
	if (r.sync_ready) {
		pthread_mutex_destroy(&r.lock);
		pthread_cond_destroy(&r.turn);
	}
	run_free(&r);
	if (rc)
		qp_wstats_free(o);
	return rc;
}

void qp_wstats_free(qp_wstats *s)
{
	if (!s)
		return;
	free(s->expert_rms);
	s->expert_rms = NULL;
}
