#!/bin/sh
# make demo: the main job on the built-in synthetic example.
# Usage: sh pipelines/demo.sh BINDIR
set -eu
bin=${1:-bin}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/quantpipe-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "== gguf-synth --preset tiny: a llama-shaped model with heavy-tailed weights"
"$bin/gguf-synth" --preset tiny --seed 1 -o "$tmp/tiny.gguf"
echo
echo "== gguf-dump tiny.gguf | rec-show --table"
"$bin/gguf-dump" "$tmp/tiny.gguf" | "$bin/rec-show" --table
if [ -x "$bin/qerr-measure" ]; then
	echo
	echo "== gguf-dump | qerr-measure -t Q4_0,Q4_K,Q6_K,Q8_0 | rec-show --table"
	"$bin/gguf-dump" "$tmp/tiny.gguf" |
		"$bin/qerr-measure" -t Q4_0,Q4_K,Q6_K,Q8_0 -@ 2 |
		"$bin/rec-show" --table -f name,type,qerr.Q4_0.rel,qerr.Q4_K.rel,qerr.Q6_K.rel,qerr.Q8_0.rel
fi
if [ -x "$bin/sens-score" ]; then
	echo
	echo "== gguf-dump | sens-score -b 100 | rec-show --table (scores, then the profile)"
	"$bin/gguf-dump" "$tmp/tiny.gguf" | "$bin/sens-score" -q -@ 2 -b 100 >"$tmp/sens.mp"
	"$bin/rec-show" --table -f name,stats.kurtosis,stats.out6,sens.nv,sens.se,sens.w_depth,sens.score "$tmp/sens.mp"
	"$bin/rec-show" --table -k profile -f model,n_params,bpw,arch.gqa_ratio,bytes_per_token,tok_per_s "$tmp/sens.mp"
fi
if [ -x "$bin/proxy-fit" ]; then
	echo
	echo "== proxy-fit without runs: the UNCALIBRATED prior predicts a question"
	echo "   (Q4_K everywhere; intervals are as wide as cross-model transfer showed)"
	"$bin/gguf-dump" "$tmp/tiny.gguf" | "$bin/qerr-measure" -t Q4_K >"$tmp/q.mp"
	"$bin/rec-show" --tsv -H -f name "$tmp/q.mp" |
		awk 'BEGIN { printf "{\"kind\":\"measure\",\"model\":\"tiny.gguf\",\"source\":\"question\",\"types\":{" }
		     { printf "%s\"%s\":\"Q4_K\"", (NR > 1 ? "," : ""), $1 }
		     END { print "}}" }' | "$bin/rec-show" --from-json >"$tmp/question.mp"
	"$bin/proxy-fit" -q "$tmp/q.mp" "$tmp/question.mp" |
		"$bin/rec-show" --table -k measure -f source,pred.calibrated,pred.value,pred.lo,pred.hi,pred.level
fi
