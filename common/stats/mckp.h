/* mckp.h — the multiple-choice knapsack behind recipe-emit.
 *
 * Promise: given items (a tensor, or a tie group of tensors that must share
 * one type), each with candidate options (bytes, loss, type id), and a byte
 * budget, qp_mckp_solve() picks one option per item minimising the total
 * loss with total bytes <= budget, and proves how close it is: `bound` is
 * the LP optimum (the Lagrangian relaxation over each item's lower convex
 * hull), so loss - bound is a true upper limit on what any choice could
 * still gain.  The LP solution is rounded, improved by single moves, then
 * searched exactly (reduced-cost fixing at the LP multiplier leaves a small
 * core; a depth-first branch and bound over the core) within a node
 * limit: when the search completes, `exact` is set and bound = loss.
 * Everything is deterministic: options are ordered by (bytes, loss, type
 * id), ties between equally good moves are broken by item order, then type
 * id, and no step depends on timing or threads.
 *
 * qp_mckp_frontier() gives every vertex of the LP's size/loss frontier (the
 * breakpoints of the convex hull of the whole problem, collinear points
 * included) as a sequence of one-item moves from the smallest choice; each
 * breakpoint is an integer choice that is exactly optimal for its own size.
 *
 * The tensor layer (qp_alloc_*) turns tensors with candidate types into
 * items: a tie group becomes one item whose options are the types every
 * member has, bytes and losses summed.
 */
#ifndef QP_MCKP_H
#define QP_MCKP_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

typedef struct qp_mckp_option {
	uint64_t bytes;
	double loss;   /* finite, >= 0 is not required */
	uint32_t type; /* tie-breaker and the caller's label */
} qp_mckp_option;

typedef struct qp_mckp_item {
	const qp_mckp_option *opt;
	int n_opt; /* >= 1 */
} qp_mckp_item;

typedef struct qp_mckp_result {
	uint64_t bytes;     /* total bytes of the choice */
	double loss;        /* total loss of the choice */
	double bound;       /* lower bound on the loss of any feasible choice */
	double gap;         /* (loss - bound) / |loss|, 0 when loss is 0 */
	bool exact;         /* proven optimal (bound == loss) */
	uint64_t min_bytes; /* smallest possible total (set also when infeasible) */
	uint64_t nodes;     /* branch-and-bound nodes visited */
	int core;           /* items left free after reduced-cost fixing */
} qp_mckp_result;

typedef struct qp_mckp_opts {
	uint64_t node_limit; /* 0: the default (4,000,000) */
} qp_mckp_opts;

#define QP_MCKP_INFEASIBLE 1

/* choice[i] receives the index into items[i].opt.  Returns 0 on success,
 * QP_MCKP_INFEASIBLE when even the smallest choice exceeds the budget (then
 * res->min_bytes says how small it can get; e is filled too), -1 on bad
 * input or allocation failure.  opts may be NULL. */
int qp_mckp_solve(const qp_mckp_item *items, int n, uint64_t budget,
		  const qp_mckp_opts *opts, int *choice, qp_mckp_result *res,
		  qp_err *e);

/* One move along the frontier: item takes option opt; after it the totals
 * are bytes and loss. */
typedef struct qp_mckp_step {
	int item, opt;
	uint64_t bytes;
	double loss;
} qp_mckp_step;

typedef struct qp_mckp_frontier {
	int *start;          /* [n] the smallest choice (min bytes, then loss) */
	uint64_t start_bytes;
	double start_loss;
	qp_mckp_step *steps; /* in order of decreasing efficiency */
	int64_t n_steps;
} qp_mckp_frontier;

int qp_mckp_frontier_build(const qp_mckp_item *items, int n,
			   qp_mckp_frontier *f, qp_err *e);
void qp_mckp_frontier_free(qp_mckp_frontier *f);

/* ---- tensors and tie groups ----------------------------------------- */

typedef struct qp_alloc_tensor {
	const qp_mckp_option *cand; /* candidate types, any order, no repeats */
	int n_cand;
	int group; /* tie group id >= 0, or -1 */
} qp_alloc_tensor;

typedef struct qp_alloc {
	int n_items;
	qp_mckp_item *items;
	int *item_of;      /* [n_tensors] item index of each tensor */
	int n_tensors;
	/* private: option storage and each item's members */
	qp_mckp_option *opt_store;
	int *members, *member_start;
} qp_alloc;

/* Builds items: tensors with group -1 are items of their own; members of
 * a group become one item (in order of the group's first tensor) whose
 * options are the types all members have.  Fails when a tensor has no
 * candidate or a group has no type in common (naming the tensor index,
 * which the caller turns into a name). */
int qp_alloc_build(const qp_alloc_tensor *t, int n, qp_alloc *a,
		   int *bad_tensor, qp_err *e);
/* The type chosen for tensor k from an item choice. */
uint32_t qp_alloc_type(const qp_alloc *a, const int *choice, int k);
void qp_alloc_free(qp_alloc *a);

#endif
