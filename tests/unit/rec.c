/* The record stream: framing, truncation, caps, pass-through, JSON. */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "../tap.h"
#include "buf.h"
#include "json.h"
#include "rec.h"

static int stream_fd(const void *p, size_t n)
{
	FILE *f = tmpfile();
	if (n)
		fwrite(p, 1, n, f);
	fflush(f);
	int fd = dup(fileno(f));
	fclose(f);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Packs three small records the way filters do. */
static qp_buf three_records(void)
{
	qp_buf b = {0};
	int fds[2];
	FILE *f = tmpfile();
	qp_writer *w = qp_writer_new(fileno(f), false);
	qp_err e;
	for (int i = 0; i < 3; i++) {
		msgpack_packer *pk = qp_writer_packer(w);
		msgpack_pack_map(pk, 3);
		qp_pack_key_str(pk, "kind", "tensor");
		qp_pack_key_int(pk, "i", i);
		qp_pack_key_str(pk, "name", i == 1 ? "" : "blk.0.attn_q.weight");
		qp_writer_end(w, &e);
	}
	qp_writer_close(w, &e);
	(void)fds;
	long n = ftell(f);
	rewind(f);
	char tmp[4096];
	size_t got = fread(tmp, 1, (size_t)n, f);
	qp_buf_append(&b, tmp, got);
	fclose(f);
	return b;
}

/* Reads a whole stream: number of records, and status of the last call. */
static int read_all(const void *p, size_t n, size_t cap, int *records,
		    qp_err *e)
{
	int fd = stream_fd(p, n);
	qp_reader *r = qp_reader_new(fd, "t", cap);
	qp_record rec;
	int st;
	*records = 0;
	while ((st = qp_reader_next(r, &rec, e)) == 1)
		(*records)++;
	qp_reader_free(r);
	close(fd);
	return st;
}

static void test_truncation(void)
{
	qp_buf b = three_records();
	size_t bounds[4] = {0}, nb = 0, len;
	for (size_t off = 0; off < b.len; off += len) {
		qp_msgpack_span((uint8_t *)b.p + off, b.len - off, &len);
		bounds[++nb] = off + len;
	}
	int bad = 0;
	for (size_t cut = 0; cut <= b.len; cut++) {
		int recs;
		qp_err e = {{0}};
		int st = read_all(b.p, cut, 0, &recs, &e);
		bool at_bound = false;
		for (size_t i = 0; i <= nb; i++)
			at_bound |= bounds[i] == cut;
		if (at_bound ? st != 0 : (st != -1 || !strstr(e.msg, "truncated")))
			bad++;
	}
	ok(bad == 0, "every cut of a 3-record stream: clean EOF at record "
		     "boundaries, a truncation error elsewhere (%zu cuts)", b.len + 1);
	qp_buf_free(&b);
}

static void test_bad_bytes(void)
{
	int recs;
	qp_err e;
	ok(read_all("\xc1", 1, 0, &recs, &e) == -1 && strstr(e.msg, "record 1"),
	   "0xc1 is an error naming record 1: %s", e.msg);
	ok(read_all("\x92\x01\x02", 3, 0, &recs, &e) == -1 &&
		   strstr(e.msg, "not a msgpack map"),
	   "an array at top level is refused");
	ok(read_all("\x81\xa1x\x01", 4, 0, &recs, &e) == -1 &&
		   strstr(e.msg, "\"kind\""),
	   "a map without kind is refused: %s", e.msg);
	static const char huge[] = "\x82\xa4kind\xa1x\xa1s\xdb\xff\xff\xff\xff";
	ok(read_all(huge, sizeof huge - 1, 1 << 20, &recs, &e) == -1 &&
		   strstr(e.msg, "limit"),
	   "a claimed 4 GiB string beyond the cap fails at once: %s", e.msg);
	ok(read_all(huge, sizeof huge - 1, 0, &recs, &e) == -1 &&
		   strstr(e.msg, "truncated"),
	   "under the default cap it is a truncation, not an allocation");
	static const char meta2[] = "\x82\xa4kind\xa4meta\xa6schema\x02";
	ok(read_all(meta2, sizeof meta2 - 1, 0, &recs, &e) == -1 &&
		   strstr(e.msg, "schema 2"),
	   "an unknown schema major version is refused: %s", e.msg);
}

static void test_deep_nesting(void)
{
	size_t n = 200000;
	uint8_t *p = malloc(n + 8);
	memcpy(p, "\x81\xa4kind", 6);
	memset(p + 6, 0x91, n);
	p[6 + n] = 0x01;
	int recs;
	qp_err e;
	int st = read_all(p, n + 7, 0, &recs, &e);
	ok(st == -1, "200000 nested arrays: an error, not a stack overflow");
	free(p);
}

static void test_passthrough_and_enrich(void)
{
	/* A non-canonical encoding (str8 for a 4-byte key) must survive. */
	static const uint8_t odd[] = {0x82, 0xd9, 0x04, 'k', 'i', 'n', 'd',
				      0xa1, 'x', 0xa1, 'v', 0xcd, 0x00, 0x05};
	int fd = stream_fd(odd, sizeof odd);
	qp_reader *r = qp_reader_new(fd, "t", 0);
	qp_record rec;
	qp_err e;
	FILE *out = tmpfile();
	qp_writer *w = qp_writer_new(fileno(out), false);
	ok(qp_reader_next(r, &rec, &e) == 1, "reads a non-canonical record");
	qp_writer_raw(w, rec.raw, rec.raw_len, &e);
	qp_writer_enrich(w, &rec, "v");
	msgpack_pack_int(qp_writer_packer(w), 7);
	qp_writer_end(w, &e);
	qp_writer_close(w, &e);
	uint8_t got[64];
	rewind(out);
	size_t n = fread(got, 1, sizeof got, out);
	ok(n > sizeof odd && memcmp(got, odd, sizeof odd) == 0,
	   "pass-through is byte for byte");
	static const uint8_t enriched[] = {0x82, 0xa4, 'k', 'i', 'n', 'd', 0xa1,
					   'x', 0xa1, 'v', 0x07};
	ok(n == sizeof odd + sizeof enriched &&
		   memcmp(got + sizeof odd, enriched, sizeof enriched) == 0,
	   "enrich replaces the filter's own key and keeps the others");
	fclose(out);
	qp_reader_free(r);
	close(fd);
}

static void test_json(void)
{
	qp_buf b = {0};
	qp_json_number(&b, 0.1, 0);
	qp_buf_putc(&b, ' ');
	qp_json_number(&b, (double)0.1f, 1);
	qp_buf_putc(&b, ' ');
	qp_json_number(&b, 1.0, 0);
	qp_buf_putc(&b, ' ');
	qp_json_number(&b, NAN, 0);
	qp_buf_putc(&b, ' ');
	qp_json_string(&b, "a\"\n\xff", 4);
	is_str(b.p, "0.1 0.1 1.0 null \"a\\\"\\n\xef\xbf\xbd\"",
	       "JSON numbers are shortest round-trip, strings escaped");
	qp_buf_free(&b);
}

/* Packs with a plain msgpack sbuffer. */
typedef struct packed {
	msgpack_sbuffer sb;
	msgpack_packer pk;
} packed;

static void packed_init(packed *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static bool same(const packed *a, const packed *b)
{
	return a->sb.size == b->sb.size && memcmp(a->sb.data, b->sb.data, a->sb.size) == 0;
}

/* qp_mapw gives the bytes of a hand-sized map at every header size
 * (fixmap, map16, map32), nested too. */
static void test_counted_maps(void)
{
	static const uint32_t sizes[] = {0, 1, 15, 16, 65535, 65536};
	int bad = 0;
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		packed hand, counted;
		packed_init(&hand);
		packed_init(&counted);
		msgpack_pack_map(&hand.pk, sizes[s] + 1);
		qp_mapw m;
		qp_mapw_begin(&m, &counted.pk);
		for (uint32_t i = 0; i < sizes[s]; i++) {
			char key[16];
			snprintf(key, sizeof key, "k%u", i);
			qp_pack_key_int(&hand.pk, key, i);
			msgpack_pack_int64(qp_mapw_key(&m, key), i);
		}
		qp_pack_str(&hand.pk, "inner");
		msgpack_pack_map(&hand.pk, 2);
		qp_pack_key_num(&hand.pk, "a", 1.5);
		qp_pack_key_str(&hand.pk, "b", "x");
		qp_mapw in;
		qp_mapw_begin(&in, qp_mapw_key(&m, "inner"));
		qp_pack_num(qp_mapw_key(&in, "a"), 1.5);
		qp_pack_str(qp_mapw_key(&in, "b"), "x");
		qp_mapw_end(&in);
		qp_mapw_end(&m);
		if (!same(&hand, &counted)) {
			bad++;
			diag("%u entries: %zu bytes counted, %zu by hand", sizes[s],
			     counted.sb.size, hand.sb.size);
		}
		msgpack_sbuffer_destroy(&hand.sb);
		msgpack_sbuffer_destroy(&counted.sb);
	}
	ok(bad == 0, "counted maps: the bytes of hand-sized ones (0 to 65536 entries, nested)");
}

/* Undefined becomes nil: NaN and negative counts; infinities stay. */
static void test_nil_rule(void)
{
	packed p;
	packed_init(&p);
	qp_pack_num(&p.pk, NAN);
	qp_pack_num(&p.pk, INFINITY);
	qp_pack_num(&p.pk, 0.25);
	qp_pack_count(&p.pk, -1);
	qp_pack_count(&p.pk, 7);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	msgpack_object_type want[] = {MSGPACK_OBJECT_NIL, MSGPACK_OBJECT_FLOAT64,
				      MSGPACK_OBJECT_FLOAT64, MSGPACK_OBJECT_NIL,
				      MSGPACK_OBJECT_POSITIVE_INTEGER};
	int bad = 0;
	for (int i = 0; i < 5; i++) {
		if (msgpack_unpack_next(&u, p.sb.data, p.sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
		    u.data.type != want[i])
			bad++;
		if (i == 1 && !(u.data.type == MSGPACK_OBJECT_FLOAT64 && isinf(u.data.via.f64)))
			bad++;
	}
	ok(bad == 0, "NaN and a negative count are nil; infinity and values stay");
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&p.sb);
}

int main(void)
{
	plan(14);
	test_counted_maps();
	test_nil_rule();
	test_truncation();
	test_bad_bytes();
	test_deep_nesting();
	test_passthrough_and_enrich();
	test_json();
	return exit_status();
}
