/* gguf_malformed: truncations, flipped bytes, huge counts, overflowing
 * sizes and offsets, bad alignment and nesting.  Every case must fail
 * with a message (or ask for more bytes when the end is unknown) and
 * never crash; run it under ASan/UBSan too. */
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "../tap.h"
#include "gguf.h"
#include "le.h"
#include "mapfile.h"

typedef struct bytes {
	uint8_t *p;
	size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

static void put_u8(bytes *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(bytes *b, uint16_t v)
{
	uint8_t t[2];
	le_put_u16(t, v);
	put(b, t, 2);
}
static void put_u32(bytes *b, uint32_t v)
{
	uint8_t t[4];
	le_put_u32(t, v);
	put(b, t, 4);
}
static void put_u64(bytes *b, uint64_t v)
{
	uint8_t t[8];
	le_put_u64(t, v);
	put(b, t, 8);
}
static void put_str(bytes *b, const char *s)
{
	put_u64(b, strlen(s));
	put(b, s, strlen(s));
}

/* Knobs of the hand-made file; the defaults make a valid one. */
typedef struct opts {
	uint32_t version;
	uint64_t n_tensors, n_kv;
	uint32_t align_type, align;
	uint64_t nested_n;   /* count of the outer nested array */
	uint32_t n_dims;
	uint64_t ne0, ne1;
	uint64_t offset1;    /* data offset of the second tensor */
	const char *name2;   /* name of the second tensor */
	const char *key2;    /* key of the nested array */
	uint64_t str_len;    /* length field of general.name */
	uint32_t type1;
	size_t data_bytes;
	/* byte offsets inside the result, for the tests */
	size_t at_nested, at_str, at_tensor1;
} opts;

static opts defaults(void)
{
	return (opts){ .version = 3, .n_tensors = 2, .n_kv = 16,
		       .align_type = QP_GGUF_U32, .align = 32, .nested_n = 2,
		       .n_dims = 2, .ne0 = 8, .ne1 = 2, .offset1 = 64,
		       .name2 = "b", .key2 = "nested", .str_len = 4,
		       .type1 = 0, .data_bytes = 64 + 32 };
}

static bytes build(opts *o)
{
	bytes b = { 0 };
	put(&b, "GGUF", 4);
	put_u32(&b, o->version);
	put_u64(&b, o->n_tensors);
	put_u64(&b, o->n_kv);
	put_str(&b, "general.alignment");
	put_u32(&b, o->align_type);
	if (o->align_type == QP_GGUF_U64)
		put_u64(&b, o->align);
	else
		put_u32(&b, o->align);
	o->at_nested = b.n;
	put_str(&b, o->key2); /* [[1, 2], [3]] as arrays of u8 */
	put_u32(&b, QP_GGUF_ARRAY);
	put_u32(&b, QP_GGUF_ARRAY);
	put_u64(&b, o->nested_n);
	put_u32(&b, QP_GGUF_U8);
	put_u64(&b, 2);
	put_u8(&b, 1);
	put_u8(&b, 2);
	put_u32(&b, QP_GGUF_U8);
	put_u64(&b, 1);
	put_u8(&b, 3);
	o->at_str = b.n;
	put_str(&b, "general.name");
	put_u32(&b, QP_GGUF_STRING);
	put_u64(&b, o->str_len);
	put(&b, "test", 4);
	put_str(&b, "u8"); put_u32(&b, QP_GGUF_U8); put_u8(&b, 200);
	put_str(&b, "i8"); put_u32(&b, QP_GGUF_I8); put_u8(&b, 0x80);
	put_str(&b, "u16"); put_u32(&b, QP_GGUF_U16); put_u16(&b, 65535);
	put_str(&b, "i16"); put_u32(&b, QP_GGUF_I16); put_u16(&b, 0x8000);
	put_str(&b, "u32"); put_u32(&b, QP_GGUF_U32); put_u32(&b, 7);
	put_str(&b, "i32"); put_u32(&b, QP_GGUF_I32); put_u32(&b, 0xffffffffu);
	put_str(&b, "f32"); put_u32(&b, QP_GGUF_F32); put_u32(&b, 0x3f800000u);
	put_str(&b, "bool"); put_u32(&b, QP_GGUF_BOOL); put_u8(&b, 1);
	put_str(&b, "u64"); put_u32(&b, QP_GGUF_U64); put_u64(&b, 1ull << 40);
	put_str(&b, "i64"); put_u32(&b, QP_GGUF_I64); put_u64(&b, (uint64_t)-3);
	put_str(&b, "f64"); put_u32(&b, QP_GGUF_F64);
	put_u64(&b, 0x4000000000000000ull);
	put_str(&b, "strs"); put_u32(&b, QP_GGUF_ARRAY);
	put_u32(&b, QP_GGUF_STRING); put_u64(&b, 2);
	put_str(&b, "x"); put_str(&b, "");
	put_str(&b, "empty"); put_u32(&b, QP_GGUF_ARRAY);
	put_u32(&b, QP_GGUF_F64); put_u64(&b, 0);
	o->at_tensor1 = b.n;
	put_str(&b, "a");
	put_u32(&b, o->n_dims);
	for (uint32_t d = 0; d < o->n_dims && d < 8; d++)
		put_u64(&b, d == 0 ? o->ne0 : d == 1 ? o->ne1 : 1);
	put_u32(&b, o->type1);
	put_u64(&b, 0);
	put_str(&b, o->name2);
	put_u32(&b, 1);
	put_u64(&b, 8);
	put_u32(&b, 0);
	put_u64(&b, o->offset1);
	while (b.n % 32)
		put_u8(&b, 0);
	for (size_t i = 0; i < o->data_bytes; i++)
		put_u8(&b, (uint8_t)i);
	return b;
}

/* Parses a copy of exactly len bytes, so ASan sees any over-read. */
static int parse_copy(const uint8_t *p, size_t len, uint64_t file_size,
		      qp_err *e)
{
	uint8_t *c = malloc(len ? len : 1);
	if (len)
		memcpy(c, p, len);
	qp_gguf g;
	e->msg[0] = '\0';
	int rc = qp_gguf_parse(c, len, file_size, &g, e);
	if (rc == 0) {
		for (uint64_t i = 0; i < g.n_kv; i++) {
			if (g.kv[i].value.type != QP_GGUF_ARRAY)
				continue;
			qp_gguf_iter it;
			qp_gguf_value v;
			qp_gguf_iter_init(&it, &g.kv[i].value);
			while (qp_gguf_iter_next(&it, &v))
				;
		}
		qp_gguf_free(&g);
	}
	free(c);
	return rc;
}

static void expect_fail(opts o, const char *what, const char *needle)
{
	bytes b = build(&o);
	qp_err e;
	int rc = parse_copy(b.p, b.n, b.n, &e);
	ok(rc == -1 && e.msg[0] && (!needle || strstr(e.msg, needle)),
	   "%s: %s", what, e.msg);
	free(b.p);
}

/* expect_ok_offset: the file parses (the data offset is acceptable). */
static void expect_ok_offset(opts o, const char *what)
{
	bytes b = build(&o);
	qp_err e;
	int rc = parse_copy(b.p, b.n, b.n, &e);
	ok(rc == 0, "%s parses%s%s", what, rc ? ": " : "", rc ? e.msg : "");
	free(b.p);
}

/* expect_refusal: parsing fails with exactly the message want. */
static void expect_refusal(opts o, const char *what, const char *want)
{
	bytes b = build(&o);
	qp_err e;
	int rc = parse_copy(b.p, b.n, b.n, &e);
	if (!ok(rc == -1 && strcmp(e.msg, want) == 0, "%s: refused before allocating", what))
		diag("got '%s', want '%s'", e.msg, want);
	free(b.p);
}

/* Counts are refused by the bound on the bytes left, with that message,
 * before anything is allocated for them: for counts whose allocation
 * would succeed (2^27) as for those that cannot (2^62, 2^64-1). */
static void refusals(void)
{
	opts o = defaults();
	bytes b = build(&o);
	size_t total = b.n, tensors_at = o.at_tensor1;
	free(b.p);
	char want[256];
	o.n_kv = 1ull << 27;
	snprintf(want, sizeof want,
		 "at byte 24: kv count: 134217728 key-value pairs needs %llu bytes, only %zu left",
		 13ull << 27, total - 24);
	expect_refusal(o, "kv count 2^27", want);
	o.n_kv = 1ull << 62;
	snprintf(want, sizeof want,
		 "at byte 24: kv count: 4611686018427387904 key-value pairs does not fit in the %zu bytes left",
		 total - 24);
	expect_refusal(o, "kv count 2^62", want);
	o = defaults();
	o.n_tensors = 1ull << 27;
	snprintf(want, sizeof want,
		 "at byte %zu: tensor count: 134217728 tensor infos needs %llu bytes, only %zu left",
		 tensors_at, 32ull << 27, total - tensors_at);
	expect_refusal(o, "tensor count 2^27", want);
	o.n_tensors = UINT64_MAX;
	snprintf(want, sizeof want,
		 "at byte %zu: tensor count: 18446744073709551615 tensor infos does not fit in the %zu bytes left",
		 tensors_at, total - tensors_at);
	expect_refusal(o, "tensor count 2^64-1", want);
}

/* Every prefix of the metadata: -1 at a known end, 1 when more may come. */
static void truncations(const char *what, const uint8_t *p, size_t n,
			size_t meta)
{
	qp_err e;
	int bad_known = 0, bad_stream = 0, bad_partial = 0;
	for (size_t len = 0; len < meta; len++) {
		if (parse_copy(p, len, len, &e) != -1 || !e.msg[0])
			bad_known++;
		if (parse_copy(p, len, QP_GGUF_SIZE_UNKNOWN, &e) != 1)
			bad_stream++;
		if (parse_copy(p, len, n, &e) != 1)
			bad_partial++;
	}
	ok(bad_known == 0, "%s: all %zu metadata cuts fail at a known end",
	   what, meta);
	ok(bad_stream == 0, "%s: ... and ask for more in a stream", what);
	ok(bad_partial == 0, "%s: ... and ask for more of a longer file", what);
	int bad_data = 0, samples = 0;
	size_t step = (n - meta) / 97 + 1;
	for (size_t len = meta; len < n; len += step, samples++)
		if (parse_copy(p, len, len, &e) != -1 ||
		    !strstr(e.msg, "extends past the end"))
			bad_data++;
	ok(bad_data == 0, "%s: %d cuts in the data fail naming a tensor", what,
	   samples);
	ok(parse_copy(p, n, n, &e) == 0, "%s: the whole file parses", what);
}

static void flips(const char *what, const uint8_t *p, size_t n, size_t meta)
{
	static const uint8_t masks[] = { 0xff, 0x80, 0x01, 0x40 };
	uint8_t *c = malloc(n);
	int fails = 0, parses = 0, bad = 0;
	qp_err e;
	for (size_t i = 0; i < meta; i++)
		for (size_t m = 0; m < sizeof masks; m++) {
			memcpy(c, p, n);
			c[i] ^= masks[m];
			int rc = parse_copy(c, n, n, &e);
			if (rc == -1 && e.msg[0])
				fails++;
			else if (rc == 0)
				parses++;
			else
				bad++;
		}
	ok(bad == 0, "%s: %zu flipped bytes: %d errors, %d still parse, %d bad",
	   what, meta * sizeof masks, fails, parses, bad);
	free(c);
}

int main(void)
{
	opts o = defaults();
	bytes b = build(&o);
	qp_err e;
	qp_gguf g;
	if (!ok(qp_gguf_parse(b.p, b.n, b.n, &g, &e) == 0,
		"hand-made file parses: %s", e.msg))
		return exit_status();
	size_t meta = (size_t)g.meta_bytes;
	const qp_gguf_kv *kv = qp_gguf_find(&g, "nested");
	ok(kv && kv->value.v.arr.elem_type == QP_GGUF_ARRAY &&
		   kv->value.v.arr.n == 2 && kv->value.v.arr.nbytes == 12 + 2 + 12 + 1,
	   "nested array parsed");
	qp_gguf_iter it, inner;
	qp_gguf_value v, x;
	int sum = 0, n = 0;
	qp_gguf_iter_init(&it, &kv->value);
	while (qp_gguf_iter_next(&it, &v)) {
		qp_gguf_iter_init(&inner, &v);
		while (qp_gguf_iter_next(&inner, &x))
			sum += (int)x.v.u, n++;
	}
	ok(sum == 6 && n == 3, "nested elements 1 2 3");
	ok(qp_gguf_find(&g, "u8")->value.v.u == 200 &&
		   qp_gguf_find(&g, "i8")->value.v.i == -128 &&
		   qp_gguf_find(&g, "u16")->value.v.u == 65535 &&
		   qp_gguf_find(&g, "i16")->value.v.i == -32768 &&
		   qp_gguf_find(&g, "i32")->value.v.i == -1 &&
		   qp_gguf_find(&g, "f32")->value.v.f == 1.0 &&
		   qp_gguf_find(&g, "u64")->value.v.u == 1ull << 40 &&
		   qp_gguf_find(&g, "i64")->value.v.i == -3 &&
		   qp_gguf_find(&g, "f64")->value.v.f == 2.0,
	   "every scalar type decodes");
	qp_gguf_free(&g);

	truncations("hand-made", b.p, b.n, meta);
	flips("hand-made", b.p, b.n, meta);
	free(b.p);

	o = defaults();
	o.version = 1;
	expect_fail(o, "v1", "GGUF version 1 is not supported (only v2 and v3)");
	o.version = 0x03000000;
	expect_fail(o, "big-endian", "big-endian GGUF is not supported");
	o.version = 4;
	expect_fail(o, "v4", "version 4");
	o = defaults();
	o.n_tensors = 1ull << 63;
	expect_fail(o, "tensor count 2^63", "tensor infos");
	o.n_tensors = UINT64_MAX;
	expect_fail(o, "tensor count 2^64-1", "tensor infos");
	o = defaults();
	o.n_kv = 1ull << 62;
	expect_fail(o, "kv count 2^62", "key-value pairs");
	refusals();
	o.n_kv = 17;
	expect_fail(o, "one kv too many", NULL);
	o = defaults();
	o.ne0 = 1ull << 32;
	o.ne1 = 1ull << 32;
	expect_fail(o, "dimension product overflow", "overflows");
	o.ne0 = UINT64_MAX;
	o.ne1 = 1;
	expect_fail(o, "negative dimension", "negative");
	o = defaults();
	o.ne0 = 7;
	o.type1 = 2; /* Q4_0 */
	expect_fail(o, "row not a multiple of the block", "'a'");
	o = defaults();
	o.offset1 = 1ull << 40;
	expect_fail(o, "offset past the end", "tensor 'b': data [");
	o.offset1 = UINT64_MAX - 31;
	expect_fail(o, "offset overflowing 64 bits", "'b'");
	o.offset1 = 40;
	expect_fail(o, "misaligned offset", "not a multiple of the alignment");
	o.offset1 = 48; /* a multiple of 16, not of the file's 32 */
	expect_fail(o, "offset aligned to 16 in a 32-aligned file",
		    "not a multiple of the alignment");
	o.align = 16;
	expect_ok_offset(o, "offset 48 in a 16-aligned file");
	o.align = 32;
	o = defaults();
	o.n_dims = 5;
	expect_fail(o, "n_dims 5", "n_dims 5");
	o.n_dims = 0;
	expect_fail(o, "n_dims 0", "n_dims 0");
	o = defaults();
	o.align = 3;
	expect_fail(o, "alignment 3", "power of two");
	o.align = 0;
	expect_fail(o, "alignment 0", "power of two");
	o.align = 32;
	o.align_type = QP_GGUF_U64;
	expect_fail(o, "alignment as u64", "must be u32");
	o = defaults();
	o.nested_n = 1ull << 61;
	expect_fail(o, "nested array of huge count", "nested");
	o.nested_n = 3;
	expect_fail(o, "nested array one too long", "nested");
	o = defaults();
	o.str_len = 1ull << 63;
	expect_fail(o, "string length 2^63", "general.name");
	o.str_len = UINT64_MAX;
	expect_fail(o, "string length 2^64-1", "general.name");
	o = defaults();
	o.name2 = "a";
	expect_fail(o, "duplicate tensor", "duplicate tensor name 'a'");
	o = defaults();
	o.key2 = "general.alignment";
	expect_fail(o, "duplicate key", "duplicate key 'general.alignment'");
	o = defaults();
	o.type1 = 1000;
	b = build(&o);
	ok(qp_gguf_parse(b.p, b.n, b.n, &g, &e) == 0 &&
		   !g.tensors[0].size_known,
	   "unknown tensor type is not an error, size unknown");
	qp_gguf_free(&g);
	b.p[o.at_nested + 8 + strlen("nested")] = 13;
	ok(parse_copy(b.p, b.n, b.n, &e) == -1 && strstr(e.msg, "nested") &&
		   strstr(e.msg, "invalid value type 13"),
	   "invalid value type: %s", e.msg);
	free(b.p);
	ok(parse_copy((const uint8_t *)"GGML\3\0\0\0", 8, 8, &e) == -1 &&
		   strstr(e.msg, "not a GGUF file"),
	   "bad magic: %s", e.msg);

	/* arrays nested deeper than the parser's limit */
	bytes d = { 0 };
	put(&d, "GGUF", 4);
	put_u32(&d, 3);
	put_u64(&d, 0);
	put_u64(&d, 1);
	put_str(&d, "deep");
	put_u32(&d, QP_GGUF_ARRAY);
	for (int i = 0; i < 100; i++) {
		put_u32(&d, QP_GGUF_ARRAY);
		put_u64(&d, 1);
	}
	put_u32(&d, QP_GGUF_U8);
	put_u64(&d, 0);
	ok(parse_copy(d.p, d.n, d.n, &e) == -1 && strstr(e.msg, "deeper"),
	   "deep nesting: %s", e.msg);
	free(d.p);

	/* a real file: every metadata cut, and flips of its first bytes */
	const char *fx = tap_fixtures();
	if (!fx) {
		skip(6, "no fixtures folder");
	} else {
		char path[4200];
		qp_map m;
		snprintf(path, sizeof path,
			 "%s/stories260K-rows256-Q1_0-pure.gguf", fx);
		if (qp_map_open(path, &m, &e) == 0 &&
		    qp_gguf_parse(m.data, m.size, m.size, &g, &e) == 0) {
			truncations("Q1_0 fixture", m.data, m.size,
				    (size_t)g.meta_bytes);
			flips("Q1_0 fixture header", m.data, m.size, 64);
			qp_gguf_free(&g);
			qp_map_close(&m);
		} else {
			ok(0, "fixture: %s", e.msg);
		}
	}
	done_testing();
	return exit_status();
}
