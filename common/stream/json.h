/* json.h — records to JSON text and JSON (via jansson) to records.
 *
 * Promise: qp_json_from_obj writes one compact JSON value, deterministic:
 * map keys in record order, floats in the shortest form that reads back to
 * the same float32/float64, bin values as the string "<bin N bytes>", ext
 * as "<ext T N bytes>", NaN and infinities as null, strings escaped, and
 * bytes that are not UTF-8 replaced by U+FFFD.  qp_json_to_msgpack packs a
 * jansson value: integers as integers, reals as float64, objects as maps
 * in their text order.
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

#endif
