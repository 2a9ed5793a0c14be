/* show.h — records as tables and TSV for people, awk and jq.
 *
 * Promise: a field is addressed by a dotted path ("qerr.Q4_K.rel"); a
 * missing field shows as "-" in tables and as an empty cell in TSV.
 * Strings show as themselves (TSV escapes tab, newline, carriage return
 * and backslash as \t \n \r \\), integers in full, floats in the shortest
 * round-trip form (tables: 6 significant digits), arrays and maps as
 * compact JSON, bin values as <bin N bytes>.  A table buffers its rows to
 * align the columns; TSV streams.
 */
#ifndef QP_SHOW_H
#define QP_SHOW_H

#include <msgpack.h>
#include <stdbool.h>

#include "buf.h"

typedef enum qp_show_style { QP_SHOW_TABLE, QP_SHOW_TSV } qp_show_style;

/* Appends the text of the field at path in map (nothing for a missing
 * field in TSV, "-" in a table). */
void qp_show_field(qp_buf *b, const msgpack_object *map, const char *path,
		   qp_show_style style);

typedef struct qp_table {
	int n_cols;
	bool has_header; /* row 0 is a header: left-aligned, not data */
	char **cells; /* row-major, n_rows * n_cols */
	size_t n_rows, cap_rows;
	bool oom;
} qp_table;

void qp_table_init(qp_table *t, int n_cols, bool has_header);
/* Copies the cells of one row (n_cols strings). */
void qp_table_add(qp_table *t, char *const *cells);
/* Writes the rows with columns padded to their widest cell; numbers are
 * right-aligned. Returns -1 on a write error. */
int qp_table_print(const qp_table *t, FILE *out);
void qp_table_free(qp_table *t);

#endif
