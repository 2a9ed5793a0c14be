/* recipe_emit.h — one model's recipes as recipe-emit is asked for them:
 * llama.cpp's named mixes, recipe and tensor-type files, an existing
 * quant, the best types for a budget; as records or as one text.
 *
 * Promise: qp_recipe_emit_model() is a qp_on_model (model_batch.h).  In
 * the record form it writes the batch's records unchanged, then the
 * recipes asked for, always in this order: --mix (unless --from takes
 * it as its base), each --compare mix (followed, when the tensors carry
 * qerr, by a recipe of ours at that mix's exact file size), the budget's
 * recipe (--bpw or --size), the --frontier, --from, --from-gguf.  Mixes
 * and files get file_bytes and, with qerr, pred.  With a text form
 * (qp_recipe_form) the one recipe is rendered into emit->text and a
 * second one is an error; with nothing asked for, the stream's own
 * recipe records of the model are the ones rendered.
 *
 * Warnings (rules that decide no tensor, no fit record, a recipe that
 * needs --imatrix) go to the caller's sinks (err.h).  The library names
 * no input file of the stream: warnings about the --from file go to
 * warn_from, for the caller to name the file; errors about the
 * --from and --from-gguf files are prefixed with the names the ask gives
 * them (their last component also labels the recipe's source,
 * "file:NAME", "gguf:NAME").
 */
#ifndef QP_RECIPE_EMIT_H
#define QP_RECIPE_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "llq_mix.h"
#include "llq_size.h"
#include "model_batch.h"
#include "optimize.h"
#include "recipe_text.h"

#define QP_RECIPE_ASK_RULES 256 /* rules of one kind (--pin, --tie, ...) */
#define QP_RECIPE_ASK_LIST 64   /* --compare mixes, --types types */
#define QP_RECIPE_RECORD (-1)   /* form: records, not a qp_recipe_form */

/* What the command line asks for. */
typedef struct qp_recipe_ask {
	const qp_llq_ftype *mix;
	const qp_llq_ftype *compare[QP_RECIPE_ASK_LIST];
	int n_compare;
	const char *from;       /* --from FILE: its name (the text is read apart) */
	const char *from_gguf;  /* --from-gguf FILE */
	int form;               /* QP_RECIPE_RECORD or a qp_recipe_form */
	qp_llq_params p;        /* llama-quantize's options */
	qp_llq_rules rules;     /* --tensor-type and --tensor-type-file */
	bool has_bpw, has_size, frontier;
	double bpw;
	uint64_t size;
	uint32_t types[QP_RECIPE_ASK_LIST];
	int n_types;
	qp_opt_rule pins[QP_RECIPE_ASK_RULES], mins[QP_RECIPE_ASK_RULES];
	qp_opt_rule maxs[QP_RECIPE_ASK_RULES], ties[QP_RECIPE_ASK_RULES];
	int n_pins, n_mins, n_maxs, n_ties;
	bool has_imatrix;       /* --imatrix FILE: im holds its header keys */
	qp_llq_imatrix_kv im;
	char *im_dataset;       /* owned: im.dataset */
	long node_limit;
} qp_recipe_ask;

void qp_recipe_ask_init(qp_recipe_ask *a);
void qp_recipe_ask_free(qp_recipe_ask *a);
/* Option values: an ftype name (--mix), a type name, a format name
 * (-f), a comma-separated type list (--types, replacing it) or mix list
 * (--compare, adding to it). */
int qp_recipe_ask_mix(const char *name, const qp_llq_ftype **out, qp_err *e);
int qp_recipe_ask_type(const char *name, uint32_t *out, qp_err *e);
int qp_recipe_ask_form(qp_recipe_ask *a, const char *s, qp_err *e);
int qp_recipe_ask_types(qp_recipe_ask *a, const char *arg, qp_err *e);
int qp_recipe_ask_compare(qp_recipe_ask *a, const char *arg, qp_err *e);
/* Adds a --pin/--min-type/--max-type (want_type) or --tie rule. */
int qp_recipe_ask_rule(qp_opt_rule *v, int *n, const char *arg,
		       bool want_type, qp_err *e);
/* The header keys of the imatrix at path (the file name is kept as
 * llama-quantize records it). */
int qp_recipe_ask_imatrix(qp_recipe_ask *a, const char *path, qp_err *e);
/* The usage conflict among the options, or NULL. */
const char *qp_recipe_ask_conflict(const qp_recipe_ask *a);

typedef struct qp_recipe_emit {
	const qp_recipe_ask *ask;
	qp_warn warn;           /* warnings */
	qp_warn warn_from;      /* warnings about the --from file */
	bool from_is_rtext;     /* --from is a recipe text (else a tensor-type file) */
	qp_rtext from_rules;
	qp_llq_rules from_tt;   /* --tensor-type rules, then the file's */
	size_t n_text;          /* recipes rendered as text so far */
	qp_buf text;            /* the text output */
} qp_recipe_emit;

/* Reads the --from file's text: a recipe text, or a tensor-type file
 * (after the --tensor-type rules, as llama-quantize's command line puts
 * them before the file). */
int qp_recipe_emit_from(qp_recipe_emit *r, const char *text, size_t len,
			qp_err *e);
/* The usage conflict between --from's kind and --mix, or NULL. */
const char *qp_recipe_emit_from_conflict(const qp_recipe_emit *r);
void qp_recipe_emit_free(qp_recipe_emit *r);

/* A qp_on_model; ctx is a qp_recipe_emit. */
int qp_recipe_emit_model(void *ctx, const qp_model_batch *b, qp_writer *w,
			 qp_err *e);

#endif
