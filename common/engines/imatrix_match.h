/* imatrix_match.h — which importance-matrix entry goes with a tensor.
 *
 * Promise: qp_imatrix_for_tensor() finds the entry of a weight tensor by
 * name and checks it against the tensor's shape the way llama.cpp's
 * imatrix stores it: one block of ne0 columns per matrix of the weight,
 * ne2·ne3 matrices (llama-imatrix collects a MUL_MAT weight as
 * ne2·ne3 matrices, mat_id = i3·ne2 + i2, and a MUL_MAT_ID expert weight
 * as its ne2 experts, whose ne3 is 1; llama-quantize checks ne0·ne2 values
 * on the 3-D expert tensors it meets).  Row r of the tensor (rows of all
 * matrices stacked) takes block r / ne1.  A legacy .dat entry cannot say
 * how many experts it holds: one that is a whole multiple of the rows of a
 * tensor of three or more dimensions is split into experts first
 * (qp_imatrix_set_cols), and *resplit says so, because the entry's
 * statistics must then be computed again.  A mismatch fails with a message
 * naming the entry and both shapes (an imatrix of another model?); the
 * caller names the imatrix file.
 */
#ifndef QP_IMATRIX_MATCH_H
#define QP_IMATRIX_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "imatrix.h"
#include "model_batch.h"
#include "tensor_src.h"

/* *ent = NULL (and 0) when im has no entry for t->name; resplit may be
 * NULL. */
int qp_imatrix_for_tensor(qp_imatrix *im, const qp_tensor_ref *t,
			  const qp_imatrix_entry **ent, bool *resplit,
			  qp_err *e);

/* Matrices (experts) of t as the imatrix counts them: ne2·ne3. */
int64_t qp_imatrix_tensor_matrices(const qp_tensor_ref *t);

/* The index of im's entry for name, or -1. */
int64_t qp_imatrix_index(const qp_imatrix *im, const char *name);

/* Every entry must name a tensor of the model: used[i] (n_entries flags)
 * says which did.  An entry that names none is an imatrix of another
 * model: fails naming it (and "and others") and the model id. */
int qp_imatrix_check_used(const qp_imatrix *im, const bool *used,
			  const char *model_id, qp_err *e);

/* The same for the tensor records of a model batch (their "name"s). */
int qp_imatrix_check_batch(const qp_imatrix *im, const qp_model_batch *b,
			   qp_err *e);

#endif
