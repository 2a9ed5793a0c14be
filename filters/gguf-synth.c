/* gguf-synth — a realistic llama-shaped synthetic GGUF checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gguf_write.h"
#include "synth.h"
#include "types.h"

static const char usage[] =
	"Usage: gguf-synth [options] > FILE.gguf\n"
	"Writes a llama-architecture GGUF with heavy-tailed synthetic weights\n"
	"(Gaussian bulk, outlier input channels, sparse large values), the\n"
	"same bytes for the same options whatever the thread count.\n"
	"\n"
	"  -p, --preset NAME  tiny (4 layers, n_embd 256, a few MB), 1b\n"
	"                     (TinyLlama-1.1B shapes) or 7b (Llama-2-7B shapes,\n"
	"                     vocab 32000); default tiny\n"
	"  -s, --seed N       random seed (default 1)\n"
	"  -t, --type TYPE    F32, F16 or BF16 for the 2-D weights (default F16;\n"
	"                     norm vectors are always F32)\n"
	"  -S, --sparse       complete metadata, tensor data left as a hole\n"
	"                     (reads as zeros; needs a seekable output)\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Exit status: 0 success, 1 failed output, 2 bad usage.\n";

typedef struct opts {
	const char *preset;
	uint64_t seed;
	uint32_t type;
	bool sparse;
} opts;

static const struct option long_opts[] = {
	{"preset", required_argument, NULL, 'p'},
	{"seed", required_argument, NULL, 's'},
	{"type", required_argument, NULL, 't'},
	{"sparse", no_argument, NULL, 'S'},
	{0},
};

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	opts *o = ctx;
	long v;
	const qp_type_info *ti;
	switch (opt) {
	case 'p':
		if (!qp_synth_preset_find(arg))
			return qp_fail(e, "unknown preset '%s' (known: %s)", arg,
				       qp_synth_preset_names());
		o->preset = arg;
		return 0;
	case 's':
		if (qp_parse_long(arg, 0, 0x7fffffffL, &v, e) < 0)
			return -1;
		o->seed = (uint64_t)v;
		return 0;
	case 't':
		ti = qp_type_info_by_name(arg);
		if (!ti || (ti->id != QP_F32 && ti->id != QP_F16 && ti->id != QP_BF16))
			return qp_fail(e, "--type must be F32, F16 or BF16, not '%s'", arg);
		o->type = ti->id;
		return 0;
	case 'S': o->sparse = true; return 0;
	}
	return qp_fail(e, "unknown option");
}

static int synthesize(const opts *o, int threads, int fd, qp_err *e)
{
	qp_synth s = {.p = qp_synth_preset_find(o->preset), .seed = o->seed,
		      .type = o->type, .threads = threads};
	qp_gguf_writer *w = qp_gguf_writer_new();
	if (!w)
		return qp_fail(e, "out of memory");
	int rc = qp_synth_plan(&s, w, e);
	if (rc == 0)
		rc = qp_gguf_writer_write(w, fd, o->sparse ? NULL : qp_synth_fill,
					  &s, e);
	qp_gguf_writer_free(w);
	qp_synth_free(&s);
	return rc;
}

int main(int argc, char **argv)
{
	opts o = {.preset = "tiny", .seed = 1, .type = QP_F16};
	qp_tool tool = {"gguf-synth", usage, "p:s:t:S", long_opts, on_option, &o, usage_end};
	qp_common c;
	int st = qp_cli_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	if (c.n_files > 0) {
		qp_report("gguf-synth", NULL, "takes no operands (write with -o FILE or > FILE)");
		return 2;
	}
	if (!c.output && isatty(STDOUT_FILENO)) {
		qp_report("gguf-synth", NULL, "refusing to write a GGUF to a terminal: use -o FILE or > FILE");
		return 2;
	}
	qp_err e;
	qp_out out;
	if (qp_out_open(&out, c.output, &e) < 0) {
		qp_report("gguf-synth", c.output, e.msg);
		return 1;
	}
	int status = 0;
	if (synthesize(&o, c.threads, out.fd, &e) < 0) {
		qp_report("gguf-synth", c.output ? c.output : "standard output", e.msg);
		status = 1;
	}
	return qp_out_finish(&out, "gguf-synth", c.output, status);
}
