#!/bin/sh
test_description='proxy-fit: prior without runs, bad input, calibration on kjv-llama runs'
. "$(dirname "$0")/lib.sh"

# A synthetic model with qerr, and questions/runs written as JSON.
setup_synth() {
	gguf-synth >m.gguf &&
	gguf-dump m.gguf | qerr-measure -t Q4_K,Q8_0 >q.mp &&
	rec-show --tsv -H -f name q.mp >names
}
measure_json() { # TYPE [extra fields]
	awk -v t="$1" -v x="${2-}" 'BEGIN { printf "{\"kind\":\"measure\",\"model\":\"m.gguf\",\"source\":\"t\",\"types\":{" }
	     { printf "%s\"%s\":\"%s\"", (NR > 1 ? "," : ""), $1, t }
	     END { printf "}%s}\n", x }' names
}

test_expect_success 'without runs the prior answers a question, labelled uncalibrated' '
	setup_synth &&
	measure_json Q4_K | rec-show --from-json >ask.mp &&
	proxy-fit -q q.mp ask.mp >out.mp &&
	rec-show -k measure --tsv -H -f pred.calibrated,pred.value,pred.lo,pred.hi,resid out.mp >got &&
	awk -F"\t" "\$1 == \"false\" && \$3 <= \$2 && \$2 <= \$4 && \$2 > 0 && \$5 == \"\" { ok = 1 } END { exit !ok }" got &&
	rec-show -k fit --tsv -H -f calibrated,interval.method out.mp >fit &&
	printf "false\tcross-model-transfer\n" >want && test_cmp want fit
'

test_expect_success 'a lower type is predicted worse (monotone in the error)' '
	measure_json Q8_0 | rec-show --from-json >ask8.mp &&
	proxy-fit -q q.mp ask.mp ask8.mp | rec-show -k measure --tsv -H -f pred.value >v &&
	awk "NR == 1 { a = \$1 } NR == 2 { b = \$1 } END { exit !(a > b) }" v
'

test_expect_success 'a measure naming a tensor the model lacks is one error line' '
	echo "{\"kind\":\"measure\",\"model\":\"m.gguf\",\"source\":\"t\",\"types\":{\"blk.99.nope.weight\":\"Q4_K\"},\"kld_mean\":0.1}" |
		rec-show --from-json >bad.mp &&
	test_must_fail 1 proxy-fit q.mp bad.mp >/dev/null 2>err &&
	test_one_error_line err && grep -q "blk.99.nope.weight" err
'

test_expect_success 'a type without measured qerr is an error naming tensor and type' '
	measure_json Q5_K | rec-show --from-json >q5.mp &&
	test_must_fail 1 proxy-fit q.mp q5.mp >/dev/null 2>err &&
	test_one_error_line err && grep -q "qerr.Q5_K" err
'

test_expect_success 'negative KLD: warning, left out; one run: prior with a warning' '
	{ measure_json Q4_K ",\"kld_mean\":-0.5"; measure_json Q8_0 ",\"kld_mean\":0.01"; } |
		rec-show --from-json >neg.mp &&
	proxy-fit q.mp neg.mp >out.mp 2>err &&
	grep -q "negative" err && grep -q "one measured run" err &&
	rec-show -k fit --tsv -H -f calibrated out.mp >c && echo false >want && test_cmp want c
'

test_expect_success 'duplicate runs are averaged with a warning; two runs fit' '
	{ measure_json Q4_K ",\"kld_mean\":0.05"; measure_json Q4_K ",\"kld_mean\":0.07"; 
	  measure_json Q8_0 ",\"kld_mean\":0.001"; } | rec-show --from-json >dup.mp &&
	proxy-fit q.mp dup.mp >out.mp 2>err &&
	grep -q "same configuration" err &&
	rec-show -k fit --tsv -H -f calibrated,n,form out.mp >c &&
	printf "true\t2\ttotal\n" >want && test_cmp want c
'

test_expect_success 'usage errors exit 2' '
	test_must_fail 2 proxy-fit --level 2 q.mp 2>err &&
	test_must_fail 2 proxy-fit --target ppl q.mp 2>err
'

if test_have_fixtures && command -v jq >/dev/null 2>&1; then
	K=$FIXTURES/kjv-llama
	T=F16,Q8_0,Q6_K,Q5_K,Q5_1,Q5_0,Q4_K,Q4_1,Q4_0,IQ4_NL,IQ4_XS,Q3_K,Q2_K
	test_expect_success 'kjv-llama: 5-fold CV meets the quality targets' '
		gguf-dump "$K/model-f32.gguf" | qerr-measure -t $T >k.q &&
		gguf-dump "$K/model-f32.gguf" | qerr-measure -t $T -m "$K/imatrix.gguf" >k.qi &&
		sh "$QP_TOP/tests/ppl-tsv-to-json.sh" "$K/ppl.tsv" | rec-show --from-json >k.m &&
		proxy-fit -q --cv 5 --imatrix-qerr k.qi k.q k.m | rec-show -k fit >fit.json &&
		jq -r "\"cv spearman \(.cv.spearman) mae/range \(.cv.mae_range) coverage \(.cv.coverage) form \(.form) \(.metric)\"" fit.json &&
		jq -e ".cv.spearman >= 0.95 and .cv.mae_range <= 0.10 and .cv.coverage >= 0.90" fit.json
	'
	test_expect_success 'kjv-llama: the uncalibrated prior ranks and covers' '
		proxy-fit -q --prior --imatrix-qerr k.qi k.q k.m | rec-show -k fit >prior.json &&
		jq -r "\"prior spearman \(.spearman) mae \(.mae) r2 \(.r2)\"" prior.json &&
		jq -e ".spearman >= 0.90" prior.json &&
		proxy-fit -q --prior --imatrix-qerr k.qi k.q k.m | rec-show -k measure |
			jq -s "[.[] | select(.resid != null) | (.kld_mean >= .pred.lo and .kld_mean <= .pred.hi)] | (map(select(.)) | length) / length" >cov &&
		cat cov && awk "{ exit !(\$1 >= 0.90) }" cov
	'
else
	test_skip 'kjv-llama calibration' 'no ../shared fixtures or no jq'
fi

test_done
