#!/bin/bash
test_description='recipe-emit --mix: what the real llama-quantize picks, tensor by tensor'
. "$(dirname "$0")/lib.sh"

if ! test_have_fixtures; then
	printf '1..0 # SKIP no ../shared/fixtures (real llama.cpp files)\n'
	exit 0
fi
F=$FIXTURES
K=$F/kjv-llama
LQ=$QP_TOP/../shared/llama.cpp/bin/llama-quantize

# llama-quantize's options of a made: line (words as they are) or of a
# quantize_args column (shell-quoted, with -q), as recipe-emit options:
# --imatrix FILE becomes --imatrix-used; sets $opts, $in and $ftype.
llq_args() {
	opts= in= ftype=
	if [ "$1" = -q ]; then
		eval "set -- $2"
	else
		set -f; set -- $1; set +f
	fi
	while [ $# -gt 4 ]; do
		case $1 in
		--imatrix) opts="$opts --imatrix-used"; shift 2 ;;
		*) opts="$opts '$1'"; shift ;;
		esac
	done
	in=$1 ftype=$3
}

test_expect_success 'every fixture llama-quantize made: each tensor has the type --mix gives' '
	grep "made: llama-quantize" "$F/README.txt" | sed "s/^ *made: llama-quantize //" >made &&
	runs=0 tensors=0 &&
	while read -r line; do
		llq_args "$line" && out=$(echo "$line" | awk "{print \$(NF-2)}") &&
		[ -f "$F/$out" ] || continue
		gguf-dump "$F/$out" | rec-show -k tensor --tsv -H -f name,type | sort >want &&
		gguf-dump "$F/$in" | eval "recipe-emit --mix $ftype $opts -f tsv" | sort >got &&
		test_cmp want got || { echo "in $out"; return 1; }
		runs=$((runs + 1)) tensors=$((tensors + $(wc -l <want)))
	done <made &&
	say "fixtures: $runs files, $tensors tensors, all equal" &&
	test $runs -ge 60
'

test_expect_success 'quantize-outcomes.tsv: type counts of every run, and the runs that fail' '
	tail -n +2 "$F/figures/quantize-outcomes.tsv" |
		awk -F"\t" "{print \$5 \"\037\" \$6 \"\037\" \$9}" >outcomes &&
	runs=0 &&
	while IFS=$(printf "\037") read -r cmd rc counts; do
		llq_args "${cmd#llama-quantize}" &&
		if gguf-dump "$F/$in" | eval "recipe-emit --mix $ftype $opts -f tsv" >got 2>err; then
			test "$rc" = 0 || { echo "$cmd: llama-quantize fails, recipe-emit does not"; return 1; }
			have=$(cut -f2 got | sort | uniq -c | awk "{printf \"%s%s:%s\", (NR > 1 ? \",\" : \"\"), \$2, \$1}") &&
			test "$have" = "$counts" || { echo "$cmd: $have, want $counts"; return 1; }
		else
			test "$rc" = 1 || { echo "$cmd: recipe-emit fails:"; cat err; return 1; }
			test_one_error_line err || return 1
		fi
		runs=$((runs + 1))
	done <outcomes &&
	say "quantize-outcomes: $runs runs agree" && test $runs -ge 120
'

test_expect_success 'kjv-llama ppl.tsv: the tensor_types column of every configuration' '
	gguf-dump "$K/model-f32.gguf" >kjv.mp &&
	tail -n +2 "$K/ppl.tsv" | awk -F"\t" "{print \$1 \"\037\" \$3 \"\037\" \$6 \"\037\" \$NF}" >rows &&
	runs=0 &&
	while IFS=$(printf "\037") read -r id base args types; do
		llq_args -q "${args:-model-f32.gguf x.gguf $base 2}" &&
		eval "recipe-emit --mix $ftype $opts -f tsv" <kjv.mp >got &&
		have=$(awk -F"\t" "
			\$1 ~ /^blk\\./ { split(\$1, a, \".\"); v[a[3], a[2] + 0] = \$2; if (a[2] + 1 > nl) nl = a[2] + 1; next }
			{ n = \$1; sub(/\\.weight\$/, \"\", n); g[n] = \$2 }
			END { printf \"token_embd=%s;output=%s\", g[\"token_embd\"], g[\"output\"]
				split(\"attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down\", R, \" \")
				for (i = 1; i <= 7; i++) { printf \";%s=\", R[i]
					for (L = 0; L < nl; L++) printf \"%s%s\", (L ? \"/\" : \"\"), v[R[i], L] } }" got) &&
		test "$have" = "$types" || { echo "$id: $have"; echo "want $types"; return 1; }
		runs=$((runs + 1))
	done <rows &&
	say "ppl.tsv: $runs configurations equal" && test $runs -ge 60
'

test_expect_success '--from-gguf gives the types gguf-dump reads, and the file type' '
	gguf-dump "$F/stories260K-f32.gguf" >s.mp &&
	recipe-emit --from-gguf "$F/stories260K-Q3_K.gguf" -f tsv <s.mp | sort >got &&
	gguf-dump "$F/stories260K-Q3_K.gguf" | rec-show -k tensor --tsv -H -f name,type | sort >want &&
	test_cmp want got &&
	recipe-emit --from-gguf "$F/stories260K-Q3_K.gguf" <s.mp | rec-show -k recipe --tsv -H -f source,ftype >f &&
	printf "gguf:stories260K-Q3_K.gguf\tQ3_K_M\n" >want.f && test_cmp want.f f
'

if [ ! -x "$LQ" ]; then
	test_skip 'llama-quantize --dry-run on gguf-synth presets' 'no ../shared/llama.cpp'
	test_skip 'round trip through llama-quantize --tensor-type-file' 'no ../shared/llama.cpp'
	test_done
	exit
fi

FTYPES="Q1_0 Q2_0 Q4_0 Q4_1 MXFP4_MOE Q5_0 Q5_1 IQ2_XXS IQ2_XS IQ2_S IQ2_M IQ1_S IQ1_M
TQ1_0 TQ2_0 Q2_K Q2_K_S IQ3_XXS IQ3_S IQ3_M Q3_K IQ3_XS Q3_K_S Q3_K_M Q3_K_L IQ4_NL IQ4_XS
Q4_K Q4_K_S Q4_K_M Q5_K Q5_K_S Q5_K_M Q6_K Q8_0 F16 BF16 F32"

# dry_types LOG: name<TAB>type of every tensor a --dry-run printed.
dry_types() {
	awk '/^\[ *[0-9]+\/ *[0-9]+\]/ {
		line = $0; sub(/^\[[^]]*\] +/, "", line); n = line; sub(/ .*/, "", n)
		t = line; sub(/.*type = +/, "", t); sub(/,.*/, "", t)
		if (match(line, /\([A-Za-z0-9_]+\)$/)) t = substr(line, RSTART + 1, RLENGTH - 2)
		print n "\t" toupper(t) }' "$1" | sort
}

test_expect_success 'llama-quantize --dry-run on gguf-synth tiny, 1b, 7b: every ftype, mix, --pure, imatrix' '
	runs=0 tensors=0 refused=0 &&
	for p in tiny 1b 7b; do
		gguf-synth -p $p -S -o m.gguf && gguf-dump m.gguf >m.mp || return 1
		variants="mix imat" && test $p != tiny || variants="mix pure imat"
		for ft in $FTYPES; do
			for v in $variants; do
				lo= ro=
				case $v in
				pure) lo=--pure ro=--pure ;;
				imat) lo="--imatrix $K/imatrix.gguf" ro=--imatrix-used ;;
				esac
				"$LQ" --dry-run $lo m.gguf $ft >ll.txt 2>&1; lrc=$?
				recipe-emit --mix $ft $ro -f tsv <m.mp >got 2>err; rrc=$?
				if [ $lrc -ne 0 ]; then
					test $rrc -ne 0 || { echo "$p $ft $v: llama-quantize fails, we do not"; return 1; }
					refused=$((refused + 1)); continue
				fi
				if grep -q "will require an imatrix" ll.txt && [ $v != imat ]; then
					grep -q "needs an importance matrix" err || { echo "$p $ft $v: no imatrix refusal"; return 1; }
					refused=$((refused + 1)); continue
				fi
				test $rrc -eq 0 || { cat err; return 1; }
				dry_types ll.txt >want && sort got >got.s &&
				test_cmp want got.s || { echo "$p $ft $v"; return 1; }
				runs=$((runs + 1)) tensors=$((tensors + $(wc -l <want)))
			done
		done
	done &&
	say "dry-run: $runs runs ($tensors tensor choices) equal; $refused refused by both" &&
	test $runs -ge 200
'

# plan FILE FORM...: a hand-made recipe in the text format.
test_expect_success 'round trip: llama-quantize --tensor-type-file writes exactly the planned types' '
	gguf-dump "$K/model-f32.gguf" >kjv.mp &&
	cat >hand.recipe <<-\EOF &&
	# quantpipe recipe 1
	token_embd\.weight=Q8_0
	output\.weight=Q5_K
	blk\.0\.(attn_v|ffn_down)\.weight=Q6_K
	blk\.[13]\.ffn_(up|gate)\.weight=Q3_K
	blk\.2\..*=IQ4_XS
	blk\.[0-9]+\.attn_[qk]\.weight=Q4_0
	.*=Q4_K
	EOF
	recipe-emit --from hand.recipe <kjv.mp >hand.mp &&
	for src in mix:Q4_K_M mix:Q3_K_M mix:Q2_K mix:Q5_K_S file:hand.recipe; do
		case $src in
		mix:*) recipe-emit --mix ${src#mix:} <kjv.mp >r.mp ;;
		file:*) cp hand.mp r.mp ;;
		esac
		recipe-emit -f tensor-type-file <r.mp >tt.txt &&
		recipe-emit -f args <r.mp >args.txt &&
		recipe-emit -f tsv <r.mp | sort >want &&
		"$LQ" --pure --tensor-type-file tt.txt "$K/model-f32.gguf" q.gguf $(sed -n 2p args.txt) 2 >q.log 2>&1 &&
		gguf-dump q.gguf | rec-show -k tensor --tsv -H -f name,type | sort >got &&
		test_cmp want got || { echo "$src"; cat tt.txt; return 1; }
		eval "\"$LQ\" $(sed -n 1p args.txt) \"$K/model-f32.gguf\" q2.gguf $(sed -n 2p args.txt) 2" >q2.log 2>&1 &&
		gguf-dump q2.gguf | rec-show -k tensor --tsv -H -f name,type | sort >got2 &&
		test_cmp want got2 || { echo "$src (args)"; return 1; }
		bytes=$(rec-show -k recipe --tsv -H -f n_bytes r.mp) &&
		grep -q "quant size *= *$(awk -v b=$bytes "BEGIN { printf \"%.2f\", b / 1048576 }") MiB" q.log ||
			{ echo "$src: n_bytes $bytes"; grep "quant size" q.log; return 1; }
	done
'

test_done
