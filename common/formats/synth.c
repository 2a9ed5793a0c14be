#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp16.h"
#include "le.h"
#include "threads.h"
#include "types.h"

static const qp_synth_preset presets[] = {
	{"tiny", 1024, 256, 768, 4, 8, 4, 256},
	{"1b", 32000, 2048, 5632, 22, 32, 4, 2048},
	{"7b", 32000, 4096, 11008, 32, 32, 32, 4096},
};

const qp_synth_preset *qp_synth_preset_find(const char *name)
{
	for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
		if (strcmp(presets[i].name, name) == 0)
			return &presets[i];
	return NULL;
}

const char *qp_synth_preset_names(void)
{
	return "tiny, 1b, 7b";
}

/* ---- deterministic random numbers (splitmix64 + Box-Muller) ----------- */

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform01(uint64_t *state) /* in (0, 1) */
{
	return ((double)(splitmix(state) >> 11) + 0.5) * 0x1p-53;
}

static double gaussian(uint64_t *state)
{
	double u = uniform01(state), v = uniform01(state);
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static uint64_t mix3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t s = a ^ (b * 0x9e3779b97f4a7c15ull) ^ (c * 0xc2b2ae3d27d4eb4full);
	return splitmix(&s);
}

/* ---- plan ------------------------------------------------------------- */

static int add_tensor(qp_synth *s, qp_gguf_writer *w, const char *name,
		      int64_t ne0, int64_t ne1, qp_err *e)
{
	size_t i = s->n_tensors++;
	snprintf(s->names[i], sizeof s->names[i], "%s", name);
	s->ne[i][0] = ne0;
	s->ne[i][1] = ne1;
	s->n_dims[i] = ne1 > 0 ? 2 : 1;
	int64_t ne[2] = {ne0, ne1};
	uint32_t type = ne1 > 0 ? s->type : QP_F32; /* norms stay F32 */
	return qp_gguf_w_tensor(w, name, type, ne, s->n_dims[i], e);
}

static int plan_tensors(qp_synth *s, qp_gguf_writer *w, qp_err *e)
{
	const qp_synth_preset *p = s->p;
	int64_t d = p->n_embd, kv = p->n_embd / p->n_head * p->n_head_kv;
	static const char *const roles[] = {"attn_norm", "attn_q", "attn_k",
		"attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
		"ffn_down"};
	int64_t shapes[9][2] = {{d, 0}, {d, d}, {d, kv}, {d, kv}, {d, d},
				{d, 0}, {d, p->n_ff}, {d, p->n_ff}, {p->n_ff, d}};
	char name[64];
	if (add_tensor(s, w, "token_embd.weight", d, p->n_vocab, e) < 0)
		return -1;
	for (int64_t l = 0; l < p->n_layer; l++)
		for (int r = 0; r < 9; r++) {
			snprintf(name, sizeof name, "blk.%lld.%s.weight",
				 (long long)l, roles[r]);
			if (add_tensor(s, w, name, shapes[r][0], shapes[r][1], e) < 0)
				return -1;
		}
	if (add_tensor(s, w, "output_norm.weight", d, 0, e) < 0)
		return -1;
	return add_tensor(s, w, "output.weight", d, p->n_vocab, e);
}

static int plan_vocab(const qp_synth *s, qp_gguf_writer *w)
{
	int64_t n = s->p->n_vocab;
	char **tokens = calloc((size_t)n, sizeof *tokens);
	float *scores = calloc((size_t)n, sizeof *scores);
	int32_t *types = calloc((size_t)n, sizeof *types);
	int rc = tokens && scores && types ? 0 : -1;
	for (int64_t i = 0; rc == 0 && i < n; i++) {
		char tok[32];
		if (i < 3)
			snprintf(tok, sizeof tok, "%s", (const char *[]){"<unk>", "<s>", "</s>"}[i]);
		else
			snprintf(tok, sizeof tok, "tok%lld", (long long)i);
		tokens[i] = strdup(tok);
		scores[i] = -(float)i;
		types[i] = i < 3 ? 3 : 1;
		rc = tokens[i] ? 0 : -1;
	}
	if (rc == 0)
		rc = qp_gguf_w_str(w, "tokenizer.ggml.model", "llama") ||
		     qp_gguf_w_arr_str(w, "tokenizer.ggml.tokens",
				       (const char *const *)tokens, (uint64_t)n) ||
		     qp_gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)n) ||
		     qp_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n) ||
		     qp_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1) ||
		     qp_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2) ? -1 : 0;
	for (int64_t i = 0; tokens && i < n; i++)
		free(tokens[i]);
	free(tokens);
	free(scores);
	free(types);
	return rc;
}

static int plan_kv(const qp_synth *s, qp_gguf_writer *w)
{
	const qp_synth_preset *p = s->p;
	char name[64];
	snprintf(name, sizeof name, "quantpipe synthetic %s seed %llu", p->name,
		 (unsigned long long)s->seed);
	uint32_t file_type = s->type == QP_F32 ? 0 : s->type == QP_F16 ? 1 : 32;
	return qp_gguf_w_str(w, "general.architecture", "llama") ||
	       qp_gguf_w_str(w, "general.name", name) ||
	       qp_gguf_w_u32(w, "general.file_type", file_type) ||
	       qp_gguf_w_u32(w, "general.alignment", 32) ||
	       qp_gguf_w_u32(w, "llama.context_length", (uint32_t)p->n_ctx) ||
	       qp_gguf_w_u32(w, "llama.embedding_length", (uint32_t)p->n_embd) ||
	       qp_gguf_w_u32(w, "llama.feed_forward_length", (uint32_t)p->n_ff) ||
	       qp_gguf_w_u32(w, "llama.block_count", (uint32_t)p->n_layer) ||
	       qp_gguf_w_u32(w, "llama.attention.head_count", (uint32_t)p->n_head) ||
	       qp_gguf_w_u32(w, "llama.attention.head_count_kv", (uint32_t)p->n_head_kv) ||
	       qp_gguf_w_u32(w, "llama.rope.dimension_count",
			     (uint32_t)(p->n_embd / p->n_head)) ||
	       qp_gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f) ||
	       plan_vocab(s, w) ? -1 : 0;
}

int qp_synth_plan(qp_synth *s, qp_gguf_writer *w, qp_err *e)
{
	size_t max = 3 + 9 * (size_t)s->p->n_layer;
	s->n_tensors = 0;
	s->names = calloc(max, sizeof *s->names);
	s->ne = calloc(max, sizeof *s->ne);
	s->n_dims = calloc(max, sizeof *s->n_dims);
	if (!s->names || !s->ne || !s->n_dims)
		return qp_fail(e, "out of memory");
	if (plan_kv(s, w) < 0)
		return qp_fail(e, "cannot add metadata (out of memory?)");
	return plan_tensors(s, w, e);
}

void qp_synth_free(qp_synth *s)
{
	free(s->names);
	free(s->ne);
	free(s->n_dims);
	s->names = NULL;
	s->ne = NULL;
	s->n_dims = NULL;
}

/* ---- values ----------------------------------------------------------- */

/* Outlier channels: about 1 in 200 input columns, chosen by the seed and
 * the tensor, carry values 10-20x the bulk. */
static double channel_gain(uint64_t seed, size_t t, int64_t col)
{
	uint64_t h = mix3(seed, t + 1, (uint64_t)col);
	if (h % 200 != 0)
		return 1.0;
	return 10.0 + (double)(h >> 40 & 0xff) / 25.5;
}

static float weight_value(uint64_t *rng, double sigma, double gain)
{
	double v = gaussian(rng) * sigma * gain;
	if ((splitmix(rng) & 0xffff) < 7) /* ~1e-4: isolated large values */
		v *= 8.0 + 8.0 * uniform01(rng);
	return (float)v;
}

typedef struct fill_job {
	const qp_synth *s;
	size_t t;
	uint8_t *dst;
	int64_t ne0, ne1;
	uint32_t type;
} fill_job;

enum { ROWS_PER_ITEM = 64 };

static void store(uint8_t *dst, int64_t idx, uint32_t type, float v)
{
	if (type == QP_F32)
		le_put_f32(dst + 4 * idx, v);
	else
		le_put_u16(dst + 2 * idx, type == QP_F16 ? qp_fp32_to_fp16(v)
							 : qp_fp32_to_bf16(v));
}

static int fill_rows(void *ctx, size_t item)
{
	const fill_job *j = ctx;
	double sigma = 1.0 / sqrt((double)j->ne0);
	int64_t r0 = (int64_t)item * ROWS_PER_ITEM;
	int64_t r1 = r0 + ROWS_PER_ITEM < j->ne1 ? r0 + ROWS_PER_ITEM : j->ne1;
	for (int64_t r = r0; r < r1; r++) {
		uint64_t rng = mix3(j->s->seed, j->t, (uint64_t)r);
		for (int64_t c = 0; c < j->ne0; c++) {
			double gain = channel_gain(j->s->seed, j->t, c);
			store(j->dst, r * j->ne0 + c, j->type,
			      weight_value(&rng, sigma, gain));
		}
	}
	return 0;
}

static void fill_norm(const qp_synth *s, size_t t, uint8_t *dst, int64_t n)
{
	uint64_t rng = mix3(s->seed, t, 0);
	for (int64_t i = 0; i < n; i++)
		le_put_f32(dst + 4 * i, (float)(1.0 + 0.1 * gaussian(&rng)));
}

int qp_synth_fill(void *ctx, size_t i, uint8_t *dst, uint64_t n_bytes,
		  qp_err *e)
{
	qp_synth *s = ctx;
	(void)n_bytes;
	(void)e;
	if (s->n_dims[i] == 1) {
		fill_norm(s, i, dst, s->ne[i][0]);
		return 0;
	}
	fill_job j = {s, i, dst, s->ne[i][0], s->ne[i][1], s->type};
	size_t items = (size_t)((j.ne1 + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM);
	return qp_parallel_for(s->threads, items, fill_rows, &j);
}
