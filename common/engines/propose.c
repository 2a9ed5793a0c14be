/* propose.c — see propose.h. */
#include "propose.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svd.h"

#define MAX_TYPES 32

static void str_of(const msgpack_object *o, char *buf, size_t size)
{
	size_t n = o->via.str.size < size - 1 ? o->via.str.size : size - 1;
	memcpy(buf, o->via.str.ptr, n);
	buf[n] = 0;
}

/* The type llama-quantize writes for t when asked for type, or NULL when
 * it would abort or nothing was measured. */
static int written_as(const qp_proxy_tensor *t, const char *type, char *as_buf)
{
	const msgpack_object *ent = qp_map_get(t->qerr, type);
	if (!ent || ent->type != MSGPACK_OBJECT_MAP)
		return -1;
	const msgpack_object *as = qp_map_get(ent, "as");
	if (!as || as->type != MSGPACK_OBJECT_STR)
		return -1;
	str_of(as, as_buf, 16);
	return 0;
}

static bool is_float(const char *t)
{
	return !strcmp(t, "F32") || !strcmp(t, "F16") || !strcmp(t, "BF16") || !strcmp(t, "F64");
}

static const char *ftype_of(const char *type)
{
	if (!strcmp(type, "Q3_K"))
		return "Q3_K_M";
	if (!strcmp(type, "Q4_K"))
		return "Q4_K_M";
	if (!strcmp(type, "Q5_K"))
		return "Q5_K_M";
	return type;
}

static void lower(char *dst, const char *src, size_t size)
{
	size_t i = 0;
	for (; src[i] && i + 1 < size; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = 0;
}

/* Types measured on every tensor that has qerr, with their mean rel^2. */
static int measured_types(const qp_proxy_model *m, char names[][16], double *score)
{
	const qp_proxy_tensor *first = NULL;
	for (int i = 0; i < m->n_tensors && !first; i++)
		if (m->plain[i].qerr && m->plain[i].layer >= 0)
			first = &m->plain[i];
	for (int i = 0; i < m->n_tensors && !first; i++)
		if (m->plain[i].qerr)
			first = &m->plain[i];
	if (!first)
		return 0;
	int n = 0;
	for (uint32_t k = 0; k < first->qerr->via.map.size && n < MAX_TYPES; k++) {
		const msgpack_object *key = &first->qerr->via.map.ptr[k].key;
		if (key->type != MSGPACK_OBJECT_STR || key->via.str.size >= 16)
			continue;
		char ty[16];
		str_of(key, ty, sizeof ty);
		if (strchr(ty, '+') || is_float(ty))
			continue;
		double sum = 0;
		int cnt = 0;
		bool ok = true;
		for (int i = 0; i < m->n_tensors && ok; i++) {
			const qp_proxy_tensor *t = &m->plain[i];
			if (!t->qerr)
				continue;
			char as[16];
			const msgpack_object *ent = qp_map_get(t->qerr, ty);
			if (written_as(t, ty, as) < 0) {
				ok = false;
				break;
			}
			if (qp_proxy_type_is_unquantized(t->base_type, as))
				continue;
			const msgpack_object *rel = qp_map_get(ent, "rel");
			if (!rel || (rel->type != MSGPACK_OBJECT_FLOAT64 && rel->type != MSGPACK_OBJECT_FLOAT32)) {
				ok = false;
				break;
			}
			sum += rel->via.f64 * rel->via.f64;
			cnt++;
		}
		if (!ok || cnt == 0)
			continue;
		snprintf(names[n], 16, "%s", ty);
		score[n++] = sum / cnt;
	}
	return n;
}

/* Group index of name under the list, appended when new. */
static int group_of(char (*names)[112], int *n, int cap, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp(names[i], name))
			return i;
	if (*n == cap)
		return -1;
	size_t len = strnlen(name, 111);
	memcpy(names[*n], name, len);
	names[*n][len] = 0;
	return (*n)++;
}

static int design_row(const qp_proxy_model *m, const qp_proxy *p,
		      const qp_proxy_config *c, char (*gnames)[112], int *n_groups,
		      int cap, double *row, qp_err *e)
{
	const qp_proxy_tensor *view = qp_proxy_model_view(m, c);
	for (int g = 0; g < cap; g++)
		row[g] = 0;
	for (int t = 0; t < m->n_tensors; t++) {
		if (!c->types[t])
			continue;
		double a;
		if (qp_proxy_atom(&view[t], c->types[t], qp_proxy_metric_used(p), &a, e) < 0)
			return -1;
		if (a == 0)
			continue;
		char names[2][112];
		double w[2];
		int k = qp_proxy_groups(qp_proxy_form_used(p), &view[t], names, w);
		for (int j = 0; j < k; j++) {
			int g = group_of(gnames, n_groups, cap, names[j]);
			if (g >= 0)
				row[g] += w[j] * a;
		}
	}
	return 0;
}

static int config_alloc(qp_proxy_config *c, int n)
{
	memset(c, 0, sizeof *c);
	c->n = n;
	c->buf = calloc((size_t)(n ? n : 1), sizeof *c->buf);
	c->types = calloc((size_t)(n ? n : 1), sizeof *c->types);
	return c->buf && c->types ? 0 : -1;
}

/* Sets tensor t of c to what llama-quantize writes for type. */
static void set_type(qp_proxy_config *c, const qp_proxy_tensor *t, int i, const char *type)
{
	char as[16];
	if (!t->qerr || written_as(t, type, as) < 0)
		return;
	if (qp_proxy_type_is_unquantized(t->base_type, as))
		return;
	snprintf(c->buf[i], sizeof c->buf[i], "%s", as);
	c->types[i] = c->buf[i];
	c->n_named++;
}

static void add_arg(qp_proposal *q, const char *s)
{
	if (q->n_args < 32)
		snprintf(q->args[q->n_args++], sizeof q->args[0], "%s", s);
}

void qp_proposals_free(qp_proposal *v, int n)
{
	for (int i = 0; i < n; i++)
		qp_proxy_config_free(&v[i].cfg);
	free(v);
}

static double log_det_score(const double *rows, int n_rows, int g, const double *colmax,
			    double *work, double *sv, qp_err *e, int *rc)
{
	/* column-major copy of the scaled design */
	for (int r = 0; r < n_rows; r++)
		for (int j = 0; j < g; j++)
			work[r + (size_t)j * n_rows] = colmax[j] > 0 ? rows[(size_t)r * g + j] / colmax[j] : 0;
	int mn = n_rows < g ? n_rows : g;
	if (qp_svd_dense_values(n_rows, g, work, sv, e) < 0) {
		*rc = -1;
		return -INFINITY;
	}
	double s = 0;
	for (int i = 0; i < g; i++) {
		double v = i < mn ? sv[i] : 0;
		s += log(v * v + 1e-6);
	}
	return s;
}

int qp_propose(const qp_proxy_model *m, const qp_proxy *p,
	       const qp_proxy_config *measured, int n_measured, int n_want,
	       qp_proposal **out, int *n_out, qp_err *e)
{
	*out = NULL;
	*n_out = 0;
	char types[MAX_TYPES][16];
	double score[MAX_TYPES];
	int n_types = measured_types(m, types, score);
	if (n_types == 0)
		return qp_fail(e, "--propose needs tensors with measured qerr types "
			       "(run qerr-measure -t with at least two types)");
	int hi = 0, lo = 0;
	for (int i = 1; i < n_types; i++) {
		if (score[i] < score[hi])
			hi = i;
		if (score[i] > score[lo])
			lo = i;
	}
	/* Families and roles present among quantizable tensors. */
	int fam_present[QP_FAM_COUNT] = {0};
	for (int i = 0; i < m->n_tensors; i++)
		if (m->plain[i].qerr)
			fam_present[m->plain[i].family] = 1;
	int max_cand = n_types + QP_FAM_COUNT + m->n_layer;
	qp_proposal *cand = calloc((size_t)max_cand, sizeof *cand);
	if (!cand)
		return qp_fail(e, "out of memory");
	int nc = 0;
	char lo_l[16], hi_name[16];
	lower(lo_l, types[lo], sizeof lo_l);
	snprintf(hi_name, sizeof hi_name, "%s", types[hi]);
	for (int k = 0; k < n_types; k++) {
		qp_proposal *q = &cand[nc];
		if (config_alloc(&q->cfg, m->n_tensors) < 0)
			goto oom;
		nc++;
		snprintf(q->label, sizeof q->label, "all at %s", types[k]);
		snprintf(q->ftype, sizeof q->ftype, "%s", ftype_of(types[k]));
		add_arg(q, "--pure");
		for (int i = 0; i < m->n_tensors; i++)
			set_type(&q->cfg, &m->plain[i], i, types[k]);
	}
	if (n_types >= 2) {
		for (int f = 0; f < QP_FAM_COUNT; f++) {
			if (!fam_present[f])
				continue;
			qp_proposal *q = &cand[nc];
			if (config_alloc(&q->cfg, m->n_tensors) < 0)
				goto oom;
			nc++;
			snprintf(q->label, sizeof q->label, "%s at %s, the rest at %s",
				 qp_family_name((qp_family)f), types[lo], hi_name);
			snprintf(q->ftype, sizeof q->ftype, "%s", ftype_of(hi_name));
			add_arg(q, "--pure");
			char roles[16][96];
			int n_roles = 0;
			for (int i = 0; i < m->n_tensors; i++) {
				const qp_proxy_tensor *t = &m->plain[i];
				bool in = (int)t->family == f && t->qerr;
				set_type(&q->cfg, t, i, in ? types[lo] : hi_name);
				if (!in)
					continue;
				int r;
				for (r = 0; r < n_roles; r++)
					if (!strcmp(roles[r], t->role))
						break;
				if (r < n_roles || n_roles == 16)
					continue;
				snprintf(roles[n_roles++], sizeof roles[0], "%s", t->role);
				char a[128];
				if (!strcmp(t->role, "token_embd")) {
					add_arg(q, "--token-embedding-type");
					add_arg(q, lo_l);
				} else if (!strcmp(t->role, "output")) {
					add_arg(q, "--output-tensor-type");
					add_arg(q, lo_l);
				} else {
					snprintf(a, sizeof a, "%s=%s", t->role, lo_l);
					add_arg(q, "--tensor-type");
					add_arg(q, a);
				}
			}
		}
		for (int l = 0; l < m->n_layer && m->n_layer > 1; l++) {
			qp_proposal *q = &cand[nc];
			if (config_alloc(&q->cfg, m->n_tensors) < 0)
				goto oom;
			nc++;
			snprintf(q->label, sizeof q->label, "block %d at %s, the rest at %s", l,
				 types[lo], hi_name);
			snprintf(q->ftype, sizeof q->ftype, "%s", ftype_of(hi_name));
			add_arg(q, "--pure");
			char a[128];
			snprintf(a, sizeof a, "blk\\.%d\\.=%s", l, lo_l);
			add_arg(q, "--tensor-type");
			add_arg(q, a);
			for (int i = 0; i < m->n_tensors; i++)
				set_type(&q->cfg, &m->plain[i], i,
					 m->plain[i].layer == l ? types[lo] : hi_name);
		}
	}
	/* Design rows: measured runs first, then every candidate. */
	int cap = 2 * m->n_tensors + 64, n_groups = 0, rc = 0;
	int n_rows_all = n_measured + nc;
	char (*gnames)[112] = calloc((size_t)cap, sizeof *gnames);
	double *rows = calloc((size_t)(n_rows_all ? n_rows_all : 1) * (size_t)cap, sizeof *rows);
	if (!gnames || !rows) {
		free(gnames);
		free(rows);
		goto oom;
	}
	for (int r = 0; r < n_rows_all && rc == 0; r++)
		rc = design_row(m, p, r < n_measured ? &measured[r] : &cand[r - n_measured].cfg,
				gnames, &n_groups, cap, rows + (size_t)r * cap, e);
	if (rc < 0) {
		free(gnames);
		free(rows);
		qp_proposals_free(cand, nc);
		return -1;
	}
	int g = n_groups > 0 ? n_groups : 1;
	/* Compact rows to g columns. */
	for (int r = 0; r < n_rows_all; r++)
		memmove(rows + (size_t)r * g, rows + (size_t)r * cap, (size_t)g * sizeof *rows);
	int n_res = 0;
	double *colmax = calloc((size_t)g, sizeof *colmax);
	int *chosen = calloc((size_t)(nc ? nc : 1), sizeof *chosen);
	double *cur = malloc((size_t)(n_rows_all + 1) * g * sizeof *cur);
	double *work = malloc((size_t)(n_rows_all + 1) * g * sizeof *work);
	double *sv = malloc((size_t)(n_rows_all + g + 1) * sizeof *sv);
	qp_proposal *res = calloc((size_t)(n_want > 0 ? n_want : 1), sizeof *res);
	if (!colmax || !chosen || !cur || !work || !sv || !res) {
		rc = qp_fail(e, "out of memory");
		goto done;
	}
	for (int r = 0; r < n_rows_all; r++)
		for (int j = 0; j < g; j++)
			if (rows[(size_t)r * g + j] > colmax[j])
				colmax[j] = rows[(size_t)r * g + j];
	int n_cur = n_measured;
	memcpy(cur, rows, (size_t)n_measured * g * sizeof *cur);
	while (n_res < n_want && rc == 0) {
		int best = -1;
		double best_s = -INFINITY;
		for (int c = 0; c < nc; c++) {
			if (chosen[c])
				continue;
			bool dup = false;
			for (int r = 0; r < n_measured && !dup; r++)
				dup = qp_proxy_config_same(&measured[r], &cand[c].cfg);
			if (dup || cand[c].cfg.n_named == 0)
				continue;
			memcpy(cur + (size_t)n_cur * g, rows + (size_t)(n_measured + c) * g,
			       (size_t)g * sizeof *cur);
			double s = log_det_score(cur, n_cur + 1, g, colmax, work, sv, e, &rc);
			if (rc < 0)
				break;
			if (s > best_s + 1e-9) {
				best_s = s;
				best = c;
			}
		}
		if (best < 0 || rc < 0)
			break;
		chosen[best] = 1;
		memcpy(cur + (size_t)n_cur * g, rows + (size_t)(n_measured + best) * g,
		       (size_t)g * sizeof *cur);
		n_cur++;
		res[n_res] = cand[best];
		memset(&cand[best].cfg, 0, sizeof cand[best].cfg); /* moved */
		n_res++;
	}
done:
	free(gnames);
	free(rows);
	free(colmax);
	free(chosen);
	free(cur);
	free(work);
	free(sv);
	qp_proposals_free(cand, nc);
	if (rc < 0) {
		qp_proposals_free(res, n_res);
		return -1;
	}
	*out = res;
	*n_out = n_res;
	return 0;
oom:
	qp_proposals_free(cand, nc);
	return qp_fail(e, "out of memory");
}
