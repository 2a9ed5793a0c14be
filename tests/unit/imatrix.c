/* Unit tests for common/imatrix: both formats on the llama.cpp fixture,
 * the --show-statistics figures to their printed precision, malformed
 * .dat and GGUF files. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "gguf_write.h"
#include "imatrix.h"
#include "imatrix_stats.h"
#include "le.h"
#include "mapfile.h"
#include "../tap.h"

static char *fixture(const char *name)
{
	static char path[8][4096];
	static int slot;
	char *p = path[slot++ % 8];
	snprintf(p, 4096, "%s/%s", tap_fixtures(), name);
	return p;
}

/* ---- the two fixture files agree ---------------------------------------- */

static void test_formats_agree(const qp_imatrix *g, const qp_imatrix *d)
{
	is_int(g->n_entries, 35, "gguf: 35 entries");
	is_int(d->n_entries, 35, "dat: 35 entries");
	is_int(g->chunk_count, 376, "gguf: chunk_count 376");
	is_int(g->chunk_size, 128, "gguf: chunk_size 128");
	is_int(d->chunk_count, 376, "dat: last chunk 376");
	ok(g->n_datasets == 1 &&
	   strcmp(g->datasets[0], "tinystories-valid-calib.txt") == 0,
	   "gguf: dataset name");
	ok(d->n_datasets == 1 &&
	   strcmp(d->datasets[0], "tinystories-valid-calib.txt") == 0,
	   "dat: dataset name");
	const qp_imatrix_entry *q = qp_imatrix_find(g, "blk.3.ffn_down.weight");
	ok(q && q->n_cols == 172 && q->n_expert == 1 && q->counts[0] == 48128,
	   "gguf: ffn_down has 172 columns, 48128 tokens");
	ok(!qp_imatrix_find(g, "token_embd.weight"), "no token_embd entry");
	double max_abs = 0, max_rel = 0;
	int64_t same = 0, total = 0;
	int shapes_ok = 1;
	for (int64_t i = 0; i < g->n_entries && i < d->n_entries; i++) {
		const qp_imatrix_entry *a = &g->entries[i], *b = &d->entries[i];
		if (strcmp(a->name, b->name) || a->n_cols != b->n_cols) {
			shapes_ok = 0;
			continue;
		}
		for (int64_t j = 0; j < a->n_cols; j++) {
			double x = a->importance[j], y = b->importance[j];
			double ad = fabs(x - y);
			max_abs = ad > max_abs ? ad : max_abs;
			if (fabs(x) > 0 && ad / fabs(x) > max_rel)
				max_rel = ad / fabs(x);
			same += x == y;
			total++;
		}
	}
	ok(shapes_ok, "gguf and dat: same names and sizes");
	diag("gguf vs dat importance: max abs diff %.3g, max rel diff %.3g, "
	     "%lld of %lld identical", max_abs, max_rel, (long long)same,
	     (long long)total);
	ok(max_rel < 4 * FLT_EPSILON, "gguf and dat importance agree to a "
	   "few float ulps");
}

/* ---- statistics against llama-imatrix --show-statistics ----------------- */

static int check_row(const qp_imatrix *im, const qp_imatrix_stats *st,
		     const char *line, int *found)
{
	char layer[16], tensor[64];
	if (sscanf(line, " %15s %63s", layer, tensor) != 2)
		return 1;
	char name[128], want[512], got[512];
	snprintf(name, sizeof name, "blk.%s.%s.weight", layer, tensor);
	const qp_imatrix_entry *en = qp_imatrix_find(im, name);
	if (!en) {
		diag("no entry %s", name);
		return 0;
	}
	const qp_imatrix_stats *s = &st[en - im->entries];
	(*found)++;
	/* the same formats llama-imatrix prints with */
	snprintf(got, sizeof got,
		 "%10.2f %8.4f %11.4f %6.2f %6.2f %8.2f%% %6lld %10.4f %6.2f%% "
		 "%10.2f%% %8.4f",
		 s->sum_sq, s->min, s->max, s->mean, s->std, s->active * 100.0f,
		 (long long)s->n, s->entropy, 100.0 * s->entropy_norm,
		 100.0f * s->zd, s->cossim);
	/* re-join the file's fields with single spaces */
	const char *p = line;
	for (int k = 0; k < 2; k++) { /* skip layer and tensor fields */
		while (*p == ' ' || *p == '\t')
			p++;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	char *w = want;
	int n_fields = 0;
	while (*p && *p != '\n') {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '\n')
			break;
		if (n_fields++)
			*w++ = ' ';
		while (*p && *p != ' ' && *p != '\t' && *p != '\n')
			*w++ = *p++;
	}
	*w = '\0';
	/* normalise ours the same way */
	char norm[512], *o = norm;
	const char *q = got;
	int nf = 0;
	while (*q) {
		while (*q == ' ')
			q++;
		if (!*q)
			break;
		if (nf++)
			*o++ = ' ';
		while (*q && *q != ' ')
			*o++ = *q++;
	}
	*o = '\0';
	if (*found == 1)
		diag("first row %s: %s", name, norm);
	if (strcmp(norm, want) != 0) {
		diag("%s:\n#  want %s\n#  got  %s", name, want, norm);
		return 0;
	}
	return 1;
}

static int check_layer_row(const qp_imatrix_layer_avg *la, int64_t nl,
			   const char *line)
{
	int layer;
	char rest[256];
	if (sscanf(line, " %d %255[^\n]", &layer, rest) != 2)
		return 0;
	for (int64_t i = 0; i < nl; i++) {
		if (la[i].layer != layer)
			continue;
		char got[256], want[256];
		double a, b, c;
		snprintf(got, sizeof got, "%.2f %.4f%% %.4f", la[i].sum_sq,
			 100.0f * (float)la[i].zd, la[i].cossim);
		if (sscanf(rest, "%lf %lf%% %lf", &a, &b, &c) != 3)
			return 0;
		snprintf(want, sizeof want, "%.2f %.4f%% %.4f", a, b, c);
		if (strcmp(got, want)) {
			diag("layer %d: want %s got %s", layer, want, got);
			return 0;
		}
		return 1;
	}
	return 0;
}

static void test_statistics(const qp_imatrix *im, const char *label)
{
	qp_err e;
	qp_imatrix_stats *st = calloc((size_t)im->n_entries, sizeof *st);
	ok(qp_imatrix_stats_compute(im, st, &e) == 0, "%s: statistics", label);
	FILE *f = fopen(fixture("figures/stories260K-imatrix-statistics.txt"),
			"r");
	if (!f) {
		skip(3, "no statistics figure");
		free(st);
		return;
	}
	char line[1024];
	int section = 0, rows = 0, good = 0, found = 0, lrows = 0, lgood = 0;
	qp_imatrix_layer_avg *la = NULL;
	int64_t nl = 0;
	qp_imatrix_layer_averages(im, st, &la, &nl, &e);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "=====", 5) == 0) {
			section++;
			continue;
		}
		if (line[0] == '\n' || strstr(line, "Computing") ||
		    strstr(line, "Layer"))
			continue;
		if (section == 1) {
			rows++;
			good += check_row(im, st, line, &found);
		} else if (section == 2) {
			lrows++;
			lgood += check_layer_row(la, nl, line);
		}
	}
	fclose(f);
	ok(rows == 35 && found == 35 && good == rows,
	   "%s: all %d rows of --show-statistics agree to printed precision "
	   "(%d agree)", label, rows, good);
	ok(lrows == 5 && lgood == lrows && nl == 5,
	   "%s: the %d per-layer averages agree (%d agree)", label, lrows,
	   lgood);
	const qp_imatrix_entry *en = qp_imatrix_find(im, "blk.0.attn_q.weight");
	ok(en && !st[en - im->entries].has_prev &&
	   st[en - im->entries].cossim == 0, "%s: layer 0 has no previous "
	   "layer", label);
	free(la);
	free(st);
}

/* ---- malformed .dat ----------------------------------------------------- */

static int parse_dat(const uint8_t *b, size_t n, qp_err *e)
{
	qp_imatrix im;
	int rc = qp_imatrix_parse_dat(b, n, &im, e);
	if (rc == 0)
		qp_imatrix_free(&im);
	return rc;
}

static size_t dat_entries_end(const uint8_t *b, size_t n)
{
	size_t off = 4;
	int32_t ne = (int32_t)le_u32(b);
	for (int32_t i = 0; i < ne && off + 4 <= n; i++) {
		off += 4 + le_u32(b + off);
		off += 8 + 4 * (size_t)le_u32(b + off + 4);
	}
	return off;
}

static void test_dat_truncation(const uint8_t *b, size_t n)
{
	size_t end = dat_entries_end(b, n);
	int bad = 0;
	qp_err e;
	for (size_t len = 0; len < n; len++) {
		uint8_t *copy = malloc(len ? len : 1); /* exact size for ASan */
		memcpy(copy, b, len);
		int rc = parse_dat(copy, len, &e);
		if ((len == end) != (rc == 0)) {
			if (bad++ < 3)
				diag("length %zu: rc %d (%s)", len, rc,
				     rc ? e.msg : "");
		}
		free(copy);
	}
	ok(bad == 0, "dat: every truncation of %zu bytes fails (except the "
	   "valid trailer-less length %zu)", n, end);
	parse_dat(b, n - 1, &e);
	diag("truncated by one byte: %s", e.msg);
}

static uint8_t *dat_build(size_t *n, int32_t name_len, const char *name,
			  int32_t ncall, int32_t nval, const float *vals,
			  int n_vals_written)
{
	size_t nl = strlen(name);
	*n = 4 + 4 + nl + 8 + 4 * (size_t)n_vals_written;
	uint8_t *b = calloc(1, *n), *p = b;
	le_put_u32(p, 1), p += 4;
	le_put_u32(p, (uint32_t)name_len), p += 4;
	memcpy(p, name, nl), p += nl;
	le_put_u32(p, (uint32_t)ncall), p += 4;
	le_put_u32(p, (uint32_t)nval), p += 4;
	for (int i = 0; i < n_vals_written; i++, p += 4)
		le_put_f32(p, vals[i]);
	return b;
}

static void dat_case(const char *what, int32_t name_len, const char *name,
		     int32_t ncall, int32_t nval, const float *vals, int nw,
		     const char *want_substr)
{
	size_t n;
	qp_err e = {""};
	uint8_t *b = dat_build(&n, name_len, name, ncall, nval, vals, nw);
	int rc = parse_dat(b, n, &e);
	if (!want_substr) {
		ok(rc == 0, "dat: %s is accepted", what);
	} else {
		ok(rc == -1 && strstr(e.msg, want_substr),
		   "dat: %s fails: %s", what, e.msg);
	}
	free(b);
}

static void test_dat_malformed(void)
{
	float v[4] = {1, 2, 3, 4};
	dat_case("a minimal entry", 3, "a.w", 1, 4, v, 4, NULL);
	dat_case("a huge name length", 0x7fffffff, "a.w", 1, 4, v, 4,
		 "bad name length");
	dat_case("a negative name length", -5, "a.w", 1, 4, v, 4,
		 "bad name length");
	dat_case("a name with a NUL byte", 3, "a\0w", 1, 4, v, 4, "NUL");
	dat_case("a huge value count", 3, "a.w", 1, 0x40000000, v, 4,
		 "a.w: bad value count");
	dat_case("a negative value count", 3, "a.w", 1, -1, v, 4,
		 "a.w: bad value count");
	dat_case("ncall zero", 3, "a.w", 0, 4, v, 4, "a.w: ncall is 0");
	dat_case("negative ncall", 3, "a.w", -3, 4, v, 4, "a.w: ncall");
	float neg[4] = {1, -2, 3, 4}, nan4[4] = {1, 2, NAN, 4};
	float inf4[4] = {INFINITY, 2, 3, 4};
	dat_case("a negative sum", 3, "a.w", 1, 4, neg, 4, "a.w: column 1");
	dat_case("a NaN sum", 3, "a.w", 1, 4, nan4, 4, "a.w: column 2");
	dat_case("an infinite sum", 3, "a.w", 1, 4, inf4, 4, "a.w: column 0");

	uint8_t huge[8];
	qp_err e;
	le_put_u32(huge, 0x7fffffff);
	le_put_u32(huge + 4, 0);
	ok(parse_dat(huge, 8, &e) == -1 && strstr(e.msg, "entry count"),
	   "dat: absurd entry count fails: %s", e.msg);
	ok(parse_dat(huge, 0, &e) == -1, "dat: empty input fails: %s", e.msg);

	/* duplicate names and a trailer with a wrong dataset length */
	size_t n1;
	uint8_t *one = dat_build(&n1, 3, "a.w", 1, 4, v, 4);
	size_t n2 = 4 + 2 * (n1 - 4) + 8 + 2;
	uint8_t *two = calloc(1, n2);
	le_put_u32(two, 2);
	memcpy(two + 4, one + 4, n1 - 4);
	memcpy(two + n1, one + 4, n1 - 4);
	ok(parse_dat(two, n2 - 10, &e) == -1 && strstr(e.msg, "duplicate"),
	   "dat: duplicate entry fails: %s", e.msg);
	memcpy(two + n1, one + 4, n1 - 4);
	two[n1 + 4] = 'b'; /* second name "b.w" */
	le_put_u32(two + n2 - 10, 5);
	le_put_u32(two + n2 - 6, 2);
	memcpy(two + n2 - 2, "ds", 2);
	qp_imatrix im;
	ok(qp_imatrix_parse_dat(two, n2, &im, &e) == 0 &&
	   im.chunk_count == 5 && im.n_datasets == 1 &&
	   strcmp(im.datasets[0], "ds") == 0,
	   "dat: two entries and a trailer parse");
	if (im.n_entries == 2) {
		qp_imatrix_free(&im);
	}
	le_put_u32(two + n2 - 6, 3);
	ok(parse_dat(two, n2, &e) == -1 && strstr(e.msg, "dataset name"),
	   "dat: dataset length past the end fails: %s", e.msg);
	le_put_u32(two + n2 - 6, 1);
	ok(parse_dat(two, n2, &e) == -1, "dat: trailing bytes fail: %s",
	   e.msg);
	free(one);
	free(two);
}

/* ---- GGUF imatrix files built with the writer --------------------------- */

typedef struct gtensor {
	const char *name;
	uint32_t type;
	int64_t ne[2];
	int nd;
	const float *data;
} gtensor;

static int fill_f32(void *ctx, size_t i, uint8_t *dst, uint64_t n, qp_err *e)
{
	(void)e;
	const gtensor *t = (const gtensor *)ctx + i;
	for (uint64_t k = 0; k < n / 4; k++)
		le_put_f32(dst + 4 * k, t->data[k]);
	if (t->type != 0)
		memset(dst, 0, n);
	return 0;
}

/* Writes a GGUF with these tensors and parses it. */
static int gguf_case(const char *type, const gtensor *ts, int nt,
		     qp_imatrix *im, qp_err *e)
{
	char path[] = "/tmp/qp-imatrix-XXXXXX";
	int fd = mkstemp(path);
	qp_gguf_writer *w = qp_gguf_writer_new();
	if (type)
		qp_gguf_w_str(w, "general.type", type);
	for (int i = 0; i < nt; i++)
		qp_gguf_w_tensor(w, ts[i].name, ts[i].type, ts[i].ne, ts[i].nd,
				 e);
	qp_gguf_writer_write(w, fd, fill_f32, (void *)ts, e);
	qp_gguf_writer_free(w);
	close(fd);
	int rc = qp_imatrix_load(path, im, e);
	unlink(path);
	return rc;
}

static void gguf_expect_fail(const char *what, const char *type,
			     const gtensor *ts, int nt, const char *substr)
{
	qp_imatrix im;
	qp_err e = {""};
	int rc = gguf_case(type, ts, nt, &im, &e);
	ok(rc == -1 && strstr(e.msg, substr), "gguf: %s fails: %s", what,
	   e.msg);
	if (rc == 0)
		qp_imatrix_free(&im);
}

static void test_gguf_built(void)
{
	float s8[8] = {4, 8, 12, 16, 0, 0, 0, 0}, c2[2] = {4, 0};
	float c1[1] = {4}, c0[1] = {0}, cneg[1] = {-1}, cbig[1] = {1e30f};
	float sneg[4] = {1, -1, 1, 1}, snan[4] = {1, NAN, 1, 1};
	qp_imatrix im;
	qp_err e;

	gtensor moe[2] = {
		{"blk.0.ffn_up_exps.weight.in_sum2", 0, {4, 2}, 2, s8},
		{"blk.0.ffn_up_exps.weight.counts", 0, {1, 2}, 2, c2},
	};
	int rc = gguf_case("imatrix", moe, 2, &im, &e);
	ok(rc == 0, "gguf: MoE entry with an idle expert loads%s%s",
	   rc ? ": " : "", rc ? e.msg : "");
	if (rc == 0) {
		const qp_imatrix_entry *en = &im.entries[0];
		int64_t idle[4];
		ok(en->n_cols == 4 && en->n_expert == 2 &&
		   en->n_idle_experts == 1 &&
		   qp_imatrix_idle_experts(en, idle, 4) == 1 && idle[0] == 1,
		   "gguf: 4 columns x 2 experts, expert 1 idle");
		ok(en->importance[0] == 1 && en->importance[3] == 4 &&
		   en->importance[4] == 1 && en->importance[7] == 1,
		   "gguf: importance = sum/count, 1 for the idle expert");
		qp_imatrix_stats st;
		int src = qp_imatrix_stats_compute(&im, &st, &e);
		ok(src == 0 && st.n == 4 &&
		   st.n_idle_experts == 1 && st.tokens == 4 &&
		   st.sum_sq == 10, "gguf: statistics leave the idle expert "
		   "out (n %lld, sum %g)", (long long)st.n, st.sum_sq);
		qp_imatrix_free(&im);
	}

	gtensor dense[2] = {
		{"a.weight.in_sum2", 0, {4, 1}, 1, s8},
		{"a.weight.counts", 0, {1, 1}, 1, c1},
	};
	gguf_expect_fail("general.type model", "model", dense, 2,
			 "not 'imatrix'");
	gguf_expect_fail("in_sum2 without counts", "imatrix", dense, 1,
			 "a.weight: in_sum2 without counts");
	gguf_expect_fail("counts without in_sum2", "imatrix", dense + 1, 1,
			 "a.weight: counts without in_sum2");
	gtensor t[2] = {dense[0], dense[1]};
	t[1].data = c0;
	gguf_expect_fail("count zero", "imatrix", t, 2,
			 "a.weight: count is zero");
	t[1].data = cneg;
	gguf_expect_fail("negative count", "imatrix", t, 2,
			 "a.weight: expert 0: bad count");
	t[1].data = cbig;
	gguf_expect_fail("absurd count", "imatrix", t, 2,
			 "a.weight: expert 0: bad count");
	float chalf[1] = {0.4f};
	t[1].data = chalf;
	gguf_expect_fail("a count that is not a whole number", "imatrix", t,
			 2, "a.weight: expert 0: bad count 0.4");
	t[1].data = c1;
	t[0].data = sneg;
	gguf_expect_fail("negative sum", "imatrix", t, 2,
			 "a.weight: column 1: bad sum");
	t[0].data = snan;
	gguf_expect_fail("NaN sum", "imatrix", t, 2,
			 "a.weight: column 1: bad sum");
	t[0].data = s8;
	t[1].ne[0] = 2;
	t[1].data = c2;
	gguf_expect_fail("2 counts for 1 expert", "imatrix", t, 2,
			 "a.weight: 2 counts for 1 experts");
	t[1] = dense[1];
	t[0].type = 1; /* F16 */
	gguf_expect_fail("an F16 in_sum2", "imatrix", t, 2, "not F32");
	gtensor none[1] = {{"x.weight", 0, {4, 1}, 1, s8}};
	gguf_expect_fail("a GGUF without imatrix tensors", NULL, none, 1,
			 "not an imatrix");

	/* .dat entry split into experts afterwards */
	size_t n;
	float v[4] = {2, 4, 6, 8};
	uint8_t *b = dat_build(&n, 5, "e.exp", 2, 4, v, 4);
	ok(qp_imatrix_parse_dat(b, n, &im, &e) == 0, "dat: entry parses");
	ok(qp_imatrix_set_cols(&im, 0, 3, &e) == -1,
	   "set_cols: 4 values do not split into rows of 3: %s", e.msg);
	ok(qp_imatrix_set_cols(&im, 0, 2, &e) == 0 &&
	   im.entries[0].n_expert == 2 && im.entries[0].counts[1] == 2 &&
	   im.entries[0].importance[3] == 4, "set_cols: 2 experts of 2");
	qp_imatrix_free(&im);
	free(b);
}

static void test_gguf_truncation(const char *path)
{
	qp_map m;
	qp_err e;
	if (qp_map_open(path, &m, &e)) {
		skip(1, "no gguf fixture");
		return;
	}
	/* the file ends with alignment padding after the last tensor's
	 * data: cutting only padding leaves a complete imatrix */
	qp_gguf g;
	uint64_t data_end = 0;
	if (qp_gguf_parse(m.data, m.size, m.size, &g, &e) == 0) {
		for (uint64_t i = 0; i < g.n_tensors; i++)
			if (g.tensors[i].offset + g.tensors[i].n_bytes > data_end)
				data_end = g.tensors[i].offset +
					   g.tensors[i].n_bytes;
		qp_gguf_free(&g);
	}
	int bad = 0;
	for (size_t len = 0; len < m.size; len++) {
		uint8_t *copy = malloc(len ? len : 1);
		memcpy(copy, m.data, len);
		qp_imatrix im;
		int rc = qp_imatrix_parse(copy, len, &im, &e);
		if (rc == 0)
			qp_imatrix_free(&im);
		if ((rc == 0) != (len >= data_end) && bad++ < 3)
			diag("gguf truncated to %zu: rc %d", len, rc);
		free(copy);
	}
	ok(bad == 0, "gguf: every truncation of %zu bytes before the end of "
	   "the data (%llu) fails", m.size, (unsigned long long)data_end);
	qp_map_close(&m);
}

int main(void)
{
	test_dat_malformed();
	test_gguf_built();
	if (!tap_fixtures()) {
		done_testing();
		return exit_status();
	}
	qp_imatrix g, d;
	qp_err e;
	int rg = qp_imatrix_load(fixture("stories260K.imatrix.gguf"), &g, &e);
	ok(rg == 0, "load the gguf fixture%s%s", rg ? ": " : "",
	   rg ? e.msg : "");
	int rd = qp_imatrix_load(fixture("stories260K.imatrix.dat"), &d, &e);
	ok(rd == 0, "load the dat fixture%s%s", rd ? ": " : "",
	   rd ? e.msg : "");
	if (rg == 0 && rd == 0) {
		test_formats_agree(&g, &d);
		test_statistics(&g, "gguf");
		test_statistics(&d, "dat");
	}
	if (rg == 0)
		qp_imatrix_free(&g);
	if (rd == 0)
		qp_imatrix_free(&d);
	qp_map m;
	if (qp_map_open(fixture("stories260K.imatrix.dat"), &m, &e) == 0) {
		test_dat_truncation(m.data, m.size);
		qp_map_close(&m);
	}
	test_gguf_truncation(fixture("stories260K.imatrix.gguf"));
	done_testing();
	return exit_status();
}
