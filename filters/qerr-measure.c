/* qerr-measure — the real round-trip error of quantization types. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "filter.h"
#include "imatrix.h"
#include "imatrix_match.h"
#include "progress.h"
#include "qerr.h"
#include "qerr_rec.h"
#include "quant.h"
#include "rec.h"
#include "shard.h"
#include "tensor_src.h"
#include "types.h"

static const char usage[] =
	"Usage: qerr-measure [options] [FILE ...]\n"
	"Adds to every tensor record the real round-trip error of each\n"
	"quantization type, as llama-quantize would write it (shape fallbacks\n"
	"and tensors it never quantizes included), under the key qerr.\n"
	"Reads records (gguf-dump output) from FILE or standard input.\n"
	"\n"
	"  -t, --types LIST     comma-separated types (default\n"
	"                       Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,Q8_0,IQ4_XS)\n"
	"  -m, --imatrix FILE   llama.cpp importance matrix (GGUF or legacy .dat):\n"
	"                       quantize on the importance-weighted path, as\n"
	"                       llama-quantize --imatrix does, and add wmse\n"
	"  -c, --crc            add crc32 of each type's quantized bytes\n"
	"  -s, --sample FRAC    measure a seeded uniform sample of rows (0 < FRAC\n"
	"                       < 1) and add 95% confidence intervals (ci95)\n"
	"      --seed N         seed for --sample (default 0)\n"
	"  -r, --rotate hadamard[:BLOCK]\n"
	"                       also measure each type after a block-Hadamard\n"
	"                       rotation of the rows (BLOCK a power of two,\n"
	"                       default 128), as qerr.<TYPE>+had<BLOCK>\n"
	"      --shard I/N      measure only shard I (0 <= I < N) of the tensors,\n"
	"                       balanced by elements x types; rec-merge of the N\n"
	"                       outputs, in any order, gives the unsharded output\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Exit status: 0 success, 1 bad input or failed work, 2 bad usage.\n";

enum { OPT_SEED = 256, OPT_SHARD };

typedef struct opts {
	uint32_t types[64];
	int n_types;
	const char *imatrix;
	bool crc;
	double sample;
	uint64_t seed;
	int rotate;
	bool sharded;
	qp_shard_spec shard;
} opts;

static const struct option long_opts[] = {
	{"types", required_argument, NULL, 't'},
	{"imatrix", required_argument, NULL, 'm'},
	{"crc", no_argument, NULL, 'c'},
	{"sample", required_argument, NULL, 's'},
	{"seed", required_argument, NULL, OPT_SEED},
	{"rotate", required_argument, NULL, 'r'},
	{"shard", required_argument, NULL, OPT_SHARD},
	{0},
};

static int parse_types(opts *o, const char *list, qp_err *e)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", list);
	o->n_types = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		const qp_type_info *ti = qp_type_info_by_name(tok);
		if (!ti || ti->removed)
			return qp_fail(e, "unknown type '%s'", tok);
		if (o->n_types == 64)
			return qp_fail(e, "too many types (at most 64)");
		o->types[o->n_types++] = ti->id;
	}
	return o->n_types ? 0 : qp_fail(e, "-t needs at least one type");
}

static int parse_rotate(opts *o, const char *arg, qp_err *e)
{
	long block = 128;
	if (strncmp(arg, "hadamard", 8) != 0 || (arg[8] && arg[8] != ':'))
		return qp_fail(e, "--rotate takes hadamard[:BLOCK], not '%s'", arg);
	if (arg[8] == ':' && qp_parse_long(arg + 9, 2, 65536, &block, e) < 0)
		return -1;
	if (block & (block - 1))
		return qp_fail(e, "the Hadamard block must be a power of two, not %ld", block);
	o->rotate = (int)block;
	return 0;
}

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	opts *o = ctx;
	long v;
	switch (opt) {
	case 't': return parse_types(o, arg, e);
	case 'm': o->imatrix = arg; return 0;
	case 'c': o->crc = true; return 0;
	case 'r': return parse_rotate(o, arg, e);
	case 's':
		if (qp_parse_double(arg, &o->sample, e) < 0)
			return -1;
		if (o->sample <= 0 || o->sample >= 1)
			return qp_fail(e, "--sample takes a fraction between 0 and 1, not %s", arg);
		return 0;
	case OPT_SHARD:
		o->sharded = true;
		return qp_shard_parse(arg, &o->shard, e);
	case OPT_SEED:
		if (qp_parse_long(arg, 0, 0x7fffffffL, &v, e) < 0)
			return -1;
		o->seed = (uint64_t)v;
		return 0;
	}
	return qp_fail(e, "unknown option");
}

typedef struct run {
	const opts *o;
	qp_qerr_opts q;
	qp_imatrix im;
	bool have_im;
	qp_map_cache *maps;
	qp_sharder *sharder;
	qp_progress progress;
	uint64_t n_done;
} run;

static int measure_record(run *r, const qp_record *rec, qp_writer *w,
			  qp_err *e)
{
	qp_tensor_ref t;
	const qp_imatrix_entry *ent = NULL;
	if (qp_tensor_ref_from_record(rec, r->maps, &t, e) < 0 ||
	    (r->have_im && qp_imatrix_for_tensor(&r->im, &t, &ent, NULL, e) < 0))
		return -1;
	const float *imp = ent ? ent->importance : NULL;
	int n = qp_qerr_count(&r->q);
	qp_qerr_result *res = calloc((size_t)n, sizeof *res);
	if (!res)
		return qp_fail(e, "out of memory");
	int status = qp_qerr_tensor(&t, imp, &r->q, res, e);
	if (status == 0) {
		qp_writer_enrich(w, rec, "qerr");
		qp_qerr_pack(qp_writer_packer(w), res, n, r->have_im);
		status = qp_writer_end(w, e);
	}
	free(res);
	qp_progress_update(&r->progress, ++r->n_done);
	return status;
}

static int on_record(void *ctx, const qp_record *rec, qp_writer *w,
		     qp_err *e)
{
	run *r = ctx;
	if (r->sharder)
		return qp_sharder_record(r->sharder, rec, w, e);
	if (qp_rec_is(rec, "tensor"))
		return measure_record(r, rec, w, e);
	return qp_writer_raw(w, rec->raw, rec->raw_len, e);
}

static int measure_kept(void *ctx, const qp_record *rec, qp_writer *w,
			qp_err *e)
{
	return measure_record(ctx, rec, w, e);
}

/* A shard works on its tensors once it has seen them all. */
static int on_last_end(void *ctx, qp_writer *w, qp_err *e)
{
	run *r = ctx;
	return r->sharder ? qp_sharder_finish(r->sharder, w, measure_kept, r, e) : 0;
}

static int setup(run *r, const opts *o, const qp_common *c)
{
	static const uint32_t ladder[] = {QP_Q2_K, QP_Q3_K, QP_Q4_K, QP_Q5_K,
					  QP_Q6_K, QP_Q8_0, QP_IQ4_XS};
	r->o = o;
	r->q = (qp_qerr_opts){
		.types = o->n_types ? o->types : ladder,
		.n_types = o->n_types ? o->n_types : 7,
		.rotate_block = o->rotate, .crc = o->crc,
		.sample_frac = o->sample, .seed = o->seed, .threads = c->threads,
	};
	r->maps = qp_map_cache_new();
	if (!r->maps) {
		qp_report("qerr-measure", NULL, "out of memory");
		return 1;
	}
	qp_err e;
	if (o->imatrix) {
		if (qp_imatrix_load(o->imatrix, &r->im, &e) < 0) {
			qp_report("qerr-measure", o->imatrix, e.msg);
			return 1;
		}
		r->have_im = true;
	}
	if (o->sharded) {
		/* work per element: every type, and its rotated twin */
		uint64_t per_elem = (uint64_t)r->q.n_types * (o->rotate ? 2 : 1);
		r->sharder = qp_sharder_new(o->shard, per_elem);
		if (!r->sharder) {
			qp_report("qerr-measure", NULL, "out of memory");
			return 1;
		}
	}
	qp_progress_init(&r->progress, qp_progress_wanted(c->quiet),
			 "qerr-measure: tensors", 0);
	return 0;
}

static void cleanup(run *r)
{
	qp_progress_end(&r->progress);
	if (r->have_im)
		qp_imatrix_free(&r->im);
	qp_map_cache_free(r->maps);
	qp_sharder_free(r->sharder);
}

int main(int argc, char **argv)
{
	opts o = {0};
	qp_tool tool = {"qerr-measure", usage, "t:m:cs:r:", long_opts, on_option, &o, usage_end};
	qp_common c;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	if (o.crc && o.sample > 0) {
		qp_report("qerr-measure", NULL, "--crc needs every row: it cannot go with --sample");
		return 2;
	}
	run r = {0};
	int status = setup(&r, &o, &c);
	qp_filter f = {.prog = "qerr-measure", .on_record = on_record,
		       .on_last_end = on_last_end, .ctx = &r};
	/* A shard's meta record is the unsharded run's, so the merge of the
	 * shards is byte for byte that run's output. */
	int meta_argc = argc;
	char **meta_argv = o.sharded ? qp_shard_strip_argv(argc, argv, &meta_argc) : argv;
	if (!meta_argv) {
		qp_report("qerr-measure", NULL, "out of memory");
		status = 1;
	}
	if (status == 0)
		status = qp_filter_pipe(&f, &c, meta_argc, meta_argv);
	if (meta_argv != argv)
		free(meta_argv);
	cleanup(&r);
	return status;
}
