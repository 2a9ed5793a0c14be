/* recipe-emit — per-tensor type recipes: llama.cpp's named mixes, files,
 * existing quants; as records or in the forms llama.cpp runs. */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "llq_mix.h"
#include "mapfile.h"
#include "model_batch.h"
#include "recipe_emit.h"
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

static int parse_tt_file(qp_recipe_ask *a, const char *arg, qp_err *e)
{
	qp_buf b = {0};
	int st = read_text(arg, &b, e);
	if (!st)
		st = qp_ttfile_parse(b.p, b.len, &a->rules, e);
	if (st)
		qp_fail_prefix(e, "%s", arg);
	qp_buf_free(&b);
	return st ? QP_ERR_INPUT : 0; /* a file is input, not usage */
}

static int parse_budget(qp_recipe_ask *a, int opt, const char *arg, qp_err *e)
{
	long v;
	switch (opt) {
	case 'b':
		if (qp_parse_double(arg, &a->bpw, e))
			return -1;
		if (!(a->bpw > 0 && a->bpw <= 64))
			return qp_fail(e, "--bpw %s: want a number in (0, 64]", arg);
		a->has_bpw = true;
		return 0;
	case 's':
		if (qp_opt_parse_size(arg, &a->size, e))
			return -1;
		a->has_size = true;
		return 0;
	case OPT_FRONTIER: a->frontier = true; return 0;
	case OPT_TYPES: return qp_recipe_ask_types(a, arg, e);
	case OPT_PIN: return qp_recipe_ask_rule(a->pins, &a->n_pins, arg, true, e);
	case OPT_MIN_TYPE: return qp_recipe_ask_rule(a->mins, &a->n_mins, arg, true, e);
	case OPT_MAX_TYPE: return qp_recipe_ask_rule(a->maxs, &a->n_maxs, arg, true, e);
	case OPT_TIE: return qp_recipe_ask_rule(a->ties, &a->n_ties, arg, false, e);
	case OPT_NODE_LIMIT:
		if (qp_parse_long(arg, 1, 2000000000L, &v, e))
			return -1;
		a->node_limit = v;
		return 0;
	}
	return qp_fail(e, "unknown option");
}

typedef struct opts {
	qp_recipe_ask ask;
	const char *imatrix_file;
} opts;

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	opts *o = ctx;
	qp_recipe_ask *a = &o->ask;
	switch (opt) {
	case 'm': return qp_recipe_ask_mix(arg, &a->mix, e);
	case 'c': return qp_recipe_ask_compare(a, arg, e);
	case OPT_FROM: a->from = arg; return 0;
	case OPT_FROM_GGUF: a->from_gguf = arg; return 0;
	case 'f': return qp_recipe_ask_form(a, arg, e);
	case OPT_PURE: a->p.pure = true; return 0;
	case OPT_IMATRIX: a->p.imatrix = true; return 0;
	case OPT_LEAVE_OUTPUT: a->p.leave_output = true; return 0;
	case OPT_OUTPUT_TYPE: return qp_recipe_ask_type(arg, &a->p.output_type, e);
	case OPT_TOKEN_TYPE: return qp_recipe_ask_type(arg, &a->p.token_embd_type, e);
	case OPT_TENSOR_TYPE: return qp_llq_rules_add(&a->rules, arg, e);
	case OPT_TT_FILE: return parse_tt_file(a, arg, e);
	case OPT_IMATRIX_FILE: o->imatrix_file = arg; return 0;
	}
	return parse_budget(a, opt, arg, e);
}

/* ctx: the file the warning is about, or NULL */
static void warn(void *ctx, const char *msg)
{
	qp_report(PROG, ctx, msg);
}

/* Text formats: the records go nowhere, the one recipe's text to the
 * output. */
static int run_text(qp_recipe_emit *r, const qp_common *c)
{
	qp_model_filter mf = {.prog = PROG, .on_model = qp_recipe_emit_model, .ctx = r};
	int status = qp_model_filter_drain(&mf, c);
	if (status)
		return status;
	if (r->n_text == 0) {
		qp_report(PROG, NULL, "no recipe to write (no model in the "
			  "input, or no recipe record for it)");
		return 1;
	}
	qp_err e;
	qp_out out;
	const char *where = c->output ? c->output : "standard output";
	if (qp_out_open(&out, c->output, &e) < 0) {
		qp_report(PROG, where, e.msg);
		return 1;
	}
	if (qp_out_write(&out, r->text.p, r->text.len, &e) < 0) {
		qp_report(PROG, where, e.msg);
		status = 1;
	}
	return qp_out_finish(&out, PROG, c->output, status);
}

/* --imatrix and --from, read once the options are all known; then the
 * conflicts that need them. */
static int setup(qp_recipe_emit *r, opts *o)
{
	qp_err e;
	if (o->imatrix_file && qp_recipe_ask_imatrix(&o->ask, o->imatrix_file, &e)) {
		qp_report(PROG, o->imatrix_file, e.msg);
		return 1;
	}
	if (!o->ask.from)
		return 0;
	qp_buf b = {0};
	int st = read_text(o->ask.from, &b, &e);
	if (!st)
		st = qp_recipe_emit_from(r, b.p, b.len, &e);
	qp_buf_free(&b);
	if (st) {
		qp_report(PROG, o->ask.from, e.msg);
		return 1;
	}
	const char *why = qp_recipe_emit_from_conflict(r);
	if (why) {
		qp_report(PROG, o->ask.from, why);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	opts o = {0};
	qp_recipe_ask_init(&o.ask);
	qp_tool tool = {PROG, usage, "m:c:f:b:s:", long_opts, on_option, &o, usage_end};
	qp_common c;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE) {
		qp_recipe_ask_free(&o.ask);
		return st;
	}
	qp_recipe_emit r = {.ask = &o.ask, .warn = {warn, NULL, c.quiet},
			    .warn_from = {warn, (void *)o.ask.from, c.quiet}};
	const char *why = qp_recipe_ask_conflict(&o.ask);
	if (why) {
		qp_report(PROG, NULL, why);
		st = 2;
	} else {
		st = setup(&r, &o);
	}
	if (st == 0 && o.ask.form == QP_RECIPE_RECORD) {
		qp_model_filter mf = {.prog = PROG, .on_model = qp_recipe_emit_model, .ctx = &r};
		st = qp_model_filter_pipe(&mf, &c, argc, argv);
	} else if (st == 0) {
		st = run_text(&r, &c);
	}
	qp_recipe_emit_free(&r);
	qp_recipe_ask_free(&o.ask);
	return st;
}
