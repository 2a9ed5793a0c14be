/* budget_rec.c — records in, recipes out. */
#include "budget_rec.h"

#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "mapfile.h"
#include "types.h"

static char *obj_strdup(const msgpack_object *o)
{
	char *s = malloc(o->via.str.size + 1);
	if (s) {
		memcpy(s, o->via.str.ptr, o->via.str.size);
		s[o->via.str.size] = 0;
	}
	return s;
}

static bool any_imatrix(const msgpack_object *qerr)
{
	for (uint32_t i = 0; i < qerr->via.map.size; i++) {
		const msgpack_object *v = &qerr->via.map.ptr[i].val;
		if (v->type != MSGPACK_OBJECT_MAP)
			continue;
		const msgpack_object *im = qp_map_get(v, "imatrix");
		if (im && im->type == MSGPACK_OBJECT_BOOLEAN && im->via.boolean)
			return true;
	}
	return false;
}

static int load_tensor(const qp_record *rec, qp_opt_tensor *t, char **name,
		       qp_err *e)
{
	const msgpack_object *nm = qp_rec_field(rec, "name", MSGPACK_OBJECT_STR, e);
	const msgpack_object *ty = nm ? qp_rec_field(rec, "type", MSGPACK_OBJECT_STR, e) : NULL;
	const msgpack_object *sh = ty ? qp_rec_field(rec, "shape", MSGPACK_OBJECT_ARRAY, e) : NULL;
	if (!sh)
		return -1;
	*name = obj_strdup(nm);
	if (!*name)
		return qp_fail(e, "out of memory");
	t->name = *name;
	char tb[32];
	size_t tl = ty->via.str.size < 31 ? ty->via.str.size : 31;
	memcpy(tb, ty->via.str.ptr, tl);
	tb[tl] = 0;
	const qp_type_info *ti = qp_type_info_by_name(tb);
	if (!ti)
		return qp_fail(e, "record %llu (byte offset %llu): field \"type\": unknown type \"%s\"",
			       (unsigned long long)rec->index, (unsigned long long)rec->offset, tb);
	t->type = ti->id;
	if (sh->via.array.size < 1 || sh->via.array.size > 4)
		return qp_fail(e, "record %llu (byte offset %llu): field \"shape\": want 1 to 4 dimensions",
			       (unsigned long long)rec->index, (unsigned long long)rec->offset);
	t->n_dims = (int)sh->via.array.size;
	t->n_elem = 1;
	for (int d = 0; d < 4; d++) {
		t->ne[d] = 1;
		if (d >= t->n_dims)
			continue;
		const msgpack_object *v = &sh->via.array.ptr[d];
		if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > (1ull << 40))
			return qp_fail(e, "record %llu (byte offset %llu): field \"shape\": bad dimension",
				       (unsigned long long)rec->index, (unsigned long long)rec->offset);
		t->ne[d] = (int64_t)v->via.u64;
		t->n_elem *= v->via.u64;
	}
	return 0;
}

static uint32_t type_of_str(const msgpack_object *o, bool *ok)
{
	*ok = false;
	if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= 32)
		return 0;
	char buf[32];
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = 0;
	const qp_type_info *ti = qp_type_info_by_name(buf);
	if (!ti || ti->removed)
		return 0;
	*ok = true;
	return ti->id;
}

/* The qerr map's entries as (requested, as) pairs; keys that are not type
 * names (rotated variants "Q4_K+had128") are left out. */
static int load_measured(const msgpack_object *q, qp_opt_tensor *t,
			 qp_opt_measured **out, qp_err *e)
{
	uint32_t n = q->via.map.size;
	qp_opt_measured *m = calloc(n ? n : 1, sizeof *m);
	if (!m)
		return qp_fail(e, "out of memory");
	int k = 0;
	for (uint32_t i = 0; i < n; i++) {
		bool ok;
		uint32_t ty = type_of_str(&q->via.map.ptr[i].key, &ok);
		const msgpack_object *v = &q->via.map.ptr[i].val;
		if (!ok || v->type != MSGPACK_OBJECT_MAP)
			continue;
		m[k].type = ty;
		m[k].as = type_of_str(qp_map_get(v, "as"), &m[k].writable);
		k++;
	}
	t->measured = m;
	t->n_measured = k;
	t->has_qerr = true;
	*out = m;
	return 0;
}

static int load_layout(const qp_record *model, const qp_llq_imatrix_kv *im,
		       qp_llq_layout *lay, qp_err *e)
{
	const msgpack_object *p = qp_rec_field(model, "path", MSGPACK_OBJECT_STR, e);
	if (!p)
		return -1;
	const msgpack_object *ns = qp_map_get(&model->map, "n_shards");
	if (ns && ns->type == MSGPACK_OBJECT_POSITIVE_INTEGER && ns->via.u64 > 1)
		return qp_fail(e, "split models: exact sizes need one GGUF file (merge the shards first)");
	char *path = obj_strdup(p);
	if (!path)
		return qp_fail(e, "out of memory");
	if (strcmp(path, "-") == 0 || strchr(path, '#')) {
		qp_fail(e, "model path '%s': exact sizes need the model's GGUF header, which a stream or archive member does not keep",
			path);
		free(path);
		return -1;
	}
	qp_map m;
	if (qp_map_open(path, &m, e) != 0) {
		free(path);
		return -1;
	}
	qp_gguf g;
	int rc = qp_gguf_parse(m.data, m.size, m.size, &g, e);
	if (rc != 0) {
		if (rc > 0)
			qp_fail(e, "%s: truncated GGUF header", path);
		else
			qp_fail_prefix(e, "%s", path);
		qp_map_close(&m);
		free(path);
		return -1;
	}
	rc = qp_llq_layout_of(&g, im, lay, e);
	qp_gguf_free(&g);
	qp_map_close(&m);
	free(path);
	return rc;
}

int qp_budget_load(const qp_record *model, const qp_record *const *tensors,
		   int n, const qp_llq_imatrix_kv *im, qp_budget_model *m,
		   qp_err *e)
{
	memset(m, 0, sizeof *m);
	const msgpack_object *id = qp_rec_field(model, "id", MSGPACK_OBJECT_STR, e);
	if (!id)
		return -1;
	m->id = obj_strdup(id);
	m->t = calloc((size_t)(n > 0 ? n : 1), sizeof *m->t);
	m->names = calloc((size_t)(n > 0 ? n : 1), sizeof *m->names);
	m->qerr = calloc((size_t)(n > 0 ? n : 1), sizeof *m->qerr);
	m->measured = calloc((size_t)(n > 0 ? n : 1), sizeof *m->measured);
	if (!m->id || !m->t || !m->names || !m->qerr || !m->measured) {
		qp_budget_free(m);
		return qp_fail(e, "out of memory");
	}
	m->n = n;
	const msgpack_object *nl = qp_map_path(&model->map, "hyper.n_layer");
	m->n_layer = nl && nl->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int)nl->via.u64 : 1;
	for (int k = 0; k < n; k++) {
		if (load_tensor(tensors[k], &m->t[k], &m->names[k], e) != 0) {
			qp_budget_free(m);
			return -1;
		}
		const msgpack_object *q = qp_map_get(&tensors[k]->map, "qerr");
		if (q && q->type == MSGPACK_OBJECT_MAP) {
			m->qerr[k] = q;
			if (load_measured(q, &m->t[k], &m->measured[k], e) != 0) {
				qp_budget_free(m);
				return -1;
			}
			m->imatrix_used |= any_imatrix(q);
			m->n_elem_qerr += m->t[k].n_elem;
		}
	}
	if (load_layout(model, im, &m->layout, e) != 0) {
		qp_budget_free(m);
		return -1;
	}
	return 0;
}

void qp_budget_free(qp_budget_model *m)
{
	for (int k = 0; k < m->n; k++) {
		if (m->names)
			free(m->names[k]);
		if (m->measured)
			free(m->measured[k]);
	}
	free(m->names);
	free(m->measured);
	free(m->qerr);
	free(m->t);
	free(m->id);
	memset(m, 0, sizeof *m);
}

const msgpack_object *qp_budget_qerr_entry(const qp_budget_model *m, int k,
					   uint32_t type, const char **key)
{
	const msgpack_object *q = m->qerr[k];
	if (!q)
		return NULL;
	const char *name = qp_type_info_by_id(type) ? qp_type_info_by_id(type)->name : NULL;
	if (!name)
		return NULL;
	const msgpack_object *v = qp_map_get(q, name);
	if (v && v->type == MSGPACK_OBJECT_MAP) {
		*key = name;
		return v;
	}
	const qp_opt_tensor *t = &m->t[k];
	for (int i = 0; i < t->n_measured; i++)
		if (t->measured[i].writable && t->measured[i].as == type) {
			*key = qp_type_info_by_id(t->measured[i].type)->name;
			return qp_map_get(q, *key);
		}
	return NULL;
}

const char *qp_budget_ftype(const qp_budget_model *m, const uint32_t *types)
{
	static const uint32_t accepted[] = {
		QP_Q4_0, QP_Q4_1, QP_Q5_0, QP_Q5_1, QP_Q8_0, QP_Q2_K, QP_Q3_K,
		QP_Q4_K, QP_Q5_K, QP_Q6_K, QP_IQ2_XXS, QP_IQ2_XS, QP_IQ2_S,
		QP_IQ3_XXS, QP_IQ3_S, QP_IQ1_S, QP_IQ1_M, QP_IQ4_NL, QP_IQ4_XS,
		QP_TQ1_0, QP_TQ2_0, QP_Q1_0, QP_Q2_0,
	};
	int best = -1;
	uint64_t best_n = 0;
	for (size_t a = 0; a < sizeof accepted / sizeof *accepted; a++) {
		uint64_t c = 0;
		for (int k = 0; k < m->n; k++)
			if (types[k] == accepted[a] && types[k] != m->t[k].type)
				c += m->t[k].n_elem;
		if (c > best_n) {
			best_n = c;
			best = (int)a;
		}
	}
	for (int k = 0; best < 0 && k < m->n; k++)
		if (types[k] == QP_MXFP4)
			return "MXFP4_MOE";
	/* no quantized tensor: a quantized base keeps the per-tensor rules
	 * in force (llama-quantize ignores them for F16/BF16/F32) */
	return best < 0 ? "Q8_0" : qp_type_info_by_id(accepted[best])->name;
}

int qp_budget_terms_init(qp_budget_terms *bt, const qp_budget_model *m,
			 const qp_proxy *proxy,
			 const qp_record *const *tensors, qp_err *e)
{
	bt->m = m;
	bt->proxy = proxy;
	bt->pt = calloc((size_t)(m->n > 0 ? m->n : 1), sizeof *bt->pt);
	if (!bt->pt)
		return qp_fail(e, "out of memory");
	for (int k = 0; k < m->n; k++)
		if (qp_proxy_tensor_from_record(tensors[k], m->n_layer, m->n_elem_qerr,
						&bt->pt[k], e) != 0) {
			qp_budget_terms_free(bt);
			return -1;
		}
	return 0;
}

void qp_budget_terms_free(qp_budget_terms *bt)
{
	free(bt->pt);
	bt->pt = NULL;
}

int qp_budget_term(void *ctx, int k, uint32_t type, double *term, qp_err *e)
{
	const qp_budget_terms *bt = ctx;
	const char *key = NULL;
	const qp_type_info *ti = qp_type_info_by_id(type);
	if (!ti)
		return qp_fail(e, "tensor %s: unknown type id %u", bt->m->t[k].name, (unsigned)type);
	if (!qp_budget_qerr_entry(bt->m, k, type, &key))
		key = ti->name; /* the proxy: 0 if unquantized, else an error */
	return qp_proxy_term(bt->proxy, &bt->pt[k], key, term, e);
}

int qp_budget_set_pred(qp_recipe *r, const qp_proxy *proxy, double sum,
		       qp_err *e)
{
	qp_pred q;
	qp_proxy_predict(proxy, sum, &q);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 7);
	qp_pack_key_str(&pk, "target", qp_proxy_target(proxy));
	qp_pack_key_double(&pk, "value", q.value);
	qp_pack_key_double(&pk, "lo", q.lo);
	qp_pack_key_double(&pk, "hi", q.hi);
	qp_pack_key_double(&pk, "level", q.level);
	qp_pack_key_bool(&pk, "calibrated", q.calibrated);
	qp_pack_str(&pk, "baselines");
	msgpack_pack_map(&pk, 0);
	int rc = qp_recipe_set_pred(r, (const uint8_t *)sb.data, sb.size, e);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

int qp_budget_recipe(const qp_budget_model *m, const qp_opt_solution *s,
		     const char *source, double budget_bpw,
		     double budget_bytes, bool with_optimal, qp_recipe *r,
		     qp_err *e)
{
	qp_recipe_init(r);
	if (qp_recipe_set_model(r, m->id, e) || qp_recipe_set_source(r, source, e) ||
	    qp_recipe_set_ftype(r, qp_budget_ftype(m, s->types), e))
		goto fail;
	r->has_pure = true;
	r->pure = true;
	if (budget_bpw >= 0) {
		r->has_budget_bpw = true;
		r->budget_bpw = budget_bpw;
	}
	if (budget_bytes >= 0) {
		r->has_budget_bytes = true;
		r->budget_bytes = (uint64_t)budget_bytes;
	}
	r->n_bytes = s->tensor_bytes;
	r->bpw = s->bpw;
	r->has_file_bytes = true;
	r->file_bytes = s->n_bytes;
	if (with_optimal) {
		r->has_optimal = true;
		r->opt_loss = s->loss;
		r->opt_bound = s->bound;
		r->opt_gap = s->gap;
	}
	for (int k = 0; k < m->n; k++)
		if (qp_recipe_add(r, m->t[k].name, s->types[k], e))
			goto fail;
	return 0;
fail:
	qp_recipe_free(r);
	return -1;
}

/* ---- one model, end to end ------------------------------------------- */

int qp_budget_run_init(qp_budget_run *r, const qp_record *model,
		       const qp_record *const *tensors, int n,
		       const qp_record *fit, const qp_opt_config *cfg,
		       const qp_llq_imatrix_kv *im, qp_err *e)
{
	memset(r, 0, sizeof *r);
	if (qp_budget_load(model, tensors, n, im, &r->m, e) != 0)
		return -1;
	if (!cfg)
		return 0; /* sizes only */
	int rc = fit ? qp_proxy_from_fit(&fit->map, &r->proxy, e)
		     : qp_proxy_prior("kld_mean", &r->proxy, e);
	if (rc != 0) {
		if (fit)
			qp_fail_prefix(e, "record %llu (byte offset %llu)",
				       (unsigned long long)fit->index, (unsigned long long)fit->offset);
		qp_budget_run_free(r);
		return -1;
	}
	r->fitted = fit != NULL;
	if (qp_budget_terms_init(&r->bt, &r->m, r->proxy, tensors, e) != 0) {
		qp_budget_run_free(r);
		return -1;
	}
	r->cfg = *cfg;
	r->cfg.imatrix_types = r->m.imatrix_used;
	if (qp_opt_build(r->m.t, r->m.n, &r->m.layout, &r->cfg, qp_budget_term,
			 &r->bt, &r->p, e) != 0) {
		qp_budget_run_free(r);
		return -1;
	}
	return 0;
}

void qp_budget_run_free(qp_budget_run *r)
{
	qp_opt_free(r->p);
	qp_budget_terms_free(&r->bt);
	qp_proxy_free(r->proxy);
	qp_budget_free(&r->m);
	memset(r, 0, sizeof *r);
}

int qp_budget_run_solve(const qp_budget_run *r, qp_opt_budget_kind kind,
			double budget, qp_recipe *out, qp_err *e)
{
	qp_opt_solution s;
	if (qp_opt_solve(r->p, kind, budget, &s, e) != 0)
		return -1;
	int rc = qp_budget_recipe(&r->m, &s, "recipe-emit",
				  kind == QP_OPT_BPW ? budget : -1,
				  kind == QP_OPT_BYTES ? budget : -1, true, out, e);
	if (rc == 0 && qp_budget_set_pred(out, r->proxy, s.loss, e) != 0) {
		qp_recipe_free(out);
		rc = -1;
	}
	qp_opt_solution_free(&s);
	return rc;
}

typedef struct frontier_ctx {
	const qp_budget_run *r;
	qp_budget_recipe_fn fn;
	void *ctx;
} frontier_ctx;

static int frontier_point(void *ctx, const qp_opt_solution *s, qp_err *e)
{
	const frontier_ctx *f = ctx;
	qp_recipe rc;
	if (qp_budget_recipe(&f->r->m, s, "recipe-emit", -1, -1, true, &rc, e) != 0)
		return -1;
	int st = qp_budget_set_pred(&rc, f->r->proxy, s->loss, e);
	if (st == 0)
		st = f->fn(f->ctx, &rc, e);
	qp_recipe_free(&rc);
	return st;
}

int qp_budget_run_frontier(const qp_budget_run *r, qp_budget_recipe_fn fn,
			   void *ctx, qp_err *e)
{
	frontier_ctx f = { r, fn, ctx };
	return qp_opt_frontier(r->p, frontier_point, &f, e);
}

static int recipe_types(const qp_budget_model *m, const qp_recipe *rc,
			uint32_t *types, qp_err *e)
{
	for (int k = 0; k < m->n; k++) {
		long i = qp_recipe_find(rc, m->t[k].name);
		types[k] = i < 0 ? m->t[k].type : rc->tensors[i].type;
	}
	if (rc->n_tensors > (size_t)m->n)
		return qp_fail(e, "recipe %s names tensors the model does not have", rc->source);
	return 0;
}

int qp_budget_file_bytes(const qp_budget_model *m, const qp_recipe *rc,
			 uint64_t *bytes, qp_err *e)
{
	uint64_t total = m->layout.meta_bytes;
	for (int k = 0; k < m->n; k++) {
		long i = qp_recipe_find(rc, m->t[k].name);
		uint32_t ty = i < 0 ? m->t[k].type : rc->tensors[i].type;
		uint64_t nb;
		if (qp_type_nbytes(ty, m->t[k].ne, m->t[k].n_dims, &nb, e) != 0)
			return qp_fail_prefix(e, "tensor %s", m->t[k].name);
		total += qp_llq_padded(nb);
	}
	*bytes = total;
	return 0;
}

int qp_budget_run_annotate(const qp_budget_run *r, qp_recipe *rc,
			   bool *has_pred, qp_err *e)
{
	*has_pred = false;
	if (!r->p) {
		uint64_t fb0;
		if (qp_budget_file_bytes(&r->m, rc, &fb0, e) != 0)
			return -1;
		rc->has_file_bytes = true;
		rc->file_bytes = fb0;
		return 0;
	}
	uint32_t *types = malloc((size_t)(r->m.n > 0 ? r->m.n : 1) * sizeof *types);
	if (!types)
		return qp_fail(e, "out of memory");
	if (recipe_types(&r->m, rc, types, e) != 0) {
		free(types);
		return -1;
	}
	qp_opt_solution s;
	qp_err ignored;
	if (qp_opt_evaluate(r->p, types, &s, &ignored) == 0) {
		rc->has_file_bytes = true;
		rc->file_bytes = s.n_bytes;
		int st = qp_budget_set_pred(rc, r->proxy, s.loss, e);
		qp_opt_solution_free(&s);
		free(types);
		if (st == 0)
			*has_pred = true;
		return st;
	}
	free(types);
	uint64_t fb;
	if (qp_budget_file_bytes(&r->m, rc, &fb, e) != 0)
		return -1;
	rc->has_file_bytes = true;
	rc->file_bytes = fb;
	return 0;
}
