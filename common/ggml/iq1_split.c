/* iq1_split.c — IQ1_S's split search, ggml's loop and its pruned twin.
 *
 * ggml (quantize_row_iq1_s_impl) forms the prefix sums S[i] (of w*x) and
 * W[i] (of w) over the sorted group, then for i1 = 0..32, i2 = i1..32 and
 * the shifts x_p then x_m computes
 *   sumqx = (S[i1]-S[0])*x[0] + (S[i2]-S[i1])*x[1] + (S[32]-S[i2])*x[2]
 *   sumq2 = (W[i1]-W[0])*x[0]*x[0] + (W[i2]-W[i1])*x[1]*x[1] + (W[32]-W[i2])*x[2]*x[2]
 * and takes a candidate when sumq2 > 0 && sumqx*sumqx > score*sumq2 (then
 * scale = sumqx/sumq2, score = scale*sumqx).  1122 candidates a group.
 *
 * The pruned search.  Write g(c) = fl(fl(qx/q2)*qx) for the score a
 * candidate c sets, pass(c, s) for ggml's test against a running score s,
 * and E(c) = qx^2/q2 (real arithmetic on c's float qx, q2 > 0).
 *  (a) pass(c, s) is antitone in s (fl(s*q2) grows with s when q2 > 0),
 *      and pass(c, s) implies E(c) > s: rounding is monotone, so
 *      qx^2 <= s*q2 would give fl(qx*qx) <= fl(s*q2).
 *  (b) The state after a candidate that is taken depends on it alone.
 *  So if j passes against P = an upper bound of every score the run can
 *  hold before j (-FLT_MAX, ggml's start, and g of every earlier
 *  candidate), ggml takes j whatever happened before, and the run from j
 *  on can be replayed from j's state.  The search: bound g and E over
 *  chunks (row i1, eight i2 from lo = i1 + 8t), evaluate exactly the
 *  chunks whose bound reaches m_thr = m (1 - 2^-10) (m the best g found,
 *  the chunk of largest bound first, so m is high early), let j be the
 *  first candidate in ggml's order with g(j) = m, check pass(j, P) with P
 *  the largest g or bound of what precedes j, take j, and replay ggml's
 *  test on the evaluated candidates after j with g >= m_thr.  The others
 *  after j cannot pass: a replayed candidate taken has E > s, so s falls
 *  by at most a factor (1 - u)^2 each time (u = 2^-24) and stays above
 *  m (1 - 2^-12) after the at most 1122 takes; the skipped ones have
 *  E <= g (1 + 3u) < m (1 - 2^-11) (evaluated) or E <= bound < m_thr.
 *  When the check fails (j is within rounding of what precedes it), or
 *  the group is outside the ranges the bounds are proven for, the full
 *  loop runs instead.
 *
 * The bound.  With weights >= 0 and x ascending, W grows with i and each
 * step adds w*x with x between the chunk's first value xa = xs[lo] and
 * last xb = xs[hi - 1] (hi = min(lo + 7, 32)): the points (S[i2], W[i2]),
 * i2 in [lo, hi], lie in the triangle with vertices (S[lo], W[lo]) and
 * (S[lo] + xa D, W[hi]), (S[lo] + xb D, W[hi]), D = W[hi] - W[lo], up to
 * the prefix sums' rounding, delta <= 7u Mx + 8u X MW (Mx = max |S|,
 * X = max |x|, MW = W[32]).  In real arithmetic sumqx = K - S[i2] with
 * K = x[2] S[32] - S[i1], and sumq2 = E - C W[i2] with E = A W[i1] +
 * B W[32] (x_p: A, B, C = 3/4, 81/64, 5/4; x_m: 5/4, 49/64, 3/4); ggml's
 * float sumqx is within 11.1u Mx of that, its sumq2 within 10.3u MW.  So
 * E(c) <= h(S, W) = (|K - S| + e1)^2 / (E - C W - e2) at a point of the
 * triangle, with e1 = 2^-14 (Mx + X MW) and e2 = 2^-14 MW (these cover
 * delta, ggml's errors and this bound's own float errors, about
 * 64u (Mx + X MW) and 16u MW, sixteen times over).  h is convex where its
 * denominator is positive (a square over an affine function), so its
 * maximum over the triangle is at a vertex; the two upper vertices share
 * W[hi], so the larger of their numerators is |K - mid| + half.  A
 * denominator <= 0 at W[lo] or W[hi] gives no bound (infinity).  The
 * bound is that maximum times 1 + 2^-16, which covers its own roundings
 * and g <= E (1 + u)^2.  The ranges: every weight >= 0, 2^-48 <= Mx <=
 * 2^40, X <= 2^40, 2^-100 <= MW <= 2^40 (so no square underflows and
 * ggml's underflow errors, 2^-150 an operation, are inside e1 and e2).
 */
#include "iq1_split.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "cpu.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ggml's IQ1S_DELTA and its two level sets (x_p, x_m) */
#define IQ1_DELTA 0.125f
static const float iq1_xp[3] = {-1 + IQ1_DELTA, IQ1_DELTA, 1 + IQ1_DELTA};
static const float iq1_xm[3] = {-1 - IQ1_DELTA, -IQ1_DELTA, 1 - IQ1_DELTA};

/* One candidate in ggml's order: taken when sumq2 > 0 and it beats the
 * score so far. */
static inline void split_try(qp_iq1_split *b, float sumqx, float sumq2,
			     int i1, int i2, int sh)
{
	if (sumq2 > 0 && sumqx * sumqx > b->score * sumq2) {
		b->scale = sumqx / sumq2;
		b->score = b->scale * sumqx;
		b->i1 = i1;
		b->i2 = i2;
		b->shift = sh ? -1 : 1;
	}
}

/* ggml's two expressions for candidate (i1, i2, sh). */
static inline void candidate(const float *S, const float *W, int i1, int i2,
			     int sh, float *qx, float *q2)
{
	const float *xs = sh ? iq1_xm : iq1_xp;
	*qx = (S[i1] - S[0]) * xs[0] + (S[i2] - S[i1]) * xs[1] +
	      (S[32] - S[i2]) * xs[2];
	*q2 = (W[i1] - W[0]) * xs[0] * xs[0] + (W[i2] - W[i1]) * xs[1] * xs[1] +
	      (W[32] - W[i2]) * xs[2] * xs[2];
}

/* ---- ggml's full loop ------------------------------------------------------ */

#if QP_HAVE_AVX2
/* The full loop with eight i2 side by side (prefix sums read up to index
 * 39; those past 32 are NaN, so the lanes past i2 = 32 fail every
 * comparison and need no mask). */
static QP_AVX2 void full_avx2(const float *sumx, const float *sumw,
			      qp_iq1_split *b)
{
	const __m256 p0 = _mm256_set1_ps(iq1_xp[0]), p1 = _mm256_set1_ps(iq1_xp[1]);
	const __m256 p2 = _mm256_set1_ps(iq1_xp[2]), m0 = _mm256_set1_ps(iq1_xm[0]);
	const __m256 m1 = _mm256_set1_ps(iq1_xm[1]), m2 = _mm256_set1_ps(iq1_xm[2]);
	const __m256 x32 = _mm256_set1_ps(sumx[32]), w32 = _mm256_set1_ps(sumw[32]);
	/* the level 1 tail's terms depend on i2 alone: once per group */
	float tx0[40], tx1[40], tq0[40], tq1[40];
	for (int i2 = 0; i2 < 40; i2 += 8) {
		const __m256 xc = _mm256_sub_ps(x32, _mm256_loadu_ps(sumx + i2));
		const __m256 wc = _mm256_sub_ps(w32, _mm256_loadu_ps(sumw + i2));
		_mm256_storeu_ps(tx0 + i2, _mm256_mul_ps(xc, p2));
		_mm256_storeu_ps(tx1 + i2, _mm256_mul_ps(xc, m2));
		_mm256_storeu_ps(tq0 + i2, _mm256_mul_ps(_mm256_mul_ps(wc, p2), p2));
		_mm256_storeu_ps(tq1 + i2, _mm256_mul_ps(_mm256_mul_ps(wc, m2), m2));
	}
	for (int i1 = 0; i1 <= 32; i1++) {
		const __m256 xa = _mm256_set1_ps(sumx[i1] - sumx[0]);
		const __m256 wa = _mm256_set1_ps(sumw[i1] - sumw[0]);
		const __m256 x1 = _mm256_set1_ps(sumx[i1]), w1 = _mm256_set1_ps(sumw[i1]);
		/* the level -1 head's terms, shared by every i2 */
		const __m256 hx0 = _mm256_mul_ps(xa, p0), hx1 = _mm256_mul_ps(xa, m0);
		const __m256 hq0 = _mm256_mul_ps(_mm256_mul_ps(wa, p0), p0);
		const __m256 hq1 = _mm256_mul_ps(_mm256_mul_ps(wa, m0), m0);
		for (int i2 = i1; i2 <= 32; i2 += 8) {
			const __m256 xb = _mm256_sub_ps(_mm256_loadu_ps(sumx + i2), x1);
			const __m256 wb = _mm256_sub_ps(_mm256_loadu_ps(sumw + i2), w1);
			__m256 qx[2], q2[2];
			qx[0] = _mm256_add_ps(_mm256_add_ps(hx0, _mm256_mul_ps(xb, p1)),
					      _mm256_loadu_ps(tx0 + i2));
			qx[1] = _mm256_add_ps(_mm256_add_ps(hx1, _mm256_mul_ps(xb, m1)),
					      _mm256_loadu_ps(tx1 + i2));
			q2[0] = _mm256_add_ps(_mm256_add_ps(hq0, _mm256_mul_ps(_mm256_mul_ps(wb, p1), p1)),
					      _mm256_loadu_ps(tq0 + i2));
			q2[1] = _mm256_add_ps(_mm256_add_ps(hq1, _mm256_mul_ps(_mm256_mul_ps(wb, m1), m1)),
					      _mm256_loadu_ps(tq1 + i2));
			const __m256 score = _mm256_set1_ps(b->score);
			/* sumq2 > 0 is left to the one-by-one tests: a batch none
			 * of whose candidates passes the other test is skipped */
			const __m256 any = _mm256_or_ps(
				_mm256_cmp_ps(_mm256_mul_ps(qx[0], qx[0]),
					      _mm256_mul_ps(score, q2[0]), _CMP_GT_OQ),
				_mm256_cmp_ps(_mm256_mul_ps(qx[1], qx[1]),
					      _mm256_mul_ps(score, q2[1]), _CMP_GT_OQ));
			if (!_mm256_movemask_ps(any))
				continue;
			float fx[2][8], f2[2][8];
			for (int sh = 0; sh < 2; sh++) {
				_mm256_storeu_ps(fx[sh], qx[sh]);
				_mm256_storeu_ps(f2[sh], q2[sh]);
			}
			/* ggml's order is l, then sh: the first candidate that
			 * passes split_try's test against the current score is
			 * the lowest lane of the lowest l whose test (the same
			 * operations in lanes) holds; it is taken, the rest are
			 * tested again against its score */
			const __m256 z = _mm256_setzero_ps();
			const __m256 xx0 = _mm256_mul_ps(qx[0], qx[0]);
			const __m256 xx1 = _mm256_mul_ps(qx[1], qx[1]);
			const unsigned pos0 = (unsigned)_mm256_movemask_ps(
				_mm256_cmp_ps(q2[0], z, _CMP_GT_OQ));
			const unsigned pos1 = (unsigned)_mm256_movemask_ps(
				_mm256_cmp_ps(q2[1], z, _CMP_GT_OQ));
			unsigned from0 = 0xff, from1 = 0xff; /* untried lanes */
			for (;;) {
				const __m256 sc = _mm256_set1_ps(b->score);
				unsigned a0 = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(
					xx0, _mm256_mul_ps(sc, q2[0]), _CMP_GT_OQ)) & pos0 & from0;
				unsigned a1 = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(
					xx1, _mm256_mul_ps(sc, q2[1]), _CMP_GT_OQ)) & pos1 & from1;
				if (!(a0 | a1))
					break;
				const int l = __builtin_ctz(a0 | a1);
				const int sh = (a0 >> l) & 1 ? 0 : 1;
				b->scale = fx[sh][l] / f2[sh][l];
				b->score = b->scale * fx[sh][l];
				b->i1 = i1;
				b->i2 = i2 + l;
				b->shift = sh ? -1 : 1;
				from1 = ~0u << (l + sh);
				from0 = ~0u << (l + 1);
			}
		}
	}
}
#endif

/* Every split (i1 <= i2) and shift, in ggml's order, from the prefix sums
 * sumx, sumw (33 values; SSE2 reads up to index 35).  With SSE2, four i2
 * side by side, each lane the scalar expressions' operations in their
 * order; a batch none of whose eight candidates beats the score at its
 * start changes nothing (the score only moves when one does), otherwise
 * its candidates are tried one by one as the scalar loop does. */
static void full(const float *sumx, const float *sumw, qp_iq1_split *b)
{
#ifdef __SSE2__
	const __m128 p0 = _mm_set1_ps(iq1_xp[0]), p1 = _mm_set1_ps(iq1_xp[1]);
	const __m128 p2 = _mm_set1_ps(iq1_xp[2]), m0 = _mm_set1_ps(iq1_xm[0]);
	const __m128 m1 = _mm_set1_ps(iq1_xm[1]), m2 = _mm_set1_ps(iq1_xm[2]);
	const __m128 x32 = _mm_set1_ps(sumx[32]), w32 = _mm_set1_ps(sumw[32]);
	const __m128 lane = _mm_set_ps(3, 2, 1, 0);
	for (int i1 = 0; i1 <= 32; i1++) {
		const __m128 xa = _mm_set1_ps(sumx[i1] - sumx[0]);
		const __m128 wa = _mm_set1_ps(sumw[i1] - sumw[0]);
		const __m128 x1 = _mm_set1_ps(sumx[i1]), w1 = _mm_set1_ps(sumw[i1]);
		for (int i2 = i1; i2 <= 32; i2 += 4) {
			const __m128 x2 = _mm_loadu_ps(sumx + i2), w2 = _mm_loadu_ps(sumw + i2);
			const __m128 xb = _mm_sub_ps(x2, x1), xc = _mm_sub_ps(x32, x2);
			const __m128 wb = _mm_sub_ps(w2, w1), wc = _mm_sub_ps(w32, w2);
			__m128 qx[2], q2[2];
			qx[0] = _mm_add_ps(_mm_add_ps(_mm_mul_ps(xa, p0), _mm_mul_ps(xb, p1)),
					   _mm_mul_ps(xc, p2));
			qx[1] = _mm_add_ps(_mm_add_ps(_mm_mul_ps(xa, m0), _mm_mul_ps(xb, m1)),
					   _mm_mul_ps(xc, m2));
			q2[0] = _mm_add_ps(_mm_add_ps(_mm_mul_ps(_mm_mul_ps(wa, p0), p0),
						      _mm_mul_ps(_mm_mul_ps(wb, p1), p1)),
					   _mm_mul_ps(_mm_mul_ps(wc, p2), p2));
			q2[1] = _mm_add_ps(_mm_add_ps(_mm_mul_ps(_mm_mul_ps(wa, m0), m0),
						      _mm_mul_ps(_mm_mul_ps(wb, m1), m1)),
					   _mm_mul_ps(_mm_mul_ps(wc, m2), m2));
			const __m128 score = _mm_set1_ps(b->score);
			const __m128 valid = _mm_cmplt_ps(lane, _mm_set1_ps((float)(33 - i2)));
			__m128 any = _mm_setzero_ps();
			for (int sh = 0; sh < 2; sh++)
				any = _mm_or_ps(any, _mm_and_ps(
					_mm_cmpgt_ps(q2[sh], _mm_setzero_ps()),
					_mm_cmpgt_ps(_mm_mul_ps(qx[sh], qx[sh]),
						     _mm_mul_ps(score, q2[sh]))));
			if (!_mm_movemask_ps(_mm_and_ps(any, valid)))
				continue;
			float fx[2][4], f2[2][4];
			for (int sh = 0; sh < 2; sh++) {
				_mm_storeu_ps(fx[sh], qx[sh]);
				_mm_storeu_ps(f2[sh], q2[sh]);
			}
			for (int l = 0; l < 4 && i2 + l <= 32; l++)
				for (int sh = 0; sh < 2; sh++)
					split_try(b, fx[sh][l], f2[sh][l], i1, i2 + l, sh);
		}
	}
#else
	for (int i1 = 0; i1 <= 32; i1++)
		for (int i2 = i1; i2 <= 32; i2++)
			for (int sh = 0; sh < 2; sh++) {
				float sumqx, sumq2;
				candidate(sumx, sumw, i1, i2, sh, &sumqx, &sumq2);
				split_try(b, sumqx, sumq2, i1, i2, sh);
			}
#endif
}

/* ---- the pruned search ----------------------------------------------------- */

/* Chunk (i1, t) holds i2 = lo .. min(lo + 7, 32), lo = i1 + 8t, for
 * t = 0 .. (32 - i1) / 8; tables of chunks are [t][i1], 40 wide (-infinity
 * where i1 + 8t > 32), so eight rows sit side by side. */
typedef struct prep {
	float S[40], W[40];	/* prefix sums, NaN past 32 */
	float wc[48], xc[48];	/* W[min(i, 32)], xs[min(i, 31)] */
	/* per chunk start lo (0 .. 39): the triangle's upper side, its
	 * middle and half width (plus e1), and W[hi] */
	float mid[40], half[40], whi[40];
	float e1, e2;
	/* the level 1 tail's terms of each i2 (the AVX2 chunk kernel's) */
	float tx[2][40], tq[2][40];
	/* and the level -1 head's of each i1 */
	float hx[2][40], hq[2][40];
} prep;

typedef struct prune_state {
	float V[5][40];		/* a chunk's bound, or once done its largest g */
	float G[5][40][16];	/* a done chunk's g, [sh * 8 + l] for i2 = lo + l */
	uint64_t done[5];	/* bit i1 of done[t]: chunk (i1, t) evaluated */
	float m;		/* the largest g so far, first reached at j */
	int j1, jt, jl, jsh;
} prune_state;

static const float bound_a[2] = {0.75f, 1.25f}, bound_b[2] = {1.265625f, 0.765625f};
static const float bound_c[2] = {1.25f, 0.75f};
#define BOUND_GROW (1 + 0x1p-16f)
#define THR(m) ((m) * (1 - 0x1p-10f))

/* The ranges the bound is proven for (the comment at the top); false when
 * the group is outside them. */
static bool in_range(const float *xs, const float *ws, prep *P)
{
	float mx = 0;
	bool wneg = false;
	for (int i = 0; i <= 32; i++)
		mx = fmaxf(mx, fabsf(P->S[i]));
	for (int i = 0; i < 32; i++)
		wneg |= !(ws[i] >= 0);
	const float mw = P->W[32], X = fmaxf(fabsf(xs[0]), fabsf(xs[31]));
	/* a NaN or infinite sum, weight or value makes S[32] or W[32] NaN or
	 * infinite (the prefix sums carry it: w >= 0, and 0 * inf is NaN),
	 * so the finite S[32] and W[32] make every S, W and x finite */
	if (wneg || !(fabsf(P->S[32]) <= 0x1p40f) || !(mx >= 0x1p-48f && mx <= 0x1p40f) ||
	    !(X <= 0x1p40f) || !(mw >= 0x1p-100f && mw <= 0x1p40f))
		return false;
	P->e1 = 0x1p-14f * (mx + X * mw);
	P->e2 = 0x1p-14f * mw;
	for (int i = 0; i < 48; i++) {
		P->wc[i] = P->W[i < 32 ? i : 32];
		P->xc[i] = xs[i < 31 ? i : 31];
	}
	return true;
}

/* The triangles: chunk start lo's upper vertices S[lo] + xa d and
 * S[lo] + xb d (xa = xs[lo], xb = xs[hi - 1], d = W[hi] - W[lo]; for
 * lo = 32, d = 0). */
static void triangles(prep *P)
{
	for (int lo = 0; lo < 40; lo++) {
		const float d = P->wc[lo + 7] - P->W[lo];
		const float v2 = P->S[lo] + P->xc[lo] * d, v3 = P->S[lo] + P->xc[lo + 6] * d;
		P->mid[lo] = (v2 + v3) * 0.5f;
		P->half[lo] = (v3 - v2) * 0.5f + P->e1;
		P->whi[lo] = P->wc[lo + 7];
	}
}

/* The bound of g and E over chunk (i1, lo), shifts x_p and x_m. */
static float bound_one(const prep *P, int i1, int lo)
{
	float r = 0;
	for (int sh = 0; sh < 2; sh++) {
		const float k = (sh ? iq1_xm : iq1_xp)[2] * P->S[32] - P->S[i1];
		const float e = bound_a[sh] * P->W[i1] + bound_b[sh] * P->W[32] - P->e2;
		const float n1 = fabsf(k - P->S[lo]) + P->e1;
		const float d1 = e - bound_c[sh] * P->W[lo];
		const float n2 = fabsf(k - P->mid[lo]) + P->half[lo];
		const float d2 = e - bound_c[sh] * P->whi[lo];
		const float r1 = d1 > 0 ? n1 * n1 / d1 : INFINITY;
		const float r2 = d2 > 0 ? n2 * n2 / d2 : INFINITY;
		r = fmaxf(r, fmaxf(r1, r2));
	}
	return r * BOUND_GROW;
}

static void bounds(const prep *P, float V[5][40])
{
	for (int t = 0; t < 5; t++)
		for (int i1 = 0; i1 < 40; i1++)
			V[t][i1] = i1 + 8 * t <= 32 ? bound_one(P, i1, i1 + 8 * t) : -INFINITY;
}

/* g of chunk (i1, lo)'s candidates into g (-infinity where sumq2 > 0
 * fails or i2 > 32); returns their maximum. */
static float chunk_scores(const prep *P, int i1, int lo, float *g)
{
	float mx = -INFINITY;
	for (int sh = 0; sh < 2; sh++)
		for (int l = 0; l < 8; l++) {
			float v = -INFINITY, qx, q2;
			if (lo + l <= 32) {
				candidate(P->S, P->W, i1, lo + l, sh, &qx, &q2);
				if (q2 > 0)
					v = qx / q2 * qx;
			}
			g[sh * 8 + l] = v;
			mx = fmaxf(mx, v);
		}
	return mx;
}

/* Bit l of the result: g[sh * 8 + l] >= v (sh = 0 in the low byte,
 * sh = 1 in the next); with eq, == v. */
static unsigned chunk_mask(const float *g, float v, bool eq)
{
	unsigned m = 0;
	for (int k = 0; k < 16; k++)
		m |= (unsigned)(eq ? g[k] == v : g[k] >= v) << k;
	return m;
}

/* Bit i of the result: row[i] >= v (40 entries). */
static uint64_t row_mask(const float *row, float v)
{
	uint64_t m = 0;
	for (int i = 0; i < 40; i++)
		m |= (uint64_t)(row[i] >= v) << i;
	return m;
}

/* The largest of row[0 .. n - 1] and floor. */
static float row_max(const float *row, int n, float floor)
{
	for (int i = 0; i < n; i++)
		floor = fmaxf(floor, row[i]);
	return floor;
}

#if QP_HAVE_AVX2
static inline QP_AVX2 bool in_range_avx2(const float *xs, const float *ws, prep *P)
{
	const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
	__m256 mx = _mm256_andnot_ps(sign, _mm256_set1_ps(P->S[32]));
	int wok = 0xff;
	for (int k = 0; k < 4; k++) {
		mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(P->S + 8 * k)));
		wok &= _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(ws + 8 * k), zero, _CMP_GE_OQ));
	}
	/* max_ps may drop a NaN; the finite S[32] below rules NaNs out
	 * (as in_range says) */
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, 0x4e));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, 0xb1));
	const float m = _mm_cvtss_f32(h);
	const float mw = P->W[32], X = fmaxf(fabsf(xs[0]), fabsf(xs[31]));
	if (wok != 0xff || !(fabsf(P->S[32]) <= 0x1p40f) || !(m >= 0x1p-48f && m <= 0x1p40f) ||
	    !(X <= 0x1p40f) || !(mw >= 0x1p-100f && mw <= 0x1p40f))
		return false;
	P->e1 = 0x1p-14f * (m + X * mw);
	P->e2 = 0x1p-14f * mw;
	const __m256 w32 = _mm256_set1_ps(P->W[32]), x31 = _mm256_set1_ps(xs[31]);
	for (int k = 0; k < 4; k++) {
		_mm256_storeu_ps(P->wc + 8 * k, _mm256_loadu_ps(P->W + 8 * k));
		_mm256_storeu_ps(P->xc + 8 * k, _mm256_loadu_ps(xs + 8 * k));
	}
	for (int k = 4; k < 6; k++) {
		_mm256_storeu_ps(P->wc + 8 * k, w32);
		_mm256_storeu_ps(P->xc + 8 * k, x31);
	}
	return true;
}

static inline QP_AVX2 void triangles_avx2(prep *P)
{
	const __m256 half = _mm256_set1_ps(0.5f), e1 = _mm256_set1_ps(P->e1);
	for (int lo = 0; lo < 40; lo += 8) {
		const __m256 sl = _mm256_loadu_ps(P->S + lo), whi = _mm256_loadu_ps(P->wc + lo + 7);
		const __m256 d = _mm256_sub_ps(whi, _mm256_loadu_ps(P->W + lo));
		const __m256 v2 = _mm256_add_ps(sl, _mm256_mul_ps(_mm256_loadu_ps(P->xc + lo), d));
		const __m256 v3 = _mm256_add_ps(sl, _mm256_mul_ps(_mm256_loadu_ps(P->xc + lo + 6), d));
		_mm256_storeu_ps(P->mid + lo, _mm256_mul_ps(_mm256_add_ps(v2, v3), half));
		_mm256_storeu_ps(P->half + lo, _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v3, v2), half), e1));
		_mm256_storeu_ps(P->whi + lo, whi);
	}
}

/* The bounds, eight rows side by side; also the heads and tails
 * chunk_scores_avx2 reads.  (d2 <= d1, W[hi] >= W[lo]: one test of d2 > 0 covers both.) */
static inline QP_AVX2 void bounds_avx2(prep *P, float V[5][40])
{
	const __m256 p2 = _mm256_set1_ps(iq1_xp[2]), m2 = _mm256_set1_ps(iq1_xm[2]);
	const __m256 x32 = _mm256_set1_ps(P->S[32]), w32 = _mm256_set1_ps(P->W[32]);
	const __m256 c0 = _mm256_set1_ps(bound_c[0]), c1 = _mm256_set1_ps(bound_c[1]);
	const __m256 p0 = _mm256_set1_ps(iq1_xp[0]), m0 = _mm256_set1_ps(iq1_xm[0]);
	float cwl[2][40], cwh[2][40];
	for (int i2 = 0; i2 < 40; i2 += 8) {
		const __m256 w = _mm256_loadu_ps(P->W + i2), wh = _mm256_loadu_ps(P->whi + i2);
		const __m256 xc = _mm256_sub_ps(x32, _mm256_loadu_ps(P->S + i2));
		const __m256 wc = _mm256_sub_ps(w32, w);
		_mm256_storeu_ps(P->tx[0] + i2, _mm256_mul_ps(xc, p2));
		_mm256_storeu_ps(P->tx[1] + i2, _mm256_mul_ps(xc, m2));
		_mm256_storeu_ps(P->tq[0] + i2, _mm256_mul_ps(_mm256_mul_ps(wc, p2), p2));
		_mm256_storeu_ps(P->tq[1] + i2, _mm256_mul_ps(_mm256_mul_ps(wc, m2), m2));
		_mm256_storeu_ps(cwl[0] + i2, _mm256_mul_ps(c0, w));
		_mm256_storeu_ps(cwl[1] + i2, _mm256_mul_ps(c1, w));
		_mm256_storeu_ps(cwh[0] + i2, _mm256_mul_ps(c0, wh));
		_mm256_storeu_ps(cwh[1] + i2, _mm256_mul_ps(c1, wh));
		/* the heads: (S[i1] - S[0]) x[0] and (W[i1] - W[0]) x[0] x[0] */
		const __m256 xa = _mm256_sub_ps(_mm256_loadu_ps(P->S + i2), _mm256_set1_ps(P->S[0]));
		const __m256 wa = _mm256_sub_ps(w, _mm256_set1_ps(P->W[0]));
		_mm256_storeu_ps(P->hx[0] + i2, _mm256_mul_ps(xa, p0));
		_mm256_storeu_ps(P->hx[1] + i2, _mm256_mul_ps(xa, m0));
		_mm256_storeu_ps(P->hq[0] + i2, _mm256_mul_ps(_mm256_mul_ps(wa, p0), p0));
		_mm256_storeu_ps(P->hq[1] + i2, _mm256_mul_ps(_mm256_mul_ps(wa, m0), m0));
	}
	const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
	const __m256 inf = _mm256_set1_ps(INFINITY), ninf = _mm256_set1_ps(-INFINITY);
	const __m256 e1 = _mm256_set1_ps(P->e1), grow = _mm256_set1_ps(BOUND_GROW);
	const __m256 lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
	for (int r = 0; r < 5; r++) {
		const __m256 s1 = _mm256_loadu_ps(P->S + 8 * r), w1 = _mm256_loadu_ps(P->W + 8 * r);
		__m256 k[2], f[2];
		for (int sh = 0; sh < 2; sh++) {
			k[sh] = _mm256_sub_ps(_mm256_set1_ps((sh ? iq1_xm : iq1_xp)[2] * P->S[32]), s1);
			f[sh] = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(bound_a[sh]), w1),
							    _mm256_set1_ps(bound_b[sh] * P->W[32])),
					      _mm256_set1_ps(P->e2));
		}
		const __m256 row = _mm256_add_ps(lane, _mm256_set1_ps((float)(8 * r)));
		int t = 0;
		for (; r + t <= 4; t++) {
			const int lo = 8 * (r + t); /* lane l: row 8r + l, from lo + l */
			const __m256 sl = _mm256_loadu_ps(P->S + lo);
			const __m256 mid = _mm256_loadu_ps(P->mid + lo), hw = _mm256_loadu_ps(P->half + lo);
			__m256 rr = zero;
			for (int sh = 0; sh < 2; sh++) {
				const __m256 n1 = _mm256_add_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(k[sh], sl)), e1);
				const __m256 n2 = _mm256_add_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(k[sh], mid)), hw);
				const __m256 d1 = _mm256_sub_ps(f[sh], _mm256_loadu_ps(cwl[sh] + lo));
				const __m256 d2 = _mm256_sub_ps(f[sh], _mm256_loadu_ps(cwh[sh] + lo));
				const __m256 q = _mm256_max_ps(_mm256_div_ps(_mm256_mul_ps(n1, n1), d1),
							       _mm256_div_ps(_mm256_mul_ps(n2, n2), d2));
				rr = _mm256_max_ps(rr, _mm256_blendv_ps(inf, q,
					_mm256_cmp_ps(d2, zero, _CMP_GT_OQ)));
			}
			const __m256 valid = _mm256_cmp_ps(row, _mm256_set1_ps((float)(32 - 8 * t)),
							   _CMP_LE_OQ);
			_mm256_storeu_ps(V[t] + 8 * r, _mm256_blendv_ps(ninf, _mm256_mul_ps(rr, grow), valid));
		}
		for (; t < 5; t++)
			_mm256_storeu_ps(V[t] + 8 * r, ninf);
	}
}

static inline QP_AVX2 float chunk_scores_avx2(const prep *P, int i1, int lo, float *g)
{
	const float *sumx = P->S, *sumw = P->W;
	const __m256 p1 = _mm256_set1_ps(iq1_xp[1]), m1 = _mm256_set1_ps(iq1_xm[1]);
	const __m256 x1 = _mm256_broadcast_ss(sumx + i1), w1 = _mm256_broadcast_ss(sumw + i1);
	const __m256 xb = _mm256_sub_ps(_mm256_loadu_ps(sumx + lo), x1);
	const __m256 wb = _mm256_sub_ps(_mm256_loadu_ps(sumw + lo), w1);
	__m256 qx[2], q2[2];
	qx[0] = _mm256_add_ps(_mm256_add_ps(_mm256_broadcast_ss(P->hx[0] + i1), _mm256_mul_ps(xb, p1)),
			      _mm256_loadu_ps(P->tx[0] + lo));
	qx[1] = _mm256_add_ps(_mm256_add_ps(_mm256_broadcast_ss(P->hx[1] + i1), _mm256_mul_ps(xb, m1)),
			      _mm256_loadu_ps(P->tx[1] + lo));
	q2[0] = _mm256_add_ps(_mm256_add_ps(_mm256_broadcast_ss(P->hq[0] + i1),
					    _mm256_mul_ps(_mm256_mul_ps(wb, p1), p1)),
			      _mm256_loadu_ps(P->tq[0] + lo));
	q2[1] = _mm256_add_ps(_mm256_add_ps(_mm256_broadcast_ss(P->hq[1] + i1),
					    _mm256_mul_ps(_mm256_mul_ps(wb, m1), m1)),
			      _mm256_loadu_ps(P->tq[1] + lo));
	const __m256 ninf = _mm256_set1_ps(-INFINITY), zero = _mm256_setzero_ps();
	__m256 v[2];
	for (int sh = 0; sh < 2; sh++) {
		/* NaN lanes (i2 > 32) fail q2 > 0 */
		v[sh] = _mm256_blendv_ps(ninf,
			_mm256_mul_ps(_mm256_div_ps(qx[sh], q2[sh]), qx[sh]),
			_mm256_cmp_ps(q2[sh], zero, _CMP_GT_OQ));
		_mm256_storeu_ps(g + 8 * sh, v[sh]);
	}
	const __m256 mx = _mm256_max_ps(v[0], v[1]);
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, 0x4e));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, 0xb1));
	return _mm_cvtss_f32(h);
}

static inline QP_AVX2 unsigned chunk_mask_avx2(const float *g, float v, bool eq)
{
	const __m256 b = _mm256_set1_ps(v);
	const int op = eq ? _CMP_EQ_OQ : _CMP_GE_OQ;
	__m256 lo = _mm256_loadu_ps(g), hi = _mm256_loadu_ps(g + 8);
	unsigned a, c;
	if (op == _CMP_EQ_OQ) {
		a = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(lo, b, _CMP_EQ_OQ));
		c = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(hi, b, _CMP_EQ_OQ));
	} else {
		a = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(lo, b, _CMP_GE_OQ));
		c = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(hi, b, _CMP_GE_OQ));
	}
	return a | c << 8;
}

static inline QP_AVX2 uint64_t row_mask_avx2(const float *row, float v)
{
	const __m256 b = _mm256_set1_ps(v);
	uint64_t m = 0;
	for (int k = 0; k < 5; k++)
		m |= (uint64_t)(unsigned)_mm256_movemask_ps(
			_mm256_cmp_ps(_mm256_loadu_ps(row + 8 * k), b, _CMP_GE_OQ)) << 8 * k;
	return m;
}

static inline QP_AVX2 float row_max_avx2(const float *row, int n, float floor)
{
	const __m256 lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
	const __m256 ninf = _mm256_set1_ps(-INFINITY);
	__m256 mx = _mm256_set1_ps(floor);
	for (int k = 0; 8 * k < n; k++) {
		const __m256 in = _mm256_cmp_ps(_mm256_add_ps(lane, _mm256_set1_ps((float)(8 * k))),
						_mm256_set1_ps((float)n), _CMP_LT_OQ);
		mx = _mm256_max_ps(mx, _mm256_blendv_ps(ninf, _mm256_loadu_ps(row + 8 * k), in));
	}
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, 0x4e));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, 0xb1));
	return _mm_cvtss_f32(h);
}
#define PICK(avx2, f, ...) ((avx2) ? f##_avx2(__VA_ARGS__) : f(__VA_ARGS__))
#else
#define PICK(avx2, f, ...) ((void)(avx2), f(__VA_ARGS__))
#endif

/* Whether candidate (i1, i2, sh) comes before (j1, j2, jsh) in ggml's order. */
static inline bool before(int i1, int i2, int sh, int j1, int j2, int jsh)
{
	return i1 != j1 ? i1 < j1 : i2 != j2 ? i2 < j2 : sh < jsh;
}

/* The first candidate in ggml's order (l, then sh) of a 16-bit chunk mask. */
static inline void first_of(unsigned mask, int *l, int *sh)
{
	const unsigned any = (mask | mask >> 8) & 0xff;
	*l = __builtin_ctz(any);
	*sh = (mask >> *l) & 1 ? 0 : 1;
}

/* Chunk (i1, t)'s largest g mx is the largest so far: keeps its first
 * candidate of that g when it is the first in ggml's order. */
static inline void keep_first(prune_state *Z, int i1, int t, float mx, unsigned eq)
{
	int l, sh;
	first_of(eq, &l, &sh);
	if (mx > Z->m || before(i1, i1 + 8 * t + l, sh, Z->j1, Z->j1 + 8 * Z->jt + Z->jl, Z->jsh)) {
		Z->m = mx;
		Z->j1 = i1, Z->jt = t, Z->jl = l, Z->jsh = sh;
	}
}

/* Evaluates chunk (i1, t); keeps the first candidate of largest g. */
static void evaluate(const prep *P, prune_state *Z, int i1, int t)
{
	float *g = Z->G[t][i1];
	const float mx = chunk_scores(P, i1, i1 + 8 * t, g);
	Z->V[t][i1] = mx;
	Z->done[t] |= (uint64_t)1 << i1;
	if (mx >= Z->m && mx != -INFINITY)
		keep_first(Z, i1, t, mx, chunk_mask(g, mx, true));
}

#if QP_HAVE_AVX2
static inline QP_AVX2 void evaluate_avx2(const prep *P, prune_state *Z, int i1, int t)
{
	float *g = Z->G[t][i1];
	const float mx = chunk_scores_avx2(P, i1, i1 + 8 * t, g);
	Z->V[t][i1] = mx;
	Z->done[t] |= (uint64_t)1 << i1;
	if (mx >= Z->m && mx != -INFINITY)
		keep_first(Z, i1, t, mx, chunk_mask_avx2(g, mx, true));
}

/* The first chunk of largest bound (any, when all are NaN). */
static inline QP_AVX2 void seed_avx2(float V[5][40], int *st, int *si)
{
	__m256 mx = _mm256_loadu_ps(V[0]);
	for (int t = 0; t < 5; t++)
		for (int k = 0; k < 40; k += 8)
			mx = _mm256_max_ps(mx, _mm256_loadu_ps(V[t] + k));
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, 0x4e));
	h = _mm_max_ps(h, _mm_shuffle_ps(h, h, 0xb1));
	const __m256 b = _mm256_set1_ps(_mm_cvtss_f32(h));
	*st = *si = 0;
	for (int t = 0; t < 5; t++)
		for (int k = 0; k < 40; k += 8) {
			const int eq = _mm256_movemask_ps(_mm256_cmp_ps(
				_mm256_loadu_ps(V[t] + k), b, _CMP_EQ_OQ));
			if (eq) {
				*st = t;
				*si = k + __builtin_ctz((unsigned)eq);
				return;
			}
		}
}
#endif

static void seed(float V[5][40], int *st, int *si)
{
	*st = *si = 0;
	for (int t = 0; t < 5; t++)
		for (int i = 0; i + 8 * t <= 32; i++)
			if (V[t][i] > V[*st][*si])
				*st = t, *si = i;
}

/* The pruned search (the comment at the top); false when it cannot prove
 * its result, and then *b is untouched.  Compiled twice (avx2 a constant),
 * so the AVX2 instance inlines its kernels. */
static inline __attribute__((always_inline)) bool
pruned_body(const float *xs, const float *ws, prep *P, const bool avx2,
	    qp_iq1_split *b)
{
	if (!PICK(avx2, in_range, xs, ws, P))
		return false;
	prune_state Z;
	PICK(avx2, triangles, P);
	PICK(avx2, bounds, P, Z.V);
	/* the chunk of largest bound first, then the others whose bound is
	 * not below m_thr, the longest splits' chunks (largest t) first:
	 * the best candidate is most often among them, so m is high early
	 * and fewer chunks pass (the order changes nothing else: every
	 * chunk whose bound reaches the final m_thr is evaluated) */
	int st, si;
	PICK(avx2, seed, Z.V, &st, &si);
	Z.m = -INFINITY;
	Z.j1 = -1, Z.jt = Z.jl = Z.jsh = 0;
	for (int t = 0; t < 5; t++)
		Z.done[t] = 0;
	PICK(avx2, evaluate, P, &Z, si, st);
	for (int t = 4; t >= 0; t--) {
		uint64_t todo = PICK(avx2, row_mask, Z.V[t], THR(Z.m)) & ~Z.done[t];
		for (; todo; todo &= todo - 1) {
			const int i1 = __builtin_ctzll(todo);
			if (Z.V[t][i1] >= THR(Z.m))
				PICK(avx2, evaluate, P, &Z, i1, t);
		}
	}
	const float m = Z.m, m_thr = THR(m);
	if (!(m > 0 && m < INFINITY))
		return false;
	const int j1 = Z.j1, jt = Z.jt, j2 = j1 + 8 * jt + Z.jl, jsh = Z.jsh;
	/* P: the largest score the run can hold before j */
	float pj = -FLT_MAX;
	for (int t = 0; t < 5; t++)
		pj = PICK(avx2, row_max, Z.V[t], t < jt ? j1 + 1 : j1, pj);
	for (int k = 0; k < 2 * Z.jl + jsh; k++) {
		const float v = Z.G[jt][j1][(k % 2) * 8 + k / 2];
		pj = v > pj ? v : pj;
	}
	float qx, q2;
	candidate(P->S, P->W, j1, j2, jsh, &qx, &q2);
	if (!(q2 > 0 && qx * qx > pj * q2))
		return false;
	qp_iq1_split r = { 0, 0, j1, j2, jsh ? -1 : 1 };
	r.scale = qx / q2;
	r.score = r.scale * qx;
	/* the replay after j: the evaluated chunks from j's on holding a g
	 * of at least m_thr, in ggml's order */
	uint64_t rows = 0, near[5];
	for (int t = 0; t < 5; t++) {
		near[t] = Z.done[t] & PICK(avx2, row_mask, Z.V[t], m_thr) & (~(uint64_t)0 << j1);
		if (t < jt)
			near[t] &= ~((uint64_t)1 << j1);
		rows |= near[t];
	}
	for (; rows; rows &= rows - 1) {
		const int i1 = __builtin_ctzll(rows);
		for (int t = 0; t < 5; t++) {
			if (!(near[t] >> i1 & 1))
				continue;
			unsigned mask = PICK(avx2, chunk_mask, Z.G[t][i1], m_thr, false);
			for (; mask; ) {
				int l, sh;
				first_of(mask, &l, &sh);
				mask &= ~(1u << (sh * 8 + l));
				const int i2 = i1 + 8 * t + l;
				if (!before(j1, j2, jsh, i1, i2, sh))
					continue;
				candidate(P->S, P->W, i1, i2, sh, &qx, &q2);
				split_try(&r, qx, q2, i1, i2, sh);
			}
		}
	}
	*b = r;
	return true;
}

static bool pruned(const float *xs, const float *ws, prep *P, qp_iq1_split *b)
{
	return pruned_body(xs, ws, P, false, b);
}

#if QP_HAVE_AVX2
static QP_AVX2 bool pruned_avx2(const float *xs, const float *ws, prep *P,
				qp_iq1_split *b)
{
	return pruned_body(xs, ws, P, true, b);
}
#endif

void qp_iq1_split_search(const float *xs, const float *ws, float scale,
			 bool prune, bool avx2, qp_iq1_split *best)
{
	prep P;
	P.S[0] = P.W[0] = 0;
	for (int j = 0; j < 32; j++) {
		P.S[j + 1] = P.S[j] + ws[j] * xs[j];
		P.W[j + 1] = P.W[j] + ws[j];
	}
	for (int i = 33; i < 40; i++) /* the lanes past the 33 sums: see */
		P.S[i] = P.W[i] = NAN; /* full_avx2 */
	qp_iq1_split b = { -FLT_MAX, scale, -1, -1, 0 };
	if (prune && PICK(avx2, pruned, xs, ws, &P, &b)) {
		*best = b;
		return;
	}
#if QP_HAVE_AVX2
	if (avx2)
		full_avx2(P.S, P.W, &b);
	else
#endif
	full(P.S, P.W, &b);
	*best = b;
}
