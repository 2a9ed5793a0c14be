/* proxy.h — a fitted quality-loss proxy: per-tensor terms, one sum, one
 * monotone prediction with an interval.
 *
 * Promise: a proxy predicts the target of a configuration (a type for
 * every tensor) — mean KLD or ln(PPL(Q)/PPL(base)) as llama-perplexity
 * reports them — in two steps that every form keeps:
 *
 *   1. term(tensor, type) >= 0, computed only from that tensor's record
 *      (its qerr.<type> entry, role, family, layer, element count) and
 *      model facts (n_layer, the quantizable element total);
 *   2. predict(sum of the terms) -> {value, lo, hi, level}, value a
 *      non-decreasing function of the sum, lo <= value <= hi.
 *
 * So minimising the sum of terms (a knapsack over tensors) minimises the
 * predicted loss, whatever form proxy-fit chose.  A tensor the
 * configuration leaves unquantized (its type equal to the model's own
 * type, or a float type at least as wide: F32, F16, BF16 on an F16 base...)
 * has term 0; any other type without a measured qerr entry is an error
 * naming the tensor and the type, never a silent zero.
 *
 * A proxy comes from a `fit` record (qp_proxy_from_fit; what proxy-fit
 * writes, see quantpipe(5)) or from the built-in uncalibrated prior
 * (qp_proxy_prior: coefficients fitted on the real runs of the shared
 * fixtures, applied to this model's measured errors, with the wider
 * intervals that cross-model transfer showed).  A qp_proxy is immutable
 * after construction: any number of threads may call term and predict.
 */
#ifndef QP_PROXY_H
#define QP_PROXY_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "names.h"
#include "rec.h"

typedef struct qp_proxy qp_proxy;

/* What a term needs to know about one tensor.  The msgpack pointers are
 * borrowed: they must stay valid while the struct is used (keep the
 * record, qp_record_keep). */
typedef struct qp_proxy_tensor {
	char name[128];
	char role[96];             /* names.h: "attn_q", "token_embd", ... */
	qp_family family;
	int layer;                 /* -1 for global tensors */
	int n_layer;               /* the model's hyper.n_layer (>= 1) */
	char base_type[16];        /* the tensor's type in the base model */
	uint64_t n_elem;
	uint64_t n_elem_total;     /* sum of n_elem over the model's tensors
				    * with a qerr map (the share's base) */
	const msgpack_object *qerr; /* the record's qerr map, or NULL */
	const msgpack_object *sens; /* the record's sens map, or NULL */
} qp_proxy_tensor;

/* Fills t from a tensor record; n_layer and n_elem_total are the model's.
 * A record without qerr gets t->qerr NULL (its terms are then 0 for
 * unquantized types and an error for any other). */
int qp_proxy_tensor_from_record(const qp_record *rec, int n_layer,
				uint64_t n_elem_total, qp_proxy_tensor *t,
				qp_err *e);

/* True when type leaves a tensor of base_type unquantized (term 0). */
bool qp_proxy_type_is_unquantized(const char *base_type, const char *type);

/* One prediction. */
typedef struct qp_pred {
	double value;     /* predicted target */
	double lo, hi;    /* interval at level; lo >= 0 */
	double level;     /* e.g. 0.95 */
	bool calibrated;  /* false for the prior */
} qp_pred;

/* From a `fit` record's map (proxy-fit's output). */
int qp_proxy_from_fit(const msgpack_object *fit, qp_proxy **p, qp_err *e);
/* The built-in uncalibrated prior for target "kld_mean" or
 * "ln_ppl_ratio" (NULL: kld_mean). */
int qp_proxy_prior(const char *target, qp_proxy **p, qp_err *e);
void qp_proxy_free(qp_proxy *p);

/* "kld_mean" or "ln_ppl_ratio". */
const char *qp_proxy_target(const qp_proxy *p);
bool qp_proxy_calibrated(const qp_proxy *p);

/* term(tensor, type) >= 0; -1 with a message naming tensor and type when
 * the stream has no usable qerr entry for it. */
int qp_proxy_term(const qp_proxy *p, const qp_proxy_tensor *t,
		  const char *type, double *term, qp_err *e);

/* value = f(sum), f non-decreasing; the interval at the proxy's level
 * (level <= 0 keeps the fitted one; another level rescales it from the
 * held-out residuals the fit kept). */
void qp_proxy_predict(const qp_proxy *p, double sum, qp_pred *out);
void qp_proxy_predict_at(const qp_proxy *p, double sum, double level,
			 qp_pred *out);

/* ---- the pieces proxy_fit.h builds a proxy from ------------------------ */

/* Which measured error a term uses.  WMSE falls back to mse for an entry
 * measured without an imatrix; REL2 is rel^2 (scale-free, what the prior
 * uses so it transfers between models). */
typedef enum qp_proxy_metric {
	QP_METRIC_WMSE, QP_METRIC_MSE, QP_METRIC_REL2, QP_METRIC_COUNT
} qp_proxy_metric;

/* How tensors share coefficients: one for all, one per family, per family
 * with a linear depth profile (values at the first and the last layer),
 * per role, per role with depth. */
typedef enum qp_proxy_form {
	QP_FORM_TOTAL, QP_FORM_FAMILY, QP_FORM_FAMILY_DEPTH, QP_FORM_ROLE,
	QP_FORM_ROLE_DEPTH, QP_FORM_COUNT
} qp_proxy_form;

const char *qp_proxy_metric_name(qp_proxy_metric m);
const char *qp_proxy_form_name(qp_proxy_form f);

/* The error atom of a term: metric(qerr.<type>) * n_elem / n_elem_total
 * (0 for an unquantized type); -1 naming tensor and type when there is no
 * usable entry. */
int qp_proxy_atom(const qp_proxy_tensor *t, const char *type,
		  qp_proxy_metric m, double *atom, qp_err *e);

/* The coefficient names a tensor's term uses under a form and their
 * weights (the depth profile): up to 2; returns how many.  Names are
 * "all", a family or role name, or NAME@0 / NAME@1. */
int qp_proxy_groups(qp_proxy_form f, const qp_proxy_tensor *t,
		    char names[2][112], double weights[2]);

/* A proxy from its parts (proxy_fit.c, the prior): the coefficients by
 * name, the default for a name the fit never saw, the link exponent
 * (value = sum^power), and the sorted absolute held-out log residuals the
 * interval comes from (eps: the floor added before taking logs; widen
 * multiplies the half-width, 1 for a calibrated fit). */
typedef struct qp_proxy_spec {
	const char *target;
	bool calibrated;
	qp_proxy_form form;
	qp_proxy_metric metric;
	double power;
	int n_coef;
	const char *const *coef_names;
	const double *coef;
	double coef_default;
	double level, eps, widen;
	double loo_coverage;      /* NaN when not known (the prior) */
	int n_resid;
	const double *abs_resid;
} qp_proxy_spec;

int qp_proxy_new(const qp_proxy_spec *s, qp_proxy **p, qp_err *e);
/* Packs the proxy's own part of a fit record, QP_PROXY_PACKED_FIELDS
 * key/value pairs: target, calibrated, form, metric, link {name, power},
 * coef {NAME: value}, coef_default, interval {method, level, q, eps, widen,
 * saturated, loo_coverage, resid}; the caller adds the others. */
#define QP_PROXY_PACKED_FIELDS 8
void qp_proxy_pack_fields(const qp_proxy *p, msgpack_packer *pk);

#endif
