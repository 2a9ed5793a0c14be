/* pplog: llama-perplexity logs, real (kjv-llama logs/) and varied by hand:
 * prefixes, mangled "±", the old layout, and every way a log goes wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pplog.h"
#include "../tap.h"

/* A --kl-divergence log in the current layout, trimmed to what matters. */
static const char kld_log[] =
	"$ llama-perplexity -m dir/q.gguf -f eval.txt -c 256 --kl-divergence-base base.kld --kl-divergence\n"
	"0.00.017.026 I cmn          init: llama threadpool init, n_threads = 2\n"
	"0.00.018.100 I llama_model_loader: loaded meta data with 28 key-value pairs and 39 tensors from dir/q.gguf (version GGUF V3 (latest))\n"
	"0.00.018.200 I print_info: file size   = 2.15 MiB (4.92 BPW) \n"
	"0.00.020.025 I kl_divergence: computing over 2 chunks, n_ctx=256, batch_size=2048, n_seq=8\n"
	"\n"
	"chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              \xce\x94p RMS            Same top p\n"
	"   1      32.4296 \xc2\xb1    8.1107       0.01150 \xc2\xb1    0.00866       0.00387 \xc2\xb1    0.00037     1.171 \xc2\xb1  0.295 %    94.488 \xc2\xb1  2.033 %\n"
	"   2      33.5744 \xc2\xb1    5.8128       0.00798 \xc2\xb1    0.00580       0.00426 \xc2\xb1    0.00043     1.261 \xc2\xb1  0.200 %    94.882 \xc2\xb1  1.385 %\n"
	"\n"
	"====== Perplexity statistics ======\n"
	"Mean PPL(Q)                   :  24.434222 \xc2\xb1   0.243766\n"
	"Mean PPL(base)                :  24.329480 \xc2\xb1   0.242529\n"
	"Cor(ln(PPL(Q)), ln(PPL(base))):  99.92%\n"
	"Mean ln(PPL(Q)/PPL(base))     :   0.004296 \xc2\xb1   0.000400\n"
	"Mean PPL(Q)/PPL(base)         :   1.004305 \xc2\xb1   0.000402\n"
	"Mean PPL(Q)-PPL(base)         :   0.104743 \xc2\xb1   0.009839\n"
	"\n"
	"====== KL divergence statistics ======\n"
	"Mean    KLD:   0.004598 \xc2\xb1   0.000023\n"
	"Maximum KLD:   0.200057\n"
	"99.9%   KLD:   0.064957\n"
	"99.0%   KLD:   0.028027\n"
	"Median  KLD:   0.003089\n"
	" 0.1%   KLD:   0.000010\n"
	"Minimum KLD:  -0.000011\n"
	"\n"
	"====== Token probability statistics ======\n"
	"Mean    \xce\x94p: -0.025 \xc2\xb1 0.006 %\n"
	"Maximum \xce\x94p: 18.863%\n"
	"Median  \xce\x94p: -0.000%\n"
	"RMS \xce\x94p    :  1.552 \xc2\xb1 0.013 %\n"
	"Same top p: 95.085 \xc2\xb1 0.083 %\n"
	"\n";

/* An early-2024 build: no statistics tables, "Average:" and friends. */
static const char old_log[] =
	"kl_divergence: computing over 2 chunks, n_ctx=512, batch_size=512, n_seq=1\n"
	"\n"
	"chunk        PPL          ln(PPL(Q)/PPL(base))          KL-Divergence           Same top\n"
	"   1        7.1234       0.01000 \xc2\xb1    0.00500       0.01200 \xc2\xb1    0.00100    0.93500 \xc2\xb1 0.01000\n"
	"   2        6.9876       0.00900 \xc2\xb1    0.00400       0.01100 \xc2\xb1    0.00090    0.93750 \xc2\xb1 0.00800\n"
	"\n"
	"===== KL-divergence statistics\n"
	"Average:   0.011000 \xc2\xb1  0.000900\n"
	"Median :   0.005000\n"
	"Maximum:   2.500000\n"
	"KLD_99 :   0.150000\n"
	"KLD_95 :   0.050000\n"
	"Minimum:   0.000000\n";

static const char plain_log[] =
	"perplexity: calculating perplexity over 533 chunks, n_ctx=256, batch_size=2048, n_seq=8\n"
	"[1]32.0588,[2]33.3076,\n"
	"Final estimate: PPL = 24.3295 +/- 0.24253\n";

static int parse(const char *text, size_t n, qp_pplog *p, qp_err *e)
{
	return qp_pplog_parse(text, n, p, e);
}

static void replace_all(char *s, const char *from, const char *to)
{
	size_t nf = strlen(from), nt = strlen(to);
	char *p;
	while ((p = strstr(s, from))) {
		memmove(p + nt, p + nf, strlen(p + nf) + 1);
		memcpy(p, to, nt);
		s = p + nt;
	}
}

static void check_kld_figures(const qp_pplog *p, const char *what)
{
	ok(p->mode == QP_PPLOG_KLD && p->ctx == 256 && p->chunks == 2,
	   "%s: KL mode, ctx 256, 2 chunks", what);
	ok(p->v[QP_PPL_PPL] == 24.434222 && p->v[QP_PPL_PPL_ERR] == 0.243766 &&
	   p->v[QP_PPL_BASE_PPL] == 24.329480 &&
	   p->v[QP_PPL_LN_RATIO] == 0.004296 && p->v[QP_PPL_LN_RATIO_ERR] == 0.0004 &&
	   p->v[QP_PPL_RATIO] == 1.004305 && p->v[QP_PPL_KLD_MEAN] == 0.004598 &&
	   p->v[QP_PPL_KLD_MEAN_ERR] == 0.000023 && p->v[QP_PPL_KLD_MAX] == 0.200057 &&
	   p->v[QP_PPL_KLD_P99] == 0.028027 && p->v[QP_PPL_KLD_MEDIAN] == 0.003089 &&
	   p->v[QP_PPL_DP_RMS] == 1.552 && p->v[QP_PPL_DP_RMS_ERR] == 0.013 &&
	   p->v[QP_PPL_TOP1] == 95.085 && p->v[QP_PPL_TOP1_ERR] == 0.083,
	   "%s: every figure as printed", what);
}

static void test_current_layout(void)
{
	qp_pplog p;
	qp_err e;
	int st = parse(kld_log, strlen(kld_log), &p, &e);
	if (!ok(st == 0, "current KL layout parses"))
		diag("%s", e.msg);
	check_kld_figures(&p, "current layout");
	is_str(p.model_path, "dir/q.gguf", "model path from the command line");
	is_str(p.logits_base, "base.kld", "base logits from the command line");
	ok(p.loader_tensors == 39 && p.have_size && p.size_value == 2.15 &&
	   p.size_bpw == 4.92 && p.size_decimals == 2 && strcmp(p.size_unit, "MiB") == 0,
	   "loader: 39 tensors, 2.15 MiB, 4.92 BPW");
	ok(qp_pplog_check_model(&p, "x/other-name.gguf", 39, 2259456, 3672320, &e) == 0,
	   "check: loader facts agree (a renamed file is fine)");
	st = qp_pplog_check_model(&p, "q.gguf", 40, 2259456, 3672320, &e);
	ok(st < 0 && strstr(e.msg, "line 3") && strstr(e.msg, "39 tensors"),
	   "check: another tensor count is refused at line 3: %s", e.msg);
	st = qp_pplog_check_model(&p, "q.gguf", 39, 1462272, 3672320, &e);
	ok(st < 0 && strstr(e.msg, "line 4") && strstr(e.msg, "1.39 MiB"),
	   "check: another size is refused at line 4: %s", e.msg);
}

static void test_mangled(void)
{
	static const struct { const char *name, *pm, *delta; } forms[] = {
		{"+/-", "+/-", "D"}, {"latin-1", "\xb1", "\xc4"},
		{"mojibake", "\xc3\x82\xc2\xb1", "\xc3\x8e\xe2\x80\x9d"},
		{"replacement char", "\xef\xbf\xbd", "?"}, {"+-", "+-", ""},
	};
	for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
		char *t = malloc(sizeof kld_log * 4);
		strcpy(t, kld_log);
		replace_all(t, "\xc2\xb1", forms[i].pm);
		replace_all(t, "\xce\x94", forms[i].delta);
		qp_pplog p;
		qp_err e;
		int st = parse(t, strlen(t), &p, &e);
		if (!ok(st == 0, "'%s' for the plus-minus sign parses", forms[i].name))
			diag("%s", e.msg);
		else
			check_kld_figures(&p, forms[i].name);
		free(t);
	}
	/* CRLF, ANSI colours, ISO timestamps on every line */
	char *t = malloc(sizeof kld_log * 4);
	char *o = t;
	for (const char *s = kld_log; *s;) {
		const char *nl = strchr(s, '\n');
		o += sprintf(o, "2026-12-01T20:00:00.123Z \033[32m%.*s\033[0m\r\n",
			     (int)(nl - s), s);
		s = nl + 1;
	}
	qp_pplog p;
	qp_err e;
	int st = parse(t, strlen(t), &p, &e);
	if (!ok(st == 0, "CRLF, colours and ISO timestamps parse"))
		diag("%s", e.msg);
	else
		check_kld_figures(&p, "prefixed");
	free(t);
}

static void test_old_and_plain(void)
{
	qp_pplog p;
	qp_err e;
	int st = parse(old_log, strlen(old_log), &p, &e);
	if (!ok(st == 0, "old KL layout parses"))
		diag("%s", e.msg);
	ok(p.old_layout && p.v[QP_PPL_KLD_MEAN] == 0.011 &&
	   p.v[QP_PPL_KLD_MEAN_ERR] == 0.0009 && p.v[QP_PPL_KLD_MEDIAN] == 0.005 &&
	   p.v[QP_PPL_KLD_MAX] == 2.5 && p.v[QP_PPL_KLD_P99] == 0.15,
	   "old layout: KLD figures");
	ok(p.v[QP_PPL_PPL] == 6.9876 && !p.have[QP_PPL_PPL_ERR] &&
	   p.v[QP_PPL_LN_RATIO] == 0.009 && p.v[QP_PPL_LN_RATIO_ERR] == 0.004 &&
	   p.v[QP_PPL_TOP1] == 93.75 && p.v[QP_PPL_TOP1_ERR] == 0.8 &&
	   !p.have[QP_PPL_BASE_PPL] && !p.have[QP_PPL_DP_RMS],
	   "old layout: the rest from the last chunk row, top-1 in percent");
	st = parse(plain_log, strlen(plain_log), &p, &e);
	ok(st == 0 && p.mode == QP_PPLOG_PLAIN && p.v[QP_PPL_PPL] == 24.3295 &&
	   p.v[QP_PPL_PPL_ERR] == 0.24253 && p.chunks == 533 && p.ctx == 256 &&
	   !p.have[QP_PPL_KLD_MEAN], "plain run: Final estimate");
	st = qp_pplog_check_model(&p, "m.gguf", 1, 1, 1, &e);
	ok(st == 1 && strstr(e.msg, "names no model"),
	   "check: a log naming no model cannot be checked: %s", e.msg);
}

/* Each case: the log with one edit, and what the message must say. */
static void expect_error(const char *what, const char *text, const char *want)
{
	qp_pplog p;
	qp_err e = {{0}};
	int st = parse(text, strlen(text), &p, &e);
	if (!ok(st < 0 && strstr(e.msg, want), "%s: error with '%s'", what, want))
		diag("status %d, message: %s", st, e.msg);
}

static void test_bad(void)
{
	char *t = malloc(sizeof kld_log * 2 + sizeof plain_log);
	/* the block missing altogether */
	strcpy(t, kld_log);
	*strstr(t, "====== Perplexity") = 0;
	expect_error("no final block", t, "no final statistics block");
	/* the block cut after the KLD table */
	strcpy(t, kld_log);
	*strstr(t, "====== Token") = 0;
	expect_error("block cut short", t, "ends before 'RMS dp'");
	/* cut inside a line */
	strcpy(t, kld_log);
	*strstr(t, "0.083 %") = 0;
	expect_error("inside a line", t, "ends inside a line");
	/* nan */
	strcpy(t, kld_log);
	memcpy(strstr(t, "0.004598"), "    -nan", 8);
	expect_error("nan", t, "'Mean KLD' is nan");
	/* two runs */
	strcpy(t, kld_log);
	strcat(t, strstr(kld_log, "====== KL"));
	expect_error("two runs", t, "a second 'Mean KLD'");
	/* extra text after the numbers */
	strcpy(t, kld_log);
	memcpy(strstr(t, "0.200057"), "0.2x0057", 8);
	expect_error("junk", t, "unexpected 'x0057'");
	/* one number where two are due */
	strcpy(t, kld_log);
	memcpy(strstr(t, "\xc2\xb1   0.000023"), "             ", 13);
	expect_error("lone value", t, "want a value and its error");
	/* plain run without its result */
	strcpy(t, plain_log);
	*strstr(t, "Final") = 0;
	expect_error("plain, no result", t, "no 'Final estimate' line");
	/* not a log */
	expect_error("garbage", "hello\nworld\n", "not a llama-perplexity log");
	expect_error("NUL", "abc\0def\n", "line 1: the log ends inside a line");
	char nul[] = "kl_divergence: computing over 2 chunks\nab\0c\n";
	qp_pplog p;
	qp_err e;
	ok(qp_pplog_parse(nul, sizeof nul - 1, &p, &e) < 0 && strstr(e.msg, "line 2: a NUL"),
	   "a NUL byte names its line: %s", e.msg);
	ok(qp_pplog_parse("", 0, &p, &e) < 0 && strstr(e.msg, "empty"), "empty log");
	/* KL figures in a plain run */
	snprintf(t, sizeof kld_log * 2, "%s%s", plain_log, strstr(kld_log, "====== KL"));
	expect_error("mixed runs", t, "KL-divergence statistics in a plain");
	free(t);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)len + 1);
	if (fread(b, 1, (size_t)len, f) != (size_t)len) {
		free(b);
		fclose(f);
		return NULL;
	}
	fclose(f);
	b[len] = 0;
	*n = (size_t)len;
	return b;
}

/* Every truncation shorter than the end of the last line the result needs
 * fails; the test visits every byte of the head and the tail (where the
 * statistics are) and every line end and every 61st byte in between. */
static void test_truncations(const char *fx, const char *name, const char *last_needed)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/kjv-llama/logs/%s", fx, name);
	size_t n = 0;
	char *b = slurp(path, &n);
	if (!ok(b != NULL, "read %s", name))
		return;
	qp_pplog p;
	qp_err e;
	int st = qp_pplog_parse(b, n, &p, &e);
	if (!ok(st == 0, "%s parses", name))
		diag("%s", e.msg);
	const char *lastp = strstr(b, last_needed);
	size_t need = (size_t)(strchr(lastp, '\n') + 1 - b);
	size_t bad = 0, tried = 0;
	for (size_t len = 0; len < need; len++) {
		bool visit = len < 2048 || need - len < 4096 || len % 61 == 0 ||
			     b[len] == '\n' || (len && b[len - 1] == '\n');
		if (!visit)
			continue;
		tried++;
		if (qp_pplog_parse(b, len, &p, &e) == 0 || !strstr(e.msg, "line ")) {
			if (!bad)
				diag("truncated to %zu bytes: %s", len, e.msg);
			bad++;
		}
	}
	ok(bad == 0, "%s: %zu truncations before byte %zu all fail naming a line",
	   name, tried, need);
	st = qp_pplog_parse(b, need, &p, &e);
	ok(st == 0, "%s: cut right after its last needed line it still parses", name);
	free(b);
}

int main(void)
{
	test_current_layout();
	test_mangled();
	test_old_and_plain();
	test_bad();
	const char *fx = tap_fixtures();
	if (!fx) {
		skip(12, "fixtures not found (../shared/fixtures)");
	} else {
		test_truncations(fx, "F32.ppl.log", "Final estimate");
		test_truncations(fx, "U-Q4_K.ppl.log", "Same top p:");
		test_truncations(fx, "I-Q2_K.ppl.log", "Same top p:");
	}
	done_testing();
	return exit_status();
}
