#!/bin/bash
test_description='qerr-measure --shard I/N and rec-merge: any N, any order, byte for byte the unsharded run'
. "$(dirname "$0")/lib.sh"

# shards N ARGS...: shard outputs s0.mp .. s<N-1>.mp of qerr-measure ARGS
shards() {
	n=$1; shift
	i=0
	while [ $i -lt $n ]; do
		qerr-measure --shard $i/$n "$@" >s$i.mp || return 1
		i=$((i + 1))
	done
}

test_expect_success 'setup: a synthetic model and its unsharded measurement' '
	gguf-synth -o m.gguf && gguf-dump m.gguf >d.mp &&
	qerr-measure -t Q4_K,Q8_0 d.mp >full.mp
'

test_expect_success 'N=1: the merge of one shard is the unsharded output' '
	shards 1 -t Q4_K,Q8_0 d.mp && rec-merge s0.mp >m.mp && cmp full.mp m.mp
'

test_expect_success 'N=2: both orders, as operands and as one piped stream' '
	shards 2 -t Q4_K,Q8_0 d.mp &&
	rec-merge s0.mp s1.mp >a.mp && cmp full.mp a.mp &&
	cat s1.mp s0.mp | rec-merge >b.mp && cmp full.mp b.mp
'

test_expect_success 'N=3: every one of the six orders' '
	shards 3 -t Q4_K,Q8_0 d.mp &&
	for order in "0 1 2" "0 2 1" "1 0 2" "1 2 0" "2 0 1" "2 1 0"; do
		set -- $order &&
		cat s$1.mp s$2.mp s$3.mp | rec-merge -o m.mp && cmp full.mp m.mp || return 1
	done
'

test_expect_success 'N=5: several orders, and more shards than some kinds of work' '
	shards 5 -t Q4_K,Q8_0 d.mp &&
	for order in "0 1 2 3 4" "4 3 2 1 0" "2 4 1 3 0" "3 0 4 2 1"; do
		set -- $order &&
		rec-merge s$1.mp s$2.mp s$3.mp s$4.mp s$5.mp >m.mp && cmp full.mp m.mp || return 1
	done
'

test_expect_success 'every tensor is measured by exactly one shard; the others pass records through' '
	for i in 0 1 2 3 4; do rec-show -k tensor --tsv -H -f name s$i.mp; done | sort >got &&
	rec-show -k tensor --tsv -H -f name d.mp | sort >want && test_cmp want got &&
	for i in 0 1 2 3 4; do
		test "$(rec-show -k model --tsv -H -f id s$i.mp)" = m.gguf || return 1
	done
'

test_expect_success 'balanced by elements x types: max - min load <= the largest tensor' '
	for i in 0 1 2 3 4; do
		rec-show -k tensor --tsv -H -f n_elem s$i.mp | awk -v s=$i "{ w += \$1 + 0 } END { print s, w }"
	done >loads &&
	big=$(rec-show -k tensor --tsv -H -f n_elem d.mp | sort -n | tail -1) &&
	awk -v big=$big "NR == 1 || \$2 > max { max = \$2 } NR == 1 || \$2 < min { min = \$2 } END { print max, min, big; exit !(max - min <= big) }" loads
'

test_expect_success 'deterministic: a shard run twice, or with -@ 2, writes the same bytes' '
	qerr-measure --shard 3/5 -t Q4_K,Q8_0 d.mp >again.mp && cmp s3.mp again.mp &&
	qerr-measure -@ 2 --shard=3/5 -t Q4_K,Q8_0 d.mp >t2.mp &&
	rec-show s3.mp | sed 1d >a.jsonl && rec-show t2.mp | sed 1d >b.jsonl && test_cmp a.jsonl b.jsonl
'

test_expect_success 'shards written with -o FILE merge to the unsharded run on stdout' '
	qerr-measure --shard 0/2 -t Q4_K,Q8_0 -o o0.mp d.mp &&
	qerr-measure --shard=1/2 -t Q4_K,Q8_0 --output o1.mp d.mp &&
	rec-merge o1.mp o0.mp >om.mp && cmp full.mp om.mp
'

test_expect_success 'the shards meta record is the unsharded one (--shard and --shard= left out)' '
	rec-show -k meta s3.mp | head -1 >got && rec-show -k meta full.mp | head -1 >want &&
	test_cmp want got && rec-show -k meta t2.mp | head -1 >got2 && ! grep -e --shard got2 &&
	qerr-measure -@ 2 -t Q4_K,Q8_0 d.mp | rec-show -k meta | head -1 >want2 && test_cmp want2 got2
'

test_expect_success 'two models in two operands, --imatrix-free sampling, --rotate: still byte for byte' '
	gguf-synth -s 7 -o n.gguf && gguf-dump n.gguf >e.mp &&
	qerr-measure -t Q6_K --sample 0.25 --rotate hadamard d.mp e.mp >full2.mp &&
	shards 3 -t Q6_K --sample 0.25 --rotate hadamard d.mp e.mp &&
	cat s2.mp s1.mp s0.mp | rec-merge >m2.mp && cmp full2.mp m2.mp
'

if test_have_fixtures; then
test_expect_success 'kjv-llama with its imatrix: N=4 merged equals the unsharded run' '
	K=$FIXTURES/kjv-llama &&
	gguf-dump "$K/model-f32.gguf" >k.mp &&
	qerr-measure -t Q3_K --imatrix "$K/imatrix.gguf" k.mp >kfull.mp &&
	shards 4 -t Q3_K --imatrix "$K/imatrix.gguf" k.mp &&
	cat s3.mp s1.mp s0.mp s2.mp | rec-merge >km.mp && cmp kfull.mp km.mp
'
else
test_skip 'kjv-llama with its imatrix: N=4 merged equals the unsharded run' 'no ../shared/fixtures'
fi

test_expect_success 'merge errors: one line, exit 1, no -o file' '
	shards 3 -t Q8_0 d.mp &&
	test_must_fail 1 rec-merge -o out.mp s0.mp s2.mp 2>err && test_one_error_line err &&
	grep "shard 1/3 is missing" err && ! test -e out.mp &&
	test_must_fail 1 rec-merge s0.mp s1.mp s2.mp s1.mp 2>err && test_one_error_line err &&
	grep "ends twice" err &&
	size=$(wc -c <s1.mp) && head -c $((size - 20)) s1.mp >cut.mp &&
	test_must_fail 1 rec-merge s0.mp cut.mp s2.mp 2>err && test_one_error_line err &&
	qerr-measure --shard 1/2 -t Q8_0 d.mp >other.mp &&
	test_must_fail 1 rec-merge s0.mp other.mp s2.mp 2>err && test_one_error_line err &&
	grep "a shard of 2, but the shards before are of 3" err &&
	qerr-measure --shard 1/3 -t Q4_K d.mp >opts.mp &&
	test_must_fail 1 rec-merge s0.mp opts.mp s2.mp 2>err && test_one_error_line err &&
	grep "a meta record unlike the first" err &&
	test_must_fail 1 rec-merge full.mp 2>err && test_one_error_line err &&
	grep "not the output of a --shard run" err &&
	rec-show -k tensor d.mp | rec-show --from-json >bare.mp &&
	test_must_fail 1 rec-merge bare.mp 2>err && test_one_error_line err &&
	grep "a tensor record without its shard record" err
'

test_expect_success 'a shard output cut at a record boundary is caught' '
	rec-show s1.mp | head -n -3 | rec-show --from-json >short.mp &&
	test_must_fail 1 rec-merge s0.mp short.mp s2.mp 2>err && test_one_error_line err &&
	grep "shard 1/3 has no end record" err
'

test_expect_success 'usage: --shard needs 0 <= I < N' '
	for bad in 3/3 x 1 0/0 -1/2 1/2x 0/70000; do
		test_must_fail 2 qerr-measure --shard $bad d.mp 2>err || return 1
		grep "shard takes I/N" err || return 1
	done
'

test_done
