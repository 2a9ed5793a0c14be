/* names: what is not a row of tests/data/names.tsv (the names and their
 * layer, role and family are checked by tests/unit/tables.c): a name
 * longer than the role buffer, a family id out of range. */
#include "names.h"
#include "../tap.h"

int main(void)
{
	char longname[300];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	qp_tensor_name t;
	qp_parse_tensor_name(longname, &t);
	ok(t.layer == -1 && strlen(t.role) == sizeof t.role - 1 &&
		   t.family == QP_FAM_OTHER,
	   "overlong name is truncated, family other");
	is_str(qp_family_name(QP_FAM_COUNT), "other", "out-of-range family");
	done_testing();
	return exit_status();
}
