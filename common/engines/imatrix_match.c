#include "imatrix_match.h"

#include <stdlib.h>

int64_t qp_imatrix_tensor_matrices(const qp_tensor_ref *t)
{
	return t->ne[2] * t->ne[3]; /* dims past n_dims are 1 */
}

int64_t qp_imatrix_index(const qp_imatrix *im, const char *name)
{
	const qp_imatrix_entry *ent = qp_imatrix_find(im, name);
	return ent ? (int64_t)(ent - im->entries) : -1;
}

int qp_imatrix_for_tensor(qp_imatrix *im, const qp_tensor_ref *t,
			  const qp_imatrix_entry **ent, bool *resplit,
			  qp_err *e)
{
	*ent = NULL;
	if (resplit)
		*resplit = false;
	int64_t idx = qp_imatrix_index(im, t->name);
	if (idx < 0)
		return 0;
	qp_imatrix_entry *en = &im->entries[idx];
	if (im->format == QP_IMATRIX_DAT && en->n_expert == 1 &&
	    en->n_cols != t->row_len && t->n_dims >= 3) {
		if (qp_imatrix_set_cols(im, idx, t->row_len, e) < 0)
			return -1;
		if (resplit)
			*resplit = true;
	}
	int64_t n_mat = qp_imatrix_tensor_matrices(t);
	if (en->n_cols != t->row_len || en->n_expert != n_mat)
		return qp_fail(e, "imatrix entry '%s' is %lld x %lld experts, but the "
			       "tensor has rows of %lld and %lld experts (an imatrix "
			       "of another model?)", t->name, (long long)en->n_cols,
			       (long long)en->n_expert, (long long)t->row_len,
			       (long long)n_mat);
	*ent = en;
	return 0;
}

int qp_imatrix_check_used(const qp_imatrix *im, const bool *used,
			  const char *model_id, qp_err *e)
{
	int64_t unused = -1, n_unused = 0;
	for (int64_t i = 0; i < im->n_entries; i++)
		if (!used[i] && n_unused++ == 0)
			unused = i;
	if (n_unused == 0)
		return 0;
	return qp_fail(e, "imatrix entry '%s'%s names no tensor of model '%s' "
		       "(an imatrix of another model?)", im->entries[unused].name,
		       n_unused > 1 ? " and others" : "", model_id);
}

int qp_imatrix_check_batch(const qp_imatrix *im, const qp_model_batch *b,
			   qp_err *e)
{
	bool *used = calloc((size_t)im->n_entries + 1, sizeof *used);
	if (!used)
		return qp_fail(e, "out of memory");
	int rc = 0;
	for (size_t i = 0; i < b->n_items && rc == 0; i++) {
		char name[256];
		if (!b->items[i].is_tensor)
			continue;
		rc = qp_rec_str(&b->items[i].k.rec, "name", name, sizeof name, e);
		int64_t idx = rc == 0 ? qp_imatrix_index(im, name) : -1;
		if (idx >= 0)
			used[idx] = true;
	}
	if (rc == 0)
		rc = qp_imatrix_check_used(im, used, b->id, e);
	free(used);
	return rc;
}
