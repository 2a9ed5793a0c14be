/* llq_size: predicted file sizes against files the real llama-quantize
 * wrote: every stories260K fixture (from stories260K-f32.gguf, with the
 * types read back from the fixture) and every kjv-llama configuration of
 * ppl.tsv (types from its tensor_types column, sizes from
 * file_size_bytes).  Skips without ../shared/fixtures. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "gguf.h"
#include "llq_size.h"
#include "mapfile.h"
#include "types.h"

static const char *fixtures;

typedef struct src {
	qp_map map;
	qp_gguf g;
} src;

static int open_gguf(const char *path, src *s)
{
	qp_err e;
	memset(s, 0, sizeof *s);
	if (qp_map_open(path, &s->map, &e) != 0)
		return -1;
	if (qp_gguf_parse(s->map.data, s->map.size, s->map.size, &s->g, &e) != 0) {
		qp_map_close(&s->map);
		return -1;
	}
	return 0;
}

static void close_gguf(src *s)
{
	qp_gguf_free(&s->g);
	qp_map_close(&s->map);
}

/* Predicted size of src quantized to types[t] (ggml ids, per tensor). */
static uint64_t predict(const qp_gguf *g, const uint32_t *types,
			const qp_llq_imatrix_kv *im, uint64_t *tensor_bytes,
			uint64_t *n_elements)
{
	qp_llq_layout lay;
	qp_err e;
	if (qp_llq_layout_of(g, im, &lay, &e) != 0)
		return 0;
	uint64_t total = lay.meta_bytes, raw = 0;
	for (uint64_t t = 0; t < g->n_tensors; t++) {
		uint64_t nb;
		if (qp_type_nbytes(types[t], g->tensors[t].ne, QP_GGUF_MAX_DIMS, &nb, &e) != 0)
			return 0;
		total += qp_llq_padded(nb);
		raw += nb;
	}
	*tensor_bytes = raw;
	*n_elements = lay.n_elements;
	return total;
}

static char *kv_str(const qp_gguf *g, const char *key)
{
	qp_gguf_str s;
	return qp_gguf_get_str(g, key, &s) ? qp_gguf_strdup(s) : NULL;
}

static void check_stories(void)
{
	char path[4600];
	snprintf(path, sizeof path, "%s/stories260K-f32.gguf", fixtures);
	src base;
	if (open_gguf(path, &base) != 0) {
		ok(0, "open %s", path);
		return;
	}
	DIR *d = opendir(fixtures);
	int n = 0, good = 0;
	struct dirent *de;
	uint32_t *types = malloc(base.g.n_tensors * sizeof *types);
	while (d && (de = readdir(d))) {
		const char *nm = de->d_name;
		size_t l = strlen(nm);
		if (strncmp(nm, "stories260K-", 12) != 0 || l < 5 ||
		    strcmp(nm + l - 5, ".gguf") != 0 || strstr(nm, "f32") ||
		    strstr(nm, "rows256"))
			continue;
		snprintf(path, sizeof path, "%s/%s", fixtures, nm);
		src q;
		if (open_gguf(path, &q) != 0 || q.g.n_tensors != base.g.n_tensors) {
			ok(0, "%s readable, same tensors", nm);
			continue;
		}
		for (uint64_t t = 0; t < base.g.n_tensors; t++) {
			types[t] = base.g.tensors[t].type;
			for (uint64_t u = 0; u < q.g.n_tensors; u++)
				if (q.g.tensors[u].name.len == base.g.tensors[t].name.len &&
				    memcmp(q.g.tensors[u].name.ptr, base.g.tensors[t].name.ptr,
					   base.g.tensors[t].name.len) == 0)
					types[t] = q.g.tensors[u].type;
		}
		qp_llq_imatrix_kv im = { 0 }, *imp = NULL;
		char *file = kv_str(&q.g, "quantize.imatrix.file");
		char *dataset = kv_str(&q.g, "quantize.imatrix.dataset");
		if (file) {
			int64_t v;
			im.file = file;
			im.dataset = dataset;
			im.n_entries = qp_gguf_get_int(&q.g, "quantize.imatrix.entries_count", &v) ? (uint32_t)v : 0;
			im.n_chunks = qp_gguf_get_int(&q.g, "quantize.imatrix.chunks_count", &v) ? (int32_t)v : 0;
			imp = &im;
		}
		uint64_t raw, elems;
		uint64_t want = q.map.size, got = predict(&base.g, types, imp, &raw, &elems);
		n++;
		if (got == want)
			good++;
		else
			diag("%s: predicted %llu bytes, file has %llu", nm,
			     (unsigned long long)got, (unsigned long long)want);
		free(file);
		free(dataset);
		close_gguf(&q);
	}
	if (d)
		closedir(d);
	free(types);
	ok(n >= 20 && good == n, "stories260K: %d/%d fixture files predicted byte-exact", good, n);
	close_gguf(&base);
}

/* "attn_q=Q4_K/Q4_K/Q6_K/Q4_K" -> the type of blk.L.attn_q.weight */
static int type_from_column(const char *col, const char *tname, uint32_t *out)
{
	char role[64];
	int layer = -1;
	if (sscanf(tname, "blk.%d.%63[^.].weight", &layer, role) != 2) {
		layer = -1;
		if (sscanf(tname, "%63[^.].weight", role) != 1)
			return -1;
	}
	size_t rl = strlen(role);
	for (const char *p = col; *p;) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > rl && strncmp(p, role, rl) == 0 && p[rl] == '=') {
			const char *v = p + rl + 1;
			for (int k = 0; k < (layer < 0 ? 0 : layer); k++) {
				v = strchr(v, '/');
				if (!v || v > p + len)
					return -1;
				v++;
			}
			char tn[16];
			size_t tl = strcspn(v, "/;\t\n");
			if (tl >= sizeof tn)
				return -1;
			memcpy(tn, v, tl);
			tn[tl] = 0;
			const qp_type_info *ti = qp_type_info_by_name(tn);
			if (!ti)
				return -1;
			*out = ti->id;
			return 0;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return 1; /* not listed: keeps its type */
}

static void check_kjv(void)
{
	char path[4600];
	snprintf(path, sizeof path, "%s/kjv-llama/model-f32.gguf", fixtures);
	src base;
	if (open_gguf(path, &base) != 0) {
		ok(0, "open %s", path);
		return;
	}
	snprintf(path, sizeof path, "%s/kjv-llama/ppl.tsv", fixtures);
	FILE *f = fopen(path, "r");
	if (!ok(f != NULL, "open ppl.tsv")) {
		close_gguf(&base);
		return;
	}
	static char line[1 << 16];
	uint32_t *types = malloc(base.g.n_tensors * sizeof *types);
	int n = 0, good = 0, bpw_good = 0;
	/* what llama-quantize recorded from --imatrix imatrix.gguf */
	qp_llq_imatrix_kv im = { "imatrix.gguf", "/tmp/tinyllm/data/imatrix-calib.txt", 29, 168 };
	fgets(line, sizeof line, f);
	while (fgets(line, sizeof line, f)) {
		char *col[32];
		int nc = 0;
		for (char *p = line; nc < 32;) {
			col[nc++] = p;
			char *tab = strchr(p, '\t');
			if (!tab)
				break;
			*tab = 0;
			p = tab + 1;
		}
		if (nc < 23 || !*col[5])
			continue; /* F32/F16 references: the converter wrote them */
		int bad = 0;
		for (uint64_t t = 0; t < base.g.n_tensors; t++) {
			char name[256];
			size_t l = base.g.tensors[t].name.len;
			memcpy(name, base.g.tensors[t].name.ptr, l < 255 ? l : 255);
			name[l < 255 ? l : 255] = 0;
			types[t] = base.g.tensors[t].type;
			if (type_from_column(col[22], name, &types[t]) < 0)
				bad = 1;
		}
		uint64_t raw = 0, elems = 0;
		uint64_t got = bad ? 0 : predict(&base.g, types, atoi(col[4]) ? &im : NULL, &raw, &elems);
		uint64_t want = strtoull(col[6], NULL, 10);
		n++;
		if (got == want)
			good++;
		else
			diag("%s: predicted %llu, llama-quantize wrote %llu", col[0],
			     (unsigned long long)got, (unsigned long long)want);
		/* ppl.tsv's bpw column is llama-quantize's bpw, rounded */
		double bpw = qp_llq_bpw(raw, elems);
		char a[32], b[32];
		snprintf(a, sizeof a, "%.2f", bpw);
		snprintf(b, sizeof b, "%.2f", atof(col[8]));
		bpw_good += strcmp(a, b) == 0;
	}
	fclose(f);
	free(types);
	ok(n >= 60 && good == n, "kjv-llama ppl.tsv: %d/%d configurations predicted byte-exact", good, n);
	ok(bpw_good == n, "kjv-llama ppl.tsv: %d/%d bpw as printed", bpw_good, n);
	close_gguf(&base);
}

int main(void)
{
	fixtures = tap_fixtures();
	if (!fixtures) {
		skip_all("fixtures not found (../shared/fixtures)");
		return 0;
	}
	check_stories();
	check_kjv();
	done_testing();
	return exit_status();
}
