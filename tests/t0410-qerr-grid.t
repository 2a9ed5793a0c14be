#!/bin/bash
test_description='qerr-measure: the grid types (IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S) and NVFP4, bit-exact with the real llama-quantize'
. "$(dirname "$0")/lib.sh"

if ! test_have_fixtures; then
	printf '1..0 # SKIP no ../shared/fixtures (real llama.cpp files)\n'
	exit 0
fi
F=$FIXTURES
K=$F/kjv-llama
LQ=${QP_LLAMA_BIN:-$QP_TOP/../shared/llama.cpp/bin}/llama-quantize
have_lq=
[ -x "$LQ" ] && have_lq=1
# Files llama-quantize makes here live in one scratch folder for all tests.
W=$TRASH/made
mkdir -p "$W"

# same_crc WANT.gguf GOT.tsv TYPE N: the N tensors of WANT.gguf stored as
# TYPE have the crc32 in GOT.tsv (name, crc32 of TYPE as measured).
same_crc() {
	gguf-dump --crc "$1" | rec-show --tsv -H -f name,type,crc32 | sort >want.tsv &&
	join -t "$(printf '\t')" want.tsv "$2" | awk -F'\t' -v t="$3" -v want="$4" -v f="$1" '
		$2 == t { n++; if ($3 != $4) { bad++; print "mismatch", f, $1 } }
		END { if (n != want || bad) { print f ": compared", n, "of", want, "bad", bad + 0; exit 1 } }'
}

test_expect_success 'stories260K rows256: IQ3_S without imatrix equals llama-quantize --pure' '
	gguf-dump "$F/stories260K-rows256-f32.gguf" | qerr-measure --crc -t IQ3_S |
		rec-show --tsv -H -f name,qerr.IQ3_S.crc32 | sort >got.tsv &&
	same_crc "$F/stories260K-rows256-IQ3_S-pure.gguf" got.tsv IQ3_S 37
'

if [ -n "$have_lq" ]; then
# One llama-quantize run writes all seven grid types (the overrides below,
# IQ3_S elsewhere): ggml builds each neighbour map once, and IQ1_S's alone
# takes it ~12 s.  Every type's full-model comparison is the same check.
mixed="--tensor-type attn_q=iq2_xxs --tensor-type attn_k=iq2_xs --tensor-type attn_v=iq2_s
	--tensor-type attn_output=iq3_xxs --tensor-type ffn_gate=iq1_s --tensor-type ffn_up=iq1_m"
test_expect_success 'kjv-llama: every grid type with the imatrix equals llama-quantize --pure --imatrix' '
	gguf-dump "$K/model-f32.gguf" >"$W/kjv.mp" &&
	"$LQ" --pure --imatrix "$K/imatrix.gguf" --token-embedding-type q8_0 $mixed \
		"$K/model-f32.gguf" "$W/kjv-mixed.gguf" IQ3_S >"$W/log-mixed" 2>&1 &&
	types="IQ3_S IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ1_S IQ1_M" &&
	qerr-measure -@ 2 --crc -t $(echo $types | tr " " ,) --imatrix "$K/imatrix.gguf" "$W/kjv.mp" >"$W/imat.mp" &&
	for t in $types; do
		n=4 && { [ $t != IQ3_S ] || n=5; } &&
		rec-show --tsv -H -f name,qerr.$t.crc32 "$W/imat.mp" | sort >got.tsv &&
		same_crc "$W/kjv-mixed.gguf" got.tsv $t $n || return 1
	done
'

test_expect_success 'kjv-llama: IQ3_S and NVFP4 without an imatrix equal llama-quantize' '
	qerr-measure -@ 2 --crc -t IQ3_S,NVFP4 "$W/kjv.mp" >plain.mp &&
	"$LQ" --pure "$K/model-f32.gguf" "$W/kjv-IQ3_S-plain.gguf" IQ3_S >log 2>&1 &&
	rec-show --tsv -H -f name,qerr.IQ3_S.crc32 plain.mp | sort >got.tsv &&
	same_crc "$W/kjv-IQ3_S-plain.gguf" got.tsv IQ3_S 30 &&
	"$LQ" --tensor-type ".*=nvfp4" "$K/model-f32.gguf" "$W/kjv-NVFP4.gguf" Q8_0 >log 2>&1 &&
	rec-show --tsv -H -f name,qerr.NVFP4.crc32 plain.mp | sort >got.tsv &&
	same_crc "$W/kjv-NVFP4.gguf" got.tsv NVFP4 30
'

# ggml's IQ3_S stores a super-block with an all-zero group of 32 (a pruned
# block) in its own layout: the later groups take the empty one's place.
test_expect_success 'kjv-llama: IQ3_S of weights with all-zero groups equals llama-quantize, with and without the imatrix' '
	cp "$K/model-f32.gguf" zeroed.gguf &&
	off=$(rec-show -k tensor -f name,offset --tsv "$W/kjv.mp" | awk -F"\t" "\$1 == \"blk.0.attn_q.weight\" { print \$2 }") &&
	test -n "$off" &&
	for g in 2 21 40; do
		dd if=/dev/zero of=zeroed.gguf bs=4 seek=$((off / 4 + 32 * g)) count=32 conv=notrunc status=none || return 1
	done &&
	gguf-dump zeroed.gguf >zeroed.mp &&
	"$LQ" --pure zeroed.gguf zeroed-plain.gguf IQ3_S >log 2>&1 &&
	qerr-measure --crc -t IQ3_S zeroed.mp | rec-show --tsv -H -f name,qerr.IQ3_S.crc32 | sort >got.tsv &&
	same_crc zeroed-plain.gguf got.tsv IQ3_S 30 &&
	"$LQ" --pure --imatrix "$K/imatrix.gguf" --token-embedding-type q8_0 zeroed.gguf zeroed-imat.gguf IQ3_S >log 2>&1 &&
	qerr-measure --crc -t IQ3_S --imatrix "$K/imatrix.gguf" zeroed.mp |
		rec-show --tsv -H -f name,qerr.IQ3_S.crc32 | sort >got.tsv &&
	same_crc zeroed-imat.gguf got.tsv IQ3_S 29
'

# token_embd and output are exempt from llama-quantize's imatrix rule, so
# it writes IQ2_S, IQ3_XXS and IQ1_M there through ggml's no-imatrix paths.
test_expect_success 'kjv-llama: the no-imatrix paths of IQ2_S IQ3_XXS IQ1_M on token_embd and output' '
	qerr-measure --crc -t IQ2_S,IQ3_XXS,IQ1_M "$W/kjv.mp" |
		rec-show --tsv -H -f name,qerr.IQ2_S.crc32,qerr.IQ3_XXS.crc32,qerr.IQ1_M.crc32 |
		grep -e "^output.weight" -e "^token_embd.weight" | sort >got3.tsv &&
	for run in IQ2_S:IQ3_XXS:2:3 IQ1_M:IQ2_S:4:2; do
		IFS=: read out emb cout cemb <<-EOF &&
		$run
		EOF
		"$LQ" --pure --output-tensor-type $out --token-embedding-type $emb \
			"$K/model-f32.gguf" "$W/ex.gguf" Q8_0 >log 2>&1 &&
		cut -f1,$cout got3.tsv >got.tsv && same_crc "$W/ex.gguf" got.tsv $out 1 &&
		cut -f1,$cemb got3.tsv >got.tsv && same_crc "$W/ex.gguf" got.tsv $emb 1 || return 1
	done
'

test_expect_success 'dequantization of every new type equals ggml (llama-quantize --allow-requantize to F32)' '
	for f in kjv-mixed kjv-NVFP4; do
		"$LQ" --allow-requantize "$W/$f.gguf" "$W/deq.gguf" F32 >log 2>&1 &&
		gguf-dump --crc "$W/deq.gguf" | rec-show --tsv -H -f name,crc32 | sort >want.tsv &&
		gguf-dump "$W/$f.gguf" | qerr-measure --crc -t F32 |
			rec-show --tsv -H -f name,qerr.F32.crc32 | sort >got.tsv &&
		join -t "$(printf "\t")" want.tsv got.tsv | awk -F"\t" -v f=$f "
			{ n++; if (\$2 != \$3) { bad++; print f, \$1 } }
			END { if (n != 39 || bad) { print f, n, bad + 0; exit 1 } }" || return 1
	done
'
else
	say "skipping the kjv-llama comparisons: no $LQ"
fi

test_expect_success 'without an imatrix the refusing types measure nothing and say which rule applies' '
	gguf-dump "$F/stories260K-rows256-f32.gguf" | qerr-measure -t IQ2_XXS,IQ3_XXS,IQ1_M |
		rec-show --tsv -H -f name,qerr.IQ2_XXS.note,qerr.IQ3_XXS.note,qerr.IQ1_M.rel,qerr.IQ2_XXS.rel |
		grep -e "^blk.0.attn_q.weight" -e "^output.weight" -e "^token_embd" >actual &&
	grep "^blk.0.attn_q.weight	needs an importance matrix: llama-quantize refuses IQ2_XXS without one (only token_embd and output are exempt)	needs an importance matrix: llama-quantize refuses IQ3_XXS without one" actual &&
	grep "^blk.0.attn_q.weight	.*	.*		$" actual &&
	grep "^token_embd.weight	needs an importance matrix: llama-quantize exempts this tensor, but ggml aborts quantizing IQ2_XXS without one		0\.[0-9]*	$" actual
'

test_expect_success 'with an imatrix lacking the tensor, the exempt token_embd is measured without one' '
	gguf-dump "$F/stories260K-f32.gguf" |
		qerr-measure -t IQ3_XXS --imatrix "$F/stories260K.imatrix.gguf" |
		rec-show --tsv -H -f name,qerr.IQ3_XXS.imatrix,qerr.IQ3_XXS.note | grep "^token_embd" >actual &&
	grep -q "^token_embd.weight	false	" actual
'

test_done
