/* quant_fixtures: qp_quantize reproduces, byte for byte, every tensor that
 * llama-quantize wrote into the stories260K fixtures (with and without an
 * imatrix), and qp_dequantize gives the error figures llama.cpp measured
 * (figures/qerr-fixtures.tsv, figures/qerr-test-quantize-stats.tsv). */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>

#include "../tap.h"
#include "gguf.h"
#include "mapfile.h"
#include "quant.h"
#include "types.h"

static const char *fixtures;

typedef struct gfile {
	qp_map map;
	qp_gguf g;
	int loaded;
} gfile;

static int gfile_open(gfile *f, const char *name)
{
	char path[4600];
	qp_err e;
	snprintf(path, sizeof path, "%s/%s", fixtures, name);
	memset(f, 0, sizeof *f);
	if (qp_map_open(path, &f->map, &e) != 0) {
		diag("%s", e.msg);
		return -1;
	}
	if (qp_gguf_parse(f->map.data, f->map.size, f->map.size, &f->g, &e)) {
		diag("%s: %s", name, e.msg);
		qp_map_close(&f->map);
		return -1;
	}
	f->loaded = 1;
	return 0;
}

static void gfile_close(gfile *f)
{
	if (!f->loaded)
		return;
	qp_gguf_free(&f->g);
	qp_map_close(&f->map);
	f->loaded = 0;
}

static const qp_gguf_tensor *find_tensor(const gfile *f, const char *name)
{
	for (uint64_t i = 0; i < f->g.n_tensors; i++)
		if (qp_gguf_str_eq(f->g.tensors[i].name, name))
			return &f->g.tensors[i];
	return NULL;
}

/* F32 data of a tensor, copied out of the mapping (alignment-safe). */
static float *f32_copy(const gfile *f, const qp_gguf_tensor *t)
{
	float *x = malloc(t->n_elem * sizeof *x);
	if (x)
		memcpy(x, f->map.data + t->offset, t->n_elem * sizeof *x);
	return x;
}

/* ---- imatrix: importance = in_sum2 / counts, in float, as llama-quantize */

static gfile imat_file;

static float *importance_for(const char *tensor, int64_t ne0)
{
	char name[300];
	snprintf(name, sizeof name, "%s.in_sum2", tensor);
	const qp_gguf_tensor *s = find_tensor(&imat_file, name);
	snprintf(name, sizeof name, "%s.counts", tensor);
	const qp_gguf_tensor *c = find_tensor(&imat_file, name);
	if (!s || !c || s->type != QP_F32 || c->type != QP_F32 ||
	    (int64_t)s->n_elem != ne0)
		return NULL;
	float *sum2 = f32_copy(&imat_file, s), *cnt = f32_copy(&imat_file, c);
	for (int64_t i = 0; i < ne0; i++)
		sum2[i] = cnt[0] > 0.0f ? sum2[i] / cnt[0] : 1.0f;
	free(cnt);
	return sum2;
}

/* ---- quantize every tensor of one fixture, compare bytes ---------------- */

static int is_fixture_model(const char *name)
{
	size_t n = strlen(name);
	return strncmp(name, "stories260K-", 12) == 0 && n > 5 &&
	       strcmp(name + n - 5, ".gguf") == 0 &&
	       !strstr(name, "-f32") && !strstr(name, "imatrix");
}

static void check_file(const char *name, gfile *src_f32)
{
	gfile fx;
	if (gfile_open(&fx, name) != 0) {
		ok(0, "%s opens", name);
		return;
	}
	const int use_imat = strstr(name, "-imat") != NULL;
	int n_same = 0, n_quant = 0, n_skipped = 0, n_f32 = 0;
	char tname[64];
	for (uint64_t i = 0; i < fx.g.n_tensors; i++) {
		const qp_gguf_tensor *t = &fx.g.tensors[i];
		char *nm = qp_gguf_strdup(t->name);
		const qp_gguf_tensor *s = find_tensor(src_f32, nm);
		if (!s || s->n_elem != t->n_elem) {
			diag("%s: %s has no F32 source", name, nm);
			free(nm);
			n_quant++;
			continue;
		}
		if (!qp_can_quantize(t->type)) {
			n_skipped++;
			free(nm);
			continue;
		}
		float *x = f32_copy(src_f32, s);
		float *imat = use_imat ? importance_for(nm, t->ne[0]) : NULL;
		uint8_t *out = malloc(t->n_bytes);
		qp_err e;
		int64_t nrows = (int64_t)t->n_elem / t->ne[0];
		int rc = qp_quantize(t->type, x, out, nrows, t->ne[0], imat, &e);
		int same = rc == 0 &&
			   memcmp(out, fx.map.data + t->offset, t->n_bytes) == 0;
		if (!same) {
			uint64_t k = 0;
			while (rc == 0 && k < t->n_bytes &&
			       out[k] == fx.map.data[t->offset + k])
				k++;
			diag("%s: %s (%s%s) differs at byte %llu%s%s", name, nm,
			     qp_type_name(t->type, tname), imat ? ", imatrix" : "",
			     (unsigned long long)k, rc ? ": " : "",
			     rc ? e.msg : "");
		}
		n_same += same;
		n_f32 += same && t->type == QP_F32;
		n_quant++;
		free(out);
		free(imat);
		free(x);
		free(nm);
	}
	ok(n_same == n_quant, "%s: %d/%d tensors byte-identical (%d of them "
	   "quantized, not F32)%s", name, n_same, n_quant, n_same - n_f32,
	   n_skipped ? "; some types not quantizable" : "");
	if (n_skipped)
		diag("%s: %d tensors of types qp_quantize does not do", name,
		     n_skipped);
	gfile_close(&fx);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_all_files(void)
{
	gfile f32, f32_256;
	if (gfile_open(&f32, "stories260K-f32.gguf") ||
	    gfile_open(&f32_256, "stories260K-rows256-f32.gguf") ||
	    gfile_open(&imat_file, "stories260K.imatrix.gguf")) {
		ok(0, "source models and imatrix open");
		return;
	}
	DIR *d = opendir(fixtures);
	char *names[256];
	int n = 0;
	for (struct dirent *de; d && (de = readdir(d)) && n < 256;)
		if (is_fixture_model(de->d_name))
			names[n++] = strdup(de->d_name);
	if (d)
		closedir(d);
	qsort(names, (size_t)n, sizeof *names, cmp_names);
	ok(n >= 40, "found %d fixture models", n);
	for (int i = 0; i < n; i++) {
		check_file(names[i], strstr(names[i], "rows256") ? &f32_256 : &f32);
		free(names[i]);
	}
	gfile_close(&f32);
	gfile_close(&f32_256);
}

/* ---- error figures ------------------------------------------------------ */

typedef struct errstat {
	double rmse, maxerr;
} errstat;

/* test-quantize-stats' measure: float differences, squares summed in
 * double over the tensor. */
static errstat error_of(const float *x, const float *y, int64_t n)
{
	double sum = 0, maxerr = 0;
	for (int64_t i = 0; i < n; i++) {
		double diff = x[i] - y[i];
		sum += diff * diff;
		if (fabs(diff) > maxerr)
			maxerr = fabs(diff);
	}
	errstat s = { sqrt(sum / (double)n), maxerr };
	return s;
}

/* Dequantizes every tensor of every fixture named in qerr-fixtures.tsv and
 * compares rmse and maxerr with the printed figures (8 decimals). */
static void check_qerr_fixtures(void)
{
	char path[4600];
	snprintf(path, sizeof path, "%s/figures/qerr-fixtures.tsv", fixtures);
	FILE *tsv = fopen(path, "r");
	if (!tsv) {
		ok(0, "qerr-fixtures.tsv opens");
		return;
	}
	gfile f32, f32_256, fx = { 0 };
	gfile_open(&f32, "stories260K-f32.gguf");
	gfile_open(&f32_256, "stories260K-rows256-f32.gguf");
	char line[512], cur[256] = "";
	int n_rows = 0, n_good = 0, n_na = 0, n_ulp = 0;
	while (fgets(line, sizeof line, tsv)) {
		char file[256], tensor[128], type[16], rmse_s[32], maxerr_s[32];
		if (sscanf(line, "%255s %127s %15s %*s %*s %31s %31s", file,
			   tensor, type, rmse_s, maxerr_s) != 5 ||
		    strcmp(file, "file") == 0)
			continue;
		if (strcmp(file, cur) != 0) {
			gfile_close(&fx);
			snprintf(cur, sizeof cur, "%s", file);
			if (gfile_open(&fx, file) != 0)
				continue;
		}
		if (!fx.loaded)
			continue;
		const qp_gguf_tensor *t = find_tensor(&fx, tensor);
		const gfile *src = strstr(file, "rows256") ? &f32_256 : &f32;
		const qp_gguf_tensor *s = find_tensor(src, tensor);
		if (!t || !s)
			continue;
		n_rows++;
		float *y = malloc(t->n_elem * sizeof *y);
		float *x = f32_copy(src, s);
		qp_err e;
		int good = qp_dequantize(t->type, fx.map.data + t->offset, y,
					 (int64_t)t->n_elem, &e) == 0;
		if (good && strcmp(rmse_s, "n/a") != 0) {
			errstat st = error_of(x, y, (int64_t)t->n_elem);
			double want_rmse = atof(rmse_s), want_max = atof(maxerr_s);
			/* gguf-py's numpy decoder rounds a few products in
			 * another order than ggml: allow maxerr one float ulp
			 * off (exact matches with ggml's own figures are
			 * checked by check_quantize_stats). */
			good = fabs(st.rmse - want_rmse) <= 1.01e-8 &&
			       fabs(st.maxerr - want_max) <=
				       1.01e-8 + want_max * 0x1p-23;
			n_ulp += good && fabs(st.maxerr - want_max) > 1.01e-8;
			if (!good)
				diag("%s %s %s: rmse %.8f max %.8f, want %s %s",
				     file, tensor, type, st.rmse, st.maxerr,
				     rmse_s, maxerr_s);
		} else if (good) {
			n_na++;
		} else {
			diag("%s %s: %s", file, tensor, e.msg);
		}
		n_good += good;
		free(x);
		free(y);
	}
	fclose(tsv);
	gfile_close(&fx);
	gfile_close(&f32);
	gfile_close(&f32_256);
	ok(n_rows > 2800 && n_good == n_rows,
	   "qerr-fixtures.tsv: %d/%d tensors dequantize to the printed rmse "
	   "and maxerr (%d n/a rows: Q1_0/Q2_0 decoded only)", n_good, n_rows,
	   n_na);
	diag("qerr-fixtures.tsv: %d maxerr figures one float ulp off (gguf-py "
	     "rounding)", n_ulp);
}

/* test-quantize-stats quantizes each whole tensor as one flat row with
 * ggml's reference encoders and measures to_float's error: the rows256
 * view gives the same blocks, so quantize + dequantize here must give the
 * same numbers. */
static void check_quantize_stats(void)
{
	char path[4600];
	snprintf(path, sizeof path, "%s/figures/qerr-test-quantize-stats.tsv",
		 fixtures);
	FILE *tsv = fopen(path, "r");
	gfile src;
	if (!tsv || gfile_open(&src, "stories260K-rows256-f32.gguf") != 0) {
		ok(0, "qerr-test-quantize-stats.tsv and rows256 source open");
		if (tsv)
			fclose(tsv);
		return;
	}
	char line[512];
	int per_type_rows[64] = { 0 }, per_type_good[64] = { 0 };
	while (fgets(line, sizeof line, tsv)) {
		char type[16], tensor[128];
		double want_rmse, want_max;
		if (sscanf(line, "%15s %127s %lf %lf", type, tensor, &want_rmse,
			   &want_max) != 4)
			continue;
		const qp_type_info *ti = qp_type_info_by_name(type);
		const qp_gguf_tensor *s = find_tensor(&src, tensor);
		if (!ti || ti->id >= 64 || !s || !qp_can_quantize(ti->id))
			continue;
		/* test-quantize-stats encodes IQ4_NL with
		 * quantize_row_iq4_nl_ref (no scale search), a path
		 * llama-quantize never takes: qp_quantize does not offer it */
		if (ti->id == QP_IQ4_NL)
			continue;
		int64_t n = (int64_t)s->n_elem;
		float *x = f32_copy(&src, s), *y = malloc(n * sizeof *y);
		uint8_t *q = malloc(n * 4);
		qp_err e;
		int good = qp_quantize(ti->id, x, q, 1, n, NULL, &e) == 0 &&
			   qp_dequantize(ti->id, q, y, n, &e) == 0;
		if (good) {
			errstat st = error_of(x, y, n);
			good = fabs(st.rmse - want_rmse) <= 1.01e-8 &&
			       fabs(st.maxerr - want_max) <= 1.01e-8;
			if (!good)
				diag("%s %s: rmse %.8f max %.8f, want %.8f %.8f",
				     type, tensor, st.rmse, st.maxerr,
				     want_rmse, want_max);
		}
		per_type_rows[ti->id]++;
		per_type_good[ti->id] += good;
		free(x);
		free(y);
		free(q);
	}
	fclose(tsv);
	gfile_close(&src);
	char tname[16];
	for (int id = 0; id < 64; id++)
		if (per_type_rows[id])
			ok(per_type_good[id] == per_type_rows[id],
			   "test-quantize-stats %s: %d/%d tensors same rmse/maxerr",
			   qp_type_name((uint32_t)id, tname), per_type_good[id],
			   per_type_rows[id]);
}

int main(void)
{
	fixtures = tap_fixtures();
	if (!fixtures) {
		skip_all("fixtures not found (../shared/fixtures)");
		return 0;
	}
	check_all_files();
	check_qerr_fixtures();
	check_quantize_stats();
	gfile_close(&imat_file);
	done_testing();
	return exit_status();
}
