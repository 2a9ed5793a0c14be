#!/bin/sh
# ppl-tsv-to-json.sh PPL.TSV [MODEL_ID] — the rows of kjv-llama's ppl.tsv
# (../shared/fixtures/kjv-llama) as `measure` records in JSON lines, for
# `rec-show --from-json`.  The tensor_types column gives each role's type,
# per layer for blk.N roles ("attn_q=Q4_K/Q4_K/Q3_K/Q3_K"); norms are F32 in
# every row.  Rows whose status is not "ok" are left out, and so are rows
# using a type named in $QP_SKIP_TYPES (space-separated; default the types
# qerr-measure cannot measure yet: IQ3_S IQ3_XXS IQ2_XS IQ2_S) or the
# config ids in $QP_SKIP_ROWS (default F32, the base itself).
# "imatrix": true marks configurations quantized with --imatrix.
tsv=${1:?usage: ppl-tsv-to-json.sh PPL.TSV [MODEL_ID]}
model=${2:-model-f32.gguf}
LC_ALL=C awk -F'\t' -v model="$model" \
    -v skip_types="${QP_SKIP_TYPES-IQ3_S IQ3_XXS IQ2_XS IQ2_S}" \
    -v skip_rows="${QP_SKIP_ROWS-F32}" '
function num(v) { return v == "" ? "null" : v + 0 }
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
	if ($col["status"] != "ok") next
	n = split(skip_rows, sr, " ")
	skip = 0
	for (i = 1; i <= n; i++) if ($col["config_id"] == sr[i]) skip = 1
	if (skip) next
	tt = $col["tensor_types"]
	nt = split(skip_types, st, " ")
	for (i = 1; i <= nt; i++) if (index(tt "/", "=" st[i] "/") || index(tt "/", "/" st[i] "/") || index(tt ";", "=" st[i] ";") || index(tt ";", "/" st[i] ";")) skip = 1
	if (skip) next
	nr = split(tt, roles, ";")
	types = ""
	nl = 0
	for (i = 1; i <= nr; i++) {
		split(roles[i], kv, "=")
		nlay = split(kv[2], per, "/")
		if (kv[1] == "token_embd" || kv[1] == "output") {
			types = types (types == "" ? "" : ",") "\"" kv[1] ".weight\":\"" per[1] "\""
		} else {
			if (nlay > nl) nl = nlay
			for (l = 1; l <= nlay; l++)
				types = types ",\"blk." (l - 1) "." kv[1] ".weight\":\"" per[l] "\""
		}
	}
	for (l = 0; l < nl; l++)
		types = types ",\"blk." l ".attn_norm.weight\":\"F32\",\"blk." l ".ffn_norm.weight\":\"F32\""
	types = types ",\"output_norm.weight\":\"F32\""
	printf "{\"kind\":\"measure\",\"model\":\"%s\",\"source\":\"llama-perplexity\",", model
	printf "\"path\":\"%s.gguf\",\"imatrix\":%s,\"types\":{%s},", $col["config_id"], ($col["imatrix"] == 1 ? "true" : "false"), types
	printf "\"n_bytes\":%s,\"bpw\":%s,\"ppl\":%s,\"ppl_err\":%s,", num($col["tensor_bytes"]), num($col["bpw"]), num($col["ppl"]), num($col["ppl_err"])
	printf "\"ln_ppl_ratio\":%s,\"ln_ppl_ratio_err\":%s,", num($col["ln_ppl_ratio"]), num($col["ln_ppl_ratio_err"])
	printf "\"kld_mean\":%s,\"kld_mean_err\":%s,\"kld_median\":%s,\"kld_p99\":%s,\"kld_max\":%s,", num($col["kld_mean"]), num($col["kld_mean_err"]), num($col["kld_median"]), num($col["kld_p99"]), num($col["kld_max"])
	printf "\"top1\":%s,\"top1_err\":%s,\"dp_rms\":%s}\n", num($col["same_top1_pct"]), num($col["same_top1_pct_err"]), num($col["rms_dp_pct"])
}' "$tsv"
