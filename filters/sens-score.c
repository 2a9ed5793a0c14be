/* sens-score — weight and activation statistics, sensitivity scores and
 * the model profile. */
#include <stdlib.h>

#include "cli.h"
#include "filter.h"
#include "sens_run.h"
#include "shard.h"

static const char usage[] =
	"Usage: sens-score [options] [FILE ...]\n"
	"Adds to every tensor record its weight statistics (key stats), its\n"
	"activation statistics from an importance matrix (key imat) and its\n"
	"sensitivity scores (key sens), normalised over the tensors of its\n"
	"model, and writes a profile record after each model's last tensor.\n"
	"Reads records (gguf-dump output) from FILE or standard input.\n"
	"\n"
	"  -m, --imatrix FILE   llama.cpp importance matrix (GGUF or legacy .dat):\n"
	"                       add imat and the activation part of the score\n"
	"      --no-svd         skip the singular values (no SE part in nsds)\n"
	"      --svd-rank N     singular values used for SE (default 64)\n"
	"      --svd-iters N    power iterations of the randomized SVD (default 2)\n"
	"  -b, --mem-bw GBS     memory bandwidth in GB/s: add a decode-speed\n"
	"                       estimate to the profile record\n"
	"      --shard I/N      measure only shard I (0 <= I < N) of the tensors:\n"
	"                       their stats, imat and per-tensor sens parts, no\n"
	"                       scores and no profile yet (see --merge)\n"
	"      --merge          read the outputs of the N --shard runs (in any\n"
	"                       order), score the tensors over their model and\n"
	"                       write the profile: the unsharded run's output\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Exit status: 0 success, 1 bad input or failed work, 2 bad usage.\n";

enum { OPT_NO_SVD = 256, OPT_SVD_RANK, OPT_SVD_ITERS, OPT_SHARD, OPT_MERGE };

typedef struct opts {
	const char *imatrix;
	bool no_svd;
	long svd_rank, svd_iters;
	double mem_bw;
	bool sharded, merge, measuring; /* measuring: an option of the shards */
	qp_shard_spec shard;
} opts;

static const struct option long_opts[] = {
	{"imatrix", required_argument, NULL, 'm'},
	{"no-svd", no_argument, NULL, OPT_NO_SVD},
	{"svd-rank", required_argument, NULL, OPT_SVD_RANK},
	{"svd-iters", required_argument, NULL, OPT_SVD_ITERS},
	{"mem-bw", required_argument, NULL, 'b'},
	{"shard", required_argument, NULL, OPT_SHARD},
	{"merge", no_argument, NULL, OPT_MERGE},
	{0},
};

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	opts *o = ctx;
	o->measuring |= opt != OPT_MERGE;
	switch (opt) {
	case OPT_SHARD:
		o->sharded = true;
		return qp_shard_parse(arg, &o->shard, e);
	case OPT_MERGE: o->merge = true; return 0;
	case 'm': o->imatrix = arg; return 0;
	case OPT_NO_SVD: o->no_svd = true; return 0;
	case OPT_SVD_RANK: return qp_parse_long(arg, 1, 1024, &o->svd_rank, e);
	case OPT_SVD_ITERS: return qp_parse_long(arg, 0, 16, &o->svd_iters, e);
	case 'b':
		if (qp_parse_double(arg, &o->mem_bw, e) < 0)
			return -1;
		if (!(o->mem_bw > 0 && o->mem_bw < 1e9))
			return qp_fail(e, "--mem-bw takes a bandwidth in GB/s above 0, not %s", arg);
		return 0;
	}
	return qp_fail(e, "unknown option");
}

/* The shards: each writes the unsharded run's meta record (so the merge
 * writes it once, byte for byte); the merge writes none of its own. */
static int run_sharded(qp_sens_runner *r, const opts *o, const qp_common *c,
		       int argc, char **argv)
{
	qp_filter f;
	qp_sens_runner_filter(r, &f);
	int meta_argc = argc;
	char **meta_argv = argv;
	if (o->sharded) {
		meta_argv = qp_shard_strip_argv(argc, argv, &meta_argc);
		if (!meta_argv) {
			qp_report("sens-score", NULL, "out of memory");
			return 1;
		}
	} else {
		meta_argv = NULL;
	}
	qp_sink sink;
	int status = qp_sink_open(&sink, "sens-score", c, meta_argc, meta_argv);
	if (status == 0)
		status = qp_filter_run(&f, c, sink.w);
	status = qp_sink_close(&sink, "sens-score", c, status);
	if (meta_argv && meta_argv != argv)
		free(meta_argv);
	return status;
}

int main(int argc, char **argv)
{
	opts o = {.svd_iters = -1};
	qp_tool tool = {"sens-score", usage, "m:b:", long_opts, on_option, &o, usage_end};
	qp_common c;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	if (o.merge && o.measuring) {
		qp_report("sens-score", NULL, "--merge takes no measuring options: "
			  "the shards' records carry theirs");
		return 2;
	}
	qp_sens_run_cfg cfg = {
		.prog = "sens-score", .imatrix = o.imatrix, .no_svd = o.no_svd,
		.svd_rank = o.svd_rank, .svd_iters = o.svd_iters,
		.mem_bw = o.mem_bw, .threads = c.threads, .quiet = c.quiet,
		.sharded = o.sharded, .shard = o.shard, .merge = o.merge,
	};
	qp_sens_runner *r;
	qp_err e;
	if (qp_sens_runner_new(&cfg, &r, &e) < 0) {
		qp_report("sens-score", NULL, e.msg);
		return 1;
	}
	int status = o.sharded || o.merge
		? run_sharded(r, &o, &c, argc, argv)
		: qp_model_filter_pipe(qp_sens_runner_model_filter(r), &c, argc, argv);
	qp_sens_runner_free(r);
	return status;
}
