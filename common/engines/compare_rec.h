/* compare_rec.h — checkpoints' records gathered into one comparison.
 *
 * Promise: qp_compare_add() takes one record of a stream holding several
 * checkpoints and adds what a comparison needs to a qp_compare (plot.h):
 * a model record gives its row (by id) the file size and parameter count;
 * a tensor record with a numeric sens.score may enter its model's most
 * sensitive tensors (highest score first, ties by name); a recipe record
 * with a pred for the comparison's target gives its model's cell in the
 * column of its budget ("4.5 bpw", "3 GiB", from budget.bpw or
 * budget.bytes; without a budget, its source).  The first recipe for a
 * model and column is kept.  Rows follow the order in which their model is
 * first named; any order of records works.  Other records are ignored.
 * Strings are copied: records need not outlive the call.
 */
#ifndef QP_COMPARE_REC_H
#define QP_COMPARE_REC_H

#include "err.h"
#include "plot.h"
#include "rec.h"

/* target: "kld_mean" or "ln_ppl_ratio" to keep only that prediction; NULL
 * or "" keeps the first recipe's pred.target. */
void qp_compare_init(qp_compare *c, const char *target);
int qp_compare_add(qp_compare *c, const qp_record *rec, qp_err *e);
/* Cells in the whole comparison (recipes kept). */
int qp_compare_n_cells(const qp_compare *c);
void qp_compare_free(qp_compare *c);

#endif
