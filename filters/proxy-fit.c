/* proxy-fit — calibrates measured errors against real llama-perplexity
 * runs, and predicts the quality loss of every configuration. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model_batch.h"
#include "proxy.h"
#include "proxy_fit_run.h"

static const char usage[] =
	"Usage: proxy-fit [options] [FILE ...]\n"
	"Reads one model's tensor records carrying qerr (qerr-measure output),\n"
	"then measure records (measure-read output, or rec-show --from-json);\n"
	"calibrates a proxy on the measured runs and writes one fit record;\n"
	"adds pred (and resid on measured runs) to every measure and recipe\n"
	"record.  Without usable runs the built-in uncalibrated prior predicts.\n"
	"Typical use: qerr-measure ... | proxy-fit - runs.mp\n"
	"\n"
	"      --target T       kld (mean KLD; the default unless the runs give\n"
	"                       only ln PPL ratios) or dlnppl (ln(PPL(Q)/PPL(base)))\n"
	"      --level L        interval level (default 0.95)\n"
	"      --imatrix-qerr FILE\n"
	"                       the same tensors measured with qerr-measure\n"
	"                       --imatrix: used for runs marked imatrix: true\n"
	"      --prior          predict with the uncalibrated prior even when\n"
	"                       runs are given (the fit record then reports how\n"
	"                       the prior does on them)\n"
	"      --fit FILE       predict with the fit record in FILE (an earlier\n"
	"                       proxy-fit run, perhaps on another model) instead\n"
	"                       of fitting; the fit record reports how it does\n"
	"      --form F         fit only form F (total, family, family-depth,\n"
	"                       role, role-depth)\n"
	"      --metric M       fit only error metric M (wmse, mse, rel2)\n"
	"      --propose N      also write N recipe records: the configurations\n"
	"                       whose measurement would most improve the fit\n"
	"                       (D-optimal), with their llama-quantize arguments\n"
	"      --cv K           add K-fold cross-validation figures of the whole\n"
	"                       fitting procedure to the fit record\n"
	"\n";

/* after the shared options, which cli.c writes */
static const char usage_end[] =
	"\n"
	"Exit status: 0 success, 1 bad input or failed work, 2 bad usage.\n";

enum { OPT_TARGET = 256, OPT_LEVEL, OPT_IMAT, OPT_PRIOR, OPT_CV, OPT_FIT,
       OPT_FORM, OPT_METRIC, OPT_PROPOSE };

static const struct option long_opts[] = {
	{"target", required_argument, NULL, OPT_TARGET},
	{"level", required_argument, NULL, OPT_LEVEL},
	{"imatrix-qerr", required_argument, NULL, OPT_IMAT},
	{"prior", no_argument, NULL, OPT_PRIOR},
	{"cv", required_argument, NULL, OPT_CV},
	{"fit", required_argument, NULL, OPT_FIT},
	{"form", required_argument, NULL, OPT_FORM},
	{"metric", required_argument, NULL, OPT_METRIC},
	{"propose", required_argument, NULL, OPT_PROPOSE},
	{0},
};

typedef struct opts {
	qp_fit_ask ask;
	const char *imat_file;
	const char *fit_file;
} opts;

static int on_option(int opt, const char *arg, void *ctx, qp_err *e)
{
	opts *o = ctx;
	qp_fit_ask *a = &o->ask;
	long v;
	switch (opt) {
	case OPT_TARGET:
		if (!strcmp(arg, "kld") || !strcmp(arg, "kld_mean"))
			a->target = "kld_mean";
		else if (!strcmp(arg, "dlnppl") || !strcmp(arg, "ln_ppl_ratio"))
			a->target = "ln_ppl_ratio";
		else
			return qp_fail(e, "--target takes kld or dlnppl, not '%s'", arg);
		return 0;
	case OPT_LEVEL:
		if (qp_parse_double(arg, &a->level, e) < 0)
			return -1;
		if (!(a->level > 0 && a->level < 1))
			return qp_fail(e, "--level takes a number between 0 and 1, not %s", arg);
		return 0;
	case OPT_IMAT: o->imat_file = arg; return 0;
	case OPT_PRIOR: a->prior = true; return 0;
	case OPT_FIT: o->fit_file = arg; return 0;
	case OPT_PROPOSE:
		if (qp_parse_long(arg, 1, 1000, &v, e) < 0)
			return -1;
		a->propose = (int)v;
		return 0;
	case OPT_FORM:
		for (int i = 0; i < QP_FORM_COUNT; i++)
			if (!strcmp(arg, qp_proxy_form_name((qp_proxy_form)i))) {
				a->form = i;
				return 0;
			}
		return qp_fail(e, "--form takes total, family, family-depth, role or role-depth, not '%s'", arg);
	case OPT_METRIC:
		for (int i = 0; i < QP_METRIC_COUNT; i++)
			if (!strcmp(arg, qp_proxy_metric_name((qp_proxy_metric)i))) {
				a->metric = i;
				return 0;
			}
		return qp_fail(e, "--metric takes wmse, mse or rel2, not '%s'", arg);
	case OPT_CV:
		if (qp_parse_long(arg, 2, 1000, &v, e) < 0)
			return -1;
		a->cv = (int)v;
		return 0;
	}
	return qp_fail(e, "unknown option");
}

static void warn(void *ctx, const char *msg)
{
	(void)ctx;
	fflush(stdout);
	fprintf(stderr, "proxy-fit: warning: %s\n", msg);
}

int main(int argc, char **argv)
{
	opts o = {.ask = {.level = 0.95, .form = -1, .metric = -1}};
	qp_tool tool = {"proxy-fit", usage, "", long_opts, on_option, &o, usage_end};
	qp_common c;
	int st = qp_filter_parse(&tool, argc, argv, &c);
	if (st != QP_CLI_CONTINUE)
		return st;
	qp_fit_job job = {.ask = &o.ask, .warn = {warn, NULL, c.quiet}};
	qp_err e;
	if (o.imat_file && qp_fit_job_load_imatrix(&job, o.imat_file, &e) < 0) {
		qp_report("proxy-fit", o.imat_file, e.msg);
		st = 1;
	} else if (o.fit_file && qp_fit_job_load_fit(&job, o.fit_file, &e) < 0) {
		qp_report("proxy-fit", o.fit_file, e.msg);
		st = 1;
	} else {
		static const char *const drop[] = {NULL};
		qp_model_filter mf = {.prog = "proxy-fit", .on_model = qp_fit_job_model,
				      .ctx = &job, .drop_kinds = drop,
				      .across_operands = true};
		st = qp_model_filter_pipe(&mf, &c, argc, argv);
	}
	qp_fit_job_free(&job);
	return st;
}
