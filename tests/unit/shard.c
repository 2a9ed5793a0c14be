/* shard: the balanced assignment (largest first onto the least loaded
 * shard, ties to the lower shard) and --shard parsing. */
#include <string.h>

#include "shard.h"
#include "../tap.h"

int main(void)
{
	qp_err e;
	uint32_t owner[8];
	const uint64_t w[] = {5, 9, 5, 1, 9, 3};
	ok(qp_shard_assign(w, 6, 2, owner, &e) == 0, "assign 6 items to 2 shards");
	/* sorted: 9(1) 9(4) 5(0) 5(2) 3(5) 1(3): 1->0, 4->1, 0->0, 2->1, 5->0, 3->1 */
	ok(owner[1] == 0 && owner[4] == 1 && owner[0] == 0 && owner[2] == 1 &&
	   owner[5] == 0 && owner[3] == 1, "largest first, ties to the lower shard");
	ok(qp_shard_assign(w, 6, 1, owner, &e) == 0 && owner[0] == 0 && owner[5] == 0,
	   "one shard takes everything");
	ok(qp_shard_assign(w, 6, 8, owner, &e) == 0 && owner[1] == 0 && owner[4] == 1 &&
	   owner[0] == 2 && owner[2] == 3 && owner[5] == 4 && owner[3] == 5,
	   "more shards than items: one each, the rest idle");
	ok(qp_shard_assign(w, 0, 3, owner, &e) == 0, "no items");

	qp_shard_spec s;
	ok(qp_shard_parse("2/5", &s, &e) == 0 && s.index == 2 && s.count == 5, "2/5");
	ok(qp_shard_parse("0/1", &s, &e) == 0 && s.index == 0 && s.count == 1, "0/1");
	const char *bad[] = {"5/5", "1", "a/2", "-1/2", "1/-2", "0/0", "1/2/3", "0/65537", "", "/2", "1/"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ok(qp_shard_parse(bad[i], &s, &e) < 0, "'%s' refused: %s", bad[i], e.msg);

	char *argv[] = {"q", "--shard", "1/2", "-t", "Q4_K", "--shard=0/3", "-o", "a",
			"-ob", "--output", "c", "--output=d", "-@", "2", "--", "-o", "x.mp", NULL};
	int n;
	char **v = qp_shard_strip_argv(17, argv, &n);
	ok(n == 8 && strcmp(v[1], "-t") == 0 && strcmp(v[2], "Q4_K") == 0 &&
	   strcmp(v[3], "-@") == 0 && strcmp(v[5], "--") == 0 && strcmp(v[6], "-o") == 0 &&
	   strcmp(v[7], "x.mp") == 0 && !v[8],
	   "argv without --shard and -o in all their forms, operands after -- kept");
	free(v);
	done_testing();
	return exit_status();
}
