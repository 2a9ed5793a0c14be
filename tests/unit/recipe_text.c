/* recipe_text and llq_mix's rules: the recipe text format, tensor-type
 * files, ECMAScript-to-POSIX translation, the compressed rules (always
 * reproducing the assignment), and malformed input. */
#include <stdint.h>

#include "../tap.h"
#include "llq_mix.h"
#include "recipe_text.h"
#include "types.h"

static int parse(const char *text, qp_rtext *r, qp_err *e)
{
	return qp_rtext_parse(text, strlen(text), r, e);
}

static void expect_bad(const char *text, const char *want, const char *what)
{
	qp_rtext r;
	qp_err e = {""};
	int st = parse(text, &r, &e);
	if (!ok(st == -1 && strstr(e.msg, want), "recipe text: %s", what))
		diag("got %d '%s'", st, e.msg);
	ok(r.n == 0 && r.v == NULL, "%s: nothing kept", what);
}

static void test_parse(void)
{
	qp_rtext r;
	qp_err e;
	const char *text = "\n  # quantpipe recipe 1  \r\n"
			   "# a comment\n\n"
			   "token_embd\\.weight = Q6_K\n"
			   "blk\\.(0|1|31)\\.ffn_down\\.weight=q6_k\n"
			   "a=b=Q8_0\n"
			   ".*=Q4_K";
	ok(parse(text, &r, &e) == 0, "a recipe with comments, blanks, CRLF");
	is_int(r.n, 4, "four rules");
	is_int(r.v[0].type, QP_Q6_K, "type names are case-insensitive");
	is_int(r.v[0].line, 5, "rules know their line");
	is_str(r.v[2].regex, "a=b", "split at the last '='");
	is_int(qp_rtext_match(&r, "token_embd.weight"), 0, "whole-name match");
	is_int(qp_rtext_match(&r, "xtoken_embd.weight"), 3, "no substring match");
	is_int(qp_rtext_match(&r, "blk.31.ffn_down.weight"), 1, "alternation");
	is_int(qp_rtext_match(&r, "blk.3.ffn_down.weight"), 3, "first rule that matches wins");
	qp_rtext_free(&r);
	ok(qp_rtext_sniff(text, strlen(text)) == 1, "sniff: a recipe");
	ok(qp_rtext_sniff("attn_q=q4_k\n", 12) == 0, "sniff: a tensor-type file");
	ok(qp_rtext_sniff("", 0) == 0, "sniff: empty");

	expect_bad("", "empty", "empty file");
	expect_bad("attn_q=Q4_K\n", "line 1: not a quantpipe recipe", "no header");
	expect_bad("# quantpipe recipe 2\n", "version \"2\"", "version 2");
	expect_bad("# quantpipe recipe 1x\n", "version", "version 1x");
	expect_bad("# quantpipe recipe 1\nabc\n", "line 2: \"abc\" is not REGEX=TYPE", "no '='");
	expect_bad("# quantpipe recipe 1\n=Q4_K\n", "line 2: an empty pattern", "empty pattern");
	expect_bad("# quantpipe recipe 1\na=\n", "line 2: unknown type \"\"", "empty type");
	expect_bad("# quantpipe recipe 1\na=Q4_Z\n", "unknown type \"Q4_Z\"", "unknown type");
	expect_bad("# quantpipe recipe 1\na=Q4_0_4_4\n", "unknown type", "removed type");
	expect_bad("# quantpipe recipe 1\n\n(a=Q4_K\n", "line 3", "regex that does not compile");
	expect_bad("# quantpipe recipe 1\na[=Q4_K\n", "does not compile", "unterminated bracket");
	expect_bad("# quantpipe recipe 1\n.*a+++=Q4_K\n", "line 2: '+' at offset 4 has nothing to repeat",
		   "stacked quantifiers (a regex engine blow-up)");
	expect_bad("# quantpipe recipe 1\n((a{200}){200}){2}=Q4_K\n", "more than two", "three bounds");
	static const char nul[] = "# quantpipe recipe 1\na\0b=Q4_K\n";
	qp_rtext rr;
	ok(qp_rtext_parse(nul, sizeof nul - 1, &rr, &e) == -1 &&
		   strstr(e.msg, "line 2: a NUL byte"),
	   "a NUL byte is named with its line");
}

static void test_ttfile(void)
{
	qp_llq_rules r = {0};
	qp_err e;
	const char *text = "attn_v=q8_0  FFN_DOWN=Q6_K\n\tblk\\.[0-9]+\\.=f16\n";
	ok(qp_ttfile_parse(text, strlen(text), &r, &e) == 0, "tensor-type file");
	is_int(r.n, 3, "three tokens");
	is_str(r.v[1].pattern, "ffn_down", "patterns are lower-cased as llama-quantize does");
	is_int(qp_llq_rules_match(&r, "blk.3.attn_v.weight"), 0, "substring search");
	is_int(qp_llq_rules_match(&r, "blk.3.ffn_down.weight"), 1, "second rule");
	is_int(qp_llq_rules_match(&r, "blk.3.FFN_DOWN.weight"), 2,
	       "the lower-cased pattern no longer finds upper-case names");
	is_int(qp_llq_rules_match(&r, "output.weight"), -1, "no match");
	qp_llq_rules_free(&r);
	static const struct { const char *text, *want; } bad[] = {
		{"attn_v\n", "line 1: \"attn_v\": no '='"},
		{"a=q4_k\n=q4_k", "line 2: \"=q4_k\": missing tensor name"},
		{"a=q4_k\n\nb=", "line 3: \"b=\": missing quantization type"},
		{"a=q4_z", "unknown type \"q4_z\""},
		{"a(=q4_k", "bad pattern"},
		{"a(?!b)=q4_k", "look-around"},
		{"a(?=b)=q4_k", "unknown type \"b)=q4_k\""}, /* split at the first = */
		{"a\\1=q4_k", "back-reference"},
		{"\\bword=q4_k", "word boundary"},
		{"a\\=q4_k", "ends in a backslash"},
		{"[]a]=q4_k", "empty bracket"},
		{"[a=q4_k", "unterminated ["},
		{"a\\q=q4_k", "escape \\q"},
		{"a++=q4_k", "nothing to repeat"},
		{"*a=q4_k", "nothing to repeat"},
		{"(+a)=q4_k", "nothing to repeat"},
		{"a{300}=q4_k", "bounds above 255"},
		{"((a{2}){3}){4}=q4_k", "more than two"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		qp_llq_rules b = {0};
		qp_err be = {""};
		int st = qp_ttfile_parse(bad[i].text, strlen(bad[i].text), &b, &be);
		if (!ok(st == -1 && strstr(be.msg, bad[i].want), "bad token: %s", bad[i].want))
			diag("got '%s'", be.msg);
		qp_llq_rules_free(&b);
	}
	static const char nul[] = "a=q4_k\nb\0=q4_k";
	ok(qp_ttfile_parse(nul, sizeof nul - 1, &r, &e) == -1 &&
		   strstr(e.msg, "line 2: a NUL byte"), "NUL byte");
	qp_llq_rules_free(&r);
}

static void ere(const char *ecma, const char *want)
{
	char buf[256];
	qp_err e = {""};
	int st = qp_llq_ecma_to_ere(ecma, buf, sizeof buf, &e);
	if (!ok(st == 0 && strcmp(buf, want) == 0, "ecma %s -> ere %s", ecma, want))
		diag("got %d '%s' %s", st, st ? "" : buf, e.msg);
}

static void test_ecma(void)
{
	ere("blk\\.\\d+\\.", "blk\\.[0-9]+\\.");
	ere("\\w\\s", "[A-Za-z0-9_][[:space:]]");
	ere("(?:q|k)_proj", "(q|k)_proj");
	ere("a*?b+?c??", "a*b+c?");
	ere("x{2,3}?", "x{2,3}");
	ere("[\\d.]", "[0-9.]");
	ere("[^\\w]", "[^A-Za-z0-9_]");
	ere("[[:digit:]]x", "[[:digit:]]x");
	ere("\\x2c\\x2e\\x3d", ",\\.=");
	ere("\\-\\=\\/", "-=/");
	ere("^a|b$", "^a|b$");
	ere("[+*]+a{2,3}", "[+*]+a{2,3}");
	char small[4];
	qp_err e;
	ok(qp_llq_ecma_to_ere("abcdef", small, sizeof small, &e) == -1 &&
		   strstr(e.msg, "too long"), "a pattern longer than the buffer fails");
}

/* splitmix64: a deterministic assignment generator */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void test_compress(void)
{
	static const char *const roles[] = {"attn_q", "attn_k", "attn_v",
		"attn_output", "ffn_gate", "ffn_up", "ffn_down", "attn_norm",
		"ffn_gate_exps", "ffn_up_exps"};
	static const uint32_t types[] = {QP_Q4_K, QP_Q6_K, QP_Q5_K, QP_Q3_K,
					 QP_Q8_0, QP_IQ4_XS};
	enum { LAYERS = 40, N = 3 + LAYERS * 10 };
	static char names[N][64];
	const char *np[N];
	uint32_t tp[N];
	bool dec[N];
	uint64_t seed = 1;
	int bad = 0, rules_max = 0, trials = 0;
	for (int trial = 0; trial < 40; trial++) {
		size_t n = 0;
		snprintf(names[n], 64, "token_embd.weight");
		snprintf(names[n + 1], 64, "output.weight");
		snprintf(names[n + 2], 64, "Mixed.Case weight=x,y");
		n = 3;
		for (int l = 0; l < LAYERS; l++)
			for (int k = 0; k < 10; k++)
				snprintf(names[n++], 64, "blk.%d.%s.weight", l, roles[k]);
		int spread = trial % 4; /* from uniform to noisy */
		for (size_t i = 0; i < n; i++) {
			np[i] = names[i];
			uint64_t r = next_rand(&seed);
			tp[i] = r % 8 < (uint64_t)spread ? types[(r >> 8) % 6]
			       : types[(i % 10 == 6) ? 1 : 0];
			dec[i] = strstr(names[i], "norm") == NULL;
		}
		qp_rtext out;
		qp_err e;
		if (qp_rtext_compress(np, tp, dec, n, &out, &e)) {
			bad++;
			diag("compress: %s", e.msg);
			continue;
		}
		trials++;
		for (size_t i = 0; i < n; i++) {
			long k = qp_rtext_match(&out, np[i]);
			if (dec[i] && (k < 0 || out.v[k].type != tp[i]))
				bad++;
		}
		/* the llama-quantize spelling decides the same (lower-cased,
		 * substring search through our translation) */
		qp_llq_rules lr = {0};
		for (size_t k = 0; k < out.n; k++) {
			char tok[4096], tn[16];
			snprintf(tok, sizeof tok, "%s=%s", out.v[k].llama,
				 qp_type_name(out.v[k].type, tn));
			if (qp_llq_rules_add(&lr, tok, &e)) {
				bad++;
				diag("llama rule %s: %s", tok, e.msg);
			}
		}
		for (size_t i = 0; i < n && lr.n == out.n; i++) {
			long k = qp_llq_rules_match(&lr, np[i]);
			if (dec[i] && (k < 0 || lr.v[k].type != tp[i]))
				bad++;
		}
		if (spread == 0 && (int)out.n > rules_max)
			rules_max = (int)out.n;
		qp_llq_rules_free(&lr);
		qp_rtext_free(&out);
	}
	is_int(bad, 0, "compressed rules give every tensor its type, both spellings (%d trials)",
	       trials);
	ok(rules_max <= 3, "a two-type assignment takes at most 3 rules (%d)", rules_max);

	/* readable: per-layer exceptions listed, runs in a decade bracketed */
	const char *nm[12];
	uint32_t ty[12];
	bool dd[12];
	char buf[12][32];
	for (int l = 0; l < 12; l++) {
		snprintf(buf[l], 32, "blk.%d.ffn_down.weight", l);
		nm[l] = buf[l];
		ty[l] = (l <= 3 || l == 11) ? QP_Q6_K : QP_Q4_K;
		dd[l] = true;
	}
	qp_rtext out;
	qp_err e;
	ok(qp_rtext_compress(nm, ty, dd, 12, &out, &e) == 0 && out.n == 2,
	   "one exception rule and the catch-all");
	if (out.n == 2) {
		is_str(out.v[0].regex, "blk\\.([0-3]|11)\\.ffn_down\\.weight", "layers as a bracket run");
		is_str(out.v[0].llama, "^blk\\.([0-3]|11)\\.ffn_down\\.weight$", "anchored for llama-quantize");
		is_str(out.v[1].regex, ".*", "catch-all last");
	}
	qp_buf b = {0};
	const char *c[] = {"model: m"};
	qp_rtext_write(&out, c, 1, &b);
	is_str(b.p, "# quantpipe recipe 1\n# model: m\nblk\\.([0-3]|11)\\.ffn_down\\.weight=Q6_K\n.*=Q4_K\n",
	       "the recipe text");
	qp_buf_free(&b);
	qp_rtext_write_ttfile(&out, &b);
	is_str(b.p, "^blk\\.([0-3]|11)\\.ffn_down\\.weight$=q6_k\n.*=q4_k\n", "the tensor-type file");
	qp_buf_free(&b);
	qp_rtext_write_args(&out, true, "Q4_K_M", &b);
	is_str(b.p, "--pure --tensor-type '^blk\\.([0-3]|11)\\.ffn_down\\.weight$=q6_k' "
		    "--tensor-type '.*=q4_k'\nQ4_K_M\n", "the arguments");
	qp_buf_free(&b);
	qp_rtext_write_custom_q(&out, &b);
	is_str(b.p, "^blk\\.([0-3]|11)\\.ffn_down\\.weight$=q6_k,.*=q4_k\n", "custom-q");
	qp_buf_free(&b);
	qp_rtext_free(&out);
	ok(qp_rtext_compress(nm, ty, dd, 0, &out, &e) == 0 && out.n == 0,
	   "no tensors, no rules");
	qp_rtext_free(&out);
}

int main(void)
{
	test_parse();
	test_ttfile();
	test_ecma();
	test_compress();
	done_testing();
	return exit_status();
}
