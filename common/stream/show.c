#include "show.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rec.h"

static void show_tsv_string(qp_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '\t': qp_buf_puts(b, "\\t"); break;
		case '\n': qp_buf_puts(b, "\\n"); break;
		case '\r': qp_buf_puts(b, "\\r"); break;
		case '\\': qp_buf_puts(b, "\\\\"); break;
		default: qp_buf_putc(b, s[i]);
		}
	}
}

static void show_table_string(qp_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) /* keep one row per line */
		qp_buf_putc(b, (s[i] == '\n' || s[i] == '\t' || s[i] == '\r')
				       ? ' ' : s[i]);
}

void qp_show_field(qp_buf *b, const msgpack_object *map, const char *path,
		   qp_show_style style)
{
	const msgpack_object *o = qp_map_path(map, path);
	if (!o || o->type == MSGPACK_OBJECT_NIL) {
		if (style == QP_SHOW_TABLE)
			qp_buf_putc(b, '-');
		return;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		if (style == QP_SHOW_TSV)
			show_tsv_string(b, o->via.str.ptr, o->via.str.size);
		else
			show_table_string(b, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		qp_buf_printf(b, "<bin %u bytes>", o->via.bin.size);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (style == QP_SHOW_TABLE)
			qp_buf_printf(b, "%.6g", o->via.f64);
		else
			qp_json_number(b, o->via.f64,
				       o->type == MSGPACK_OBJECT_FLOAT32);
		break;
	default: {
		qp_buf j = {0};
		qp_json_from_obj(&j, o);
		if (style == QP_SHOW_TSV)
			show_tsv_string(b, j.p ? j.p : "", j.len);
		else
			show_table_string(b, j.p ? j.p : "", j.len);
		qp_buf_free(&j);
	}
	}
}

void qp_table_init(qp_table *t, int n_cols, bool has_header)
{
	*t = (qp_table){.n_cols = n_cols, .has_header = has_header};
}

void qp_table_add(qp_table *t, char *const *cells)
{
	if (t->oom)
		return;
	if (t->n_rows == t->cap_rows) {
		size_t cap = t->cap_rows ? 2 * t->cap_rows : 64;
		char **p = realloc(t->cells, cap * (size_t)t->n_cols * sizeof *p);
		if (!p) {
			t->oom = true;
			return;
		}
		t->cells = p;
		t->cap_rows = cap;
	}
	char **row = t->cells + t->n_rows * (size_t)t->n_cols;
	for (int c = 0; c < t->n_cols; c++) {
		row[c] = strdup(cells[c]);
		t->oom |= row[c] == NULL;
	}
	t->n_rows++;
}

static bool looks_numeric(const char *s)
{
	if (!*s)
		return false;
	char *end;
	(void)strtod(s, &end);
	return *end == '\0';
}

/* A column is numeric when every data cell is a number or "-". */
static bool column_numeric(const qp_table *t, int c)
{
	bool any = false;
	for (size_t r = t->has_header; r < t->n_rows; r++) {
		const char *s = t->cells[r * (size_t)t->n_cols + c];
		if (strcmp(s, "-") == 0)
			continue;
		if (!looks_numeric(s))
			return false;
		any = true;
	}
	return any;
}

static void print_row(const qp_table *t, size_t r, const size_t *width,
		      const bool *numeric, FILE *out)
{
	for (int c = 0; c < t->n_cols; c++) {
		const char *s = t->cells[r * (size_t)t->n_cols + c];
		int w = (int)width[c];
		bool last = c == t->n_cols - 1;
		if ((r > 0 || !t->has_header) && numeric[c])
			fprintf(out, "%*s", w, s);
		else if (last)
			fputs(s, out);
		else
			fprintf(out, "%-*s", w, s);
		fputs(last ? "\n" : "  ", out);
	}
}

int qp_table_print(const qp_table *t, FILE *out)
{
	size_t *width = calloc((size_t)t->n_cols + 1, sizeof *width);
	bool *numeric = calloc((size_t)t->n_cols + 1, sizeof *numeric);
	int rc = -1;
	if (width && numeric && !t->oom) {
		for (int c = 0; c < t->n_cols; c++) {
			numeric[c] = column_numeric(t, c);
			for (size_t r = 0; r < t->n_rows; r++) {
				size_t n = strlen(t->cells[r * (size_t)t->n_cols + c]);
				width[c] = n > width[c] ? n : width[c];
			}
		}
		for (size_t r = 0; r < t->n_rows; r++)
			print_row(t, r, width, numeric, out);
		rc = ferror(out) ? -1 : 0;
	}
	free(width);
	free(numeric);
	return rc;
}

void qp_table_free(qp_table *t)
{
	for (size_t i = 0; i < t->n_rows * (size_t)t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	*t = (qp_table){0};
}
