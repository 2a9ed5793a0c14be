/* budget_rec.h — one model's records as an optimisation problem, and its
 * solutions as recipe records.
 *
 * Promise: qp_budget_load() reads the tensor records of one model (name,
 * shape, type, qerr) into optimize.h's form and the output header's
 * layout from the model's GGUF header (model.path; llq_size.h), so sizes
 * are those of the file llama-quantize would write.  It also says whether
 * qerr measured with an importance matrix (any entry with imatrix: true),
 * which decides whether IQ1/IQ2/IQ3_XXS may be chosen.  qp_budget_recipe()
 * turns a solution into a qp_recipe (recipe.h): every tensor's type,
 * n_bytes, bpw, budget, optimal {loss, bound, gap}; the caller adds pred.
 * Records are borrowed: they must outlive the qp_budget_model.
 */
#ifndef QP_BUDGET_REC_H
#define QP_BUDGET_REC_H

#include <msgpack.h>
#include <stdbool.h>

#include "err.h"
#include "llq_size.h"
#include "optimize.h"
#include "proxy.h"
#include "rec.h"
#include "recipe.h"

typedef struct qp_budget_model {
	char *id;               /* model id */
	qp_opt_tensor *t;       /* [n] in stream order */
	char **names;           /* [n] owned copies */
	const msgpack_object **qerr; /* [n] each record's qerr map or NULL */
	qp_opt_measured **measured;  /* [n] owned */
	int n;
	qp_llq_layout layout;
	bool imatrix_used;
	int n_layer;
	uint64_t n_elem_qerr;   /* elements of the tensors with qerr */
} qp_budget_model;

/* im: the imatrix llama-quantize will be given (its header keys), or
 * NULL.  Fails naming the record for a missing/ill-typed field, and for a
 * model whose GGUF header cannot be read (stdin, archive members, split
 * models are not supported: say so). */
int qp_budget_load(const qp_record *model, const qp_record *const *tensors,
		   int n, const qp_llq_imatrix_kv *im, qp_budget_model *m,
		   qp_err *e);
void qp_budget_free(qp_budget_model *m);

/* The qerr entry of tensor k that measured `type`: the entry named so, or
 * else the first entry whose `as` is `type` (a named mix lists the type
 * written, a fallback's target); NULL when there is none.  *key gets the
 * entry's name (a type name). */
const msgpack_object *qp_budget_qerr_entry(const qp_budget_model *m, int k,
					   uint32_t type, const char **key);

/* Loss terms from a proxy (proxy.h): term(tensor, type) of the qerr entry
 * that measured the type (qp_budget_qerr_entry), 0 for a type that leaves
 * the tensor unquantized. */
typedef struct qp_budget_terms {
	const qp_budget_model *m;
	const qp_proxy *proxy;
	qp_proxy_tensor *pt; /* [m->n] */
} qp_budget_terms;

int qp_budget_terms_init(qp_budget_terms *bt, const qp_budget_model *m,
			 const qp_proxy *proxy,
			 const qp_record *const *tensors, qp_err *e);
void qp_budget_terms_free(qp_budget_terms *bt);
/* A qp_opt_term_fn; ctx is a qp_budget_terms. */
int qp_budget_term(void *ctx, int k, uint32_t type, double *term, qp_err *e);

/* The recipe's pred for a sum of terms: {target, value, lo, hi, level,
 * calibrated, baselines {}} as proxy-fit writes it (calibrated false
 * labels the uncalibrated prior). */
int qp_budget_set_pred(qp_recipe *r, const qp_proxy *proxy, double sum,
		       qp_err *e);

/* source: "recipe-emit"; budget_bpw/budget_bytes < 0: absent;
 * with_optimal: add optimal {loss, bound, gap}. */
int qp_budget_recipe(const qp_budget_model *m, const qp_opt_solution *s,
		     const char *source, double budget_bpw,
		     double budget_bytes, bool with_optimal, qp_recipe *r,
		     qp_err *e);

/* The most frequent quantized type of a solution as llama-quantize's base
 * ftype name ("Q4_K" -> "Q4_K_M"... no: the type name itself, which
 * llama-quantize accepts for the K types and every plain type); rules
 * then cover every tensor, so the base only labels the file. */
const char *qp_budget_ftype(const qp_budget_model *m, const uint32_t *types);

/* ---- one model, end to end (what recipe-emit runs) ------------------ */

typedef struct qp_budget_run {
	qp_budget_model m;
	qp_proxy *proxy;
	bool fitted;           /* from a fit record (else the prior) */
	qp_budget_terms bt;
	qp_opt_problem *p;
	qp_opt_config cfg;
} qp_budget_run;

/* fit: the model's `fit` record (proxy-fit's), or NULL for the built-in
 * uncalibrated prior (target kld_mean).  cfg NULL: sizes only (no proxy,
 * no problem; only qp_budget_run_annotate's file_bytes works).  cfg's imatrix_types is set from
 * the measurements (qerr entries with imatrix: true). */
int qp_budget_run_init(qp_budget_run *r, const qp_record *model,
		       const qp_record *const *tensors, int n,
		       const qp_record *fit, const qp_opt_config *cfg,
		       const qp_llq_imatrix_kv *im, qp_err *e);
void qp_budget_run_free(qp_budget_run *r);

/* The best recipe for a budget (bytes of the file, or llama-quantize's
 * bpw): types, n_bytes, bpw, file_bytes, budget, optimal, pred. */
int qp_budget_run_solve(const qp_budget_run *r, qp_opt_budget_kind kind,
			double budget, qp_recipe *out, qp_err *e);

/* Every frontier breakpoint as a recipe (budget absent, optimal with gap
 * 0), in increasing size; fn owns nothing (the recipe is freed after). */
typedef int (*qp_budget_recipe_fn)(void *ctx, const qp_recipe *r, qp_err *e);
int qp_budget_run_frontier(const qp_budget_run *r, qp_budget_recipe_fn fn,
			   void *ctx, qp_err *e);

/* Adds file_bytes and, when every type has a term, pred to a recipe of
 * this model made elsewhere (a named mix, a file); *has_pred says
 * whether it could. */
int qp_budget_run_annotate(const qp_budget_run *r, qp_recipe *rc,
			   bool *has_pred, qp_err *e);

/* The file size of a recipe of this model (llq_size.h). */
int qp_budget_file_bytes(const qp_budget_model *m, const qp_recipe *rc,
			 uint64_t *bytes, qp_err *e);

#endif
