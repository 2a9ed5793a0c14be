/* json.h — records to JSON text and JSON (via jansson) to records.
 *
 * Promise: qp_json_from_obj writes one compact JSON value, deterministic:
 * map keys in record order, floats in the shortest form that reads back to
 * the same float32/float64, bin values as the string "<bin N bytes>", ext
 * as "<ext T N bytes>", NaN and infinities as null, strings escaped, and
 * bytes that are not UTF-8 replaced by U+FFFD.  qp_json_to_msgpack packs a
 * jansson value: integers as integers, reals as float64, objects as maps
 * in their text order.
 *
 * Promise (JSON lines): qp_json_lines_to_records reads a file descriptor
 * to its end, one JSON object with a "kind" string per line (blank lines
 * skipped), and writes each as one record; a line that is not JSON, not
 * an object or without a "kind" string fails naming the line ("line N:
 * ...").  The caller names the file.
 */
#ifndef QP_JSON_H
#define QP_JSON_H

#include <jansson.h>
#include <msgpack.h>

#include "buf.h"
#include "err.h"

void qp_json_from_obj(qp_buf *b, const msgpack_object *o);
/* Appends a JSON string literal for s[0..n). */
void qp_json_string(qp_buf *b, const char *s, size_t n);
/* Shortest round-trip decimal of a double (or float when is_f32). */
void qp_json_number(qp_buf *b, double v, int is_f32);

int qp_json_to_msgpack(const json_t *j, msgpack_packer *pk, qp_err *e);

typedef struct qp_writer qp_writer;

/* One line (len bytes, no NUL needed) to one record through w; lineno
 * names it in messages.  Blank lines write nothing. */
int qp_json_line_to_record(const char *line, size_t len, long lineno,
			   qp_writer *w, qp_err *e);
int qp_json_lines_to_records(int fd, qp_writer *w, qp_err *e);

#endif
