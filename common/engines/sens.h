/* sens.h — per-tensor sensitivity: measured parts and model-wide scores.
 *
 * Promise: qp_sens_measure() computes everything one tensor contributes on
 * its own (weight statistics through wstats, the sampled kurtosis NV, the
 * top singular values and SE through svd, the activation energy from an
 * importance-matrix entry); qp_sens_normalise() then turns the parts of all
 * tensors of one model into scores.  Every part is kept so a reader can see
 * why a tensor scored as it did.  Results do not depend on the thread count.
 *
 * Definitions (a "matrix" is a tensor with ne0 >= 2 and at least 2 rows;
 * rows of all experts of a 3-D expert tensor are stacked into one matrix):
 *  - nv_kurtosis: population excess kurtosis of a sample of the weights:
 *    all of them when there are at most nv_sample_max, else whole rows
 *    evenly spaced (row floor(i * n_rows / k), k = nv_sample_max / ne0 rows,
 *    at least one row).
 *  - se_raw = Σσ_i · exp(H), H = -Σ p_i ln p_i, p_i = σ_i / Σσ, over the
 *    top svd_rank singular values (0 for a zero matrix).
 *  - act_energy = Σ_rows Σ_j w_ij² · a_j with a_j = in_sum2_j / count, the
 *    mean squared input of column j (per expert): the output energy of the
 *    tensor under the diagonal approximation E[x xᵀ] ≈ diag(a).
 *  - MAD-sigmoid of x over a model: z = (x - median) / (1.4826 · MAD),
 *    s = 1 / (1 + e^-z); MAD 0 falls back to 1.2533 · mean absolute
 *    deviation, and when that is 0 too every s is 0.5.
 *  - nv = MADσ(nv_kurtosis), se = MADσ(se_raw) (0 without SVD),
 *    nsds = 1 - (1 - nv)(1 - se); act = MADσ(ln act_energy).
 *  - w_role by role family (qp_sens_role_weight), w_depth = 1 + 0.5·(2t-1)²
 *    with t = layer / (n_layer - 1) (global tensors: 1.5, the ends),
 *    w_size = ln(1 + n_elem / mean n_elem of the model's matrices).
 *  - score = w_role · w_depth · w_size · base, base = nsds, or with an
 *    activation part 1 - (1 - nsds)(1 - act).  It is a prior: proxy-fit
 *    calibrates it against measured runs.
 * Tensors that are not matrices get statistics but no scores (NaN).
 */
#ifndef QP_SENS_H
#define QP_SENS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "imatrix.h"
#include "names.h"
#include "tensor_src.h"
#include "wstats.h"

#define QP_SENS_NV_SAMPLE_MAX 1000000

typedef struct qp_sens_opts {
	int n_threads;
	bool svd;            /* compute the singular values and SE */
	int svd_rank;        /* default 64 */
	int svd_power_iters; /* default 2 */
	int64_t nv_sample_max;
} qp_sens_opts;

void qp_sens_opts_default(qp_sens_opts *o);

typedef struct qp_sens_tensor {
	/* from the record */
	int layer;
	qp_family family;
	int64_t n_elem;
	bool is_matrix;
	/* measured on the tensor alone */
	qp_wstats ws;
	double nv_kurtosis;
	int64_t nv_n;        /* values in the NV sample */
	double *sv;          /* [n_sv], malloc'd; NULL without SVD */
	int n_sv;
	double se_raw;       /* NaN without SVD */
	bool has_act;        /* an imatrix entry was used */
	double act_energy;
	/* model-wide (qp_sens_normalise) */
	double nv, se, nsds, act, w_role, w_depth, w_size, score;
} qp_sens_tensor;

/* imat may be NULL (no activation part).  Its shape must match t (the
 * caller checks names; this checks sizes). */
int qp_sens_measure(const qp_tensor_ref *t, const qp_imatrix_entry *imat,
		    const qp_sens_opts *o, qp_sens_tensor *out, qp_err *e);
void qp_sens_tensor_free(qp_sens_tensor *s);

/* n_layer <= 0: taken as 1 + the largest layer seen. */
int qp_sens_normalise(qp_sens_tensor *t, size_t n, int n_layer, qp_err *e);

/* ---- the pieces, exposed for tests -------------------------------------- */

double qp_sens_role_weight(qp_family f);
double qp_sens_depth_weight(int layer, int n_layer);
double qp_sens_spectral_energy(const double *sv, int n);
/* Population excess kurtosis, two passes in double; NaN for n < 2 or 0
 * variance. */
double qp_sens_excess_kurtosis(const double *x, size_t n);
/* out[i] = MAD-sigmoid of x[i] over the finite x; NaN stays NaN. */
int qp_sens_mad_sigmoid(const double *x, size_t n, double *out, qp_err *e);

#endif
