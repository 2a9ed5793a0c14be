/* recipe.c — the recipe struct and its record. */
#include "recipe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "types.h"

void qp_recipe_init(qp_recipe *r)
{
	memset(r, 0, sizeof *r);
}

void qp_recipe_free(qp_recipe *r)
{
	if (!r)
		return;
	free(r->model);
	free(r->source);
	free(r->ftype);
	free(r->pred);
	for (size_t i = 0; i < r->n_tensors; i++)
		free(r->tensors[i].name);
	free(r->tensors);
	free(r->index);
	qp_recipe_init(r);
}

static int set_str(char **dst, const char *s, qp_err *e)
{
	char *copy = NULL;
	if (s && !(copy = strdup(s)))
		return qp_fail(e, "out of memory");
	free(*dst);
	*dst = copy;
	return 0;
}

int qp_recipe_set_model(qp_recipe *r, const char *s, qp_err *e)
{
	return set_str(&r->model, s, e);
}

int qp_recipe_set_source(qp_recipe *r, const char *s, qp_err *e)
{
	return set_str(&r->source, s, e);
}

int qp_recipe_set_ftype(qp_recipe *r, const char *s, qp_err *e)
{
	return set_str(&r->ftype, s, e);
}

int qp_recipe_set_pred(qp_recipe *r, const uint8_t *p, size_t n, qp_err *e)
{
	uint8_t *copy = NULL;
	if (p && n) {
		if (!(copy = malloc(n)))
			return qp_fail(e, "out of memory");
		memcpy(copy, p, n);
	}
	free(r->pred);
	r->pred = copy;
	r->pred_len = copy ? n : 0;
	return 0;
}

/* FNV-1a: the index only has to spread names, not resist anyone. */
static size_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return (size_t)h;
}

static void index_put(size_t *index, size_t n_index, const char *name,
		      size_t pos)
{
	size_t mask = n_index - 1;
	size_t slot = name_hash(name) & mask;
	while (index[slot])
		slot = (slot + 1) & mask;
	index[slot] = pos + 1;
}

/* Keeps the index at most half full, so probes stay short. */
static int index_grow(qp_recipe *r, qp_err *e)
{
	if (r->n_index && (r->n_tensors + 1) * 2 <= r->n_index)
		return 0;
	size_t n = r->n_index ? r->n_index * 2 : 64;
	size_t *index = calloc(n, sizeof *index);
	if (!index)
		return qp_fail(e, "out of memory");
	for (size_t i = 0; i < r->n_tensors; i++)
		index_put(index, n, r->tensors[i].name, i);
	free(r->index);
	r->index = index;
	r->n_index = n;
	return 0;
}

long qp_recipe_find(const qp_recipe *r, const char *name)
{
	if (!r->n_index)
		return -1;
	size_t mask = r->n_index - 1;
	for (size_t slot = name_hash(name) & mask; r->index[slot];
	     slot = (slot + 1) & mask) {
		size_t pos = r->index[slot] - 1;
		if (strcmp(r->tensors[pos].name, name) == 0)
			return (long)pos;
	}
	return -1;
}

int qp_recipe_add(qp_recipe *r, const char *name, uint32_t type, qp_err *e)
{
	if (qp_recipe_find(r, name) >= 0)
		return qp_fail(e, "tensor \"%s\" is in the recipe twice", name);
	if (r->n_tensors == r->cap_tensors) {
		size_t cap = r->cap_tensors ? r->cap_tensors * 2 : 64;
		qp_recipe_tensor *t = realloc(r->tensors, cap * sizeof *t);
		if (!t)
			return qp_fail(e, "out of memory");
		r->tensors = t;
		r->cap_tensors = cap;
	}
	if (index_grow(r, e))
		return -1;
	char *copy = strdup(name);
	if (!copy)
		return qp_fail(e, "out of memory");
	r->tensors[r->n_tensors].name = copy;
	r->tensors[r->n_tensors].type = type;
	index_put(r->index, r->n_index, copy, r->n_tensors);
	r->n_tensors++;
	return 0;
}

int qp_recipe_set_type(qp_recipe *r, const char *name, uint32_t type,
		       qp_err *e)
{
	long pos = qp_recipe_find(r, name);
	if (pos < 0)
		return qp_fail(e, "tensor \"%s\" is not in the recipe", name);
	r->tensors[pos].type = type;
	return 0;
}

int qp_recipe_copy(qp_recipe *dst, const qp_recipe *src, qp_err *e)
{
	qp_recipe_init(dst);
	dst->has_pure = src->has_pure;
	dst->pure = src->pure;
	dst->has_budget_bpw = src->has_budget_bpw;
	dst->has_budget_bytes = src->has_budget_bytes;
	dst->budget_bpw = src->budget_bpw;
	dst->budget_bytes = src->budget_bytes;
	dst->n_bytes = src->n_bytes;
	dst->bpw = src->bpw;
	dst->has_file_bytes = src->has_file_bytes;
	dst->file_bytes = src->file_bytes;
	dst->has_optimal = src->has_optimal;
	dst->opt_loss = src->opt_loss;
	dst->opt_bound = src->opt_bound;
	dst->opt_gap = src->opt_gap;
	if (qp_recipe_set_model(dst, src->model, e) ||
	    qp_recipe_set_source(dst, src->source, e) ||
	    qp_recipe_set_ftype(dst, src->ftype, e) ||
	    qp_recipe_set_pred(dst, src->pred, src->pred_len, e))
		goto fail;
	for (size_t i = 0; i < src->n_tensors; i++)
		if (qp_recipe_add(dst, src->tensors[i].name,
				  src->tensors[i].type, e))
			goto fail;
	return 0;
fail:
	qp_recipe_free(dst);
	return -1;
}

/* ---- packing ---------------------------------------------------------- */

int qp_recipe_pack(const qp_recipe *r, msgpack_packer *pk, qp_err *e)
{
	if (!r->model || !r->source)
		return qp_fail(e, "recipe without %s",
			       r->model ? "a source" : "a model id");
	bool budget = r->has_budget_bpw || r->has_budget_bytes;
	uint32_t n = 6 + (r->ftype != NULL) + r->has_pure + budget +
		     r->has_file_bytes + r->has_optimal + (r->pred != NULL);
	msgpack_pack_map(pk, n);
	qp_pack_key_str(pk, "kind", "recipe");
	qp_pack_key_str(pk, "model", r->model);
	qp_pack_key_str(pk, "source", r->source);
	if (r->ftype)
		qp_pack_key_str(pk, "ftype", r->ftype);
	if (r->has_pure)
		qp_pack_key_bool(pk, "pure", r->pure);
	if (budget) {
		qp_pack_str(pk, "budget");
		msgpack_pack_map(pk, (uint32_t)r->has_budget_bpw +
					     r->has_budget_bytes);
		if (r->has_budget_bpw)
			qp_pack_key_double(pk, "bpw", r->budget_bpw);
		if (r->has_budget_bytes)
			qp_pack_key_uint(pk, "bytes", r->budget_bytes);
	}
	qp_pack_key_uint(pk, "n_bytes", r->n_bytes);
	qp_pack_key_double(pk, "bpw", r->bpw);
	if (r->has_file_bytes)
		qp_pack_key_uint(pk, "file_bytes", r->file_bytes);
	qp_pack_str(pk, "types");
	msgpack_pack_map(pk, (uint32_t)r->n_tensors);
	for (size_t i = 0; i < r->n_tensors; i++) {
		char buf[16];
		qp_pack_str(pk, r->tensors[i].name);
		qp_pack_str(pk, qp_type_name(r->tensors[i].type, buf));
	}
	if (r->has_optimal) {
		qp_pack_str(pk, "optimal");
		msgpack_pack_map(pk, 3);
		qp_pack_key_double(pk, "loss", r->opt_loss);
		qp_pack_key_double(pk, "bound", r->opt_bound);
		qp_pack_key_double(pk, "gap", r->opt_gap);
	}
	if (r->pred) {
		qp_pack_str(pk, "pred");
		/* already one packed value: append its bytes as they are */
		pk->callback(pk->data, (const char *)r->pred, r->pred_len);
	}
	return 0;
}

/* ---- parsing ---------------------------------------------------------- */

static bool is_number(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_FLOAT32 ||
	       o->type == MSGPACK_OBJECT_FLOAT64 ||
	       o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
	       o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

static double number_of(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)o->via.i64;
	default: return o->via.f64;
	}
}

static int wrong_type(const char *field, const msgpack_object *o,
		      const char *want, qp_err *e)
{
	return qp_fail(e, "field \"%s\" is %s, expected %s", field,
		       qp_obj_type_name(o->type), want);
}

/* A copy of a msgpack string as a C string; NUL bytes are refused. */
static int dup_str(const msgpack_object *o, const char *field, char **out,
		   qp_err *e)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return wrong_type(field, o, "string", e);
	if (memchr(o->via.str.ptr, '\0', o->via.str.size))
		return qp_fail(e, "field \"%s\" contains a NUL byte", field);
	char *s = malloc(o->via.str.size + 1);
	if (!s)
		return qp_fail(e, "out of memory");
	memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = '\0';
	*out = s;
	return 0;
}

static int get_double(const msgpack_object *map, const char *key,
		      const char *field, bool required, bool *has,
		      double *out, qp_err *e)
{
	const msgpack_object *o = qp_map_get(map, key);
	if (!o || o->type == MSGPACK_OBJECT_NIL) {
		if (required)
			return qp_fail(e, "field \"%s\" is missing", field);
		if (has)
			*has = false;
		return 0;
	}
	if (!is_number(o))
		return wrong_type(field, o, "a number", e);
	*out = number_of(o);
	if (!isfinite(*out) && required)
		return qp_fail(e, "field \"%s\" is not finite", field);
	if (has)
		*has = true;
	return 0;
}

static int get_uint(const msgpack_object *o, const char *field,
		    uint64_t *out, qp_err *e)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER
			       ? qp_fail(e, "field \"%s\" is negative", field)
			       : wrong_type(field, o, "integer", e);
	*out = o->via.u64;
	return 0;
}

static int parse_types(const msgpack_object *o, qp_recipe *r, qp_err *e)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return wrong_type("types", o, "map", e);
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		char *name = NULL, *tname = NULL;
		if (dup_str(&kv->key, "types", &name, e))
			return qp_fail_prefix(e, "key %u", i);
		int st = dup_str(&kv->val, "types", &tname, e);
		const qp_type_info *ti = st ? NULL : qp_type_info_by_name(tname);
		if (!st && (!ti || ti->removed))
			st = qp_fail(e, "field \"types\": key \"%s\": unknown "
				     "type \"%s\"", name, tname);
		else if (st)
			qp_fail_prefix(e, "key \"%s\"", name);
		if (!st && qp_recipe_add(r, name, ti->id, e))
			st = qp_fail_prefix(e, "field \"types\"");
		free(name);
		free(tname);
		if (st)
			return -1;
	}
	return 0;
}

static int buf_write(void *data, const char *p, size_t n)
{
	if (n)
		qp_buf_append(data, p, n);
	return 0;
}

static int parse_body(const msgpack_object *map, qp_recipe *r, qp_err *e)
{
	if (map->type != MSGPACK_OBJECT_MAP)
		return qp_fail(e, "a recipe must be a map, not %s",
			       qp_obj_type_name(map->type));
	const msgpack_object *o = qp_map_get(map, "kind");
	if (!o || !qp_obj_str_eq(o, "recipe"))
		return qp_fail(e, "not a recipe record");
	static const char *const required_str[] = { "model", "source" };
	for (int i = 0; i < 2; i++) {
		o = qp_map_get(map, required_str[i]);
		if (!o)
			return qp_fail(e, "field \"%s\" is missing",
				       required_str[i]);
		if (dup_str(o, required_str[i],
			    i == 0 ? &r->model : &r->source, e))
			return -1;
	}
	o = qp_map_get(map, "ftype");
	if (o && o->type != MSGPACK_OBJECT_NIL &&
	    dup_str(o, "ftype", &r->ftype, e))
		return -1;
	o = qp_map_get(map, "pure");
	if (o && o->type != MSGPACK_OBJECT_NIL) {
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return wrong_type("pure", o, "boolean", e);
		r->has_pure = true;
		r->pure = o->via.boolean;
	}
	o = qp_map_get(map, "budget");
	if (o && o->type != MSGPACK_OBJECT_NIL) {
		if (o->type != MSGPACK_OBJECT_MAP)
			return wrong_type("budget", o, "map", e);
		if (get_double(o, "bpw", "budget.bpw", false,
			       &r->has_budget_bpw, &r->budget_bpw, e))
			return -1;
		const msgpack_object *b = qp_map_get(o, "bytes");
		if (b && b->type != MSGPACK_OBJECT_NIL) {
			if (get_uint(b, "budget.bytes", &r->budget_bytes, e))
				return -1;
			r->has_budget_bytes = true;
		}
	}
	o = qp_map_get(map, "n_bytes");
	if (!o)
		return qp_fail(e, "field \"n_bytes\" is missing");
	if (get_uint(o, "n_bytes", &r->n_bytes, e))
		return -1;
	if (get_double(map, "bpw", "bpw", true, NULL, &r->bpw, e))
		return -1;
	o = qp_map_get(map, "file_bytes");
	if (o && o->type != MSGPACK_OBJECT_NIL) {
		if (get_uint(o, "file_bytes", &r->file_bytes, e))
			return -1;
		r->has_file_bytes = true;
	}
	o = qp_map_get(map, "types");
	if (!o)
		return qp_fail(e, "field \"types\" is missing");
	if (parse_types(o, r, e))
		return -1;
	o = qp_map_get(map, "optimal");
	if (o && o->type != MSGPACK_OBJECT_NIL) {
		if (o->type != MSGPACK_OBJECT_MAP)
			return wrong_type("optimal", o, "map", e);
		if (get_double(o, "loss", "optimal.loss", true, NULL,
			       &r->opt_loss, e) ||
		    get_double(o, "bound", "optimal.bound", true, NULL,
			       &r->opt_bound, e) ||
		    get_double(o, "gap", "optimal.gap", true, NULL,
			       &r->opt_gap, e))
			return -1;
		r->has_optimal = true;
	}
	o = qp_map_get(map, "pred");
	if (o && o->type != MSGPACK_OBJECT_NIL) {
		qp_buf b = {0};
		msgpack_packer pk;
		msgpack_packer_init(&pk, &b, buf_write);
		/* repack the decoded value: the same value, in msgpack-c's
		 * shortest encoding */
		msgpack_pack_object(&pk, *o);
		int st = b.oom ? qp_fail(e, "out of memory")
			       : qp_recipe_set_pred(r, (const uint8_t *)b.p,
						    b.len, e);
		qp_buf_free(&b);
		if (st)
			return -1;
	}
	return 0;
}

int qp_recipe_parse(const msgpack_object *map, qp_recipe *r, qp_err *e)
{
	qp_recipe_init(r);
	if (parse_body(map, r, e)) {
		qp_recipe_free(r);
		return -1;
	}
	return 0;
}

int qp_recipe_from_record(const qp_record *rec, qp_recipe *r, qp_err *e)
{
	if (qp_recipe_parse(&rec->map, r, e))
		return qp_fail_prefix(e, "record %llu (byte offset %llu)",
				      (unsigned long long)rec->index,
				      (unsigned long long)rec->offset);
	return 0;
}
