/* imatrix.h — llama.cpp importance matrices, both file formats (their
 * statistics are imatrix_stats.h).
 *
 * Promise: reads the GGUF imatrix (tensors "<name>.in_sum2" and
 * "<name>.counts", what llama-imatrix writes today) and the legacy binary
 * ".dat" format, validates every size against the file, and gives for each
 * weight tensor the raw sums and counts per expert and the per-column
 * importance llama-quantize passes to the quantizer, computed as it does
 * (float sum / float count; an expert that saw no tokens gets importance 1).
 * Bad files (truncated, negative, fractional or absurd counts, names with
 * NUL bytes, a dense entry or a whole entry with count zero, negative or
 * non-finite sums, sums without counts, duplicate entries) fail with a
 * message naming the entry.  An expert of a MoE entry
 * with count zero is not an error: llama-imatrix writes such partial
 * entries; it is reported in n_idle_experts.
 *
 * The legacy format stores (in_sum2/count)*ncall and ncall (chunks, not
 * tokens) and cannot say how many experts an entry has: after loading a
 * .dat, sum2 holds the stored values, counts holds ncall, counts_are_tokens
 * is 0, and every entry is one expert of nval columns until
 * qp_imatrix_set_cols() splits it.  sum2/counts is the importance in both
 * formats.
 */
#ifndef QP_IMATRIX_H
#define QP_IMATRIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define QP_IMATRIX_MAX_NAME 4096 /* bytes of an entry name */

typedef struct qp_imatrix_entry {
	char *name;        /* weight tensor name, e.g. "blk.0.attn_q.weight" */
	int64_t n_cols;    /* values per expert (ne0 of the weight) */
	int64_t n_expert;  /* 1 for dense tensors */
	double *sum2;      /* [n_expert * n_cols] sum over tokens of act^2 */
	double *counts;    /* [n_expert] tokens seen (per expert) */
	float *importance; /* [n_expert * n_cols] what llama-quantize uses */
	int64_t n_idle_experts; /* experts with count 0 (importance 1) */
} qp_imatrix_entry;

enum { QP_IMATRIX_GGUF = 0, QP_IMATRIX_DAT = 1 };

typedef struct qp_imatrix {
	int format;        /* QP_IMATRIX_GGUF or QP_IMATRIX_DAT */
	int counts_are_tokens; /* 1 gguf (tokens), 0 dat (ncall, chunks) */
	int64_t n_entries;
	qp_imatrix_entry *entries; /* sorted by name */
	int64_t chunk_count; /* -1 when the file does not say */
	int64_t chunk_size;  /* -1 when the file does not say */
	char **datasets;
	int64_t n_datasets;
} qp_imatrix;

/* Maps and parses path (GGUF when it starts with "GGUF", else .dat); the
 * result owns its memory, the file is closed on return. */
int qp_imatrix_load(const char *path, qp_imatrix *im, qp_err *e);
/* The same on bytes already in memory (used by the fuzz target). */
int qp_imatrix_parse(const uint8_t *buf, size_t len, qp_imatrix *im,
		     qp_err *e);
int qp_imatrix_parse_dat(const uint8_t *buf, size_t len, qp_imatrix *im,
			 qp_err *e);
int qp_imatrix_parse_gguf(const uint8_t *buf, size_t len, qp_imatrix *im,
			  qp_err *e);
void qp_imatrix_free(qp_imatrix *im);
/* NULL when the imatrix has no entry for this weight name. */
const qp_imatrix_entry *qp_imatrix_find(const qp_imatrix *im,
					const char *name);
/* Splits entry idx into n_expert = (n_cols*n_expert)/n_cols experts of
 * n_cols columns (the weight's ne0), e.g. for a .dat entry of an expert
 * tensor.  Fails when the sizes do not divide or the entry already has
 * several experts of another width. */
int qp_imatrix_set_cols(qp_imatrix *im, int64_t idx, int64_t n_cols,
			qp_err *e);

/* Experts of e with count 0, written to out[0..cap) in increasing order;
 * returns how many there are (may exceed cap). */
int64_t qp_imatrix_idle_experts(const qp_imatrix_entry *e, int64_t *out,
				int64_t cap);

#endif
