/* optimize.c — tensors, constraints and exact sizes around the knapsack. */
#include "optimize.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llq_policy.h"
#include "names.h"
#include "quant.h"
#include "types.h"

typedef struct topt {
	uint32_t type;     /* as written */
	uint64_t bytes;    /* unpadded */
	double term;
} topt;

typedef struct tstate {
	bool fixed;        /* never quantized: keeps its type */
	uint64_t bytes;    /* fixed tensors: unpadded bytes */
	topt *opt;
	int n_opt;
	int group;
} tstate;

struct qp_opt_problem {
	int n;
	tstate *t;
	qp_llq_layout layout;
	uint64_t fixed_raw, fixed_padded;
	const qp_opt_tensor *tensors;
	qp_opt_term_fn term;
	void *term_ctx;
	uint64_t node_limit;
};

/* ---- rules and sizes ------------------------------------------------- */

int qp_opt_rule_parse(const char *arg, bool want_type, qp_opt_rule *r,
		      qp_err *e)
{
	memset(r, 0, sizeof *r);
	const char *eq = want_type ? strrchr(arg, '=') : NULL;
	if (want_type && (!eq || eq == arg || !eq[1]))
		return qp_fail(e, "'%s': want REGEX=TYPE", arg);
	size_t plen = want_type ? (size_t)(eq - arg) : strlen(arg);
	if (plen == 0)
		return qp_fail(e, "empty regular expression");
	if (want_type) {
		const qp_type_info *ti = qp_type_info_by_name(eq + 1);
		if (!ti || ti->removed)
			return qp_fail(e, "'%s': unknown type '%s'", arg, eq + 1);
		r->type = ti->id;
	}
	r->pattern = malloc(plen + 1);
	char *anch = malloc(plen + 5);
	if (!r->pattern || !anch) {
		free(r->pattern);
		free(anch);
		r->pattern = NULL;
		return qp_fail(e, "out of memory");
	}
	memcpy(r->pattern, arg, plen);
	r->pattern[plen] = 0;
	snprintf(anch, plen + 5, "^(%s)$", r->pattern);
	int rc = regcomp(&r->re, anch, REG_EXTENDED | REG_NOSUB);
	free(anch);
	if (rc != 0) {
		char msg[160];
		regerror(rc, &r->re, msg, sizeof msg);
		qp_fail(e, "regular expression '%s' does not compile: %s", r->pattern, msg);
		free(r->pattern);
		r->pattern = NULL;
		return QP_ERR_INPUT;
	}
	r->compiled = true;
	return 0;
}

void qp_opt_rule_free(qp_opt_rule *r)
{
	if (r->compiled)
		regfree(&r->re);
	free(r->pattern);
	memset(r, 0, sizeof *r);
}

int qp_opt_parse_size(const char *s, uint64_t *bytes, qp_err *e)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || !isfinite(v) || v < 0)
		return qp_fail(e, "'%s': not a size", s);
	while (*end == ' ')
		end++;
	double mult = 1;
	char u = (char)toupper((unsigned char)*end);
	if (u && strchr("KMGT", u)) {
		int p = u == 'K' ? 1 : u == 'M' ? 2 : u == 'G' ? 3 : 4;
		end++;
		bool bin = false;
		if (*end == 'i' || *end == 'I') {
			bin = true;
			end++;
		}
		if (*end == 'B' || *end == 'b')
			end++;
		mult = pow(bin ? 1024 : 1000, p);
	} else if (u == 'B') {
		end++;
	}
	if (*end)
		return qp_fail(e, "'%s': not a size (want e.g. 20GiB, 4.5G, 123456)", s);
	double b = floor(v * mult);
	if (b >= 18446744073709551615.0)
		return qp_fail(e, "'%s': too large", s);
	*bytes = (uint64_t)b;
	return 0;
}

static bool rule_matches(const qp_opt_rule *r, const char *name)
{
	return regexec(&r->re, name, 0, NULL, 0) == 0;
}

static const qp_opt_rule *first_match(const qp_opt_rule *r, int n,
				      const char *name)
{
	for (int i = 0; i < n; i++)
		if (rule_matches(&r[i], name))
			return &r[i];
	return NULL;
}

/* Order of types by nominal bits per weight, then id. */
static int type_cmp(uint32_t a, uint32_t b)
{
	const qp_type_info *x = qp_type_info_by_id(a), *y = qp_type_info_by_id(b);
	double bx = x && x->block_size ? 8.0 * x->type_size / x->block_size : 0;
	double by = y && y->block_size ? 8.0 * y->type_size / y->block_size : 0;
	if (bx != by)
		return bx < by ? -1 : 1;
	return a < b ? -1 : a > b;
}

static bool needs_imatrix(uint32_t type, const char *name)
{
	qp_tensor_name tn;
	qp_parse_tensor_name(name, &tn);
	if (strcmp(tn.role, "token_embd") == 0 || strcmp(tn.role, "output") == 0)
		return false;
	switch (type) {
	case QP_IQ3_XXS: case QP_IQ2_XXS: case QP_IQ2_XS: case QP_IQ2_S:
	case QP_IQ1_M: case QP_IQ1_S:
		return true;
	default:
		return false;
	}
}

/* ---- building -------------------------------------------------------- */

/* The type llama-quantize writes for requested `type`: qerr's `as` when
 * measured; 0 with *ok false when it would abort. */
static uint32_t written_type(const qp_opt_tensor *t, uint32_t type, bool *ok)
{
	for (int i = 0; i < t->n_measured; i++)
		if (t->measured[i].type == type) {
			*ok = t->measured[i].writable;
			return t->measured[i].as;
		}
	return qp_quant_fallback(type, t->ne[0], ok);
}

static int add_option(qp_opt_problem *p, int k, uint32_t want, bool strict,
		      qp_err *e)
{
	const qp_opt_tensor *t = &p->tensors[k];
	tstate *s = &p->t[k];
	const char *wname = qp_type_info_by_id(want)->name;
	bool ok;
	uint32_t as = written_type(t, want, &ok);
	if (!ok) {
		if (strict)
			return qp_fail(e, "tensor %s: llama-quantize cannot write %s for it", t->name, wname);
		return 0;
	}
	double term;
	if (p->term(p->term_ctx, k, want, &term, e) != 0)
		return strict ? -1 : 0; /* qerr listed it unmeasured: not a candidate */
	uint64_t nb;
	if (qp_type_nbytes(as, t->ne, t->n_dims, &nb, e) != 0)
		return qp_fail_prefix(e, "tensor %s", t->name);
	for (int j = 0; j < s->n_opt; j++)
		if (s->opt[j].type == as) {
			if (term < s->opt[j].term)
				s->opt[j].term = term;
			return 0;
		}
	s->opt[s->n_opt].type = as;
	s->opt[s->n_opt].bytes = nb;
	s->opt[s->n_opt].term = term;
	s->n_opt++;
	return 0;
}

/* Candidate ids of tensor k: the configured list, or qerr's keys. */
static int candidate_ids(const qp_opt_tensor *t, const qp_opt_config *cfg,
			 uint32_t *ids, int cap)
{
	int n = 0;
	if (cfg->n_types > 0) {
		for (int i = 0; i < cfg->n_types && n < cap; i++)
			ids[n++] = cfg->types[i];
		return n;
	}
	for (int i = 0; i < t->n_measured && n < cap; i++)
		ids[n++] = t->measured[i].type;
	return n;
}

static int cmp_topt(const void *a, const void *b)
{
	const topt *x = a, *y = b;
	return x->type < y->type ? -1 : x->type > y->type;
}

static int build_tensor(qp_opt_problem *p, int k, const qp_opt_config *cfg,
			qp_err *e)
{
	const qp_opt_tensor *t = &p->tensors[k];
	tstate *s = &p->t[k];
	s->group = -1;
	if (!qp_llq_quantizes(t->name, t->n_dims)) {
		s->fixed = true;
		if (qp_type_nbytes(t->type, t->ne, t->n_dims, &s->bytes, e) != 0)
			return qp_fail_prefix(e, "tensor %s", t->name);
		return 0;
	}
	if (!t->has_qerr)
		return qp_fail(e, "tensor %s has no qerr measurement (run qerr-measure first)", t->name);
	uint32_t ids[64];
	const qp_opt_rule *pin = first_match(cfg->pins, cfg->n_pins, t->name);
	int n_ids = pin ? 1 : candidate_ids(t, cfg, ids, 64);
	if (pin)
		ids[0] = pin->type;
	s->opt = calloc((size_t)(n_ids > 0 ? n_ids : 1), sizeof *s->opt);
	if (!s->opt)
		return qp_fail(e, "out of memory");
	const qp_opt_rule *mn = first_match(cfg->min_types, cfg->n_min, t->name);
	const qp_opt_rule *mx = first_match(cfg->max_types, cfg->n_max, t->name);
	for (int i = 0; i < n_ids; i++) {
		if (add_option(p, k, ids[i], pin != NULL || cfg->n_types > 0, e) != 0)
			return -1;
	}
	/* constraints on the type really written */
	int m = 0;
	for (int j = 0; j < s->n_opt; j++) {
		uint32_t ty = s->opt[j].type;
		bool keep = true;
		if (!pin && !cfg->imatrix_types && needs_imatrix(ty, t->name))
			keep = false;
		if (!pin && mn && type_cmp(ty, mn->type) < 0)
			keep = false;
		if (!pin && mx && type_cmp(ty, mx->type) > 0)
			keep = false;
		if (pin && !cfg->imatrix_types && needs_imatrix(ty, t->name))
			return qp_fail(e, "tensor %s: pinned type %s needs an importance matrix, and qerr used none",
				       t->name, qp_type_info_by_id(ty)->name);
		if (keep)
			s->opt[m++] = s->opt[j];
	}
	s->n_opt = m;
	if (m == 0)
		return qp_fail(e, "tensor %s: no candidate type left (types measured, --types, --min-type/--max-type, imatrix-only types)",
			       t->name);
	qsort(s->opt, (size_t)m, sizeof *s->opt, cmp_topt);
	return 0;
}

/* Tie groups: rule r and layer L name one group. */
static int assign_groups(qp_opt_problem *p, const qp_opt_config *cfg, qp_err *e)
{
	if (cfg->n_ties == 0)
		return 0;
	int cap = 16, n_keys = 0;
	int (*keys)[2] = malloc((size_t)cap * sizeof *keys);
	if (!keys)
		return qp_fail(e, "out of memory");
	for (int k = 0; k < p->n; k++) {
		if (p->t[k].fixed)
			continue;
		int r = -1;
		for (int i = 0; i < cfg->n_ties && r < 0; i++)
			if (rule_matches(&cfg->ties[i], p->tensors[k].name))
				r = i;
		if (r < 0)
			continue;
		qp_tensor_name tn;
		qp_parse_tensor_name(p->tensors[k].name, &tn);
		int g = -1;
		for (int q = 0; q < n_keys; q++)
			if (keys[q][0] == r && keys[q][1] == tn.layer)
				g = q;
		if (g < 0) {
			if (n_keys == cap) {
				cap *= 2;
				void *nk = realloc(keys, (size_t)cap * sizeof *keys);
				if (!nk) {
					free(keys);
					return qp_fail(e, "out of memory");
				}
				keys = nk;
			}
			keys[n_keys][0] = r;
			keys[n_keys][1] = tn.layer;
			g = n_keys++;
		}
		p->t[k].group = g;
	}
	free(keys);
	return 0;
}

int qp_opt_build(const qp_opt_tensor *t, int n, const qp_llq_layout *layout,
		 const qp_opt_config *cfg, qp_opt_term_fn term, void *ctx,
		 qp_opt_problem **out, qp_err *e)
{
	qp_opt_problem *p = calloc(1, sizeof *p);
	if (!p)
		return qp_fail(e, "out of memory");
	p->n = n;
	p->t = calloc((size_t)(n > 0 ? n : 1), sizeof *p->t);
	p->layout = *layout;
	p->tensors = t;
	p->term = term;
	p->term_ctx = ctx;
	p->node_limit = cfg->node_limit;
	if (!p->t) {
		free(p);
		return qp_fail(e, "out of memory");
	}
	for (int k = 0; k < n; k++) {
		if (build_tensor(p, k, cfg, e) != 0) {
			qp_opt_free(p);
			return -1;
		}
		if (p->t[k].fixed) {
			p->fixed_raw += p->t[k].bytes;
			p->fixed_padded += qp_llq_padded(p->t[k].bytes);
		}
	}
	if (assign_groups(p, cfg, e) != 0) {
		qp_opt_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

void qp_opt_free(qp_opt_problem *p)
{
	if (!p)
		return;
	for (int k = 0; k < p->n; k++)
		free(p->t[k].opt);
	free(p->t);
	free(p);
}

/* ---- solving --------------------------------------------------------- */

/* The free tensors as alloc input, bytes padded or not. */
typedef struct prepared {
	qp_alloc_tensor *at;
	qp_mckp_option *opts;
	int *tensor_of;   /* alloc index -> tensor index */
	int n;
	qp_alloc a;
} prepared;

static void prepared_free(prepared *q)
{
	free(q->at);
	free(q->opts);
	free(q->tensor_of);
	qp_alloc_free(&q->a);
}

static int prepare(const qp_opt_problem *p, bool padded, prepared *q, qp_err *e)
{
	memset(q, 0, sizeof *q);
	size_t total = 0;
	for (int k = 0; k < p->n; k++)
		total += (size_t)p->t[k].n_opt;
	q->at = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *q->at);
	q->opts = malloc((total > 0 ? total : 1) * sizeof *q->opts);
	q->tensor_of = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof(int));
	if (!q->at || !q->opts || !q->tensor_of) {
		prepared_free(q);
		return qp_fail(e, "out of memory");
	}
	size_t used = 0;
	for (int k = 0; k < p->n; k++) {
		const tstate *s = &p->t[k];
		if (s->fixed)
			continue;
		qp_mckp_option *o = &q->opts[used];
		for (int j = 0; j < s->n_opt; j++) {
			o[j].type = s->opt[j].type;
			o[j].bytes = padded ? qp_llq_padded(s->opt[j].bytes) : s->opt[j].bytes;
			o[j].loss = s->opt[j].term;
		}
		q->at[q->n].cand = o;
		q->at[q->n].n_cand = s->n_opt;
		q->at[q->n].group = s->group;
		q->tensor_of[q->n++] = k;
		used += (size_t)s->n_opt;
	}
	int bad;
	if (qp_alloc_build(q->at, q->n, &q->a, &bad, e) != 0) {
		if (bad >= 0)
			qp_fail_prefix(e, "tensor %s", p->tensors[q->tensor_of[bad]].name);
		prepared_free(q);
		return -1;
	}
	return 0;
}

/* Fills s from a type per tensor (free tensors' types already set). */
static void finish(const qp_opt_problem *p, qp_opt_solution *s)
{
	uint64_t raw = p->fixed_raw, file = p->layout.meta_bytes + p->fixed_padded;
	double loss = 0;
	for (int k = 0; k < p->n; k++) {
		const tstate *t = &p->t[k];
		if (t->fixed) {
			s->types[k] = p->tensors[k].type;
			continue;
		}
		for (int j = 0; j < t->n_opt; j++)
			if (t->opt[j].type == s->types[k]) {
				raw += t->opt[j].bytes;
				file += qp_llq_padded(t->opt[j].bytes);
				loss += t->opt[j].term;
			}
	}
	s->tensor_bytes = raw;
	s->n_bytes = file;
	s->bpw = qp_llq_bpw(raw, p->layout.n_elements);
	s->loss = loss;
}

void qp_opt_min_size(const qp_opt_problem *p, uint64_t *bytes, double *bpw)
{
	/* per tie group the type must be shared: take the alloc's view */
	prepared q;
	qp_err e;
	*bytes = 0;
	*bpw = 0;
	for (int padded = 0; padded < 2; padded++) {
		if (prepare(p, padded, &q, &e) != 0)
			return;
		uint64_t sum = 0;
		for (int i = 0; i < q.a.n_items; i++) {
			uint64_t m = UINT64_MAX;
			for (int j = 0; j < q.a.items[i].n_opt; j++)
				if (q.a.items[i].opt[j].bytes < m)
					m = q.a.items[i].opt[j].bytes;
			sum += m;
		}
		if (padded)
			*bytes = sum + p->layout.meta_bytes + p->fixed_padded;
		else
			*bpw = qp_llq_bpw(sum + p->fixed_raw, p->layout.n_elements);
		prepared_free(&q);
	}
}

static int alloc_types(qp_opt_solution *s, int n)
{
	memset(s, 0, sizeof *s);
	s->types = calloc((size_t)(n > 0 ? n : 1), sizeof *s->types);
	return s->types ? 0 : -1;
}

int qp_opt_solve(const qp_opt_problem *p, qp_opt_budget_kind kind,
		 double budget, qp_opt_solution *s, qp_err *e)
{
	if (alloc_types(s, p->n) != 0)
		return qp_fail(e, "out of memory");
	bool padded = kind == QP_OPT_BYTES;
	uint64_t over = padded ? p->layout.meta_bytes + p->fixed_padded : p->fixed_raw;
	long double cap = padded ? floorl((long double)budget)
				 : floorl((long double)budget * p->layout.n_elements / 8);
	uint64_t min_b;
	double min_bpw;
	if (!(budget >= 0) || cap < (long double)over) {
		qp_opt_min_size(p, &min_b, &min_bpw);
		qp_opt_solution_free(s);
		if (padded)
			return qp_fail(e, "budget of %.0f bytes is below the smallest possible size, %" PRIu64 " bytes (%.4f bpw)",
				       budget, min_b, min_bpw);
		return qp_fail(e, "budget of %g bpw is below the smallest possible, %.4f bpw (%" PRIu64 " bytes)",
			       budget, min_bpw, min_b);
	}
	uint64_t item_budget = cap - over >= 1.8e19L ? UINT64_MAX : (uint64_t)(cap - over);
	prepared q;
	if (prepare(p, padded, &q, e) != 0) {
		qp_opt_solution_free(s);
		return -1;
	}
	int *choice = malloc((size_t)(q.a.n_items > 0 ? q.a.n_items : 1) * sizeof *choice);
	if (!choice) {
		prepared_free(&q);
		qp_opt_solution_free(s);
		return qp_fail(e, "out of memory");
	}
	qp_mckp_result res;
	qp_mckp_opts mo = { .node_limit = p->node_limit };
	int rv = qp_mckp_solve(q.a.items, q.a.n_items, item_budget, &mo, choice, &res, e);
	if (rv != 0) {
		free(choice);
		prepared_free(&q);
		qp_opt_solution_free(s);
		if (rv == QP_MCKP_INFEASIBLE) {
			qp_opt_min_size(p, &min_b, &min_bpw);
			if (padded)
				return qp_fail(e, "budget of %.0f bytes is below the smallest possible size, %" PRIu64 " bytes (%.4f bpw)",
					       budget, min_b, min_bpw);
			return qp_fail(e, "budget of %g bpw is below the smallest possible, %.4f bpw (%" PRIu64 " bytes)",
				       budget, min_bpw, min_b);
		}
		return -1;
	}
	for (int i = 0; i < q.n; i++)
		s->types[q.tensor_of[i]] = qp_alloc_type(&q.a, choice, i);
	finish(p, s);
	s->bound = res.bound;
	s->gap = res.gap;
	s->exact = res.exact;
	s->nodes = res.nodes;
	/* the loss is the knapsack's own sum (same terms, item order) */
	s->loss = res.loss;
	free(choice);
	prepared_free(&q);
	return 0;
}

void qp_opt_solution_free(qp_opt_solution *s)
{
	free(s->types);
	memset(s, 0, sizeof *s);
}

int qp_opt_frontier(const qp_opt_problem *p, qp_opt_point_fn fn, void *ctx,
		    qp_err *e)
{
	prepared q;
	if (prepare(p, true, &q, e) != 0)
		return -1;
	qp_mckp_frontier f;
	if (qp_mckp_frontier_build(q.a.items, q.a.n_items, &f, e) != 0) {
		prepared_free(&q);
		return -1;
	}
	qp_opt_solution s;
	int rv = 0;
	if (alloc_types(&s, p->n) != 0) {
		rv = qp_fail(e, "out of memory");
		goto out;
	}
	int *cur = f.start;
	for (int64_t k = -1; k < f.n_steps && rv == 0; k++) {
		if (k >= 0)
			cur[f.steps[k].item] = f.steps[k].opt;
		for (int i = 0; i < q.n; i++)
			s.types[q.tensor_of[i]] = qp_alloc_type(&q.a, cur, i);
		finish(p, &s);
		double loss = 0;
		for (int i = 0; i < q.a.n_items; i++)
			loss += q.a.items[i].opt[cur[i]].loss;
		s.loss = loss;
		s.bound = loss;
		s.gap = 0;
		s.exact = true;
		rv = fn(ctx, &s, e);
	}
	qp_opt_solution_free(&s);
out:
	qp_mckp_frontier_free(&f);
	prepared_free(&q);
	return rv;
}

int qp_opt_evaluate(const qp_opt_problem *p, const uint32_t *types,
		    qp_opt_solution *s, qp_err *e)
{
	if (alloc_types(s, p->n) != 0)
		return qp_fail(e, "out of memory");
	uint64_t raw = p->fixed_raw, file = p->layout.meta_bytes + p->fixed_padded;
	double loss = 0;
	for (int k = 0; k < p->n; k++) {
		const qp_opt_tensor *t = &p->tensors[k];
		if (p->t[k].fixed) {
			s->types[k] = t->type;
			continue;
		}
		const qp_type_info *ti = qp_type_info_by_id(types[k]);
		if (!ti) {
			qp_opt_solution_free(s);
			return qp_fail(e, "tensor %s: unknown type id %u", t->name, (unsigned)types[k]);
		}
		double term;
		if (p->term(p->term_ctx, k, types[k], &term, e) != 0) {
			qp_opt_solution_free(s);
			return -1;
		}
		uint64_t nb;
		if (qp_type_nbytes(types[k], t->ne, t->n_dims, &nb, e) != 0) {
			qp_opt_solution_free(s);
			return qp_fail_prefix(e, "tensor %s", t->name);
		}
		s->types[k] = types[k];
		raw += nb;
		file += qp_llq_padded(nb);
		loss += term;
	}
	s->tensor_bytes = raw;
	s->n_bytes = file;
	s->bpw = qp_llq_bpw(raw, p->layout.n_elements);
	s->loss = loss;
	s->bound = loss;
	return 0;
}
