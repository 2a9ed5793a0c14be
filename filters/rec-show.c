/* rec-show — a record stream for people, awk and jq. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "filter.h"
#include "json.h"
#include "rec.h"
#include "show.h"

static const char usage[] =
	"Usage: rec-show [options] [FILE ...]\n"
	"Shows a quantpipe record stream (FILE or standard input; - is stdin).\n"
	"\n"
	"  (default)          one JSON object per line\n"
	"  -t, --table        an aligned table of the fields chosen with -f\n"
	"      --tsv          tab-separated fields with a header line\n"
	"  -f, --fields LIST  comma-separated dotted paths, e.g.\n"
	"                     name,type,shape,qerr.Q4_K.rel (default for\n"
	"                     tensor records: name,layer,role,type,shape,n_bytes;\n"
	"                     otherwise the keys of the first record shown)\n"
	"  -k, --kind KIND    keep only records of this kind (--table and --tsv\n"
	"                     show tensor records unless -k says otherwise)\n"
	"  -H, --no-header    no header line in --table and --tsv output\n"
	"      --from-json    the reverse: read JSON lines (one object with a\n"
	"                     \"kind\" string per line) and write records\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Exit status: 0 success, 1 bad input or failed output, 2 bad usage.\n";

enum { OPT_TSV = 256, OPT_FROM_JSON };
enum mode { MODE_JSON, MODE_TABLE, MODE_TSV, MODE_FROM_JSON };

typedef struct opts {
	enum mode mode;
	const char *kind;
	char *fields_arg;
	char *fields[64];
	int n_fields;
	bool no_header;
} opts;

static const struct option long_opts[] = {
	{"table", no_argument, NULL, 't'},
	{"tsv", no_argument, NULL, OPT_TSV},
	{"fields", required_argument, NULL, 'f'},
	{"kind", required_argument, NULL, 'k'},
	{"no-header", no_argument, NULL, 'H'},
	{"from-json", no_argument, NULL, OPT_FROM_JSON},
	{0},
};

static int split_fields(opts *o, char *list, qp_err *e)
{
	o->n_fields = 0;
	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->n_fields == 64)
			return qp_fail(e, "too many fields (at most 64)");
		o->fields[o->n_fields++] = tok;
	}
	return o->n_fields ? 0 : qp_fail(e, "-f needs at least one field");
}

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	opts *o = ctx;
	switch (opt) {
	case 't': o->mode = MODE_TABLE; return 0;
	case OPT_TSV: o->mode = MODE_TSV; return 0;
	case OPT_FROM_JSON: o->mode = MODE_FROM_JSON; return 0;
	case 'k': o->kind = arg; return 0;
	case 'H': o->no_header = true; return 0;
	case 'f':
		free(o->fields_arg);
		o->fields_arg = strdup(arg);
		if (!o->fields_arg)
			return qp_fail(e, "out of memory");
		return split_fields(o, o->fields_arg, e);
	}
	return qp_fail(e, "unknown option");
}

static const char *default_fields[] = {"name", "layer", "role", "type",
				       "shape", "n_bytes"};

/* Fields for a record when -f was not given: the tensor default, or the
 * record's own top-level keys. */
static int fields_for(const opts *o, const qp_record *rec, const char **out,
		      char *keybuf, size_t keybuf_size)
{
	if (o->n_fields) {
		for (int i = 0; i < o->n_fields; i++)
			out[i] = o->fields[i];
		return o->n_fields;
	}
	if (qp_rec_is(rec, "tensor")) {
		for (int i = 0; i < 6; i++)
			out[i] = default_fields[i];
		return 6;
	}
	int n = 0;
	size_t used = 0;
	const msgpack_object_map *m = &rec->map.via.map;
	for (uint32_t i = 0; i < m->size && n < 64; i++) {
		const msgpack_object *k = &m->ptr[i].key;
		if (k->type != MSGPACK_OBJECT_STR ||
		    used + k->via.str.size + 1 > keybuf_size)
			continue;
		memcpy(keybuf + used, k->via.str.ptr, k->via.str.size);
		keybuf[used + k->via.str.size] = '\0';
		out[n++] = keybuf + used;
		used += k->via.str.size + 1;
	}
	return n;
}

typedef struct show_state {
	const opts *o;
	const char *fields[64]; /* chosen at the first shown record */
	char keybuf[4096];
	int n_fields;
	qp_writer *w;      /* JSON lines and --from-json */
	FILE *text;        /* TSV */
	qp_table table;
	bool table_ready;
	bool header_done;
} show_state;

static void row_cells(const qp_record *rec, const char **fields, int n,
		      qp_show_style style, qp_buf *cells, char **ptrs)
{
	for (int i = 0; i < n; i++) {
		cells[i].len = 0;
		qp_buf_putc(&cells[i], '\0');
		cells[i].len = 0;
		qp_show_field(&cells[i], &rec->map, fields[i], style);
		ptrs[i] = cells[i].p;
	}
}

static int show_record(show_state *s, const qp_record *rec, qp_err *e)
{
	const opts *o = s->o;
	if (o->kind ? !qp_rec_is(rec, o->kind)
		    : o->mode != MODE_JSON && !qp_rec_is(rec, "tensor"))
		return 0;
	if (o->mode == MODE_JSON)
		return qp_writer_raw(s->w, rec->raw, rec->raw_len, e);
	if (!s->header_done)
		s->n_fields = fields_for(o, rec, s->fields, s->keybuf,
					 sizeof s->keybuf);
	const char **fields = s->fields;
	int n = s->n_fields;
	if (n == 0)
		return 0;
	qp_buf cells[64] = {0};
	char *ptrs[64];
	qp_show_style style = o->mode == MODE_TSV ? QP_SHOW_TSV : QP_SHOW_TABLE;
	if (!s->table_ready && o->mode == MODE_TABLE) {
		qp_table_init(&s->table, n, !o->no_header);
		s->table_ready = true;
	}
	if (!s->header_done && !o->no_header) {
		if (o->mode == MODE_TABLE)
			qp_table_add(&s->table, (char *const *)fields);
		else
			for (int i = 0; i < n; i++)
				fprintf(s->text, "%s%s", fields[i],
					i + 1 < n ? "\t" : "\n");
	}
	s->header_done = true;
	row_cells(rec, fields, n, style, cells, ptrs);
	if (o->mode == MODE_TABLE) {
		qp_table_add(&s->table, ptrs);
	} else {
		for (int i = 0; i < n; i++)
			fprintf(s->text, "%s%s", ptrs[i], i + 1 < n ? "\t" : "\n");
	}
	for (int i = 0; i < n; i++)
		qp_buf_free(&cells[i]);
	return 0;
}

static int on_record(void *ctx, const qp_record *rec, qp_writer *w,
		     qp_err *e)
{
	(void)w; /* show_record writes to its own output */
	return show_record(ctx, rec, e);
}

/* --from-json: each operand (or stdin) as JSON lines. */
static int from_json_all(show_state *s, const qp_common *c)
{
	static char *stdin_only[] = {"-"};
	char **files = c->n_files ? c->files : stdin_only;
	int n = c->n_files ? c->n_files : 1;
	for (int i = 0; i < n; i++) {
		qp_err e;
		int fd = -1;
		int st = qp_open_input(files[i], &fd, &e);
		if (st == 0)
			st = qp_json_lines_to_records(fd, s->w, &e);
		if (fd > STDIN_FILENO)
			close(fd);
		if (st < 0) {
			qp_report("rec-show", files[i], e.msg);
			return 1;
		}
	}
	return 0;
}

static int run(show_state *s, const qp_common *c)
{
	if (s->o->mode == MODE_FROM_JSON)
		return from_json_all(s, c);
	qp_filter f = {.prog = "rec-show", .on_record = on_record, .ctx = s};
	return qp_filter_run(&f, c, s->w);
}

static int finish_text(show_state *s, qp_err *e)
{
	if (s->table_ready && qp_table_print(&s->table, s->text) < 0)
		return qp_fail(e, "cannot write the table");
	if (fflush(s->text) != 0 || ferror(s->text))
		return qp_fail_errno(e, "write");
	return 0;
}

int main(int argc, char **argv)
{
	opts o = {0};
	qp_tool tool = {"rec-show", usage, "tf:k:H", long_opts, on_option, &o, usage_end};
	qp_common c;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE) {
		free(o.fields_arg);
		return st;
	}
	qp_err e;
	qp_out out;
	if (qp_out_open(&out, c.output, &e) < 0) {
		qp_report("rec-show", c.output, e.msg);
		return 1;
	}
	show_state s = {.o = &o};
	bool records = o.mode == MODE_JSON || o.mode == MODE_FROM_JSON;
	/* JSON lines mode writes JSON whatever stdout is; --from-json writes
	 * records, as JSON only when they would land on a terminal. */
	if (records)
		s.w = qp_writer_new(out.fd, o.mode == MODE_JSON || out.json);
	else
		s.text = fdopen(dup(out.fd), "w");
	int status = (records ? s.w != NULL : s.text != NULL) ? run(&s, &c) : 1;
	int fin = records ? qp_writer_close(s.w, &e) : finish_text(&s, &e);
	if (s.text)
		fclose(s.text);
	if (status == 0 && fin < 0) {
		qp_report("rec-show", c.output ? c.output : "standard output", e.msg);
		status = 1;
	}
	status = qp_out_finish(&out, "rec-show", c.output, status);
	if (s.table_ready)
		qp_table_free(&s.table);
	free(o.fields_arg);
	return status;
}
