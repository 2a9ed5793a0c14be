/* recipe_llq.c — recipes from mixes, rules and files; llama.cpp forms. */
#include "recipe_llq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "mapfile.h"
#include "quant.h"
#include "types.h"

static const char *tname(uint32_t t, char *buf)
{
	return qp_type_name(t, buf);
}

/* A recipe named for the model, with every tensor at types[i]. */
static int fill(const qp_llq_model *m, const char *model_id,
		const char *source, const uint32_t *types, qp_recipe *r,
		qp_err *e)
{
	qp_recipe_init(r);
	if (qp_recipe_set_model(r, model_id, e) ||
	    qp_recipe_set_source(r, source, e))
		goto fail;
	for (size_t i = 0; i < m->n; i++)
		if (qp_recipe_add(r, m->t[i].name, types[i], e))
			goto fail;
	if (qp_recipe_llq_sizes(m, r, e))
		goto fail;
	return 0;
fail:
	qp_recipe_free(r);
	return -1;
}

int qp_recipe_llq_sizes(const qp_llq_model *m, qp_recipe *r, qp_err *e)
{
	uint64_t bytes = 0, elems = 0;
	for (size_t i = 0; i < m->n; i++) {
		const qp_llq_tensor *t = &m->t[i];
		long k = qp_recipe_find(r, t->name);
		if (k < 0)
			return qp_fail(e, "the recipe has no type for tensor %s",
				       t->name);
		uint64_t b, n = 1;
		if (qp_llq_tensor_bytes(t, r->tensors[k].type, &b, e))
			return -1;
		for (int d = 0; d < 4; d++)
			n *= (uint64_t)t->ne[d];
		bytes += b;
		elems += n;
	}
	if (r->n_tensors != m->n)
		return qp_fail(e, "the recipe names %zu tensors, the model has "
			       "%zu", r->n_tensors, m->n);
	r->n_bytes = bytes;
	r->bpw = elems ? (double)bytes * 8.0 / (double)elems : 0.0;
	return 0;
}

static int mix_types(const qp_llq_model *m, const qp_llq_params *p,
		     uint32_t **types, qp_llq_choice **choice, qp_err *e)
{
	*types = malloc((m->n ? m->n : 1) * sizeof **types);
	*choice = malloc((m->n ? m->n : 1) * sizeof **choice);
	if (!*types || !*choice)
		return qp_fail(e, "out of memory");
	if (qp_llq_mix(m, p, *choice, e))
		return -1;
	for (size_t i = 0; i < m->n; i++)
		(*types)[i] = (*choice)[i].type;
	return 0;
}

/* A mix's (or mix-based) types into r with the ftype and --pure; frees
 * types and choice; st is the status so far. */
static int finish_mix(const qp_llq_model *m, const char *model_id,
		      const char *source, const qp_llq_params *p,
		      uint32_t *types, qp_llq_choice *choice, qp_recipe *r,
		      int st, qp_err *e)
{
	if (!st)
		st = fill(m, model_id, source, types, r, e);
	if (!st) {
		st = qp_recipe_set_ftype(r, p->ftype->name, e);
		r->has_pure = true;
		r->pure = p->pure;
	}
	free(types);
	free(choice);
	if (st)
		qp_recipe_free(r);
	return st;
}

int qp_recipe_llq_mix(const qp_llq_model *m, const char *model_id,
		      const qp_llq_params *p, qp_recipe *r, qp_err *e)
{
	uint32_t *types = NULL;
	qp_llq_choice *choice = NULL;
	qp_recipe_init(r);
	int st = mix_types(m, p, &types, &choice, e);
	char source[64], buf[16];
	for (size_t i = 0; !st && i < m->n; i++)
		if (choice[i].quantized && choice[i].requires_imatrix &&
		    !p->imatrix)
			st = qp_fail(e, "%s needs an importance matrix (%s gets "
				     "%s): llama-quantize refuses without "
				     "--imatrix; say the quantization uses one",
				     p->ftype->name, m->t[i].name,
				     tname(types[i], buf));
	snprintf(source, sizeof source, "mix:%s", p->ftype->name);
	return finish_mix(m, model_id, source, p, types, choice, r, st, e);
}

int qp_recipe_llq_rtext(const qp_llq_model *m, const char *model_id,
			const qp_rtext *rules, const char *source,
			qp_recipe *r, size_t *decided, size_t *unmatched,
			qp_err *e)
{
	qp_llq_params p;
	qp_llq_params_init(&p);
	qp_recipe_init(r);
	uint32_t *types = malloc((m->n ? m->n : 1) * sizeof *types);
	if (!types)
		return qp_fail(e, "out of memory");
	if (decided)
		memset(decided, 0, rules->n * sizeof *decided);
	*unmatched = 0;
	int st = 0;
	char b1[16], b2[16];
	for (size_t i = 0; i < m->n && !st; i++) {
		const qp_llq_tensor *t = &m->t[i];
		types[i] = t->type;
		if (!qp_llq_model_quantizable(m, &p, i))
			continue;
		long k = qp_rtext_match(rules, t->name);
		if (k < 0) {
			(*unmatched)++;
			continue;
		}
		bool ok;
		uint32_t want = rules->v[k].type;
		types[i] = qp_quant_fallback(want, t->ne[0], &ok);
		if (!ok)
			st = qp_fail(e, "line %d: %s gets %s, but llama-quantize "
				     "has no fallback for rows of %lld in %s: it "
				     "aborts", rules->v[k].line, t->name,
				     tname(want, b1), (long long)t->ne[0],
				     tname(want, b2));
		if (decided)
			decided[k]++;
	}
	if (!st)
		st = fill(m, model_id, source, types, r, e);
	free(types);
	return st;
}

int qp_recipe_llq_ttfile(const qp_llq_model *m, const char *model_id,
			 const qp_llq_params *p, const char *source,
			 qp_recipe *r, size_t *decided, qp_err *e)
{
	uint32_t *types = NULL;
	qp_llq_choice *choice = NULL;
	qp_recipe_init(r);
	int st = mix_types(m, p, &types, &choice, e);
	if (!st && decided) {
		memset(decided, 0, p->rules->n * sizeof *decided);
		for (size_t i = 0; i < m->n; i++)
			if (choice[i].rule >= 0)
				decided[choice[i].rule]++;
	}
	return finish_mix(m, model_id, source, p, types, choice, r, st, e);
}

int qp_recipe_llq_types(const qp_llq_model *m, const char *model_id,
			const char *const *names, const uint32_t *types,
			size_t n, int ftype_id, const char *source,
			qp_recipe *r, qp_err *e)
{
	qp_recipe byname;
	qp_recipe_init(&byname);
	qp_recipe_init(r);
	uint32_t *mt = malloc((m->n ? m->n : 1) * sizeof *mt);
	int st = mt ? 0 : qp_fail(e, "out of memory");
	for (size_t i = 0; i < n && !st; i++)
		st = qp_recipe_add(&byname, names[i], types[i], e);
	for (size_t i = 0; i < m->n && !st; i++) {
		long k = qp_recipe_find(&byname, m->t[i].name);
		if (k < 0)
			st = qp_fail(e, "it has no tensor %s", m->t[i].name);
		else
			mt[i] = byname.tensors[k].type;
	}
	if (!st && n != m->n) {
		for (size_t i = 0; i < n && !st; i++) {
			bool found = false;
			for (size_t j = 0; j < m->n && !found; j++)
				found = strcmp(names[i], m->t[j].name) == 0;
			if (!found)
				st = qp_fail(e, "its tensor %s is not in the "
					     "model", names[i]);
		}
	}
	if (!st)
		st = fill(m, model_id, source, mt, r, e);
	const qp_llq_ftype *ft = ftype_id >= 0 ? qp_llq_ftype_by_id(ftype_id)
					       : NULL;
	if (!st && ft)
		st = qp_recipe_set_ftype(r, ft->name, e);
	if (st)
		qp_recipe_free(r);
	qp_recipe_free(&byname);
	free(mt);
	return st;
}

int qp_recipe_llq_gguf(const qp_llq_model *m, const char *model_id,
		       const char *path, const char *source, qp_recipe *r,
		       qp_err *e)
{
	qp_map map;
	qp_gguf g;
	qp_recipe_init(r);
	if (qp_map_open(path, &map, e))
		return -1;
	int st = qp_gguf_parse(map.data, map.size, map.size, &g, e);
	if (st > 0)
		st = qp_fail(e, "truncated GGUF");
	if (st) {
		qp_map_close(&map);
		return -1;
	}
	int64_t v;
	char **names = calloc(g.n_tensors ? g.n_tensors : 1, sizeof *names);
	uint32_t *types = calloc(g.n_tensors ? g.n_tensors : 1, sizeof *types);
	if (!names || !types)
		st = qp_fail(e, "out of memory");
	if (!st && qp_gguf_get_int(&g, "split.count", &v) && v > 1)
		st = qp_fail(e, "a split GGUF (%lld shards): merge it first",
			     (long long)v);
	for (uint64_t i = 0; !st && i < g.n_tensors; i++) {
		names[i] = qp_gguf_strdup(g.tensors[i].name);
		types[i] = g.tensors[i].type;
		if (!names[i])
			st = qp_fail(e, "out of memory");
	}
	int ftype_id = qp_gguf_get_int(&g, "general.file_type", &v) &&
				       v >= 0 && v < 4096 ? (int)v : -1;
	if (!st)
		st = qp_recipe_llq_types(m, model_id, (const char *const *)names,
					 types, (size_t)g.n_tensors, ftype_id,
					 source, r, e);
	for (uint64_t i = 0; names && i < g.n_tensors; i++)
		free(names[i]);
	free(names);
	free(types);
	qp_gguf_free(&g);
	qp_map_close(&map);
	return st;
}

/* ---- the llama.cpp forms ----------------------------------------------- */

/* The ftype llama-quantize is given for a plan whose commonest type is t
 * (the _M mixes for K-quants; the label only, since the rules decide). */
static const qp_llq_ftype *ftype_for(uint32_t t)
{
	const char *name = NULL;
	switch (t) {
	case QP_Q3_K: name = "Q3_K_M"; break;
	case QP_Q4_K: name = "Q4_K_M"; break;
	case QP_Q5_K: name = "Q5_K_M"; break;
	case QP_IQ2_S: name = "IQ2_M"; break;
	case QP_MXFP4: name = "MXFP4_MOE"; break;
	default: break;
	}
	if (name)
		return qp_llq_ftype_by_name(name);
	for (size_t i = 0; qp_llq_ftype_at(i); i++) {
		const qp_llq_ftype *f = qp_llq_ftype_at(i);
		if (f->base_type == t && !f->alias_of)
			return f;
	}
	return NULL;
}

/* Replays llama-quantize with the ftype, --pure and the rules: 0 when
 * every tensor gets its planned type. */
static int replay(const qp_llq_model *m, const qp_llq_ftype *ft,
		  const qp_rtext *rules, const uint32_t *plan,
		  bool *needs_imatrix, qp_err *e)
{
	qp_llq_rules lr = {0};
	qp_llq_choice *out = malloc((m->n ? m->n : 1) * sizeof *out);
	int st = out ? 0 : qp_fail(e, "out of memory");
	for (size_t i = 0; rules && i < rules->n && !st; i++) {
		qp_buf tok = {0};
		char buf[16];
		qp_buf_printf(&tok, "%s=%s", rules->v[i].llama ? rules->v[i].llama
							       : rules->v[i].regex,
			      tname(rules->v[i].type, buf));
		st = tok.oom ? qp_fail(e, "out of memory")
			     : qp_llq_rules_add(&lr, tok.p, e);
		qp_buf_free(&tok);
	}
	qp_llq_params p;
	qp_llq_params_init(&p);
	p.ftype = ft;
	p.pure = true;
	p.imatrix = true;
	p.rules = &lr;
	if (!st)
		st = qp_llq_mix(m, &p, out, e);
	*needs_imatrix = false;
	for (size_t i = 0; i < m->n && !st; i++) {
		char b1[16], b2[16];
		if (out[i].type != plan[i])
			st = qp_fail(e, "internal: llama-quantize would write %s "
				     "for %s, not the planned %s",
				     tname(out[i].type, b1), m->t[i].name,
				     tname(plan[i], b2));
		if (out[i].quantized && out[i].requires_imatrix)
			*needs_imatrix = true;
	}
	free(out);
	qp_llq_rules_free(&lr);
	return st;
}

/* The plan in model order, checked: what llama-quantize can write. */
static int plan_of(const qp_llq_model *m, const qp_recipe *r, uint32_t *plan,
		   bool *decided, qp_err *e)
{
	qp_llq_params p;
	qp_llq_params_init(&p);
	if (r->n_tensors != m->n)
		return qp_fail(e, "the recipe names %zu tensors, the model has "
			       "%zu", r->n_tensors, m->n);
	for (size_t i = 0; i < m->n; i++) {
		const qp_llq_tensor *t = &m->t[i];
		long k = qp_recipe_find(r, t->name);
		char b1[16], b2[16];
		if (k < 0)
			return qp_fail(e, "the recipe has no type for tensor %s",
				       t->name);
		plan[i] = r->tensors[k].type;
		decided[i] = qp_llq_model_quantizable(m, &p, i);
		if (!decided[i]) {
			if (plan[i] != t->type)
				return qp_fail(e, "%s: llama-quantize never "
					       "quantizes it, it stays %s (the "
					       "recipe says %s)", t->name,
					       tname(t->type, b1),
					       tname(plan[i], b2));
			continue;
		}
		bool ok;
		uint32_t fb = qp_quant_fallback(plan[i], t->ne[0], &ok);
		if (!ok || fb != plan[i])
			return qp_fail(e, "%s: llama-quantize cannot write %s "
				       "for rows of %lld (%s)", t->name,
				       tname(plan[i], b1), (long long)t->ne[0],
				       ok ? "it would fall back" : "it aborts");
	}
	return 0;
}

/* The ftype and rules that make llama-quantize write the plan. */
static int rules_for(const qp_llq_model *m, const qp_recipe *r,
		     qp_recipe_form form, const uint32_t *plan,
		     const bool *decided, const qp_llq_ftype **ft,
		     qp_rtext *rules, bool *needs_imatrix, qp_err *e)
{
	memset(rules, 0, sizeof *rules);
	const qp_llq_ftype *given = r->ftype ? qp_llq_ftype_by_name(r->ftype)
					     : NULL;
	/* an F16/BF16/F32 base ignores rules: usable only when it alone
	 * gives the plan (and not in our recipe text, which must state
	 * every type by itself) */
	if (given && !qp_llq_ftype_quantized(given) &&
	    (form == QP_FORM_TTFILE || form == QP_FORM_ARGS) &&
	    replay(m, given, NULL, plan, needs_imatrix, e) == 0) {
		*ft = given;
		return 0;
	}
	const char **names = malloc((m->n ? m->n : 1) * sizeof *names);
	if (!names)
		return qp_fail(e, "out of memory");
	for (size_t i = 0; i < m->n; i++)
		names[i] = m->t[i].name;
	int st = qp_rtext_compress(names, plan, decided, m->n, rules, e);
	free(names);
	if (st)
		return -1;
	*ft = given && qp_llq_ftype_quantized(given) ? given : NULL;
	if (!*ft) {
		/* the catch-all rule's type, else any quantized one */
		uint32_t dflt = rules->n ? rules->v[rules->n - 1].type : QP_Q8_0;
		const qp_type_info *ti = qp_type_info_by_id(dflt);
		*ft = ti && ti->quantized ? ftype_for(dflt) : NULL;
		for (size_t i = 0; !*ft && i < rules->n; i++) {
			ti = qp_type_info_by_id(rules->v[i].type);
			if (ti && ti->quantized)
				*ft = ftype_for(rules->v[i].type);
		}
		if (!*ft)
			*ft = qp_llq_ftype_by_name("Q8_0");
	}
	if (replay(m, *ft, rules, plan, needs_imatrix, e)) {
		qp_rtext_free(rules);
		return -1;
	}
	return 0;
}

int qp_recipe_llq_emit(const qp_llq_model *m, const qp_recipe *r,
		       qp_recipe_form form, qp_buf *out, bool *needs_imatrix,
		       qp_err *e)
{
	uint32_t *plan = malloc((m->n ? m->n : 1) * sizeof *plan);
	bool *decided = malloc((m->n ? m->n : 1) * sizeof *decided);
	qp_rtext rules = {0};
	const qp_llq_ftype *ft = NULL;
	int st = plan && decided ? 0 : qp_fail(e, "out of memory");
	if (!st)
		st = plan_of(m, r, plan, decided, e);
	if (!st && form == QP_FORM_TSV) {
		char buf[16];
		*needs_imatrix = false;
		for (size_t i = 0; i < m->n; i++)
			qp_buf_printf(out, "%s\t%s\n", m->t[i].name,
				      tname(plan[i], buf));
		free(plan);
		free(decided);
		return out->oom ? qp_fail(e, "out of memory") : 0;
	}
	if (!st)
		st = rules_for(m, r, form, plan, decided, &ft, &rules,
			       needs_imatrix, e);
	if (!st) {
		bool pure = rules.n > 0;
		char c[4][256];
		const char *cs[4] = {c[0], c[1], c[2], c[3]};
		switch (form) {
		case QP_FORM_RECIPE:
			snprintf(c[0], sizeof c[0], "model: %s", r->model);
			snprintf(c[1], sizeof c[1], "source: %s", r->source);
			snprintf(c[2], sizeof c[2], "llama-quantize: %s%s "
				 "(the rules decide every tensor it quantizes)",
				 pure ? "--pure " : "", ft->name);
			snprintf(c[3], sizeof c[3], "n_bytes: %llu of tensor "
				 "data, %.4f bpw",
				 (unsigned long long)r->n_bytes, r->bpw);
			qp_rtext_write(&rules, cs, 4, out);
			break;
		case QP_FORM_TTFILE:
			qp_rtext_write_ttfile(&rules, out);
			break;
		case QP_FORM_ARGS:
			qp_rtext_write_args(&rules, pure, ft->name, out);
			break;
		case QP_FORM_CUSTOM_Q:
			qp_rtext_write_custom_q(&rules, out);
			break;
		case QP_FORM_TSV:
			break;
		}
		if (out->oom)
			st = qp_fail(e, "out of memory");
	}
	qp_rtext_free(&rules);
	free(plan);
	free(decided);
	return st;
}
