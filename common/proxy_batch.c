/* proxy_batch.c — see proxy_batch.h. */
#include "proxy_batch.h"

#include <stdlib.h>
#include <string.h>

/* C11's qsort has no context argument and common/ keeps no mutable
 * globals: a merge sort with the model passed along. */
static int cmp_names(const qp_proxy_model *m, int a, int b)
{
	return strcmp(m->plain[a].name, m->plain[b].name);
}

static void merge_sort(const qp_proxy_model *m, int *v, int *tmp, int n)
{
	if (n < 2)
		return;
	int h = n / 2;
	merge_sort(m, v, tmp, h);
	merge_sort(m, v + h, tmp, n - h);
	int i = 0, j = h, k = 0;
	while (i < h && j < n)
		tmp[k++] = cmp_names(m, v[i], v[j]) <= 0 ? v[i++] : v[j++];
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, (size_t)n * sizeof *v);
}

int qp_proxy_model_find(const qp_proxy_model *m, const char *name)
{
	int lo = 0, hi = m->n_tensors - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(m->plain[m->by_name[mid]].name, name);
		if (c == 0)
			return m->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int n_layer_of(const qp_model_batch *b, const qp_proxy_model *m)
{
	if (b->model) {
		const msgpack_object *nl = qp_map_path(&b->model->map, "hyper.n_layer");
		if (nl && nl->type == MSGPACK_OBJECT_POSITIVE_INTEGER && nl->via.u64 > 0 &&
		    nl->via.u64 < 100000)
			return (int)nl->via.u64;
	}
	int top = -1;
	for (int i = 0; i < m->n_tensors; i++)
		if (m->plain[i].layer > top)
			top = m->plain[i].layer;
	return top + 1 > 0 ? top + 1 : 1;
}

int qp_proxy_model_init(qp_proxy_model *m, const qp_model_batch *b,
			const qp_record *const *imat_recs, size_t n_imat,
			qp_err *e)
{
	memset(m, 0, sizeof *m);
	memcpy(m->id, b->id, sizeof m->id);
	if (b->n_tensors > 10000000)
		return qp_fail(e, "%zu tensors is more than proxy-fit handles", b->n_tensors);
	int n = (int)b->n_tensors;
	m->n_tensors = n;
	m->plain = calloc((size_t)(n ? n : 1), sizeof *m->plain);
	m->by_name = malloc((size_t)(n ? n : 1) * sizeof *m->by_name);
	m->item_of = malloc((size_t)(n ? n : 1) * sizeof *m->item_of);
	int *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
	if (!m->plain || !m->by_name || !m->item_of || !tmp) {
		free(tmp);
		qp_proxy_model_free(m);
		return qp_fail(e, "out of memory");
	}
	uint64_t total = 0;
	int k = 0;
	for (size_t i = 0; i < b->n_items; i++) {
		if (!b->items[i].is_tensor)
			continue;
		const qp_record *rec = &b->items[i].k.rec;
		m->item_of[k] = i;
		if (qp_proxy_tensor_from_record(rec, 1, 0, &m->plain[k], e) < 0) {
			qp_fail_prefix(e, "record %llu (byte offset %llu)",
				       (unsigned long long)rec->index,
				       (unsigned long long)rec->offset);
			free(tmp);
			qp_proxy_model_free(m);
			return -1;
		}
		if (m->plain[k].qerr)
			total += m->plain[k].n_elem;
		k++;
	}
	m->n_layer = n_layer_of(b, m);
	for (int i = 0; i < n; i++) {
		m->plain[i].n_layer = m->n_layer;
		m->plain[i].n_elem_total = total;
		m->by_name[i] = i;
	}
	merge_sort(m, m->by_name, tmp, n);
	free(tmp);
	for (int i = 1; i < n; i++)
		if (!cmp_names(m, m->by_name[i - 1], m->by_name[i])) {
			qp_fail(e, "tensor %s appears twice in model %s",
				m->plain[m->by_name[i]].name, m->id);
			qp_proxy_model_free(m);
			return -1;
		}
	if (n_imat) {
		m->imat = malloc((size_t)(n ? n : 1) * sizeof *m->imat);
		if (!m->imat) {
			qp_proxy_model_free(m);
			return qp_fail(e, "out of memory");
		}
		memcpy(m->imat, m->plain, (size_t)n * sizeof *m->imat);
		for (size_t i = 0; i < n_imat; i++) {
			qp_proxy_tensor t;
			if (qp_proxy_tensor_from_record(imat_recs[i], m->n_layer, total, &t, e) < 0) {
				qp_proxy_model_free(m);
				return -1;
			}
			int at = qp_proxy_model_find(m, t.name);
			if (at < 0) {
				qp_fail(e, "imatrix qerr: tensor %s is not in model %s", t.name, m->id);
				qp_proxy_model_free(m);
				return -1;
			}
			m->imat[at].qerr = t.qerr;
		}
	}
	return 0;
}

void qp_proxy_model_free(qp_proxy_model *m)
{
	free(m->plain);
	free(m->imat);
	free(m->by_name);
	free(m->item_of);
	memset(m, 0, sizeof *m);
}

int qp_proxy_config_read(const qp_proxy_model *m, const msgpack_object *rec,
			 qp_proxy_config *c, qp_err *e)
{
	memset(c, 0, sizeof *c);
	c->n = m->n_tensors;
	c->buf = calloc((size_t)(c->n ? c->n : 1), sizeof *c->buf);
	c->types = calloc((size_t)(c->n ? c->n : 1), sizeof *c->types);
	if (!c->buf || !c->types) {
		qp_proxy_config_free(c);
		return qp_fail(e, "out of memory");
	}
	const msgpack_object *im = qp_map_get(rec, "imatrix");
	c->imatrix = im && im->type == MSGPACK_OBJECT_BOOLEAN && im->via.boolean;
	const msgpack_object *types = qp_map_get(rec, "types");
	if (!types || types->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (types->type != MSGPACK_OBJECT_MAP) {
		qp_proxy_config_free(c);
		return qp_fail(e, "types is a %s, not a map", qp_obj_type_name(types->type));
	}
	for (uint32_t i = 0; i < types->via.map.size; i++) {
		const msgpack_object_kv *kv = &types->via.map.ptr[i];
		char name[160];
		if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR ||
		    kv->key.via.str.size >= sizeof name || kv->val.via.str.size >= sizeof c->buf[0]) {
			qp_proxy_config_free(c);
			return qp_fail(e, "types entry %u is not tensor name: type name", i);
		}
		memcpy(name, kv->key.via.str.ptr, kv->key.via.str.size);
		name[kv->key.via.str.size] = 0;
		int at = qp_proxy_model_find(m, name);
		if (at < 0) {
			qp_proxy_config_free(c);
			return qp_fail(e, "types names tensor %s, which model %s does not have "
				       "(a run of another model?)", name, m->id);
		}
		if (c->types[at]) {
			qp_proxy_config_free(c);
			return qp_fail(e, "types names tensor %s twice", name);
		}
		memcpy(c->buf[at], kv->val.via.str.ptr, kv->val.via.str.size);
		c->buf[at][kv->val.via.str.size] = 0;
		c->types[at] = c->buf[at];
		c->n_named++;
	}
	return 0;
}

void qp_proxy_config_free(qp_proxy_config *c)
{
	free(c->buf);
	free(c->types);
	memset(c, 0, sizeof *c);
}

bool qp_proxy_config_same(const qp_proxy_config *a, const qp_proxy_config *b)
{
	if (a->n != b->n || a->imatrix != b->imatrix)
		return false;
	for (int i = 0; i < a->n; i++) {
		const char *x = a->types[i], *y = b->types[i];
		if (!x != !y || (x && strcmp(x, y)))
			return false;
	}
	return true;
}

const qp_proxy_tensor *qp_proxy_model_view(const qp_proxy_model *m,
					   const qp_proxy_config *c)
{
	return c->imatrix && m->imat ? m->imat : m->plain;
}
