/* compare_rec.c — model, tensor and recipe records into a qp_compare. */
#include "compare_rec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qp_compare_init(qp_compare *c, const char *target)
{
	memset(c, 0, sizeof *c);
	c->last_row = -1;
	if (target)
		snprintf(c->target, sizeof c->target, "%s", target);
}

static char *dup_obj_str(const msgpack_object *o)
{
	char *s = malloc(o->via.str.size + 1);
	if (s) {
		memcpy(s, o->via.str.ptr, o->via.str.size);
		s[o->via.str.size] = '\0';
	}
	return s;
}

static bool obj_str_is(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

/* The row of the model named by o (a string), made when new; NULL on
 * out of memory. */
static qp_compare_row *row_of(qp_compare *c, const msgpack_object *o, qp_err *e)
{
	if (c->last_row >= 0 && obj_str_is(o, c->rows[c->last_row].id))
		return &c->rows[c->last_row];
	for (int i = 0; i < c->n_rows; i++)
		if (obj_str_is(o, c->rows[i].id)) {
			c->last_row = i;
			return &c->rows[i];
		}
	if ((size_t)c->n_rows == c->cap_rows) {
		qp_compare_row *nr = qp_grow(c->rows, &c->cap_rows, sizeof *nr, 16);
		if (!nr) {
			qp_fail(e, "out of memory");
			return NULL;
		}
		c->rows = nr;
	}
	qp_compare_row *r = &c->rows[c->n_rows];
	memset(r, 0, sizeof *r);
	r->n_bytes = r->n_params = -1;
	if (!(r->id = dup_obj_str(o))) {
		qp_fail(e, "out of memory");
		return NULL;
	}
	c->last_row = c->n_rows++;
	return r;
}

static const msgpack_object *name_field(const qp_record *rec, const char *key, qp_err *e)
{
	const msgpack_object *o = qp_rec_field(rec, key, MSGPACK_OBJECT_STR, e);
	if (o && memchr(o->via.str.ptr, '\0', o->via.str.size)) {
		qp_fail_record(e, rec->index, rec->offset, "field \"%s\" contains a NUL byte", key);
		return NULL;
	}
	return o;
}

static int add_model(qp_compare *c, const qp_record *rec, qp_err *e)
{
	const msgpack_object *id = name_field(rec, "id", e);
	qp_compare_row *r = id ? row_of(c, id, e) : NULL;
	if (!r)
		return -1;
	double v;
	if (qp_obj_number(qp_map_get(&rec->map, "n_bytes"), &v))
		r->n_bytes = v;
	if (qp_obj_number(qp_map_get(&rec->map, "n_params"), &v))
		r->n_params = v;
	return 0;
}

/* Higher score first, then the name, as sort -k1,1gr -k2,2 orders them. */
static bool ranks_before(double sa, const char *na, double sb, const char *nb)
{
	return sa != sb ? sa > sb : strcmp(na, nb) < 0;
}

static int add_tensor(qp_compare *c, const qp_record *rec, qp_err *e)
{
	const msgpack_object *model = qp_map_get(&rec->map, "model");
	const msgpack_object *name = qp_map_get(&rec->map, "name");
	double score;
	if (!model || model->type != MSGPACK_OBJECT_STR || !name || name->type != MSGPACK_OBJECT_STR ||
	    !qp_obj_number(qp_map_path(&rec->map, "sens.score"), &score) || !isfinite(score))
		return 0; /* not a scored tensor of a named model */
	qp_compare_row *r = row_of(c, model, e);
	if (!r)
		return -1;
	/* a tensor seen again (recipe files pass the tensor records on) */
	for (int k = 0; k < r->n_top; k++)
		if (obj_str_is(name, r->top[k]))
			return 0;
	char *n = dup_obj_str(name);
	if (!n)
		return qp_fail(e, "out of memory");
	int at = r->n_top;
	while (at > 0 && ranks_before(score, n, r->top_score[at - 1], r->top[at - 1]))
		at--;
	if (at >= QP_COMPARE_TOP) {
		free(n);
		return 0;
	}
	if (r->n_top == QP_COMPARE_TOP)
		free(r->top[--r->n_top]);
	memmove(&r->top[at + 1], &r->top[at], (size_t)(r->n_top - at) * sizeof r->top[0]);
	memmove(&r->top_score[at + 1], &r->top_score[at], (size_t)(r->n_top - at) * sizeof r->top_score[0]);
	r->top[at] = n;
	r->top_score[at] = score;
	r->n_top++;
	return 0;
}

/* The column a recipe belongs to: its budget, else its source. */
static int column_label(const qp_record *rec, char *out, size_t n, qp_err *e)
{
	const msgpack_object *b = qp_map_get(&rec->map, "budget");
	double v;
	if (b && b->type == MSGPACK_OBJECT_MAP) {
		if (qp_obj_number(qp_map_get(b, "bpw"), &v)) {
			snprintf(out, n, "%.6g bpw", v);
			return 0;
		}
		if (qp_obj_number(qp_map_get(b, "bytes"), &v)) {
			static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
			int u = 0;
			while (u < 4 && v >= 1024) {
				v /= 1024;
				u++;
			}
			snprintf(out, n, "%.6g %s", v, unit[u]);
			return 0;
		}
	}
	const msgpack_object *src = name_field(rec, "source", e);
	if (!src)
		return -1;
	snprintf(out, n, "%.*s", (int)(src->via.str.size < 200 ? src->via.str.size : 200), src->via.str.ptr);
	return 0;
}

static int column_of(qp_compare *c, const char *label, qp_err *e)
{
	for (int i = 0; i < c->n_cols; i++)
		if (strcmp(c->cols[i], label) == 0)
			return i;
	if ((size_t)c->n_cols == c->cap_cols) {
		char **nc = qp_grow(c->cols, &c->cap_cols, sizeof *nc, 8);
		if (!nc)
			return qp_fail(e, "out of memory");
		c->cols = nc;
	}
	if (!(c->cols[c->n_cols] = strdup(label)))
		return qp_fail(e, "out of memory");
	return c->n_cols++;
}

static int add_recipe(qp_compare *c, const qp_record *rec, qp_err *e)
{
	const msgpack_object *model = name_field(rec, "model", e);
	if (!model)
		return -1;
	const msgpack_object *pred = qp_map_get(&rec->map, "pred");
	double y;
	if (!pred || pred->type != MSGPACK_OBJECT_MAP || !qp_obj_number(qp_map_get(pred, "value"), &y))
		return 0; /* nothing predicted: nothing to compare */
	const msgpack_object *tg = qp_map_get(pred, "target");
	if (!tg || tg->type != MSGPACK_OBJECT_STR || tg->via.str.size >= sizeof c->target)
		return 0; /* a prediction of no target we can name is not comparable */
	if (!c->target[0])
		snprintf(c->target, sizeof c->target, "%.*s", (int)tg->via.str.size, tg->via.str.ptr);
	if (!obj_str_is(tg, c->target))
		return 0;
	char label[224];
	if (column_label(rec, label, sizeof label, e) != 0)
		return -1;
	qp_compare_row *r = row_of(c, model, e);
	int col = r ? column_of(c, label, e) : -1;
	if (col < 0)
		return -1;
	for (int i = 0; i < r->n_cells; i++)
		if (r->cells[i].col == col)
			return 0; /* the first one is kept */
	if ((size_t)r->n_cells == r->cap_cells) {
		qp_compare_cell *nc = qp_grow(r->cells, &r->cap_cells, sizeof *nc, 4);
		if (!nc)
			return qp_fail(e, "out of memory");
		r->cells = nc;
	}
	qp_compare_cell *cell = &r->cells[r->n_cells++];
	memset(cell, 0, sizeof *cell);
	cell->col = col;
	cell->y = y;
	qp_obj_number(qp_map_get(&rec->map, "n_bytes"), &cell->n_bytes);
	qp_obj_number(qp_map_get(&rec->map, "bpw"), &cell->bpw);
	cell->has_interval = qp_obj_number(qp_map_get(pred, "lo"), &cell->lo) &&
			     qp_obj_number(qp_map_get(pred, "hi"), &cell->hi);
	return 0;
}

int qp_compare_add(qp_compare *c, const qp_record *rec, qp_err *e)
{
	if (qp_rec_is(rec, "model"))
		return add_model(c, rec, e);
	if (qp_rec_is(rec, "tensor"))
		return add_tensor(c, rec, e);
	if (qp_rec_is(rec, "recipe"))
		return add_recipe(c, rec, e);
	return 0;
}

int qp_compare_n_cells(const qp_compare *c)
{
	int n = 0;
	for (int i = 0; i < c->n_rows; i++)
		n += c->rows[i].n_cells;
	return n;
}

void qp_compare_free(qp_compare *c)
{
	for (int i = 0; i < c->n_rows; i++) {
		qp_compare_row *r = &c->rows[i];
		free(r->id);
		free(r->cells);
		for (int k = 0; k < r->n_top; k++)
			free(r->top[k]);
	}
	free(c->rows);
	for (int i = 0; i < c->n_cols; i++)
		free(c->cols[i]);
	free(c->cols);
	memset(c, 0, sizeof *c);
}
