#!/bin/bash
test_description='sens-score --shard I/N and --merge: any N, any order, byte for byte the unsharded run'
. "$(dirname "$0")/lib.sh"

# shards N ARGS...: shard outputs s0.mp .. s<N-1>.mp of sens-score ARGS
shards() {
	n=$1; shift
	rm -f s*.mp
	i=0
	while [ $i -lt $n ]; do
		sens-score -q --shard $i/$n "$@" >s$i.mp || return 1
		i=$((i + 1))
	done
}

test_expect_success 'setup: a synthetic model and its unsharded scores' '
	gguf-synth -o m.gguf && gguf-dump m.gguf >d.mp &&
	sens-score -q d.mp >full.mp
'

test_expect_success 'N=1: the merge of one shard is the unsharded output' '
	shards 1 d.mp && sens-score -q --merge s0.mp >m.mp && cmp full.mp m.mp
'

test_expect_success 'N=2: both orders, as operands and as one piped stream' '
	shards 2 d.mp &&
	sens-score --merge s0.mp s1.mp >a.mp && cmp full.mp a.mp &&
	cat s1.mp s0.mp | sens-score --merge >b.mp && cmp full.mp b.mp
'

test_expect_success 'N=3: every one of the six orders' '
	shards 3 d.mp &&
	for order in "0 1 2" "0 2 1" "1 0 2" "1 2 0" "2 0 1" "2 1 0"; do
		set -- $order &&
		cat s$1.mp s$2.mp s$3.mp | sens-score --merge -o m.mp && cmp full.mp m.mp || return 1
	done
'

test_expect_success 'N=7: several orders' '
	shards 7 d.mp &&
	for order in "0 1 2 3 4 5 6" "6 5 4 3 2 1 0" "3 6 0 2 5 1 4"; do
		set -- $order &&
		sens-score --merge s$1.mp s$2.mp s$3.mp s$4.mp s$5.mp s$6.mp s$7.mp >m.mp &&
		cmp full.mp m.mp || return 1
	done
'

test_expect_success 'a shard measures only its tensors, leaves scores and profile to the merge' '
	shards 3 d.mp &&
	for i in 0 1 2; do rec-show -k tensor --tsv -H -f name,sens.partial s$i.mp; done |
		awk -F"\t" "\$2 == \"true\"" | cut -f1 | sort >got &&
	rec-show -k tensor --tsv -H -f name d.mp | sort >want && test_cmp want got &&
	for i in 0 1 2; do
		{ test -z "$(rec-show -k profile s$i.mp)" &&
		  test -z "$(rec-show -k tensor --tsv -H -f sens.mem_bw s$i.mp | sort -u)" &&
		  ! rec-show -k tensor --tsv -H -f sens.score s$i.mp | grep -qvx ""; } || return 1
	done &&
	test "$(rec-show -k profile full.mp | wc -l)" -eq 1
'

test_expect_success 'options the scores depend on: --no-svd, -b, --svd-rank, -@ 2' '
	sens-score -q --no-svd -b 100 d.mp >f2.mp &&
	shards 4 --no-svd -b 100 d.mp && sens-score --merge s2.mp s0.mp s3.mp s1.mp >m2.mp &&
	cmp f2.mp m2.mp &&
	sens-score -q -@ 2 --svd-rank 8 d.mp >f3.mp &&
	shards 3 -@ 2 --svd-rank 8 d.mp && sens-score --merge s1.mp s2.mp s0.mp >m3.mp &&
	cmp f3.mp m3.mp
'

test_expect_success 'two models, a profile of an earlier run, tensors with nothing to measure' '
	gguf-synth -s 2 -o m2.gguf && gguf-dump m2.gguf >d2.mp &&
	sens-score -q d.mp >again.mp && cat again.mp d2.mp >two.mp &&
	sens-score -q two.mp >f4.mp &&
	shards 3 two.mp && sens-score --merge s2.mp s1.mp s0.mp >m4.mp && cmp f4.mp m4.mp &&
	if command -v python3 >/dev/null; then
		python3 "$QP_TOP/tests/craft.py" z.gguf tensor blk.0.attn_q.weight 0 8,0 \
			tensor blk.0.attn_k.weight 0 8,2 tensor blk.1.attn_q.weight 77 8,2 \
			tensor blk.1.attn_k.weight 0 8,4 &&
		gguf-dump z.gguf >z.mp && sens-score -q -b 10 z.mp >f5.mp &&
		shards 3 -b 10 z.mp && sens-score --merge s1.mp s0.mp s2.mp >m5.mp && cmp f5.mp m5.mp
	fi
'

test_expect_success 'the shards meta record is the unsharded one; the merge adds none' '
	shards 2 d.mp &&
	rec-show -k meta s1.mp | head -1 >got && rec-show -k meta full.mp | head -1 >want &&
	test_cmp want got &&
	sens-score --merge s0.mp s1.mp | rec-show -k meta >metas &&
	rec-show -k meta full.mp >want_metas && test_cmp want_metas metas
'

test_expect_success 'a shard missing, or given twice, is an error; so are measuring options' '
	shards 3 d.mp &&
	test_must_fail 1 sens-score --merge s0.mp s2.mp >out 2>err &&
	grep -q "shard 1/3 is missing" err && test ! -s out &&
	test_must_fail 1 sens-score --merge s0.mp s1.mp s1.mp s2.mp >out 2>err &&
	test ! -s out &&
	test_must_fail 1 sens-score --merge d.mp >out 2>err &&
	grep -q "not the output of a --shard run" err &&
	test_must_fail 2 sens-score --merge --no-svd s0.mp 2>err &&
	grep -q "takes no measuring options" err &&
	test_must_fail 2 sens-score --shard 3/3 d.mp 2>err
'

test_expect_success 'a malformed partial sens is named' '
	shards 1 d.mp &&
	rec-show s0.mp | sed "s/\"se_raw\":[^,]*,/\"se_raw\":\"x\",/" | rec-show --from-json >bad.mp &&
	test_must_fail 1 sens-score --merge -o out.mp bad.mp 2>err &&
	grep -q "tensor .token_embd.weight.: partial sens: field \"se_raw\"" err &&
	test ! -e out.mp
'

test_expect_success FIXTURES 'with an importance matrix (stories260K): byte for byte' '
	gguf-dump "$FIXTURES/stories260K-f32.gguf" >f32.mp &&
	sens-score -q -m "$FIXTURES/stories260K.imatrix.gguf" f32.mp >fi.mp &&
	shards 3 -m "$FIXTURES/stories260K.imatrix.gguf" f32.mp &&
	sens-score --merge s2.mp s0.mp s1.mp >mi.mp && cmp fi.mp mi.mp
'

test_done
