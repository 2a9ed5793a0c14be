/* measure-read — llama-perplexity logs and the files they measured to
 * measure records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "filter.h"
#include "measure_rec.h"
#include "pplog.h"
#include "rec.h"

static const char usage[] =
	"Usage: measure-read [options] RUN.log=QUANT.gguf ...\n"
	"       measure-read [options] --gguf QUANT.gguf RUN.log ...\n"
	"Turns llama-perplexity logs (plain runs and --kl-divergence runs, stdout\n"
	"and stderr) into measure records: every figure the run's final\n"
	"statistics print, with the type of each tensor, n_bytes and bpw read\n"
	"from the header of the GGUF the run measured.  A log without its final\n"
	"statistics, a truncated log, or a log that is not a run of the GGUF\n"
	"paired with it (loader tensor count and size, or the model named on\n"
	"its command line) is an error; a log naming no model gets a warning.\n"
	"\n"
	"  -g, --gguf FILE      the GGUF of the next log given without =FILE (the\n"
	"                       Nth --gguf pairs with the Nth such log)\n"
	"  -b, --base-model ID  the id of the base model the runs compare against\n"
	"                       (default: the GGUF of the base run, given in the\n"
	"                       same call, that saved the logits a KL run names)\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Exit status: 0 success, 1 bad input, 2 bad usage.\n";

#define MAX_RUNS 4096
#define LOG_CAP ((size_t)1 << 30)

typedef struct opts {
	const char *gguf[MAX_RUNS];
	int n_gguf;
	const char *base_model;
} opts;

static const struct option long_opts[] = {
	{"gguf", required_argument, NULL, 'g'},
	{"base-model", required_argument, NULL, 'b'},
	{0},
};

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	opts *o = ctx;
	switch (opt) {
	case 'g':
		if (o->n_gguf == MAX_RUNS)
			return qp_fail(e, "too many --gguf (at most %d)", MAX_RUNS);
		o->gguf[o->n_gguf++] = arg;
		return 0;
	case 'b': o->base_model = arg; return 0;
	}
	return qp_fail(e, "unknown option");
}

typedef struct run {
	char *log_path, *gguf_path;
	qp_pplog log;
	qp_model_file file;
	const char *base;
} run;

/* Pairs each operand with its GGUF: "LOG=GGUF" (split at the last '='),
 * or the next --gguf. */
static int pair_operands(const opts *o, const qp_common *c, run *runs)
{
	int next = 0;
	for (int i = 0; i < c->n_files; i++) {
		const char *arg = c->files[i];
		const char *eq = strrchr(arg, '=');
		if (eq && eq != arg && eq[1]) {
			runs[i].log_path = strndup(arg, (size_t)(eq - arg));
			runs[i].gguf_path = strdup(eq + 1);
		} else if (next < o->n_gguf) {
			runs[i].log_path = strdup(arg);
			runs[i].gguf_path = strdup(o->gguf[next++]);
		} else {
			qp_reportf("measure-read", NULL, "%s: which GGUF did this run measure? "
				   "Give LOG=GGUF or --gguf GGUF", arg);
			return 2;
		}
		if (!runs[i].log_path || !runs[i].gguf_path) {
			qp_report("measure-read", NULL, "out of memory");
			return 1;
		}
	}
	if (next < o->n_gguf) {
		qp_reportf("measure-read", NULL, "%d --gguf file%s without a log",
			   o->n_gguf - next, o->n_gguf - next == 1 ? "" : "s");
		return 2;
	}
	return 0;
}

static int read_log(run *r)
{
	char *text = NULL;
	size_t len = 0;
	qp_err e;
	if (qp_read_whole(r->log_path, LOG_CAP, &text, &len, &e) < 0 ||
	    qp_pplog_parse(text, len, &r->log, &e) < 0) {
		free(text);
		qp_report("measure-read", r->log_path, e.msg);
		return 1;
	}
	free(text);
	return 0;
}

/* The base model of run i: --base-model, else the GGUF of the run (in
 * this call) that saved the logits run i compares against, or its own
 * GGUF when run i is that base run. */
static const char *base_of(const opts *o, run *runs, int n, int i)
{
	if (o->base_model)
		return o->base_model;
	const qp_pplog *p = &runs[i].log;
	if (p->mode == QP_PPLOG_PLAIN && p->logits_saved[0])
		return qp_path_base(runs[i].gguf_path);
	if (p->mode == QP_PPLOG_KLD && p->logits_base[0])
		for (int j = 0; j < n; j++)
			if (runs[j].log.logits_saved[0] &&
			    strcmp(qp_path_base(runs[j].log.logits_saved),
				   qp_path_base(p->logits_base)) == 0)
				return qp_path_base(runs[j].gguf_path);
	return NULL;
}

/* Reads run i's GGUF, checks the log is a run of it, finds its base. */
static int check_run(const opts *o, run *runs, int n, int i, bool quiet)
{
	qp_err e;
	run *r = &runs[i];
	if (qp_model_file_read(r->gguf_path, &r->file, &e) < 0) {
		qp_report("measure-read", r->gguf_path, e.msg);
		return 1;
	}
	int st = qp_pplog_check_model(&r->log, r->gguf_path, r->file.n_tensors,
				      r->file.n_bytes, r->file.n_elem, &e);
	if (st < 0) {
		qp_report("measure-read", r->log_path, e.msg);
		return 1;
	}
	if (st > 0 && !quiet)
		qp_reportf("measure-read", r->log_path, "warning: %s", e.msg);
	r->base = base_of(o, runs, n, i);
	if (r->base)
		return 0;
	if (r->log.mode == QP_PPLOG_KLD && r->log.logits_base[0])
		qp_reportf("measure-read", r->log_path, "the base logits '%s' come "
			   "from no base run given here: give its log too, or "
			   "--base-model ID", r->log.logits_base);
	else
		qp_report("measure-read", r->log_path, "the log does not say which "
			  "base model the run compares against: give --base-model ID");
	return 1;
}

static int emit(const run *r, qp_writer *w)
{
	qp_err e;
	qp_measure_src src = {r->base, r->gguf_path, r->log_path, &r->log, &r->file};
	qp_measure_pack(qp_writer_packer(w), &src);
	if (qp_writer_end(w, &e) < 0) {
		qp_report("measure-read", NULL, e.msg);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	opts o = {0};
	qp_tool tool = {"measure-read", usage, "g:b:", long_opts, on_option, &o, usage_end};
	qp_common c;
	int st = qp_cli_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	if (c.n_files == 0) {
		qp_report("measure-read", NULL, "no logs given (see --help)");
		return 2;
	}
	if (c.n_files > MAX_RUNS) {
		qp_reportf("measure-read", NULL, "too many logs (at most %d)", MAX_RUNS);
		return 2;
	}
	for (int i = 0; i < c.n_files; i++)
		if ((strcmp(c.files[i], "-") == 0 || strncmp(c.files[i], "-=", 2) == 0) &&
		    isatty(STDIN_FILENO)) {
			fputs(usage, stderr); /* a log would be typed in: say how to use it */
			return 2;
		}
	run *runs = calloc((size_t)c.n_files, sizeof *runs);
	if (!runs) {
		qp_report("measure-read", NULL, "out of memory");
		return 1;
	}
	int status = pair_operands(&o, &c, runs);
	for (int i = 0; status == 0 && i < c.n_files; i++)
		status = read_log(&runs[i]);
	for (int i = 0; status == 0 && i < c.n_files; i++)
		status = check_run(&o, runs, c.n_files, i, c.quiet);
	qp_sink sink;
	if (status == 0)
		status = qp_sink_open(&sink, "measure-read", &c, argc, argv);
	if (status == 0) {
		for (int i = 0; status == 0 && i < c.n_files; i++)
			status = emit(&runs[i], sink.w);
		status = qp_sink_close(&sink, "measure-read", &c, status);
	}
	for (int i = 0; i < c.n_files; i++) {
		free(runs[i].log_path);
		free(runs[i].gguf_path);
		qp_model_file_free(&runs[i].file);
	}
	free(runs);
	return status;
}
