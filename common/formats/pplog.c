/* pplog.c — reading llama-perplexity logs (see pplog.h).
 *
 * Formats from llama.cpp tools/perplexity/perplexity.cpp: the plain run
 * ends with "Final estimate: PPL = %.4lf +/- %.5lf"; a --kl-divergence run
 * with three tables ("====== Perplexity statistics ======", "====== KL
 * divergence statistics ======", "====== Token probability statistics
 * ======") of "Label : value ± error" lines.  Builds before those tables
 * printed "===== KL-divergence statistics" with "Average:", "Median :",
 * "Maximum:", "KLD_99 :" and nothing else, so the rest comes from the
 * last per-chunk row (its figures are the running totals, i.e. final).
 */
#include "pplog.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_CAP 4096

const char *qp_path_base(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static const char *const field_label[QP_PPL_N_FIELDS] = {
	[QP_PPL_PPL] = "PPL", [QP_PPL_PPL_ERR] = "PPL error",
	[QP_PPL_BASE_PPL] = "Mean PPL(base)",
	[QP_PPL_BASE_PPL_ERR] = "Mean PPL(base) error",
	[QP_PPL_LN_RATIO] = "Mean ln(PPL(Q)/PPL(base))",
	[QP_PPL_LN_RATIO_ERR] = "Mean ln(PPL(Q)/PPL(base)) error",
	[QP_PPL_RATIO] = "Mean PPL(Q)/PPL(base)",
	[QP_PPL_RATIO_ERR] = "Mean PPL(Q)/PPL(base) error",
	[QP_PPL_KLD_MEAN] = "Mean KLD", [QP_PPL_KLD_MEAN_ERR] = "Mean KLD error",
	[QP_PPL_KLD_MEDIAN] = "Median KLD", [QP_PPL_KLD_P99] = "99.0% KLD",
	[QP_PPL_KLD_MAX] = "Maximum KLD", [QP_PPL_TOP1] = "Same top p",
	[QP_PPL_TOP1_ERR] = "Same top p error", [QP_PPL_DP_RMS] = "RMS dp",
	[QP_PPL_DP_RMS_ERR] = "RMS dp error",
};

/* A statistics line: its normalised label, the figure (and its error)
 * it gives, and whether it belongs to the old layout's block. */
typedef struct stat_line {
	const char *label;
	int value, error; /* field indexes; error -1 for a lone value */
	bool old;
} stat_line;

static const stat_line stat_lines[] = {
	{"mean ppl(q)", QP_PPL_PPL, QP_PPL_PPL_ERR, false},
	{"mean ppl(base)", QP_PPL_BASE_PPL, QP_PPL_BASE_PPL_ERR, false},
	{"mean ln(ppl(q)/ppl(base))", QP_PPL_LN_RATIO, QP_PPL_LN_RATIO_ERR, false},
	{"mean ppl(q)/ppl(base)", QP_PPL_RATIO, QP_PPL_RATIO_ERR, false},
	{"mean kld", QP_PPL_KLD_MEAN, QP_PPL_KLD_MEAN_ERR, false},
	{"maximum kld", QP_PPL_KLD_MAX, -1, false},
	{"99.0% kld", QP_PPL_KLD_P99, -1, false},
	{"median kld", QP_PPL_KLD_MEDIAN, -1, false},
	{"rms p", QP_PPL_DP_RMS, QP_PPL_DP_RMS_ERR, false},
	{"rms dp", QP_PPL_DP_RMS, QP_PPL_DP_RMS_ERR, false},
	{"rms delta p", QP_PPL_DP_RMS, QP_PPL_DP_RMS_ERR, false},
	{"same top p", QP_PPL_TOP1, QP_PPL_TOP1_ERR, false},
	{"average", QP_PPL_KLD_MEAN, QP_PPL_KLD_MEAN_ERR, true},
	{"median", QP_PPL_KLD_MEDIAN, -1, true},
	{"maximum", QP_PPL_KLD_MAX, -1, true},
	{"kld_99", QP_PPL_KLD_P99, -1, true},
};

/* What a complete final block holds, in the order llama.cpp prints it. */
static const int kld_required[] = {
	QP_PPL_PPL, QP_PPL_BASE_PPL, QP_PPL_LN_RATIO, QP_PPL_RATIO,
	QP_PPL_KLD_MEAN, QP_PPL_KLD_MAX, QP_PPL_KLD_P99, QP_PPL_KLD_MEDIAN,
	QP_PPL_DP_RMS, QP_PPL_TOP1,
};
static const int old_required[] = {
	QP_PPL_KLD_MEAN, QP_PPL_KLD_MEDIAN, QP_PPL_KLD_MAX, QP_PPL_KLD_P99,
};

/* ---- one line ---------------------------------------------------------- */

/* Copies the line into buf without ANSI colour sequences and carriage
 * returns (at most LINE_CAP - 1 bytes: no line that matters is longer). */
static void clean_line(const char *p, size_t n, char *buf)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o < LINE_CAP - 1; i++) {
		if (p[i] == '\033' && i + 1 < n && p[i + 1] == '[') {
			i += 2;
			while (i < n && !isalpha((unsigned char)p[i]))
				i++;
			continue;
		}
		if (p[i] == '\r')
			continue;
		buf[o++] = p[i];
	}
	buf[o] = 0;
}

/* A timestamp-like token: digits with at least one of . : - T Z, or a
 * bracketed one, followed by a space. */
static size_t stamp_len(const char *s)
{
	size_t i = 0;
	if (s[0] == '[') {
		while (s[i] && s[i] != ']')
			i++;
		return s[i] == ']' && s[i + 1] == ' ' && i > 1 ? i + 2 : 0;
	}
	if (!isdigit((unsigned char)s[0]))
		return 0;
	bool sep = false;
	for (; s[i]; i++) {
		if (isdigit((unsigned char)s[i]))
			continue;
		if (!strchr(".:-TZ+", s[i]))
			break;
		sep = true;
	}
	return sep && s[i] == ' ' ? i + 1 : 0;
}

/* Skips timestamps and a one-letter level ("0.00.017.026 I "). */
static const char *strip_prefix(const char *s)
{
	for (int k = 0; k < 2; k++) {
		size_t n = stamp_len(s);
		if (!n)
			break;
		s += n;
	}
	if (strchr("IWEDT", s[0]) && s[0] && (s[1] == ' ' || s[1] == 0))
		s += s[1] ? 2 : 1;
	return s;
}

/* Lowercase, whitespace collapsed, non-ASCII bytes and '?' dropped (a
 * mangled "Δ"), trimmed. */
static void normalise_label(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	bool space = false;
	for (size_t i = 0; i < n && o + 2 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80 || c == '?')
			continue;
		if (isspace(c)) {
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = false;
		out[o++] = (char)tolower(c);
	}
	out[o] = 0;
}

/* A number as printf prints it (and nan/inf, which are refused later). */
static bool scan_number(const char *s, const char **end, double *v)
{
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (strncasecmp(p, "nan", 3) == 0) {
		*v = NAN;
		*end = p + 3;
		return true;
	}
	if (strncasecmp(p, "inf", 3) == 0) {
		*v = s[0] == '-' ? -INFINITY : INFINITY;
		*end = p + (strncasecmp(p, "infinity", 8) == 0 ? 8 : 3);
		return true;
	}
	const char *d = p;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (p == d || (p == d + 1 && *d == '.'))
		return false;
	if (*p == 'e' || *p == 'E') {
		const char *q = p + 1;
		if (*q == '-' || *q == '+')
			q++;
		if (isdigit((unsigned char)*q)) {
			while (isdigit((unsigned char)*q))
				q++;
			p = q;
		}
	}
	char tmp[64];
	size_t n = (size_t)(p - s);
	if (n >= sizeof tmp)
		return false;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	*v = strtod(tmp, NULL);
	*end = p;
	return true;
}

/* The numbers of "value ± error %" text: separators are any run of
 * non-ASCII bytes (±, its latin-1 or mojibake forms), "+/-", "+-", '%'
 * and '?'.  Returns the count, or -1 with the offending text in bad. */
static int scan_values(const char *s, double *v, int max, char *bad,
		       size_t bad_cap)
{
	int n = 0;
	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return n;
		if ((unsigned char)*s >= 0x80 || *s == '%' || *s == '?') {
			s++;
			continue;
		}
		if (strncmp(s, "+/-", 3) == 0) {
			s += 3;
			continue;
		}
		if (strncmp(s, "+-", 2) == 0 && !isdigit((unsigned char)s[2])) {
			s += 2;
			continue;
		}
		const char *end;
		double x;
		if (!scan_number(s, &end, &x) || n == max) {
			snprintf(bad, bad_cap, "%.32s", s);
			return -1;
		}
		v[n++] = x;
		s = end;
	}
}

/* ---- the parser's state ------------------------------------------------ */

typedef struct parser {
	qp_pplog *out;
	qp_err *e;
	int line;
	bool mode_seen;
	int mode_line;
	bool in_old_block;
	bool in_table;           /* after the KL per-chunk header */
	bool any_block;          /* a statistics header or line was seen */
	int block_line;
	char last_row[LINE_CAP]; /* last per-chunk row of a KL run */
	int last_row_line;
	int cmd_line;
} parser;

static int set_field(parser *ps, int f, double v, const char *label)
{
	qp_pplog *o = ps->out;
	if (o->have[f])
		return qp_fail(ps->e, "line %d: a second '%s' (the first is on line %d): "
			       "two runs in one log?", ps->line, label, o->line[f]);
	if (!isfinite(v))
		return qp_fail(ps->e, "line %d: '%s' is %s, not a number", ps->line,
			       label, isnan(v) ? "nan" : "infinite");
	o->have[f] = true;
	o->v[f] = v;
	o->line[f] = ps->line;
	return 0;
}

static void copy_token(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = 0;
}

/* "$ llama-perplexity -m X ... --kl-divergence-base Y --kl-divergence" */
static int on_command(parser *ps, const char *s)
{
	const char *tok[64];
	size_t len[64];
	int n = 0;
	while (*s && n < 64) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		tok[n] = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		len[n] = (size_t)(s - tok[n]);
		n++;
	}
	if (n == 0)
		return 0;
	char prog[256];
	copy_token(prog, sizeof prog, tok[0], len[0]);
	if (!strstr(qp_path_base(prog), "perplexity"))
		return 0; /* some other command the log shows */
	if (ps->cmd_line)
		return qp_fail(ps->e, "line %d: a second llama-perplexity command (the "
			       "first is on line %d): two runs in one log?", ps->line,
			       ps->cmd_line);
	ps->cmd_line = ps->line;
	for (int i = 1; i + 1 < n; i++) {
		if ((len[i] == 2 && memcmp(tok[i], "-m", 2) == 0) ||
		    (len[i] == 7 && memcmp(tok[i], "--model", 7) == 0)) {
			copy_token(ps->out->model_path, sizeof ps->out->model_path,
				   tok[i + 1], len[i + 1]);
			ps->out->model_path_line = ps->line;
		} else if (len[i] == 20 && memcmp(tok[i], "--kl-divergence-base", 20) == 0) {
			copy_token(ps->out->logits_base, sizeof ps->out->logits_base,
				   tok[i + 1], len[i + 1]);
		}
	}
	return 0;
}

static int set_mode(parser *ps, qp_pplog_mode m, const char *s)
{
	if (ps->mode_seen)
		return qp_fail(ps->e, "line %d: a second run starts here (the first on "
			       "line %d): two runs in one log?", ps->line, ps->mode_line);
	ps->mode_seen = true;
	ps->mode_line = ps->line;
	ps->out->mode = m;
	const char *over = strstr(s, " over ");
	if (over)
		ps->out->chunks = strtoll(over + 6, NULL, 10);
	const char *c = strstr(s, "n_ctx=");
	if (c)
		ps->out->ctx = strtoll(c + 6, NULL, 10);
	if (ps->out->chunks <= 0)
		return qp_fail(ps->e, "line %d: no chunk count in '%.60s'", ps->line, s);
	return 0;
}

/* "...: loaded meta data with K key-value pairs and T tensors from PATH (version V)" */
static int on_loader(parser *ps, const char *s)
{
	const char *and = strstr(s, " pairs and ");
	if (!and)
		return 0;
	char *end;
	errno = 0;
	long long t = strtoll(and + 11, &end, 10);
	if (end == and + 11 || errno || t < 0 || strncmp(end, " tensors", 8) != 0)
		return qp_fail(ps->e, "line %d: cannot read the tensor count of the "
			       "model loader line", ps->line);
	if (ps->out->loader_line && ps->out->loader_tensors != t)
		return qp_fail(ps->e, "line %d: a second model with %lld tensors (the "
			       "first, on line %d, has %lld)", ps->line, t,
			       ps->out->loader_line, (long long)ps->out->loader_tensors);
	ps->out->loader_tensors = t;
	ps->out->loader_line = ps->line;
	const char *from = strstr(end, " from ");
	if (from && !ps->out->model_path[0]) {
		from += 6;
		const char *ver = strstr(from, " (version");
		size_t n = ver ? (size_t)(ver - from) : strlen(from);
		copy_token(ps->out->model_path, sizeof ps->out->model_path, from, n);
		ps->out->model_path_line = ps->line;
	}
	return 0;
}

static int decimals_of(const char *num, const char *end)
{
	const char *dot = memchr(num, '.', (size_t)(end - num));
	return dot ? (int)(end - dot - 1) : 0;
}

/* "print_info: file size   = 2.15 MiB (4.92 BPW)" (older builds:
 * "llm_load_print_meta: model size = ..."). */
static int on_size(parser *ps, const char *s)
{
	const char *eq = strchr(s, '=');
	if (!eq)
		return 0;
	const char *p = eq + 1, *end;
	while (*p == ' ')
		p++;
	double size, bpw;
	if (!scan_number(p, &end, &size))
		goto bad;
	int size_dec = decimals_of(p, end);
	p = end;
	while (*p == ' ')
		p++;
	char unit[4] = "";
	if (strncmp(p, "MiB", 3) == 0 || strncmp(p, "GiB", 3) == 0)
		memcpy(unit, p, 3);
	else
		goto bad;
	p += 3;
	while (*p == ' ')
		p++;
	if (*p++ != '(')
		goto bad;
	if (!scan_number(p, &end, &bpw) || strncmp(end, " BPW)", 5) != 0)
		goto bad;
	if (ps->out->have_size)
		return qp_fail(ps->e, "line %d: a second model size line (the first is on "
			       "line %d)", ps->line, ps->out->size_line);
	ps->out->have_size = true;
	ps->out->size_value = size;
	ps->out->size_decimals = size_dec;
	memcpy(ps->out->size_unit, unit, 4);
	ps->out->size_bpw = bpw;
	ps->out->size_bpw_decimals = decimals_of(p, end);
	ps->out->size_line = ps->line;
	return 0;
bad:
	return qp_fail(ps->e, "line %d: cannot read the model size line '%.60s'",
		       ps->line, s);
}

/* "Final estimate: PPL = 24.3295 +/- 0.24253" */
static int on_final(parser *ps, const char *s)
{
	const char *eq = strchr(s, '=');
	double v[2];
	char bad[40];
	int n = eq ? scan_values(eq + 1, v, 2, bad, sizeof bad) : -1;
	if (n != 2)
		return qp_fail(ps->e, "line %d: cannot read 'Final estimate: PPL = X +/- Y'",
			       ps->line);
	if (ps->out->mode == QP_PPLOG_KLD && ps->mode_seen)
		return qp_fail(ps->e, "line %d: a plain perplexity result in a "
			       "--kl-divergence run's log", ps->line);
	if (set_field(ps, QP_PPL_PPL, v[0], "Final estimate") < 0 ||
	    set_field(ps, QP_PPL_PPL_ERR, v[1], "Final estimate") < 0)
		return -1;
	return 0;
}

/* "Label : value [± error] [%]" of a statistics block. 1 when the line
 * was one, 0 when not. */
static int on_stat(parser *ps, const char *s)
{
	const char *colon = strchr(s, ':');
	if (!colon)
		return 0;
	char label[96];
	normalise_label(s, (size_t)(colon - s), label, sizeof label);
	const stat_line *sl = NULL;
	for (size_t i = 0; i < sizeof stat_lines / sizeof stat_lines[0]; i++)
		if (strcmp(label, stat_lines[i].label) == 0 &&
		    stat_lines[i].old == ps->in_old_block) {
			sl = &stat_lines[i];
			break;
		}
	if (!sl)
		return 0;
	double v[4];
	char bad[40];
	int want = sl->error >= 0 ? 2 : 1;
	int n = scan_values(colon + 1, v, 4, bad, sizeof bad);
	if (n < 0)
		return qp_fail(ps->e, "line %d: '%s': unexpected '%s'", ps->line,
			       field_label[sl->value], bad);
	if (n != want)
		return qp_fail(ps->e, "line %d: '%s' has %d number%s, want %s",
			       ps->line, field_label[sl->value], n, n == 1 ? "" : "s",
			       want == 2 ? "a value and its error" : "one");
	if (!ps->any_block) {
		ps->any_block = true;
		ps->block_line = ps->line;
	}
	if (set_field(ps, sl->value, v[0], field_label[sl->value]) < 0)
		return -1;
	if (sl->error >= 0 && set_field(ps, sl->error, v[1], field_label[sl->error]) < 0)
		return -1;
	return 1;
}

/* Decimal text scaled by 100 without rounding through binary: shifts the
 * point of the printed digits (old layout prints top-1 as a fraction). */
static double percent_of_text(double frac)
{
	char t[64], u[80];
	snprintf(t, sizeof t, "%.10g", frac);
	/* %.10g of a value read from <= 10 significant digits gives them back */
	char *e = strpbrk(t, "eE");
	if (e)
		return frac * 100.0;
	char *dot = strchr(t, '.');
	if (!dot)
		return frac * 100.0;
	size_t ip = (size_t)(dot - t);
	char frac_digits[64];
	snprintf(frac_digits, sizeof frac_digits, "%s", dot + 1);
	while (strlen(frac_digits) < 2)
		strcat(frac_digits, "0");
	snprintf(u, sizeof u, "%.*s%.2s.%s", (int)ip, t, frac_digits, frac_digits + 2);
	return strtod(u, NULL);
}

/* The old layout's last per-chunk row: "N  ppl  ln ± err  kld ± err  top ± err". */
static int from_last_row(parser *ps)
{
	qp_pplog *o = ps->out;
	if (!ps->last_row_line)
		return qp_fail(ps->e, "line %d: the old-layout KL statistics have no "
			       "per-chunk rows before them", ps->block_line);
	double v[12];
	char bad[40];
	int n = scan_values(ps->last_row, v, 12, bad, sizeof bad);
	int saved = ps->line;
	ps->line = ps->last_row_line;
	if (n != 8 && n != 11) {
		ps->line = saved;
		return qp_fail(ps->e, "line %d: cannot read the last per-chunk row",
			       ps->last_row_line);
	}
	if (o->chunks > 0 && v[0] != (double)o->chunks) {
		ps->line = saved;
		return qp_fail(ps->e, "line %d: the last per-chunk row is chunk %.0f of "
			       "%lld", ps->last_row_line, v[0], (long long)o->chunks);
	}
	int st = 0;
	if (n == 8) { /* N ppl ln err kld err top err */
		st = set_field(ps, QP_PPL_PPL, v[1], "PPL") ||
		     set_field(ps, QP_PPL_LN_RATIO, v[2], "ln ratio") ||
		     set_field(ps, QP_PPL_LN_RATIO_ERR, v[3], "ln ratio error") ||
		     set_field(ps, QP_PPL_TOP1, percent_of_text(v[6]), "Same top") ||
		     set_field(ps, QP_PPL_TOP1_ERR, percent_of_text(v[7]), "Same top error");
	} else { /* N ppl err ln err kld err dp err top err */
		st = set_field(ps, QP_PPL_PPL, v[1], "PPL") ||
		     set_field(ps, QP_PPL_PPL_ERR, v[2], "PPL error") ||
		     set_field(ps, QP_PPL_LN_RATIO, v[3], "ln ratio") ||
		     set_field(ps, QP_PPL_LN_RATIO_ERR, v[4], "ln ratio error") ||
		     set_field(ps, QP_PPL_DP_RMS, v[7], "RMS dp") ||
		     set_field(ps, QP_PPL_DP_RMS_ERR, v[8], "RMS dp error") ||
		     set_field(ps, QP_PPL_TOP1, v[9], "Same top p") ||
		     set_field(ps, QP_PPL_TOP1_ERR, v[10], "Same top p error");
	}
	ps->line = saved;
	return st ? -1 : 0;
}

static bool is_row(const char *s)
{
	while (*s == ' ')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	while (isdigit((unsigned char)*s))
		s++;
	return *s == ' ';
}

static int on_line(parser *ps, const char *raw)
{
	qp_pplog *o = ps->out;
	if (raw[0] == '$' && raw[1] == ' ')
		return on_command(ps, raw + 2);
	const char *s = strip_prefix(raw);
	while (*s == ' ' || *s == '\t')
		s++;
	if (strstr(s, "loaded meta data with "))
		return on_loader(ps, s);
	if ((strstr(s, "file size") || strstr(s, "model size")) && strstr(s, "BPW)"))
		return on_size(ps, s);
	if (strstr(s, "calculating perplexity over "))
		return set_mode(ps, QP_PPLOG_PLAIN, s);
	if (strstr(s, "kl_divergence: computing over "))
		return set_mode(ps, QP_PPLOG_KLD, s);
	if (strncmp(s, "perplexity: saving all logits to ", 33) == 0) {
		snprintf(o->logits_saved, sizeof o->logits_saved, "%s", s + 33);
		return 0;
	}
	if (strncmp(s, "Final estimate:", 15) == 0)
		return on_final(ps, s);
	if (s[0] == '=' && strstr(s, "statistics")) {
		ps->in_table = false;
		ps->in_old_block = strstr(s, "KL-divergence statistics") != NULL;
		if (ps->in_old_block)
			o->old_layout = true;
		if (!ps->any_block) {
			ps->any_block = true;
			ps->block_line = ps->line;
		}
		return 0;
	}
	if (strncmp(s, "chunk ", 6) == 0 && strstr(s, "PPL")) {
		ps->in_table = true;
		return 0;
	}
	if (ps->in_table && is_row(raw)) {
		snprintf(ps->last_row, sizeof ps->last_row, "%s", raw);
		ps->last_row_line = ps->line;
		return 0;
	}
	int st = on_stat(ps, s);
	return st < 0 ? -1 : 0;
}

/* ---- the whole log ----------------------------------------------------- */

static int check_complete(parser *ps)
{
	qp_pplog *o = ps->out;
	int last = o->n_lines;
	if (o->old_layout && from_last_row(ps) < 0)
		return -1;
	bool any_kld = false;
	for (int f = QP_PPL_BASE_PPL; f < QP_PPL_N_FIELDS; f++)
		any_kld |= o->have[f];
	if (!ps->mode_seen) {
		if (!any_kld && !o->have[QP_PPL_PPL])
			return qp_fail(ps->e, "line %d: not a llama-perplexity log (no "
				       "'calculating perplexity over' or 'kl_divergence: "
				       "computing over' line, no final statistics)", last ? last : 1);
		o->mode = any_kld ? QP_PPLOG_KLD : QP_PPLOG_PLAIN;
	}
	if (o->mode == QP_PPLOG_PLAIN) {
		if (any_kld)
			return qp_fail(ps->e, "line %d: KL-divergence statistics in a plain "
				       "perplexity run's log", ps->block_line);
		if (!o->have[QP_PPL_PPL])
			return qp_fail(ps->e, "line %d: no 'Final estimate' line after the run "
				       "that starts on line %d: the log is truncated or "
				       "llama-perplexity stopped before printing its result",
				       last, ps->mode_line);
		return 0;
	}
	const int *req = o->old_layout ? old_required : kld_required;
	size_t n_req = o->old_layout ? sizeof old_required / sizeof *old_required
				     : sizeof kld_required / sizeof *kld_required;
	if (!ps->any_block)
		return qp_fail(ps->e, "line %d: no final statistics block after the run "
			       "that starts on line %d: the log is truncated or "
			       "llama-perplexity stopped before printing it", last,
			       ps->mode_line);
	for (size_t i = 0; i < n_req; i++)
		if (!o->have[req[i]])
			return qp_fail(ps->e, "line %d: the final statistics block (from line "
				       "%d) ends before '%s': truncated log?", last,
				       ps->block_line, field_label[req[i]]);
	return 0;
}

int qp_pplog_parse(const char *text, size_t len, qp_pplog *out, qp_err *e)
{
	memset(out, 0, sizeof *out);
	out->ctx = out->chunks = -1;
	out->loader_tensors = -1;
	if (len == 0)
		return qp_fail(e, "line 1: the log is empty");
	parser *ps = calloc(1, sizeof *ps);
	char *buf = malloc(LINE_CAP);
	if (!ps || !buf) {
		free(ps);
		free(buf);
		return qp_fail(e, "out of memory");
	}
	ps->out = out;
	ps->e = e;
	int st = 0;
	const char *p = text, *end = text + len;
	while (p < end && st == 0) {
		ps->line++;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (memchr(p, 0, n)) {
			st = qp_fail(e, "line %d: a NUL byte: not a text log", ps->line);
			break;
		}
		if (!nl) {
			st = qp_fail(e, "line %d: the log ends inside a line: truncated",
				     ps->line);
			break;
		}
		clean_line(p, n, buf);
		st = on_line(ps, buf);
		p = nl + 1;
	}
	out->n_lines = ps->line;
	if (st == 0)
		st = check_complete(ps);
	free(buf);
	free(ps);
	return st;
}

/* ---- does the log belong to this file? --------------------------------- */

int qp_pplog_check_model(const qp_pplog *p, const char *gguf_name,
			 uint64_t n_tensors, uint64_t n_bytes, uint64_t n_elem,
			 qp_err *e)
{
	const char *base = qp_path_base(gguf_name);
	if (p->loader_tensors >= 0 && (uint64_t)p->loader_tensors != n_tensors)
		return qp_fail(e, "line %d: the run loaded a model of %lld tensors, %s "
			       "has %llu: the log is not a run of this file",
			       p->loader_line, (long long)p->loader_tensors, base,
			       (unsigned long long)n_tensors);
	if (p->have_size) {
		double div = strcmp(p->size_unit, "GiB") == 0 ? 1024.0 * 1024.0 * 1024.0
							      : 1024.0 * 1024.0;
		char want_size[48], got_size[48], want_bpw[48], got_bpw[48];
		snprintf(want_size, sizeof want_size, "%.*f", p->size_decimals, n_bytes / div);
		snprintf(got_size, sizeof got_size, "%.*f", p->size_decimals, p->size_value);
		double bpw = n_elem ? n_bytes * 8.0 / (double)n_elem : 0;
		snprintf(want_bpw, sizeof want_bpw, "%.*f", p->size_bpw_decimals, bpw);
		snprintf(got_bpw, sizeof got_bpw, "%.*f", p->size_bpw_decimals, p->size_bpw);
		if (strcmp(want_size, got_size) != 0 || strcmp(want_bpw, got_bpw) != 0)
			return qp_fail(e, "line %d: the run loaded a model of %s %s (%s BPW), "
				       "%s is %s %s (%s BPW): the log is not a run of this file",
				       p->size_line, got_size, p->size_unit, got_bpw, base,
				       want_size, p->size_unit, want_bpw);
	}
	if (p->loader_tensors >= 0 || p->have_size)
		return 0;
	if (!p->model_path[0]) {
		qp_fail(e, "the log names no model (no model loader lines, no command "
			"line): cannot check that it is a run of %s (llama-perplexity "
			"-lv 4 prints the loader lines)", base);
		return 1;
	}
	if (strcmp(qp_path_base(p->model_path), base) != 0)
		return qp_fail(e, "line %d: the run measured '%s', not %s",
			       p->model_path_line, qp_path_base(p->model_path), base);
	return 0;
}
