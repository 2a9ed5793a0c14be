/* gguf-dump — GGUF files to model and tensor records. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "filter.h"
#include "gguf_dump.h"
#include "rec.h"

static const char usage[] =
	"Usage: gguf-dump [options] FILE ...\n"
	"Writes one meta record, then for each GGUF FILE one model record and\n"
	"one tensor record per tensor (data by reference: path and offset).\n"
	"FILE may be the first shard of a split model (*-00001-of-0000N.gguf:\n"
	"the other shards are found beside it), - or a pipe (read front to\n"
	"back; data inlined), or an archive (.tar, .tar.gz, .tar.zst, .zip ...)\n"
	"whose .gguf members are each dumped as a model, data inlined.\n"
	"\n"
	"  -k, --kv-full      metadata arrays in full (default: arrays longer\n"
	"                     than 32 elements are summarised as {type, n})\n"
	"  -c, --crc          add crc32 (zlib) of each tensor's data bytes,\n"
	"                     computed on -@ threads\n"
	"  -d, --data         inline each tensor's bytes as a bin field\n"
	"  -i, --id ID        model id (one FILE only; default its base name)\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Records written to a terminal are shown as JSON lines.\n"
	"Exit status: 0 success, 1 bad input or failed output, 2 bad usage.\n";

static const struct option long_opts[] = {
	{"kv-full", no_argument, NULL, 'k'},
	{"crc", no_argument, NULL, 'c'},
	{"data", no_argument, NULL, 'd'},
	{"id", required_argument, NULL, 'i'},
	{0},
};

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	qp_dump_opts *o = ctx;
	switch (opt) {
	case 'k': o->kv_full = true; return 0;
	case 'c': o->crc = true; return 0;
	case 'd': o->data = true; return 0;
	case 'i':
		if (!*arg)
			return qp_fail(e, "--id needs a non-empty value");
		o->id = arg;
		return 0;
	}
	return qp_fail(e, "unknown option");
}

static int dump_all(qp_writer *w, const qp_dump_opts *o, const qp_common *c)
{
	qp_dumper *d = qp_dumper_new(w, o);
	if (!d) {
		qp_report("gguf-dump", NULL, "out of memory");
		return 1;
	}
	int status = 0;
	for (int i = 0; i < c->n_files && status == 0; i++) {
		qp_err e;
		if (qp_dump_input(d, c->files[i], &e) < 0) {
			qp_report("gguf-dump", c->files[i], e.msg);
			status = 1;
		}
	}
	qp_dumper_free(d);
	return status;
}

int main(int argc, char **argv)
{
	qp_dump_opts o = {0};
	qp_tool tool = {"gguf-dump", usage, "kcdi:", long_opts, on_option, &o, usage_end};
	qp_common c;
	int st = qp_cli_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	if (c.n_files == 0) {
		fputs(usage, stderr);
		return 2;
	}
	if ((st = qp_cli_refuse_tty_stdin(&tool, &c)) != QP_CLI_CONTINUE)
		return st;
	if (o.id && c.n_files > 1) {
		qp_report("gguf-dump", NULL, "--id names one model: give one FILE");
		return 2;
	}
	o.threads = c.threads;
	qp_sink sink;
	int status = qp_sink_open(&sink, "gguf-dump", &c, argc, argv);
	if (status == 0)
		status = dump_all(sink.w, &o, &c);
	return qp_sink_close(&sink, "gguf-dump", &c, status);
}
