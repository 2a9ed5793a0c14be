#!/bin/sh
# stories-to-json.sh FIXTURES — the stories260K rows of
# FIXTURES/figures/stories260K-ppl.tsv whose GGUF is in FIXTURES, as
# `measure` records in JSON lines (rec-show --from-json).  The per-tensor
# types come from each file's header (gguf-dump), since the tsv only counts
# them.  Rows using a type qerr-measure cannot measure yet ($QP_SKIP_TYPES,
# default IQ3_S IQ3_XXS IQ2_XS IQ2_S IQ1_S IQ1_M TQ1_0 Q1_0) are left out;
# so is the F32 base.  Files named *-imat* were quantized with an imatrix.
fx=${1:?usage: stories-to-json.sh FIXTURES}
skip=${QP_SKIP_TYPES-IQ3_S IQ3_XXS IQ2_XS IQ2_S IQ1_S IQ1_M TQ1_0 Q1_0}
tail -n +2 "$fx/figures/stories260K-ppl.tsv" | while IFS='	' read -r file bytes np bpw tt ppl pple pplb lnr lnre kld klde kldm kld99 kldx dp top rest; do
	[ "$file" = stories260K-f32.gguf ] && continue
	[ -f "$fx/$file" ] || continue
	types=$(gguf-dump "$fx/$file" | rec-show --tsv -H -f name,type) || exit 1
	bad=0
	for s in $skip; do
		printf '%s\n' "$types" | awk -F'\t' -v s="$s" '$2 == s { f = 1 } END { exit !f }' && bad=1
	done
	[ $bad = 1 ] && continue
	imat=false
	case $file in *-imat*) imat=true ;; esac
	printf '%s\n' "$types" | awk -F'\t' -v file="$file" -v imat="$imat" -v kld="$kld" \
	    -v lnr="$lnr" -v ppl="$ppl" -v bytes="$bytes" -v bpw="$bpw" '
	{ t = t (NR > 1 ? "," : "") "\"" $1 "\":\"" $2 "\"" }
	END {
		printf "{\"kind\":\"measure\",\"model\":\"stories260K-f32.gguf\",\"source\":\"llama-perplexity\",\"path\":\"%s\",\"imatrix\":%s,\"types\":{%s},\"n_bytes\":%d,\"bpw\":%s,\"ppl\":%s,\"ln_ppl_ratio\":%s,\"kld_mean\":%s}\n", file, imat, t, bytes, bpw, ppl, lnr, kld
	}'
done
