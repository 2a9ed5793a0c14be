/* wstats_kernels.c — see wstats_kernels.h. */
#include "wstats_kernels.h"

/* ---- kernels: SSE2 and plain C twins ------------------------------------
 *
 * Double sums run in four lanes, value j of a row going to lane j % 4, and
 * end as (l0 + l1) + (l2 + l3); SSE2 holds lanes 0-1 and 2-3 in two
 * registers.  Min, max and integer counts do not depend on the order.  So
 * both twins give the same bits.  The fast kernels assume finite values;
 * rows with NaN/Inf take the *_slow paths. */

#ifdef __SSE2__
bool qp_wstats_row_scan(const float *w, int64_t n, qp_wstats_row_sums *s)
{
	const __m128i expm = _mm_set1_epi32((int32_t)QP_WSTATS_EXP_MASK);
	__m128d sum[2] = {_mm_setzero_pd(), _mm_setzero_pd()};
	__m128 mn = _mm_set1_ps(INFINITY), mx = _mm_set1_ps(-INFINITY);
	__m128i bad = _mm_setzero_si128();
	int64_t zeros = 0, j = 0;
	while (j + 4 <= n) {
		int64_t end = n - j > QP_WSTATS_COUNT_BLOCK ? j + QP_WSTATS_COUNT_BLOCK : n;
		__m128i z = _mm_setzero_si128();
		for (; j + 4 <= end; j += 4) {
			__m128 v = _mm_loadu_ps(w + j);
			__m128i b = _mm_castps_si128(v);
			bad = _mm_or_si128(bad, _mm_cmpeq_epi32(
							_mm_and_si128(b, expm), expm));
			mn = _mm_min_ps(mn, v);
			mx = _mm_max_ps(mx, v);
			z = _mm_sub_epi32(z, _mm_castps_si128(
						     _mm_cmpeq_ps(v, _mm_setzero_ps())));
			sum[0] = _mm_add_pd(sum[0], qp_wstats_lo_pd(v));
			sum[1] = _mm_add_pd(sum[1], qp_wstats_hi_pd(v));
		}
		zeros += qp_wstats_count_lanes(z);
	}
	if (_mm_movemask_epi8(bad))
		return false;
	double ls[4];
	float fmn[4], fmx[4];
	_mm_storeu_pd(ls, sum[0]);
	_mm_storeu_pd(ls + 2, sum[1]);
	_mm_storeu_ps(fmn, mn);
	_mm_storeu_ps(fmx, mx);
	float lo = fmn[0], hi = fmx[0];
	for (int k = 1; k < 4; k++) {
		lo = fmn[k] < lo ? fmn[k] : lo;
		hi = fmx[k] > hi ? fmx[k] : hi;
	}
	for (; j < n; j++) {
		if ((qp_wstats_f32_bits(w[j]) & QP_WSTATS_EXP_MASK) == QP_WSTATS_EXP_MASK)
			return false;
		ls[j & 3] += w[j];
		lo = w[j] < lo ? w[j] : lo;
		hi = w[j] > hi ? w[j] : hi;
		zeros += w[j] == 0;
	}
	*s = (qp_wstats_row_sums){qp_wstats_lanes_total(ls), 0, lo, hi, zeros};
	return true;
}

void qp_wstats_row_moments(const float *w, int64_t n, double mean, double *col,
			double *m)
{
	const __m128d mu = _mm_set1_pd(mean);
	__m128d acc[4][2];
	for (int k = 0; k < 4; k++)
		acc[k][0] = acc[k][1] = _mm_setzero_pd();
	int64_t j = 0;
	for (; j + 4 <= n; j += 4) {
		__m128 v = _mm_loadu_ps(w + j);
		__m128d x[2] = {qp_wstats_lo_pd(v), qp_wstats_hi_pd(v)};
		for (int h = 0; h < 2; h++) {
			__m128d d = _mm_sub_pd(x[h], mu), d2 = _mm_mul_pd(d, d);
			acc[0][h] = _mm_add_pd(acc[0][h], d2);
			acc[1][h] = _mm_add_pd(acc[1][h], _mm_mul_pd(d2, d));
			acc[2][h] = _mm_add_pd(acc[2][h], _mm_mul_pd(d2, d2));
			__m128d x2 = _mm_mul_pd(x[h], x[h]);
			acc[3][h] = _mm_add_pd(acc[3][h], x2);
			__m128d c = _mm_loadu_pd(col + j + 2 * h);
			_mm_storeu_pd(col + j + 2 * h, _mm_add_pd(c, x2));
		}
	}
	double l[4][4];
	for (int k = 0; k < 4; k++) {
		_mm_storeu_pd(l[k], acc[k][0]);
		_mm_storeu_pd(l[k] + 2, acc[k][1]);
	}
	for (; j < n; j++) {
		double x = w[j], d = x - mean, d2 = d * d;
		l[0][j & 3] += d2;
		l[1][j & 3] += d2 * d;
		l[2][j & 3] += d2 * d2;
		l[3][j & 3] += x * x;
		col[j] += x * x;
	}
	for (int k = 0; k < 4; k++)
		m[k] = qp_wstats_lanes_total(l[k]);
}

float qp_wstats_row_absmax(const float *w, int64_t n)
{
	const __m128 absm = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
	__m128 mx = _mm_setzero_ps();
	int64_t j = 0;
	for (; j + 4 <= n; j += 4)
		mx = _mm_max_ps(mx, _mm_and_ps(_mm_loadu_ps(w + j), absm));
	float l[4];
	_mm_storeu_ps(l, mx);
	float m = l[0] > l[1] ? l[0] : l[1];
	m = l[2] > m ? l[2] : m;
	m = l[3] > m ? l[3] : m;
	for (; j < n; j++)
		m = fabsf(w[j]) > m ? fabsf(w[j]) : m;
	return m;
}

double qp_wstats_qerr2_sum(const float *w, int64_t n, qp_wstats_scale s)
{
	__m128d acc[2] = {_mm_setzero_pd(), _mm_setzero_pd()};
	const qp_wstats_scale_pd sp = qp_wstats_scale_pd_make(s);
	const __m128 absm = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
	int64_t j = 0;
	for (; j + 4 <= n; j += 4)
		qp_wstats_qerr2_acc4(_mm_and_ps(_mm_loadu_ps(w + j), absm), &sp, acc);
	double s4[4];
	_mm_storeu_pd(s4, acc[0]);
	_mm_storeu_pd(s4 + 2, acc[1]);
	for (; j < n; j++)
		s4[j & 3] += qp_wstats_scaled_err2(w[j], s);
	return qp_wstats_lanes_total(s4);
}
bool qp_wstats_row_finite(const float *w, int64_t n)
{
	const __m128i expm = _mm_set1_epi32((int32_t)QP_WSTATS_EXP_MASK);
	__m128i bad = _mm_setzero_si128();
	int64_t j = 0;
	for (; j + 4 <= n; j += 4) {
		__m128i b = _mm_loadu_si128((const __m128i *)(w + j));
		bad = _mm_or_si128(bad, _mm_cmpeq_epi32(_mm_and_si128(b, expm),
							 expm));
	}
	bool ok = !_mm_movemask_epi8(bad);
	for (; j < n; j++)
		ok &= (qp_wstats_f32_bits(w[j]) & QP_WSTATS_EXP_MASK) != QP_WSTATS_EXP_MASK;
	return ok;
}

#else
bool qp_wstats_row_scan(const float *w, int64_t n, qp_wstats_row_sums *s)
{
	double ls[4] = {0, 0, 0, 0};
	float lo = INFINITY, hi = -INFINITY;
	int64_t zeros = 0;
	uint32_t bad = 0;
	for (int64_t j = 0; j < n; j++) {
		float v = w[j];
		bad |= (qp_wstats_f32_bits(v) & QP_WSTATS_EXP_MASK) == QP_WSTATS_EXP_MASK;
		ls[j & 3] += v;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
		zeros += v == 0;
	}
	if (bad)
		return false;
	*s = (qp_wstats_row_sums){qp_wstats_lanes_total(ls), 0, lo, hi, zeros};
	return true;
}

void qp_wstats_row_moments(const float *w, int64_t n, double mean, double *col,
			double *m)
{
	double l[4][4] = {{0}};
	for (int64_t j = 0; j < n; j++) {
		double x = w[j], d = x - mean, d2 = d * d;
		l[0][j & 3] += d2;
		l[1][j & 3] += d2 * d;
		l[2][j & 3] += d2 * d2;
		l[3][j & 3] += x * x;
		col[j] += x * x;
	}
	for (int k = 0; k < 4; k++)
		m[k] = qp_wstats_lanes_total(l[k]);
}

float qp_wstats_row_absmax(const float *w, int64_t n)
{
	float m = 0;
	for (int64_t j = 0; j < n; j++)
		m = fabsf(w[j]) > m ? fabsf(w[j]) : m;
	return m;
}

double qp_wstats_qerr2_sum(const float *w, int64_t n, qp_wstats_scale s)
{
	double s4[4] = {0, 0, 0, 0};
	for (int64_t j = 0; j < n; j++)
		s4[j & 3] += qp_wstats_scaled_err2(w[j], s);
	return qp_wstats_lanes_total(s4);
}
bool qp_wstats_row_finite(const float *w, int64_t n)
{
	bool ok = true;
	for (int64_t j = 0; j < n; j++)
		ok &= (qp_wstats_f32_bits(w[j]) & QP_WSTATS_EXP_MASK) != QP_WSTATS_EXP_MASK;
	return ok;
}
#endif

void qp_wstats_errors_all_bits(const float *w, int64_t n, double absmax,
			    double *err)
{
	for (int b = 0; b < QP_WSTATS_NBITS; b++)
		err[b] += qp_wstats_qerr2_sum(w, n, qp_wstats_scale_make(absmax, b + 2));
}

void qp_wstats_grouped_errors_fast(const float *w, int64_t n, int64_t g,
				double *err)
{
	for (int64_t j = 0; j < n; j += g) {
		int64_t m = n - j < g ? n - j : g;
		qp_wstats_errors_all_bits(w + j, m, qp_wstats_row_absmax(w + j, m), err);
	}
}

/* The same over the finite values of w[0..n) (rows with NaN/Inf). */
static void group_errors_slow(const float *w, int64_t n, double *err)
{
	double amax = 0;
	for (int64_t j = 0; j < n; j++)
		if (isfinite(w[j]) && fabs(w[j]) > amax)
			amax = fabs(w[j]);
	for (int b = 0; b < QP_WSTATS_NBITS; b++) {
		qp_wstats_scale s = qp_wstats_scale_make(amax, b + 2);
		double sum = 0;
		for (int64_t j = 0; j < n; j++)
			if (isfinite(w[j]))
				sum += qp_wstats_scaled_err2(w[j], s);
		err[b] += sum;
	}
}

void qp_wstats_grouped_errors_slow(const float *w, int64_t n, int64_t g,
				double *err)
{
	for (int64_t j = 0; j < n; j += g)
		group_errors_slow(w + j, n - j < g ? n - j : g, err);
}

/* Two histograms, for even and odd j: weights crowd into few bins, and
 * back-to-back increments of one counter wait for each other. */
void qp_wstats_hist_abs_hi(const float *w, int64_t n, uint64_t *hist)
{
	uint64_t *odd = hist + QP_WSTATS_HBINS;
	int64_t j = 0;
	for (; j + 2 <= n; j += 2) {
		hist[qp_wstats_abs_bits(w[j]) >> 16]++;
		odd[qp_wstats_abs_bits(w[j + 1]) >> 16]++;
	}
	if (j < n)
		hist[qp_wstats_abs_bits(w[j]) >> 16]++;
}
