/* svd.c — see svd.h. */
#include "svd.h"

#include <limits.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "threads.h"

/* LAPACK (Fortran 77 interface; Debian's liblapack ships no C header for
 * it).  Character arguments carry gfortran's hidden length. */
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda,
		    double *tau, double *work, const int *lwork, int *info);
extern void dorgqr_(const int *m, const int *n, const int *k, double *a,
		    const int *lda, const double *tau, double *work,
		    const int *lwork, int *info);
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a,
		    const int *lda, double *s, double *u, const int *ldu,
		    double *vt, const int *ldvt, double *work, const int *lwork,
		    int *iwork, int *info, size_t jobz_len);

#define CHUNK_VALUES 65536

/* ---- the Gaussian test matrix ------------------------------------------ */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unit_open(uint64_t bits) /* (0, 1) */
{
	return ((double)(bits >> 11) + 0.5) / 9007199254740992.0;
}

/* Standard normal number (j, c) of the stream `seed` (Box-Muller). */
static double gauss_at(uint64_t seed, int64_t j, int c)
{
	uint64_t key = seed * 0x9e3779b97f4a7c15ull +
		       ((uint64_t)j << 20) + (uint64_t)c;
	double u1 = unit_open(mix64(key * 2 + 0x632be59bd9b4e019ull));
	double u2 = unit_open(mix64(key * 2 + 1 + 0x632be59bd9b4e019ull));
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- passes over A ------------------------------------------------------ */

enum { PASS_RANGE, PASS_CORANGE };

typedef struct pass {
	int kind;
	int64_t m, n;
	int l;
	qp_svd_rows_fn fn;
	void *ctx;
	const double *in;  /* RANGE: n x l; CORANGE: m x l (row-major) */
	double *out;       /* RANGE: m x l */
	double *partial;   /* CORANGE: QP_SVD_SLABS x n x l */
	int64_t slab_rows;
	qp_err errs[QP_SVD_SLABS];
} pass;

/* Two doubles at a time (SSE2 on x86-64) through GCC's vector extension;
 * each lane does the same separately rounded multiply and add as the
 * scalar code, so results are bit-identical to it. */
typedef double v2d __attribute__((vector_size(16), aligned(8)));

static v2d ld2(const double *p)
{
	v2d v;
	memcpy(&v, p, sizeof v);
	return v;
}

static void st2(double *p, v2d v)
{
	memcpy(p, &v, sizeof v);
}

/* y[0..3][c] += b[k] * m[c] for the four rows of a block. */
static void axpy4(double *y0, double *y1, double *y2, double *y3,
		  const double b[4], const double *m, int l)
{
	int c = 0;
	v2d b0 = {b[0], b[0]}, b1 = {b[1], b[1]}, b2 = {b[2], b[2]},
	    b3 = {b[3], b[3]};
	for (; c + 2 <= l; c += 2) {
		v2d mc = ld2(m + c);
		st2(y0 + c, ld2(y0 + c) + b0 * mc);
		st2(y1 + c, ld2(y1 + c) + b1 * mc);
		st2(y2 + c, ld2(y2 + c) + b2 * mc);
		st2(y3 + c, ld2(y3 + c) + b3 * mc);
	}
	for (; c < l; c++) {
		y0[c] += b[0] * m[c];
		y1[c] += b[1] * m[c];
		y2[c] += b[2] * m[c];
		y3[c] += b[3] * m[c];
	}
}

/* z[c] += ((b0 q0[c] + b1 q1[c]) + b2 q2[c]) + b3 q3[c]. */
static void dot4(double *z, const double b[4], const double *q0,
		 const double *q1, const double *q2, const double *q3, int l)
{
	int c = 0;
	v2d b0 = {b[0], b[0]}, b1 = {b[1], b[1]}, b2 = {b[2], b[2]},
	    b3 = {b[3], b[3]};
	for (; c + 2 <= l; c += 2) {
		v2d t = b0 * ld2(q0 + c) + b1 * ld2(q1 + c) +
			b2 * ld2(q2 + c) + b3 * ld2(q3 + c);
		st2(z + c, ld2(z + c) + t);
	}
	for (; c < l; c++)
		z[c] += b[0] * q0[c] + b[1] * q1[c] + b[2] * q2[c] +
			b[3] * q3[c];
}

/* Both kernels take rows four at a time so that each row of the n x l
 * operand is loaded once per four rows of A (it is the operand that does
 * not fit in L1). */
static void range_rows(pass *p, const float *a, int64_t row0, int64_t nr)
{
	int l = p->l;
	int64_t n = p->n, i = 0;
	for (; i + 4 <= nr; i += 4) {
		double *y0 = p->out + (row0 + i) * l, *y1 = y0 + l;
		double *y2 = y1 + l, *y3 = y2 + l;
		memset(y0, 0, (size_t)(4 * l) * sizeof *y0);
		const float *a0 = a + i * n, *a1 = a0 + n, *a2 = a1 + n, *a3 = a2 + n;
		for (int64_t j = 0; j < n; j++) {
			double b[4] = {a0[j], a1[j], a2[j], a3[j]};
			axpy4(y0, y1, y2, y3, b, p->in + j * l, l);
		}
	}
	for (; i < nr; i++) {
		double *y = p->out + (row0 + i) * l;
		memset(y, 0, (size_t)l * sizeof *y);
		const float *ar = a + i * n;
		for (int64_t j = 0; j < n; j++) {
			double aij = ar[j];
			const double *mj = p->in + j * l;
			for (int c = 0; c < l; c++)
				y[c] += aij * mj[c];
		}
	}
}

static void corange_rows(pass *p, double *z, const float *a, int64_t row0,
			 int64_t nr)
{
	int l = p->l;
	int64_t n = p->n, i = 0;
	for (; i + 4 <= nr; i += 4) {
		const double *q0 = p->in + (row0 + i) * l, *q1 = q0 + l;
		const double *q2 = q1 + l, *q3 = q2 + l;
		const float *a0 = a + i * n, *a1 = a0 + n, *a2 = a1 + n, *a3 = a2 + n;
		for (int64_t j = 0; j < n; j++) {
			double b[4] = {a0[j], a1[j], a2[j], a3[j]};
			dot4(z + j * l, b, q0, q1, q2, q3, l);
		}
	}
	for (; i < nr; i++) {
		const double *q = p->in + (row0 + i) * l;
		const float *ar = a + i * n;
		for (int64_t j = 0; j < n; j++) {
			double aij = ar[j];
			double *zj = z + j * l;
			for (int c = 0; c < l; c++)
				zj[c] += aij * q[c];
		}
	}
}

/* NaN and infinities are left out of the matrix (read as 0): one of them
 * would make every product NaN and LAPACK refuse the factorization.
 * wstats counts them (stats.n_nonfinite). */
static void zero_nonfinite(float *v, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			v[i] = 0.0f;
}

static int slab_item(void *ctx, size_t s)
{
	pass *p = ctx;
	qp_err *e = &p->errs[s];
	int64_t row0 = (int64_t)s * p->slab_rows;
	int64_t row1 = row0 + p->slab_rows < p->m ? row0 + p->slab_rows : p->m;
	double *z = p->kind == PASS_CORANGE
			    ? p->partial + (size_t)s * (size_t)(p->n * p->l)
			    : NULL;
	if (z)
		memset(z, 0, (size_t)(p->n * p->l) * sizeof *z);
	if (row0 >= row1)
		return 0;
	int64_t chunk = CHUNK_VALUES / p->n > 0 ? CHUNK_VALUES / p->n : 1;
	float *buf = malloc((size_t)(chunk * p->n) * sizeof *buf);
	if (!buf)
		return qp_fail(e, "out of memory");
	int rc = 0;
	for (int64_t r = row0; r < row1 && rc == 0; r += chunk) {
		int64_t nr = row1 - r < chunk ? row1 - r : chunk;
		rc = p->fn(p->ctx, r, nr, buf, e);
		if (rc == 0)
			zero_nonfinite(buf, nr * p->n);
		if (rc == 0 && z)
			corange_rows(p, z, buf, r, nr);
		else if (rc == 0)
			range_rows(p, buf, r, nr);
	}
	free(buf);
	return rc;
}

static int run_pass(pass *p, int n_threads, qp_err *e)
{
	int rc = qp_parallel_for(n_threads, QP_SVD_SLABS, slab_item, p);
	if (rc != 0) {
		for (int s = 0; s < QP_SVD_SLABS; s++)
			if (p->errs[s].msg[0]) {
				*e = p->errs[s];
				return -1;
			}
		return qp_fail(e, "reading the matrix failed");
	}
	if (p->kind != PASS_CORANGE)
		return 0;
	size_t nl = (size_t)(p->n * p->l);
	double *sum = p->partial; /* slab 0 holds the running total */
	for (int s = 1; s < QP_SVD_SLABS; s++) {
		const double *ps = p->partial + (size_t)s * nl;
		for (size_t i = 0; i < nl; i++)
			sum[i] += ps[i];
	}
	return 0;
}

/* ---- LAPACK wrappers ---------------------------------------------------- */

/* Replaces the row-major rows x l matrix x by an orthonormal basis of its
 * column space (Q of its QR factorization). */
static int orthonormalize(double *x, int64_t rows, int l, qp_err *e)
{
	int m = (int)rows, info = 0, lwork = -1;
	double *cm = malloc((size_t)rows * (size_t)l * sizeof *cm);
	double *tau = malloc((size_t)l * sizeof *tau);
	double query = 0, query2 = 0;
	if (!cm || !tau) {
		free(cm);
		free(tau);
		return qp_fail(e, "out of memory");
	}
	for (int64_t i = 0; i < rows; i++)
		for (int c = 0; c < l; c++)
			cm[(size_t)c * (size_t)rows + (size_t)i] = x[i * l + c];
	dgeqrf_(&m, &l, cm, &m, tau, &query, &lwork, &info);
	dorgqr_(&m, &l, &l, cm, &m, tau, &query2, &lwork, &info);
	lwork = (int)(query > query2 ? query : query2);
	if (lwork < l)
		lwork = l;
	double *work = malloc((size_t)lwork * sizeof *work);
	int rc = 0;
	if (!work) {
		rc = qp_fail(e, "out of memory");
	} else {
		dgeqrf_(&m, &l, cm, &m, tau, work, &lwork, &info);
		if (info == 0)
			dorgqr_(&m, &l, &l, cm, &m, tau, work, &lwork, &info);
		if (info != 0)
			rc = qp_fail(e, "LAPACK QR failed (info %d)", info);
	}
	if (rc == 0)
		for (int64_t i = 0; i < rows; i++)
			for (int c = 0; c < l; c++)
				x[i * l + c] = cm[(size_t)c * (size_t)rows + (size_t)i];
	free(work);
	free(cm);
	free(tau);
	return rc;
}

int qp_svd_dense_values(int m, int n, double *a, double *s, qp_err *e)
{
	int mn = m < n ? m : n, info = 0, lwork = -1, one = 1;
	double query = 0, dummy = 0;
	int *iwork = malloc((size_t)(8 * (mn > 0 ? mn : 1)) * sizeof *iwork);
	if (!iwork)
		return qp_fail(e, "out of memory");
	dgesdd_("N", &m, &n, a, &m, s, &dummy, &one, &dummy, &one, &query,
		&lwork, iwork, &info, 1);
	lwork = (int)query;
	if (lwork < 1)
		lwork = 1;
	double *work = malloc((size_t)lwork * sizeof *work);
	int rc = 0;
	if (!work) {
		rc = qp_fail(e, "out of memory");
	} else {
		dgesdd_("N", &m, &n, a, &m, s, &dummy, &one, &dummy, &one, work,
			&lwork, iwork, &info, 1);
		if (info != 0)
			rc = qp_fail(e, "LAPACK dgesdd failed (info %d)", info);
	}
	free(work);
	free(iwork);
	return rc;
}

/* ---- the algorithm ------------------------------------------------------ */

typedef struct sketch {
	pass p;
	double *y, *z, *partial;
	int n_threads;
} sketch;

static int range_pass(sketch *k, const double *in, qp_err *e)
{
	k->p.kind = PASS_RANGE;
	k->p.in = in;
	k->p.out = k->y;
	return run_pass(&k->p, k->n_threads, e);
}

/* Leaves A^T y in k->z. */
static int corange_pass(sketch *k, qp_err *e)
{
	k->p.kind = PASS_CORANGE;
	k->p.in = k->y;
	if (run_pass(&k->p, k->n_threads, e) < 0)
		return -1;
	memcpy(k->z, k->partial, (size_t)(k->p.n * k->p.l) * sizeof *k->z);
	return 0;
}

static int sketch_run(sketch *k, const qp_svd_opts *o, double *sv, int rank,
		      qp_err *e)
{
	int64_t m = k->p.m, n = k->p.n;
	int l = k->p.l;
	for (int64_t j = 0; j < n; j++)
		for (int c = 0; c < l; c++)
			k->z[j * l + c] = gauss_at(o->seed, j, c);
	if (range_pass(k, k->z, e) < 0)
		return -1;
	/* l < min(m, n) here: dense_top takes the matrices a sketch spans */
	for (int it = 0; it < o->power_iters; it++) {
		if (orthonormalize(k->y, m, l, e) < 0 || corange_pass(k, e) < 0 ||
		    orthonormalize(k->z, n, l, e) < 0 || range_pass(k, k->z, e) < 0)
			return -1;
	}
	if (orthonormalize(k->y, m, l, e) < 0 || corange_pass(k, e) < 0)
		return -1;
	/* z is n x l row-major: as a column-major array it is the l x n
	 * matrix B = Q^T A whose singular values are A's. */
	double *s = malloc((size_t)l * sizeof *s);
	if (!s)
		return qp_fail(e, "out of memory");
	int rc = qp_svd_dense_values(l, (int)n, k->z, s, e);
	if (rc == 0)
		memcpy(sv, s, (size_t)rank * sizeof *sv);
	free(s);
	return rc;
}

/* ---- small matrices: a direct bidiagonalization ------------------------ */

/* When l = min(m, n) the sketch would span the whole range and give A's
 * own values up to rounding; factorizing A directly gives them without
 * the test matrix, the two passes and the QR.  On the many small tensors
 * of a MoE model LAPACK's dgesdd costs more in the reference BLAS's
 * call-per-column level-2 loops than in arithmetic, so the reduction to
 * bidiagonal form is done here, two lanes at a time, and only the
 * bidiagonal's values are LAPACK's (dlasq1: the dqds algorithm dgesdd
 * itself ends in when no vectors are wanted, to high relative accuracy).
 * Householder reductions are backward stable: the values are those of a
 * matrix within a small multiple of eps·‖A‖ of A, as dgesdd's are.
 *
 * The working matrix is row-major p x q with p >= q (A, or A^T when A is
 * wide), entries of floats, so no sum of squares can overflow a double. */

extern void dlasq1_(const int *n, double *d, double *e, double *work,
		    int *info);

/* y[0..n) += a * x[0..n) */
static void axpy(double *y, double a, const double *x, int64_t n)
{
	int64_t j = 0;
	v2d av = {a, a};
	for (; j + 2 <= n; j += 2)
		st2(y + j, ld2(y + j) + av * ld2(x + j));
	for (; j < n; j++)
		y[j] += a * x[j];
}

/* y[0..n) += ((a[0] x0 + a[1] x1) ... in row order: four rows of a left
 * reflector's product in one sweep over y */
static void axpy_rows4(double *y, const double a[4], const double *x0,
		       const double *x1, const double *x2, const double *x3,
		       int64_t n)
{
	v2d a0 = {a[0], a[0]}, a1 = {a[1], a[1]}, a2 = {a[2], a[2]},
	    a3 = {a[3], a[3]};
	int64_t j = 0;
	for (; j + 2 <= n; j += 2)
		st2(y + j, (((ld2(y + j) + a0 * ld2(x0 + j)) + a1 * ld2(x1 + j)) +
			    a2 * ld2(x2 + j)) + a3 * ld2(x3 + j));
	for (; j < n; j++)
		y[j] = (((y[j] + a[0] * x0[j]) + a[1] * x1[j]) + a[2] * x2[j]) +
		       a[3] * x3[j];
}

/* x[0..n) . y[0..n), in two lanes (even and odd j) added at the end */
static double dot(const double *x, const double *y, int64_t n)
{
	v2d acc = {0, 0};
	int64_t j = 0;
	for (; j + 2 <= n; j += 2)
		acc += ld2(x + j) * ld2(y + j);
	double s[2];
	st2(s, acc);
	if (j < n)
		s[0] += x[j] * y[j];
	return s[0] + s[1];
}

/* The reflector H = I - tau v v^T (v[0] = 1) with H x = (beta, 0, ...)
 * for x[0..r) at stride `stride`: x[0] becomes beta, x[1..] v[1..]. */
static double reflector(double *x, int64_t r, int64_t stride)
{
	double ss = 0;
	for (int64_t i = 1; i < r; i++)
		ss += x[i * stride] * x[i * stride];
	if (ss == 0)
		return 0; /* already (alpha, 0, ...): H = I */
	double alpha = x[0];
	double beta = sqrt(alpha * alpha + ss);
	if (alpha > 0)
		beta = -beta;
	double scale = 1 / (alpha - beta);
	for (int64_t i = 1; i < r; i++)
		x[i * stride] *= scale;
	x[0] = beta;
	return (beta - alpha) / beta;
}

/* Column k below row k to zero by a reflector from the left, applied to
 * columns k+1..q-1 of rows k..p-1 (w: q scratch doubles). */
static void left_step(double *b, int64_t p, int64_t q, int64_t k, double *w)
{
	double tau = reflector(b + k * q + k, p - k, q);
	int64_t nc = q - k - 1;
	if (tau == 0 || nc == 0)
		return;
	double *row_k = b + k * q + k + 1;
	memcpy(w, row_k, (size_t)nc * sizeof *w); /* w = v^T B, v[k] = 1 */
	int64_t i = k + 1;
	for (; i + 4 <= p; i += 4) {
		const double *x = b + i * q + k;
		double a[4] = {x[0], x[q], x[2 * q], x[3 * q]};
		axpy_rows4(w, a, x + 1, x + q + 1, x + 2 * q + 1, x + 3 * q + 1, nc);
	}
	for (; i < p; i++)
		axpy(w, b[i * q + k], b + i * q + k + 1, nc);
	axpy(row_k, -tau, w, nc);
	for (i = k + 1; i + 4 <= p; i += 4) {
		double *x = b + i * q + k;
		double a[4] = {-tau * x[0], -tau * x[q], -tau * x[2 * q],
			       -tau * x[3 * q]};
		axpy4(x + 1, x + q + 1, x + 2 * q + 1, x + 3 * q + 1, a, w, (int)nc);
	}
	for (; i < p; i++)
		axpy(b + i * q + k + 1, -tau * b[i * q + k], w, nc);
}

/* Row k right of column k+1 to zero by a reflector from the right,
 * applied to rows k+1..p-1. */
static void right_step(double *b, int64_t p, int64_t q, int64_t k)
{
	double *u = b + k * q + k + 1; /* u[0] = 1 once reflected */
	int64_t nc = q - k - 1;
	double tau = reflector(u, nc, 1);
	if (tau == 0)
		return;
	for (int64_t i = k + 1; i < p; i++) {
		double *x = b + i * q + k + 1;
		double s = x[0] + dot(x + 1, u + 1, nc - 1);
		x[0] -= tau * s;
		axpy(x + 1, -tau * s, u + 1, nc - 1);
	}
}

/* Singular values of the row-major p x q matrix b (p >= q; overwritten)
 * into sv[0..q), largest first. */
static int bidiag_values(double *b, int64_t p, int64_t q, double *sv,
			 qp_err *e)
{
	double *w = malloc((size_t)(q * 5) * sizeof *w); /* w, then e and dlasq1's 4q */
	if (!w)
		return qp_fail(e, "out of memory");
	/* Tall: a QR first leaves the q x q R to reduce (LAPACK's choice too;
	 * fewer flops once p >= 5q/3). */
	if (3 * p >= 5 * q) {
		for (int64_t k = 0; k < q; k++)
			left_step(b, p, q, k, w);
		for (int64_t i = 1; i < q; i++) /* R: zeros below the diagonal */
			memset(b + i * q, 0, (size_t)i * sizeof *b);
		p = q;
	}
	for (int64_t k = 0; k < q; k++) {
		left_step(b, p, q, k, w);
		if (k + 2 < q)
			right_step(b, p, q, k);
	}
	double *off = w, *work = w + q;
	for (int64_t k = 0; k < q; k++) {
		sv[k] = b[k * q + k];
		off[k] = k + 1 < q ? b[k * q + k + 1] : 0;
	}
	int n = (int)q, info = 0;
	dlasq1_(&n, sv, off, work, &info);
	free(w);
	return info ? qp_fail(e, "LAPACK dlasq1 failed (info %d)", info) : 0;
}

/* A read in chunks of rows into the p x q working matrix. */
static int dense_top(int64_t m, int64_t n, qp_svd_rows_fn fn, void *ctx,
		     double *sv, int rank, qp_err *e)
{
	bool wide = m < n;
	int64_t q = wide ? m : n, p = wide ? n : m;
	int64_t chunk = CHUNK_VALUES / n > 0 ? CHUNK_VALUES / n : 1;
	if (chunk > m)
		chunk = m;
	double *b = malloc((size_t)m * (size_t)n * sizeof *b);
	double *s = malloc((size_t)q * sizeof *s);
	float *buf = malloc((size_t)chunk * (size_t)n * sizeof *buf);
	int rc = (b && s && buf) ? 0
		 : qp_fail(e, "out of memory for the SVD of %lld x %lld",
			   (long long)m, (long long)n);
	for (int64_t r = 0; r < m && rc == 0; r += chunk) {
		int64_t nr = m - r < chunk ? m - r : chunk;
		rc = fn(ctx, r, nr, buf, e);
		if (rc != 0)
			break;
		zero_nonfinite(buf, nr * n);
		for (int64_t i = 0; i < nr && wide; i++)
			for (int64_t j = 0; j < n; j++)
				b[j * q + r + i] = buf[i * n + j];
		for (int64_t i = 0; i < nr * n && !wide; i++)
			b[r * n + i] = buf[i];
	}
	if (rc == 0)
		rc = bidiag_values(b, p, q, s, e);
	if (rc == 0)
		memcpy(sv, s, (size_t)rank * sizeof *sv);
	free(buf);
	free(s);
	free(b);
	return rc;
}

int qp_svd_top(int64_t m, int64_t n, qp_svd_rows_fn fn, void *ctx,
	       const qp_svd_opts *o, double *sv, int *n_sv, qp_err *e)
{
	*n_sv = 0;
	if (m < 1 || n < 1 || o->rank < 1)
		return qp_fail(e, "SVD of an empty matrix or with rank < 1");
	if (m > INT_MAX / 2 || n > INT_MAX / 2)
		return qp_fail(e, "matrix of %lld x %lld is too large for LAPACK",
			       (long long)m, (long long)n);
	int64_t mn = m < n ? m : n;
	int rank = o->rank < mn ? o->rank : (int)mn;
	int64_t want = (int64_t)rank + (o->oversample > 0 ? o->oversample : 8);
	int l = (int)(want < mn ? want : mn);
	if (l == mn) {
		int rc = dense_top(m, n, fn, ctx, sv, rank, e);
		if (rc == 0)
			*n_sv = rank;
		return rc;
	}
	sketch k = {.n_threads = o->n_threads > 0 ? o->n_threads : 1};
	k.p = (pass){.m = m, .n = n, .l = l, .fn = fn, .ctx = ctx,
		     .slab_rows = (m + QP_SVD_SLABS - 1) / QP_SVD_SLABS};
	k.y = malloc((size_t)m * (size_t)l * sizeof *k.y);
	k.z = malloc((size_t)n * (size_t)l * sizeof *k.z);
	k.partial = malloc((size_t)QP_SVD_SLABS * (size_t)n * (size_t)l *
			   sizeof *k.partial);
	k.p.partial = k.partial;
	int rc;
	if (!k.y || !k.z || !k.partial)
		rc = qp_fail(e, "out of memory for the SVD sketch of %lld x %lld",
			     (long long)m, (long long)n);
	else
		rc = sketch_run(&k, o, sv, rank, e);
	if (rc == 0)
		*n_sv = rank;
	free(k.y);
	free(k.z);
	free(k.partial);
	return rc;
}
