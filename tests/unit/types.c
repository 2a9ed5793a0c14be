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

	done_testing();
	return exit_status();
}
