/* propose.h — which configurations to measure next.
 *
 * Promise: qp_propose picks up to n_want configurations whose real
 * measurement would most reduce the fit's uncertainty, from a fixed,
 * deterministic candidate list built from the model's measured types:
 * every measured type uniformly, and, with the best measured type H
 * everywhere else (least mean rel^2) and the worst L (largest), one
 * role family at L (attention, ffn, ...; token_embd and output count as
 * their own families), or one block of layers at L.  Each candidate's
 * row is the design of the proxy's form and metric (the per-coefficient
 * error sums proxy_fit.h regresses on); candidates are chosen greedily
 * for D-optimality: each step takes the candidate that most increases
 * sum log(s_i^2 + 1e-6) over the singular values s of the design so far
 * (the runs already measured, then the ones chosen), columns scaled to
 * unit maximum, ties to the earlier candidate.  A candidate equal to a
 * run already measured is never proposed.  Every proposal carries the
 * llama-quantize arguments that make it: "--pure", then
 * --token-embedding-type / --output-tensor-type / --tensor-type
 * ROLE=type or 'blk\.N\.=type' overrides, with FTYPE the base type.
 */
#ifndef QP_PROPOSE_H
#define QP_PROPOSE_H

#include "err.h"
#include "proxy.h"
#include "proxy_batch.h"

typedef struct qp_proposal {
	char label[128];        /* "ffn at Q2_K, the rest at Q8_0" */
	char ftype[16];         /* llama-quantize's base type name */
	qp_proxy_config cfg;    /* types per tensor (as llama-quantize writes them) */
	int n_args;
	char args[32][128];      /* llama-quantize options, in order */
} qp_proposal;

/* measured: the configurations already measured (may be 0). */
int qp_propose(const qp_proxy_model *m, const qp_proxy *p,
	       const qp_proxy_config *measured, int n_measured, int n_want,
	       qp_proposal **out, int *n_out, qp_err *e);
void qp_proposals_free(qp_proposal *v, int n);

#endif
