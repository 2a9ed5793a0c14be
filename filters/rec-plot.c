/* rec-plot — recipes and measured runs as an SVG picture. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "compare_rec.h"
#include "filter.h"
#include "plot.h"
#include "rec.h"
#include "recipe.h"

static const char usage[] =
	"Usage: rec-plot [options] [FILE ...]\n"
	"Draws recipe and measure records (FILE or standard input) as one SVG:\n"
	"predicted loss against bits per weight with the interval band of our\n"
	"frontier (recipes from recipe-emit), other recipes (named mixes,\n"
	"files) as labelled points, measured runs with error bars; below it a\n"
	"layer x role map of one recipe's types.\n"
	"\n"
	"  -T, --target NAME   kld_mean or ln_ppl_ratio (default: the first\n"
	"                      recipe's pred.target, else kld_mean)\n"
	"  -m, --map N         the map shows the Nth recipe record (1-based;\n"
	"                      0: no map; default: the first recipe-emit recipe\n"
	"                      that carries optimal, else the first recipe)\n"
	"      --title TEXT    the picture's title\n"
	"  -C, --compare       checkpoints compared instead: each model's predicted\n"
	"                      loss at each budget (recipe records) with intervals,\n"
	"                      and a table of their sizes, predictions and most\n"
	"                      sensitive tensors (model and sens-score's tensor\n"
	"                      records), one line per model id\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Exit status: 0 success, 1 bad input or failed output, 2 bad usage.\n";

enum { OPT_TITLE = 256 };

static const struct option long_opts[] = {
	{"target", required_argument, NULL, 'T'},
	{"map", required_argument, NULL, 'm'},
	{"title", required_argument, NULL, OPT_TITLE},
	{"compare", no_argument, NULL, 'C'},
	{0},
};

typedef struct state {
	const char *target; /* chosen or NULL until the first pred */
	long map_index;     /* -1: default */
	const char *title;
	bool compare;
	qp_compare cmp;
	qp_plot_point *pts;
	int n_pts;
	size_t cap_pts;
	qp_recipe *recipes;
	bool *frontier;
	int n_recipes, cap_recipes;
	int n_without_pred;
} state;

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	state *s = ctx;
	long v;
	switch (opt) {
	case 'T':
		if (strcmp(arg, "kld_mean") != 0 && strcmp(arg, "ln_ppl_ratio") != 0)
			return qp_fail(e, "--target: want kld_mean or ln_ppl_ratio, not '%s'", arg);
		s->target = arg;
		return 0;
	case 'm':
		if (qp_parse_long(arg, 0, 1000000000L, &v, e) != 0)
			return -1;
		s->map_index = v;
		return 0;
	case OPT_TITLE:
		s->title = arg;
		return 0;
	case 'C':
		s->compare = true;
		return 0;
	}
	return qp_fail(e, "unknown option");
}

static qp_plot_point *new_point(state *s, qp_err *e)
{
	if ((size_t)s->n_pts == s->cap_pts) {
		qp_plot_point *np = qp_grow(s->pts, &s->cap_pts, sizeof *np, 64);
		if (!np) {
			qp_fail(e, "out of memory");
			return NULL;
		}
		s->pts = np;
	}
	qp_plot_point *p = &s->pts[s->n_pts++];
	memset(p, 0, sizeof *p);
	return p;
}

static bool num(const msgpack_object *m, const char *key, double *out)
{
	const msgpack_object *o = m ? qp_map_get(m, key) : NULL;
	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)
		*out = o->via.f64;
	else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		*out = (double)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*out = (double)o->via.i64;
	else
		return false;
	return true;
}

static void copy_label(char *dst, size_t n, const msgpack_object *o)
{
	size_t l = o->via.str.size < n - 1 ? o->via.str.size : n - 1;
	memcpy(dst, o->via.str.ptr, l);
	dst[l] = 0;
}

static int add_recipe(state *s, const qp_record *rec, qp_err *e)
{
	if (s->n_recipes == s->cap_recipes) {
		int cap = s->cap_recipes ? 2 * s->cap_recipes : 16;
		void *nr = realloc(s->recipes, (size_t)cap * sizeof *s->recipes);
		if (!nr)
			return qp_fail(e, "out of memory");
		s->recipes = nr;
		void *nf = realloc(s->frontier, (size_t)cap * sizeof *s->frontier);
		if (!nf)
			return qp_fail(e, "out of memory");
		s->frontier = nf;
		s->cap_recipes = cap;
	}
	qp_recipe *r = &s->recipes[s->n_recipes];
	if (qp_recipe_from_record(rec, r, e) != 0)
		return -1;
	s->frontier[s->n_recipes] = strcmp(r->source, "recipe-emit") == 0;
	s->n_recipes++;
	const msgpack_object *pred = qp_map_get(&rec->map, "pred");
	double v, lo, hi;
	if (!pred || pred->type != MSGPACK_OBJECT_MAP || !num(pred, "value", &v)) {
		s->n_without_pred++;
		return 0;
	}
	const msgpack_object *tg = qp_map_get(pred, "target");
	if (tg && tg->type == MSGPACK_OBJECT_STR) {
		if (!s->target)
			s->target = tg->via.str.size == 8 && memcmp(tg->via.str.ptr, "kld_mean", 8) == 0
					    ? "kld_mean" : "ln_ppl_ratio";
		if (!qp_obj_str_eq(tg, s->target)) {
			s->n_without_pred++;
			return 0;
		}
	}
	qp_plot_point *p = new_point(s, e);
	if (!p)
		return -1;
	p->kind = s->frontier[s->n_recipes - 1] ? QP_PLOT_FRONTIER : QP_PLOT_NAMED;
	p->bpw = r->bpw;
	p->bytes = (double)r->n_bytes;
	p->y = v;
	if (num(pred, "lo", &lo) && num(pred, "hi", &hi)) {
		p->lo = lo;
		p->hi = hi;
		p->has_interval = true;
	}
	const char *src = r->source;
	snprintf(p->label, sizeof p->label, "%s", strncmp(src, "mix:", 4) == 0 ? src + 4 : src);
	return 0;
}

static int add_measure(state *s, const qp_record *rec, qp_err *e)
{
	const char *target = s->target ? s->target : "kld_mean";
	double y, bpw, err = 0;
	if (!num(&rec->map, target, &y) || !num(&rec->map, "bpw", &bpw))
		return 0; /* a question (no result) or another target */
	char ek[32];
	snprintf(ek, sizeof ek, "%s_err", target);
	qp_plot_point *p = new_point(s, e);
	if (!p)
		return -1;
	p->kind = QP_PLOT_MEASURED;
	p->bpw = bpw;
	p->y = y;
	if (num(&rec->map, ek, &err)) {
		p->lo = y - err > 0 || strcmp(target, "kld_mean") != 0 ? y - err : 0;
		p->hi = y + err;
		p->has_interval = true;
	}
	const msgpack_object *path = qp_map_get(&rec->map, "path");
	if (path && path->type == MSGPACK_OBJECT_STR) {
		char buf[256];
		copy_label(buf, sizeof buf, path);
		const char *base = strrchr(buf, '/');
		const char *lab = base ? base + 1 : buf;
		size_t l = strlen(lab) < sizeof p->label - 1 ? strlen(lab) : sizeof p->label - 1;
		memcpy(p->label, lab, l);
		p->label[l] = 0;
	} else {
		snprintf(p->label, sizeof p->label, "measured");
	}
	return 0;
}

static int on_record(void *ctx, const qp_record *rec, qp_writer *w, qp_err *e)
{
	(void)w;
	state *s = ctx;
	if (s->compare)
		return qp_compare_add(&s->cmp, rec, e);
	if (qp_rec_is(rec, "recipe"))
		return add_recipe(s, rec, e);
	if (qp_rec_is(rec, "measure"))
		return add_measure(s, rec, e);
	return 0;
}

static const qp_recipe *map_recipe(const state *s)
{
	if (s->map_index == 0 || s->n_recipes == 0)
		return NULL;
	if (s->map_index > 0)
		return s->map_index <= s->n_recipes ? &s->recipes[s->map_index - 1] : NULL;
	for (int i = 0; i < s->n_recipes; i++)
		if (s->frontier[i] && s->recipes[i].has_optimal)
			return &s->recipes[i];
	return &s->recipes[0];
}

static void state_free(state *s)
{
	for (int i = 0; i < s->n_recipes; i++)
		qp_recipe_free(&s->recipes[i]);
	free(s->recipes);
	free(s->frontier);
	free(s->pts);
	qp_compare_free(&s->cmp);
}

/* The document to -o or standard output, atomically; 0 or 1 (reported). */
static int write_svg(const qp_buf *svg, const char *output)
{
	qp_err e;
	qp_out out;
	if (qp_out_open(&out, output, &e) < 0) {
		qp_report("rec-plot", output, e.msg);
		return 1;
	}
	int status = 0;
	if (qp_out_write(&out, svg->p, svg->len, &e) < 0) {
		qp_report("rec-plot", output ? output : "standard output", e.msg);
		status = 1;
	}
	return qp_out_finish(&out, "rec-plot", output, status);
}

/* --compare: the table of checkpoints once every record is read. */
static int plot_compare(state *s, const qp_common *c)
{
	qp_err e;
	if (s->cmp.n_rows == 0) {
		qp_report("rec-plot", NULL,
			  "nothing to compare: no model, scored tensor or predicted recipe records (--compare)");
		return 1;
	}
	s->cmp.title = s->title;
	qp_buf svg = {0};
	int rc = qp_plot_compare_svg(&s->cmp, &svg, &e);
	if (rc == 0 && svg.oom)
		rc = qp_fail(&e, "out of memory");
	if (rc != 0)
		qp_report("rec-plot", NULL, e.msg);
	int status = rc != 0 ? 1 : write_svg(&svg, c->output);
	qp_buf_free(&svg);
	return status;
}

int main(int argc, char **argv)
{
	state s = {.map_index = -1};
	qp_tool tool = {"rec-plot", usage, "T:m:C", long_opts, on_option, &s, usage_end};
	qp_common c;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	if (s.compare && s.map_index >= 0) {
		qp_reportf("rec-plot", NULL, "--map and --compare do not go together (a comparison has no map)");
		return 2;
	}
	qp_compare_init(&s.cmp, s.target);
	qp_filter f = {.prog = "rec-plot", .on_record = on_record, .ctx = &s};
	if (qp_filter_run(&f, &c, NULL) != 0) {
		state_free(&s);
		return 1;
	}
	if (s.compare) {
		int status = plot_compare(&s, &c);
		state_free(&s);
		return status;
	}
	qp_err e;
	if (s.map_index > s.n_recipes) {
		qp_reportf("rec-plot", NULL, "--map %ld: the input holds %d recipe records",
			   s.map_index, s.n_recipes);
		state_free(&s);
		return 1;
	}
	if (s.n_pts == 0) {
		qp_report("rec-plot", NULL,
			  "nothing to plot: no recipe with a pred and no measure with a result (run proxy-fit or recipe-emit first)");
		state_free(&s);
		return 1;
	}
	char ylabel[64];
	snprintf(ylabel, sizeof ylabel, "%s %s", s.n_recipes ? "predicted" : "measured",
		 s.target ? s.target : "kld_mean");
	const qp_recipe *m = map_recipe(&s);
	qp_plot p = {.title = s.title, .y_label = ylabel, .pts = s.pts, .n_pts = s.n_pts,
		     .map = m, .map_label = m ? m->source : NULL};
	qp_buf svg = {0};
	int rc = qp_plot_svg(&p, &svg, &e);
	if (rc == 0 && svg.oom)
		rc = qp_fail(&e, "out of memory");
	if (rc != 0) {
		qp_report("rec-plot", NULL, e.msg);
		qp_buf_free(&svg);
		state_free(&s);
		return 1;
	}
	int status = write_svg(&svg, c.output);
	qp_buf_free(&svg);
	state_free(&s);
	return status;
}
