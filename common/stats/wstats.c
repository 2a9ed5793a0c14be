/* wstats.c — see wstats.h. */
#include "wstats.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "threads.h"
#include "wstats_kernels.h"

#define HBINS QP_WSTATS_HBINS
#define NQUERY 3    /* ranks: 99.9 %, 99.99 %, the top-0.1 % threshold */
#define Q999 0
#define Q9999 1
#define QTOP 2
#define TOP_BITS 4 /* the quantizer top_share is measured for */
#define DEFAULT_CHUNK_VALUES 65536
/* A tensor read in one chunk of at most this many values takes the sorted
 * keys instead of the radix histograms (see run.small). */
#define SMALL_VALUES ((int64_t)1 << 20)
typedef struct moments {
	double n, mean, m2, m3, m4; /* m_k: Σ (w - mean)^k */
} moments;

/* Everything one chunk contributes that is not an integer histogram; reset
 * per chunk and merged into the total in chunk order. */
typedef struct chunk_part {
	moments mom;
	int64_t nonfinite, zeros, out3, out6;
	double min, max, sumsq;
	double sample_sumsq; /* Σw² of the sampled rows */
	double err_row[QP_WSTATS_NBITS], err_g32[QP_WSTATS_NBITS];
	double err_g128[QP_WSTATS_NBITS], err_tensor[QP_WSTATS_NBITS];
	double err_all;   /* pass 2: TOP_BITS per-tensor error² of every value */
	double err_above; /* pass 2: the same, of values above the top bin */
	double *col_sumsq; /* pass 1: [n_cols] */
} chunk_part;

typedef struct part {
	chunk_part c;
	float *buf;     /* chunk_rows * n_cols */
	uint64_t *hist; /* pass 1: 2 * HBINS; pass 2: NQUERY * HBINS */
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
	bool *sampled;       /* [n_rows]: the row is in the SQNR sample */
	int64_t n_sampled;
	bool *chunk_dirty;   /* [n_chunks]: pass 1 met NaN/Inf in the chunk */
	uint64_t *hist_hi, *hist_lo;
	uint32_t q_bin[NQUERY], q_min;
	uint64_t q_rank[NQUERY]; /* rank inside the bin, 1-based */
	uint64_t n_above_top_bin;
	double mean, std, absmax;
	/* |w - mean| > kσ  <=>  w >= up_k or w <= lo_k, for finite floats */
	float up3, lo3, up6, lo6;
	qp_wstats_scale qs[QP_WSTATS_NBITS]; /* per-tensor scales, from pass 1 */

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
	/* One chunk (a small tensor): the |w| bit patterns of the finite
	 * values stand in for the radix histograms, whose 4.5 MB of counters
	 * per tensor cost more than the values.  After pass 1 they are in
	 * order from the first key of the lowest queried rank's bin (its top
	 * 16 bits) on; the keys before it are the smaller ones, in no order
	 * (only the top 0.1 % or so are ever looked at).  A search for a key
	 * at least that bin's start therefore sees a sorted array. */
	bool small;
	uint32_t *keys;
	int64_t n_keys;
	int64_t q_index[NQUERY]; /* index in keys of each queried rank */
} run;

double qp_wstats_qerr2(double w, double absmax, int bits)
{
	return qp_wstats_scaled_err2(w, qp_wstats_scale_make(absmax, bits));
}

static void add_errs(double *a, const double *b)
{
	for (int i = 0; i < QP_WSTATS_NBITS; i++)
		a[i] += b[i];
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

/* ---- pass 1: moments, rows, columns, high radix histogram, the sampled
 * rows' per-row and per-group SQNR ----------------------------------------- */

/* A row with NaN or Inf: everything over its finite values, in order. */
static void pass1_row_slow(run *r, part *p, const float *w, moments *m,
			   qp_wstats_row_sums *s)
{
	chunk_part *c = &p->c;
	double sum = 0, sumsq = 0;
	int64_t n = 0;
	*s = (qp_wstats_row_sums){0, 0, INFINITY, -INFINITY, 0};
	for (int64_t j = 0; j < r->n_cols; j++) {
		float v = w[j];
		if (!isfinite(v)) {
			c->nonfinite++;
			continue;
		}
		double d = v;
		n++;
		sum += d;
		sumsq += d * d;
		c->col_sumsq[j] += d * d;
		s->zeros += v == 0;
		s->min = v < s->min ? v : s->min;
		s->max = v > s->max ? v : s->max;
		if (p->hist)
			p->hist[qp_wstats_abs_bits(v) >> 16]++;
		else
			r->keys[r->n_keys++] = qp_wstats_abs_bits(v);
	}
	s->sum = sum;
	s->sumsq = sumsq;
	*m = (moments){(double)n, n ? sum / (double)n : 0, 0, 0, 0};
	for (int64_t j = 0; j < r->n_cols; j++) {
		if (!isfinite(w[j]))
			continue;
		double d = w[j] - m->mean, d2 = d * d;
		m->m2 += d2;
		m->m3 += d2 * d;
		m->m4 += d2 * d2;
	}
}

/* A sampled row's per-row and per-group errors.  A row no longer than a
 * group is that group: its error is the row's, added once more instead of
 * computed again (the same sum, so the same bits). */
static void pass1_sample(chunk_part *c, const float *w, int64_t n,
			 const qp_wstats_row_sums *s, bool clean)
{
	c->sample_sumsq += s->sumsq;
	double row[QP_WSTATS_NBITS] = {0};
	if (clean)
		qp_wstats_errors_all_bits(w, n, fmax(fabs(s->min), fabs(s->max)), row);
	else
		qp_wstats_grouped_errors_slow(w, n, n, row);
	add_errs(c->err_row, row);
	static const int64_t group[2] = {32, 128};
	double *err[2] = {c->err_g32, c->err_g128};
	for (int g = 0; g < 2; g++)
		if (n <= group[g])
			add_errs(err[g], row);
		else if (clean)
			qp_wstats_grouped_errors_fast(w, n, group[g], err[g]);
		else
			qp_wstats_grouped_errors_slow(w, n, group[g], err[g]);
}

static bool pass1_row(run *r, part *p, const float *w, int64_t row)
{
	chunk_part *c = &p->c;
	int64_t n = r->n_cols;
	qp_wstats_row_sums s;
	moments m;
	bool clean = qp_wstats_row_scan(w, n, &s);
	if (clean) {
		m = (moments){(double)n, s.sum / (double)n, 0, 0, 0};
		double mk[4];
		qp_wstats_row_moments(w, n, m.mean, c->col_sumsq, mk);
		m.m2 = mk[0];
		m.m3 = mk[1];
		m.m4 = mk[2];
		s.sumsq = mk[3];
		if (p->hist)
			qp_wstats_hist_abs_hi(w, n, p->hist);
		else
			for (int64_t j = 0; j < n; j++)
				r->keys[r->n_keys++] = qp_wstats_abs_bits(w[j]);
	} else {
		pass1_row_slow(r, p, w, &m, &s);
	}
	moments_merge(&c->mom, &m);
	c->zeros += s.zeros;
	c->min = s.min < c->min ? s.min : c->min;
	c->max = s.max > c->max ? s.max : c->max;
	c->sumsq += s.sumsq;
	r->row_sumsq[row] = s.sumsq;
	r->row_n[row] = (int64_t)m.n;
	if (r->sampled[row])
		pass1_sample(c, w, n, &s, clean);
	return clean;
}

static void pass1_chunk(run *r, part *p, int64_t chunk, int64_t row0,
			int64_t nr)
{
	bool clean = true;
	memset(p->c.col_sumsq, 0, (size_t)r->n_cols * sizeof *p->c.col_sumsq);
	for (int64_t i = 0; i < nr; i++)
		clean &= pass1_row(r, p, p->buf + i * r->n_cols, row0 + i);
	r->chunk_dirty[chunk] = !clean;
}

/* ---- pass 2: tails, low radix histograms, per-tensor errors ------------ */

/* A value whose high bits reach the lowest selected bin. */
static inline void query_add(const run *r, part *p, float v)
{
	uint32_t u = qp_wstats_abs_bits(v), hi = u >> 16;
	if (hi < r->q_min)
		return;
	for (int q = 0; p->hist && q < NQUERY; q++)
		if (hi == r->q_bin[q])
			p->hist[(size_t)q * HBINS + (u & 0xffff)]++;
	if (hi > r->q_bin[QTOP])
		p->c.err_above += qp_wstats_scaled_err2(v, r->qs[TOP_BITS - 2]);
}

static inline int is_tail(float v, float up, float lo)
{
	return (v >= up) | (v <= lo);
}

#ifdef __SSE2__
/* Pass 2 over one row of finite values: tails, the values of the selected
 * bins, and Σ qp_wstats_scaled_err2 with the TOP_BITS per-tensor scale (returned). */
static double pass2_scan(const run *r, part *p, const float *w, int64_t n)
{
	const __m128 up3 = _mm_set1_ps(r->up3), lo3 = _mm_set1_ps(r->lo3);
	const __m128 up6 = _mm_set1_ps(r->up6), lo6 = _mm_set1_ps(r->lo6);
	const __m128i absm = _mm_set1_epi32(0x7fffffff);
	const __m128i below = _mm_set1_epi32((int32_t)(r->q_min << 16) - 1);
	const qp_wstats_scale_pd sp = qp_wstats_scale_pd_make(r->qs[TOP_BITS - 2]);
	__m128d acc[2] = {_mm_setzero_pd(), _mm_setzero_pd()};
	int64_t j = 0;
	while (j + 4 <= n) {
		int64_t end = n - j > QP_WSTATS_COUNT_BLOCK ? j + QP_WSTATS_COUNT_BLOCK : n;
		__m128i n3 = _mm_setzero_si128(), n6 = _mm_setzero_si128();
		for (; j + 4 <= end; j += 4) {
			__m128 v = _mm_loadu_ps(w + j);
			n3 = _mm_sub_epi32(n3, _mm_castps_si128(_mm_or_ps(
				_mm_cmpge_ps(v, up3), _mm_cmple_ps(v, lo3))));
			n6 = _mm_sub_epi32(n6, _mm_castps_si128(_mm_or_ps(
				_mm_cmpge_ps(v, up6), _mm_cmple_ps(v, lo6))));
			__m128i a = _mm_and_si128(_mm_castps_si128(v), absm);
			if (_mm_movemask_epi8(_mm_cmpgt_epi32(a, below)))
				for (int k = 0; k < 4; k++)
					query_add(r, p, w[j + k]);
			qp_wstats_qerr2_acc4(_mm_castsi128_ps(a), &sp, acc);
		}
		p->c.out3 += qp_wstats_count_lanes(n3);
		p->c.out6 += qp_wstats_count_lanes(n6);
	}
	double s4[4];
	_mm_storeu_pd(s4, acc[0]);
	_mm_storeu_pd(s4 + 2, acc[1]);
	for (; j < n; j++) {
		p->c.out3 += is_tail(w[j], r->up3, r->lo3);
		p->c.out6 += is_tail(w[j], r->up6, r->lo6);
		query_add(r, p, w[j]);
		s4[j & 3] += qp_wstats_scaled_err2(w[j], r->qs[TOP_BITS - 2]);
	}
	return qp_wstats_lanes_total(s4);
}

#else
static double pass2_scan(const run *r, part *p, const float *w, int64_t n)
{
	double s4[4] = {0, 0, 0, 0};
	for (int64_t j = 0; j < n; j++) {
		p->c.out3 += is_tail(w[j], r->up3, r->lo3);
		p->c.out6 += is_tail(w[j], r->up6, r->lo6);
		query_add(r, p, w[j]);
		s4[j & 3] += qp_wstats_scaled_err2(w[j], r->qs[TOP_BITS - 2]);
	}
	return qp_wstats_lanes_total(s4);
}

#endif

static void pass2_row_slow(run *r, part *p, const float *w, bool sampled)
{
	chunk_part *c = &p->c;
	double err[QP_WSTATS_NBITS] = {0};
	for (int64_t j = 0; j < r->n_cols; j++) {
		float v = w[j];
		if (!isfinite(v))
			continue;
		c->out3 += is_tail(v, r->up3, r->lo3);
		c->out6 += is_tail(v, r->up6, r->lo6);
		query_add(r, p, v);
		for (int b = 0; b < QP_WSTATS_NBITS; b++)
			if (sampled || b == TOP_BITS - 2)
				err[b] += qp_wstats_scaled_err2(v, r->qs[b]);
	}
	c->err_all += err[TOP_BITS - 2];
	if (sampled)
		for (int b = 0; b < QP_WSTATS_NBITS; b++)
			c->err_tensor[b] += err[b];
}

static void pass2_row(run *r, part *p, const float *w, bool sampled)
{
	chunk_part *c = &p->c;
	int64_t n = r->n_cols;
	double e = pass2_scan(r, p, w, n);
	c->err_all += e;
	if (!sampled)
		return;
	for (int b = 0; b < QP_WSTATS_NBITS; b++)
		c->err_tensor[b] += b == TOP_BITS - 2 ? e
						      : qp_wstats_qerr2_sum(w, n, r->qs[b]);
}

static void pass2_chunk(run *r, part *p, int64_t chunk, int64_t row0,
			int64_t nr)
{
	bool dirty = r->chunk_dirty[chunk];
	for (int64_t i = 0; i < nr; i++) {
		const float *w = p->buf + i * r->n_cols;
		bool sampled = r->sampled[row0 + i];
		if (dirty && !qp_wstats_row_finite(w, r->n_cols))
			pass2_row_slow(r, p, w, sampled);
		else
			pass2_row(r, p, w, sampled);
	}
}

/* ---- ordered merge ------------------------------------------------------ */

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
	t->sample_sumsq += c->sample_sumsq;
	t->err_all += c->err_all;
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
	return pass == 1 ? 2 * HBINS : (size_t)NQUERY * HBINS;
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
	p->hist = r->small ? NULL : calloc(hl, sizeof *p->hist);
	if (!p->buf || (r->pass == 1 && !p->c.col_sumsq) ||
	    (!r->small && !p->hist)) {
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

static void compute_chunk(run *r, part *p, int64_t chunk, int64_t row0,
			  int64_t nr)
{
	reset_chunk(&p->c);
	if (r->pass == 1)
		pass1_chunk(r, p, chunk, row0, nr);
	else
		pass2_chunk(r, p, chunk, row0, nr);
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
		compute_chunk(r, p, chunk, row0, nr);
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
	uint64_t *dst = r->pass == 1 ? r->hist_hi : r->hist_lo;
	size_t hl = hist_len(r->pass);
	size_t fold = r->pass == 1 ? HBINS : hl; /* pass 1: even + odd */
	for (int i = 0; i < r->n_parts; i++)
		for (size_t b = 0; b < hl; b++)
			dst[b % fold] += r->parts[i]->hist[b];
}

/* The 1-based ascending ranks pass 2 asks for, of n values. */
static void query_ranks(uint64_t n, uint64_t n_top, uint64_t *ranks)
{
	ranks[Q999] = (999 * n + 999) / 1000; /* ceil(0.999 n) */
	ranks[Q9999] = (9999 * n + 9999) / 10000;
	ranks[QTOP] = n - n_top + 1;
}

static uint64_t top_count(uint64_t n)
{
	return (n + 999) / 1000;
}

/* LSD radix sort of a[0..n), 8 bits a pass. */
static int radix_sort(uint32_t *a, int64_t n)
{
	uint32_t *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
	if (!tmp)
		return -1;
	uint32_t *b = tmp;
	for (int shift = 0; shift < 32; shift += 8) {
		int64_t count[257] = {0};
		for (int64_t i = 0; i < n; i++)
			count[(a[i] >> shift & 0xff) + 1]++;
		for (int d = 0; d < 256; d++)
			count[d + 1] += count[d];
		for (int64_t i = 0; i < n; i++)
			b[count[a[i] >> shift & 0xff]++] = a[i];
		uint32_t *t = a;
		a = b;
		b = t;
	}
	/* four passes: the sorted keys are back in the caller's array */
	free(tmp);
	return 0;
}

/* The byte d of the keys' top 16 bits (d = 1: bits 24..31, d = 0: bits
 * 16..23) holding ascending rank `rank` among the keys whose higher byte
 * is `hi` (any when d = 1); *below: the keys under it, counted on. */
static uint32_t rank_byte(const uint32_t *k, int64_t n, int d, uint32_t hi,
			  uint64_t rank, uint64_t *below)
{
	uint64_t count[256] = {0};
	for (int64_t i = 0; i < n; i++)
		if (d == 1 || k[i] >> 24 == hi)
			count[k[i] >> (16 + 8 * d) & 0xff]++;
	uint32_t b = 0;
	while (b < 255 && *below + count[b] < rank)
		*below += count[b++];
	return b;
}

/* The keys from the lowest queried rank's bin on to the end, sorted; the
 * smaller ones before them (see run.keys). */
static int sort_keys(run *r)
{
	int64_t n = r->n_keys;
	if (n == 0)
		return 0;
	uint64_t ranks[NQUERY], lowest = (uint64_t)n;
	query_ranks((uint64_t)n, top_count((uint64_t)n), ranks);
	for (int q = 0; q < NQUERY; q++)
		lowest = ranks[q] < lowest ? ranks[q] : lowest;
	uint64_t below = 0;
	uint32_t b1 = rank_byte(r->keys, n, 1, 0, lowest, &below);
	uint32_t b0 = rank_byte(r->keys, n, 0, b1, lowest, &below);
	uint32_t start = (b1 << 8 | b0) << 16;
	int64_t front = 0; /* the keys under `start` to the front */
	for (int64_t i = 0; i < n; i++)
		if (r->keys[i] < start) {
			uint32_t t = r->keys[front];
			r->keys[front++] = r->keys[i];
			r->keys[i] = t;
		}
	return radix_sort(r->keys + front, n - front);
}

/* Index of the first key >= k (k at least the sorted part's start). */
static int64_t first_at_least(const run *r, uint32_t k)
{
	int64_t lo = 0, hi = r->n_keys;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (r->keys[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
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
	} else if (r->small) {
		if (r->pass == 1 && sort_keys(r) < 0)
			rc = qp_fail(e, "wstats: out of memory");
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

/* The smallest float v with (double)v - mean > t (+inf when no finite
 * float is): as (double)v - mean rounds monotonically, the finite values
 * in the upper tail are exactly those >= it.  Starts within an ulp. */
static float upper_tail_start(double mean, double t)
{
	float x = (float)(mean + t);
	if (isinf(x))
		x = x > 0 ? FLT_MAX : -FLT_MAX;
	while (!((double)x - mean > t)) {
		if (x == FLT_MAX)
			return INFINITY;
		x = nextafterf(x, INFINITY);
	}
	for (;;) {
		float y = nextafterf(x, -INFINITY);
		if (!((double)y - mean > t))
			return x;
		x = y;
	}
}

/* |v - mean| > t  <=>  v >= *up or v <= *lo, for every finite float v
 * (fl(v - mean) = -fl(mean - v): the lower tail mirrors the upper). */
static void tail_bounds(double mean, double t, float *up, float *lo)
{
	*up = upper_tail_start(mean, t);
	*lo = -upper_tail_start(-mean, t);
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

static void plan_pass2(run *r, qp_wstats *o)
{
	uint64_t n = (uint64_t)o->n;
	o->n_top = (int64_t)top_count(n);
	uint64_t ranks[NQUERY];
	query_ranks(n, (uint64_t)o->n_top, ranks);
	r->q_min = HBINS;
	for (int q = 0; q < NQUERY; q++) {
		if (r->small) { /* the same bin and rank, from the sorted keys */
			int64_t i = (int64_t)ranks[q] - 1;
			r->q_index[q] = i;
			r->q_bin[q] = r->keys[i] >> 16;
			r->q_rank[q] = (uint64_t)(i - first_at_least(r, r->q_bin[q] << 16)) + 1;
		} else {
			locate_rank(r->hist_hi, ranks[q], &r->q_bin[q], &r->q_rank[q]);
		}
		if (r->q_bin[q] < r->q_min)
			r->q_min = r->q_bin[q];
	}
	r->n_above_top_bin = 0;
	if (r->small)
		r->n_above_top_bin = (uint64_t)(r->n_keys -
			(r->q_bin[QTOP] + 1 >= HBINS ? r->n_keys
			 : first_at_least(r, (r->q_bin[QTOP] + 1) << 16)));
	for (uint32_t b = r->q_bin[QTOP] + 1; !r->small && b < HBINS; b++)
		r->n_above_top_bin += r->hist_hi[b];
	tail_bounds(r->mean, 3 * r->std, &r->up3, &r->lo3);
	tail_bounds(r->mean, 6 * r->std, &r->up6, &r->lo6);
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
	/* -0 and +0 compare equal: which one a min or max keeps depends on
	 * the order of comparisons, so both read as +0 */
	o->min = !n ? NAN : t->min == 0 ? 0.0 : t->min;
	o->max = !n ? NAN : t->max == 0 ? 0.0 : t->max;
	o->absmax = n ? fmax(fabs(t->min), fabs(t->max)) : NAN;
	o->rms = n ? sqrt(t->sumsq / n) : NAN;
	o->crest = o->absmax / o->rms;
	o->zeros = n ? (double)t->zeros / n : NAN;
	o->sqnr_rows = r->n_sampled;
	for (int b = 0; b < QP_WSTATS_NBITS; b++) {
		o->sqnr_row[b] = sqnr_db(t->sample_sumsq, t->err_row[b]);
		o->sqnr_g32[b] = sqnr_db(t->sample_sumsq, t->err_g32[b]);
		o->sqnr_g128[b] = sqnr_db(t->sample_sumsq, t->err_g128[b]);
	}
	r->mean = o->mean;
	r->std = o->std;
	r->absmax = o->absmax;
	for (int b = 0; b < QP_WSTATS_NBITS; b++)
		r->qs[b] = qp_wstats_scale_make(o->absmax, b + 2);
	if (o->n > 0)
		plan_pass2(r, o);
	return finish_norms(r, o, e);
}

static double query_value(const run *r, int q, uint32_t *lo)
{
	if (r->small)
		*lo = r->keys[r->q_index[q]] & 0xffff;
	else
		locate_rank(r->hist_lo + (size_t)q * HBINS, r->q_rank[q], lo,
			    &(uint64_t){0});
	return qp_wstats_bits_value(r->q_bin[q] << 16 | *lo);
}

static void finish_pass2(run *r, qp_wstats *o)
{
	uint64_t n = (uint64_t)o->n;
	o->n_out3 = r->tot.out3;
	o->n_out6 = r->tot.out6;
	o->out3 = (double)r->tot.out3 / (double)n;
	o->out6 = (double)r->tot.out6 / (double)n;
	for (int b = 0; b < QP_WSTATS_NBITS; b++)
		o->sqnr_tensor[b] = sqnr_db(r->tot.sample_sumsq,
					    r->tot.err_tensor[b]);
	uint32_t lo;
	o->clip999 = query_value(r, Q999, &lo);
	o->clip9999 = query_value(r, Q9999, &lo);
	o->top_threshold = query_value(r, QTOP, &lo);
	const uint64_t *h = r->small ? NULL : r->hist_lo + (size_t)QTOP * HBINS;
	uint64_t n_gt = r->n_above_top_bin;
	double top = r->tot.err_above;
	if (r->small) { /* the loop below over the sorted keys: same order */
		uint32_t bin = r->q_bin[QTOP];
		int64_t i = first_at_least(r, bin << 16 | lo) ;
		while (i < r->n_keys && r->keys[i] >> 16 == bin) {
			uint32_t key = r->keys[i];
			int64_t j = i;
			while (j < r->n_keys && r->keys[j] == key)
				j++;
			if ((key & 0xffff) > lo) {
				uint64_t c = (uint64_t)(j - i);
				n_gt += c;
				top += (double)c * qp_wstats_qerr2(qp_wstats_bits_value(key),
								    r->absmax, TOP_BITS);
			}
			i = j;
		}
	}
	for (uint32_t l = lo + 1; h && l < HBINS; l++) {
		if (!h[l])
			continue;
		n_gt += h[l];
		double v = qp_wstats_bits_value(r->q_bin[QTOP] << 16 | l);
		top += (double)h[l] * qp_wstats_qerr2(v, r->absmax, TOP_BITS);
	}
	top += (double)((uint64_t)o->n_top - n_gt) *
	       qp_wstats_qerr2(o->top_threshold, r->absmax, TOP_BITS);
	o->top_share = top / r->tot.err_all;
}

/* ---- entry point -------------------------------------------------------- */

/* Rows floor(i * n_rows / k), i < k, without overflow: i * (n_rows / k) +
 * floor(i * (n_rows % k) / k), where i * (n_rows % k) < k² <= 2^62. */
static void choose_sample(run *r, int64_t budget)
{
	int64_t k = budget / r->n_cols;
	if (k < 1)
		k = 1;
	if (k > r->n_rows)
		k = r->n_rows;
	int64_t q = r->n_rows / k, rem = r->n_rows % k;
	for (int64_t i = 0; i < k; i++)
		r->sampled[i * q + i * rem / k] = true;
	r->n_sampled = k;
}

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
	int64_t budget = opts && opts->sqnr_values > 0 ? opts->sqnr_values
						       : QP_WSTATS_SQNR_VALUES;
	if (budget > INT32_MAX) /* keeps k² within int64 */
		budget = INT32_MAX;
	int n_threads = opts && opts->n_threads > 1 ? opts->n_threads : 1;
	r->cap_parts = n_threads + 1;
	r->parts = calloc((size_t)r->cap_parts, sizeof *r->parts);
	r->idle = calloc((size_t)r->cap_parts, sizeof *r->idle);
	r->row_sumsq = calloc((size_t)r->n_rows, sizeof *r->row_sumsq);
	r->row_n = calloc((size_t)r->n_rows, sizeof *r->row_n);
	r->sampled = calloc((size_t)r->n_rows, sizeof *r->sampled);
	r->chunk_dirty = calloc((size_t)r->n_chunks, sizeof *r->chunk_dirty);
	r->tot.col_sumsq = calloc((size_t)r->n_cols, sizeof(double));
	r->small = r->n_chunks == 1 && nv <= (uint64_t)SMALL_VALUES;
	if (r->small) {
		r->keys = malloc((size_t)(nv ? nv : 1) * sizeof *r->keys);
	} else {
		r->hist_hi = calloc(HBINS, sizeof *r->hist_hi);
		r->hist_lo = calloc((size_t)NQUERY * HBINS, sizeof *r->hist_lo);
	}
	o->n_cols = r->n_cols;
	o->n_rows = r->n_rows;
	o->n_expert = r->n_expert;
	o->expert_rms = calloc((size_t)r->n_expert, sizeof *o->expert_rms);
	if (!r->parts || !r->idle || !r->row_sumsq || !r->row_n ||
	    !r->sampled || !r->chunk_dirty || !r->tot.col_sumsq ||
	    (r->small ? !r->keys : !r->hist_hi || !r->hist_lo) || !o->expert_rms)
		return qp_fail(e, "wstats: out of memory");
	choose_sample(r, budget);
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
	free(r->sampled);
	free(r->chunk_dirty);
	free(r->tot.col_sumsq);
	free(r->hist_hi);
	free(r->hist_lo);
	free(r->keys);
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
	if (rc == 0 && o->n > 0)
		finish_pass2(&r, o);
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
