#!/bin/sh
test_description='recipe-emit --bpw/--size/--frontier: the best types for a budget, exact sizes, constraints'
. "$(dirname "$0")/lib.sh"

# The tiny synthetic model (n_embd 256: every K-quant applies), four
# types measured on a sample of rows: fast, and enough choice.
gguf-synth -o tiny.gguf && gguf-dump tiny.gguf | qerr-measure -t Q3_K,Q4_K,Q6_K,Q8_0 -s 0.1 >tiny.mp || exit 1
gguf-dump tiny.gguf >plain.mp || exit 1

# field FIELD FILE: the field of each recipe record, one per line
field() {
	rec-show -k recipe --tsv -H -f "$1" "$2"
}

test_expect_success '--bpw: within the budget, proven optimal, predicted by the prior (said once)' '
	recipe-emit --bpw 5 tiny.mp >r.mp 2>err &&
	test $(field source r.mp) = recipe-emit &&
	awk "{ exit !(\$1 <= 5 && \$1 > 4.5) }" <<-EOF &&
	$(field bpw r.mp)
	EOF
	test "$(field budget.bpw r.mp)" = 5.0 &&
	awk "{ exit !(\$1 <= 0.001) }" <<-EOF &&
	$(field optimal.gap r.mp)
	EOF
	test "$(field pred.calibrated r.mp)" = false &&
	test_one_error_line err && grep -q "uncalibrated prior" err &&
	recipe-emit -q --bpw 5 tiny.mp >r2.mp 2>err2 && ! test -s err2 &&
	rec-show -k recipe r.mp >a.json && rec-show -k recipe r2.mp >b.json && test_cmp a.json b.json
'

test_expect_success 'records pass through; the recipe follows the model'"'"'s records' '
	rec-show r.mp | tail -n 1 | grep -q "\"kind\":\"recipe\"" &&
	test $(rec-show -k tensor r.mp | wc -l) = $(rec-show -k tensor tiny.mp | wc -l)
'

test_expect_success '--size accepts 2.3M, 2200KiB and plain bytes; file_bytes stays within' '
	for s in 2.3M 2200KiB 2250000; do
		recipe-emit -q --size $s tiny.mp >s.mp || return 1
		fb=$(field file_bytes s.mp) && bb=$(field budget.bytes s.mp) &&
		test "$fb" -le "$bb" || return 1
	done &&
	test "$(field budget.bytes s.mp)" = 2250000 &&
	recipe-emit -q --size 2200KiB tiny.mp | rec-show -k recipe --tsv -H -f budget.bytes >b &&
	test "$(cat b)" = 2252800
'

test_expect_success 'an ample budget gives every tensor its best type, exactly' '
	recipe-emit -q --size 20GiB tiny.mp >big.mp &&
	test "$(field optimal.gap big.mp)" = 0.0 &&
	rec-show -k recipe big.mp | grep -o "\"Q[0-9]_[0-9K]*\"" | sort -u >types &&
	echo "\"Q8_0\"" >expect && test_cmp expect types
'

test_expect_success 'an impossible budget: one error line naming the smallest size, exit 1, no -o file' '
	test_must_fail 1 recipe-emit -q --size 1000 -o x.mp tiny.mp 2>err &&
	test_one_error_line err && grep -q "smallest possible size, [0-9]* bytes" err &&
	! test -e x.mp &&
	test_must_fail 1 recipe-emit -q --bpw 1 tiny.mp 2>err &&
	test_one_error_line err && grep -q "smallest possible, 3\.[0-9]* bpw" err
'

test_expect_success '--pin, --max-type, --min-type hold' '
	recipe-emit -q --bpw 5 --pin "blk\.0\..*=Q8_0" --max-type ".*ffn_down.*=Q4_K" --min-type "output\.weight=Q6_K" tiny.mp |
		rec-show -k recipe >p.json &&
	for t in attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down; do
		grep -q "\"blk.0.$t.weight\":\"Q8_0\"" p.json || return 1
	done &&
	! grep -E -q "\"blk\.[1-9]\.ffn_down\.weight\":\"(Q6_K|Q8_0)\"" p.json &&
	grep -E -q "\"output\.weight\":\"(Q6_K|Q8_0)\"" p.json
'

test_expect_success '--tie: tied tensors share one type in each layer' '
	recipe-emit -q --bpw 4.3 --tie "blk\.[0-9]+\.ffn_(up|gate)\.weight" tiny.mp | rec-show -k recipe >t.json &&
	for l in 0 1 2 3; do
		a=$(grep -o "\"blk.$l.ffn_up.weight\":\"[A-Z0-9_]*\"" t.json | cut -d: -f2) &&
		b=$(grep -o "\"blk.$l.ffn_gate.weight\":\"[A-Z0-9_]*\"" t.json | cut -d: -f2) &&
		test -n "$a" && test "$a" = "$b" || return 1
	done
'

test_expect_success 'a pin that contradicts a tie, tensors without qerr: one error line, exit 1' '
	test_must_fail 1 recipe-emit -q --bpw 5 --tie "blk\.0\.ffn_(up|gate)\.weight" \
		--pin "blk\.0\.ffn_up\.weight=Q3_K" --pin "blk\.0\.ffn_gate\.weight=Q6_K" tiny.mp 2>err &&
	test_one_error_line err && grep -q "no candidate type in common" err &&
	test_must_fail 1 recipe-emit -q --bpw 5 plain.mp 2>err &&
	test_one_error_line err && grep -q "has no qerr measurement" err
'

test_expect_success 'a regex that does not compile is bad input: one error line, exit 1, no -o file' '
	for o in "--pin blk\.(=Q4_K" "--min-type [a=Q4_K" "--max-type x{2=Q8_0" "--tie (blk"; do
		test_must_fail 1 recipe-emit --bpw 5 $o -o out.mp tiny.mp 2>err &&
		test_one_error_line err && grep -q "^recipe-emit: regular expression .* does not compile: " err &&
		! test -e out.mp || { cat err; echo "$o"; return 1; }
	done
'

test_expect_success 'bad options: unknown type, two budgets' '
	test_must_fail 2 recipe-emit --bpw 5 --types Q4_K,Q9_K tiny.mp 2>err && grep -q "Q9_K" err &&
	test_must_fail 2 recipe-emit --pin "blk=Q4_Z" tiny.mp 2>err && grep -q "unknown type" err &&
	test_must_fail 2 recipe-emit --bpw 5 --size 2M tiny.mp 2>err &&
	test_must_fail 2 recipe-emit --size 2Q tiny.mp 2>err && grep -q "not a size" err &&
	test_must_fail 2 recipe-emit --frontier -f tensor-type-file tiny.mp 2>err
'

test_expect_success '--types restricts the candidates' '
	recipe-emit -q --bpw 5 --types Q4_K,Q8_0 tiny.mp | rec-show -k recipe >ty.json &&
	! grep -E -q "\"(Q3_K|Q6_K)\"" ty.json
'

test_expect_success '--frontier: breakpoints in increasing size, each exact' '
	recipe-emit -q --frontier tiny.mp >f.mp &&
	field file_bytes f.mp >sizes && test $(wc -l <sizes) -gt 20 &&
	sort -n -c sizes &&
	test "$(field optimal.gap f.mp | sort -u)" = 0.0 &&
	field optimal.loss f.mp | sort -g -r -c &&
	field pred.value f.mp | sort -g -r -c
'

test_expect_success '--compare: each mix, then ours at its exact file size, both predicted' '
	recipe-emit -q --compare Q4_K_M,Q3_K_S tiny.mp >c.mp &&
	field source c.mp >src && printf "mix:Q4_K_M\nrecipe-emit\nmix:Q3_K_S\nrecipe-emit\n" >expect && test_cmp expect src &&
	field file_bytes c.mp >fb && field budget.bytes c.mp >bb &&
	sed -n 1p fb >m1 && sed -n 2p bb >o1 && test_cmp m1 o1 &&
	test $(sed -n 2p fb) -le $(sed -n 1p fb) &&
	field pred.value c.mp >pv &&
	awk "NR == 1 { m = \$1 } NR == 2 { exit !(\$1 <= m) }" pv
'

test_expect_success 'a budget as a tensor-type file: NAME=TYPE tokens, no comments' '
	recipe-emit -q --bpw 5 -f tensor-type-file tiny.mp >tt.txt &&
	test $(wc -w <tt.txt) -ge 2 && ! grep -q "#" tt.txt &&
	! grep -v -q "^[^ =]*=[a-z0-9_]*\$" tt.txt
'

if test_have_fixtures; then
test_expect_success 'file_bytes of mixes without qerr, and --imatrix counts llama-quantize'"'"'s imatrix keys' '
	ln -s "$FIXTURES/kjv-llama/imatrix.gguf" imatrix.gguf &&
	gguf-dump "$FIXTURES/kjv-llama/model-f32.gguf" >kjv.mp &&
	recipe-emit -q --mix Q4_K --pure kjv.mp >u.mp &&
	test "$(field file_bytes u.mp)" = 2098560 &&
	recipe-emit -q --mix Q4_K --pure --imatrix-used --imatrix imatrix.gguf kjv.mp >i.mp &&
	test "$(field file_bytes i.mp)" = 2098784
'
else
test_skip 'file_bytes with --imatrix against ppl.tsv' 'no ../shared/fixtures'
fi

LQ=$QP_TOP/../shared/llama.cpp/bin/llama-quantize
if test -x "$LQ"; then
test_expect_success 'llama-quantize --tensor-type-file writes the planned types and exactly file_bytes' '
	for b in 4.2 5.5; do
		recipe-emit -q --bpw $b tiny.mp >rb.mp &&
		recipe-emit -q -f tensor-type-file rb.mp >tt-$b.txt &&
		ft=$(field ftype rb.mp) &&
		"$LQ" --tensor-type-file tt-$b.txt tiny.gguf q-$b.gguf $ft 1 >lq.log 2>&1 || { cat lq.log; return 1; }
		test $(wc -c <q-$b.gguf) = $(field file_bytes rb.mp) || return 1
		gguf-dump q-$b.gguf | rec-show -k tensor --tsv -H -f name,type >got &&
		rec-show -k recipe rb.mp | tr "," "\n" | sed -n "s/.*\"\([a-z0-9_.]*weight\)\":\"\([A-Z0-9_]*\)\".*/\1	\2/p" | sort >want &&
		sort got >got.s && test_cmp want got.s || return 1
	done
'
else
test_skip 'llama-quantize --tensor-type-file round trip' 'no ../shared/llama.cpp'
fi

test_done
