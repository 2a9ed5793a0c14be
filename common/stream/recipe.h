/* recipe.h — a per-tensor type assignment, and its `recipe` record.
 *
 * Promise: a qp_recipe holds one type per tensor name, in the order the
 * tensors were added (the model's tensor order), with O(1) lookup by name,
 * and the recipe record's other fields (DESIGN.md, man/quantpipe.5):
 * model, source, ftype?, pure?, budget? {bpw?, bytes?}, n_bytes, bpw,
 * file_bytes?, types, optimal? {loss, bound, gap}, pred?.  qp_recipe_pack() writes the
 * record with its fields in that order, so the same recipe always gives the
 * same bytes; qp_recipe_parse() reads one back and names the field that is
 * missing, of the wrong type, or holds an unknown type name or a duplicate
 * tensor.  `pred` belongs to proxy-fit: the recipe keeps it as one opaque
 * msgpack value and writes it back unchanged.  Nothing here exits.
 */
#ifndef QP_RECIPE_H
#define QP_RECIPE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rec.h"

typedef struct qp_recipe_tensor {
	char *name;
	uint32_t type;          /* ggml type id (types.h) */
} qp_recipe_tensor;

typedef struct qp_recipe {
	char *model;            /* the model's id; NULL until set */
	char *source;           /* "recipe-emit", "mix:Q4_K_M", "file:NAME", ... */
	char *ftype;            /* llama-quantize's base ftype to pass, or NULL */
	bool has_pure, pure;    /* pure? */
	bool has_budget_bpw, has_budget_bytes;
	double budget_bpw;
	uint64_t budget_bytes;
	uint64_t n_bytes;       /* tensor data llama-quantize writes */
	double bpw;             /* as llama-quantize prints it */
	bool has_file_bytes;    /* file_bytes? */
	uint64_t file_bytes;    /* the whole GGUF file's size (llq_size.h) */
	bool has_optimal;
	double opt_loss, opt_bound, opt_gap;
	uint8_t *pred;          /* one msgpack value, or NULL */
	size_t pred_len;

	qp_recipe_tensor *tensors; /* in insertion order */
	size_t n_tensors;
	/* private: capacity and the open-addressing name index */
	size_t cap_tensors;
	size_t *index;          /* slot -> tensor position + 1, 0 = empty */
	size_t n_index;         /* a power of two, or 0 */
} qp_recipe;

/* An empty recipe (every field absent, no tensors). */
void qp_recipe_init(qp_recipe *r);
void qp_recipe_free(qp_recipe *r);

/* Replace a string field with a copy of s (NULL clears an optional one). */
int qp_recipe_set_model(qp_recipe *r, const char *s, qp_err *e);
int qp_recipe_set_source(qp_recipe *r, const char *s, qp_err *e);
int qp_recipe_set_ftype(qp_recipe *r, const char *s, qp_err *e);
/* Keeps a copy of one packed msgpack value as `pred` (NULL, 0 clears). */
int qp_recipe_set_pred(qp_recipe *r, const uint8_t *p, size_t n, qp_err *e);

/* Appends name -> type; a name already in the recipe is an error. */
int qp_recipe_add(qp_recipe *r, const char *name, uint32_t type, qp_err *e);
/* Changes the type of a tensor already in the recipe (-1 if absent). */
int qp_recipe_set_type(qp_recipe *r, const char *name, uint32_t type,
		       qp_err *e);
/* Position of name in r->tensors, or -1. */
long qp_recipe_find(const qp_recipe *r, const char *name);

/* A deep copy of src into dst (dst is initialised here). */
int qp_recipe_copy(qp_recipe *dst, const qp_recipe *src, qp_err *e);

/* Packs the whole record (one map, "kind":"recipe" first). Fails only when
 * model or source is unset. */
int qp_recipe_pack(const qp_recipe *r, msgpack_packer *pk, qp_err *e);

/* Reads a recipe from a decoded record map (its "kind" must be "recipe").
 * r is initialised here; on failure it is left empty, and e names the
 * field ("field \"types\": key \"blk.0.attn_q.weight\": unknown type
 * \"Q4_Z\""). */
int qp_recipe_parse(const msgpack_object *map, qp_recipe *r, qp_err *e);
/* The same with the record's number and byte offset in front of the
 * message. */
int qp_recipe_from_record(const qp_record *rec, qp_recipe *r, qp_err *e);

#endif
