#!/bin/sh
test_description='rec-show: streams as JSON lines, tables and TSV; JSON lines back to records'
. "$(dirname "$0")/lib.sh"

cat >in.jsonl <<'JSON'
{"kind":"meta","schema":1,"tool":"hand","version":"0","argv":[]}
{"kind":"tensor","name":"blk.0.attn_q.weight","layer":0,"shape":[64,64],"type":"F32","qerr":{"Q4_K":{"rel":0.0625,"as":"Q5_0"}}}
{"kind":"tensor","name":"tab\there","layer":-1,"shape":[3],"type":"F16"}

{"kind":"measure","model":"m","ppl":4.2208,"types":{"a":"Q4_0"}}
JSON

test_expect_success '--from-json then JSON lines round-trips (blank lines skipped)' '
	rec-show --from-json in.jsonl >s.mp &&
	rec-show s.mp >out.jsonl &&
	grep -v "^\$" in.jsonl >expect &&
	test_cmp expect out.jsonl
'

test_expect_success 'streams concatenate: cat a b is a stream' '
	cat s.mp s.mp | rec-show >twice.jsonl &&
	test $(wc -l <twice.jsonl) = 8
'

test_expect_success '--table shows tensor records with dotted paths; missing is -' '
	rec-show --table -f name,type,qerr.Q4_K.rel,qerr.Q4_K.as,shape s.mp >actual &&
	cat >expect <<-\EOF &&
	name                 type  qerr.Q4_K.rel  qerr.Q4_K.as  shape
	blk.0.attn_q.weight  F32          0.0625  Q5_0          [64,64]
	tab here             F16               -  -             [3]
	EOF
	test_cmp expect actual
'

test_expect_success '--tsv escapes tabs, leaves missing cells empty, -k picks a kind' '
	rec-show --tsv -f name,qerr.Q4_K.rel s.mp >actual &&
	printf "name\tqerr.Q4_K.rel\nblk.0.attn_q.weight\t0.0625\ntab\\\\there\t\n" >expect &&
	test_cmp expect actual &&
	rec-show --tsv -H -k measure -f model,ppl,types.a s.mp >m.tsv &&
	printf "m\t4.2208\tQ4_0\n" >expect && test_cmp expect m.tsv
'

test_expect_success '--table -H right-aligns numeric columns from the first row' '
	printf "{\"kind\":\"tensor\",\"a\":1}\n{\"kind\":\"tensor\",\"a\":1000}\n" |
		rec-show --from-json | rec-show -t -H -f a >actual &&
	printf "   1\n1000\n" >expect && test_cmp expect actual
'

test_expect_success 'bin fields show as <bin N bytes>' '
	printf "\202\244kind\246tensor\244data\304\003abc" >bin.mp &&
	rec-show bin.mp >actual &&
	echo "{\"kind\":\"tensor\",\"data\":\"<bin 3 bytes>\"}" >expect &&
	test_cmp expect actual
'

test_expect_success 'strings that are not UTF-8 show as U+FFFD, overlong forms too' '
	printf "\202\244kind\241x\241s\244\300\257\303\251" >utf8.mp &&
	rec-show utf8.mp >actual &&
	printf "{\"kind\":\"x\",\"s\":\"\357\277\275\357\277\275\303\251\"}\n" >expect &&
	test_cmp expect actual
'

# A map of 15 pairs is the largest fixmap (0x8f): the framing must count
# all 30 of its items, or the record ends early.
test_expect_success 'a record of 15 fields (the largest fixmap) is read whole' '
	printf "{\"kind\":\"k\",\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"l\":11,\"m\":12,\"n\":13,\"o\":14}\n" >fifteen.jsonl &&
	rec-show --from-json fifteen.jsonl >fifteen.mp &&
	test "$(head -c 1 fifteen.mp | od -An -tx1 | tr -d " ")" = 8f &&
	cat fifteen.mp fifteen.mp | rec-show >actual &&
	cat fifteen.jsonl fifteen.jsonl >expect &&
	test_cmp expect actual
'

test_expect_success 'malformed streams: one error line naming record and offset' '
	meta_len=$(head -n 1 in.jsonl | rec-show --from-json | wc -c) &&
	head -c $((meta_len + 5)) s.mp >trunc.mp &&
	test_must_fail 1 rec-show trunc.mp >out 2>err && test_one_error_line err &&
	grep -q "^rec-show: trunc.mp: record 2 (byte offset $meta_len): truncated" err &&
	printf "\301" >garbage.mp &&
	test_must_fail 1 rec-show garbage.mp >out 2>err && test_one_error_line err &&
	printf "\201\241x\001" >nokind.mp &&
	test_must_fail 1 rec-show nokind.mp >out 2>err && grep -q "\"kind\" is missing" err
'

test_expect_success 'records before the bad one are written, the error comes last' '
	cat s.mp garbage.mp >mixed.mp &&
	test_must_fail 1 rec-show mixed.mp >out 2>err &&
	test $(wc -l <out) = 4 && grep -q "record 5" err
'

test_expect_success '--from-json rejects bad lines with the line number' '
	printf "{\"kind\":\"a\"}\n{oops\n" >bad.jsonl &&
	test_must_fail 1 rec-show --from-json bad.jsonl >out 2>err &&
	test_one_error_line err && grep -q "line 2: invalid JSON" err &&
	printf "{\"name\":\"a\"}\n" >nokind.jsonl &&
	test_must_fail 1 rec-show --from-json nokind.jsonl >out 2>err &&
	grep -q "line 1: field \"kind\"" err &&
	printf "[1,2]\n" >arr.jsonl &&
	test_must_fail 1 rec-show --from-json arr.jsonl >out 2>err &&
	grep -q "not a JSON object" err
'

test_expect_success '-o writes atomically: nothing is left after a failure' '
	rec-show -o good.jsonl s.mp && test $(wc -l <good.jsonl) = 4 &&
	test_must_fail 1 rec-show -o failed.jsonl mixed.mp 2>err &&
	test ! -e failed.jsonl && test -z "$(ls | grep failed.jsonl)"
'

test_expect_success 'a failed write to stdout is an error' '
	if test -w /dev/full; then
		test_must_fail 1 rec-show s.mp >/dev/full 2>err &&
		test_one_error_line err && grep -q "No space left" err
	fi
'

test_expect_success 'usage errors exit 2, --help and --version exit 0' '
	test_must_fail 2 rec-show --bogus s.mp 2>err &&
	rec-show --help | grep -q "^Usage: rec-show" &&
	rec-show --version | grep -q "msgpack-c 4" &&
	test_must_fail 2 rec-show -@ 0 s.mp 2>err && grep -q "not an integer in" err
'

test_done
