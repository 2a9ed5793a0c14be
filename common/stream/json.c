#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rec.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	unsigned cp = c & (0xff >> (len + 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void qp_json_string(qp_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	qp_buf_putc(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		if (c == '"' || c == '\\') {
			qp_buf_putc(b, '\\');
			qp_buf_putc(b, (char)c);
			i++;
		} else if (c < 0x20) {
			static const char esc[] = "btn\0fr";
			if (c >= 8 && c <= 13 && esc[c - 8])
				qp_buf_printf(b, "\\%c", esc[c - 8]);
			else
				qp_buf_printf(b, "\\u%04x", c);
			i++;
		} else {
			size_t len = utf8_len(p + i, n - i);
			if (len == 0) {
				qp_buf_puts(b, "\xef\xbf\xbd");
				i++;
			} else {
				qp_buf_append(b, p + i, len);
				i += len;
			}
		}
	}
	qp_buf_putc(b, '"');
}

void qp_json_number(qp_buf *b, double v, int is_f32)
{
	if (!isfinite(v)) {
		qp_buf_puts(b, "null");
		return;
	}
	char tmp[40];
	int lo = is_f32 ? 6 : 15, hi = is_f32 ? 9 : 17;
	for (int prec = lo; prec <= hi; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (is_f32 ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v)
			break;
	}
	/* Keep it a JSON real so it reads back as a float, not an integer. */
	if (!strpbrk(tmp, ".eEn"))
		strcat(tmp, ".0");
	qp_buf_puts(b, tmp);
}

static void json_map(qp_buf *b, const msgpack_object_map *m)
{
	qp_buf_putc(b, '{');
	for (uint32_t i = 0; i < m->size; i++) {
		if (i)
			qp_buf_putc(b, ',');
		const msgpack_object *k = &m->ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR) {
			qp_json_string(b, k->via.str.ptr, k->via.str.size);
		} else { /* JSON keys must be strings: show the key's JSON */
			qp_buf kb = {0};
			qp_json_from_obj(&kb, k);
			qp_json_string(b, kb.p ? kb.p : "", kb.len);
			qp_buf_free(&kb);
		}
		qp_buf_putc(b, ':');
		qp_json_from_obj(b, &m->ptr[i].val);
	}
	qp_buf_putc(b, '}');
}

void qp_json_from_obj(qp_buf *b, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL: qp_buf_puts(b, "null"); break;
	case MSGPACK_OBJECT_BOOLEAN:
		qp_buf_puts(b, o->via.boolean ? "true" : "false");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		qp_buf_printf(b, "%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		qp_buf_printf(b, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32: qp_json_number(b, o->via.f64, 1); break;
	case MSGPACK_OBJECT_FLOAT64: qp_json_number(b, o->via.f64, 0); break;
	case MSGPACK_OBJECT_STR:
		qp_json_string(b, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		qp_buf_printf(b, "\"<bin %u bytes>\"", o->via.bin.size);
		break;
	case MSGPACK_OBJECT_EXT:
		qp_buf_printf(b, "\"<ext %d %u bytes>\"", o->via.ext.type,
			      o->via.ext.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		qp_buf_putc(b, '[');
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				qp_buf_putc(b, ',');
			qp_json_from_obj(b, &o->via.array.ptr[i]);
		}
		qp_buf_putc(b, ']');
		break;
	case MSGPACK_OBJECT_MAP: json_map(b, &o->via.map); break;
	}
}

int qp_json_to_msgpack(const json_t *j, msgpack_packer *pk, qp_err *e)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		msgpack_pack_map(pk, json_object_size(j));
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)j, key, val) {
			msgpack_pack_str(pk, strlen(key));
			msgpack_pack_str_body(pk, key, strlen(key));
			if (qp_json_to_msgpack(val, pk, e) < 0)
				return -1;
		}
		return 0;
	}
	case JSON_ARRAY: {
		size_t n = json_array_size(j);
		msgpack_pack_array(pk, n);
		for (size_t i = 0; i < n; i++)
			if (qp_json_to_msgpack(json_array_get(j, i), pk, e) < 0)
				return -1;
		return 0;
	}
	case JSON_STRING:
		msgpack_pack_str(pk, json_string_length(j));
		msgpack_pack_str_body(pk, json_string_value(j),
				      json_string_length(j));
		return 0;
	case JSON_INTEGER: msgpack_pack_int64(pk, json_integer_value(j)); return 0;
	case JSON_REAL: msgpack_pack_double(pk, json_real_value(j)); return 0;
	case JSON_TRUE: msgpack_pack_true(pk); return 0;
	case JSON_FALSE: msgpack_pack_false(pk); return 0;
	case JSON_NULL: msgpack_pack_nil(pk); return 0;
	}
	return qp_fail(e, "unknown JSON value type");
}

/* ---- JSON lines to records --------------------------------------------- */

int qp_json_line_to_record(const char *line, size_t len, long lineno,
			   qp_writer *w, qp_err *e)
{
	size_t blank = 0;
	while (blank < len && strchr(" \t\r\n", line[blank]) && line[blank])
		blank++;
	if (blank == len)
		return 0;
	json_error_t jerr;
	json_t *j = json_loadb(line, len, 0, &jerr);
	if (!j)
		return qp_fail(e, "line %ld: invalid JSON: %s", lineno, jerr.text);
	json_t *kind = json_is_object(j) ? json_object_get(j, "kind") : NULL;
	int status = 0;
	if (!json_is_object(j))
		status = qp_fail(e, "line %ld: not a JSON object", lineno);
	else if (!json_is_string(kind))
		status = qp_fail(e, "line %ld: field \"kind\" is missing or not a string",
				 lineno);
	else if (qp_json_to_msgpack(j, qp_writer_packer(w), e) < 0 ||
		 qp_writer_end(w, e) < 0)
		status = -1;
	json_decref(j);
	return status;
}

int qp_json_lines_to_records(int fd, qp_writer *w, qp_err *e)
{
	int dfd = dup(fd);
	FILE *in = dfd >= 0 ? fdopen(dfd, "r") : NULL;
	if (!in) {
		if (dfd >= 0)
			close(dfd);
		return qp_fail_errno(e, "cannot read");
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int status = 0;
	while (status == 0 && (len = getline(&line, &cap, in)) >= 0)
		status = qp_json_line_to_record(line, (size_t)len, ++lineno, w, e);
	if (status == 0 && ferror(in))
		status = qp_fail_errno(e, "read");
	free(line);
	fclose(in);
	return status;
}
