/* llq_mix.c — llama-quantize's per-tensor type choice, for every ftype.
 *
 * Read from llama.cpp b10573 src/llama-quant.cpp (llama_tensor_get_type
 * and the loop that calls it) and tools/quantize/quantize.cpp (how the
 * options are parsed); the structure here is our own.
 */
#include "llq_mix.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llq_policy.h"
#include "quant.h"
#include "types.h"

/* ---- ftypes ------------------------------------------------------------ */

/* llama_ftype ids (they are also general.file_type). */
enum {
	FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7,
	FT_Q5_0 = 8, FT_Q5_1 = 9, FT_Q2_K = 10, FT_Q3_K_S = 11,
	FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15,
	FT_Q5_K_S = 16, FT_Q5_K_M = 17, FT_Q6_K = 18, FT_IQ2_XXS = 19,
	FT_IQ2_XS = 20, FT_Q2_K_S = 21, FT_IQ3_XS = 22, FT_IQ3_XXS = 23,
	FT_IQ1_S = 24, FT_IQ4_NL = 25, FT_IQ3_S = 26, FT_IQ3_M = 27,
	FT_IQ2_S = 28, FT_IQ2_M = 29, FT_IQ4_XS = 30, FT_IQ1_M = 31,
	FT_BF16 = 32, FT_TQ1_0 = 36, FT_TQ2_0 = 37, FT_MXFP4_MOE = 38,
	FT_Q1_0 = 40, FT_Q2_0 = 41,
};

/* llama-quantize's QUANT_OPTIONS order, then its aliases. */
static const qp_llq_ftype ftypes[] = {
	{"Q1_0", FT_Q1_0, QP_Q1_0, NULL},
	{"Q2_0", FT_Q2_0, QP_Q2_0, NULL},
	{"Q4_0", FT_Q4_0, QP_Q4_0, NULL},
	{"Q4_1", FT_Q4_1, QP_Q4_1, NULL},
	{"MXFP4_MOE", FT_MXFP4_MOE, QP_MXFP4, NULL},
	{"Q5_0", FT_Q5_0, QP_Q5_0, NULL},
	{"Q5_1", FT_Q5_1, QP_Q5_1, NULL},
	{"IQ2_XXS", FT_IQ2_XXS, QP_IQ2_XXS, NULL},
	{"IQ2_XS", FT_IQ2_XS, QP_IQ2_XS, NULL},
	{"IQ2_S", FT_IQ2_S, QP_IQ2_XS, NULL},
	{"IQ2_M", FT_IQ2_M, QP_IQ2_S, NULL},
	{"IQ1_S", FT_IQ1_S, QP_IQ1_S, NULL},
	{"IQ1_M", FT_IQ1_M, QP_IQ1_M, NULL},
	{"TQ1_0", FT_TQ1_0, QP_TQ1_0, NULL},
	{"TQ2_0", FT_TQ2_0, QP_TQ2_0, NULL},
	{"Q2_K", FT_Q2_K, QP_Q2_K, NULL},
	{"Q2_K_S", FT_Q2_K_S, QP_Q2_K, NULL},
	{"IQ3_XXS", FT_IQ3_XXS, QP_IQ3_XXS, NULL},
	{"IQ3_S", FT_IQ3_S, QP_IQ3_S, NULL},
	{"IQ3_M", FT_IQ3_M, QP_IQ3_S, NULL},
	{"IQ3_XS", FT_IQ3_XS, QP_IQ3_S, NULL},
	{"Q3_K_S", FT_Q3_K_S, QP_Q3_K, NULL},
	{"Q3_K_M", FT_Q3_K_M, QP_Q3_K, NULL},
	{"Q3_K_L", FT_Q3_K_L, QP_Q3_K, NULL},
	{"IQ4_NL", FT_IQ4_NL, QP_IQ4_NL, NULL},
	{"IQ4_XS", FT_IQ4_XS, QP_IQ4_XS, NULL},
	{"Q4_K_S", FT_Q4_K_S, QP_Q4_K, NULL},
	{"Q4_K_M", FT_Q4_K_M, QP_Q4_K, NULL},
	{"Q5_K_S", FT_Q5_K_S, QP_Q5_K, NULL},
	{"Q5_K_M", FT_Q5_K_M, QP_Q5_K, NULL},
	{"Q6_K", FT_Q6_K, QP_Q6_K, NULL},
	{"Q8_0", FT_Q8_0, QP_Q8_0, NULL},
	{"F16", FT_F16, QP_F16, NULL},
	{"BF16", FT_BF16, QP_BF16, NULL},
	{"F32", FT_F32, QP_F32, NULL},
	{"Q3_K", FT_Q3_K_M, QP_Q3_K, "Q3_K_M"},
	{"Q4_K", FT_Q4_K_M, QP_Q4_K, "Q4_K_M"},
	{"Q5_K", FT_Q5_K_M, QP_Q5_K, "Q5_K_M"},
};
#define N_FTYPES (sizeof ftypes / sizeof ftypes[0])

const qp_llq_ftype *qp_llq_ftype_at(size_t i)
{
	return i < N_FTYPES ? &ftypes[i] : NULL;
}

const qp_llq_ftype *qp_llq_ftype_by_id(int id)
{
	for (size_t i = 0; i < N_FTYPES; i++)
		if (ftypes[i].id == id && !ftypes[i].alias_of)
			return &ftypes[i];
	return NULL;
}

const qp_llq_ftype *qp_llq_ftype_by_name(const char *name)
{
	for (size_t i = 0; i < N_FTYPES; i++)
		if (strcasecmp(ftypes[i].name, name) == 0)
			return &ftypes[i];
	/* llama-quantize also takes the number (std::stoi: leading blanks,
	 * a sign, digits, anything after them ignored) */
	const char *p = name;
	while (isspace((unsigned char)*p))
		p++;
	char *end;
	long v = strtol(p, &end, 10);
	if (end == p || v < INT_MIN || v > INT_MAX)
		return NULL;
	return qp_llq_ftype_by_id((int)v);
}

bool qp_llq_ftype_quantized(const qp_llq_ftype *f)
{
	const qp_type_info *ti = qp_type_info_by_id(f->base_type);
	return ti && ti->quantized;
}

/* ---- --tensor-type rules ---------------------------------------------- */

static int put(char *buf, size_t size, size_t *n, const char *s, qp_err *e)
{
	size_t len = strlen(s);
	if (*n + len >= size)
		return qp_fail(e, "pattern too long");
	memcpy(buf + *n, s, len + 1);
	*n += len;
	return 0;
}

static int putc_(char *buf, size_t size, size_t *n, char c, qp_err *e)
{
	char s[2] = {c, '\0'};
	return put(buf, size, n, s, e);
}

static bool ere_special(char c)
{
	return c && strchr(".[]()*+?{}|^$\\", c) != NULL;
}

/* One escape outside brackets. */
static int escape_outside(char c, char *buf, size_t size, size_t *n,
			  qp_err *e)
{
	switch (c) {
	case 'd': return put(buf, size, n, "[0-9]", e);
	case 'w': return put(buf, size, n, "[A-Za-z0-9_]", e);
	case 's': return put(buf, size, n, "[[:space:]]", e);
	case 'b':
		return qp_fail(e, "\\b (a word boundary; \\B once lower-cased) "
			       "has no POSIX equivalent");
	default: break;
	}
	if (c >= '0' && c <= '9')
		return qp_fail(e, "back-reference \\%c is not supported", c);
	if (isalpha((unsigned char)c))
		return qp_fail(e, "escape \\%c is not supported", c);
	if (ere_special(c)) {
		char s[3] = {'\\', c, '\0'};
		return put(buf, size, n, s, e);
	}
	return putc_(buf, size, n, c, e);
}

/* One escape inside brackets (POSIX brackets have no escapes at all). */
static int escape_inside(char c, bool first, char *buf, size_t size,
			 size_t *n, qp_err *e)
{
	switch (c) {
	case 'd': return put(buf, size, n, "0-9", e);
	case 'w': return put(buf, size, n, "A-Za-z0-9_", e);
	case 's': return put(buf, size, n, "[:space:]", e);
	case ']': case '-':
		return qp_fail(e, "\\%c inside brackets is not supported", c);
	case '^':
		if (first)
			return qp_fail(e, "\\^ first inside brackets is not "
				       "supported");
		return putc_(buf, size, n, c, e);
	default: break;
	}
	if (isalnum((unsigned char)c))
		return qp_fail(e, "escape \\%c inside brackets is not "
			       "supported", c);
	return putc_(buf, size, n, c, e);
}

int qp_llq_regex_check(const char *pat, qp_err *e)
{
	if (strlen(pat) > 4096)
		return qp_fail(e, "pattern longer than 4096 bytes");
	bool repeatable = false; /* the last item can take a quantifier */
	int bounds = 0;
	for (size_t i = 0; pat[i]; i++) {
		char c = pat[i];
		if (c == '\\') {
			if (pat[i + 1])
				i++;
			repeatable = true;
		} else if (c == '[') {
			i++;
			if (pat[i] == '^')
				i++;
			if (pat[i] == ']')
				i++;
			while (pat[i] && pat[i] != ']') {
				if (pat[i] == '[' && pat[i + 1] == ':') {
					const char *end = strstr(pat + i, ":]");
					i = end ? (size_t)(end - pat) + 2 : strlen(pat);
					continue;
				}
				i += pat[i] == '\\' && pat[i + 1] ? 2 : 1;
			}
			if (!pat[i])
				return 0; /* unterminated: the compiler says so */
			repeatable = true;
		} else if (c == '*' || c == '+' || c == '?' || c == '{') {
			if (!repeatable)
				return qp_fail(e, "'%c' at offset %zu has nothing to "
					       "repeat", c, i), QP_ERR_INPUT;
			if (c == '{') {
				char *end;
				long lo = strtol(pat + i + 1, &end, 10), hi = lo;
				if (*end == ',')
					hi = isdigit((unsigned char)end[1])
						     ? strtol(end + 1, &end, 10)
						     : (end++, lo);
				if (lo > 255 || hi > 255 || ++bounds > 2)
					return qp_fail(e, "repetition bounds above "
						       "255, or more than two of "
						       "them");
				const char *close = strchr(pat + i, '}');
				if (!close)
					return 0;
				i = (size_t)(close - pat);
			}
			if (pat[i + 1] == '?')
				i++; /* lazy */
			repeatable = false;
		} else if (c == '(' && pat[i + 1] == '?') {
			/* (?: (?= (?! (?<= (?<!: group syntax, not a quantifier */
			i += pat[i + 2] == '<' && pat[i + 3] ? 3 : pat[i + 2] ? 2 : 1;
			repeatable = false;
		} else {
			repeatable = !(c == '(' || c == '|' || c == '^');
		}
	}
	return 0;
}

int qp_llq_ecma_to_ere(const char *pat, char *buf, size_t size, qp_err *e)
{
	int st = qp_llq_regex_check(pat, e);
	if (st)
		return st;
	size_t n = 0;
	if (size == 0)
		return qp_fail(e, "pattern too long");
	buf[0] = '\0';
	for (size_t i = 0; pat[i]; i++) {
		char c = pat[i];
		if (c == '\\') {
			if (!pat[i + 1])
				return qp_fail(e, "pattern ends in a backslash"), QP_ERR_INPUT;
			if (pat[i + 1] == 'x' && isxdigit((unsigned char)pat[i + 2]) &&
			    isxdigit((unsigned char)pat[i + 3])) {
				/* \xHH: the character itself */
				char hex[3] = {pat[i + 2], pat[i + 3], '\0'};
				char ch = (char)strtol(hex, NULL, 16);
				i += 3;
				if (!ch)
					return qp_fail(e, "\\x00 is not supported");
				if (ere_special(ch) ? escape_outside(ch, buf, size, &n, e)
						    : putc_(buf, size, &n, ch, e))
					return -1;
				continue;
			}
			if (escape_outside(pat[++i], buf, size, &n, e))
				return -1;
		} else if (c == '[') {
			if (put(buf, size, &n, "[", e))
				return -1;
			i++;
			if (pat[i] == '^') {
				if (putc_(buf, size, &n, '^', e))
					return -1;
				i++;
			}
			if (pat[i] == ']')
				return qp_fail(e, "an empty bracket [] or [^] "
					       "is not supported");
			bool first = true;
			for (;; i++, first = false) {
				if (!pat[i])
					return qp_fail(e, "unterminated ["), QP_ERR_INPUT;
				if (pat[i] == ']')
					break;
				if (pat[i] == '\\') {
					if (!pat[i + 1])
						return qp_fail(e, "unterminated ["), QP_ERR_INPUT;
					i++;
					if (escape_inside(pat[i], first, buf,
							  size, &n, e))
						return -1;
				} else if (pat[i] == '[' && pat[i + 1] == ':') {
					const char *end = strstr(pat + i, ":]");
					if (!end)
						return qp_fail(e, "unterminated [:"), QP_ERR_INPUT;
					size_t len = (size_t)(end + 2 - (pat + i));
					if (n + len >= size)
						return qp_fail(e, "pattern too long");
					memcpy(buf + n, pat + i, len);
					n += len;
					buf[n] = '\0';
					i += len - 1;
				} else if (putc_(buf, size, &n, pat[i], e)) {
					return -1;
				}
			}
			if (put(buf, size, &n, "]", e))
				return -1;
		} else if (c == '(' && pat[i + 1] == '?') {
			if (pat[i + 2] != ':')
				return qp_fail(e, "look-around (?%c is not "
					       "supported", pat[i + 2] ? pat[i + 2] : ' ');
			if (put(buf, size, &n, "(", e))
				return -1;
			i += 2;
		} else if ((c == '*' || c == '+' || c == '?' || c == '}') &&
			   pat[i + 1] == '?') {
			/* a lazy quantifier matches where the greedy one does:
			 * only whether a match exists counts here */
			if (putc_(buf, size, &n, c, e))
				return -1;
			i++;
		} else if (putc_(buf, size, &n, c, e)) {
			return -1;
		}
	}
	return 0;
}

void qp_llq_rules_free(qp_llq_rules *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].pattern);
		regfree(&r->v[i].re);
	}
	free(r->v);
	memset(r, 0, sizeof *r);
}

int qp_llq_rules_add(qp_llq_rules *r, const char *token, qp_err *e)
{
	const char *sep = strchr(token, '=');
	if (!sep)
		return qp_fail(e, "\"%s\": no '=' (NAME=TYPE)", token);
	if (sep == token)
		return qp_fail(e, "\"%s\": missing tensor name", token);
	if (!sep[1])
		return qp_fail(e, "\"%s\": missing quantization type", token);
	const qp_type_info *ti = qp_type_info_by_name(sep + 1);
	if (!ti || ti->removed)
		return qp_fail(e, "\"%s\": unknown type \"%s\"", token, sep + 1);
	size_t len = (size_t)(sep - token);
	char *pat = malloc(len + 1);
	size_t ere_size = 8 * len + 16;
	char *ere = malloc(ere_size);
	if (!pat || !ere) {
		free(pat);
		free(ere);
		return qp_fail(e, "out of memory");
	}
	for (size_t i = 0; i < len; i++)
		pat[i] = (char)tolower((unsigned char)token[i]);
	pat[len] = '\0';
	int st = qp_llq_ecma_to_ere(pat, ere, ere_size, e);
	if (st) {
		qp_fail_prefix(e, "\"%s\": bad pattern", token);
		goto out;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		qp_llq_rule *v = realloc(r->v, cap * sizeof *v);
		if (!v) {
			st = qp_fail(e, "out of memory");
			goto out;
		}
		r->v = v;
		r->cap = cap;
	}
	qp_llq_rule *rule = &r->v[r->n];
	int rc = regcomp(&rule->re, ere, REG_EXTENDED | REG_NOSUB);
	if (rc) {
		char msg[128];
		regerror(rc, &rule->re, msg, sizeof msg);
		qp_fail(e, "\"%s\": bad pattern: %s", token, msg);
		st = QP_ERR_INPUT;
		goto out;
	}
	rule->pattern = pat;
	rule->type = ti->id;
	pat = NULL;
	r->n++;
out:
	free(pat);
	free(ere);
	return st;
}

long qp_llq_rules_match(const qp_llq_rules *r, const char *name)
{
	if (!r)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if (regexec(&r->v[i].re, name, 0, NULL, 0) == 0)
			return (long)i;
	return -1;
}

/* ---- the model --------------------------------------------------------- */

void qp_llq_model_init(qp_llq_model *m)
{
	memset(m, 0, sizeof *m);
}

void qp_llq_model_free(qp_llq_model *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->t[i].name);
	free(m->t);
	qp_llq_model_init(m);
}

int qp_llq_model_add_tensor(qp_llq_model *m, const char *name, int n_dims,
			    const int64_t *ne, uint32_t type, qp_err *e)
{
	if (n_dims < 1 || n_dims > 4)
		return qp_fail(e, "tensor \"%s\": %d dimensions", name, n_dims);
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		qp_llq_tensor *t = realloc(m->t, cap * sizeof *t);
		if (!t)
			return qp_fail(e, "out of memory");
		m->t = t;
		m->cap = cap;
	}
	qp_llq_tensor *t = &m->t[m->n];
	if (!(t->name = strdup(name)))
		return qp_fail(e, "out of memory");
	/* ggml_n_dims: trailing dimensions of 1 do not count */
	t->n_dims = 1;
	for (int i = 0; i < 4; i++) {
		t->ne[i] = i < n_dims ? ne[i] : 1;
		if (t->ne[i] < 0)
			t->ne[i] = 0;
		if (i > 0 && t->ne[i] > 1)
			t->n_dims = i + 1;
	}
	t->type = type;
	m->n++;
	return 0;
}

int qp_llq_tensor_bytes(const qp_llq_tensor *t, uint32_t type,
			uint64_t *bytes, qp_err *e)
{
	if (qp_type_nbytes(type, t->ne, 4, bytes, e))
		return qp_fail_prefix(e, "%s", t->name);
	return 0;
}

/* ---- the mix ----------------------------------------------------------- */

void qp_llq_params_init(qp_llq_params *p)
{
	memset(p, 0, sizeof *p);
	p->output_type = QP_LLQ_NO_TYPE;
	p->token_embd_type = QP_LLQ_NO_TYPE;
}

/* llama-quant.cpp's broad tensor categories, tested in its order. */
typedef enum cat {
	CAT_TOKEN_EMBD, CAT_ATTN_Q, CAT_ATTN_V, CAT_ATTN_K, CAT_ATTN_QKV,
	CAT_ATTN_KV_B, CAT_ATTN_OUTPUT, CAT_FFN_UP, CAT_FFN_GATE, CAT_FFN_DOWN,
	CAT_OUTPUT, CAT_OTHER
} cat;

static cat category_of(const char *name)
{
	if (strcmp(name, "output.weight") == 0)
		return CAT_OUTPUT;
	if (strcmp(name, "token_embd.weight") == 0 ||
	    strcmp(name, "per_layer_token_embd.weight") == 0)
		return CAT_TOKEN_EMBD;
	static const struct { const char *sub; cat c; } subs[] = {
		{"attn_qkv.weight", CAT_ATTN_QKV},
		{"attn_kv_b.weight", CAT_ATTN_KV_B},
		{"attn_v.weight", CAT_ATTN_V},
		{"attn_k.weight", CAT_ATTN_K},
		{"attn_q.weight", CAT_ATTN_Q},
		{"attn_output.weight", CAT_ATTN_OUTPUT},
		{"ffn_up", CAT_FFN_UP},
		{"ffn_gate", CAT_FFN_GATE},
		{"ffn_down", CAT_FFN_DOWN},
	};
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strstr(name, subs[i].sub))
			return subs[i].c;
	return CAT_OTHER;
}

/* Tensors whose sensitivity the mixes treat like attn_v's. */
static bool attn_v_like(cat c)
{
	return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B;
}

/* What sscanf(name, "blk.%d.", &layer) reads: 1 and the number, or 0. */
static int scan_layer(const char *name, int *layer)
{
	if (strncmp(name, "blk.", 4) != 0)
		return 0;
	const char *p = name + 4;
	while (isspace((unsigned char)*p))
		p++;
	char *end;
	long v = strtol(p, &end, 10);
	if (end == p)
		return 0;
	*layer = v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
	return 1;
}

static int layer_or_minus1(const char *name)
{
	int l = -1;
	scan_layer(name, &l);
	return l;
}

/* llama-model-loader's weight_name_comparer: by layer, then by name. */
typedef struct order_key {
	int layer;
	const char *name;
	size_t index;
} order_key;

static int by_loader_order(const void *a, const void *b)
{
	const order_key *ka = a, *kb = b;
	if (ka->layer != kb->layer)
		return ka->layer < kb->layer ? -1 : 1;
	return strcmp(ka->name, kb->name);
}

typedef struct mix_state {
	const qp_llq_model *m;
	const qp_llq_params *p;
	int ft;                 /* llama_ftype id */
	int n_gqa;
	int n_expert;           /* hparams.n_expert as loaded */
	bool is_70b, falcon, tied;
	int n_attention_wv, i_attention_wv;
	int n_ffn, i_ffn_down, i_ffn_gate, i_ffn_up;
} mix_state;

static bool more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool ft_in(int ft, const int *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == ft)
			return true;
	return false;
}
#define FT_IN(ft, ...)                                                         \
	ft_in((ft), (const int[]){__VA_ARGS__},                                \
	      sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

/* Layer of an FFN tensor: the running count for dense models, the name's
 * blk.N for MoE models (whose expert tensors need not come in order). */
static int ffn_layer(const mix_state *s, int counter, const char *name,
		     int *layer, qp_err *e)
{
	int n_expert = s->n_expert > 1 ? s->n_expert : 1;
	*layer = counter;
	if (n_expert > 1) {
		if (scan_layer(name, layer) != 1)
			return qp_fail(e, "llama-quantize aborts: failed to "
				       "determine the layer of %s", name);
		if (*layer < 0 || *layer >= s->n_ffn)
			return qp_fail(e, "llama-quantize aborts: bad layer %d "
				       "for %s, must be in [0, %d)",
				       *layer, name, s->n_ffn);
	}
	return 0;
}

static uint32_t output_like(const mix_state *s, const qp_llq_tensor *t,
			    uint32_t type)
{
	if (s->p->output_type != QP_LLQ_NO_TYPE)
		return s->p->output_type;
	const qp_type_info *ti = qp_type_info_by_id(type);
	int64_t blk = ti && ti->block_size ? ti->block_size : 1;
	if (s->ft == FT_MXFP4_MOE)
		return QP_Q8_0;
	if (s->falcon || t->ne[0] % blk != 0)
		return QP_Q8_0;
	if (FT_IN(s->ft, FT_IQ2_XXS, FT_IQ2_XS, FT_IQ3_XXS, FT_IQ1_S, FT_IQ2_S,
		  FT_IQ2_M, FT_IQ1_M))
		return QP_Q5_K;
	return type != QP_Q8_0 ? QP_Q6_K : type;
}

static uint32_t token_embd_rule(const mix_state *s, uint32_t type)
{
	if (s->p->token_embd_type != QP_LLQ_NO_TYPE)
		return s->p->token_embd_type;
	if (FT_IN(s->ft, FT_IQ2_XXS, FT_IQ2_XS, FT_IQ1_S, FT_IQ1_M))
		return QP_Q2_K;
	if (FT_IN(s->ft, FT_IQ2_S, FT_IQ2_M, FT_IQ3_XXS))
		return QP_IQ3_S;
	if (FT_IN(s->ft, FT_TQ1_0, FT_TQ2_0, FT_Q2_0))
		return QP_Q4_K;
	return type;
}

/* The very-low-bit IQ1/IQ2 mixes. */
static int lowbit_rule(mix_state *s, cat c, uint32_t *type)
{
	bool iq2s = FT_IN(s->ft, FT_IQ2_S, FT_IQ2_M);
	if (attn_v_like(c)) {
		if (s->n_gqa >= 4 || s->n_expert >= 4)
			*type = QP_Q4_K;
		else
			*type = iq2s ? QP_IQ3_S : QP_Q2_K;
		s->i_attention_wv++;
	} else if (s->n_expert == 8 && c == CAT_ATTN_K) {
		*type = QP_Q4_K;
	} else if (c == CAT_FFN_DOWN) {
		if (s->i_ffn_down < s->n_ffn / 8)
			*type = iq2s ? QP_IQ3_S : QP_Q2_K;
		s->i_ffn_down++;
	} else if (c == CAT_ATTN_OUTPUT) {
		if (s->n_expert == 8)
			*type = QP_Q5_K;
		else if (FT_IN(s->ft, FT_IQ1_S, FT_IQ1_M))
			*type = QP_IQ2_XXS;
		else if (iq2s)
			*type = QP_IQ3_S;
	}
	return 0;
}

static void attn_v_rule(mix_state *s, uint32_t *type)
{
	int ft = s->ft;
	bool gqa4 = s->n_gqa >= 4;
	uint32_t t = *type;
	if (ft == FT_Q2_K)
		t = gqa4 ? QP_Q4_K : QP_Q3_K;
	else if (ft == FT_Q2_K_S && gqa4)
		t = QP_Q4_K;
	else if (ft == FT_IQ3_XXS)
		t = gqa4 ? QP_Q4_K : !s->p->imatrix ? QP_IQ3_S : QP_IQ3_XXS;
	else if (FT_IN(ft, FT_IQ3_XS, FT_IQ3_S) && gqa4)
		t = QP_Q4_K;
	else if (ft == FT_IQ3_M)
		t = QP_Q4_K;
	else if (ft == FT_Q3_K_M)
		t = s->i_attention_wv < 2 ? QP_Q5_K : QP_Q4_K;
	else if (ft == FT_Q3_K_L)
		t = QP_Q5_K;
	else if (FT_IN(ft, FT_IQ4_NL, FT_IQ4_XS) && gqa4)
		t = QP_Q5_K;
	else if (FT_IN(ft, FT_Q4_K_M, FT_Q5_K_M) &&
		 more_bits(s->i_attention_wv, s->n_attention_wv))
		t = QP_Q6_K;
	else if (ft == FT_Q4_K_S && s->i_attention_wv < 4)
		t = QP_Q5_K;
	/* 70B: attn_v is 8x smaller than attn_q there, more bits are cheap */
	if (s->is_70b && (t == QP_Q3_K || t == QP_Q4_K))
		t = QP_Q5_K;
	if (s->n_expert == 8)
		t = QP_Q8_0;
	s->i_attention_wv++;
	*type = t;
}

static void ffn_down_rule(const mix_state *s, int i, uint32_t *type)
{
	int ft = s->ft, n = s->n_ffn;
	bool imat = s->p->imatrix;
	uint32_t t = *type;
	if (ft == FT_Q2_K) {
		t = QP_Q3_K;
	} else if (ft == FT_Q2_K_S) {
		if (i < n / 8)
			t = QP_Q4_K;
	} else if (ft == FT_IQ3_XXS && !imat) {
		t = i < n / 8 ? QP_Q4_K : QP_Q3_K;
	} else if (ft == FT_Q3_K_M) {
		t = i < n / 16 ? QP_Q5_K
		    : !s->falcon || more_bits(i, n) ? QP_Q4_K : QP_Q3_K;
	} else if (ft == FT_IQ3_M &&
		   (i < n / 8 || (s->n_expert == 8 && more_bits(i, n)))) {
		t = QP_Q4_K;
	} else if (ft == FT_Q3_K_L) {
		t = s->falcon ? QP_Q4_K : QP_Q5_K;
	} else if (ft == FT_Q4_K_M) {
		if (s->falcon)
			t = i < n / 16 ? QP_Q6_K
			    : more_bits(i, n) ? QP_Q5_K : QP_Q4_K;
		else if (more_bits(i, n))
			t = QP_Q6_K;
	} else if (i < n / 8 && FT_IN(ft, FT_IQ4_NL, FT_IQ4_XS) && !imat) {
		t = QP_Q5_K;
	} else if (ft == FT_Q5_K_M && more_bits(i, n)) {
		t = QP_Q6_K;
	} else if (ft == FT_Q4_K_S && !s->falcon && i < n / 8) {
		t = QP_Q5_K;
	} else if (FT_IN(ft, FT_Q4_0, FT_Q5_0) && imat && i < n / 8) {
		/* first ffn_down layers go wrong even with an imatrix */
		t = ft == FT_Q4_0 ? QP_Q4_1 : QP_Q5_1;
	}
	*type = t;
}

static void attn_output_rule(const mix_state *s, uint32_t *type)
{
	int ft = s->ft;
	if (s->falcon) {
		if (ft == FT_Q3_K_L)
			*type = QP_Q4_K;
		return;
	}
	if (s->n_expert == 8) {
		if (FT_IN(ft, FT_Q2_K, FT_IQ3_XS, FT_IQ3_XXS, FT_Q3_K_S,
			  FT_Q3_K_M, FT_IQ4_NL, FT_Q4_K_S, FT_Q4_K_M, FT_IQ3_S,
			  FT_IQ3_M, FT_IQ4_XS))
			*type = QP_Q5_K;
		return;
	}
	switch (ft) {
	case FT_Q2_K: *type = QP_Q3_K; break;
	case FT_IQ3_XXS: *type = QP_IQ3_S; break;
	case FT_Q3_K_M: *type = QP_Q4_K; break;
	case FT_Q3_K_L: *type = QP_Q5_K; break;
	case FT_IQ3_M: *type = QP_Q4_K; break;
	default: break;
	}
}

/* The ftype's mixture rule for one tensor (llama_tensor_get_type_impl). */
static int mixture(mix_state *s, const qp_llq_tensor *t, cat c,
		   uint32_t *type, qp_err *e)
{
	int ft = s->ft, layer;
	if (c == CAT_OUTPUT || (s->tied && c == CAT_TOKEN_EMBD)) {
		*type = output_like(s, t, *type);
	} else if (ft == FT_MXFP4_MOE) {
		bool expert_role = c == CAT_FFN_UP || c == CAT_FFN_GATE ||
				   c == CAT_FFN_DOWN;
		bool bailing = strcmp(s->m->arch, "bailingmoe3") == 0;
		*type = t->ne[2] > 1 && (!bailing || expert_role) ? QP_MXFP4
								   : QP_Q8_0;
	} else if (c == CAT_TOKEN_EMBD) {
		*type = token_embd_rule(s, *type);
	} else if (FT_IN(ft, FT_IQ2_XXS, FT_IQ2_XS, FT_IQ1_S, FT_IQ2_S,
			 FT_IQ2_M, FT_IQ1_M)) {
		return lowbit_rule(s, c, type);
	} else if (attn_v_like(c)) {
		attn_v_rule(s, type);
	} else if (c == CAT_ATTN_K) {
		if (s->n_expert == 8)
			*type = QP_Q8_0;
		else if (ft == FT_IQ3_XS)
			*type = QP_IQ3_XXS;
		else if (ft == FT_IQ3_XXS)
			*type = QP_IQ2_S;
	} else if (c == CAT_ATTN_Q) {
		if (ft == FT_IQ3_XS)
			*type = QP_IQ3_XXS;
		else if (ft == FT_IQ3_XXS)
			*type = QP_IQ2_S;
	} else if (c == CAT_FFN_DOWN) {
		if (ffn_layer(s, s->i_ffn_down, t->name, &layer, e))
			return -1;
		ffn_down_rule(s, layer, type);
		s->i_ffn_down++;
	} else if (c == CAT_ATTN_OUTPUT) {
		attn_output_rule(s, type);
	} else if (c == CAT_FFN_GATE || c == CAT_FFN_UP) {
		int *counter = c == CAT_FFN_GATE ? &s->i_ffn_gate : &s->i_ffn_up;
		if (ffn_layer(s, *counter, t->name, &layer, e))
			return -1;
		if (ft == FT_IQ3_XS && layer >= s->n_ffn / 8 &&
		    layer < 7 * s->n_ffn / 8)
			*type = QP_IQ3_XXS;
		(*counter)++;
	}
	/* attn_qkv is attn_v-like above, so llama.cpp's own attn_qkv branch
	 * is never reached; it is left out here */
	return 0;
}

static bool requires_imatrix(const char *name, uint32_t type, int ft)
{
	if (strcmp(name, "token_embd.weight") == 0 ||
	    strcmp(name, "per_layer_token_embd.weight") == 0 ||
	    strcmp(name, "output.weight") == 0)
		return false;
	if (type == QP_Q2_K)
		return ft == FT_Q2_K_S;
	return qp_quant_requires_imatrix(type);
}

bool qp_llq_model_quantizable(const qp_llq_model *m, const qp_llq_params *p,
			      size_t i)
{
	const qp_llq_tensor *t = &m->t[i];
	if (p->leave_output && strcmp(t->name, "output.weight") == 0)
		return false;
	return qp_llq_quantizes(t->name, t->n_dims);
}

static bool is_70b(const qp_llq_model *m)
{
	int64_t n_layer = m->n_layer_all - m->n_layer_nextn;
	if (strcmp(m->arch, "llama") == 0)
		return m->n_expert != 8 && n_layer == 80 &&
		       m->n_head != m->n_head_kv;
	if (strcmp(m->arch, "deci") == 0 || strcmp(m->arch, "olmo") == 0 ||
	    strcmp(m->arch, "qwen2") == 0)
		return n_layer == 80;
	if (strcmp(m->arch, "jais2") == 0)
		return n_layer == 68;
	return false;
}

static int choose(mix_state *s, size_t i, qp_llq_choice *out, qp_err *e)
{
	const qp_llq_params *p = s->p;
	const qp_llq_tensor *t = &s->m->t[i];
	cat c = category_of(t->name);
	*out = (qp_llq_choice){t->type, false, false, false, -1};
	if (!qp_llq_model_quantizable(s->m, p, i))
		return 0;
	out->quantized = true;
	/* these two options win before anything else, even shape fallbacks */
	if (p->token_embd_type != QP_LLQ_NO_TYPE && c == CAT_TOKEN_EMBD) {
		out->type = p->token_embd_type;
		goto done;
	}
	if (p->output_type != QP_LLQ_NO_TYPE && c == CAT_OUTPUT) {
		out->type = p->output_type;
		goto done;
	}
	uint32_t type = p->ftype->base_type;
	if (qp_llq_ftype_quantized(p->ftype)) {
		out->rule = qp_llq_rules_match(p->rules, t->name);
		if (out->rule >= 0)
			type = p->rules->v[out->rule].type;
		/* a tensor a rule picked skips the mixture and its counters */
		else if (!p->pure && mixture(s, t, c, &type, e))
			return -1;
		bool ok;
		uint32_t fb = qp_quant_fallback(type, t->ne[0], &ok);
		if (!ok) {
			char tn[16];
			return qp_fail(e, "llama-quantize aborts on %s: no shape "
				       "fallback is defined for %s at row "
				       "length %lld", t->name,
				       qp_type_name(type, tn),
				       (long long)t->ne[0]);
		}
		out->fell_back = fb != type;
		type = fb;
	}
	out->type = type;
done:
	out->requires_imatrix = requires_imatrix(t->name, out->type, s->ft);
	return 0;
}

int qp_llq_mix(const qp_llq_model *m, const qp_llq_params *p,
	       qp_llq_choice *out, qp_err *e)
{
	if (!p->ftype)
		return qp_fail(e, "no ftype");
	mix_state s = {0};
	s.m = m;
	s.p = p;
	s.ft = p->ftype->id;
	s.n_gqa = m->n_head_kv > 0 ? (int)(m->n_head / m->n_head_kv) : 0;
	s.n_expert = m->n_expert > INT_MAX ? INT_MAX : (int)m->n_expert;
	s.is_70b = is_70b(m);
	s.falcon = strcmp(m->arch, "falcon") == 0;
	s.tied = true;
	s.n_ffn = (int)m->n_layer_all;
	for (size_t i = 0; i < m->n; i++) {
		cat c = category_of(m->t[i].name);
		if (attn_v_like(c))
			s.n_attention_wv++;
		if (c == CAT_OUTPUT)
			s.tied = false;
	}
	order_key *order = malloc((m->n ? m->n : 1) * sizeof *order);
	if (!order)
		return qp_fail(e, "out of memory");
	for (size_t i = 0; i < m->n; i++)
		order[i] = (order_key){layer_or_minus1(m->t[i].name),
				       m->t[i].name, i};
	qsort(order, m->n, sizeof *order, by_loader_order);
	int st = 0;
	for (size_t k = 0; k < m->n && !st; k++)
		st = choose(&s, order[k].index, &out[order[k].index], e);
	free(order);
	return st;
}
