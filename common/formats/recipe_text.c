/* recipe_text.c — recipe text format, tensor-type files, and the rules
 * that state an assignment readably. */
#include "recipe_text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llq_mix.h"
#include "types.h"

void qp_rtext_free(qp_rtext *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].regex);
		free(r->v[i].llama);
		regfree(&r->v[i].re);
	}
	free(r->v);
	memset(r, 0, sizeof *r);
}

long qp_rtext_match(const qp_rtext *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (regexec(&r->v[i].re, name, 0, NULL, 0) == 0)
			return (long)i;
	return -1;
}

/* Compiles ^(regex)$ and appends the rule; takes ownership of regex and
 * llama (freed on failure too). */
static int rule_add(qp_rtext *r, char *regex, char *llama, uint32_t type,
		    int line, qp_err *e)
{
	int st = 0;
	size_t len = strlen(regex);
	char *anchored = malloc(len + 5);
	if (!anchored) {
		st = qp_fail(e, "out of memory");
		goto fail;
	}
	snprintf(anchored, len + 5, "^(%s)$", regex);
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		qp_rtext_rule *v = realloc(r->v, cap * sizeof *v);
		if (!v) {
			st = qp_fail(e, "out of memory");
			goto fail;
		}
		r->v = v;
		r->cap = cap;
	}
	qp_rtext_rule *rule = &r->v[r->n];
	int rc = regcomp(&rule->re, anchored, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char msg[128];
		regerror(rc, &rule->re, msg, sizeof msg);
		st = qp_fail(e, "the regex \"%s\" does not compile: %s", regex,
			     msg);
		goto fail;
	}
	free(anchored);
	rule->regex = regex;
	rule->llama = llama;
	rule->type = type;
	rule->line = line;
	r->n++;
	return 0;
fail:
	free(anchored);
	free(regex);
	free(llama);
	return st;
}

/* ---- reading ----------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The next line of text[*pos..len): start and length without the
 * newline, leading and trailing blanks trimmed.  false at the end. */
static bool next_line(const char *text, size_t len, size_t *pos,
		      const char **start, size_t *n)
{
	if (*pos >= len)
		return false;
	const char *p = text + *pos;
	const char *nl = memchr(p, '\n', len - *pos);
	size_t raw = nl ? (size_t)(nl - p) : len - *pos;
	*pos += raw + (nl ? 1 : 0);
	while (raw && is_blank(*p)) {
		p++;
		raw--;
	}
	while (raw && is_blank(p[raw - 1]))
		raw--;
	*start = p;
	*n = raw;
	return true;
}

static bool starts_with(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && memcmp(p, prefix, k) == 0;
}

int qp_rtext_sniff(const char *text, size_t len)
{
	size_t pos = 0, n;
	const char *line;
	while (next_line(text, len, &pos, &line, &n))
		if (n)
			return starts_with(line, n, "# quantpipe recipe");
	return 0;
}

static int parse_header(const char *line, size_t n, int lineno, qp_err *e)
{
	if (!starts_with(line, n, "# quantpipe recipe"))
		return qp_fail(e, "line %d: not a quantpipe recipe (its first "
			       "line must be \"" QP_RTEXT_HEADER "\")", lineno);
	const char *v = line + strlen("# quantpipe recipe");
	size_t vn = n - strlen("# quantpipe recipe");
	while (vn && is_blank(*v)) {
		v++;
		vn--;
	}
	if (!(vn == 1 && *v == '1'))
		return qp_fail(e, "line %d: recipe format version \"%.*s\" is "
			       "not supported (this reads version 1)", lineno,
			       (int)(vn > 32 ? 32 : vn), v);
	return 0;
}

static const qp_type_info *type_named(const char *p, size_t n)
{
	char tn[32];
	if (n == 0 || n >= sizeof tn)
		return NULL;
	memcpy(tn, p, n);
	tn[n] = '\0';
	const qp_type_info *ti = qp_type_info_by_name(tn);
	return ti && !ti->removed ? ti : NULL;
}

int qp_rtext_parse(const char *text, size_t len, qp_rtext *out, qp_err *e)
{
	memset(out, 0, sizeof *out);
	if (memchr(text, '\0', len)) {
		size_t at = (size_t)((const char *)memchr(text, '\0', len) - text);
		int line = 1;
		for (size_t i = 0; i < at; i++)
			line += text[i] == '\n';
		return qp_fail(e, "line %d: a NUL byte", line);
	}
	size_t pos = 0, n;
	const char *line;
	int lineno = 0;
	bool header = false;
	while (next_line(text, len, &pos, &line, &n)) {
		lineno++;
		if (n == 0)
			continue;
		if (!header) {
			if (parse_header(line, n, lineno, e))
				goto fail;
			header = true;
			continue;
		}
		if (*line == '#')
			continue;
		const char *eq = NULL;
		for (size_t i = n; i-- > 0;)
			if (line[i] == '=') {
				eq = line + i;
				break;
			}
		if (!eq) {
			qp_fail(e, "line %d: \"%.*s\" is not REGEX=TYPE", lineno,
				(int)(n > 80 ? 80 : n), line);
			goto fail;
		}
		size_t rn = (size_t)(eq - line);
		while (rn && is_blank(line[rn - 1]))
			rn--;
		const char *tp = eq + 1;
		size_t tn = n - (size_t)(tp - line);
		while (tn && is_blank(*tp)) {
			tp++;
			tn--;
		}
		if (rn == 0) {
			qp_fail(e, "line %d: an empty pattern", lineno);
			goto fail;
		}
		const qp_type_info *ti = type_named(tp, tn);
		if (!ti) {
			qp_fail(e, "line %d: unknown type \"%.*s\"", lineno,
				(int)(tn > 32 ? 32 : tn), tp);
			goto fail;
		}
		char *regex = strndup(line, rn);
		if (!regex) {
			qp_fail(e, "out of memory");
			goto fail;
		}
		if (qp_llq_regex_check(regex, e)) {
			free(regex);
			qp_fail_prefix(e, "line %d", lineno);
			goto fail;
		}
		if (rule_add(out, regex, NULL, ti->id, lineno, e)) {
			qp_fail_prefix(e, "line %d", lineno);
			goto fail;
		}
	}
	if (!header) {
		qp_fail(e, "empty: not a quantpipe recipe (no \"" QP_RTEXT_HEADER
			"\" line)");
		goto fail;
	}
	return 0;
fail:
	qp_rtext_free(out);
	return -1;
}

int qp_ttfile_parse(const char *text, size_t len, struct qp_llq_rules *out,
		    qp_err *e)
{
	int line = 1;
	size_t i = 0;
	while (i < len) {
		/* std::ifstream >> std::string: tokens split at isspace */
		if (isspace((unsigned char)text[i])) {
			line += text[i] == '\n';
			i++;
			continue;
		}
		size_t start = i;
		while (i < len && !isspace((unsigned char)text[i]))
			i++;
		size_t n = i - start;
		if (memchr(text + start, '\0', n))
			return qp_fail(e, "line %d: a NUL byte", line);
		char *tok = strndup(text + start, n);
		if (!tok)
			return qp_fail(e, "out of memory");
		int st = qp_llq_rules_add(out, tok, e);
		free(tok);
		if (st)
			return qp_fail_prefix(e, "line %d", line);
	}
	return 0;
}

/* ---- compressing an assignment into rules ------------------------------ */

/* Appends s escaped: for the ERE when llama is false, for llama-quantize
 * (lower-cased ECMAScript, a whitespace-separated token, no '=' or ',')
 * when it is true. */
static void escape(qp_buf *b, const char *s, size_t n, bool llama)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (strchr(".[]()*+?{}|^$\\", c)) {
			qp_buf_putc(b, '\\');
			qp_buf_putc(b, c);
		} else if (llama && isupper((unsigned char)c)) {
			qp_buf_putc(b, '.'); /* the pattern is lower-cased */
		} else if (llama && (isspace((unsigned char)c) || c == '=' ||
				     c == ',' || c == '#' || !isprint((unsigned char)c))) {
			qp_buf_printf(b, "\\x%02x", (unsigned char)c);
		} else {
			qp_buf_putc(b, c);
		}
	}
}

typedef struct layered {
	const char *rest;       /* after "blk.N." */
	size_t *members;        /* tensor indices, in order */
	size_t n, cap;
	uint32_t common;        /* the group's commonest type */
	char *signature;        /* types by layer, for joining groups */
	bool joined;            /* merged into an earlier group */
} layered;

/* "blk.<digits>." names: the digits' span and the rest. */
static bool split_layer(const char *name, size_t *num_len, const char **rest)
{
	if (strncmp(name, "blk.", 4) != 0)
		return false;
	size_t k = 0;
	while (isdigit((unsigned char)name[4 + k]))
		k++;
	if (k == 0 || name[4 + k] != '.' || !name[5 + k])
		return false;
	*num_len = k;
	*rest = name + 5 + k;
	return true;
}

static uint32_t commonest(const uint32_t *types, const size_t *idx, size_t n,
			  uint32_t prefer)
{
	uint32_t best = QP_LLQ_NO_TYPE;
	size_t best_n = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t t = types[idx[i]];
		size_t c = 0;
		for (size_t j = 0; j < n; j++)
			c += types[idx[j]] == t;
		if (c > best_n || (c == best_n && (t == prefer ||
		    (best != prefer && t < best)))) {
			best = t;
			best_n = c;
		}
	}
	return best;
}

static int push_index(size_t **v, size_t *n, size_t *cap, size_t x)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		size_t *p = realloc(*v, c * sizeof *p);
		if (!p)
			return -1;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

/* Layer numbers as a readable alternation: runs inside one decade of
 * three or more become a bracket ("1[0-5]"), the rest are listed. */
static void layer_list(qp_buf *b, const char *const *names, const size_t *idx,
		       size_t n, bool llama)
{
	long *num = malloc((n ? n : 1) * sizeof *num);
	bool canonical = num != NULL;
	for (size_t i = 0; canonical && i < n; i++) {
		size_t k;
		const char *rest;
		split_layer(names[idx[i]], &k, &rest);
		const char *d = names[idx[i]] + 4;
		if ((k > 1 && d[0] == '0') || k > 6)
			canonical = false;
		else
			num[i] = strtol(d, NULL, 10);
		if (canonical && i > 0 && num[i] <= num[i - 1])
			canonical = false;
	}
	bool first = true;
	if (!canonical) {
		for (size_t i = 0; i < n; i++) {
			size_t k;
			const char *rest;
			split_layer(names[idx[i]], &k, &rest);
			if (!first)
				qp_buf_putc(b, '|');
			escape(b, names[idx[i]] + 4, k, llama);
			first = false;
		}
		free(num);
		return;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && num[j + 1] == num[j] + 1 &&
		       num[j + 1] / 10 == num[i] / 10)
			j++;
		if (!first)
			qp_buf_putc(b, '|');
		first = false;
		if (j - i + 1 >= 3) {
			if (num[i] >= 10)
				qp_buf_printf(b, "%ld", num[i] / 10);
			qp_buf_printf(b, "[%ld-%ld]", num[i] % 10, num[j] % 10);
		} else {
			for (size_t k = i; k <= j; k++)
				qp_buf_printf(b, "%s%ld", k > i ? "|" : "", num[k]);
		}
		i = j + 1;
	}
	free(num);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), k = strlen(suffix);
	return a >= k && strcmp(s + a - k, suffix) == 0;
}

/* "(a|b)\.weight", or the one name escaped. */
static void alternation(qp_buf *b, const char *const *parts, size_t n,
			bool llama)
{
	if (n == 1) {
		escape(b, parts[0], strlen(parts[0]), llama);
		return;
	}
	bool weight = true;
	for (size_t i = 0; i < n; i++)
		weight = weight && ends_with(parts[i], ".weight") &&
			 strlen(parts[i]) > 7;
	qp_buf_putc(b, '(');
	for (size_t i = 0; i < n; i++) {
		if (i)
			qp_buf_putc(b, '|');
		size_t len = strlen(parts[i]) - (weight ? 7 : 0);
		escape(b, parts[i], len, llama);
	}
	qp_buf_putc(b, ')');
	if (weight)
		escape(b, ".weight", 7, llama);
}

/* Adds one generated rule given both spellings. */
static int add_generated(qp_rtext *r, qp_buf *ere, qp_buf *llama,
			 uint32_t type, qp_err *e)
{
	if (ere->oom || llama->oom) {
		qp_buf_free(ere);
		qp_buf_free(llama);
		return qp_fail(e, "out of memory");
	}
	char *a = ere->p, *b = llama->p;
	*ere = (qp_buf){0};
	*llama = (qp_buf){0};
	return rule_add(r, a, b, type, 0, e);
}

/* A rule for the layers idx[0..n) of the joined roles. */
static int layered_rule(qp_rtext *r, const char *const *names,
			const size_t *idx, size_t n, const char *const *rests,
			size_t n_rests, uint32_t type, bool all_layers,
			qp_err *e)
{
	qp_buf ere = {0}, ll = {0};
	for (int pass = 0; pass < 2; pass++) {
		qp_buf *b = pass ? &ll : &ere;
		if (pass)
			qp_buf_putc(b, '^');
		qp_buf_puts(b, "blk\\.");
		if (all_layers) {
			qp_buf_puts(b, "[0-9]+");
		} else {
			qp_buf_putc(b, '(');
			layer_list(b, names, idx, n, pass);
			qp_buf_putc(b, ')');
		}
		qp_buf_puts(b, "\\.");
		alternation(b, rests, n_rests, pass);
		if (pass)
			qp_buf_putc(b, '$');
	}
	return add_generated(r, &ere, &ll, type, e);
}

/* Types by layer of one role, as a string: groups with the same string
 * get the same rules and are joined into one alternation. */
static char *signature_of(const char *const *names, const uint32_t *types,
			  const layered *g)
{
	qp_buf b = {0};
	qp_buf_printf(&b, "%u;", g->common);
	for (size_t i = 0; i < g->n; i++) {
		size_t k;
		const char *rest;
		split_layer(names[g->members[i]], &k, &rest);
		qp_buf_printf(&b, "%.*s=%u,", (int)k, names[g->members[i]] + 4,
			      types[g->members[i]]);
	}
	if (b.oom) {
		qp_buf_free(&b);
		return NULL;
	}
	return b.p;
}

static int exact_rules(const char *const *names, const uint32_t *types,
		       const bool *decided, size_t n, qp_rtext *out, qp_err *e)
{
	for (size_t i = 0; i < n; i++) {
		if (!decided[i])
			continue;
		qp_buf ere = {0}, ll = {0};
		escape(&ere, names[i], strlen(names[i]), false);
		qp_buf_putc(&ll, '^');
		escape(&ll, names[i], strlen(names[i]), true);
		qp_buf_putc(&ll, '$');
		if (add_generated(out, &ere, &ll, types[i], e))
			return -1;
	}
	return 0;
}

static bool rules_reproduce(const qp_rtext *r, const char *const *names,
			    const uint32_t *types, const bool *decided,
			    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!decided[i])
			continue;
		long k = qp_rtext_match(r, names[i]);
		if (k < 0 || r->v[k].type != types[i])
			return false;
	}
	return true;
}

static int compress(const char *const *names, const uint32_t *types,
		    const bool *decided, size_t n, qp_rtext *out,
		    layered **groups_out, size_t *n_groups_out, qp_err *e)
{
	size_t *all = NULL, n_all = 0, cap_all = 0;
	size_t *globals = NULL, n_glob = 0, cap_glob = 0;
	layered *groups = NULL;
	size_t n_groups = 0, cap_groups = 0;
	const char **parts = NULL;
	size_t *sel = NULL;
	int st = -1;
	for (size_t i = 0; i < n; i++) {
		if (!decided[i])
			continue;
		if (push_index(&all, &n_all, &cap_all, i))
			goto oom;
		size_t k;
		const char *rest;
		if (!split_layer(names[i], &k, &rest)) {
			if (push_index(&globals, &n_glob, &cap_glob, i))
				goto oom;
			continue;
		}
		size_t g = 0;
		while (g < n_groups && strcmp(groups[g].rest, rest) != 0)
			g++;
		if (g == n_groups) {
			if (n_groups == cap_groups) {
				size_t c = cap_groups ? cap_groups * 2 : 16;
				layered *p = realloc(groups, c * sizeof *p);
				if (!p)
					goto oom;
				groups = p;
				cap_groups = c;
			}
			groups[n_groups++] = (layered){.rest = rest};
		}
		if (push_index(&groups[g].members, &groups[g].n, &groups[g].cap, i))
			goto oom;
	}
	*groups_out = groups;
	*n_groups_out = n_groups;
	if (n_all == 0) {
		st = 0;
		goto done;
	}
	uint32_t dflt = commonest(types, all, n_all, QP_LLQ_NO_TYPE);
	parts = malloc((n_all + 1) * sizeof *parts);
	sel = malloc((n_all + 1) * sizeof *sel);
	if (!parts || !sel)
		goto oom;
	/* global tensors not of the default type, joined by type */
	for (size_t i = 0; i < n_glob; i++) {
		uint32_t t = types[globals[i]];
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = types[globals[j]] == t;
		if (seen || t == dflt)
			continue;
		size_t np = 0;
		for (size_t j = i; j < n_glob; j++)
			if (types[globals[j]] == t)
				parts[np++] = names[globals[j]];
		qp_buf ere = {0}, ll = {0};
		alternation(&ere, parts, np, false);
		qp_buf_putc(&ll, '^');
		alternation(&ll, parts, np, true);
		qp_buf_putc(&ll, '$');
		if (add_generated(out, &ere, &ll, t, e))
			goto done;
	}
	/* roles across layers */
	for (size_t g = 0; g < n_groups; g++) {
		groups[g].common = commonest(types, groups[g].members,
					     groups[g].n, dflt);
		if (!(groups[g].signature = signature_of(names, types, &groups[g])))
			goto oom;
	}
	for (size_t g = 0; g < n_groups; g++) {
		if (groups[g].joined)
			continue;
		size_t np = 0;
		for (size_t h = g; h < n_groups; h++)
			if (h == g || (!groups[h].joined &&
				       strcmp(groups[h].signature,
					      groups[g].signature) == 0)) {
				groups[h].joined = h != g;
				parts[np++] = groups[h].rest;
			}
		const layered *G = &groups[g];
		for (size_t i = 0; i < G->n; i++) {
			uint32_t t = types[G->members[i]];
			bool seen = t == G->common;
			for (size_t j = 0; j < i && !seen; j++)
				seen = types[G->members[j]] == t;
			if (seen)
				continue;
			size_t ns = 0;
			for (size_t j = i; j < G->n; j++)
				if (types[G->members[j]] == t)
					sel[ns++] = G->members[j];
			if (layered_rule(out, names, sel, ns, parts, np, t,
					 false, e))
				goto done;
		}
		if (G->common != dflt &&
		    layered_rule(out, names, NULL, 0, parts, np, G->common,
				 true, e))
			goto done;
	}
	qp_buf ere = {0}, ll = {0};
	qp_buf_puts(&ere, ".*");
	qp_buf_puts(&ll, ".*");
	if (add_generated(out, &ere, &ll, dflt, e))
		goto done;
	st = 0;
	goto done;
oom:
	st = qp_fail(e, "out of memory");
done:
	free(all);
	free(globals);
	free(parts);
	free(sel);
	return st;
}

int qp_rtext_compress(const char *const *names, const uint32_t *types,
		      const bool *decided, size_t n, qp_rtext *out, qp_err *e)
{
	memset(out, 0, sizeof *out);
	layered *groups = NULL;
	size_t n_groups = 0;
	int st = compress(names, types, decided, n, out, &groups, &n_groups, e);
	for (size_t g = 0; g < n_groups; g++) {
		free(groups[g].members);
		free(groups[g].signature);
	}
	free(groups);
	if (st == 0 && !rules_reproduce(out, names, types, decided, n)) {
		/* cannot happen with names the splitter understands; if it
		 * does, one exact rule per tensor is still right */
		qp_rtext_free(out);
		st = exact_rules(names, types, decided, n, out, e);
	}
	if (st)
		qp_rtext_free(out);
	return st;
}

/* ---- writers ----------------------------------------------------------- */

static const char *type_name(uint32_t type, char *buf)
{
	return qp_type_name(type, buf);
}

static void lower_type(qp_buf *b, uint32_t type)
{
	char buf[16];
	for (const char *p = type_name(type, buf); *p; p++)
		qp_buf_putc(b, (char)tolower((unsigned char)*p));
}

static const char *llama_pattern(const qp_rtext_rule *rule)
{
	return rule->llama ? rule->llama : rule->regex;
}

void qp_rtext_write(const qp_rtext *r, const char *const *comments,
		    size_t n_comments, qp_buf *b)
{
	char buf[16];
	qp_buf_puts(b, QP_RTEXT_HEADER "\n");
	for (size_t i = 0; i < n_comments; i++)
		qp_buf_printf(b, "# %s\n", comments[i]);
	for (size_t i = 0; i < r->n; i++)
		qp_buf_printf(b, "%s=%s\n", r->v[i].regex,
			      type_name(r->v[i].type, buf));
}

void qp_rtext_write_ttfile(const qp_rtext *r, qp_buf *b)
{
	for (size_t i = 0; i < r->n; i++) {
		qp_buf_printf(b, "%s=", llama_pattern(&r->v[i]));
		lower_type(b, r->v[i].type);
		qp_buf_putc(b, '\n');
	}
}

static void shell_quote(qp_buf *b, const char *s)
{
	qp_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			qp_buf_puts(b, "'\\''");
		else
			qp_buf_putc(b, *s);
	}
	qp_buf_putc(b, '\'');
}

void qp_rtext_write_args(const qp_rtext *r, bool pure, const char *ftype,
			 qp_buf *b)
{
	bool first = true;
	if (pure) {
		qp_buf_puts(b, "--pure");
		first = false;
	}
	for (size_t i = 0; i < r->n; i++) {
		qp_buf tok = {0};
		qp_buf_printf(&tok, "%s=", llama_pattern(&r->v[i]));
		lower_type(&tok, r->v[i].type);
		qp_buf_printf(b, "%s--tensor-type ", first ? "" : " ");
		shell_quote(b, tok.oom ? "" : tok.p);
		if (tok.oom)
			b->oom = true;
		qp_buf_free(&tok);
		first = false;
	}
	qp_buf_printf(b, "\n%s\n", ftype);
}

void qp_rtext_write_custom_q(const qp_rtext *r, qp_buf *b)
{
	for (size_t i = 0; i < r->n; i++) {
		qp_buf_printf(b, "%s%s=", i ? "," : "", llama_pattern(&r->v[i]));
		lower_type(b, r->v[i].type);
	}
	qp_buf_putc(b, '\n');
}
