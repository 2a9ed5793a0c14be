/* mckp: the knapsack against brute force, its bound, the frontier, ties,
 * infeasible budgets. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>

#include "../tap.h"
#include "mckp.h"

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* Brute force: the least loss within budget; ties by lexicographic choice
 * (which the solver need not match: only the loss is compared). */
static double brute(const qp_mckp_item *it, int n, uint64_t budget,
		    int *found)
{
	int idx[8] = { 0 };
	double best = INFINITY;
	*found = 0;
	for (;;) {
		uint64_t b = 0;
		double l = 0;
		for (int i = 0; i < n; i++) {
			b += it[i].opt[idx[i]].bytes;
			l += it[i].opt[idx[i]].loss;
		}
		if (b <= budget && l < best) {
			best = l;
			*found = 1;
		}
		int k = 0;
		while (k < n && ++idx[k] == it[k].n_opt)
			idx[k++] = 0;
		if (k == n)
			break;
	}
	return best;
}

static void random_instance(qp_mckp_option opt[8][6], qp_mckp_item *it,
			    int n, int convexish)
{
	for (int i = 0; i < n; i++) {
		int no = 1 + (int)(rnd() % 6);
		uint64_t base = 100 + rnd() % 1000;
		double l0 = 1 + (double)(rnd() % 1000) / 10;
		for (int j = 0; j < no; j++) {
			opt[i][j].type = (uint32_t)(10 + j);
			if (convexish) {
				opt[i][j].bytes = base * (uint64_t)(j + 2);
				opt[i][j].loss = l0 / (double)((j + 1) * (j + 1)) +
						 (double)(rnd() % 100) / 1000;
			} else {
				/* arbitrary: repeated sizes, dominated options */
				opt[i][j].bytes = 1 + rnd() % 50;
				opt[i][j].loss = (double)(rnd() % 200) / 4;
			}
		}
		it[i].opt = opt[i];
		it[i].n_opt = no;
	}
}

static void test_random(void)
{
	int bad_loss = 0, bad_budget = 0, bad_bound = 0, bad_feas = 0,
	    inexact = 0, runs = 0;
	for (int r = 0; r < 3000; r++) {
		qp_mckp_option opt[8][6];
		qp_mckp_item it[8];
		int n = 1 + (int)(rnd() % 7);
		random_instance(opt, it, n, r % 2);
		uint64_t lo = 0, hi = 0;
		for (int i = 0; i < n; i++) {
			uint64_t mn = UINT64_MAX, mx = 0;
			for (int j = 0; j < it[i].n_opt; j++) {
				if (it[i].opt[j].bytes < mn)
					mn = it[i].opt[j].bytes;
				if (it[i].opt[j].bytes > mx)
					mx = it[i].opt[j].bytes;
			}
			lo += mn;
			hi += mx;
		}
		uint64_t budget = lo + (hi > lo ? rnd() % (hi - lo + 1) : 0);
		int found;
		double want = brute(it, n, budget, &found);
		int choice[8];
		qp_mckp_result res;
		qp_err e;
		int rv = qp_mckp_solve(it, n, budget, NULL, choice, &res, &e);
		runs++;
		if (!found || rv != 0) {
			bad_feas++;
			continue;
		}
		uint64_t b = 0;
		double l = 0;
		for (int i = 0; i < n; i++) {
			b += it[i].opt[choice[i]].bytes;
			l += it[i].opt[choice[i]].loss;
		}
		if (b > budget || b != res.bytes)
			bad_budget++;
		if (fabs(l - want) > 1e-9 * fmax(1, fabs(want)) ||
		    fabs(res.loss - l) > 1e-9 * fmax(1, fabs(l)))
			bad_loss++;
		if (res.bound > want + 1e-9 * fmax(1, fabs(want)))
			bad_bound++;
		if (!res.exact)
			inexact++;
	}
	is_int(bad_feas, 0, "%d random instances: all feasible ones solved", runs);
	is_int(bad_budget, 0, "every choice within budget, bytes reported right");
	is_int(bad_loss, 0, "every loss equals brute force's optimum");
	is_int(bad_bound, 0, "the bound never exceeds the optimum");
	is_int(inexact, 0, "small instances are proven exact");
}

/* The LP bound alone (node limit 1) is a true lower bound and the rounding
 * stays feasible. */
static void test_bound_only(void)
{
	int bad = 0;
	for (int r = 0; r < 500; r++) {
		qp_mckp_option opt[8][6];
		qp_mckp_item it[8];
		int n = 2 + (int)(rnd() % 6);
		random_instance(opt, it, n, 1);
		uint64_t budget = 0;
		for (int i = 0; i < n; i++)
			budget += it[i].opt[it[i].n_opt / 2].bytes;
		int found;
		double want = brute(it, n, budget, &found);
		int choice[8];
		qp_mckp_result res;
		qp_err e;
		qp_mckp_opts o = { .node_limit = 1 };
		if (qp_mckp_solve(it, n, budget, &o, choice, &res, &e) != 0 ||
		    res.bound > want + 1e-9 || res.loss < want - 1e-9 ||
		    res.bytes > budget || res.gap < 0)
			bad++;
	}
	is_int(bad, 0, "with no search: bound <= optimum <= loss, within budget");
}

static void test_infeasible(void)
{
	qp_mckp_option a[] = { { 10, 5, 1 }, { 20, 1, 2 } };
	qp_mckp_option b[] = { { 7, 3, 1 }, { 30, 0, 2 } };
	qp_mckp_item it[] = { { a, 2 }, { b, 2 } };
	int choice[2];
	qp_mckp_result res;
	qp_err e;
	int rv = qp_mckp_solve(it, 2, 16, NULL, choice, &res, &e);
	is_int(rv, QP_MCKP_INFEASIBLE, "budget below the smallest size is infeasible");
	is_int(res.min_bytes, 17, "and names the smallest size");
	ok(strstr(e.msg, "17 bytes") != NULL, "message says it: %s", e.msg);
	rv = qp_mckp_solve(it, 2, 17, NULL, choice, &res, &e);
	is_int(rv, 0, "exactly the smallest size is feasible");
	is_int(choice[0] * 10 + choice[1], 0, "and takes the smallest options");
	rv = qp_mckp_solve(it, 2, 1000, NULL, choice, &res, &e);
	ok(rv == 0 && res.exact && res.loss == 0 + 1 && res.gap == 0,
	   "an ample budget takes every least-loss option, exact");
}

static void test_ties_break(void)
{
	/* Two identical items, budget for one upgrade: the first item gets it. */
	qp_mckp_option a[] = { { 10, 5, 1 }, { 20, 1, 2 } };
	qp_mckp_item it[] = { { a, 2 }, { a, 2 } };
	int choice[2];
	qp_mckp_result res;
	qp_err e;
	qp_mckp_solve(it, 2, 30, NULL, choice, &res, &e);
	ok(choice[0] == 1 && choice[1] == 0, "equal moves: the first item wins");
	/* Same bytes and loss under two type ids: the lower id is kept. */
	qp_mckp_option c[] = { { 10, 2, 9 }, { 10, 2, 3 } };
	qp_mckp_item it2[] = { { c, 2 } };
	qp_mckp_solve(it2, 1, 10, NULL, choice, &res, &e);
	is_int(c[choice[0]].type, 3, "equal options: the lower type id");
}

static void test_frontier(void)
{
	int bad = 0;
	for (int r = 0; r < 300; r++) {
		qp_mckp_option opt[8][6];
		qp_mckp_item it[8];
		int n = 1 + (int)(rnd() % 6);
		random_instance(opt, it, n, r % 2);
		qp_mckp_frontier f;
		qp_err e;
		if (qp_mckp_frontier_build(it, n, &f, &e)) {
			bad++;
			continue;
		}
		int cur[8];
		memcpy(cur, f.start, (size_t)n * sizeof(int));
		for (int64_t k = -1; k < f.n_steps; k++) {
			if (k >= 0)
				cur[f.steps[k].item] = f.steps[k].opt;
			uint64_t b = 0;
			double l = 0;
			for (int i = 0; i < n; i++) {
				b += it[i].opt[cur[i]].bytes;
				l += it[i].opt[cur[i]].loss;
			}
			uint64_t want_b = k < 0 ? f.start_bytes : f.steps[k].bytes;
			double want_l = k < 0 ? f.start_loss : f.steps[k].loss;
			int found;
			double opt_l = brute(it, n, b, &found);
			if (b != want_b || fabs(l - want_l) > 1e-9 * fmax(1, l) ||
			    fabs(l - opt_l) > 1e-9 * fmax(1, l))
				bad++;
			if (k >= 0 && (k > 0 ? f.steps[k - 1].bytes : f.start_bytes) >= b)
				bad++;
		}
		qp_mckp_frontier_free(&f);
	}
	is_int(bad, 0, "every frontier point: totals right, sizes increasing, optimal for its size");
}

static void test_alloc(void)
{
	/* tensor 0 and 2 tied; tensor 1 alone; tensor 2 lacks type 12 */
	qp_mckp_option t0[] = { { 10, 4, 10 }, { 20, 2, 11 }, { 30, 1, 12 } };
	qp_mckp_option t1[] = { { 5, 9, 10 }, { 15, 1, 11 } };
	qp_mckp_option t2[] = { { 20, 0.5, 11 }, { 12, 3, 10 } };
	qp_alloc_tensor ts[] = { { t0, 3, 7 }, { t1, 2, -1 }, { t2, 2, 7 } };
	qp_alloc a;
	qp_err e;
	int bad = -2;
	is_int(qp_alloc_build(ts, 3, &a, &bad, &e), 0, "alloc builds");
	is_int(a.n_items, 2, "a tie group is one item");
	is_int(a.item_of[0], a.item_of[2], "tied tensors share an item");
	is_int(a.items[a.item_of[0]].n_opt, 2, "only the types all members have");
	const qp_mckp_option *o = a.items[a.item_of[0]].opt;
	ok(o[0].type == 10 && o[0].bytes == 22 && o[0].loss == 7 &&
	   o[1].type == 11 && o[1].bytes == 40 && o[1].loss == 2.5,
	   "bytes and losses summed per type");
	int choice[2];
	qp_mckp_result res;
	/* 22+15 = 37 fits, 40+5 = 45 fits: 2.5+9 = 11.5 vs 7+1 = 8 */
	qp_mckp_solve(a.items, a.n_items, 45, NULL, choice, &res, &e);
	ok(qp_alloc_type(&a, choice, 0) == 10 && qp_alloc_type(&a, choice, 2) == 10 &&
	   qp_alloc_type(&a, choice, 1) == 11, "tied tensors get one type");
	qp_alloc_free(&a);
	/* a pin that contradicts the tie: no common type */
	qp_mckp_option p0[] = { { 30, 1, 12 } };
	qp_alloc_tensor ts2[] = { { p0, 1, 0 }, { t2, 2, 0 } };
	ok(qp_alloc_build(ts2, 2, &a, &bad, &e) == -1 && bad == 0,
	   "a tie group without a common type fails naming its first tensor: %s", e.msg);
	qp_alloc_tensor ts3[] = { { t0, 3, -1 }, { t1, 0, -1 } };
	ok(qp_alloc_build(ts3, 2, &a, &bad, &e) == -1 && bad == 1,
	   "a tensor without candidates fails naming it");
}

int main(void)
{
	test_random();
	test_bound_only();
	test_infeasible();
	test_ties_break();
	test_frontier();
	test_alloc();
	done_testing();
	return exit_status();
}
