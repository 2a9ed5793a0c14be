/* recipe_emit.c — see recipe_emit.h. */
#include "recipe_emit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget_rec.h"
#include "imatrix.h"
#include "llq_mix_rec.h"
#include "rec.h"
#include "recipe.h"
#include "recipe_llq.h"
#include "types.h"

void qp_recipe_ask_init(qp_recipe_ask *a)
{
	*a = (qp_recipe_ask){.form = QP_RECIPE_RECORD};
	qp_llq_params_init(&a->p);
}

static void free_rules(qp_opt_rule *v, int n)
{
	for (int i = 0; i < n; i++)
		qp_opt_rule_free(&v[i]);
}

void qp_recipe_ask_free(qp_recipe_ask *a)
{
	free_rules(a->pins, a->n_pins);
	free_rules(a->mins, a->n_mins);
	free_rules(a->maxs, a->n_maxs);
	free_rules(a->ties, a->n_ties);
	free(a->im_dataset);
	qp_llq_rules_free(&a->rules);
}

int qp_recipe_ask_mix(const char *name, const qp_llq_ftype **out, qp_err *e)
{
	*out = qp_llq_ftype_by_name(name);
	if (!*out)
		return qp_fail(e, "llama-quantize has no ftype '%s'", name);
	return 0;
}

int qp_recipe_ask_type(const char *name, uint32_t *out, qp_err *e)
{
	const qp_type_info *ti = qp_type_info_by_name(name);
	if (!ti || ti->removed)
		return qp_fail(e, "unknown type '%s'", name);
	*out = ti->id;
	return 0;
}

int qp_recipe_ask_form(qp_recipe_ask *a, const char *s, qp_err *e)
{
	static const struct { const char *name; int form; } forms[] = {
		{"record", QP_RECIPE_RECORD}, {"recipe", QP_FORM_RECIPE},
		{"tensor-type-file", QP_FORM_TTFILE}, {"args", QP_FORM_ARGS},
		{"custom-q", QP_FORM_CUSTOM_Q}, {"tsv", QP_FORM_TSV},
	};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
		if (strcmp(s, forms[i].name) == 0) {
			a->form = forms[i].form;
			return 0;
		}
	return qp_fail(e, "unknown format '%s' (record, recipe, "
		       "tensor-type-file, args, custom-q, tsv)", s);
}

/* fn for each name of a comma-separated list (at most 1023 bytes: 64
 * names of any type or mix fit many times over). */
static int each_name(const char *list, qp_recipe_ask *a,
		     int (*fn)(qp_recipe_ask *a, const char *name, qp_err *e),
		     qp_err *e)
{
	char buf[1024];
	if (strlen(list) >= sizeof buf)
		return qp_fail(e, "a list of more than %zu bytes", sizeof buf - 1);
	snprintf(buf, sizeof buf, "%s", list);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (fn(a, tok, e))
			return -1;
	return 0;
}

static int add_type(qp_recipe_ask *a, const char *name, qp_err *e)
{
	if (a->n_types == QP_RECIPE_ASK_LIST)
		return qp_fail(e, "--types takes at most 64 types");
	return qp_recipe_ask_type(name, &a->types[a->n_types++], e);
}

static int add_mix(qp_recipe_ask *a, const char *name, qp_err *e)
{
	if (a->n_compare == QP_RECIPE_ASK_LIST)
		return qp_fail(e, "--compare takes at most 64 mixes");
	return qp_recipe_ask_mix(name, &a->compare[a->n_compare++], e);
}

int qp_recipe_ask_types(qp_recipe_ask *a, const char *arg, qp_err *e)
{
	a->n_types = 0;
	if (each_name(arg, a, add_type, e))
		return -1;
	return a->n_types ? 0 : qp_fail(e, "--types needs a type");
}

int qp_recipe_ask_compare(qp_recipe_ask *a, const char *arg, qp_err *e)
{
	if (each_name(arg, a, add_mix, e))
		return -1;
	return a->n_compare ? 0 : qp_fail(e, "--compare needs a mix");
}

int qp_recipe_ask_rule(qp_opt_rule *v, int *n, const char *arg,
		       bool want_type, qp_err *e)
{
	if (*n == QP_RECIPE_ASK_RULES)
		return qp_fail(e, "at most %d rules of one kind", QP_RECIPE_ASK_RULES);
	int st = qp_opt_rule_parse(arg, want_type, &v[*n], e);
	if (st)
		return st; /* QP_ERR_INPUT: the regex does not compile */
	(*n)++;
	return 0;
}

int qp_recipe_ask_imatrix(qp_recipe_ask *a, const char *path, qp_err *e)
{
	qp_imatrix im;
	if (qp_imatrix_load(path, &im, e))
		return -1;
	a->has_imatrix = true;
	a->im.file = path;
	if (im.n_datasets > 0 && (a->im_dataset = strdup(im.datasets[0])))
		a->im.dataset = a->im_dataset;
	a->im.n_entries = (uint32_t)im.n_entries;
	a->im.n_chunks = im.chunk_count > 0 && im.chunk_count < INT32_MAX
			 ? (int32_t)im.chunk_count : 0;
	qp_imatrix_free(&im);
	return 0;
}

const char *qp_recipe_ask_conflict(const qp_recipe_ask *a)
{
	bool text = a->form != QP_RECIPE_RECORD;
	if (a->from && a->from_gguf)
		return "--from and --from-gguf: give one";
	if (a->has_bpw && a->has_size)
		return "--bpw and --size: give one budget";
	if (text && a->frontier)
		return "--frontier writes many recipes: use -f record";
	if (text && (a->has_bpw || a->has_size) &&
	    (a->mix || a->n_compare || a->from || a->from_gguf))
		return "a text format (-f) writes one recipe: a budget with "
		       "--mix/--compare/--from needs -f record";
	if (text && a->n_compare + !!a->mix + !!a->from_gguf > 1 && !a->from)
		return "a text format (-f) writes one recipe: use -f record "
		       "with --compare";
	return NULL;
}

/* ---- the --from file --------------------------------------------------- */

int qp_recipe_emit_from(qp_recipe_emit *r, const char *text, size_t len,
			qp_err *e)
{
	r->from_is_rtext = qp_rtext_sniff(text, len);
	if (r->from_is_rtext)
		return qp_rtext_parse(text, len, &r->from_rules, e);
	const qp_llq_rules *own = &r->ask->rules;
	for (size_t i = 0; i < own->n; i++) {
		char tok[1024], tn[16];
		snprintf(tok, sizeof tok, "%s=%s", own->v[i].pattern,
			 qp_type_name(own->v[i].type, tn));
		if (qp_llq_rules_add(&r->from_tt, tok, e))
			return -1;
	}
	return qp_ttfile_parse(text, len, &r->from_tt, e);
}

const char *qp_recipe_emit_from_conflict(const qp_recipe_emit *r)
{
	if (r->ask->from && !r->from_is_rtext && !r->ask->mix)
		return "a tensor-type file needs --mix FTYPE: the base type "
		       "llama-quantize is given";
	if (r->ask->from && r->from_is_rtext && r->ask->mix)
		return "a recipe file gives every type: it does not go with --mix";
	return NULL;
}

void qp_recipe_emit_free(qp_recipe_emit *r)
{
	qp_rtext_free(&r->from_rules);
	qp_llq_rules_free(&r->from_tt);
	qp_buf_free(&r->text);
}

/* ---- writing recipes ---------------------------------------------------- */

/* "KIND:NAME", NAME the file's last component: a recipe's source. */
static void source_of(char *buf, size_t n, const char *kind, const char *path)
{
	const char *s = strrchr(path, '/');
	snprintf(buf, n, "%s:%s", kind, s ? s + 1 : path);
}

/* Writes one recipe: a record, or the one text the run may write. */
static int put_recipe(qp_recipe_emit *r, const qp_llq_model *m,
		      const qp_recipe *rc, qp_writer *w, qp_err *e)
{
	int form = r->ask->form;
	if (form == QP_RECIPE_RECORD) {
		if (qp_recipe_pack(rc, qp_writer_packer(w), e))
			return -1;
		return qp_writer_end(w, e);
	}
	if (r->n_text++)
		return qp_fail(e, "-f %s writes one recipe, and this run makes "
			       "more (use -f record)",
			       form == QP_FORM_RECIPE ? "recipe" : "text");
	bool needs_imatrix;
	if (qp_recipe_llq_emit(m, rc, (qp_recipe_form)form, &r->text,
			       &needs_imatrix, e))
		return qp_fail_prefix(e, "recipe %s", rc->source);
	if (needs_imatrix)
		qp_warnf(&r->warn, "llama-quantize needs --imatrix FILE for this "
		     "recipe (IQ1/IQ2/IQ3_XXS tensors)");
	return 0;
}

/* put_recipe, then rc is freed. */
static int put_owned(qp_recipe_emit *r, const qp_llq_model *m, qp_recipe *rc,
		     qp_writer *w, qp_err *e)
{
	int st = put_recipe(r, m, rc, w, e);
	qp_recipe_free(rc);
	return st;
}

/* Our recipe at the exact file size of a mix's recipe. */
static int ours_at_size(qp_recipe_emit *r, const qp_llq_model *m,
			const qp_budget_run *br, const qp_recipe *mix,
			qp_writer *w, qp_err *e)
{
	qp_recipe ours;
	if (qp_budget_run_solve(br, QP_OPT_BYTES, (double)mix->file_bytes,
				&ours, e))
		return qp_fail_prefix(e, "our recipe at %s's size", mix->source);
	return put_owned(r, m, &ours, w, e);
}

/* br (may be NULL): file_bytes and pred for the mix, and with ours_too a
 * recipe of ours at the mix's exact file size after it. */
static int mix_recipe(qp_recipe_emit *r, const qp_llq_model *m,
		      const char *id, const qp_llq_ftype *ft,
		      const qp_budget_run *br, bool ours_too, qp_writer *w,
		      qp_err *e)
{
	qp_llq_params p = r->ask->p;
	p.ftype = ft;
	p.rules = &r->ask->rules;
	qp_recipe rc;
	if (qp_recipe_llq_mix(m, id, &p, &rc, e))
		return -1;
	bool has_pred = false;
	int st = br ? qp_budget_run_annotate(br, &rc, &has_pred, e) : 0;
	if (!st)
		st = put_recipe(r, m, &rc, w, e);
	if (!st && br && br->p && ours_too && rc.has_file_bytes)
		st = ours_at_size(r, m, br, &rc, w, e);
	qp_recipe_free(&rc);
	return st;
}

/* Warnings for the --from rules that decided no tensor. */
static void warn_undecided(const qp_recipe_emit *r, const size_t *decided,
			   size_t n_rules, size_t unmatched)
{
	size_t first_own = r->from_is_rtext ? 0 : r->ask->rules.n;
	for (size_t k = first_own; k < n_rules; k++) {
		if (decided[k])
			continue;
		if (r->from_is_rtext)
			qp_warnf(&r->warn_from, "line %d: rule '%s' decides no tensor",
			     r->from_rules.v[k].line, r->from_rules.v[k].regex);
		else
			qp_warnf(&r->warn_from, "rule %zu '%s' decides no tensor",
			     k - first_own + 1, r->from_tt.v[k].pattern);
	}
	if (unmatched)
		qp_warnf(&r->warn_from, "%zu tensors match no rule: they keep their "
		     "source type", unmatched);
}

static int from_recipe(qp_recipe_emit *r, const qp_llq_model *m,
		       const char *id, qp_writer *w, qp_err *e)
{
	const char *file = r->ask->from;
	char source[512];
	source_of(source, sizeof source, "file", file);
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
		qp_llq_params p = r->ask->p;
		p.ftype = r->ask->mix;
		p.rules = &r->from_tt;
		st = qp_recipe_llq_ttfile(m, id, &p, source, &rc, decided, e);
	}
	if (st) {
		free(decided);
		return qp_fail_prefix(e, "%s", file);
	}
	warn_undecided(r, decided, n_rules, unmatched);
	free(decided);
	return put_owned(r, m, &rc, w, e);
}

static int from_gguf(qp_recipe_emit *r, const qp_llq_model *m,
		     const char *id, qp_writer *w, qp_err *e)
{
	const char *file = r->ask->from_gguf;
	char source[512];
	source_of(source, sizeof source, "gguf", file);
	qp_recipe rc;
	if (qp_recipe_llq_gguf(m, id, file, source, &rc, e))
		return qp_fail_prefix(e, "%s", file);
	return put_owned(r, m, &rc, w, e);
}

/* Recipes already in the stream (a run's own output read back). */
static int stream_recipes(qp_recipe_emit *r, const qp_model_batch *b,
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

/* ---- the optimiser ------------------------------------------------------ */

static bool wants_budget(const qp_recipe_ask *a)
{
	return a->has_bpw || a->has_size || a->frontier;
}

static bool makes_recipes(const qp_recipe_ask *a)
{
	return a->mix || a->n_compare || a->from || a->from_gguf ||
	       wants_budget(a);
}

/* The batch's tensor records into ts (b->n_tensors of them); the model's
 * fit record, if any; whether any tensor carries qerr. */
static void budget_inputs(const qp_model_batch *b, const qp_record **ts,
			  const qp_record **fit, bool *any_qerr)
{
	int n = 0;
	*fit = NULL;
	*any_qerr = false;
	for (size_t i = 0; i < b->n_items; i++) {
		const qp_record *rec = &b->items[i].k.rec;
		if (b->items[i].is_tensor) {
			ts[n++] = rec;
			*any_qerr |= qp_map_get(&rec->map, "qerr") != NULL;
		} else if (qp_rec_is(rec, "fit")) {
			const msgpack_object *mo = qp_map_get(&rec->map, "model");
			if (mo && qp_obj_str_eq(mo, b->id))
				*fit = rec;
		}
	}
}

static qp_opt_config budget_config(const qp_recipe_ask *a)
{
	return (qp_opt_config){
		.types = a->types, .n_types = a->n_types,
		.pins = a->pins, .n_pins = a->n_pins,
		.min_types = a->mins, .n_min = a->n_mins,
		.max_types = a->maxs, .n_max = a->n_maxs,
		.ties = a->ties, .n_ties = a->n_ties,
		.node_limit = (uint64_t)a->node_limit,
	};
}

/* The optimiser for this model: when a budget is asked for, or when the
 * tensors carry qerr (then mixes and files get pred, and --compare gets
 * our recipe at each mix's size).  *have false: not built (no qerr and no
 * budget, or no readable GGUF header for a run without a budget). */
static int budget_init(qp_recipe_emit *r, const qp_model_batch *b,
		       qp_budget_run *br, bool *have, qp_err *e)
{
	const qp_recipe_ask *a = r->ask;
	const qp_llq_imatrix_kv *im = a->has_imatrix ? &a->im : NULL;
	*have = false;
	const qp_record *fit;
	const qp_record **ts = malloc((b->n_tensors ? b->n_tensors : 1) * sizeof *ts);
	if (!ts)
		return qp_fail(e, "out of memory");
	bool any_qerr;
	budget_inputs(b, ts, &fit, &any_qerr);
	int n = (int)b->n_tensors;
	if (!wants_budget(a) && !any_qerr) {
		/* no measurements: mixes and files still get file_bytes when
		 * the model's GGUF header can be read */
		*have = qp_budget_run_init(br, b->model, ts, n, NULL, NULL, im, e) == 0;
		free(ts);
		return 0;
	}
	qp_opt_config cfg = budget_config(a);
	int st = qp_budget_run_init(br, b->model, ts, n, fit, &cfg, im, e);
	free(ts);
	if (st)
		return wants_budget(a) ? -1 : 0; /* mixes still come out */
	if (!br->fitted)
		qp_warnf(&r->warn, "model '%s': no fit record in the stream: the "
		     "uncalibrated prior predicts (pred.calibrated false)", b->id);
	*have = true;
	return 0;
}

typedef struct frontier_put {
	qp_recipe_emit *r;
	const qp_llq_model *m;
	qp_writer *w;
} frontier_put;

static int put_frontier(void *ctx, const qp_recipe *rc, qp_err *e)
{
	frontier_put *fp = ctx;
	return put_recipe(fp->r, fp->m, rc, fp->w, e);
}

static int budget_recipes(qp_recipe_emit *r, const qp_llq_model *m,
			  const qp_budget_run *br, qp_writer *w, qp_err *e)
{
	const qp_recipe_ask *a = r->ask;
	if (a->has_bpw || a->has_size) {
		qp_recipe rc;
		if (qp_budget_run_solve(br, a->has_size ? QP_OPT_BYTES : QP_OPT_BPW,
					a->has_size ? (double)a->size : a->bpw, &rc, e))
			return -1;
		if (put_owned(r, m, &rc, w, e))
			return -1;
	}
	if (a->frontier) {
		frontier_put fp = {r, m, w};
		return qp_budget_run_frontier(br, put_frontier, &fp, e);
	}
	return 0;
}

/* ---- one model ---------------------------------------------------------- */

/* llq_mix's view of the batch: the model record's facts, every tensor. */
static int read_model(const qp_model_batch *b, qp_llq_model *m, qp_err *e)
{
	if (!b->model)
		return qp_fail(e, "no model record for model '%s'", b->id);
	if (qp_llq_model_set(m, &b->model->map, e))
		return qp_fail_prefix(e, "model '%s'", b->id);
	for (size_t i = 0; i < b->n_items; i++) {
		const qp_record *rec = &b->items[i].k.rec;
		if (b->items[i].is_tensor && qp_llq_model_add(m, &rec->map, e))
			return qp_fail_prefix(e, "record %llu (byte offset %llu)",
					      (unsigned long long)rec->index,
					      (unsigned long long)rec->offset);
	}
	return 0;
}

/* Every recipe asked for, in the promised order. */
static int asked_recipes(qp_recipe_emit *r, const qp_model_batch *b,
			 const qp_llq_model *m, const qp_budget_run *br,
			 qp_writer *w, qp_err *e)
{
	const qp_recipe_ask *a = r->ask;
	int st = 0;
	if (a->mix && !a->from)
		st = mix_recipe(r, m, b->id, a->mix, br, false, w, e);
	for (int k = 0; !st && k < a->n_compare; k++)
		st = mix_recipe(r, m, b->id, a->compare[k], br, true, w, e);
	if (!st && br)
		st = budget_recipes(r, m, br, w, e);
	if (!st && a->from)
		st = from_recipe(r, m, b->id, w, e);
	if (!st && a->from_gguf)
		st = from_gguf(r, m, b->id, w, e);
	return st;
}

int qp_recipe_emit_model(void *ctx, const qp_model_batch *b, qp_writer *w,
			 qp_err *e)
{
	qp_recipe_emit *r = ctx;
	const qp_recipe_ask *a = r->ask;
	qp_llq_model m;
	qp_llq_model_init(&m);
	int st = read_model(b, &m, e);
	/* the batch's records pass through, the recipes come after them */
	for (size_t i = 0; !st && a->form == QP_RECIPE_RECORD && i < b->n_items; i++)
		st = qp_model_batch_pass(b, i, w, e);
	qp_budget_run br;
	bool have_br = false;
	if (!st && makes_recipes(a))
		st = budget_init(r, b, &br, &have_br, e);
	if (!st && makes_recipes(a))
		st = asked_recipes(r, b, &m, have_br ? &br : NULL, w, e);
	else if (!st && a->form != QP_RECIPE_RECORD)
		st = stream_recipes(r, b, &m, w, e);
	if (have_br)
		qp_budget_run_free(&br);
	qp_llq_model_free(&m);
	return st;
}
