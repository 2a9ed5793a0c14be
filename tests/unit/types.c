/* types: the ggml type table against ggml.h / ggml-common.h facts. */
#include <stdint.h>

#include "../tap.h"
#include "types.h"

static void check_type(uint32_t id, const char *name, uint32_t blk,
		       uint32_t size, int quantized)
{
	const qp_type_info *t = qp_type_info_by_id(id);
	if (!ok(t != NULL, "id %u known", (unsigned)id))
		return;
	is_str(t->name, name, "id %u is %s", (unsigned)id, name);
	is_int(t->block_size, blk, "%s block size", name);
	is_int(t->type_size, size, "%s bytes per block", name);
	is_int(t->quantized, quantized, "%s quantized flag", name);
	ok(!t->removed, "%s not removed", name);
	ok(qp_type_info_by_name(name) == t, "%s found by name", name);
}

int main(void)
{
	static const struct {
		uint32_t id;
		const char *name;
		uint32_t blk, size;
		int q;
	} live[] = {
		{ 0, "F32", 1, 4, 0 },        { 1, "F16", 1, 2, 0 },
		{ 2, "Q4_0", 32, 18, 1 },     { 3, "Q4_1", 32, 20, 1 },
		{ 6, "Q5_0", 32, 22, 1 },     { 7, "Q5_1", 32, 24, 1 },
		{ 8, "Q8_0", 32, 34, 1 },     { 9, "Q8_1", 32, 36, 1 },
		{ 10, "Q2_K", 256, 84, 1 },   { 11, "Q3_K", 256, 110, 1 },
		{ 12, "Q4_K", 256, 144, 1 },  { 13, "Q5_K", 256, 176, 1 },
		{ 14, "Q6_K", 256, 210, 1 },  { 15, "Q8_K", 256, 292, 1 },
		{ 16, "IQ2_XXS", 256, 66, 1 }, { 17, "IQ2_XS", 256, 74, 1 },
		{ 18, "IQ3_XXS", 256, 98, 1 }, { 19, "IQ1_S", 256, 50, 1 },
		{ 20, "IQ4_NL", 32, 18, 1 },  { 21, "IQ3_S", 256, 110, 1 },
		{ 22, "IQ2_S", 256, 82, 1 },  { 23, "IQ4_XS", 256, 136, 1 },
		{ 24, "I8", 1, 1, 0 },        { 25, "I16", 1, 2, 0 },
		{ 26, "I32", 1, 4, 0 },       { 27, "I64", 1, 8, 0 },
		{ 28, "F64", 1, 8, 0 },       { 29, "IQ1_M", 256, 56, 1 },
		{ 30, "BF16", 1, 2, 0 },      { 34, "TQ1_0", 256, 54, 1 },
		{ 35, "TQ2_0", 256, 66, 1 },  { 39, "MXFP4", 32, 17, 1 },
		{ 40, "NVFP4", 64, 36, 1 },   { 41, "Q1_0", 128, 18, 1 },
		{ 42, "Q2_0", 64, 18, 1 },
	};
	for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
		check_type(live[i].id, live[i].name, live[i].blk, live[i].size,
			   live[i].q);
	is_int(QP_Q1_0, 41, "QP_Q1_0 is ggml's 41");
	is_int(QP_Q2_0, 42, "QP_Q2_0 is ggml's 42");

	static const struct {
		uint32_t id;
		const char *name;
	} gone[] = { { 4, "Q4_2" },        { 5, "Q4_3" },
		     { 31, "Q4_0_4_4" },   { 32, "Q4_0_4_8" },
		     { 33, "Q4_0_8_8" },   { 36, "IQ4_NL_4_4" },
		     { 37, "IQ4_NL_4_8" }, { 38, "IQ4_NL_8_8" } };
	for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
		const qp_type_info *t = qp_type_info_by_id(gone[i].id);
		ok(t && t->removed && t->block_size == 0 && t->type_size == 0,
		   "id %u removed with sizes 0", (unsigned)gone[i].id);
		is_str(t ? t->name : NULL, gone[i].name, "removed id %u name",
		       (unsigned)gone[i].id);
	}

	char buf[16];
	ok(qp_type_info_by_id(43) == NULL, "id 43 unknown");
	ok(qp_type_info_by_id(UINT32_MAX) == NULL, "id 2^32-1 unknown");
	is_str(qp_type_name(43, buf), "type_43", "unknown id printed by number");
	is_str(qp_type_name(UINT32_MAX, buf), "type_4294967295",
	       "largest id fits the buffer");
	is_str(qp_type_name(12, buf), "Q4_K", "known name");
	ok(qp_type_info_by_name("q4_k") == qp_type_info_by_id(12),
	   "lookup is case-insensitive");
	ok(qp_type_info_by_name("Q4_K_M") == NULL, "file type is not a type");
	ok(qp_type_info_by_name("") == NULL, "empty name unknown");

	qp_err e = { "" };
	uint64_t nb = 0;
	int64_t ne[4] = { 4096, 4096, 1, 1 };
	ok(qp_type_nbytes(QP_Q4_K, ne, 2, &nb, &e) == 0 &&
		   nb == 4096ull * 4096 / 256 * 144,
	   "Q4_K 4096x4096 bytes");
	ok(qp_type_nbytes(QP_F32, ne, 2, &nb, &e) == 0 && nb == 4096ull * 4096 * 4,
	   "F32 bytes");
	int64_t q1[2] = { 256, 128 };
	ok(qp_type_nbytes(QP_Q1_0, q1, 2, &nb, &e) == 0 && nb == 4608,
	   "Q1_0 [256,128] = 4608 bytes, as in the rows256 fixture");
	ok(qp_type_nbytes(QP_Q2_0, q1, 2, &nb, &e) == 0 && nb == 9216,
	   "Q2_0 [256,128] = 9216 bytes, as in the rows256 fixture");
	int64_t odd[2] = { 172, 64 };
	ok(qp_type_nbytes(QP_Q4_0, odd, 2, &nb, &e) == -1 && e.msg[0],
	   "row not a multiple of the block fails: %s", e.msg);
	ok(qp_type_nbytes(4, odd, 2, &nb, &e) == -1, "removed id fails: %s",
	   e.msg);
	ok(qp_type_nbytes(99, odd, 2, &nb, &e) == -1, "unknown id fails: %s",
	   e.msg);
	int64_t huge[4] = { INT64_MAX, 2, 1, 1 };
	ok(qp_type_nbytes(QP_F32, huge, 2, &nb, &e) == -1,
	   "overflowing product fails: %s", e.msg);
	int64_t huge2[4] = { 1 << 20, 1 << 20, 1 << 20, 1 << 20 };
	ok(qp_type_nbytes(QP_I8, huge2, 4, &nb, &e) == -1,
	   "2^80 elements fail: %s", e.msg);
	/* The element count fits but the bytes do not: row bytes wrapped to
	 * 0 (F32) or a small number (Q8_0) before they were checked. */
	int64_t rowwrap[1] = { (int64_t)1 << 62 };
	ok(qp_type_nbytes(QP_F32, rowwrap, 1, &nb, &e) == -1,
	   "2^62 F32 elements (2^64 bytes) fail: %s", e.msg);
	int64_t rowwrap16[1] = { (int64_t)1 << 62 };
	ok(qp_type_nbytes(QP_F16, rowwrap16, 1, &nb, &e) == 0 &&
	   nb == (uint64_t)1 << 63, "2^62 F16 elements are 2^63 bytes");
	int64_t q8big[1] = { (int64_t)1 << 62 }; /* 2^57 blocks of 34 bytes */
	ok(qp_type_nbytes(QP_Q8_0, q8big, 1, &nb, &e) == 0 &&
	   nb == (uint64_t)34 << 57, "2^62 Q8_0 elements are 34 * 2^57 bytes");
	int64_t f32two[2] = { (int64_t)1 << 31, (int64_t)1 << 31 };
	ok(qp_type_nbytes(QP_F32, f32two, 2, &nb, &e) == -1,
	   "[2^31, 2^31] F32 (2^64 bytes) fails: %s", e.msg);
	int64_t neg[2] = { 32, -1 };
	ok(qp_type_nbytes(QP_F32, neg, 2, &nb, &e) == -1, "negative dim fails");
	ok(qp_type_nbytes(QP_F32, ne, 5, &nb, &e) == -1, "5 dims fail");
	int64_t zero[2] = { 0, 7 };
	ok(qp_type_nbytes(QP_Q8_0, zero, 2, &nb, &e) == 0 && nb == 0,
	   "empty tensor has 0 bytes");
	done_testing();
	return exit_status();
}
