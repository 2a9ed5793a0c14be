/* optimize.h — the best type per tensor for a size budget.
 *
 * Promise: from one model's tensor records (their shape, type and qerr
 * map), a per-tensor loss term for each candidate type (a callback: the
 * proxy's term, or anything else that is additive over tensors), and the
 * constraints — candidate types, pins, min/max types, ties, imatrix-only
 * types — qp_opt_solve() chooses one type per tensor that minimises the
 * sum of terms subject to the exact size of the file llama-quantize would
 * write (llq_size.h) or to its printed bpw, and proves how close it is
 * (mckp.h: {loss, bound, gap}).
 *
 * Types are the ones llama-quantize would really write: a candidate T of
 * a tensor becomes qerr.<T>.as (its shape fallback; quant.h's fallback
 * rule when qerr has no entry for T), and candidates
 * falling back to the same type are one option; a candidate whose `as`
 * is nil (llama-quantize would abort) is not an option.  Tensors
 * llama-quantize never quantizes (llq_policy.h) keep their type and count
 * as fixed bytes.  Regular expressions are POSIX extended and must match
 * the whole tensor name, as in the recipe text format.  Deterministic:
 * everything follows the tensor order and type ids.
 */
#ifndef QP_OPTIMIZE_H
#define QP_OPTIMIZE_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "gguf.h"
#include "llq_size.h"
#include "mckp.h"

/* One entry of a tensor's qerr map: the requested type and the type
 * llama-quantize really writes for it (writable false: it would abort). */
typedef struct qp_opt_measured {
	uint32_t type;
	uint32_t as;
	bool writable;
} qp_opt_measured;

typedef struct qp_opt_tensor {
	const char *name;
	uint32_t type;            /* the source's type */
	int64_t ne[4];
	int n_dims;
	uint64_t n_elem;
	bool has_qerr;            /* the record has a qerr map */
	const qp_opt_measured *measured; /* its entries, in the map's order */
	int n_measured;
} qp_opt_tensor;

/* term of tensor k for requested type `type` (its qerr entry); -1 with e
 * set when there is none. */
typedef int (*qp_opt_term_fn)(void *ctx, int k, uint32_t type,
			      double *term, qp_err *e);

typedef struct qp_opt_rule {
	char *pattern;  /* as given */
	regex_t re;     /* anchored */
	uint32_t type;
	bool compiled;
} qp_opt_rule;

typedef struct qp_opt_config {
	const uint32_t *types; int n_types; /* candidates; n_types 0: what qerr measured */
	const qp_opt_rule *pins; int n_pins;
	const qp_opt_rule *min_types; int n_min;
	const qp_opt_rule *max_types; int n_max;
	const qp_opt_rule *ties; int n_ties;    /* type unused */
	bool imatrix_types;  /* allow IQ1/IQ2/IQ3_XXS (qerr used an imatrix) */
	uint64_t node_limit; /* 0: mckp's default */
} qp_opt_config;

/* Compiles "REGEX=TYPE" (or, with want_type false, "REGEX") into r: -1
 * for a malformed argument (empty, an unknown type), QP_ERR_INPUT when
 * REGEX does not compile. */
int qp_opt_rule_parse(const char *arg, bool want_type, qp_opt_rule *r,
		      qp_err *e);
void qp_opt_rule_free(qp_opt_rule *r);

/* Parses "20GiB", "4.5G", "123456", "1.5MB" into bytes (K/M/G/T are
 * powers of 1000 with B or alone, KiB/MiB/GiB/TiB powers of 1024). */
int qp_opt_parse_size(const char *s, uint64_t *bytes, qp_err *e);

typedef struct qp_opt_problem qp_opt_problem;

/* Builds the problem.  layout: the output header (llq_size.h).  Fails
 * with a message naming the tensor for: a quantizable tensor without
 * qerr, a candidate without a term, a pin or tie that leaves no type, a
 * rule whose type llama-quantize cannot write for that tensor. */
int qp_opt_build(const qp_opt_tensor *t, int n, const qp_llq_layout *layout,
		 const qp_opt_config *cfg, qp_opt_term_fn term, void *ctx,
		 qp_opt_problem **out, qp_err *e);
void qp_opt_free(qp_opt_problem *p);

typedef enum qp_opt_budget_kind { QP_OPT_BYTES, QP_OPT_BPW } qp_opt_budget_kind;

typedef struct qp_opt_solution {
	uint32_t *types;      /* [n] the type written for every tensor */
	uint64_t n_bytes;     /* the file's size */
	uint64_t tensor_bytes;/* unpadded sum, what bpw is computed from */
	double bpw;           /* as llama-quantize prints it */
	double loss;          /* sum of terms */
	double bound, gap;
	bool exact;
	uint64_t nodes;
} qp_opt_solution;

/* Smallest possible file size and bpw under the constraints. */
void qp_opt_min_size(const qp_opt_problem *p, uint64_t *bytes, double *bpw);
/* Solves for a budget: file bytes (QP_OPT_BYTES) or llama-quantize's bpw.
 * A budget below the smallest possible size fails naming that size. */
int qp_opt_solve(const qp_opt_problem *p, qp_opt_budget_kind kind,
		 double budget, qp_opt_solution *s, qp_err *e);
void qp_opt_solution_free(qp_opt_solution *s);

/* The frontier by file size: fn gets every breakpoint in increasing
 * size (each exactly optimal for its size), types valid for the call. */
typedef int (*qp_opt_point_fn)(void *ctx, const qp_opt_solution *s,
			       qp_err *e);
int qp_opt_frontier(const qp_opt_problem *p, qp_opt_point_fn fn, void *ctx,
		    qp_err *e);

/* Loss (sum of terms) and size of a given assignment (e.g. a named mix);
 * a type without a term for its tensor is an error naming both. */
int qp_opt_evaluate(const qp_opt_problem *p, const uint32_t *types,
		    qp_opt_solution *s, qp_err *e);

#endif
