/* tables: the table-driven unit tests, kept as data in tests/data/ (the
 * way jq keeps its tests in jq.test).  One file per table; each line a
 * case, tab-separated, "#" lines and blank lines ignored, "" the empty
 * string.  A table's file name picks the function that checks its rows:
 *   names.tsv       qp_parse_tensor_name(): name, layer, role, family
 *   types.tsv       the type table: id, name, block, bytes, kind
 *   type_nbytes.tsv qp_type_nbytes(): type id, shape, bytes or "fail"
 *   llq_keep.tsv    qp_llq_quantizes(): name, n_dims, yes or no
 * Every table must be found and non-empty, so a moved file fails. */
#include <inttypes.h>
#include <stdint.h>

#include "../tap.h"
#include "llq_policy.h"
#include "names.h"
#include "types.h"

#define MAX_FIELDS 8

typedef struct row {
	const char *file;
	int line;
	int n;
	char *f[MAX_FIELDS];
} row;

static void check_name(const row *r)
{
	if (!ok(r->n == 4, "%s:%d has 4 fields", r->file, r->line))
		return;
	qp_tensor_name t;
	qp_parse_tensor_name(r->f[0], &t);
	int layer = atoi(r->f[1]);
	if (!ok(t.layer == layer && strcmp(t.role, r->f[2]) == 0 &&
			strcmp(qp_family_name(t.family), r->f[3]) == 0,
		"%s -> %d %s %s", r->f[0], layer, r->f[2], r->f[3]))
		diag("got %d %s %s", t.layer, t.role, qp_family_name(t.family));
}

static void check_type(const row *r)
{
	if (!ok(r->n == 5, "%s:%d has 5 fields", r->file, r->line))
		return;
	uint32_t id = (uint32_t)strtoul(r->f[0], NULL, 10);
	const char *name = r->f[1], *kind = r->f[4];
	uint32_t blk = (uint32_t)atoi(r->f[2]), size = (uint32_t)atoi(r->f[3]);
	const qp_type_info *t = qp_type_info_by_id(id);
	char buf[16];
	is_str(qp_type_name(id, buf), name, "id %" PRIu32 " is named %s", id,
	       name);
	if (strcmp(kind, "unknown") == 0) {
		ok(t == NULL, "id %" PRIu32 " is unknown", id);
		return;
	}
	if (!ok(t != NULL, "id %" PRIu32 " known", id))
		return;
	is_str(t->name, name, "id %" PRIu32 " is %s", id, name);
	is_int(t->block_size, blk, "%s block size", name);
	is_int(t->type_size, size, "%s bytes per block", name);
	if (strcmp(kind, "removed") == 0) {
		ok(t->removed, "%s removed", name);
		return;
	}
	ok(!t->removed, "%s not removed", name);
	is_int(t->quantized, strcmp(kind, "quantized") == 0,
	       "%s quantized flag", name);
	ok(qp_type_info_by_name(name) == t, "%s found by name", name);
}

static void check_nbytes(const row *r)
{
	if (!ok(r->n == 4, "%s:%d has 4 fields", r->file, r->line))
		return;
	int64_t ne[8] = { 0 };
	int n_dims = 0;
	for (char *p = r->f[1]; *p && n_dims < 8; n_dims++) {
		ne[n_dims] = strtoll(p, &p, 10);
		if (*p == ',')
			p++;
	}
	qp_err e = { "" };
	uint64_t nb = 0;
	int rc = qp_type_nbytes((uint32_t)strtoul(r->f[0], NULL, 10), ne,
				n_dims, &nb, &e);
	if (strcmp(r->f[2], "fail") == 0) {
		ok(rc == -1 && e.msg[0], "%s fails: %s", r->f[3], e.msg);
		return;
	}
	if (!ok(rc == 0 && nb == strtoull(r->f[2], NULL, 10), "%s: %s bytes",
		r->f[3], r->f[2]))
		diag("rc %d, %" PRIu64 " bytes, %s", rc, nb, e.msg);
}

static void check_llq_keep(const row *r)
{
	if (!ok(r->n == 4, "%s:%d has 4 fields", r->file, r->line))
		return;
	bool want = strcmp(r->f[2], "yes") == 0;
	is_int(qp_llq_quantizes(r->f[0], atoi(r->f[1])), want,
	       "%s (%s-D) %s: %s", r->f[0], r->f[1],
	       want ? "quantized" : "kept", r->f[3]);
}

static const struct table {
	const char *file;
	void (*check)(const row *);
} tables[] = {
	{ "names.tsv", check_name },
	{ "types.tsv", check_type },
	{ "type_nbytes.tsv", check_nbytes },
	{ "llq_keep.tsv", check_llq_keep },
};

static void run_table(const char *dir, const struct table *tb)
{
	char path[4200], line[1024];
	snprintf(path, sizeof path, "%s/%s", dir, tb->file);
	FILE *f = fopen(path, "r");
	if (!ok(f != NULL, "table %s opens", path))
		return;
	int cases = 0;
	row r = { tb->file, 0, 0, { 0 } };
	while (fgets(line, sizeof line, f)) {
		r.line++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		r.n = 0;
		for (char *p = line; r.n < MAX_FIELDS;) {
			char *tab = strchr(p, '\t');
			if (tab)
				*tab = '\0';
			r.f[r.n++] = strcmp(p, "\"\"") == 0 ? (char *)"" : p;
			if (!tab)
				break;
			p = tab + 1;
		}
		tb->check(&r);
		cases++;
	}
	fclose(f);
	ok(cases > 0, "table %s has %d cases", tb->file, cases);
}

int main(void)
{
	const char *top = getenv("QP_TOP");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/tests/data", top && *top ? top : ".");
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
		run_table(dir, &tables[i]);
	done_testing();
	return exit_status();
}
