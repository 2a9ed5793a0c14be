/* recipe-emit — per-tensor type recipes: llama.cpp's named mixes, files,
 * existing quants; as records or in the forms llama.cpp runs. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "budget_rec.h"
#include "buf.h"
#include "cli.h"
#include "filter.h"
#include "imatrix.h"
#include "llq_mix.h"
#include "llq_mix_rec.h"
#include "mapfile.h"
#include "model_batch.h"
#include "optimize.h"
#include "rec.h"
#include "recipe.h"
#include "recipe_llq.h"
#include "recipe_text.h"
#include "types.h"

#define PROG "recipe-emit"

static const char usage[] =
	"Usage: recipe-emit [options] [FILE ...]\n"
	"Writes per-tensor type recipes for the model in the records\n"
	"(gguf-dump output) read from FILE or standard input: llama.cpp's\n"
	"named mixes exactly as llama-quantize picks them, recipe and\n"
	"tensor-type files, the types of an existing quant.\n"
	"\n"
	"  -m, --mix NAME          the types llama-quantize picks for ftype NAME\n"
	"                          (Q4_K_M, Q3_K_S, IQ2_XS, MXFP4_MOE, F16, ...)\n"
	"  -c, --compare LIST      comma-separated mixes: one recipe for each\n"
	"      --from FILE         a recipe text file (\"# quantpipe recipe 1\")\n"
	"                          or a llama-quantize tensor-type file (applied\n"
	"                          to the --mix given, as --tensor-type-file)\n"
	"      --from-gguf FILE    the types of an existing quantized GGUF\n"
	"  -f, --format FORM       record (default), recipe, tensor-type-file,\n"
	"                          args, custom-q or tsv (name, type)\n"
	"\n"
	"The best types for a budget (needs qerr-measure's records; loss terms\n"
	"from the stream's fit record, else the uncalibrated prior):\n"
	"  -b, --bpw B             bits per weight as llama-quantize prints them\n"
	"  -s, --size BYTES        size of the GGUF file: 20GiB, 4.5G, 2284416\n"
	"      --frontier          every breakpoint of the size/loss frontier\n"
	"                          (each optimal for its own size), one recipe each\n"
	"      --types LIST        candidate types (default: what qerr measured)\n"
	"      --pin REGEX=TYPE    tensors matching REGEX get TYPE (repeatable,\n"
	"                          first match wins; REGEX matches whole names)\n"
	"      --min-type REGEX=TYPE  at least TYPE's bits per weight (repeatable)\n"
	"      --max-type REGEX=TYPE  at most TYPE's bits per weight (repeatable)\n"
	"      --tie REGEX         tensors matching REGEX share one type per layer\n"
	"      --imatrix FILE      the importance matrix llama-quantize will get,\n"
	"                          as you will pass it: its header keys are counted\n"
	"      --node-limit N      branch-and-bound nodes before settling for the\n"
	"                          proven bound (default 4000000)\n"
	"  With --compare, a recipe of ours at each mix's exact file size follows\n"
	"  the mix's; mixes and files get file_bytes and, with qerr, pred.\n"
	"\n"
	"llama-quantize's options, applied as it applies them:\n"
	"      --pure              no mixture rules: the ftype's type everywhere\n"
	"      --imatrix-used      the quantization uses an importance matrix\n"
	"                          (imatrix-dependent choices; IQ1/IQ2/IQ3_XXS)\n"
	"      --leave-output-tensor  output.weight is not quantized\n"
	"      --output-tensor-type TYPE\n"
	"      --token-embedding-type TYPE\n"
	"      --tensor-type NAME=TYPE  (repeatable; first match wins)\n"
	"      --tensor-type-file FILE\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Exit status: 0 success, 1 bad input or failed work, 2 bad usage.\n";

enum {
	OPT_FROM = 256, OPT_FROM_GGUF, OPT_PURE, OPT_IMATRIX, OPT_LEAVE_OUTPUT,
	OPT_OUTPUT_TYPE, OPT_TOKEN_TYPE, OPT_TENSOR_TYPE, OPT_TT_FILE,
	OPT_FRONTIER, OPT_TYPES, OPT_PIN, OPT_MIN_TYPE, OPT_MAX_TYPE, OPT_TIE,
	OPT_IMATRIX_FILE, OPT_NODE_LIMIT,
};

#define MAX_RULES 256

typedef enum form { FORM_RECORD = -1 } form;

typedef struct opts {
	const qp_llq_ftype *mix;
	const qp_llq_ftype *compare[64];
	int n_compare;
	const char *from, *from_gguf;
	int form;               /* FORM_RECORD or a qp_recipe_form */
	qp_llq_params p;
	qp_llq_rules rules;     /* --tensor-type and --tensor-type-file */
	/* budgets */
	bool has_bpw, has_size, frontier;
	double bpw;
	uint64_t size;
	uint32_t types[64];
	int n_types;
	qp_opt_rule pins[MAX_RULES], mins[MAX_RULES], maxs[MAX_RULES], ties[MAX_RULES];
	int n_pins, n_mins, n_maxs, n_ties;
	const char *imatrix_file;
	qp_llq_imatrix_kv im;
	char *im_dataset;
	long node_limit;
} opts;

static const struct option long_opts[] = {
	{"mix", required_argument, NULL, 'm'},
	{"compare", required_argument, NULL, 'c'},
	{"from", required_argument, NULL, OPT_FROM},
	{"from-gguf", required_argument, NULL, OPT_FROM_GGUF},
	{"format", required_argument, NULL, 'f'},
	{"pure", no_argument, NULL, OPT_PURE},
	{"imatrix-used", no_argument, NULL, OPT_IMATRIX},
	{"leave-output-tensor", no_argument, NULL, OPT_LEAVE_OUTPUT},
	{"output-tensor-type", required_argument, NULL, OPT_OUTPUT_TYPE},
	{"token-embedding-type", required_argument, NULL, OPT_TOKEN_TYPE},
	{"tensor-type", required_argument, NULL, OPT_TENSOR_TYPE},
	{"tensor-type-file", required_argument, NULL, OPT_TT_FILE},
	{"bpw", required_argument, NULL, 'b'},
	{"size", required_argument, NULL, 's'},
	{"frontier", no_argument, NULL, OPT_FRONTIER},
	{"types", required_argument, NULL, OPT_TYPES},
	{"pin", required_argument, NULL, OPT_PIN},
	{"min-type", required_argument, NULL, OPT_MIN_TYPE},
	{"max-type", required_argument, NULL, OPT_MAX_TYPE},
	{"tie", required_argument, NULL, OPT_TIE},
	{"imatrix", required_argument, NULL, OPT_IMATRIX_FILE},
	{"node-limit", required_argument, NULL, OPT_NODE_LIMIT},
	{0},
};

static int parse_ftype(const char *name, const qp_llq_ftype **out, qp_err *e)
{
	*out = qp_llq_ftype_by_name(name);
	if (!*out)
		return qp_fail(e, "llama-quantize has no ftype '%s'", name);
	return 0;
}

static int parse_type(const char *name, uint32_t *out, qp_err *e)
{
	const qp_type_info *ti = qp_type_info_by_name(name);
	if (!ti || ti->removed)
		return qp_fail(e, "unknown type '%s'", name);
	*out = ti->id;
	return 0;
}

static int parse_form(const char *s, int *out, qp_err *e)
{
	static const struct { const char *name; int form; } forms[] = {
		{"record", FORM_RECORD}, {"recipe", QP_FORM_RECIPE},
		{"tensor-type-file", QP_FORM_TTFILE}, {"args", QP_FORM_ARGS},
		{"custom-q", QP_FORM_CUSTOM_Q}, {"tsv", QP_FORM_TSV},
	};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
		if (strcmp(s, forms[i].name) == 0) {
			*out = forms[i].form;
			return 0;
		}
	return qp_fail(e, "unknown format '%s' (record, recipe, "
		       "tensor-type-file, args, custom-q, tsv)", s);
}

/* A whole small text file (recipes, tensor-type files). */
static int read_text(const char *path, qp_buf *b, qp_err *e)
{
	qp_map map;
	if (qp_map_open(path, &map, e))
		return -1;
	if (map.size > ((size_t)64 << 20)) {
		qp_map_close(&map);
		return qp_fail(e, "larger than 64 MiB");
	}
	if (map.size)
		qp_buf_append(b, map.data, map.size);
	qp_buf_putc(b, '\0'); /* a terminator, not part of the text */
	b->len--;
	qp_map_close(&map);
	return b->oom ? qp_fail(e, "out of memory") : 0;
}

static int add_rule(qp_opt_rule *v, int *n, const char *arg, bool want_type,
		    qp_err *e)
{
	if (*n == MAX_RULES)
		return qp_fail(e, "at most %d rules of one kind", MAX_RULES);
	int st = qp_opt_rule_parse(arg, want_type, &v[*n], e);
	if (st)
		return st; /* QP_ERR_INPUT: the regex does not compile */
	(*n)++;
	return 0;
}

static int parse_types(opts *o, const char *arg, qp_err *e)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", arg);
	o->n_types = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->n_types == 64)
			return qp_fail(e, "--types takes at most 64 types");
		if (parse_type(tok, &o->types[o->n_types++], e))
			return -1;
	}
	return o->n_types ? 0 : qp_fail(e, "--types needs a type");
}

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	opts *o = ctx;
	long v;
	switch (opt) {
	case 'b':
		if (qp_parse_double(arg, &o->bpw, e))
			return -1;
		if (!(o->bpw > 0 && o->bpw <= 64))
			return qp_fail(e, "--bpw %s: want a number in (0, 64]", arg);
		o->has_bpw = true;
		return 0;
	case 's':
		if (qp_opt_parse_size(arg, &o->size, e))
			return -1;
		o->has_size = true;
		return 0;
	case OPT_FRONTIER: o->frontier = true; return 0;
	case OPT_TYPES: return parse_types(o, arg, e);
	case OPT_PIN: return add_rule(o->pins, &o->n_pins, arg, true, e);
	case OPT_MIN_TYPE: return add_rule(o->mins, &o->n_mins, arg, true, e);
	case OPT_MAX_TYPE: return add_rule(o->maxs, &o->n_maxs, arg, true, e);
	case OPT_TIE: return add_rule(o->ties, &o->n_ties, arg, false, e);
	case OPT_IMATRIX_FILE: o->imatrix_file = arg; return 0;
	case OPT_NODE_LIMIT:
		if (qp_parse_long(arg, 1, 2000000000L, &v, e))
			return -1;
		o->node_limit = v;
		return 0;
	case 'm': return parse_ftype(arg, &o->mix, e);
	case 'c': {
		char buf[1024];
		snprintf(buf, sizeof buf, "%s", arg);
		for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			if (o->n_compare == 64)
				return qp_fail(e, "--compare takes at most 64 mixes");
			if (parse_ftype(tok, &o->compare[o->n_compare++], e))
				return -1;
		}
		return o->n_compare ? 0 : qp_fail(e, "--compare needs a mix");
	}
	case OPT_FROM: o->from = arg; return 0;
	case OPT_FROM_GGUF: o->from_gguf = arg; return 0;
	case 'f': return parse_form(arg, &o->form, e);
	case OPT_PURE: o->p.pure = true; return 0;
	case OPT_IMATRIX: o->p.imatrix = true; return 0;
	case OPT_LEAVE_OUTPUT: o->p.leave_output = true; return 0;
	case OPT_OUTPUT_TYPE: return parse_type(arg, &o->p.output_type, e);
	case OPT_TOKEN_TYPE: return parse_type(arg, &o->p.token_embd_type, e);
	case OPT_TENSOR_TYPE: return qp_llq_rules_add(&o->rules, arg, e);
	case OPT_TT_FILE: {
		qp_buf b = {0};
		int st = read_text(arg, &b, e);
		if (!st)
			st = qp_ttfile_parse(b.p, b.len, &o->rules, e);
		if (st)
			qp_fail_prefix(e, "%s", arg);
		qp_buf_free(&b);
		return st ? QP_ERR_INPUT : 0; /* a file is input, not usage */
	}
	}
	return qp_fail(e, "unknown option");
}

typedef struct run {
	opts *o;
	const qp_common *c;
	bool from_is_rtext;     /* --from is a recipe text (else a tensor-type file) */
	qp_rtext from_rules;
	qp_llq_rules from_tt;   /* --tensor-type rules, then the file's */
	size_t n_text;          /* recipes written as text so far */
	qp_buf text;            /* text output */
} run;

static void warn(const run *r, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warn(const run *r, const char *where, const char *fmt, ...)
{
	if (r->c->quiet)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	qp_report(PROG, where, msg);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* Writes one recipe: a record, or the one text the run may write. */
static int put_recipe(run *r, const qp_llq_model *m, const qp_recipe *rc,
		      qp_writer *w, qp_err *e)
{
	if (r->o->form == FORM_RECORD) {
		if (qp_recipe_pack(rc, qp_writer_packer(w), e))
			return -1;
		return qp_writer_end(w, e);
	}
	if (r->n_text++)
		return qp_fail(e, "-f %s writes one recipe, and this run makes "
			       "more (use -f record)",
			       r->o->form == QP_FORM_RECIPE ? "recipe" : "text");
	bool needs_imatrix;
	if (qp_recipe_llq_emit(m, rc, (qp_recipe_form)r->o->form, &r->text,
			       &needs_imatrix, e))
		return qp_fail_prefix(e, "recipe %s", rc->source);
	if (needs_imatrix)
		warn(r, NULL, "llama-quantize needs --imatrix FILE for this "
		     "recipe (IQ1/IQ2/IQ3_XXS tensors)");
	return 0;
}

/* br (may be NULL): file_bytes and pred for the mix, and with ours_too a
 * recipe of ours at the mix's exact file size after it. */
static int mix_recipe(run *r, const qp_llq_model *m, const char *id,
		      const qp_llq_ftype *ft, const qp_budget_run *br,
		      bool ours_too, qp_writer *w, qp_err *e)
{
	qp_llq_params p = r->o->p;
	p.ftype = ft;
	p.rules = &r->o->rules;
	qp_recipe rc;
	if (qp_recipe_llq_mix(m, id, &p, &rc, e))
		return -1;
	bool has_pred = false;
	int st = br ? qp_budget_run_annotate(br, &rc, &has_pred, e) : 0;
	if (!st)
		st = put_recipe(r, m, &rc, w, e);
	if (!st && br && br->p && ours_too && rc.has_file_bytes) {
		qp_recipe ours;
		st = qp_budget_run_solve(br, QP_OPT_BYTES, (double)rc.file_bytes, &ours, e);
		if (st)
			qp_fail_prefix(e, "our recipe at %s's size", rc.source);
		else {
			st = put_recipe(r, m, &ours, w, e);
			qp_recipe_free(&ours);
		}
	}
	qp_recipe_free(&rc);
	return st;
}

static int from_recipe(run *r, const qp_llq_model *m, const char *id,
		       qp_writer *w, qp_err *e)
{
	const char *file = r->o->from;
	char source[512];
	snprintf(source, sizeof source, "file:%s", base_name(file));
	qp_recipe rc;
	size_t n_rules = r->from_is_rtext ? r->from_rules.n : r->from_tt.n;
	size_t *decided = calloc(n_rules ? n_rules : 1, sizeof *decided);
	size_t unmatched = 0;
	if (!decided)
		return qp_fail(e, "out of memory");
	int st;
	if (r->from_is_rtext) {
		st = qp_recipe_llq_rtext(m, id, &r->from_rules, source, &rc,
					 decided, &unmatched, e);
	} else {
		qp_llq_params p = r->o->p;
		p.ftype = r->o->mix;
		p.rules = &r->from_tt;
		st = qp_recipe_llq_ttfile(m, id, &p, source, &rc, decided, e);
	}
	if (st) {
		free(decided);
		return qp_fail_prefix(e, "%s", file);
	}
	size_t first_own = r->from_is_rtext ? 0 : r->o->rules.n;
	for (size_t k = first_own; k < n_rules; k++) {
		if (decided[k])
			continue;
		if (r->from_is_rtext)
			warn(r, file, "line %d: rule '%s' decides no tensor",
			     r->from_rules.v[k].line, r->from_rules.v[k].regex);
		else
			warn(r, file, "rule %zu '%s' decides no tensor",
			     k - first_own + 1, r->from_tt.v[k].pattern);
	}
	if (unmatched)
		warn(r, file, "%zu tensors match no rule: they keep their "
		     "source type", unmatched);
	free(decided);
	st = put_recipe(r, m, &rc, w, e);
	qp_recipe_free(&rc);
	return st;
}

static int from_gguf(run *r, const qp_llq_model *m, const char *id,
		     qp_writer *w, qp_err *e)
{
	char source[512];
	snprintf(source, sizeof source, "gguf:%s", base_name(r->o->from_gguf));
	qp_recipe rc;
	if (qp_recipe_llq_gguf(m, id, r->o->from_gguf, source, &rc, e))
		return qp_fail_prefix(e, "%s", r->o->from_gguf);
	int st = put_recipe(r, m, &rc, w, e);
	qp_recipe_free(&rc);
	return st;
}

/* Recipes already in the stream (a run's own output read back). */
static int stream_recipes(run *r, const qp_model_batch *b,
			  const qp_llq_model *m, qp_writer *w, qp_err *e)
{
	for (size_t i = 0; i < b->n_items; i++) {
		const qp_record *rec = &b->items[i].k.rec;
		if (!qp_rec_is(rec, "recipe"))
			continue;
		qp_recipe rc;
		if (qp_recipe_from_record(rec, &rc, e))
			return -1;
		int st = strcmp(rc.model, b->id) != 0 ? 0
			 : put_recipe(r, m, &rc, w, e);
		qp_recipe_free(&rc);
		if (st)
			return -1;
	}
	return 0;
}

static bool wants_budget(const opts *o)
{
	return o->has_bpw || o->has_size || o->frontier;
}

static bool makes_recipes(const opts *o)
{
	return o->mix || o->n_compare || o->from || o->from_gguf ||
	       wants_budget(o);
}

/* The optimiser for this model: when a budget is asked for, or when the
 * tensors carry qerr (then mixes and files get pred, and --compare gets
 * our recipe at each mix's size).  *have false: not built (no qerr and no
 * budget, or no readable GGUF header for a run without a budget). */
static int budget_init(run *r, const qp_model_batch *b, qp_budget_run *br,
		       bool *have, qp_err *e)
{
	const opts *o = r->o;
	*have = false;
	const qp_record *fit = NULL;
	const qp_record **ts = malloc((b->n_tensors ? b->n_tensors : 1) * sizeof *ts);
	if (!ts)
		return qp_fail(e, "out of memory");
	int n = 0, st0;
	bool any_qerr = false;
	for (size_t i = 0; i < b->n_items; i++) {
		const qp_record *rec = &b->items[i].k.rec;
		if (b->items[i].is_tensor) {
			ts[n++] = rec;
			any_qerr |= qp_map_get(&rec->map, "qerr") != NULL;
		} else if (qp_rec_is(rec, "fit")) {
			const msgpack_object *mo = qp_map_get(&rec->map, "model");
			if (mo && qp_obj_str_eq(mo, b->id))
				fit = rec;
		}
	}
	if (!wants_budget(o) && !any_qerr) {
		/* no measurements: mixes and files still get file_bytes when
		 * the model's GGUF header can be read */
		st0 = qp_budget_run_init(br, b->model, ts, n, NULL, NULL,
					 o->imatrix_file ? &o->im : NULL, e);
		free(ts);
		*have = st0 == 0;
		return 0;
	}
	qp_opt_config cfg = {
		.types = o->types, .n_types = o->n_types,
		.pins = o->pins, .n_pins = o->n_pins,
		.min_types = o->mins, .n_min = o->n_mins,
		.max_types = o->maxs, .n_max = o->n_maxs,
		.ties = o->ties, .n_ties = o->n_ties,
		.node_limit = (uint64_t)o->node_limit,
	};
	int st = qp_budget_run_init(br, b->model, ts, n, fit, &cfg,
				    o->imatrix_file ? &o->im : NULL, e);
	free(ts);
	if (st)
		return wants_budget(o) ? -1 : 0; /* mixes still come out */
	if (!br->fitted && !r->c->quiet)
		warn(r, NULL, "model '%s': no fit record in the stream: the "
		     "uncalibrated prior predicts (pred.calibrated false)", b->id);
	*have = true;
	return 0;
}

static int put_frontier(void *ctx, const qp_recipe *rc, qp_err *e)
{
	void **pair = ctx;
	return put_recipe(pair[0], pair[1], rc, pair[2], e);
}

static int budget_recipes(run *r, const qp_llq_model *m,
			  const qp_budget_run *br, qp_writer *w, qp_err *e)
{
	const opts *o = r->o;
	if (o->has_bpw || o->has_size) {
		qp_recipe rc;
		if (qp_budget_run_solve(br, o->has_size ? QP_OPT_BYTES : QP_OPT_BPW,
					o->has_size ? (double)o->size : o->bpw, &rc, e))
			return -1;
		int st = put_recipe(r, m, &rc, w, e);
		qp_recipe_free(&rc);
		if (st)
			return -1;
	}
	if (o->frontier) {
		void *pair[3] = { r, (void *)m, w };
		return qp_budget_run_frontier(br, put_frontier, pair, e);
	}
	return 0;
}

static int on_model(void *ctx, const qp_model_batch *b, qp_writer *w,
		    qp_err *e)
{
	run *r = ctx;
	const opts *o = r->o;
	qp_llq_model m;
	qp_llq_model_init(&m);
	int st = 0;
	if (!b->model)
		st = qp_fail(e, "no model record for model '%s'", b->id);
	else if (qp_llq_model_set(&m, &b->model->map, e))
		st = qp_fail_prefix(e, "model '%s'", b->id);
	for (size_t i = 0; !st && i < b->n_items; i++) {
		const qp_record *rec = &b->items[i].k.rec;
		if (b->items[i].is_tensor && qp_llq_model_add(&m, &rec->map, e))
			st = qp_fail_prefix(e, "record %llu (byte offset %llu)",
					    (unsigned long long)rec->index,
					    (unsigned long long)rec->offset);
	}
	/* the batch's records pass through, the recipes come after them */
	for (size_t i = 0; !st && o->form == FORM_RECORD && i < b->n_items; i++)
		st = qp_model_batch_pass(b, i, w, e);
	qp_budget_run br;
	bool have_br = false;
	if (!st && makes_recipes(o))
		st = budget_init(r, b, &br, &have_br, e);
	const qp_budget_run *brp = have_br ? &br : NULL;
	if (!st && o->mix && !o->from)
		st = mix_recipe(r, &m, b->id, o->mix, brp, false, w, e);
	for (int k = 0; !st && k < o->n_compare; k++)
		st = mix_recipe(r, &m, b->id, o->compare[k], brp, true, w, e);
	if (!st && have_br)
		st = budget_recipes(r, &m, brp, w, e);
	if (!st && o->from)
		st = from_recipe(r, &m, b->id, w, e);
	if (!st && o->from_gguf)
		st = from_gguf(r, &m, b->id, w, e);
	if (!st && !makes_recipes(o) && o->form != FORM_RECORD)
		st = stream_recipes(r, b, &m, w, e);
	if (have_br)
		qp_budget_run_free(&br);
	qp_llq_model_free(&m);
	return st;
}

static int setup(run *r, opts *o, const qp_common *c)
{
	qp_err e;
	r->o = o;
	r->c = c;
	if (!o->from)
		return 0;
	qp_buf b = {0};
	int st = read_text(o->from, &b, &e);
	if (!st) {
		r->from_is_rtext = qp_rtext_sniff(b.p, b.len);
		if (r->from_is_rtext) {
			st = qp_rtext_parse(b.p, b.len, &r->from_rules, &e);
		} else {
			/* the --tensor-type options come first, as on
			 * llama-quantize's command line before the file */
			for (size_t i = 0; !st && i < o->rules.n; i++) {
				char tok[1024], tn[16];
				snprintf(tok, sizeof tok, "%s=%s",
					 o->rules.v[i].pattern,
					 qp_type_name(o->rules.v[i].type, tn));
				st = qp_llq_rules_add(&r->from_tt, tok, &e);
			}
			if (!st)
				st = qp_ttfile_parse(b.p, b.len, &r->from_tt, &e);
		}
	}
	qp_buf_free(&b);
	if (st) {
		qp_report(PROG, o->from, e.msg);
		return 1;
	}
	return 0;
}

static void cleanup(run *r)
{
	opts *o = r->o;
	for (int i = 0; i < o->n_pins; i++)
		qp_opt_rule_free(&o->pins[i]);
	for (int i = 0; i < o->n_mins; i++)
		qp_opt_rule_free(&o->mins[i]);
	for (int i = 0; i < o->n_maxs; i++)
		qp_opt_rule_free(&o->maxs[i]);
	for (int i = 0; i < o->n_ties; i++)
		qp_opt_rule_free(&o->ties[i]);
	free(o->im_dataset);
	qp_rtext_free(&r->from_rules);
	qp_llq_rules_free(&r->from_tt);
	qp_llq_rules_free(&r->o->rules);
	qp_buf_free(&r->text);
}

static int check_usage(const opts *o)
{
	const char *why = NULL;
	if (o->from && o->from_gguf)
		why = "--from and --from-gguf: give one";
	else if (o->has_bpw && o->has_size)
		why = "--bpw and --size: give one budget";
	else if (o->form != FORM_RECORD && o->frontier)
		why = "--frontier writes many recipes: use -f record";
	else if (o->form != FORM_RECORD && (o->has_bpw || o->has_size) &&
		 (o->mix || o->n_compare || o->from || o->from_gguf))
		why = "a text format (-f) writes one recipe: a budget with "
		      "--mix/--compare/--from needs -f record";
	else if (o->form != FORM_RECORD && o->n_compare + !!o->mix +
		 !!o->from_gguf > 1 && !o->from)
		why = "a text format (-f) writes one recipe: use -f record "
		      "with --compare";
	if (why) {
		qp_report(PROG, NULL, why);
		return 2;
	}
	return 0;
}

typedef struct text_step {
	qp_model_stream *s;
	qp_writer *w;
} text_step;

static int text_record(void *ctx, const qp_record *rec, qp_err *e)
{
	const text_step *ts = ctx;
	return qp_model_stream_record(ts->s, rec, ts->w, e) < 0 ? -1 : 0;
}

/* Text formats: the records go nowhere, the text to the output. */
static int run_text(run *r, const qp_common *c)
{
	qp_err e;
	int devnull = open("/dev/null", O_WRONLY);
	qp_writer *w = devnull >= 0 ? qp_writer_new(devnull, false) : NULL;
	qp_model_filter mf = {.prog = PROG, .on_model = on_model, .ctx = r};
	qp_model_stream *s = w ? qp_model_stream_new(&mf) : NULL;
	int status = 1;
	if (!s) {
		qp_report(PROG, NULL, "out of memory");
		goto out;
	}
	status = 0;
	text_step ts = {s, w};
	for (int i = 0; !status && i < (c->n_files ? c->n_files : 1); i++) {
		const char *path = c->n_files ? c->files[i] : "-";
		if (qp_records_each(path, text_record, &ts, &e) < 0 ||
		    qp_model_stream_end(s, w, &e) < 0) {
			qp_report(PROG, path, e.msg);
			status = 1;
		}
	}
	if (!status && r->n_text == 0) {
		qp_report(PROG, NULL, "no recipe to write (no model in the "
			  "input, or no recipe record for it)");
		status = 1;
	}
	if (!status) {
		qp_out out;
		const char *where = c->output ? c->output : "standard output";
		if (qp_out_open(&out, c->output, &e) < 0) {
			qp_report(PROG, where, e.msg);
			status = 1;
		} else {
			ssize_t n = 0;
			for (size_t done = 0; done < r->text.len; done += (size_t)n)
				if ((n = write(out.fd, r->text.p + done,
					       r->text.len - done)) <= 0)
					break;
			if (n < 0 || (r->text.len && n == 0)) {
				qp_fail_errno(&e, "write");
				status = 1;
			} else if (qp_out_commit(&out, &e) < 0) {
				status = 1;
			}
			if (status) {
				qp_report(PROG, where, e.msg);
				qp_out_abort(&out);
			}
		}
	}
out:
	qp_model_stream_free(s);
	if (w)
		qp_writer_close(w, &e);
	if (devnull >= 0)
		close(devnull);
	return status;
}

int main(int argc, char **argv)
{
	opts o = {.form = FORM_RECORD};
	qp_llq_params_init(&o.p);
	qp_tool tool = {PROG, usage, "m:c:f:b:s:", long_opts, on_option, &o, usage_end};
	qp_common c;
	run r = {0};
	r.o = &o;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE) {
		cleanup(&r);
		return st;
	}
	st = check_usage(&o);
	if (st == 0 && o.imatrix_file) {
		qp_imatrix im;
		qp_err e;
		if (qp_imatrix_load(o.imatrix_file, &im, &e)) {
			qp_report(PROG, o.imatrix_file, e.msg);
			st = 1;
		} else {
			o.im.file = o.imatrix_file;
			if (im.n_datasets > 0 && (o.im_dataset = strdup(im.datasets[0])))
				o.im.dataset = o.im_dataset;
			o.im.n_entries = (uint32_t)im.n_entries;
			o.im.n_chunks = im.chunk_count > 0 && im.chunk_count < INT32_MAX
					? (int32_t)im.chunk_count : 0;
			qp_imatrix_free(&im);
		}
	}
	if (st == 0)
		st = setup(&r, &o, &c);
	if (st == 0 && o.from && !r.from_is_rtext && !o.mix) {
		qp_report(PROG, o.from, "a tensor-type file needs --mix FTYPE: "
			  "the base type llama-quantize is given");
		st = 2;
	}
	if (st == 0 && o.from && r.from_is_rtext && o.mix) {
		qp_report(PROG, o.from, "a recipe file gives every type: it "
			  "does not go with --mix");
		st = 2;
	}
	if (st == 0) {
		if (o.form == FORM_RECORD) {
			qp_model_filter mf = {.prog = PROG, .on_model = on_model, .ctx = &r};
			st = qp_model_filter_pipe(&mf, &c, argc, argv);
		} else {
			st = run_text(&r, &c);
		}
	}
	cleanup(&r);
	return st;
}
