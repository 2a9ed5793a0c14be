/* rec-merge — the outputs of a filter's --shard runs back into one. */
#include <stdio.h>

#include "cli.h"
#include "filter.h"
#include "rec.h"
#include "shard.h"

static const char usage[] =
	"Usage: rec-merge [options] [FILE ...]\n"
	"Merges the outputs of the N runs of a filter with --shard I/N (FILE ...\n"
	"or standard input, concatenated, shards in any order) into the output\n"
	"one unsharded run writes, byte for byte: its meta record once, then\n"
	"every record in the model's order, without the shard records.  A shard\n"
	"missing or truncated, or outputs of different runs, is an error.\n"
	"rec-merge writes no meta record of its own.\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Exit status: 0 success, 1 bad input or failed output, 2 bad usage.\n";

static const struct option long_opts[] = {{0}};

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	(void)opt, (void)arg, (void)ctx;
	return qp_fail(e, "unknown option");
}

static int on_record(void *ctx, const qp_record *rec, qp_writer *w, qp_err *e)
{
	(void)w;
	return qp_merger_add(ctx, rec, e);
}

static int on_last_end(void *ctx, qp_writer *w, qp_err *e)
{
	return qp_merger_finish(ctx, w, e);
}

int main(int argc, char **argv)
{
	qp_tool tool = {"rec-merge", usage, "", long_opts, on_option, NULL, usage_end};
	qp_common c;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	qp_merger *m = qp_merger_new();
	if (!m) {
		qp_report("rec-merge", NULL, "out of memory");
		return 1;
	}
	qp_filter f = {.prog = "rec-merge", .on_record = on_record,
		       .on_last_end = on_last_end, .ctx = m};
	/* no meta of its own: the shards' meta is the unsharded run's */
	qp_sink sink;
	int status = qp_sink_open(&sink, "rec-merge", &c, argc, NULL);
	if (status == 0)
		status = qp_filter_run(&f, &c, sink.w);
	status = qp_sink_close(&sink, "rec-merge", &c, status);
	qp_merger_free(m);
	return status;
}
