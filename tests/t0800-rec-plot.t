#!/bin/sh
test_description='rec-plot: recipes and measures as one plain, deterministic SVG that renders'
. "$(dirname "$0")/lib.sh"

# xmllint and rsvg-convert come from libxml2-utils and librsvg2-bin
# (.ci/deps.sh).  Outside CI a missing tool skips; in CI it fails.
have_tool() {
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "${CI:-}" = true ] && { echo "CI: $1 missing (.ci/deps.sh installs it)" >&2; return 2; }
	return 1
}

# A small frontier of four recipes with predictions, two named mixes (one
# with a label that needs escaping), a measured run, and records rec-plot
# ignores.
{
	echo '{"kind":"meta","schema":1,"tool":"hand","version":"0","argv":[]}'
	for i in 0 1 2 3; do
		bpw=$((3 + i)).25
		v=$(awk -v i=$i 'BEGIN { printf "%.6g", 0.2 / (4 ^ i) }')
		lo=$(awk -v v=$v 'BEGIN { printf "%.6g", v * 0.6 }')
		hi=$(awk -v v=$v 'BEGIN { printf "%.6g", v * 1.7 }')
		t=Q$((3 + i))_K
		echo '{"kind":"recipe","model":"m","source":"recipe-emit","n_bytes":'$((1000000 + i * 250000))',"bpw":'$bpw',"types":{"token_embd.weight":"Q6_K","blk.0.attn_q.weight":"'$t'","blk.0.ffn_down.weight":"Q8_0","blk.0.attn_norm.weight":"F32","blk.1.attn_q.weight":"Q4_K","blk.1.ffn_down.weight":"'$t'"},"optimal":{"loss":1,"bound":1,"gap":0},"pred":{"target":"kld_mean","value":'$v',"lo":'$lo',"hi":'$hi',"level":0.95,"calibrated":false}}'
	done
	echo '{"kind":"recipe","model":"m","source":"mix:Q4_K_M","ftype":"Q4_K_M","n_bytes":1600000,"bpw":4.9,"types":{"blk.0.attn_q.weight":"Q4_K"},"pred":{"target":"kld_mean","value":0.02,"lo":0.01,"hi":0.03,"level":0.95,"calibrated":false}}'
	echo '{"kind":"recipe","model":"m","source":"file:a&b<c>","n_bytes":1300000,"bpw":4.1,"types":{"blk.0.attn_q.weight":"Q3_K"},"pred":{"target":"kld_mean","value":0.05,"lo":0.03,"hi":0.08,"level":0.95,"calibrated":false}}'
	echo '{"kind":"measure","model":"m","source":"llama-perplexity","path":"/x/Q4_K_M.gguf","types":{},"n_bytes":1590000,"bpw":4.9,"kld_mean":0.018,"kld_mean_err":0.002}'
	echo '{"kind":"measure","model":"m","source":"llama-perplexity","types":{"a":"Q4_0"},"n_bytes":1,"bpw":4.5}'
	echo '{"kind":"tensor","name":"x","shape":[4],"type":"F32"}'
} >in.jsonl
rec-show --from-json in.jsonl >in.mp || exit 1

test_expect_success 'writes one SVG document with every part labelled' '
	rec-plot --title "kjv & co" -o p.svg in.mp &&
	head -c 5 p.svg | grep -q "<?xml" &&
	test $(grep -c "<svg" p.svg) = 1 &&
	grep -q ">Q4_K_M<" p.svg &&
	grep -q ">Q4_K_M.gguf<" p.svg &&
	grep -q "a&amp;b&lt;c&gt;" p.svg &&
	grep -q "kjv &amp; co" p.svg &&
	grep -q "<polygon" p.svg &&
	grep -q "<polyline" p.svg &&
	grep -q "log scale" p.svg &&
	grep -q "types by layer and role" p.svg &&
	grep -q ">layer 1<" p.svg &&
	! grep -q "attn_norm" p.svg
'

test_expect_success 'the same input gives the same bytes (no timestamps)' '
	rec-plot in.mp >p2.svg &&
	rec-plot <in.mp >p3.svg &&
	cmp p2.svg p3.svg &&
	rec-plot --title "kjv & co" in.mp | cmp - p.svg
'

test_expect_success '--map 0 draws no map; --map N picks the Nth recipe' '
	rec-plot --map 0 in.mp >nomap.svg &&
	! grep -q "types by layer" nomap.svg &&
	rec-plot --map 6 in.mp >m6.svg &&
	grep -q "types by layer and role: file:a&amp;b" m6.svg
'

test_expect_success 'with ln_ppl_ratio as the target, values <= 0 give a linear axis' '
	sed -e "s/\"target\":\"kld_mean\",\"value\":0.02,/\"target\":\"ln_ppl_ratio\",\"value\":-0.001,/" in.jsonl |
		grep "ln_ppl_ratio" | rec-show --from-json >ln.mp &&
	rec-plot -T ln_ppl_ratio ln.mp >ln.svg &&
	! grep -q "log scale" ln.svg
'

# Two checkpoints for --compare: a model record each, scored tensors (one
# of them twice, as recipe files pass tensor records on), recipes at a bpw
# and a size budget, one with another target, one without a prediction,
# one whose prediction names no target.
{
	echo '{"kind":"meta","schema":1,"tool":"hand","version":"0","argv":[]}'
	for m in "a<1>.gguf" b.gguf; do
		echo '{"kind":"model","id":"'$m'","n_bytes":3145728,"n_params":2000000}'
		for t in w1:0.5 w2:0.9 w3:0.1 w4:0.7 w2:0.9; do
			echo '{"kind":"tensor","model":"'$m'","name":"'${t%:*}'","shape":[4],"type":"F32","sens":{"score":'${t#*:}'}}'
		done
	done
	echo '{"kind":"recipe","model":"a<1>.gguf","source":"recipe-emit","budget":{"bpw":4.5},"n_bytes":1048576,"bpw":4.5,"types":{},"pred":{"target":"kld_mean","value":0.0123456,"lo":0.01,"hi":0.02}}'
	echo '{"kind":"recipe","model":"b.gguf","source":"recipe-emit","budget":{"bpw":4.5},"n_bytes":2097152,"bpw":4.5,"types":{},"pred":{"target":"kld_mean","value":0.03,"lo":0.02,"hi":0.05}}'
	echo '{"kind":"recipe","model":"b.gguf","source":"recipe-emit","budget":{"bpw":4.5},"n_bytes":1,"bpw":4.5,"types":{},"pred":{"target":"kld_mean","value":9,"lo":8,"hi":10}}'
	echo '{"kind":"recipe","model":"b.gguf","source":"recipe-emit","budget":{"bytes":3221225472},"n_bytes":3000000000,"bpw":3.1,"types":{},"pred":{"target":"kld_mean","value":0.2}}'
	echo '{"kind":"recipe","model":"b.gguf","source":"mix:Q4_K_M","n_bytes":5,"bpw":4.9,"types":{},"pred":{"target":"kld_mean","value":0.04,"lo":0.03,"hi":0.06}}'
	echo '{"kind":"recipe","model":"b.gguf","source":"recipe-emit","budget":{"bpw":2},"n_bytes":5,"bpw":2,"types":{},"pred":{"target":"ln_ppl_ratio","value":0.5}}'
	echo '{"kind":"recipe","model":"a<1>.gguf","source":"recipe-emit","budget":{"bpw":3},"n_bytes":5,"bpw":3,"types":{}}'
	echo '{"kind":"recipe","model":"a<1>.gguf","source":"recipe-emit","budget":{"bpw":6},"n_bytes":5,"bpw":6,"types":{},"pred":{"value":0.7}}'
} >cmp.jsonl
rec-show --from-json cmp.jsonl >cmp.mp || exit 1

test_expect_success '--compare: a row per model id, a column per budget, the most sensitive tensors' '
	rec-plot --compare --title "two & more" -o c.svg cmp.mp &&
	test $(grep -c "<svg" c.svg) = 1 && grep -q "two &amp; more" c.svg &&
	grep -q ">a&lt;1&gt;.gguf<" c.svg && grep -q ">b.gguf<" c.svg &&
	grep -qF ">0.01235 [0.01, 0.02], 1.00 MiB<" c.svg &&
	grep -qF ">0.03 [0.02, 0.05], 2.00 MiB<" c.svg && ! grep -qF ">9 [8, 10]" c.svg &&
	grep -q ">3 GiB: pred \[lo, hi\], size<" c.svg && grep -qF ">0.2, 2861.02 MiB<" c.svg &&
	grep -q ">mix:Q4_K_M: pred" c.svg &&
	! grep -q "2 bpw" c.svg && ! grep -q ">3 bpw" c.svg && ! grep -q "6 bpw" c.svg &&
	test $(grep -c ">w2, w4, w1<" c.svg) = 2 &&
	test $(grep -c ">3.00<" c.svg) = 2 && grep -q ">2<" c.svg &&
	grep -q ">-<" c.svg
'

test_expect_success '--compare -T ln_ppl_ratio keeps that target only; the output is deterministic' '
	rec-plot -C -T ln_ppl_ratio cmp.mp >ln-c.svg &&
	grep -qF ">0.5, 0.00 MiB<" ln-c.svg && ! grep -qF "0.01235" ln-c.svg &&
	rec-plot -C --title "two & more" <cmp.mp | cmp - c.svg
'

test_expect_success '--compare: nothing to compare, a recipe without a model, --map with it' '
	grep "\"measure\"" in.jsonl | rec-show --from-json >m.mp &&
	test_must_fail 1 rec-plot -C -o n.svg m.mp 2>err && test_one_error_line err &&
	grep -q "nothing to compare" err && ! test -e n.svg &&
	echo "{\"kind\":\"recipe\",\"source\":\"s\",\"n_bytes\":1,\"bpw\":1,\"types\":{},\"pred\":{\"value\":1}}" |
		rec-show --from-json >nomodel.mp &&
	test_must_fail 1 rec-plot -C nomodel.mp 2>err && test_one_error_line err && grep -q "\"model\" is missing" err &&
	test_must_fail 2 rec-plot -C -m 1 cmp.mp 2>err && test_one_error_line err
'

have_tool xmllint; st=$?
if [ $st -eq 0 ]; then
test_expect_success 'xmllint: well-formed' '
	xmllint --noout p.svg && xmllint --noout nomap.svg && xmllint --noout ln.svg && xmllint --noout c.svg
'
elif [ $st -eq 2 ]; then
test_expect_success 'xmllint is installed in CI' 'false'
else
test_skip 'xmllint: well-formed' 'xmllint not installed'
fi

have_tool rsvg-convert; st=$?
if [ $st -eq 0 ]; then
test_expect_success 'rsvg-convert renders it, and the picture is not blank' '
	rsvg-convert c.svg -o c.png && test -s c.png &&
	rsvg-convert p.svg -o p.png &&
	printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"%s\"><rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/></svg>\n" \
		$(sed -n "s/.*<svg[^>]* height=\"\([0-9]*\)\".*/\1/p" p.svg) >blank.svg &&
	rsvg-convert blank.svg -o blank.png &&
	test $(wc -c <p.png) -gt $((20 * $(wc -c <blank.png)))
'
elif [ $st -eq 2 ]; then
test_expect_success 'rsvg-convert is installed in CI' 'false'
else
test_skip 'rsvg-convert renders it' 'rsvg-convert not installed'
fi

test_expect_success 'nothing to draw: one error line, exit 1, no output file' '
	grep tensor in.jsonl | rec-show --from-json >none.mp &&
	test_must_fail 1 rec-plot -o none.svg none.mp 2>err &&
	test_one_error_line err && grep -q "nothing to plot" err &&
	! test -e none.svg
'

test_expect_success 'a --map beyond the recipes, a bad recipe, a bad target' '
	test_must_fail 1 rec-plot --map 9 -o x.svg in.mp 2>err &&
	test_one_error_line err && grep -q "holds 6 recipe records" err && ! test -e x.svg &&
	echo "{\"kind\":\"recipe\",\"model\":\"m\",\"source\":\"s\",\"n_bytes\":1,\"bpw\":1,\"types\":{\"a\":\"Q4_Z\"}}" |
		rec-show --from-json >bad.mp &&
	test_must_fail 1 rec-plot bad.mp 2>err && test_one_error_line err && grep -q "Q4_Z" err &&
	test_must_fail 2 rec-plot -T ppl in.mp 2>err
'

test_expect_success 'a truncated stream is an error naming the offset' '
	head -c 300 in.mp >trunc.mp &&
	test_must_fail 1 rec-plot trunc.mp 2>err && test_one_error_line err && grep -q "offset" err
'

test_done
