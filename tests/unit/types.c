/* types: what is not a row of tests/data/types.tsv or type_nbytes.tsv
 * (checked by tests/unit/tables.c): the enum names, case-insensitive
 * lookup, file types that are not types. */
#include <stdint.h>

#include "../tap.h"
#include "types.h"

int main(void)
{
	is_int(QP_Q1_0, 41, "QP_Q1_0 is ggml's 41");
	is_int(QP_Q2_0, 42, "QP_Q2_0 is ggml's 42");

	char buf[16];
	is_str(qp_type_name(12, buf), "Q4_K", "known name");
	ok(qp_type_info_by_name("q4_k") == qp_type_info_by_id(12),
	   "lookup is case-insensitive");
	ok(qp_type_info_by_name("Q4_K_M") == NULL, "file type is not a type");
	ok(qp_type_info_by_name("") == NULL, "empty name unknown");

	qp_err e = { "" };
	uint64_t nb = 0;
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
	int64_t ne[5] = { 32, 1, 1, 1, 1 };
	ok(qp_type_nbytes(QP_F32, ne, 5, &nb, &e) == -1, "5 dims fail");
	done_testing();
	return exit_status();
}
