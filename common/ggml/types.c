#include "types.h"

#include <stdio.h>
#include <strings.h>

#include "blocks.h"
#include "checked.h"

/* Block sizes and bytes per block as ggml defines them: ggml.h (ids),
 * ggml-common.h (block structs, their sizes in blocks.h) and gguf-py's
 * GGML_QUANT_SIZES (tests/data/types.tsv holds its numbers), llama.cpp
 * as of the fixtures' build (b10573).  Q1_0 (41) and Q2_0 (42) were also
 * confirmed on the stories260K-rows256-Q1_0/Q2_0 fixtures: 128 elements in
 * 18 bytes and 64 elements in 18 bytes. */
#define PLAIN(id_, name_, size_) { id_, name_, 1, size_, false, false }
#define QUANT(id_, name_, blk_, size_) { id_, name_, blk_, size_, false, true }
#define GONE(id_, name_) { id_, name_, 0, 0, true, true }

static const qp_type_info type_table[] = {
	PLAIN(QP_F32, "F32", 4),
	PLAIN(QP_F16, "F16", 2),
	QUANT(QP_Q4_0, "Q4_0", QP_QK32, QP_BLOCK_Q4_0),
	QUANT(QP_Q4_1, "Q4_1", QP_QK32, QP_BLOCK_Q4_1),
	GONE(4, "Q4_2"),
	GONE(5, "Q4_3"),
	QUANT(QP_Q5_0, "Q5_0", QP_QK32, QP_BLOCK_Q5_0),
	QUANT(QP_Q5_1, "Q5_1", QP_QK32, QP_BLOCK_Q5_1),
	QUANT(QP_Q8_0, "Q8_0", QP_QK32, QP_BLOCK_Q8_0),
	QUANT(QP_Q8_1, "Q8_1", QP_QK32, QP_BLOCK_Q8_1),
	QUANT(QP_Q2_K, "Q2_K", QP_QK_K, QP_BLOCK_Q2_K),
	QUANT(QP_Q3_K, "Q3_K", QP_QK_K, QP_BLOCK_Q3_K),
	QUANT(QP_Q4_K, "Q4_K", QP_QK_K, QP_BLOCK_Q4_K),
	QUANT(QP_Q5_K, "Q5_K", QP_QK_K, QP_BLOCK_Q5_K),
	QUANT(QP_Q6_K, "Q6_K", QP_QK_K, QP_BLOCK_Q6_K),
	QUANT(QP_Q8_K, "Q8_K", QP_QK_K, QP_BLOCK_Q8_K),
	QUANT(QP_IQ2_XXS, "IQ2_XXS", QP_QK_K, QP_BLOCK_IQ2_XXS),
	QUANT(QP_IQ2_XS, "IQ2_XS", QP_QK_K, QP_BLOCK_IQ2_XS),
	QUANT(QP_IQ3_XXS, "IQ3_XXS", QP_QK_K, QP_BLOCK_IQ3_XXS),
	QUANT(QP_IQ1_S, "IQ1_S", QP_QK_K, QP_BLOCK_IQ1_S),
	QUANT(QP_IQ4_NL, "IQ4_NL", QP_QK32, QP_BLOCK_IQ4_NL),
	QUANT(QP_IQ3_S, "IQ3_S", QP_QK_K, QP_BLOCK_IQ3_S),
	QUANT(QP_IQ2_S, "IQ2_S", QP_QK_K, QP_BLOCK_IQ2_S),
	QUANT(QP_IQ4_XS, "IQ4_XS", QP_QK_K, QP_BLOCK_IQ4_XS),
	PLAIN(QP_I8, "I8", 1),
	PLAIN(QP_I16, "I16", 2),
	PLAIN(QP_I32, "I32", 4),
	PLAIN(QP_I64, "I64", 8),
	PLAIN(QP_F64, "F64", 8),
	QUANT(QP_IQ1_M, "IQ1_M", QP_QK_K, QP_BLOCK_IQ1_M),
	PLAIN(QP_BF16, "BF16", 2),
	GONE(31, "Q4_0_4_4"),
	GONE(32, "Q4_0_4_8"),
	GONE(33, "Q4_0_8_8"),
	QUANT(QP_TQ1_0, "TQ1_0", QP_QK_K, QP_BLOCK_TQ1_0),
	QUANT(QP_TQ2_0, "TQ2_0", QP_QK_K, QP_BLOCK_TQ2_0),
	GONE(36, "IQ4_NL_4_4"),
	GONE(37, "IQ4_NL_4_8"),
	GONE(38, "IQ4_NL_8_8"),
	QUANT(QP_MXFP4, "MXFP4", QP_QK32, QP_BLOCK_MXFP4),
	QUANT(QP_NVFP4, "NVFP4", QP_QK_NVFP4, QP_BLOCK_NVFP4),
	QUANT(QP_Q1_0, "Q1_0", QP_QK1_0, QP_BLOCK_Q1_0),
	QUANT(QP_Q2_0, "Q2_0", QP_QK2_0, QP_BLOCK_Q2_0),
};

#define N_TYPES (sizeof type_table / sizeof type_table[0])

const qp_type_info *qp_type_info_by_id(uint32_t id)
{
	/* The table is indexed by id: entries are in id order, no gaps. */
	if (id >= N_TYPES)
		return NULL;
	return &type_table[id];
}

const qp_type_info *qp_type_info_by_name(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < N_TYPES; i++)
		if (strcasecmp(type_table[i].name, name) == 0)
			return &type_table[i];
	return NULL;
}

const char *qp_type_name(uint32_t id, char *buf)
{
	const qp_type_info *t = qp_type_info_by_id(id);
	if (t)
		return t->name;
	snprintf(buf, 16, "type_%u", (unsigned)id);
	return buf;
}

int qp_type_nbytes(uint32_t id, const int64_t *ne, int n_dims,
		   uint64_t *nbytes, qp_err *e)
{
	char buf[16];
	const qp_type_info *t = qp_type_info_by_id(id);
	if (!t)
		return qp_fail(e, "unknown ggml type id %u", (unsigned)id);
	if (t->removed)
		return qp_fail(e, "ggml type %s (id %u) has been removed from ggml",
			       t->name, (unsigned)id);
	if (n_dims < 1 || n_dims > 4)
		return qp_fail(e, "%d dimensions (1 to 4 allowed)", n_dims);
	uint64_t rest = 1;
	for (int d = 0; d < n_dims; d++) {
		if (ne[d] < 0)
			return qp_fail(e, "dimension %d is negative (%lld)", d,
				       (long long)ne[d]);
		if (d > 0 && !ck_mul_u64(rest, (uint64_t)ne[d], &rest))
			return qp_fail(e, "element count overflows 64 bits");
	}
	uint64_t ne0 = (uint64_t)ne[0], n_elem;
	if (!ck_mul_u64(ne0, rest, &n_elem))
		return qp_fail(e, "element count overflows 64 bits");
	if (ne0 % t->block_size != 0)
		return qp_fail(e,
			       "row length %llu is not a multiple of the %s block size %u",
			       (unsigned long long)ne0,
			       qp_type_name(id, buf), t->block_size);
	uint64_t row_bytes;
	if (!ck_mul_u64(ne0 / t->block_size, t->type_size, &row_bytes) ||
	    !ck_mul_u64(row_bytes, rest, nbytes))
		return qp_fail(e, "byte size overflows 64 bits");
	return 0;
}
