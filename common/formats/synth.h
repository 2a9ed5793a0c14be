/* synth.h — realistic llama-shaped synthetic checkpoints (gguf-synth).
 *
 * Promise: a preset names real shapes (tiny: a few MB for tests and demos;
 * 1b: TinyLlama-1.1B's; 7b: Llama-2-7B's).  Weights are heavy-tailed the
 * way trained checkpoints are: a Gaussian bulk scaled by 1/sqrt(fan-in), a
 * few input channels carrying much larger values (outlier features), and a
 * sparse sprinkle of single large outliers.  Norm weights sit near 1.
 * Every value depends only on (seed, tensor index, row), so the file is the
 * same whatever the thread count.
 */
#ifndef QP_SYNTH_H
#define QP_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "gguf.h"
#include "gguf_write.h"

typedef struct qp_synth_preset {
	const char *name;
	int64_t n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, n_ctx;
} qp_synth_preset;

const qp_synth_preset *qp_synth_preset_find(const char *name);
/* "tiny, 1b, 7b" for usage messages */
const char *qp_synth_preset_names(void);

typedef struct qp_synth {
	const qp_synth_preset *p;
	uint64_t seed;
	uint32_t type;       /* F32, F16 or BF16 for 2-D weights */
	int threads;
	/* tensor table built by qp_synth_plan */
	size_t n_tensors;
	char (*names)[64];
	int64_t (*ne)[2];
	int *n_dims;
} qp_synth;

/* Builds the tensor list and adds metadata and tensors to w. */
int qp_synth_plan(qp_synth *s, qp_gguf_writer *w, qp_err *e);
/* The writer's fill callback (ctx: qp_synth *). */
int qp_synth_fill(void *ctx, size_t i, uint8_t *dst, uint64_t n_bytes,
		  qp_err *e);
void qp_synth_free(qp_synth *s);

#endif
