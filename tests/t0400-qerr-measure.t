#!/bin/bash
test_description='qerr-measure: the real round-trip error, bit-exact with llama-quantize'
. "$(dirname "$0")/lib.sh"

if ! test_have_fixtures; then
	printf '1..0 # SKIP no ../shared/fixtures (real llama.cpp files)\n'
	exit 0
fi
F=$FIXTURES

# crc_check FIXTURE SOURCE TYPE [IMATRIX]: every tensor llama-quantize wrote
# (gguf-dump --crc of its output) has the crc32 qerr-measure --crc reports
# for the type really written.  F16 stands for --tensor-type ffn_down=f16.
crc_check() {
	local fx=$1 src=$2 t=$3 im=${4:+--imatrix $4}
	gguf-dump --crc "$F/$fx" | rec-show --tsv -H -f name,type,crc32 | sort >want.tsv &&
	gguf-dump "$F/$src" | qerr-measure --crc -t "$t,F16" $im |
		rec-show --tsv -H -f name,qerr.$t.as,qerr.$t.crc32,qerr.F16.crc32 | sort >got.tsv &&
	join -t "$(printf '\t')" want.tsv got.tsv | awk -F'\t' -v fx="$fx" '
		$2 == $4 { n++; if ($3 != $5) { bad++; print "mismatch", fx, $1 } ; next }
		$2 == "F16" { n++; if ($3 != $6) { bad++; print "mismatch", fx, $1 }; next }
		{ print "type differs", fx, $1, $2, $4; bad++ }
		END { if (n != 48 || bad) { print fx ": compared", n, "bad", bad + 0; exit 1 } }'
}

test_expect_success 'rows256: every quantized tensor equals llama-quantize --pure (no imatrix)' '
	for f in $(cd "$F" && ls stories260K-rows256-*-pure.gguf); do
		t=$(echo $f | sed "s/stories260K-rows256-\(.*\)-pure.gguf/\1/; s/MXFP4_MOE/MXFP4/") &&
		crc_check $f stories260K-rows256-f32.gguf $t || return 1
	done
'

test_expect_success 'stories260K: the fallbacks llama-quantize took, byte for byte' '
	for f in $(cd "$F" && ls stories260K-*-pure*.gguf | grep -v -e rows256 -e imat); do
		t=$(echo $f | sed "s/stories260K-\([A-Z0-9_]*\)-pure.*/\1/; s/MXFP4_MOE/MXFP4/") &&
		crc_check $f stories260K-f32.gguf $t || return 1
	done
'

test_expect_success 'with an importance matrix (GGUF and legacy .dat), byte for byte' '
	for im in stories260K.imatrix.gguf stories260K.imatrix.dat; do
		crc_check stories260K-Q4_0-pure-ffndownF16-imat.gguf stories260K-f32.gguf Q4_0 "$F/$im" &&
		crc_check stories260K-IQ4_NL-pure-ffndownF16-imat.gguf stories260K-f32.gguf IQ4_NL "$F/$im" &&
		crc_check stories260K-Q4_K-pure-imat.gguf stories260K-f32.gguf Q4_K "$F/$im" || return 1
	done
'

test_expect_success 'the imatrix changes the bytes (the test above is not vacuous)' '
	gguf-dump "$F/stories260K-f32.gguf" | qerr-measure --crc -t Q4_0 |
		rec-show --tsv -H -f name,qerr.Q4_0.crc32 | sort >plain.tsv &&
	gguf-dump "$F/stories260K-f32.gguf" | qerr-measure --crc -t Q4_0 --imatrix "$F/stories260K.imatrix.gguf" |
		rec-show --tsv -H -f name,qerr.Q4_0.crc32 | sort >imat.tsv &&
	test $(join plain.tsv imat.tsv | awk "\$2 != \$3" | wc -l) -ge 30
'

# test-quantize-stats prints rmse to 8 decimals and maxerr computed in
# float (ours is the exact double difference: up to one float ulp apart).
# IQ4_NL is left out: its from_float there is not the path llama-quantize
# takes, and bit-exactness with llama-quantize is checked above.
test_expect_success 'rmse and maxabs equal test-quantize-stats to its precision' '
	gguf-dump "$F/stories260K-rows256-f32.gguf" >src.mp &&
	types="Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS TQ1_0 TQ2_0 MXFP4 Q1_0 Q2_0 F16 BF16" &&
	qerr-measure -@ 2 -t $(echo $types | tr " " ,) src.mp >q.mp &&
	for t in $types; do
		rec-show --tsv -H -f name,qerr.$t.rmse,qerr.$t.maxabs q.mp | sed "s/^/$t\t/"
	done >ours.tsv &&
	awk -F"\t" "
		NR == FNR { key = toupper(\$1) \"|\" \$2; rmse[key] = \$3; maxe[key] = \$4; next }
		(\$1 \"|\" \$2) in rmse { n++; k = \$1 \"|\" \$2;
			if ((\$3 - rmse[k]) ^ 2 > 0.26e-16 || (\$4 - maxe[k]) ^ 2 > (1.2e-7 * maxe[k] + 0.6e-8) ^ 2) { bad++; print k, \$3, rmse[k], \$4, maxe[k] } }
		END { print n, \"compared\"; exit (n < 600 || bad) }
	" "$F/figures/qerr-test-quantize-stats.tsv" ours.tsv
'

test_expect_success 'fallbacks and kept tensors are reported honestly' '
	gguf-dump "$F/stories260K-f32.gguf" | qerr-measure -t Q4_K,Q4_0,IQ2_XXS >fb.mp &&
	rec-show --tsv -H -f name,qerr.Q4_K.as,qerr.Q4_0.as,qerr.IQ2_XXS.as,qerr.IQ2_XXS.note fb.mp |
		grep -e "^blk.0.attn_q.weight" -e "^blk.0.ffn_down.weight" -e "^output_norm" >actual &&
	printf "output_norm.weight\tF32\tF32\tF32\tllama-quantize keeps this tensor as F32\n" >expect &&
	printf "blk.0.attn_q.weight\tQ5_0\tQ4_0\tIQ4_NL\t\n" >>expect &&
	printf "blk.0.ffn_down.weight\tF16\t\tF16\t\n" >>expect &&
	test_cmp expect actual &&
	rec-show --tsv -H -f name,qerr.Q4_0.note fb.mp | grep "^blk.0.ffn_down" | grep -q "no fallback for Q4_0 at row length 172"
'

test_expect_success 'a type without a quantizer says so instead of a number' '
	gguf-dump "$F/stories260K-rows256-f32.gguf" | qerr-measure -t Q8_K,IQ3_S |
		rec-show --tsv -H -f name,qerr.Q8_K.note,qerr.Q8_K.rel | grep "^blk.0.attn_q" >actual &&
	printf "blk.0.attn_q.weight\tnot measurable yet: no Q8_K quantizer\t-\n" | sed "s/-\$//" >expect &&
	test_cmp expect actual
'

test_expect_success 'same output for -@ 1 and -@ 2, and for data piped in' '
	gguf-dump "$F/kjv-llama/model-f16.gguf" >kjv.mp &&
	qerr-measure -t Q4_K,Q6_K,IQ4_XS --crc -@ 1 kjv.mp | rec-show -k tensor >one.json &&
	qerr-measure -t Q4_K,Q6_K,IQ4_XS --crc -@ 2 kjv.mp | rec-show -k tensor >two.json &&
	test_cmp one.json two.json &&
	gguf-dump - <"$F/kjv-llama/model-f16.gguf" | qerr-measure -t Q4_K,Q6_K,IQ4_XS --crc |
		rec-show --tsv -H -f name,qerr.Q4_K.crc32,qerr.Q6_K.rel >piped.tsv &&
	qerr-measure -t Q4_K,Q6_K,IQ4_XS --crc kjv.mp | rec-show --tsv -H -f name,qerr.Q4_K.crc32,qerr.Q6_K.rel >mapped.tsv &&
	test_cmp mapped.tsv piped.tsv
'

test_expect_success 'records other than tensors pass through byte for byte' '
	gguf-dump "$F/stories260K-f32.gguf" >in.mp &&
	qerr-measure -t Q8_0 in.mp >out.mp &&
	rec-show -k model in.mp >m1 && rec-show -k model out.mp >m2 && test_cmp m1 m2 &&
	rec-show -k meta out.mp | sed -n 2p | grep -q "\"tool\":\"gguf-dump\"" &&
	rec-show -k meta out.mp | sed -n 1p | grep -q "\"tool\":\"qerr-measure\""
'

test_expect_success 'running twice replaces its own key' '
	qerr-measure -t Q8_0 in.mp | qerr-measure -t Q4_0 >twice.mp &&
	rec-show -k tensor twice.mp | head -n 1 >first &&
	grep -q "\"qerr\":{\"Q4_0\"" first && ! grep -q "Q8_0" first
'

test_expect_success '--sample: 95% intervals cover the full-pass values' '
	qerr-measure -t Q4_K,Q6_K,IQ4_XS,Q4_0 kjv.mp | rec-show --tsv -H -f name,qerr.Q4_K.rel,qerr.Q6_K.rel,qerr.IQ4_XS.rel,qerr.Q4_0.rel,qerr.Q4_K.mse,qerr.Q6_K.mse,qerr.IQ4_XS.mse,qerr.Q4_0.mse >full.tsv &&
	for seed in 1 2 3; do
		qerr-measure -t Q4_K,Q6_K,IQ4_XS,Q4_0 --sample 0.1 --seed $seed kjv.mp |
		rec-show --tsv -H -f qerr.Q4_K.ci95.rel,qerr.Q6_K.ci95.rel,qerr.IQ4_XS.ci95.rel,qerr.Q4_0.ci95.rel,qerr.Q4_K.ci95.mse,qerr.Q6_K.ci95.mse,qerr.IQ4_XS.ci95.mse,qerr.Q4_0.ci95.mse >ci.tsv &&
		paste full.tsv ci.tsv || return 1
	done | tr -d "[]" | awk -F"\t" "
		\$10 == \"\" { next }
		{ for (i = 2; i <= 9; i++) { split(\$(i + 8), ci, \",\"); n++; if (\$i >= ci[1] && \$i <= ci[2]) in_ci++ } }
		END { printf \"%d of %d inside\n\", in_ci, n; exit (n < 300 || in_ci < 0.9 * n) }"
'

test_expect_success '--rotate hadamard adds a what-if entry next to the plain one' '
	qerr-measure -t Q4_0 --rotate hadamard:64 kjv.mp |
		rec-show --tsv -H -f name,qerr.Q4_0.rel,qerr.Q4_0+had64.rel,qerr.Q4_0+had64.as |
		grep "^blk.0.attn_q.weight" >r.tsv &&
	awk -F"\t" "{ exit !(\$2 > 0 && \$3 > 0 && \$3 < 3 * \$2 && \$4 == \"Q4_0\") }" r.tsv &&
	test_must_fail 2 qerr-measure --rotate hadamard:100 kjv.mp 2>err && grep -q "power of two" err
'

test_expect_success 'bad input: one error line and exit 1' '
	printf "{\"kind\":\"tensor\",\"name\":\"x\",\"type\":\"F32\",\"shape\":[4],\"n_elem\":4,\"n_bytes\":16,\"path\":\"missing.gguf\",\"offset\":0}\n" |
		rec-show --from-json >missing.mp &&
	test_must_fail 1 qerr-measure missing.mp >out 2>err && test_one_error_line err &&
	grep -q "missing.gguf" err &&
	printf "{\"kind\":\"tensor\",\"name\":\"x\",\"type\":\"F32\",\"shape\":[4],\"n_elem\":5,\"n_bytes\":16,\"path\":\"x\",\"offset\":0}\n" |
		rec-show --from-json >badn.mp &&
	test_must_fail 1 qerr-measure badn.mp >out 2>err && grep -q "n_elem does not match" err &&
	printf "{\"kind\":\"tensor\",\"name\":\"x\",\"type\":\"F32\",\"shape\":[64],\"n_elem\":64,\"n_bytes\":256,\"path\":\"$F/stories260K-f32.gguf\",\"offset\":1185300}\n" |
		rec-show --from-json >past.mp &&
	test_must_fail 1 qerr-measure past.mp >out 2>err && grep -q "past the end" err &&
	printf "{\"kind\":\"tensor\",\"name\":\"x\"}\n" | rec-show --from-json >noshape.mp &&
	test_must_fail 1 qerr-measure noshape.mp >out 2>err && grep -q "\"shape\" is missing" err
'

test_expect_success 'an imatrix of another model is refused' '
	test_must_fail 1 qerr-measure --imatrix "$F/kjv-llama/imatrix.gguf" in.mp >out 2>err &&
	test_one_error_line err && grep -q "another model" err
'

test_expect_success 'usage errors exit 2' '
	test_must_fail 2 qerr-measure -t Q4_X in.mp 2>err && grep -q "unknown type" err &&
	test_must_fail 2 qerr-measure --sample 1.5 in.mp 2>err &&
	test_must_fail 2 qerr-measure --sample 0.1 --crc in.mp 2>err
'

test_done
