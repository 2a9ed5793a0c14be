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

have_tool xmllint; st=$?
if [ $st -eq 0 ]; then
test_expect_success 'xmllint: well-formed' '
	xmllint --noout p.svg && xmllint --noout nomap.svg && xmllint --noout ln.svg
'
elif [ $st -eq 2 ]; then
test_expect_success 'xmllint is installed in CI' 'false'
else
test_skip 'xmllint: well-formed' 'xmllint not installed'
fi

have_tool rsvg-convert; st=$?
if [ $st -eq 0 ]; then
test_expect_success 'rsvg-convert renders it, and the picture is not blank' '
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
