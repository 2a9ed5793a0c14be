/* mckp.c — multiple-choice knapsack: LP bound, rounding, exact core search. */
#include "mckp.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_NODE_LIMIT 4000000u

/* Per item: option indices sorted by (bytes, loss, type), and the lower
 * convex hull as positions into that order. */
typedef struct item_view {
	int *order; /* [n_opt] */
	int *hull;  /* [n_hull] indices into opt (not into order) */
	int n_hull;
} item_view;

typedef struct increment {
	int item, to; /* to: hull position reached */
	uint64_t db;
	double dl;    /* loss saved, > 0 */
} increment;

static bool opt_before(const qp_mckp_option *opt, int ia, int ib)
{
	const qp_mckp_option *a = &opt[ia], *b = &opt[ib];
	if (a->bytes != b->bytes)
		return a->bytes < b->bytes;
	if (a->loss != b->loss)
		return a->loss < b->loss;
	if (a->type != b->type)
		return a->type < b->type;
	return ia < ib;
}

/* An item has a handful of options: insertion sort, no shared state. */
static void sort_options(const qp_mckp_option *opt, int *idx, int n)
{
	for (int k = 1; k < n; k++) {
		int x = idx[k], p = k;
		while (p > 0 && opt_before(opt, x, idx[p - 1])) {
			idx[p] = idx[p - 1];
			p--;
		}
		idx[p] = x;
	}
}

/* Efficiency order: more loss saved per byte first; then item order, then
 * hull position (which follows bytes, then type id). */
static int cmp_inc(const void *pa, const void *pb)
{
	const increment *a = pa, *b = pb;
	double l = a->dl * (double)b->db, r = b->dl * (double)a->db;
	if (l != r)
		return l > r ? -1 : 1;
	if (a->item != b->item)
		return a->item < b->item ? -1 : 1;
	return a->to - b->to;
}

static void views_free(item_view *v, int n)
{
	if (!v)
		return;
	for (int i = 0; i < n; i++) {
		free(v[i].order);
		free(v[i].hull);
	}
	free(v);
}

static int build_views(const qp_mckp_item *items, int n, item_view **out,
		       int64_t *n_inc, qp_err *e)
{
	item_view *v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
	if (!v)
		return qp_fail(e, "out of memory");
	int64_t total = 0;
	for (int i = 0; i < n; i++) {
		const qp_mckp_item *it = &items[i];
		if (it->n_opt < 1 || !it->opt) {
			views_free(v, n);
			return qp_fail(e, "item %d has no option", i);
		}
		for (int j = 0; j < it->n_opt; j++)
			if (!isfinite(it->opt[j].loss)) {
				views_free(v, n);
				return qp_fail(e, "item %d option %d: loss is not finite", i, j);
			}
		v[i].order = malloc((size_t)it->n_opt * sizeof(int));
		v[i].hull = malloc((size_t)it->n_opt * sizeof(int));
		if (!v[i].order || !v[i].hull) {
			views_free(v, n);
			return qp_fail(e, "out of memory");
		}
		for (int j = 0; j < it->n_opt; j++)
			v[i].order[j] = j;
		sort_options(it->opt, v[i].order, it->n_opt);
		int *h = v[i].hull, nh = 0;
		for (int k = 0; k < it->n_opt; k++) {
			int c = v[i].order[k];
			const qp_mckp_option *oc = &it->opt[c];
			if (nh > 0 && !(oc->loss < it->opt[h[nh - 1]].loss))
				continue; /* dominated: no cheaper loss for more bytes */
			while (nh >= 2) {
				const qp_mckp_option *oa = &it->opt[h[nh - 2]];
				const qp_mckp_option *ob = &it->opt[h[nh - 1]];
				double g1 = (oa->loss - ob->loss) * (double)(oc->bytes - ob->bytes);
				double g2 = (ob->loss - oc->loss) * (double)(ob->bytes - oa->bytes);
				if (g1 < g2)
					nh--; /* b lies above the segment a-c */
				else
					break;
			}
			h[nh++] = c;
		}
		v[i].n_hull = nh;
		total += nh - 1;
	}
	*out = v;
	*n_inc = total;
	return 0;
}

static int build_increments(const qp_mckp_item *items, int n,
			    const item_view *v, int64_t n_inc,
			    increment **out, qp_err *e)
{
	increment *inc = malloc((size_t)(n_inc > 0 ? n_inc : 1) * sizeof *inc);
	if (!inc)
		return qp_fail(e, "out of memory");
	int64_t k = 0;
	for (int i = 0; i < n; i++)
		for (int p = 1; p < v[i].n_hull; p++) {
			const qp_mckp_option *a = &items[i].opt[v[i].hull[p - 1]];
			const qp_mckp_option *b = &items[i].opt[v[i].hull[p]];
			inc[k].item = i;
			inc[k].to = p;
			inc[k].db = b->bytes - a->bytes;
			inc[k].dl = a->loss - b->loss;
			k++;
		}
	qsort(inc, (size_t)n_inc, sizeof *inc, cmp_inc);
	*out = inc;
	return 0;
}

static int add_u64(uint64_t a, uint64_t b, uint64_t *s)
{
	if (a > UINT64_MAX - b)
		return -1;
	*s = a + b;
	return 0;
}

/* ---- exact search over the core ------------------------------------- */

typedef struct core_item {
	int item;
	int n;      /* surviving options, by reduced cost */
	int *opt;   /* option indices */
	double *rc; /* their reduced costs */
} core_item;

typedef struct search {
	const qp_mckp_item *items;
	core_item *core;
	int n_core;
	uint64_t budget;
	uint64_t *suffix_min; /* min bytes of core items k.. */
	uint64_t *suffix_max; /* max bytes of core items k.. (surviving options) */
	double lam;
	double lb, tol;
	double best;          /* incumbent loss */
	int *cur, *best_pick; /* per core item: position in core_item.opt */
	uint64_t nodes, limit;
	bool aborted;
} search;

/* Depth-first, iterative: pos[k] is the option position tried at depth k. */
static void dfs(search *s, uint64_t base_bytes, double base_loss,
		double base_rc)
{
	int n = s->n_core;
	if (n == 0)
		return;
	uint64_t *bytes = malloc((size_t)(n + 1) * sizeof *bytes);
	double *loss = malloc((size_t)(n + 1) * sizeof *loss);
	double *rcs = malloc((size_t)(n + 1) * sizeof *rcs);
	if (!bytes || !loss || !rcs) {
		s->aborted = true;
		free(bytes);
		free(loss);
		free(rcs);
		return;
	}
	bytes[0] = base_bytes;
	loss[0] = base_loss;
	rcs[0] = base_rc;
	int k = 0;
	s->cur[0] = -1;
	while (k >= 0) {
		core_item *c = &s->core[k];
		int p = ++s->cur[k];
		if (p >= c->n) {
			k--;
			continue;
		}
		if (++s->nodes > s->limit) {
			s->aborted = true;
			break;
		}
		double rc = rcs[k] + c->rc[p];
		/* options are in rc order: once the bound fails, so do the rest */
		if (s->lb + rc >= s->best - s->tol) {
			s->cur[k] = c->n;
			continue;
		}
		const qp_mckp_option *o = &s->items[c->item].opt[c->opt[p]];
		uint64_t b = bytes[k] + o->bytes;
		if (b < bytes[k] || b > s->budget || s->suffix_min[k + 1] > s->budget - b)
			continue;
		/* loss = lb + sum rc + lam * unused bytes: bytes the remaining
		 * items cannot use are a cost every completion pays */
		uint64_t room = s->budget - b;
		if (room > s->suffix_max[k + 1] &&
		    s->lb + rc + s->lam * (double)(room - s->suffix_max[k + 1]) >= s->best - s->tol)
			continue;
		if (k + 1 == n) {
			double l = loss[k] + o->loss;
			if (l < s->best - s->tol) {
				s->best = l;
				memcpy(s->best_pick, s->cur, (size_t)n * sizeof(int));
			}
			continue;
		}
		bytes[k + 1] = b;
		loss[k + 1] = loss[k] + o->loss;
		rcs[k + 1] = rc;
		k++;
		s->cur[k] = -1;
	}
	free(bytes);
	free(loss);
	free(rcs);
}

static void sort_by_rc(const double *rc, int *idx, int n)
{
	for (int k = 1; k < n; k++) {
		int x = idx[k], p = k;
		while (p > 0 && (rc[x] < rc[idx[p - 1]] ||
				 (rc[x] == rc[idx[p - 1]] && x < idx[p - 1]))) {
			idx[p] = idx[p - 1];
			p--;
		}
		idx[p] = x;
	}
}

/* Reduced-cost fixing at multiplier lam, then the exact search.  Returns
 * -1 only on allocation failure; sets exact when the search completed. */
/* The bytes and the loss of a choice, summed in item order. */
static double choice_totals(const qp_mckp_item *items, int n, const int *choice,
			    uint64_t *bytes)
{
	uint64_t tb = 0;
	double tl = 0;
	for (int i = 0; i < n; i++) {
		tb += items[i].opt[choice[i]].bytes;
		tl += items[i].opt[choice[i]].loss;
	}
	*bytes = tb;
	return tl;
}

static int exact_search(const qp_mckp_item *items, int n, uint64_t budget,
			double lam, int *choice, qp_mckp_result *res,
			uint64_t limit, qp_err *e)
{
	double lb = -lam * (double)budget;
	double *mins = malloc((size_t)n * sizeof *mins);
	if (!mins)
		return qp_fail(e, "out of memory");
	for (int i = 0; i < n; i++) {
		double m = INFINITY;
		for (int j = 0; j < items[i].n_opt; j++) {
			double r = items[i].opt[j].loss + lam * (double)items[i].opt[j].bytes;
			if (r < m)
				m = r;
		}
		mins[i] = m;
		lb += m;
	}
	if (lb > res->bound)
		res->bound = lb;
	double U = res->loss;
	double tol = 1e-12 * fmax(fabs(U), fabs(lb)) + 1e-300;
	double G = U - lb;
	if (G <= tol) {
		free(mins);
		res->bound = U;
		res->exact = true;
		return 0;
	}
	core_item *core = calloc((size_t)n, sizeof *core);
	double *rcbuf = NULL;
	int n_core = 0;
	uint64_t fixed_bytes = 0;
	double fixed_loss = 0, fixed_rc = 0;
	int rc_cap = 0;
	for (int i = 0; i < n; i++)
		if (items[i].n_opt > rc_cap)
			rc_cap = items[i].n_opt;
	rcbuf = malloc((size_t)rc_cap * sizeof *rcbuf);
	if (!core || !rcbuf) {
		free(mins);
		free(core);
		free(rcbuf);
		return qp_fail(e, "out of memory");
	}
	int rc_fail = 0;
	for (int i = 0; i < n && !rc_fail; i++) {
		int keep = 0;
		for (int j = 0; j < items[i].n_opt; j++) {
			rcbuf[j] = items[i].opt[j].loss + lam * (double)items[i].opt[j].bytes - mins[i];
			if (rcbuf[j] <= G + tol)
				keep++;
		}
		if (keep <= 1) {
			/* the incumbent's option always survives */
			const qp_mckp_option *o = &items[i].opt[choice[i]];
			fixed_bytes += o->bytes;
			fixed_loss += o->loss;
			fixed_rc += rcbuf[choice[i]];
			continue;
		}
		core_item *c = &core[n_core++];
		c->item = i;
		c->opt = malloc((size_t)keep * sizeof(int));
		c->rc = malloc((size_t)keep * sizeof(double));
		if (!c->opt || !c->rc) {
			rc_fail = 1;
			break;
		}
		c->n = 0;
		for (int j = 0; j < items[i].n_opt; j++)
			if (rcbuf[j] <= G + tol)
				c->opt[c->n++] = j;
		sort_by_rc(rcbuf, c->opt, c->n);
		for (int p = 0; p < c->n; p++)
			c->rc[p] = rcbuf[c->opt[p]];
	}
	res->core = n_core;
	search s = { .items = items, .core = core, .n_core = n_core,
		     .budget = budget, .lb = lb, .tol = tol, .best = U,
		     .limit = limit };
	s.lam = lam;
	s.suffix_min = malloc((size_t)(n_core + 1) * sizeof(uint64_t));
	s.suffix_max = malloc((size_t)(n_core + 1) * sizeof(uint64_t));
	s.cur = malloc((size_t)(n_core + 1) * sizeof(int));
	s.best_pick = malloc((size_t)(n_core + 1) * sizeof(int));
	int rv = 0;
	if (rc_fail || !s.suffix_min || !s.suffix_max || !s.cur || !s.best_pick) {
		rv = qp_fail(e, "out of memory");
		goto out;
	}
	s.suffix_min[n_core] = 0;
	s.suffix_max[n_core] = 0;
	for (int k = n_core - 1; k >= 0; k--) {
		uint64_t m = UINT64_MAX, x = 0;
		for (int p = 0; p < core[k].n; p++) {
			uint64_t b = items[core[k].item].opt[core[k].opt[p]].bytes;
			if (b < m)
				m = b;
			if (b > x)
				x = b;
		}
		s.suffix_min[k] = s.suffix_min[k + 1] + m;
		s.suffix_max[k] = s.suffix_max[k + 1] + x;
	}
	if (fixed_bytes <= budget) {
		for (int k = 0; k < n_core; k++)
			s.best_pick[k] = -1;
		dfs(&s, fixed_bytes, fixed_loss, fixed_rc);
	} else {
		s.aborted = true;
	}
	res->nodes = s.nodes;
	if (s.best < U) {
		for (int k = 0; k < n_core; k++)
			choice[core[k].item] = core[k].opt[s.best_pick[k]];
		res->loss = choice_totals(items, n, choice, &res->bytes);
	}
	if (!s.aborted) {
		res->exact = true;
		res->bound = res->loss;
	}
out:
	for (int k = 0; k < n_core; k++) {
		free(core[k].opt);
		free(core[k].rc);
	}
	free(core);
	free(rcbuf);
	free(mins);
	free(s.suffix_min);
	free(s.suffix_max);
	free(s.cur);
	free(s.best_pick);
	return rv;
}

/* Best single move that fits: the largest loss decrease, first item and
 * first option (in byte order) on ties.  Repeated until none helps. */
static void improve(const qp_mckp_item *items, const item_view *v, int n,
		    int *choice, uint64_t *bytes, double *loss, uint64_t budget)
{
	for (;;) {
		uint64_t rem = budget - *bytes;
		int bi = -1, bj = -1;
		double bd = 0;
		for (int i = 0; i < n; i++) {
			const qp_mckp_option *c = &items[i].opt[choice[i]];
			for (int k = 0; k < items[i].n_opt; k++) {
				int j = v[i].order[k];
				const qp_mckp_option *o = &items[i].opt[j];
				if (o->bytes > c->bytes && o->bytes - c->bytes > rem)
					break; /* order is by bytes */
				double d = o->loss - c->loss;
				if (d < bd) {
					bd = d;
					bi = i;
					bj = j;
				}
			}
		}
		if (bi < 0)
			return;
		const qp_mckp_option *c = &items[bi].opt[choice[bi]];
		const qp_mckp_option *o = &items[bi].opt[bj];
		*bytes = *bytes - c->bytes + o->bytes;
		*loss += o->loss - c->loss;
		choice[bi] = bj;
	}
}

int qp_mckp_solve(const qp_mckp_item *items, int n, uint64_t budget,
		  const qp_mckp_opts *opts, int *choice, qp_mckp_result *res,
		  qp_err *e)
{
	memset(res, 0, sizeof *res);
	if (n < 0)
		return qp_fail(e, "negative item count");
	item_view *v = NULL;
	increment *inc = NULL;
	int64_t n_inc = 0;
	if (build_views(items, n, &v, &n_inc, e))
		return -1;
	uint64_t min_bytes = 0;
	double loss = 0;
	for (int i = 0; i < n; i++) {
		const qp_mckp_option *o = &items[i].opt[v[i].hull[0]];
		if (add_u64(min_bytes, o->bytes, &min_bytes)) {
			views_free(v, n);
			return qp_fail(e, "total bytes overflow 64 bits");
		}
		loss += o->loss;
		choice[i] = v[i].hull[0];
	}
	res->min_bytes = min_bytes;
	if (min_bytes > budget) {
		views_free(v, n);
		qp_fail(e, "budget of %" PRIu64 " bytes is below the smallest possible size, %" PRIu64 " bytes",
			budget, min_bytes);
		return QP_MCKP_INFEASIBLE;
	}
	if (build_increments(items, n, v, n_inc, &inc, e)) {
		views_free(v, n);
		return -1;
	}
	int *pos = calloc((size_t)(n > 0 ? n : 1), sizeof *pos);
	char *blocked = calloc((size_t)(n > 0 ? n : 1), 1);
	if (!pos || !blocked) {
		free(pos);
		free(blocked);
		free(inc);
		views_free(v, n);
		return qp_fail(e, "out of memory");
	}
	uint64_t bytes = min_bytes, rem = budget - min_bytes;
	bool critical = false;
	double lam = 0, bound = 0;
	for (int64_t k = 0; k < n_inc; k++) {
		const increment *c = &inc[k];
		if (blocked[c->item] || pos[c->item] != c->to - 1)
			continue;
		if (c->db <= rem) {
			rem -= c->db;
			bytes += c->db;
			loss -= c->dl;
			pos[c->item] = c->to;
			choice[c->item] = v[c->item].hull[c->to];
			continue;
		}
		if (!critical) {
			critical = true;
			lam = c->dl / (double)c->db;
			bound = loss - (double)rem * lam;
		}
		blocked[c->item] = 1;
	}
	free(pos);
	free(blocked);
	free(inc);
	int rv = 0;
	res->bytes = bytes;
	res->loss = loss;
	if (!critical) {
		/* every item at its least-loss option: nothing can do better */
		res->bound = loss;
		res->exact = true;
	} else {
		improve(items, v, n, choice, &res->bytes, &res->loss, budget);
		res->bound = bound;
		uint64_t limit = opts && opts->node_limit ? opts->node_limit : DEFAULT_NODE_LIMIT;
		rv = exact_search(items, n, budget, lam, choice, res, limit, e);
		if (res->bound > res->loss)
			res->bound = res->loss;
	}
	/* recompute the totals in item order: the reported loss is the plain
	 * sum of the chosen options, whatever path found them */
	double tl = choice_totals(items, n, choice, &res->bytes);
	if (res->exact)
		res->bound = tl;
	res->loss = tl;
	res->gap = tl != 0 ? (tl - res->bound) / fabs(tl) : 0;
	if (res->gap < 0)
		res->gap = 0;
	views_free(v, n);
	return rv;
}

int qp_mckp_frontier_build(const qp_mckp_item *items, int n,
			   qp_mckp_frontier *f, qp_err *e)
{
	memset(f, 0, sizeof *f);
	item_view *v = NULL;
	increment *inc = NULL;
	int64_t n_inc = 0;
	if (build_views(items, n, &v, &n_inc, e))
		return -1;
	if (build_increments(items, n, v, n_inc, &inc, e)) {
		views_free(v, n);
		return -1;
	}
	f->start = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
	f->steps = malloc((size_t)(n_inc > 0 ? n_inc : 1) * sizeof *f->steps);
	if (!f->start || !f->steps) {
		free(inc);
		views_free(v, n);
		qp_mckp_frontier_free(f);
		return qp_fail(e, "out of memory");
	}
	uint64_t bytes = 0;
	double loss = 0;
	for (int i = 0; i < n; i++) {
		const qp_mckp_option *o = &items[i].opt[v[i].hull[0]];
		if (add_u64(bytes, o->bytes, &bytes)) {
			free(inc);
			views_free(v, n);
			qp_mckp_frontier_free(f);
			return qp_fail(e, "total bytes overflow 64 bits");
		}
		loss += o->loss;
		f->start[i] = v[i].hull[0];
	}
	f->start_bytes = bytes;
	f->start_loss = loss;
	for (int64_t k = 0; k < n_inc; k++) {
		const increment *c = &inc[k];
		if (add_u64(bytes, c->db, &bytes)) {
			free(inc);
			views_free(v, n);
			qp_mckp_frontier_free(f);
			return qp_fail(e, "total bytes overflow 64 bits");
		}
		loss -= c->dl;
		f->steps[k].item = c->item;
		f->steps[k].opt = v[c->item].hull[c->to];
		f->steps[k].bytes = bytes;
		f->steps[k].loss = loss;
	}
	f->n_steps = n_inc;
	free(inc);
	views_free(v, n);
	return 0;
}

void qp_mckp_frontier_free(qp_mckp_frontier *f)
{
	free(f->start);
	free(f->steps);
	memset(f, 0, sizeof *f);
}

/* ---- tensors and tie groups ----------------------------------------- */

void qp_alloc_free(qp_alloc *a)
{
	free(a->items);
	free(a->item_of);
	free(a->opt_store);
	free(a->members);
	free(a->member_start);
	memset(a, 0, sizeof *a);
}

static const qp_mckp_option *find_type(const qp_alloc_tensor *t, uint32_t type)
{
	for (int j = 0; j < t->n_cand; j++)
		if (t->cand[j].type == type)
			return &t->cand[j];
	return NULL;
}

int qp_alloc_build(const qp_alloc_tensor *t, int n, qp_alloc *a,
		   int *bad_tensor, qp_err *e)
{
	memset(a, 0, sizeof *a);
	*bad_tensor = -1;
	size_t total = 0;
	for (int k = 0; k < n; k++) {
		if (t[k].n_cand < 1) {
			*bad_tensor = k;
			return qp_fail(e, "no candidate type");
		}
		total += (size_t)t[k].n_cand;
	}
	a->n_tensors = n;
	a->items = malloc((size_t)(n > 0 ? n : 1) * sizeof *a->items);
	a->item_of = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
	a->opt_store = malloc((total > 0 ? total : 1) * sizeof *a->opt_store);
	a->members = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
	a->member_start = malloc((size_t)(n + 1) * sizeof(int));
	int *first_of_group = NULL;
	int max_group = -1;
	for (int k = 0; k < n; k++)
		if (t[k].group > max_group)
			max_group = t[k].group;
	first_of_group = malloc((size_t)(max_group + 2) * sizeof(int));
	if (!a->items || !a->item_of || !a->opt_store || !a->members ||
	    !a->member_start || !first_of_group) {
		free(first_of_group);
		qp_alloc_free(a);
		return qp_fail(e, "out of memory");
	}
	for (int g = 0; g <= max_group; g++)
		first_of_group[g] = -1;
	/* items in the order of their first tensor */
	int n_items = 0;
	for (int k = 0; k < n; k++) {
		int g = t[k].group;
		if (g >= 0 && first_of_group[g] >= 0) {
			a->item_of[k] = a->item_of[first_of_group[g]];
			continue;
		}
		if (g >= 0)
			first_of_group[g] = k;
		a->item_of[k] = n_items++;
	}
	/* members listed item by item */
	int *count = calloc((size_t)(n_items + 1), sizeof(int));
	if (!count) {
		free(first_of_group);
		qp_alloc_free(a);
		return qp_fail(e, "out of memory");
	}
	for (int k = 0; k < n; k++)
		count[a->item_of[k]]++;
	a->member_start[0] = 0;
	for (int i = 0; i < n_items; i++)
		a->member_start[i + 1] = a->member_start[i] + count[i];
	for (int i = 0; i < n_items; i++)
		count[i] = a->member_start[i];
	for (int k = 0; k < n; k++)
		a->members[count[a->item_of[k]]++] = k;
	free(count);
	free(first_of_group);
	size_t used = 0;
	for (int i = 0; i < n_items; i++) {
		const int *m = &a->members[a->member_start[i]];
		int nm = a->member_start[i + 1] - a->member_start[i];
		const qp_alloc_tensor *lead = &t[m[0]];
		qp_mckp_option *o = &a->opt_store[used];
		int no = 0;
		for (int j = 0; j < lead->n_cand; j++) {
			qp_mckp_option sum = lead->cand[j];
			bool all = true;
			for (int q = 1; q < nm && all; q++) {
				const qp_mckp_option *c = find_type(&t[m[q]], sum.type);
				if (!c) {
					all = false;
					break;
				}
				if (add_u64(sum.bytes, c->bytes, &sum.bytes)) {
					qp_alloc_free(a);
					*bad_tensor = m[q];
					return qp_fail(e, "tie group bytes overflow 64 bits");
				}
				sum.loss += c->loss;
			}
			if (all)
				o[no++] = sum;
		}
		if (no == 0) {
			*bad_tensor = m[0];
			qp_alloc_free(a);
			return qp_fail(e, "the tensors tied with it have no candidate type in common");
		}
		a->items[i].opt = o;
		a->items[i].n_opt = no;
		used += (size_t)no;
	}
	a->n_items = n_items;
	return 0;
}

uint32_t qp_alloc_type(const qp_alloc *a, const int *choice, int k)
{
	int i = a->item_of[k];
	return a->items[i].opt[choice[i]].type;
}
