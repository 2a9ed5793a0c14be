/* iq1_split.h — IQ1_S's split search: ggml's choice of how a group of 32
 * sorted values splits into the levels -1, 0, 1 (the first i1 values, the
 * next i2 - i1, the rest) and of the shift (+delta or -delta), by the
 * weighted score of quantize_row_iq1_s_impl's loops over i1 <= i2.
 *
 * Promise: qp_iq1_split_search ends with, bit for bit, the score, scale,
 * i1, i2 and shift ggml's loop ends with (its last strict improvement, in
 * its order, with its float operations), for any input floats: NaN,
 * infinities, denormals, ties and negative weights included.  With prune
 * it skips the candidates it proves cannot change that result (bounds
 * that cover the float rounding; the proof is in iq1_split.c) and falls
 * back to the full loop where it cannot prove it; without prune it runs
 * the full loop.  avx2 (pass qp_cpu_avx2()) picks the AVX2 kernels where
 * the build has them.  The four ways give the same result: prune and
 * avx2 only change speed.  No allocation, no global state.
 */
#ifndef QP_IQ1_SPLIT_H
#define QP_IQ1_SPLIT_H

#include <stdbool.h>

/* The search's result: shift is 1 (+delta), -1 (-delta), or 0 when no
 * candidate was ever taken (then i1 = i2 = -1, scale as passed in). */
typedef struct qp_iq1_split {
	float score, scale;
	int i1, i2, shift;
} qp_iq1_split;

/* xs: the group's 32 values in ggml's sorted order, ws: their weights in
 * that order; scale: ggml's starting scale (the group's largest
 * magnitude).  Writes the result to *best. */
void qp_iq1_split_search(const float *xs, const float *ws, float scale,
			 bool prune, bool avx2, qp_iq1_split *best);

#endif
