/* quant_k.c — the K-quant encoders against llama.cpp's own output.
 *
 * Exactness: every 2-D tensor of stories260K-rows256-f32.gguf encoded to
 * Q2_K..Q6_K must equal, byte for byte, what llama-quantize wrote in
 * stories260K-rows256-<T>-pure.gguf (reference path, no imatrix), for both
 * the lane-parallel and the scalar implementation.
 *
 * The importance-weighted path has no llama.cpp output to compare with
 * (the stories260K imatrix fixtures fall back to legacy types; kjv-llama
 * ships no quantized files), so it is checked by properties that follow
 * from ggml's code: Q6_K with importance x^2 of its own row is the
 * reference path; fast == scalar on adversarial data; exact invariance
 * under power-of-two scaling; and on kjv-llama with its real imatrix the
 * importance-weighted error is lower than the reference path's.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fp16.h"
#include "gguf.h"
#include "imatrix.h"
#include "le.h"
#include "mapfile.h"
#include "quant.h"
#include "quant_k.h"
#include "../fingerprint.h"
#include "../tap.h"

typedef int (*quant_fn)(const float *, void *, int64_t, int64_t,
			const float *);

static const struct ktype {
	const char *name;
	uint32_t id;
	size_t block_bytes;
	quant_fn fn;
	int half_offsets[2]; /* fp16 d (and dmin) inside a block; -1 none */
} KTYPES[] = {
	{ "Q2_K", 10, QP_Q2_K_BLOCK_BYTES, qp_quantize_q2_k, { 80, 82 } },
	{ "Q3_K", 11, QP_Q3_K_BLOCK_BYTES, qp_quantize_q3_k, { 108, -1 } },
	{ "Q4_K", 12, QP_Q4_K_BLOCK_BYTES, qp_quantize_q4_k, { 0, 2 } },
	{ "Q5_K", 13, QP_Q5_K_BLOCK_BYTES, qp_quantize_q5_k, { 0, 2 } },
	{ "Q6_K", 14, QP_Q6_K_BLOCK_BYTES, qp_quantize_q6_k, { 208, -1 } },
};
#define N_KTYPES 5

typedef struct model {
	qp_map map;
	qp_gguf g;
} model;

static int model_open(const char *dir, const char *file, model *m)
{
	char path[4096];
	qp_err e;
	snprintf(path, sizeof path, "%s/%s", dir, file);
	if (qp_map_open(path, &m->map, &e) != 0) {
		diag("%s", e.msg);
		return -1;
	}
	if (qp_gguf_parse(m->map.data, m->map.size, m->map.size, &m->g, &e)) {
		diag("%s: %s", path, e.msg);
		qp_map_close(&m->map);
		return -1;
	}
	return 0;
}

static void model_close(model *m)
{
	qp_gguf_free(&m->g);
	qp_map_close(&m->map);
}

static const qp_gguf_tensor *find_tensor(const model *m, qp_gguf_str name)
{
	for (uint64_t i = 0; i < m->g.n_tensors; i++)
		if (m->g.tensors[i].name.len == name.len &&
		    !memcmp(m->g.tensors[i].name.ptr, name.ptr, name.len))
			return &m->g.tensors[i];
	return NULL;
}

static float *read_f32(const model *m, const qp_gguf_tensor *t)
{
	float *x = malloc(t->n_elem * sizeof *x);
	for (uint64_t i = 0; x && i < t->n_elem; i++)
		x[i] = le_f32(m->map.data + t->offset + 4 * i);
	return x;
}

static bool is_matrix(const qp_gguf_tensor *t)
{
	return t->n_dims == 2 && t->type == 0 && t->ne[0] % QP_QK_K == 0;
}

/* ---- exactness against llama-quantize ------------------------------- */

static void check_fixture_type(const char *dir, const model *src,
			       const struct ktype *k)
{
	char file[256];
	model ref;
	snprintf(file, sizeof file, "stories260K-rows256-%s-pure.gguf", k->name);
	if (model_open(dir, file, &ref) != 0) {
		ok(0, "%s: open %s", k->name, file);
		return;
	}
	int n = 0, same_fast = 0, same_scalar = 0, same_q6_imat = 0;
	for (uint64_t i = 0; i < src->g.n_tensors; i++) {
		const qp_gguf_tensor *t = &src->g.tensors[i];
		if (!is_matrix(t))
			continue;
		const qp_gguf_tensor *r = find_tensor(&ref, t->name);
		int64_t ne0 = t->ne[0], ne1 = t->ne[1];
		size_t bytes = (size_t)(ne0 / QP_QK_K * ne1) * k->block_bytes;
		n++;
		if (!r || r->type != k->id || r->n_bytes != bytes) {
			diag("%s: %.*s missing or of another type", k->name,
			     (int)t->name.len, t->name.ptr);
			continue;
		}
		const uint8_t *want = ref.map.data + r->offset;
		float *x = read_f32(src, t);
		uint8_t *got = calloc(bytes, 1);
		k->fn(x, got, ne1, ne0, NULL);
		same_fast += !memcmp(got, want, bytes);
		memset(got, 0, bytes);
		qp_quantize_k_scalar(k->id, x, got, ne1, ne0, NULL);
		same_scalar += !memcmp(got, want, bytes);
		if (k->id == 14) {
			/* ggml's Q6_K importance path weighs by the importance
			 * where the reference weighs by x^2, so importance x^2
			 * of one row must reproduce that row exactly. */
			int rows_same = 0;
			size_t row_bytes = bytes / (size_t)ne1;
			float *imp = malloc((size_t)ne0 * sizeof *imp);
			for (int64_t row = 0; row < ne1; row++) {
				const float *xr = x + row * ne0;
				for (int64_t c = 0; c < ne0; c++)
					imp[c] = xr[c] * xr[c];
				k->fn(xr, got, 1, ne0, imp);
				rows_same += !memcmp(got, want + row * row_bytes,
						     row_bytes);
			}
			same_q6_imat += rows_same == ne1;
			free(imp);
		}
		free(got);
		free(x);
	}
	ok(n == 37 && same_fast == n,
	   "%s: %d/%d tensors byte-identical to llama-quantize", k->name,
	   same_fast, n);
	ok(same_scalar == n, "%s: scalar path %d/%d tensors byte-identical",
	   k->name, same_scalar, n);
	if (k->id == 14)
		ok(same_q6_imat == n,
		   "Q6_K: importance x^2 per row reproduces %d/%d tensors",
		   same_q6_imat, n);
	model_close(&ref);
}

static void check_fixtures(const char *dir)
{
	model src;
	if (model_open(dir, "stories260K-rows256-f32.gguf", &src) != 0) {
		ok(0, "open stories260K-rows256-f32.gguf");
		return;
	}
	for (int k = 0; k < N_KTYPES; k++)
		check_fixture_type(dir, &src, &KTYPES[k]);
	model_close(&src);
}

/* ---- synthetic data --------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static double uniform(void)
{
	rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static float gauss(void)
{
	double u1 = uniform() + 1e-300, u2 = uniform();
	return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}

enum { N_PATTERNS = 15 };

/* Blocks meant to reach every branch: zero and constant groups, one-signed
 * groups, a lone spike, tiny and huge magnitudes, ties, repeated values,
 * NaNs with a payload (nearest_int reads it), infinities, and values whose
 * range overflows. */
static float nan_payload(int i)
{
	uint32_t bits = 0x7fc00000u | (uint32_t)(i * 2654435761u & 0x3fffffu);
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

static void fill_pattern(int p, float *x, float *imp)
{
	for (int i = 0; i < QP_QK_K; i++) {
		float g = gauss();
		switch (p) {
		case 0: x[i] = 0.02f * g; break;
		case 1: x[i] = 0; break;
		case 2: x[i] = 0.5f; break;
		case 3: x[i] = fabsf(g); break;
		case 4: x[i] = -fabsf(g) * 1e-3f; break;
		case 5: x[i] = i % 37 == 5 ? 3.0f : 1e-4f * g; break;
		case 6: x[i] = 1e-20f * g; break;
		case 7: x[i] = 3e4f * g; break;
		case 8: x[i] = (float)((int)(g * 4)) * 0.25f; break;
		case 9: x[i] = (i / 16) % 3 == 0 ? 0 : g; break;
		case 10: x[i] = g * g * g; break;
		case 11: x[i] = i % 29 == 3 ? nan_payload(i) : g; break;
		case 12: x[i] = i % 41 == 7 ? (i & 1 ? INFINITY : -INFINITY) : g; break;
		case 13: x[i] = (i & 1 ? 3e38f : -3e38f) * (0.5f + 0.1f * g); break;
		default: x[i] = (i & 1) ? 1.0f : -1.0f; break;
		}
		double u = uniform();
		imp[i] = u < 0.1 ? 0 : (float)(u * u * 50);
	}
}

static void check_fast_matches_scalar(void)
{
	enum { ROWS = 4 * N_PATTERNS };
	float *x = malloc(ROWS * QP_QK_K * sizeof *x);
	float *imp = malloc(QP_QK_K * sizeof *imp);
	for (int r = 0; r < ROWS; r++)
		fill_pattern(r % N_PATTERNS, x + r * QP_QK_K, imp);
	for (int k = 0; k < N_KTYPES; k++)
		for (int with_imp = 0; with_imp < 2; with_imp++) {
			const struct ktype *kt = &KTYPES[k];
			size_t bytes = ROWS * kt->block_bytes;
			uint8_t *a = malloc(bytes), *b = malloc(bytes);
			const float *im = with_imp ? imp : NULL;
			kt->fn(x, a, ROWS, QP_QK_K, im);
			qp_quantize_k_scalar(kt->id, x, b, ROWS, QP_QK_K, im);
			int same = !memcmp(a, b, bytes);
			kt->fn(x, b, ROWS, QP_QK_K, im);
			same &= !memcmp(a, b, bytes);
			ok(same, "%s %s: lane-parallel == scalar, deterministic, "
			   "%d adversarial blocks", kt->name,
			   with_imp ? "imatrix" : "reference", ROWS);
			free(a);
			free(b);
		}
	free(x);
	free(imp);
}

/* Every operation scales exactly under x -> 4x, importance -> 16
 * importance, so only the fp16 block scales change, by exactly 4. */
static void check_scale_invariance(void)
{
	enum { ROWS = 32, N = ROWS * QP_QK_K };
	float *x = malloc(N * sizeof *x), *x4 = malloc(N * sizeof *x4);
	float imp[QP_QK_K], imp16[QP_QK_K];
	for (int i = 0; i < N; i++) {
		x[i] = gauss();
		x4[i] = 4 * x[i];
	}
	for (int i = 0; i < QP_QK_K; i++) {
		imp[i] = (float)(0.1 + 10 * uniform());
		imp16[i] = 16 * imp[i];
	}
	for (int k = 0; k < N_KTYPES; k++)
		for (int with_imp = 0; with_imp < 2; with_imp++) {
			const struct ktype *kt = &KTYPES[k];
			size_t bb = kt->block_bytes, bytes = ROWS * bb;
			uint8_t *a = malloc(bytes), *b = malloc(bytes);
			kt->fn(x, a, ROWS, QP_QK_K, with_imp ? imp : NULL);
			kt->fn(x4, b, ROWS, QP_QK_K, with_imp ? imp16 : NULL);
			int good = 1;
			for (size_t blk = 0; blk < ROWS; blk++) {
				uint8_t *pa = a + blk * bb, *pb = b + blk * bb;
				for (int h = 0; h < 2; h++) {
					int o = kt->half_offsets[h];
					if (o < 0)
						continue;
					float fa = qp_fp16_to_fp32(le_u16(pa + o));
					float fb = qp_fp16_to_fp32(le_u16(pb + o));
					good &= fb == 4 * fa;
					memset(pa + o, 0, 2);
					memset(pb + o, 0, 2);
				}
				good &= !memcmp(pa, pb, bb);
			}
			ok(good, "%s %s: exact under power-of-two scaling",
			   kt->name, with_imp ? "imatrix" : "reference");
			free(a);
			free(b);
		}
	free(x);
	free(x4);
}

/* Fingerprints of every K type, with and without importance, on blocks of
 * each adversarial pattern and on blocks whose 16-value groups each take a
 * different pattern, so that lanes holding different edge cases (zero,
 * constant, NaN, infinite, overflowing groups) sit side by side in one
 * batch.  Made with the plain C build (`make check-plain`'s build-plain);
 * the SSE2 and AVX2 builds must give the same bytes, and so must the
 * scalar path. */
static void check_edge_fingerprints(bool print)
{
	enum { ROWS = 3 * N_PATTERNS };
	static const uint64_t golden[N_KTYPES][2] = {
		{ 0x2d697792b78e076eu, 0xa2598120216db822u }, /* Q2_K */
		{ 0x06e45d8c6f069342u, 0x79efe45e9e4bf2f2u }, /* Q3_K */
		{ 0xb04e7b6c7e77b3e7u, 0x8e0fca4093efac9bu }, /* Q4_K */
		{ 0x6ab096f2e3890970u, 0x3917ec6c666f2b2cu }, /* Q5_K */
		{ 0x2ee47650b17b977bu, 0xca32e59f396a95cdu }, /* Q6_K */
	};
	float *x = malloc(ROWS * QP_QK_K * sizeof *x);
	float imp[QP_QK_K], block[QP_QK_K];
	rng_state = 0x243f6a8885a308d3u;
	for (int r = 0; r < N_PATTERNS; r++)
		fill_pattern(r, x + r * QP_QK_K, imp);
	for (int r = N_PATTERNS; r < ROWS; r++)
		for (int g = 0; g < 16; g++) {
			fill_pattern((g + r) % N_PATTERNS, block, imp);
			memcpy(x + r * QP_QK_K + 16 * g, block + 16 * g,
			       16 * sizeof *block);
		}
	for (int k = 0; k < N_KTYPES; k++)
		for (int with_imp = 0; with_imp < 2; with_imp++) {
			const struct ktype *kt = &KTYPES[k];
			size_t bytes = ROWS * kt->block_bytes;
			uint8_t *a = malloc(bytes), *b = malloc(bytes);
			const float *im = with_imp ? imp : NULL;
			kt->fn(x, a, ROWS, QP_QK_K, im);
			qp_quantize_k_scalar(kt->id, x, b, ROWS, QP_QK_K, im);
			uint64_t h = fnv1a(a, bytes);
			if (print)
				printf("%s %s 0x%016llxu\n", kt->name,
				       with_imp ? "imatrix" : "reference",
				       (unsigned long long)h);
			else
				ok(h == golden[k][with_imp] &&
					   !memcmp(a, b, bytes),
				   "%s %s: edge and mixed-group blocks give the "
				   "plain C build's bytes (and the scalar path's)",
				   kt->name, with_imp ? "imatrix" : "reference");
			free(a);
			free(b);
		}
	free(x);
}

/* ---- kjv-llama: the real imatrix lowers the weighted error ----------- */

static double weighted_err(const float *x, const float *y, const float *imp,
			   int64_t ne0, int64_t ne1)
{
	double s = 0;
	for (int64_t r = 0; r < ne1; r++)
		for (int64_t c = 0; c < ne0; c++) {
			double d = (double)x[r * ne0 + c] - y[r * ne0 + c];
			s += imp[c] * d * d;
		}
	return s;
}

static void check_kjv_imatrix(const char *dir)
{
	char kjv[4096], path[4200];
	snprintf(kjv, sizeof kjv, "%s/kjv-llama", dir);
	model m;
	qp_imatrix im;
	qp_err e;
	snprintf(path, sizeof path, "%s/imatrix.gguf", kjv);
	if (model_open(kjv, "model-f32.gguf", &m) != 0) {
		skip(N_KTYPES, "kjv-llama model not readable");
		return;
	}
	if (qp_imatrix_load(path, &im, &e) != 0) {
		diag("%s", e.msg);
		skip(N_KTYPES, "kjv-llama imatrix not readable");
		model_close(&m);
		return;
	}
	diag("kjv-llama ships no K-quant files made with --imatrix: the "
	     "importance path is checked by properties only");
	for (int k = 0; k < N_KTYPES; k++) {
		const struct ktype *kt = &KTYPES[k];
		double err_ref = 0, err_imp = 0;
		int n = 0, better = 0;
		for (uint64_t i = 0; i < m.g.n_tensors; i++) {
			const qp_gguf_tensor *t = &m.g.tensors[i];
			if (!is_matrix(t))
				continue;
			char *name = qp_gguf_strdup(t->name);
			const qp_imatrix_entry *en = qp_imatrix_find(&im, name);
			free(name);
			if (!en || en->n_cols != t->ne[0] || en->n_expert != 1)
				continue;
			int64_t ne0 = t->ne[0], ne1 = t->ne[1];
			size_t bytes = (size_t)(ne0 / QP_QK_K * ne1) *
				       kt->block_bytes;
			float *x = read_f32(&m, t);
			float *y = malloc(t->n_elem * sizeof *y);
			uint8_t *q = malloc(bytes);
			kt->fn(x, q, ne1, ne0, NULL);
			qp_dequantize(kt->id, q, y, (int64_t)t->n_elem, &e);
			double a = weighted_err(x, y, en->importance, ne0, ne1);
			kt->fn(x, q, ne1, ne0, en->importance);
			qp_dequantize(kt->id, q, y, (int64_t)t->n_elem, &e);
			double b = weighted_err(x, y, en->importance, ne0, ne1);
			err_ref += a;
			err_imp += b;
			better += b < a;
			n++;
			free(x);
			free(y);
			free(q);
		}
		ok(n == 29 && err_imp < err_ref,
		   "%s kjv-llama: importance-weighted error with imatrix %.4g "
		   "< without %.4g (ratio %.3f; lower on %d/%d tensors)",
		   kt->name, err_imp, err_ref, err_imp / err_ref, better, n);
	}
	qp_imatrix_free(&im);
	model_close(&m);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--print-golden") == 0) {
		check_edge_fingerprints(true);
		return 0;
	}
	check_fast_matches_scalar();
	check_edge_fingerprints(false);
	check_scale_invariance();
	const char *dir = tap_fixtures();
	if (!dir) {
		skip(N_KTYPES * 2 + 1 + N_KTYPES, "no fixtures directory");
	} else {
		check_fixtures(dir);
		check_kjv_imatrix(dir);
	}
	done_testing();
	return exit_status();
}
