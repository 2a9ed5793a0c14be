#!/bin/bash
test_description='recipe-emit: recipes as records and text, read back, and what it refuses'
. "$(dirname "$0")/lib.sh"

gguf-synth -p tiny -S -o tiny.gguf && gguf-dump tiny.gguf >tiny.mp || exit 1

test_expect_success '--mix writes the records through, then one recipe of every tensor' '
	recipe-emit --mix Q4_K_M <tiny.mp >r.mp &&
	rec-show -k tensor tiny.mp >in.json && rec-show -k tensor r.mp >out.json &&
	test_cmp in.json out.json &&
	rec-show -k recipe --tsv -H -f model,source,ftype,pure r.mp >head.tsv &&
	printf "tiny.gguf\tmix:Q4_K_M\tQ4_K_M\tfalse\n" >want && test_cmp want head.tsv &&
	test $(recipe-emit -f tsv <r.mp | wc -l) -eq $(wc -l <in.json) &&
	rec-show r.mp | tail -1 | grep -q "\"kind\":\"recipe\"" &&
	rec-show r.mp | head -1 | grep -q "\"tool\":\"recipe-emit\""
'

test_expect_success 'n_bytes adds up rows x row size of every type; bpw over the weights' '
	recipe-emit --mix Q4_K_S <tiny.mp >r.mp &&
	recipe-emit -f tsv <r.mp >types.tsv &&
	rec-show -k tensor --tsv -H -f name,shape tiny.mp >shapes.tsv &&
	rec-show -k recipe --tsv -H -f n_bytes,bpw r.mp >got &&
	join -t "$(printf "\t")" <(sort types.tsv) <(sort shapes.tsv) | awk -F"\t" "
		BEGIN { bs[\"F32\"] = 1; ts[\"F32\"] = 4; bs[\"F16\"] = 1; ts[\"F16\"] = 2
			bs[\"Q4_K\"] = 256; ts[\"Q4_K\"] = 144; bs[\"Q5_K\"] = 256; ts[\"Q5_K\"] = 176
			bs[\"Q6_K\"] = 256; ts[\"Q6_K\"] = 210 }
		{ s = \$3; gsub(/[][]/, \"\", s); n = split(s, d, \",\"); e = 1; for (i = 1; i <= n; i++) e *= d[i]
		  if (!(\$2 in bs)) { print \"no size for\", \$2; exit 1 }
		  bytes += e / bs[\$2] * ts[\$2]; w += e }
		END { printf \"%d\t%.12f\n\", bytes, bytes * 8 / w }" >want &&
	awk -F"\t" "{ printf \"%d\t%.12f\n\", \$1, \$2 }" got >got.r &&
	test_cmp want got.r
'

test_expect_success 'options as llama-quantize takes them change the choice' '
	recipe-emit --mix Q4_K_M --token-embedding-type q8_0 --output-tensor-type Q5_K \
		--tensor-type "attn_q=q3_k" -f tsv <tiny.mp >t.tsv &&
	grep -qx "token_embd.weight	Q8_0" t.tsv && grep -qx "output.weight	Q5_K" t.tsv &&
	test $(grep -c "attn_q.weight	Q3_K" t.tsv) -eq 4 &&
	recipe-emit --mix Q4_K_M --pure -f tsv <tiny.mp >p.tsv &&
	! grep -q Q6_K p.tsv &&
	recipe-emit --mix Q4_K_M --leave-output-tensor -f tsv <tiny.mp >l.tsv &&
	grep -qx "output.weight	F16" l.tsv
'

test_expect_success 'the recipe text says it in few rules, and reads back to the same types' '
	for m in Q4_K_M Q3_K_M Q3_K_L Q5_K_M Q2_K IQ4_XS Q6_K; do
		recipe-emit --mix $m -f recipe <tiny.mp >$m.recipe &&
		head -1 $m.recipe | grep -qx "# quantpipe recipe 1" &&
		test $(grep -vc "^#" $m.recipe) -le 8 &&
		recipe-emit --mix $m -f tsv <tiny.mp >want &&
		recipe-emit --from $m.recipe -f tsv <tiny.mp >got &&
		test_cmp want got || return 1
	done &&
	recipe-emit --from Q4_K_M.recipe <tiny.mp | rec-show -k recipe --tsv -H -f source >src &&
	echo file:Q4_K_M.recipe >want && test_cmp want src
'

test_expect_success 'tensor-type file, args and custom-q: anchored, lower-case, one form each' '
	recipe-emit --mix Q3_K_M <tiny.mp >r.mp &&
	recipe-emit -f tensor-type-file <r.mp >tt &&
	! grep -q "[A-Z#[:space:]]" <(tr -d "\n" <tt) &&
	grep -q "^\^blk" tt && grep -qx ".\*=q3_k" tt &&
	recipe-emit --mix Q3_K_M --from tt --pure -f tsv <tiny.mp >got &&
	recipe-emit -f tsv <r.mp >want && test_cmp want got &&
	recipe-emit -f args <r.mp >args && test $(wc -l <args) -eq 2 &&
	sed -n 2p args | grep -qx Q3_K_M && sed -n 1p args | grep -q "^--pure --tensor-type " &&
	test $(sed -n 1p args | grep -o -- "--tensor-type" | wc -l) -eq $(wc -l <tt) &&
	recipe-emit -f custom-q <r.mp >cq && test $(wc -l <cq) -eq 1 &&
	test "$(tr , "\n" <cq)" = "$(cat tt)"
'

test_expect_success 'a recipe record read back from the stream, and --compare' '
	recipe-emit --compare Q4_K_M,Q2_K,IQ4_XS <tiny.mp >c.mp &&
	rec-show -k recipe --tsv -H -f source c.mp >src &&
	printf "mix:Q4_K_M\nmix:Q2_K\nmix:IQ4_XS\n" >want && test_cmp want src &&
	recipe-emit --mix Q2_K -f tsv <tiny.mp >want &&
	recipe-emit --mix Q2_K <tiny.mp | recipe-emit -f tsv >got && test_cmp want got
'

test_expect_success '--from-gguf reads the types of a file of the same model' '
	recipe-emit --mix F32 -f tsv <tiny.mp >f32.tsv &&
	gguf-synth -p tiny -S -t F32 -o tiny32.gguf &&
	recipe-emit --from-gguf tiny32.gguf -f tsv <tiny.mp >got && test_cmp f32.tsv got
'

test_expect_success 'an F16 mix: rules in the recipe text, only the ftype for llama-quantize' '
	gguf-dump tiny32.gguf >t32.mp &&
	recipe-emit --mix F16 -f recipe <t32.mp >f16.recipe &&
	grep -qx ".\*=F16" f16.recipe &&
	recipe-emit --from f16.recipe -f tsv <t32.mp >got &&
	recipe-emit --mix F16 -f tsv <t32.mp >want && test_cmp want got &&
	recipe-emit --mix F16 -f args <t32.mp >args &&
	printf "\nF16\n" >want.args && test_cmp want.args args
'

test_expect_success 'a recipe file rule that decides nothing warns; -q keeps quiet' '
	printf "# quantpipe recipe 1\nnothing\\\\.here=Q8_0\nblk\\\\.[0-9]+\\\\.attn_norm\\\\.weight=Q8_0\n.*=Q4_K\n" >w.recipe &&
	recipe-emit --from w.recipe -f tsv <tiny.mp >out 2>err &&
	grep -q "w.recipe: line 2: rule .nothing..here. decides no tensor" err &&
	grep -q "line 3: rule" err && test $(wc -l <err) -eq 2 &&
	recipe-emit -q --from w.recipe -f tsv <tiny.mp >out 2>err && test ! -s err &&
	printf "# quantpipe recipe 1\nblk\\\\.0\\\\..*=Q8_0\n" >part.recipe &&
	recipe-emit --from part.recipe -f tsv <tiny.mp >out 2>err &&
	grep -q "match no rule: they keep their source type" err &&
	grep -qx "blk.1.attn_q.weight	F16" out
'

test_expect_success 'bad usage: exit 2 and one line' '
	for args in "--mix Q4_K_X" "--compare Q4_K_M,nope" "--mix Q4_K_M --output-tensor-type Q9_K" \
		"--mix Q4_K_M --tensor-type attn_q" "--mix Q4_K_M --tensor-type =q4_k" \
		"--mix Q4_K_M --tensor-type x(?=y)=q4_k" "--mix Q4_K_M --tensor-type \\bx=q4_k" \
		"--mix Q4_K_M -f yaml" "--compare Q4_K_M,Q2_K -f args" \
		"--from w.recipe --from-gguf tiny32.gguf"; do
		test_must_fail 2 recipe-emit $args <tiny.mp >out 2>err &&
		head -1 err | grep -q "^recipe-emit: " && ! test -s out &&
		test $(grep -vc "^Try .recipe-emit --help" err) -eq 1 || { cat err; echo "$args"; return 1; }
	done &&
	recipe-emit --mix Q4_K_M -f tensor-type-file <tiny.mp >tt &&
	test_must_fail 2 recipe-emit --from tt <tiny.mp 2>err && grep -q "needs --mix" err &&
	test_must_fail 2 recipe-emit --mix Q2_K --from w.recipe <tiny.mp 2>err &&
	long=Q4_K && while [ ${#long} -lt 1100 ]; do long=$long,Q4_K; done &&
	test_must_fail 2 recipe-emit --compare "$long" <tiny.mp 2>err &&
	grep -q "more than 1023 bytes" err
'

test_expect_success 'bad input: exit 1, one line naming what, no half-written -o file' '
	printf "# quantpipe recipe 1\nblk\\\\.(0=Q8_0\n" >bad1 &&
	printf "# quantpipe recipe 1\n.*=Q4_Z\n" >bad2 &&
	printf "# quantpipe recipe 2\n.*=Q4_K\n" >bad3 &&
	printf "# quantpipe recipe 1\nno equals sign\n" >bad4 &&
	printf "# quantpipe recipe 1\n=Q4_K\n" >bad5 &&
	for f in bad1 bad2 bad3 bad4 bad5; do
		line=2 && test $f != bad3 || line=1
		test_must_fail 1 recipe-emit --from $f -o out.mp <tiny.mp 2>err &&
		test_one_error_line err && grep -q "$f: line $line" err && test ! -e out.mp || { cat err; return 1; }
	done &&
	printf "attn_q=q4_k\nffn_down=q9_9\n" >badtt &&
	printf "attn_q=q4_k\nffn_(down=q8_0\n" >badtt2 &&
	for f in badtt badtt2; do
		test_must_fail 1 recipe-emit --mix Q4_K_M --tensor-type-file $f -o out.mp <tiny.mp 2>err &&
		test_one_error_line err && grep -q "^recipe-emit: $f: line 2: " err && ! test -e out.mp ||
			{ cat err; return 1; }
	done &&
	test_must_fail 1 recipe-emit --mix Q4_K_M --tensor-type-file missing.tt <tiny.mp 2>err &&
	test_one_error_line err && grep -q "^recipe-emit: missing.tt: " err &&
	for p in "ffn_(down" "attn_[q" "a**" "x\\"; do
		test_must_fail 1 recipe-emit --mix Q4_K_M --tensor-type "$p=q8_0" -o out.mp <tiny.mp 2>err &&
		test_one_error_line err && grep -q "bad pattern" err && ! test -e out.mp || { cat err; echo "$p"; return 1; }
	done &&
	test_must_fail 1 recipe-emit --from missing.recipe <tiny.mp 2>err && test_one_error_line err &&
	test_must_fail 1 recipe-emit --from-gguf missing.gguf <tiny.mp 2>err && test_one_error_line err &&
	rec-show -k tensor tiny.mp | rec-show --from-json >notensormodel.mp &&
	test_must_fail 1 recipe-emit --mix Q4_K_M <notensormodel.mp 2>err &&
	grep -q "no model record" err && test_one_error_line err
'

test_expect_success 'a text format names the input or output it cannot open, once' '
	test_must_fail 1 recipe-emit --mix Q4_K_M -f recipe missing.mp 2>err &&
	test_one_error_line err && grep -q "^recipe-emit: missing.mp: cannot open" err &&
	test_must_fail 1 recipe-emit --mix Q4_K_M -f recipe -o no/such/dir/r.txt <tiny.mp 2>err &&
	test_one_error_line err && grep -q "^recipe-emit: no/such/dir/r.txt: cannot create" err
'

test_expect_success 'a recipe llama-quantize cannot write is refused before any output' '
	recipe-emit --mix Q4_K_M <tiny.mp | rec-show -k recipe |
		sed "s/\"blk.0.attn_norm.weight\":\"F32\"/\"blk.0.attn_norm.weight\":\"Q8_0\"/" |
		rec-show --from-json >cat.mp &&
	cat tiny.mp cat.mp >both.mp &&
	test_must_fail 1 recipe-emit -f tensor-type-file -o tt.out <both.mp 2>err &&
	grep -q "blk.0.attn_norm.weight: llama-quantize never quantizes it" err && test ! -e tt.out &&
	recipe-emit --mix Q4_K_M <tiny.mp | rec-show -k recipe |
		sed "s/\"blk.0.attn_q.weight\":\"[A-Z0-9_]*\"/\"blk.0.attn_q.weight\":\"Q4_Z\"/" |
		rec-show --from-json >bad.mp &&
	cat tiny.mp bad.mp | test_must_fail 1 recipe-emit -f args 2>err &&
	grep -q "unknown type \"Q4_Z\"" err && test_one_error_line err
'

test_expect_success 'recipes/: each named mix file gives what --mix gives' '
	n=0 &&
	for f in "$QP_TOP"/recipes/*.recipe; do
		m=$(sed -n "s/^# mix: \([A-Z0-9_]*\) .*/\1/p" "$f")
		if [ -z "$m" ]; then
			recipe-emit -q --from "$f" -f tsv <tiny.mp >/dev/null || return 1
			continue
		fi
		recipe-emit --mix $m -f tsv <tiny.mp >want &&
		recipe-emit --from "$f" -f tsv <tiny.mp >got 2>err &&
		test_cmp want got || { echo "$f"; return 1; }
		n=$((n + 1))
	done &&
	test $n -ge 12
'

test_done
