#!/bin/sh
test_description='gguf-dump: real GGUF files to model and tensor records'
. "$(dirname "$0")/lib.sh"

F=$FIXTURES

# name, type and element count per tensor, sorted: the same view as
# figures/qerr-fixtures.tsv, which llama.cpp's gguf-py reader produced.
dump_view() {
	gguf-dump "$1" | rec-show --tsv -H -f name,type,n_elem | sort
}

test_expect_success FIXTURES 'every fixture lists the tensors gguf-py lists' '
	for f in $(cut -f1 "$F/figures/qerr-fixtures.tsv" | sed 1d | sort -u); do
		awk -F"\t" -v f="$f" "\$1 == f { print \$2 \"\t\" \$3 \"\t\" \$4 }" \
			"$F/figures/qerr-fixtures.tsv" | sort >expect &&
		dump_view "$F/$f" >actual &&
		test_cmp expect actual || { echo "in $f"; return 1; }
	done
'

test_expect_success FIXTURES 'every .gguf fixture (vocab-only and kjv too) dumps cleanly' '
	for f in "$F"/*.gguf "$F"/kjv-llama/*.gguf; do
		case "$f" in *-0000[2-9]-of-*) continue ;; esac
		gguf-dump "$f" >dump.mp 2>err || { cat err; return 1; }
		test ! -s err || return 1
	done
'

# check_ranges FILE...: tensor data ranges in order, 32-byte aligned, no
# overlap, no gap of an alignment or more, and the last ends the file.
check_ranges() {
	for f in "$@"; do
		size=$(wc -c <"$f") &&
		gguf-dump "$f" | rec-show --tsv -H -f offset,n_bytes | sort -n |
		awk -v size="$size" "
			\$1 % 32 { print \"unaligned \" \$0; bad = 1 }
			NR > 1 && \$1 < end { print \"overlap \" \$0; bad = 1 }
			NR > 1 && \$1 - end >= 32 { print \"gap \" \$0; bad = 1 }
			{ end = \$1 + \$2 }
			END { if (end > size || size - end >= 32) { print \"end \" end; bad = 1 }; exit bad }
		" || { echo "in $f"; return 1; }
	done
}

# The fixture-free tests run on gguf-synth's tiny model (F16 weights, F32
# norms) and its F32 twin, written first.
test_expect_success 'setup: gguf-synth models stand in where no fixture is needed' '
	gguf-synth -o synth.gguf && gguf-synth -t F32 -o synth32.gguf
'

test_expect_success FIXTURES 'tensor data ranges are in order, aligned and inside the file' '
	check_ranges "$F"/stories260K-f32.gguf "$F"/stories260K-rows256-Q4_K-pure.gguf \
		"$F"/kjv-llama/model-f16.gguf
'

test_expect_success 'synthetic models: data ranges are in order, aligned and inside the file' '
	check_ranges synth.gguf synth32.gguf
'

test_expect_success FIXTURES 'model record: hyper parameters from the llama keys' '
	gguf-dump "$F/stories260K-f32.gguf" |
		rec-show --tsv -k model -f id,arch,n_params,hyper.n_layer,hyper.n_embd,hyper.n_ff,hyper.n_head,hyper.n_head_kv,hyper.head_dim,hyper.n_vocab,hyper.n_ctx_train,gguf.n_tensors >actual &&
	printf "id\tarch\tn_params\thyper.n_layer\thyper.n_embd\thyper.n_ff\thyper.n_head\thyper.n_head_kv\thyper.head_dim\thyper.n_vocab\thyper.n_ctx_train\tgguf.n_tensors\n" >expect &&
	printf "stories260K-f32.gguf\tllama\t292800\t5\t64\t172\t8\t4\t8\t512\t128\t48\n" >>expect &&
	test_cmp expect actual
'

test_expect_success FIXTURES 'tensor records: layer, role and shape' '
	gguf-dump "$F/stories260K-f32.gguf" |
		rec-show --tsv -H -f name,layer,role,shape | sed -n "1p;4p;13p" >actual &&
	printf "token_embd.weight\t-1\ttoken_embd\t[64,512]\n" >expect &&
	printf "blk.0.attn_q.weight\t0\tattn_q\t[64,64]\n" >>expect &&
	printf "blk.1.attn_q.weight\t1\tattn_q\t[64,64]\n" >>expect &&
	test_cmp expect actual
'

test_expect_success FIXTURES 'long arrays are summarised as {type, n}' '
	gguf-dump "$F/ggml-vocab-deepseek-llm.gguf" | rec-show -k model >model.json &&
	grep -q "\"tokenizer.ggml.tokens\":{\"type\":\"string\",\"n\":[0-9]*}" model.json &&
	n=$(sed "s/.*\"tokenizer.ggml.tokens\":{\"type\":\"string\",\"n\":\([0-9]*\)}.*/\1/" model.json) &&
	test "$n" -gt 100000
'

test_expect_success 'synthetic model: long arrays summarised as {type, n}, all 1024 with --kv-full' '
	gguf-dump synth.gguf | rec-show -k model >model.json &&
	grep -q "\"tokenizer.ggml.tokens\":{\"type\":\"string\",\"n\":1024}" model.json &&
	gguf-dump --kv-full synth.gguf | rec-show -k model >full.json &&
	sed "s/.*\"tokenizer.ggml.tokens\":\[\([^]]*\)\].*/\1/" full.json | tr , "\n" >tokens &&
	test $(wc -l <tokens) = 1024 && test "$(sed -n 1p tokens)" = "\"<unk>\""
'

test_expect_success FIXTURES,PYTHON '--kv-full gives every element' '
	gguf-dump --kv-full "$F/ggml-vocab-deepseek-llm.gguf" | rec-show -k model >full.json &&
	python3 -c "
import json
m = json.load(open(\"full.json\"))
toks = m[\"kv\"][\"tokenizer.ggml.tokens\"]
assert isinstance(toks, list) and len(toks) > 100000, len(toks)
assert all(isinstance(t, str) for t in toks)
"
'

crc_of_bytes() { # file offset length
	python3 -c "import sys,zlib; f=open(sys.argv[1],\"rb\"); f.seek(int(sys.argv[2])); print(zlib.crc32(f.read(int(sys.argv[3]))))" "$@"
}

# check_crcs FILE N: --crc is zlib's crc32 of each of the N tensors' bytes.
check_crcs() {
	gguf-dump --crc "$1" | rec-show --tsv -H -f offset,n_bytes,crc32 >crcs &&
	while read off n crc; do
		test "$(crc_of_bytes "$1" $off $n)" = "$crc" || return 1
	done <crcs &&
	test $(wc -l <crcs) = "$2"
}

test_expect_success FIXTURES,PYTHON '--crc equals zlib crc32 of the bytes at offset' '
	check_crcs "$F/stories260K-rows256-Q6_K-pure.gguf" 48
'

test_expect_success PYTHON 'synthetic model: --crc equals zlib crc32 of the bytes at offset' '
	check_crcs synth.gguf 39
'

# check_threads FILE: the same records for -@ 1 and -@ 2, the same bytes
# across runs.
check_threads() {
	gguf-dump --crc -@ 1 "$1" >a.mp &&
	gguf-dump --crc -@ 2 "$1" >b.mp &&
	gguf-dump --crc -@ 2 "$1" >c.mp &&
	rec-show -k tensor a.mp >a.json && rec-show -k tensor b.mp >b.json &&
	cmp a.json b.json && cmp b.mp c.mp
}

test_expect_success FIXTURES 'output is identical for -@ 1 and -@ 2 and across runs' '
	check_threads "$F/kjv-llama/model-f32.gguf"
'

test_expect_success 'synthetic model: identical for -@ 1 and -@ 2 and across runs' '
	check_threads synth32.gguf
'

test_expect_success FIXTURES 'a split model is one model; tensors name their shard' '
	gguf-dump --crc "$F/stories260K-f32-split-00001-of-00003.gguf" >split.mp &&
	test $(rec-show -k model split.mp | wc -l) = 1 &&
	rec-show --tsv -H -f name,shape,type,crc32 split.mp >split.tsv &&
	gguf-dump --crc "$F/stories260K-f32.gguf" | rec-show --tsv -H -f name,shape,type,crc32 >whole.tsv &&
	test_cmp whole.tsv split.tsv &&
	rec-show --tsv -H -f path split.mp | sed "s|.*/||" | uniq -c >shards &&
	grep -q "00003-of-00003.gguf" shards && test $(wc -l <shards) = 3
'

test_expect_success FIXTURES 'all shards named at once still give one model (exit 0, was 1 on shard 2)' '
	gguf-dump "$F"/stories260K-f32-split-0000*-of-00003.gguf >all.mp &&
	rec-show -k model all.mp >m.json &&
	test $(wc -l <m.json) = 1 &&
	test $(rec-show -k tensor all.mp | wc -l) = 48
'

test_expect_success FIXTURES 'later shards named before the first, or by another path, are still one model' '
	ln -s "$F" fx &&
	gguf-dump "$F/stories260K-f32-split-00003-of-00003.gguf" ./fx/stories260K-f32-split-00002-of-00003.gguf \
		"$F/stories260K-f32-split-00001-of-00003.gguf" >any.mp &&
	test $(rec-show -k model any.mp | wc -l) = 1 &&
	test $(rec-show -k tensor any.mp | wc -l) = 48
'

test_expect_success FIXTURES 'later shards without their first: one error line naming one of them' '
	test_must_fail 1 gguf-dump "$F/stories260K-f32-split-00002-of-00003.gguf" \
		"$F/stories260K-f32-split-00003-of-00003.gguf" >out 2>err &&
	test_one_error_line err && grep -q "00002-of-00003.gguf: shard 2 of a 3-file split model" err
'

test_expect_success FIXTURES 'a later shard alone is refused with a hint' '
	test_must_fail 1 gguf-dump "$F/stories260K-f32-split-00002-of-00003.gguf" >out 2>err &&
	test_one_error_line err && grep -q "first shard" err
'

# check_stdin FILE: FILE on standard input gives the tensors the mapped
# file gives, with the data inlined.
check_stdin() {
	gguf-dump --crc - <"$1" >in.mp &&
	rec-show --tsv -H -f name,type,offset,n_bytes,crc32 in.mp >stdin.tsv &&
	gguf-dump --crc "$1" |
		rec-show --tsv -H -f name,type,offset,n_bytes,crc32 >file.tsv &&
	test_cmp file.tsv stdin.tsv &&
	rec-show --tsv -H -f n_bytes,data in.mp | awk -F"\t" "\$2 != \"<bin \" \$1 \" bytes>\" { exit 1 }"
}

test_expect_success FIXTURES 'standard input: the same tensors, data inlined' '
	check_stdin "$F/stories260K-Q4_K-pure.gguf"
'

test_expect_success 'synthetic model on standard input: the same tensors, data inlined' '
	check_stdin synth.gguf
'

# check_archives A B: a tar (plain and gzip) of A, a text file and B is
# two models with the tensors of A and B; they are copied to a.gguf, b.gguf.
check_archives() {
	cp "$1" a.gguf && cp "$2" b.gguf &&
	echo hello >notes.txt &&
	tar cf m.tar a.gguf notes.txt b.gguf && gzip -kf m.tar &&
	gguf-dump --crc a.gguf b.gguf | rec-show --tsv -H -f name,crc32 >direct.tsv &&
	for ar in m.tar m.tar.gz; do
		gguf-dump --crc $ar >ar.mp &&
		test $(rec-show -k model ar.mp | wc -l) = 2 &&
		rec-show --tsv -H -f name,crc32 ar.mp >ar.tsv &&
		test_cmp direct.tsv ar.tsv || return 1
	done &&
	rec-show --tsv -H -k model -f id,path ar.mp >ids &&
	printf "a.gguf\tm.tar.gz#a.gguf\nb.gguf\tm.tar.gz#b.gguf\n" >expect &&
	test_cmp expect ids
}

test_expect_success FIXTURES 'archives: each .gguf member is a model, data inlined' '
	check_archives "$F/stories260K-Q4_K-pure.gguf" "$F/stories260K-Q8_0-pure-ffndownF16.gguf"
'

test_expect_success 'archives of synthetic models: each .gguf member is a model' '
	check_archives synth.gguf synth32.gguf
'

test_lazy_prereq ZSTD_ZIP 'command -v zstd && command -v zip'

test_expect_success ZSTD_ZIP 'archives: tar.zst and zip' '
	tar cf - a.gguf | zstd -q -o m.tar.zst &&
	zip -q m.zip a.gguf &&
	gguf-dump --crc a.gguf | rec-show --tsv -H -f name,crc32 >direct.tsv &&
	for ar in m.tar.zst m.zip; do
		gguf-dump --crc $ar | rec-show --tsv -H -f name,crc32 >ar.tsv &&
		test_cmp direct.tsv ar.tsv || return 1
	done
'

test_expect_success 'an archive without .gguf members is an error' '
	echo hello >notes.txt && tar cf none.tar notes.txt &&
	test_must_fail 1 gguf-dump none.tar >out 2>err && test_one_error_line err &&
	grep -q "no .gguf member" err
'

# check_bad_inputs MODEL TRUNC: cut after 100 bytes, after TRUNC bytes
# (inside the tensor data), empty, text, a directory, a missing file.
check_bad_inputs() {
	rm -rf bad && mkdir bad && (cd bad &&
	head -c 100 "$1" >trunc.gguf &&
	head -c $2 "$1" >trunc-data.gguf &&
	: >empty.gguf && echo "not a model" >text.gguf && mkdir dir.gguf &&
	for bad in trunc.gguf trunc-data.gguf empty.gguf text.gguf dir.gguf missing.gguf; do
		test_must_fail 1 gguf-dump -o result.mp $bad 2>err &&
		test_one_error_line err && grep -q "^gguf-dump: $bad: " err &&
		test ! -e result.mp && test -z "$(ls | grep result)" || { echo "for $bad"; cat err; return 1; }
	done)
}

test_expect_success FIXTURES 'bad inputs: one error line, exit 1, no -o file left' '
	check_bad_inputs "$F/stories260K-f32.gguf" 700000
'

test_expect_success 'bad synthetic inputs: one error line, exit 1, no -o file left' '
	check_bad_inputs "$PWD/synth32.gguf" 2000000
'

# check_truncated_stdin MODEL N: MODEL cut after N bytes, on stdin.
check_truncated_stdin() {
	head -c $2 "$1" >trunc-data.gguf &&
	test_must_fail 1 gguf-dump - <trunc-data.gguf >out 2>err &&
	test_one_error_line err && grep -q "tensor .blk" err
}

test_expect_success FIXTURES 'a truncated stream on stdin is an error naming the tensor' '
	check_truncated_stdin "$F/stories260K-f32.gguf" 700000
'

test_expect_success 'a truncated synthetic stream on stdin is an error naming the tensor' '
	check_truncated_stdin synth32.gguf 2000000
'

test_expect_success 'usage: no file is a usage error; --help exits 0' '
	test_must_fail 2 gguf-dump </dev/null 2>err &&
	gguf-dump --help >help && grep -q "^Usage: gguf-dump" help &&
	test_must_fail 2 gguf-dump --no-such-option x.gguf 2>err &&
	test_one_error_line err || grep -q "Try" err
'

test_done
