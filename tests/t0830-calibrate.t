#!/bin/sh
test_description='pipelines/calibrate.mk for real: proposals quantized by llama-quantize and measured by llama-perplexity on kjv-llama, a calibrated recipe at Q4_K_M size verified against its prediction'
. "$(dirname "$0")/lib.sh"

K=$FIXTURES/kjv-llama
if ! test_have_fixtures || ! [ -f "$K/model-f32.gguf" ]; then
	printf '1..0 # SKIP no ../shared/fixtures/kjv-llama (real llama.cpp files)\n'
	exit 0
fi
for t in llama-quantize llama-perplexity; do
	if ! [ -x "$LLAMA_BIN/$t" ]; then
		printf '1..0 # SKIP no %s in %s\n' "$t" "$LLAMA_BIN"
		exit 0
	fi
done
if ! command -v jq >/dev/null 2>&1; then
	[ "${CI:-}" = true ] && { echo "CI: jq missing (.ci/deps.sh installs it)" >&2; exit 1; }
	printf '1..0 # SKIP calibrate.mk needs jq\n'
	exit 0
fi

# Small enough to stay well under five minutes on an idle machine: three
# proposals, one budget (Q4_K_M's 4.92 bpw; U-Q4_K in ppl.tsv), the first
# 40 chunks of 256 tokens of eval.txt, so five llama-perplexity runs of a
# few seconds each (base logits, three proposals, one verification).
cal() {
	make --no-print-directory -f "$QP_TOP/pipelines/calibrate.mk" \
		MODEL="$K/model-f32.gguf" EVAL_TEXT="$K/eval.txt" LLAMA_CPP="$LLAMA_BIN" \
		QP_BIN="$QP_BIN" QP_THREADS=2 CAL_PROPOSE=3 TYPES=Q3_K,Q4_K,Q5_K,Q6_K \
		BUDGETS=4.92 QP_COMPARE= PPL_ARGS="-c 256 -t 2 --chunks 40" CAL_OUT=cal "$@"
}

# The final statistics block of a llama-perplexity --kl-divergence log:
# "Mean    KLD:   0.004153 ±   0.000066" -> 0.004153
log_kld_mean() {
	sed -n 's/^Mean *KLD: *\([0-9.e+-]*\).*/\1/p' "$1" | tail -n 1
}

test_expect_success 'the whole loop runs: base logits, proposals measured, fit, recipe, verification, report' '
	cal cal-all >log 2>&1 || { tail -n 30 log; return 1; } &&
	test -s cal/base.kld && test -s cal/report.tsv && test -s cal/report.svg &&
	test $(cut -f1 cal/proposals.tsv | wc -l) = 3 &&
	! ls cal/runs | grep "\.gguf$"
'

test_expect_success 'report.tsv: its header, one row per budget, a measured loss and a prediction with its interval' '
	printf "budget\trecipe_bytes\tmeasured_bytes\tpred\tlo\thi\tmeasured\tinside\n" >expect &&
	head -n 1 cal/report.tsv >actual && test_cmp expect actual &&
	test $(wc -l <cal/report.tsv) = 2 &&
	sed 1d cal/report.tsv | while IFS="	" read -r b rb mb p lo hi m in; do
		test "$b" = 4.92 && test "$rb" -gt 0 &&
		awk -v p="$p" -v lo="$lo" -v hi="$hi" -v m="$m" -v inside="$in" "BEGIN {
			ok = p + 0 > 0 && lo + 0 > 0 && lo + 0 <= p + 0 && p + 0 <= hi + 0 && m + 0 > 0
			ok = ok && inside == ((m + 0 >= lo + 0 && m + 0 <= hi + 0) ? \"yes\" : \"no\")
			exit !ok }" || { echo "bad row: $b $rb $mb $p $lo $hi $m $in"; return 1; }
	done
'

test_expect_success 'llama-quantize wrote exactly the planned size, and the calibrated prediction holds the measured loss' '
	sed 1d cal/report.tsv | cut -f2,3 >sizes && test "$(cut -f1 sizes)" = "$(cut -f2 sizes)" &&
	test "$(sed 1d cal/report.tsv | cut -f8)" = yes &&
	test "$(rec-show --tsv -H -k recipe -f pred.calibrated cal/model-f32.4.92.recipe.mp)" = true &&
	awk "BEGIN { exit !($(rec-show --tsv -H -k recipe -f bpw cal/model-f32.4.92.recipe.mp) <= 4.92) }"
'

test_expect_success 'the measured figures are those of the real runs: each measure record against its log' '
	for r in $(cut -f1 cal/proposals.tsv) verify-4.92; do
		log=cal/runs/$r.log &&
		head -n 1 $log | grep -q "^\\$ .*llama-perplexity -m cal/runs/$r.gguf .*--kl-divergence$" &&
		grep -q "====== KL divergence statistics ======" $log &&
		want=$(log_kld_mean $log) && test -n "$want" &&
		got=$(rec-show --tsv -H -k measure -f kld_mean cal/runs/$r.mp) &&
		awk -v a="$want" -v b="$got" "BEGIN { exit !(a + 0 == b + 0) }" ||
			{ echo "$r: log says $want, record says $got"; return 1; }
	done &&
	test "$(sed 1d cal/report.tsv | cut -f7)" = "$(log_kld_mean cal/runs/verify-4.92.log)" &&
	test "$(rec-show --tsv -H -k measure -f run,model cal/runs/verify-4.92.mp)" = "kl-divergence	model-f32.gguf"
'

test_expect_success 'the verified run is the recipe quantized: its types are the recipe types' '
	rec-show -k recipe cal/model-f32.4.92.recipe.mp | jq -S .types >planned &&
	rec-show -k measure cal/runs/verify-4.92.mp | jq -S .types >measured &&
	test_cmp planned measured
'

test_expect_success 'report.svg: one valid document with the verification run and every proposal run' '
	test $(grep -c "<svg" cal/report.svg) = 1 &&
	if command -v xmllint >/dev/null 2>&1; then xmllint --noout cal/report.svg; fi &&
	if command -v rsvg-convert >/dev/null 2>&1; then rsvg-convert cal/report.svg -o r.png && test -s r.png; fi &&
	for r in $(cut -f1 cal/proposals.tsv) verify-4.92; do
		grep -q ">$r.gguf<" cal/report.svg || { echo "no $r in report.svg"; return 1; }
	done
'

test_expect_success 'a second make measures nothing again' '
	cal cal-all >log 2>&1 && ! grep "^quantpipe:" log && ! grep "llama-perplexity -m" log
'

test_done
