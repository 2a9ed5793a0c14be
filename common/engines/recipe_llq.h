/* recipe_llq.h — recipes for one model, as llama-quantize sees them.
 *
 * Promise: builds a qp_recipe (every tensor of the model, in its order)
 *  - from a named mix with llama-quantize's options (llq_mix.h), refusing
 *    what llama-quantize refuses (an importance matrix needed and not
 *    used, a shape it cannot write);
 *  - from recipe-text rules (first whole-name match; a tensor llama-
 *    quantize never quantizes keeps its type; a rule's type goes through
 *    llama-quantize's shape fallbacks, since that is what it would write)
 *    or from a --tensor-type-file's rules on a named mix (exactly what
 *    llama-quantize --tensor-type-file does), counting the tensors each
 *    rule decides so the caller can warn about rules that decide none;
 *  - from the tensor types of an existing quantized file;
 * fills n_bytes and bpw from the type table (see qp_recipe_llq_sizes), and
 * states a recipe in the forms llama.cpp runs as they are: the recipe text,
 * a --tensor-type-file, llama-quantize arguments, ik_llama.cpp's
 * --custom-q.  Before writing a llama.cpp form it replays llama-quantize's
 * whole choice (llq_mix.h) with the emitted rules and ftype and fails
 * unless every tensor gets exactly its planned type.
 */
#ifndef QP_RECIPE_LLQ_H
#define QP_RECIPE_LLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "llq_mix.h"
#include "recipe.h"
#include "recipe_text.h"

/* Source "mix:NAME", ftype NAME, pure as asked. */
int qp_recipe_llq_mix(const qp_llq_model *m, const char *model_id,
		      const qp_llq_params *p, qp_recipe *r, qp_err *e);

/* decided[k] (n_rules entries, may be NULL) counts the tensors rule k
 * decides.  *unmatched counts quantizable tensors no rule matched (they
 * keep their source type). */
int qp_recipe_llq_rtext(const qp_llq_model *m, const char *model_id,
			const qp_rtext *rules, const char *source,
			qp_recipe *r, size_t *decided, size_t *unmatched,
			qp_err *e);

/* p->rules are the file's; decided as above (p->rules->n entries). */
int qp_recipe_llq_ttfile(const qp_llq_model *m, const char *model_id,
			 const qp_llq_params *p, const char *source,
			 qp_recipe *r, size_t *decided, qp_err *e);

/* The types of an existing file: names[i] has types[i] (n of them); every
 * tensor of m must be there with the same name. ftype_id is its
 * general.file_type (-1 if absent). */
int qp_recipe_llq_types(const qp_llq_model *m, const char *model_id,
			const char *const *names, const uint32_t *types,
			size_t n, int ftype_id, const char *source,
			qp_recipe *r, qp_err *e);

/* The same, read from a GGUF file (one file: a split model is refused). */
int qp_recipe_llq_gguf(const qp_llq_model *m, const char *model_id,
		       const char *path, const char *source, qp_recipe *r,
		       qp_err *e);

/* n_bytes: the tensor data llama-quantize writes (rows x row size of each
 * tensor's type, its "quant size"); the GGUF header and alignment padding
 * are not counted.  bpw: n_bytes * 8 / elements, as llama-quantize prints
 * its BPW. */
int qp_recipe_llq_sizes(const qp_llq_model *m, qp_recipe *r, qp_err *e);

typedef enum qp_recipe_form {
	QP_FORM_RECIPE,         /* recipe text */
	QP_FORM_TTFILE,         /* llama-quantize --tensor-type-file */
	QP_FORM_ARGS,           /* llama-quantize options, then the ftype */
	QP_FORM_CUSTOM_Q,       /* ik_llama.cpp --custom-q */
	QP_FORM_TSV,            /* name<TAB>type per tensor, for awk and diff */
} qp_recipe_form;

/* Appends r (a recipe of every tensor of m) to out in the given form.
 * *needs_imatrix is set when llama-quantize will want --imatrix for it. */
int qp_recipe_llq_emit(const qp_llq_model *m, const qp_recipe *r,
		       qp_recipe_form form, qp_buf *out, bool *needs_imatrix,
		       qp_err *e);

#endif
