/* types.h — the ggml type table, in one place.
 *
 * Promise: every ggml type id that exists in today's ggml.h (and every id
 * ggml has removed) is known here with its name, block size and bytes per
 * block.  An id the table does not know is reported by number, never a
 * crash: qp_type_info() returns NULL and qp_type_name() gives "type_<id>".
 * Sizes are computed with overflow-safe arithmetic.
 */
#ifndef QP_TYPES_H
#define QP_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* ggml's own numbering: these are the ids written in GGUF files. */
enum qp_type_id {
	QP_F32 = 0, QP_F16 = 1, QP_Q4_0 = 2, QP_Q4_1 = 3,
	QP_Q5_0 = 6, QP_Q5_1 = 7, QP_Q8_0 = 8, QP_Q8_1 = 9,
	QP_Q2_K = 10, QP_Q3_K = 11, QP_Q4_K = 12, QP_Q5_K = 13, QP_Q6_K = 14,
	QP_Q8_K = 15, QP_IQ2_XXS = 16, QP_IQ2_XS = 17, QP_IQ3_XXS = 18,
	QP_IQ1_S = 19, QP_IQ4_NL = 20, QP_IQ3_S = 21, QP_IQ2_S = 22,
	QP_IQ4_XS = 23, QP_I8 = 24, QP_I16 = 25, QP_I32 = 26, QP_I64 = 27,
	QP_F64 = 28, QP_IQ1_M = 29, QP_BF16 = 30, QP_TQ1_0 = 34, QP_TQ2_0 = 35,
	QP_MXFP4 = 39, QP_NVFP4 = 40, QP_Q1_0 = 41, QP_Q2_0 = 42,
	/* ids 4, 5 (Q4_2, Q4_3), 31-33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) and
	 * 36-38 (IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8) are removed from ggml;
	 * the table knows them as removed.  GGML_TYPE_COUNT is 43 today. */
};

typedef struct qp_type_info {
	uint32_t id;
	const char *name;     /* ggml's name, upper case: "Q4_K", "F16" */
	uint32_t block_size;  /* elements per block (1 for plain types) */
	uint32_t type_size;   /* bytes per block */
	bool removed;         /* id once used by ggml, now removed */
	bool quantized;       /* block-quantized (not F32/F16/BF16/I*) */
} qp_type_info;

/* NULL when id is not in the table. Removed ids are in the table
 * (removed = true, sizes 0). */
const qp_type_info *qp_type_info_by_id(uint32_t id);

/* Case-insensitive lookup by name ("q4_k" finds Q4_K); NULL if unknown. */
const qp_type_info *qp_type_info_by_name(const char *name);

/* Name for printing: the table's name, or "type_<id>" in buf (>= 16 bytes)
 * for ids the table does not know. */
const char *qp_type_name(uint32_t id, char *buf);

/* Bytes of a tensor of shape ne[0..n_dims) in type id. Fails (-1) when the
 * id is unknown or removed, when ne[0] is not a multiple of the block size,
 * or when the product overflows 64 bits. */
int qp_type_nbytes(uint32_t id, const int64_t *ne, int n_dims,
		   uint64_t *nbytes, qp_err *e);

#endif
