/* llq_arch: recipe-emit --mix against llama-quantize --dry-run on models
 * gguf-synth does not make: MoE with 8 experts and with 64 plus shared
 * experts, tied embeddings, GQA 1 and 8, widths that are not a multiple
 * of 256 (nor of 32), 80-layer llama (70B rule) and its 65B twin, an
 * 80-layer qwen2, and falcon (fused attn_qkv).  The GGUFs are header-only
 * (sparse data): --dry-run reads only the header.  Skips without
 * ../shared/llama.cpp. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "gguf.h"
#include "gguf_write.h"
#include "types.h"

typedef struct spec {
	const char *name, *arch;
	int n_layer, n_embd, n_ff, n_head, n_head_kv, n_expert, n_vocab;
	bool tied, shexp, qkv;
	bool few;               /* only the mixes whose attn_v a 70B bumps */
} spec;

static const spec specs[] = {
	{"moe8", "llama", 8, 256, 512, 8, 2, 8, 1024, false, false, false, false},
	{"moe64-shexp", "llama", 6, 256, 256, 8, 4, 64, 1024, false, true, false, false},
	{"tied-gqa1", "llama", 6, 256, 768, 8, 8, 0, 1024, true, false, false, false},
	{"odd-widths", "llama", 3, 2880, 1000, 8, 1, 0, 1000, false, false, false, false},
	{"llama-70b", "llama", 80, 256, 512, 8, 1, 0, 512, false, false, false, true},
	{"llama-65b", "llama", 80, 256, 512, 8, 8, 0, 512, false, false, false, true},
	{"qwen2-80", "qwen2", 80, 256, 512, 8, 2, 0, 512, false, false, false, true},
	{"falcon", "falcon", 4, 256, 1024, 8, 1, 0, 512, false, false, true, false},
};

static int add(qp_gguf_writer *w, const char *name, int64_t a, int64_t b,
	       int64_t c)
{
	qp_err e;
	int64_t ne[3] = {a, b, c};
	int nd = c > 1 ? 3 : b > 0 ? 2 : 1;
	return qp_gguf_w_tensor(w, name, nd == 1 ? QP_F32 : QP_F16, ne, nd, &e);
}

static int write_model(const spec *s, const char *path)
{
	qp_gguf_writer *w = qp_gguf_writer_new();
	char key[128], name[128];
	int rc = 0;
	int64_t d = s->n_embd, kv = d / s->n_head * s->n_head_kv;
#define KEY(k) (snprintf(key, sizeof key, "%s.%s", s->arch, k), key)
	rc |= qp_gguf_w_str(w, "general.architecture", s->arch);
	rc |= qp_gguf_w_u32(w, "general.alignment", 32);
	rc |= qp_gguf_w_u32(w, "general.file_type", 1);
	rc |= qp_gguf_w_u32(w, KEY("context_length"), 256);
	rc |= qp_gguf_w_u32(w, KEY("embedding_length"), (uint32_t)d);
	rc |= qp_gguf_w_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff);
	rc |= qp_gguf_w_u32(w, KEY("block_count"), (uint32_t)s->n_layer);
	rc |= qp_gguf_w_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head);
	rc |= qp_gguf_w_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
	rc |= qp_gguf_w_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
	rc |= qp_gguf_w_f32(w, KEY("attention.layer_norm_epsilon"), 1e-5f);
	rc |= qp_gguf_w_u32(w, KEY("vocab_size"), (uint32_t)s->n_vocab);
	if (s->n_expert) {
		rc |= qp_gguf_w_u32(w, KEY("expert_count"), (uint32_t)s->n_expert);
		rc |= qp_gguf_w_u32(w, KEY("expert_used_count"), 2);
	}
	rc |= add(w, "token_embd.weight", d, s->n_vocab, 1);
	rc |= add(w, "output_norm.weight", d, 0, 1);
	if (!s->tied)
		rc |= add(w, "output.weight", d, s->n_vocab, 1);
	for (int l = 0; l < s->n_layer && !rc; l++) {
#define T(role, a, b, c) (snprintf(name, sizeof name, "blk.%d.%s.weight", l, role), add(w, name, a, b, c))
		rc |= T("attn_norm", d, 0, 1);
		if (s->qkv) {
			rc |= T("attn_qkv", d, d + 2 * kv, 1);
		} else {
			rc |= T("attn_q", d, d, 1);
			rc |= T("attn_k", d, kv, 1);
			rc |= T("attn_v", d, kv, 1);
		}
		rc |= T("attn_output", d, d, 1);
		if (!s->qkv)
			rc |= T("ffn_norm", d, 0, 1);
		if (s->n_expert) {
			rc |= T("ffn_gate_inp", d, s->n_expert, 1);
			rc |= T("ffn_gate_exps", d, s->n_ff, s->n_expert);
			rc |= T("ffn_up_exps", d, s->n_ff, s->n_expert);
			rc |= T("ffn_down_exps", s->n_ff, d, s->n_expert);
			if (s->shexp) {
				rc |= T("ffn_gate_shexp", d, s->n_ff, 1);
				rc |= T("ffn_up_shexp", d, s->n_ff, 1);
				rc |= T("ffn_down_shexp", s->n_ff, d, 1);
			}
		} else {
			if (!s->qkv)
				rc |= T("ffn_gate", d, s->n_ff, 1);
			rc |= T("ffn_up", d, s->n_ff, 1);
			rc |= T("ffn_down", s->n_ff, d, 1);
		}
	}
	qp_err e;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (rc || fd < 0 || qp_gguf_writer_write(w, fd, NULL, NULL, &e)) {
		diag("cannot write %s", path);
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	qp_gguf_writer_free(w);
	return rc ? -1 : 0;
}

static const char *const ftypes[] = {
	"Q1_0", "Q2_0", "Q4_0", "Q4_1", "MXFP4_MOE", "Q5_0", "Q5_1", "IQ2_XXS",
	"IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0", "Q2_K",
	"Q2_K_S", "IQ3_XXS", "IQ3_S", "IQ3_M", "IQ3_XS", "Q3_K_S", "Q3_K_M",
	"Q3_K_L", "IQ4_NL", "IQ4_XS", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M",
	"Q6_K", "Q8_0", "F16", "BF16", "F32",
};

/* The mixes an importance matrix changes or needs. */
static bool imatrix_matters(const char *ft)
{
	static const char *const v[] = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS",
		"IQ2_S", "IQ2_M", "IQ3_XXS", "IQ4_NL", "IQ4_XS", "Q4_0", "Q5_0",
		"Q2_K_S"};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		if (strcmp(v[i], ft) == 0)
			return true;
	return false;
}

static bool attn_v_bumped(const char *ft)
{
	static const char *const v[] = {"Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S",
		"Q4_K_M", "IQ3_XS", "IQ3_M", "Q3_K_L"};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		if (strcmp(v[i], ft) == 0)
			return true;
	return false;
}

static int run(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int file_has(const char *path, const char *needle)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "grep -q '%s' '%s'", needle, path);
	return run(cmd) == 0;
}

int main(void)
{
	const char *top = getenv("QP_TOP");
	const char *bin = getenv("QP_BIN");
	char lq[1024], im[1024], dir[] = "/tmp/qp-llq-arch.XXXXXX";
	snprintf(lq, sizeof lq, "%s/../shared/llama.cpp/bin/llama-quantize",
		 top ? top : ".");
	snprintf(im, sizeof im, "%s/../shared/fixtures/kjv-llama/imatrix.gguf",
		 top ? top : ".");
	if (!bin || access(lq, X_OK) != 0 || access(im, R_OK) != 0) {
		skip_all("needs QP_BIN and ../shared/llama.cpp (llama-quantize) "
			 "with the kjv-llama imatrix");
		return 0;
	}
	if (!mkdtemp(dir)) {
		skip_all("no temporary folder");
		return 0;
	}
	size_t n_specs = sizeof specs / sizeof specs[0];
	size_t n_ft = sizeof ftypes / sizeof ftypes[0];
	long runs = 0, tensors = 0, refused = 0;
	for (size_t i = 0; i < n_specs; i++) {
		char model[1100], mp[1100], cmd[8192];
		snprintf(model, sizeof model, "%s/%s.gguf", dir, specs[i].name);
		snprintf(mp, sizeof mp, "%s/%s.mp", dir, specs[i].name);
		snprintf(cmd, sizeof cmd, "'%s/gguf-dump' '%s' > '%s'", bin, model, mp);
		if (!ok(write_model(&specs[i], model) == 0 && run(cmd) == 0,
			"%s: written and dumped", specs[i].name))
			continue;
		int bad = 0, n_runs = 0;
		for (size_t f = 0; f < n_ft; f++)
			for (int imat = 0; imat < 2; imat++) {
				if (specs[i].few ? imat || !attn_v_bumped(ftypes[f])
						 : imat && !imatrix_matters(ftypes[f]))
					continue;
				char ll[1100], want[1100], got[1100], err[1100];
				snprintf(ll, sizeof ll, "%s/ll.txt", dir);
				snprintf(want, sizeof want, "%s/want", dir);
				snprintf(got, sizeof got, "%s/got", dir);
				snprintf(err, sizeof err, "%s/err", dir);
				snprintf(cmd, sizeof cmd, "'%s' --dry-run %s%s%s '%s' %s > '%s' 2>&1",
					 lq, imat ? "--imatrix '" : "", imat ? im : "",
					 imat ? "'" : "", model, ftypes[f], ll);
				int lrc = run(cmd);
				snprintf(cmd, sizeof cmd, "'%s/recipe-emit' --mix %s %s -f tsv < '%s' 2>'%s' | sort > '%s'",
					 bin, ftypes[f], imat ? "--imatrix-used" : "", mp, err, got);
				run(cmd);
				bool ours_ok = !file_has(err, ".");
				if (lrc != 0 || (!imat && file_has(ll, "will require an imatrix"))) {
					if (ours_ok) {
						bad++;
						diag("%s %s%s: llama-quantize refuses, recipe-emit does not",
						     specs[i].name, ftypes[f], imat ? " imatrix" : "");
					}
					refused++;
					continue;
				}
				snprintf(cmd, sizeof cmd,
					 "awk '/^\\[ *[0-9]+\\/ *[0-9]+\\]/ { l = $0; sub(/^\\[[^]]*\\] +/, \"\", l);"
					 " n = l; sub(/ .*/, \"\", n); t = l; sub(/.*type = +/, \"\", t); sub(/,.*/, \"\", t);"
					 " if (match(l, /\\([A-Za-z0-9_]+\\)$/)) t = substr(l, RSTART + 1, RLENGTH - 2);"
					 " print n \"\\t\" toupper(t) }' '%s' | sort > '%s'", ll, want);
				run(cmd);
				snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", want, got);
				if (!ours_ok || run(cmd) != 0) {
					bad++;
					diag("%s %s%s differs:", specs[i].name, ftypes[f],
					     imat ? " imatrix" : "");
					snprintf(cmd, sizeof cmd, "diff '%s' '%s' | head -6 | sed 's/^/# /'; sed 's/^/# /' '%s'",
						 want, got, err);
					fflush(stdout);
					run(cmd);
					continue;
				}
				snprintf(cmd, sizeof cmd, "test $(wc -l < '%s') -gt 0", want);
				if (run(cmd) == 0) {
					FILE *fp = fopen(want, "r");
					int c, lines = 0;
					while (fp && (c = fgetc(fp)) != EOF)
						lines += c == '\n';
					if (fp)
						fclose(fp);
					tensors += lines;
				}
				n_runs++;
			}
		runs += n_runs;
		ok(bad == 0, "%s: %d ftype runs equal llama-quantize --dry-run", specs[i].name,
		   n_runs);
	}
	diag("llq_arch: %ld runs, %ld tensor choices equal; %ld refused by both",
	     runs, tensors, refused);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	run(cmd);
	done_testing();
	return exit_status();
}
