/* gguf: every fixture GGUF parses and matches the fixtures README; the
 * writer round-trips; split paths; the "need more" protocol. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "checked.h"
#include "gguf.h"
#include "gguf_write.h"
#include "mapfile.h"
#include "types.h"

static const char *fixtures;

/* Offsets increase, each tensor's bytes fill the gap to the next one up
 * to alignment padding, and the last ends within alignment of the end. */
static void check_layout(const char *name, const qp_gguf *g, uint64_t size)
{
	int good = g->data_offset % g->alignment == 0;
	for (uint64_t i = 0; i < g->n_tensors && good; i++) {
		const qp_gguf_tensor *t = &g->tensors[i];
		uint64_t next = i + 1 < g->n_tensors ? g->tensors[i + 1].offset
						     : size;
		good = t->size_known && next >= t->offset + t->n_bytes &&
		       next - t->offset - t->n_bytes < g->alignment &&
		       t->offset % g->alignment == 0;
		if (!good)
			diag("%s: tensor %llu at %llu, %llu bytes, next %llu",
			     name, (unsigned long long)i,
			     (unsigned long long)t->offset,
			     (unsigned long long)t->n_bytes,
			     (unsigned long long)next);
	}
	ok(good, "%s: %llu tensors tile the data section", name,
	   (unsigned long long)g->n_tensors);
}

/* "F16:5,F32:11,Q4_0:32" from the README against the file's tensors. */
static void check_type_counts(const char *name, const qp_gguf *g,
			      const char *spec)
{
	uint64_t counts[64] = { 0 }, want[64] = { 0 };
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if (g->tensors[i].type < 64)
			counts[g->tensors[i].type]++;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", spec);
	int parsed = 1;
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		char *colon = strchr(tok, ':');
		if (!colon) {
			parsed = 0;
			break;
		}
		*colon = '\0';
		const qp_type_info *ti = qp_type_info_by_name(tok);
		if (!ti || ti->id >= 64) {
			parsed = 0;
			break;
		}
		want[ti->id] = strtoull(colon + 1, NULL, 10);
	}
	ok(parsed && memcmp(counts, want, sizeof counts) == 0,
	   "%s: tensor types %s", name, spec);
}

typedef struct fixture_fact {
	char name[128];
	uint64_t bytes;
	char types[160];
} fixture_fact;

/* The README lists "NAME.gguf" then "  bytes N ..." and "  tensors: ...". */
static int read_facts(const char *dir, fixture_fact *facts, int cap)
{
	char path[4200], line[1024];
	snprintf(path, sizeof path, "%s/README.txt", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int n = 0;
	fixture_fact *cur = NULL;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		size_t len = strlen(line);
		if (len > 5 && line[0] != ' ' && strchr(line, ' ') == NULL &&
		    strcmp(line + len - 5, ".gguf") == 0 && n < cap) {
			cur = &facts[n++];
			memset(cur, 0, sizeof *cur);
			snprintf(cur->name, sizeof cur->name, "%.127s", line);
		} else if (cur && strncmp(line, "  bytes ", 8) == 0) {
			cur->bytes = strtoull(line + 8, NULL, 10);
		} else if (cur && strncmp(line, "  tensors: ", 11) == 0) {
			snprintf(cur->types, sizeof cur->types, "%.159s", line + 11);
		} else if (len == 0) {
			cur = NULL;
		}
	}
	fclose(f);
	return n;
}

static int parse_file(const char *path, qp_map *m, qp_gguf *g, qp_err *e)
{
	if (qp_map_open(path, m, e))
		return -1;
	int rc = qp_gguf_parse(m->data, m->size, m->size, g, e);
	if (rc)
		qp_map_close(m);
	return rc;
}

static void check_arrays(const char *name, const qp_gguf *g)
{
	int good = 1;
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const qp_gguf_value *v = &g->kv[i].value;
		if (v->type != QP_GGUF_ARRAY)
			continue;
		qp_gguf_iter it;
		qp_gguf_value el;
		uint64_t n = 0;
		const uint8_t *end = v->v.arr.data + v->v.arr.nbytes;
		qp_gguf_iter_init(&it, v);
		while (qp_gguf_iter_next(&it, &el)) {
			good &= el.type == v->v.arr.elem_type;
			n++;
		}
		good &= n == v->v.arr.n && it.pos == end;
	}
	ok(good, "%s: every array iterates to its end", name);
}

static void test_fixture_dir(const char *dir, const fixture_fact *facts,
			     int n_facts, int *n_files)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	char path[4400];
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 5, ".gguf") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		qp_map m;
		qp_gguf g;
		qp_err e = { "" };
		(*n_files)++;
		if (!ok(parse_file(path, &m, &g, &e) == 0, "%s parses",
			de->d_name)) {
			diag("%s", e.msg);
			continue;
		}
		ok(g.version == 3 || g.version == 2, "%s: version %u",
		   de->d_name, (unsigned)g.version);
		check_layout(de->d_name, &g, m.size);
		check_arrays(de->d_name, &g);
		for (int i = 0; i < n_facts; i++) {
			if (strcmp(facts[i].name, de->d_name) != 0)
				continue;
			is_int(m.size, facts[i].bytes, "%s: size as in README",
			       de->d_name);
			if (facts[i].types[0])
				check_type_counts(de->d_name, &g,
						  facts[i].types);
		}
		qp_gguf_free(&g);
		qp_map_close(&m);
	}
	closedir(d);
}

static const qp_gguf_tensor *find_tensor(const qp_gguf *g, const char *name)
{
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if (qp_gguf_str_eq(g->tensors[i].name, name))
			return &g->tensors[i];
	return NULL;
}

static void test_known_files(void)
{
	char path[4400];
	qp_map m;
	qp_gguf g;
	qp_err e = { "" };

	snprintf(path, sizeof path, "%s/stories260K-f32.gguf", fixtures);
	if (parse_file(path, &m, &g, &e) == 0) {
		is_int(g.n_tensors, 48, "f32: 48 tensors");
		int all_f32 = 1;
		for (uint64_t i = 0; i < g.n_tensors; i++)
			all_f32 &= g.tensors[i].type == QP_F32;
		ok(all_f32, "f32: all F32");
		const qp_gguf_tensor *t = find_tensor(&g, "token_embd.weight");
		ok(t && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512 &&
			   t->n_bytes == 64 * 512 * 4,
		   "f32: token_embd [64,512]");
		t = find_tensor(&g, "blk.4.ffn_down.weight");
		ok(t && t->ne[0] == 172 && t->ne[1] == 64, "f32: ffn_down [172,64]");
		qp_gguf_str s;
		ok(qp_gguf_get_str(&g, "general.architecture", &s) &&
			   qp_gguf_str_eq(s, "llama"),
		   "f32: arch llama");
		int64_t v;
		ok(qp_gguf_get_int(&g, "llama.embedding_length", &v) && v == 64,
		   "f32: n_embd 64");
		ok(!qp_gguf_get_int(&g, "general.architecture", &v),
		   "a string is not an int");
		ok(qp_gguf_find(&g, "no.such.key") == NULL, "absent key");
		char **paths;
		int n;
		ok(qp_gguf_split_paths(path, &g, &paths, &n, &e) == 0 && n == 1 &&
			   strcmp(paths[0], path) == 0,
		   "unsplit model: one path, itself");
		qp_gguf_split_paths_free(paths, n);

		/* need-more protocol: grow the buffer until it parses */
		qp_gguf part;
		is_int(qp_gguf_parse(m.data, 100, m.size, &part, &e), 1,
		       "100 of %zu bytes: need more", m.size);
		is_int(qp_gguf_parse(m.data, 100, QP_GGUF_SIZE_UNKNOWN, &part,
				     &e), 1, "100 bytes, unknown size: need more");
		size_t len = 16;
		int rc;
		while ((rc = qp_gguf_parse(m.data, len, QP_GGUF_SIZE_UNKNOWN,
					   &part, &e)) == 1)
			len *= 2;
		ok(rc == 0 && part.meta_bytes == g.meta_bytes &&
			   part.n_tensors == 48 && len >= g.meta_bytes,
		   "stream parse succeeds once the metadata is in (%zu bytes)",
		   len);
		qp_gguf_free(&part);
		ok(qp_gguf_parse(m.data, (size_t)g.meta_bytes, m.size, &part,
				 &e) == 0,
		   "exactly the metadata is enough");
		qp_gguf_free(&part);
		ok(qp_gguf_parse(m.data, (size_t)g.meta_bytes - 1,
				 (size_t)g.meta_bytes - 1, &part, &e) == -1 &&
			   e.msg[0],
		   "metadata cut at a known end is an error: %s", e.msg);
		ok(qp_gguf_parse(m.data, m.size - 1, m.size - 1, &part, &e) == -1 &&
			   strstr(e.msg, "tensor 'blk.4.ffn_norm.weight': data [1185120, 1185376)") &&
			   strstr(e.msg, "extends past the end of the file (size"),
		   "a file one byte short: %s", e.msg);
		qp_gguf_free(&g);
		qp_map_close(&m);
	} else {
		ok(0, "stories260K-f32.gguf parses: %s", e.msg);
	}

	snprintf(path, sizeof path, "%s/stories260K-rows256-Q1_0-pure.gguf",
		 fixtures);
	if (parse_file(path, &m, &g, &e) == 0) {
		const qp_gguf_tensor *t = find_tensor(&g, "output.weight");
		ok(t && t->type == QP_Q1_0 && t->n_bytes == 4608 && t->size_known,
		   "Q1_0 fixture: output.weight is Q1_0, 4608 bytes");
		qp_gguf_free(&g);
		qp_map_close(&m);
	}
	snprintf(path, sizeof path, "%s/stories260K-rows256-Q2_0-pure.gguf",
		 fixtures);
	if (parse_file(path, &m, &g, &e) == 0) {
		const qp_gguf_tensor *t = find_tensor(&g, "blk.0.attn_k.weight");
		ok(t && t->type == QP_Q2_0 && t->n_bytes == 576,
		   "Q2_0 fixture: attn_k [256,8] is Q2_0, 576 bytes");
		qp_gguf_free(&g);
		qp_map_close(&m);
	}

	snprintf(path, sizeof path, "%s/ggml-vocab-deepseek-llm.gguf", fixtures);
	if (parse_file(path, &m, &g, &e) == 0) {
		is_int(g.n_tensors, 0, "vocab file: no tensors");
		const qp_gguf_kv *kv = qp_gguf_find(&g, "tokenizer.ggml.tokens");
		ok(kv && kv->value.type == QP_GGUF_ARRAY &&
			   kv->value.v.arr.elem_type == QP_GGUF_STRING &&
			   kv->value.v.arr.n > 100000,
		   "vocab file: %llu tokens",
		   kv ? (unsigned long long)kv->value.v.arr.n : 0ull);
		kv = qp_gguf_find(&g, "tokenizer.ggml.merges");
		ok(kv && kv->value.v.arr.n > 50000, "vocab file: merges");
		qp_gguf_free(&g);
		qp_map_close(&m);
	}

	/* split model */
	snprintf(path, sizeof path, "%s/stories260K-f32-split-00001-of-00003.gguf",
		 fixtures);
	if (parse_file(path, &m, &g, &e) == 0) {
		char **paths = NULL;
		int n = 0;
		int64_t total = 0, v;
		ok(qp_gguf_split_paths(path, &g, &paths, &n, &e) == 0 && n == 3,
		   "split: 3 shards (%s)", n ? "" : e.msg);
		for (int i = 0; i < n; i++) {
			char want[4400];
			snprintf(want, sizeof want,
				 "%s/stories260K-f32-split-%05d-of-00003.gguf",
				 fixtures, i + 1);
			is_str(paths[i], want, "shard %d path", i + 1);
			qp_map sm;
			qp_gguf sg;
			if (parse_file(paths[i], &sm, &sg, &e) == 0) {
				total += (int64_t)sg.n_tensors;
				check_layout(paths[i], &sg, sm.size);
				if (i == 1) {
					char **p2;
					int n2;
					ok(qp_gguf_split_paths(paths[i], &sg, &p2,
							       &n2, &e) == -1,
					   "shard 2 is refused: %s", e.msg);
				}
				qp_gguf_free(&sg);
				qp_map_close(&sm);
			}
		}
		is_int(total, 48, "shards hold 48 tensors in all");
		ok(qp_gguf_get_int(&g, "split.tensors.count", &v) && v == 48,
		   "split.tensors.count 48");
		qp_gguf_split_paths_free(paths, n);
		ok(qp_gguf_split_paths("/tmp/renamed.gguf", &g, &paths, &n,
				       &e) == -1,
		   "split shard under another name: %s", e.msg);
		qp_gguf_free(&g);
		qp_map_close(&m);
	}

	snprintf(path, sizeof path, "%s/kjv-llama/model-f16.gguf", fixtures);
	if (parse_file(path, &m, &g, &e) == 0) {
		int f16 = 0, f32 = 0;
		for (uint64_t i = 0; i < g.n_tensors; i++) {
			f16 += g.tensors[i].type == QP_F16;
			f32 += g.tensors[i].type == QP_F32;
		}
		ok(g.n_tensors == 39 && f16 == 30 && f32 == 9,
		   "kjv f16: 39 tensors, 30 F16 + 9 F32");
		const qp_gguf_tensor *t = find_tensor(&g, "blk.3.ffn_down.weight");
		ok(t && t->ne[0] == 768 && t->ne[1] == 256, "kjv: ffn_down 768x256");
		qp_gguf_free(&g);
		qp_map_close(&m);
	}
}

/* ---- writer round trip ------------------------------------------------ */

static int fill_pattern(void *ctx, size_t i, uint8_t *dst, uint64_t n,
			qp_err *e)
{
	(void)ctx;
	(void)e;
	for (uint64_t j = 0; j < n; j++)
		dst[j] = (uint8_t)(i * 31 + j * 7);
	return 0;
}

static int fill_fail(void *ctx, size_t i, uint8_t *dst, uint64_t n,
		     qp_err *e)
{
	(void)ctx;
	(void)dst;
	(void)n;
	return i == 1 ? qp_fail(e, "no data") : 0;
}

static int tmp_file(char *path)
{
	snprintf(path, 64, "/tmp/qp-gguf-test-XXXXXX");
	return mkstemp(path);
}

static void test_writer(void)
{
	qp_gguf_writer *w = qp_gguf_writer_new();
	qp_err e = { "" };
	const char *toks[] = { "a", "", "hello world" };
	int32_t ints[] = { -1, 0, 2147483647 };
	float fl[] = { 1.5f, -0.0f, 3e38f };
	int set = qp_gguf_w_str(w, "general.architecture", "llama") |
		  qp_gguf_w_u32(w, "general.alignment", 64) |
		  qp_gguf_w_u32(w, "u32", 4000000000u) |
		  qp_gguf_w_i32(w, "i32", -5) |
		  qp_gguf_w_u64(w, "u64", UINT64_MAX) |
		  qp_gguf_w_f32(w, "f32", 0.25f) |
		  qp_gguf_w_bool(w, "bool", true) |
		  qp_gguf_w_str(w, "empty", "") |
		  qp_gguf_w_arr_str(w, "arr_str", toks, 3) |
		  qp_gguf_w_arr_i32(w, "arr_i32", ints, 3) |
		  qp_gguf_w_arr_f32(w, "arr_f32", fl, 3) |
		  qp_gguf_w_arr_i32(w, "arr_empty", NULL, 0) |
		  qp_gguf_w_i32(w, "i32", -7); /* replaces */
	ok(set == 0, "kv setters");
	int64_t ne1[2] = { 64, 3 }, ne2[1] = { 5 }, ne3[3] = { 256, 2, 2 };
	ok(qp_gguf_w_tensor(w, "blk.0.attn_q.weight", QP_Q8_0, ne1, 2, &e) == 0 &&
		   qp_gguf_w_tensor(w, "norm", QP_F32, ne2, 1, &e) == 0 &&
		   qp_gguf_w_tensor(w, "k", QP_Q4_K, ne3, 3, &e) == 0,
	   "tensors added");
	ok(qp_gguf_w_tensor(w, "norm", QP_F32, ne2, 1, &e) == -1,
	   "duplicate tensor refused: %s", e.msg);
	int64_t bad[1] = { 33 };
	ok(qp_gguf_w_tensor(w, "x", QP_Q4_0, bad, 1, &e) == -1,
	   "bad row length refused: %s", e.msg);
	ok(qp_gguf_w_tensor(w, "y", 77, bad, 1, &e) == -1,
	   "unknown type refused: %s", e.msg);

	char path[64];
	int fd = tmp_file(path);
	ok(qp_gguf_writer_write(w, fd, fill_pattern, NULL, &e) == 0,
	   "write: %s", e.msg);
	close(fd);
	qp_map m;
	qp_gguf g;
	if (ok(parse_file(path, &m, &g, &e) == 0, "written file parses: %s",
	       e.msg)) {
		int64_t v;
		qp_gguf_str s;
		ok(g.version == 3 && g.alignment == 64 && g.n_kv == 12 &&
			   g.n_tensors == 3,
		   "header: v3, alignment 64, 12 kv, 3 tensors");
		ok(qp_gguf_get_int(&g, "i32", &v) && v == -7, "i32 replaced");
		ok(qp_gguf_get_int(&g, "u32", &v) && v == 4000000000ll, "u32");
		ok(!qp_gguf_get_int(&g, "u64", &v), "u64 max is not an int64");
		ok(qp_gguf_find(&g, "u64")->value.v.u == UINT64_MAX, "u64 value");
		ok(qp_gguf_find(&g, "f32")->value.v.f == 0.25, "f32");
		ok(qp_gguf_find(&g, "bool")->value.v.b, "bool");
		ok(!qp_gguf_get_int(&g, "bool", &v), "bool is not an int");
		ok(qp_gguf_get_str(&g, "empty", &s) && s.len == 0, "empty string");
		const qp_gguf_value *a = &qp_gguf_find(&g, "arr_str")->value;
		qp_gguf_iter it;
		qp_gguf_value el;
		int k = 0, good = 1;
		qp_gguf_iter_init(&it, a);
		while (qp_gguf_iter_next(&it, &el))
			good &= qp_gguf_str_eq(el.v.s, toks[k++]);
		ok(good && k == 3, "string array");
		a = &qp_gguf_find(&g, "arr_i32")->value;
		k = 0;
		good = 1;
		qp_gguf_iter_init(&it, a);
		while (qp_gguf_iter_next(&it, &el))
			good &= el.type == QP_GGUF_I32 && el.v.i == ints[k++];
		ok(good && k == 3, "i32 array");
		a = &qp_gguf_find(&g, "arr_f32")->value;
		k = 0;
		good = 1;
		qp_gguf_iter_init(&it, a);
		while (qp_gguf_iter_next(&it, &el))
			good &= el.v.f == fl[k++];
		ok(good && k == 3, "f32 array");
		ok(qp_gguf_find(&g, "arr_empty")->value.v.arr.n == 0, "empty array");
		check_layout("written", &g, m.size);
		good = 1;
		for (uint64_t i = 0; i < g.n_tensors; i++)
			for (uint64_t j = 0; j < g.tensors[i].n_bytes; j++)
				good &= m.data[g.tensors[i].offset + j] ==
					(uint8_t)(i * 31 + j * 7);
		ok(good, "tensor data as filled");
		ok(g.tensors[2].n_dims == 3 && g.tensors[2].ne[2] == 2 &&
			   g.tensors[2].ne[3] == 1 && g.tensors[2].n_bytes == 4 * 144,
		   "3-d Q4_K tensor");
		ok(qp_gguf_str_eq(g.tensors[0].name, "blk.0.attn_q.weight"),
		   "tensor order kept");
		qp_gguf_free(&g);
		qp_map_close(&m);
	}
	unlink(path);

	fd = tmp_file(path);
	ok(qp_gguf_writer_write(w, fd, fill_fail, NULL, &e) == -1 &&
		   strstr(e.msg, "norm") && strstr(e.msg, "no data"),
	   "fill failure names the tensor: %s", e.msg);
	close(fd);
	unlink(path);

	qp_gguf_w_u32(w, "general.alignment", 48);
	fd = tmp_file(path);
	ok(qp_gguf_writer_write(w, fd, fill_pattern, NULL, &e) == -1,
	   "alignment 48 refused: %s", e.msg);
	close(fd);
	unlink(path);
	qp_gguf_writer_free(w);

	/* a 13 GB model with no data written: a sparse file */
	w = qp_gguf_writer_new();
	qp_gguf_w_str(w, "general.architecture", "llama");
	for (int i = 0; i < 13; i++) {
		char name[32];
		int64_t ne[2] = { 32768, 32768 }; /* 1 GiB of I8 */
		snprintf(name, sizeof name, "blk.%d.ffn_up.weight", i);
		qp_gguf_w_tensor(w, name, QP_I8, ne, 2, &e);
	}
	fd = tmp_file(path);
	ok(qp_gguf_writer_write(w, fd, NULL, NULL, &e) == 0, "sparse write: %s",
	   e.msg);
	struct stat st;
	fstat(fd, &st);
	close(fd);
	ok((uint64_t)st.st_size > 13ull << 30 &&
		   (uint64_t)st.st_blocks * 512 < (1u << 20),
	   "13 GiB file uses %lld bytes of disk", (long long)st.st_blocks * 512);
	if (parse_file(path, &m, &g, &e) == 0) {
		check_layout("sparse", &g, m.size);
		qp_gguf_free(&g);
		qp_map_close(&m);
	} else {
		ok(0, "sparse file parses: %s", e.msg);
	}
	unlink(path);
	qp_gguf_writer_free(w);
}

int main(void)
{
	test_writer();
	fixtures = tap_fixtures();
	if (!fixtures) {
		skip(1, "no fixtures folder (../shared/fixtures)");
		done_testing();
		return exit_status();
	}
	static fixture_fact facts[200];
	int n_facts = read_facts(fixtures, facts, 200);
	ok(n_facts >= 50, "README lists %d GGUF files", n_facts);
	int n_files = 0;
	test_fixture_dir(fixtures, facts, n_facts, &n_files);
	char kjv[4200];
	snprintf(kjv, sizeof kjv, "%s/kjv-llama", fixtures);
	test_fixture_dir(kjv, facts, 0, &n_files);
	ok(n_files >= 60, "%d fixture GGUF files parsed", n_files);
	test_known_files();
	done_testing();
	return exit_status();
}
