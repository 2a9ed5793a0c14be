/* llq_mix.h — the type llama-quantize picks for each tensor.
 *
 * Promise: for a model described by its gguf-dump records alone (model
 * hyper-parameters and kv, tensor names, shapes and types), and a named
 * ftype with llama-quantize's options (--pure, --imatrix, --leave-output-
 * tensor, --output-tensor-type, --token-embedding-type, --tensor-type /
 * --tensor-type-file rules in command-line order), qp_llq_mix() gives the
 * type llama-quantize (llama.cpp b10573, src/llama-quant.cpp) writes for
 * every tensor: the ftype's mixture rules (use_more_bits layers, the GQA
 * ratio, n_expert == 8, the 70B rule, tied embeddings, token_embd/output
 * rules, imatrix-dependent choices), its counters walked in llama.cpp's
 * tensor order (global tensors, then by layer, by name within a layer),
 * the overrides where and in the order llama-quantize applies them, and
 * its shape fallbacks (quant.h).  Tensors it never quantizes keep their
 * type (llq_policy.h).  Where llama-quantize aborts (no shape fallback, a
 * bad layer number in an MoE tensor name) qp_llq_mix() fails with the
 * reason; tensors that need an importance matrix are flagged, so the
 * caller can refuse as llama-quantize does without one.
 *
 * --tensor-type patterns are held as llama-quantize holds them (lower-
 * cased) and matched as it matches them (ECMAScript regex_search: a
 * substring match) through a POSIX translation; constructs POSIX cannot
 * express the same way (look-around, back-references, \b) are refused at
 * parse time instead of being matched differently.
 */
#ifndef QP_LLQ_MIX_H
#define QP_LLQ_MIX_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define QP_LLQ_NO_TYPE UINT32_MAX

/* ---- ftypes ------------------------------------------------------------ */

typedef struct qp_llq_ftype {
	const char *name;       /* as llama-quantize lists it: "Q4_K_M" */
	int id;                 /* llama_ftype, the general.file_type value */
	uint32_t base_type;     /* llama_ftype_get_default_type */
	const char *alias_of;   /* "Q4_K" -> "Q4_K_M", else NULL */
} qp_llq_ftype;

/* Case-insensitive, aliases included, or a number (llama-quantize also
 * takes the llama_ftype id); NULL if llama-quantize does not know it.
 * COPY is not a mix and is not known here. */
const qp_llq_ftype *qp_llq_ftype_by_name(const char *name);
/* The canonical entry for a general.file_type id, or NULL. */
const qp_llq_ftype *qp_llq_ftype_by_id(int id);
/* Every named ftype in llama-quantize's list order, aliases last
 * (i = 0, 1, ... until NULL). */
const qp_llq_ftype *qp_llq_ftype_at(size_t i);
/* True when llama-quantize applies mixture rules and overrides at all
 * (its base type is block-quantized: not F32, F16 or BF16). */
bool qp_llq_ftype_quantized(const qp_llq_ftype *f);

/* ---- --tensor-type rules ---------------------------------------------- */

typedef struct qp_llq_rule {
	char *pattern;          /* lower-cased, as llama-quantize keeps it */
	uint32_t type;
	regex_t re;             /* its POSIX translation, unanchored */
} qp_llq_rule;

typedef struct qp_llq_rules {
	qp_llq_rule *v;
	size_t n, cap;
} qp_llq_rules;

void qp_llq_rules_free(qp_llq_rules *r);
/* Adds one NAME=TYPE token exactly as llama-quantize's parse_tensor_type
 * reads it (split at the first '=', empty name or type refused, type
 * names case-insensitive): -1 for a malformed token, an unknown type or
 * a pattern using what has no POSIX translation (see below), QP_ERR_INPUT
 * when NAME is not a valid regular expression. */
int qp_llq_rules_add(qp_llq_rules *r, const char *token, qp_err *e);
/* Index of the first rule whose pattern llama-quantize would find in
 * name, or -1. */
long qp_llq_rules_match(const qp_llq_rules *r, const char *name);
/* Refuses what would make a regex engine blow up or what ECMAScript
 * rejects anyway: a quantifier with nothing to repeat (at the start,
 * after '(' '|' '^' or another quantifier: "a++"), a bound above 255 or
 * more than two bounds, a pattern over 4096 bytes.  Used for our recipe
 * rules and llama-quantize's alike.  What ECMAScript rejects returns
 * QP_ERR_INPUT (err.h), our limits -1. */
int qp_llq_regex_check(const char *pattern, qp_err *e);
/* Translates a lower-cased ECMAScript pattern into POSIX ERE text
 * (\d \w \s and their bracket forms, lazy quantifiers, (?: groups) into
 * buf; fails with -1 on what has no equivalent, with QP_ERR_INPUT on
 * what is no regular expression (nothing to repeat, an unterminated [,
 * a trailing backslash). */
int qp_llq_ecma_to_ere(const char *pattern, char *buf, size_t size,
		       qp_err *e);

/* ---- the model --------------------------------------------------------- */

typedef struct qp_llq_tensor {
	char *name;
	int n_dims;
	int64_t ne[4];
	uint32_t type;          /* its type in the source file */
} qp_llq_tensor;

typedef struct qp_llq_model {
	char arch[64];          /* general.architecture, "" if unknown */
	int64_t n_layer_all;    /* block_count */
	int64_t n_layer_nextn;  /* <arch>.nextn_predict_layers, else 0 */
	int64_t n_head, n_head_kv; /* of layer 0 */
	int64_t n_expert;       /* 0 when absent */
	int64_t n_embd;
	qp_llq_tensor *t;       /* in stream order */
	size_t n, cap;
} qp_llq_model;

void qp_llq_model_init(qp_llq_model *m);
void qp_llq_model_free(qp_llq_model *m);
/* Adds one tensor (llq_mix_rec.h reads them from records); n_dims as
 * stored, trailing 1s are dropped as ggml_n_dims does. */
int qp_llq_model_add_tensor(qp_llq_model *m, const char *name, int n_dims,
			    const int64_t *ne, uint32_t type, qp_err *e);

/* Bytes of tensor t written as type: rows x row size, what llama-quantize
 * adds up as its "quant size" (no header, no alignment padding).  Fails
 * when the type cannot hold rows of ne[0]. */
int qp_llq_tensor_bytes(const qp_llq_tensor *t, uint32_t type,
			uint64_t *bytes, qp_err *e);

/* ---- the mix ----------------------------------------------------------- */

typedef struct qp_llq_params {
	const qp_llq_ftype *ftype;
	bool pure;              /* --pure */
	bool imatrix;           /* --imatrix given */
	bool leave_output;      /* --leave-output-tensor */
	uint32_t output_type;   /* --output-tensor-type, or QP_LLQ_NO_TYPE */
	uint32_t token_embd_type; /* --token-embedding-type, or QP_LLQ_NO_TYPE */
	const qp_llq_rules *rules; /* --tensor-type rules, or NULL */
} qp_llq_params;

/* Defaults: no ftype, no options. */
void qp_llq_params_init(qp_llq_params *p);

typedef struct qp_llq_choice {
	uint32_t type;          /* the type written */
	bool quantized;         /* llama-quantize chose it (else kept) */
	bool requires_imatrix;  /* tensor_requires_imatrix */
	bool fell_back;         /* a shape fallback replaced the choice */
	long rule;              /* index of the --tensor-type rule used, or -1 */
} qp_llq_choice;

/* out[i] for m->t[i].  Fails where llama-quantize aborts. */
int qp_llq_mix(const qp_llq_model *m, const qp_llq_params *p,
	       qp_llq_choice *out, qp_err *e);

/* True when tensor i of m may be quantized at all (llq_policy.h, and
 * output.weight under --leave-output-tensor). */
bool qp_llq_model_quantizable(const qp_llq_model *m, const qp_llq_params *p,
			      size_t i);

#endif
