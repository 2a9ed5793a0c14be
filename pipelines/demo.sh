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
if [ -x "$bin/recipe-emit" ] && [ -x "$bin/rec-plot" ]; then
	echo
	echo "== the best types at Q4_K_M's exact file size, next to Q4_K_M (prior: uncalibrated)"
	"$bin/gguf-dump" "$tmp/tiny.gguf" | "$bin/qerr-measure" -t Q3_K,Q4_K,Q5_K,Q6_K,Q8_0 -s 0.1 -@ 2 >"$tmp/m.mp"
	"$bin/recipe-emit" -q --compare Q4_K_M "$tmp/m.mp" |
		"$bin/rec-show" --table -k recipe -f source,file_bytes,bpw,optimal.gap,pred.value,pred.lo,pred.hi
	echo
	echo "== its llama-quantize --tensor-type-file"
	size=$("$bin/recipe-emit" -q --mix Q4_K_M "$tmp/m.mp" | "$bin/rec-show" -k recipe --tsv -H -f file_bytes)
	"$bin/recipe-emit" -q --size "$size" -f tensor-type-file "$tmp/m.mp"
	echo
	echo "== the frontier: $("$bin/recipe-emit" -q --frontier "$tmp/m.mp" | "$bin/rec-show" -k recipe --tsv -H -f source | wc -l) breakpoints, each optimal for its size (QP_DEMO_SVG=FILE keeps the picture)"
	"$bin/recipe-emit" -q --frontier --compare Q4_K_M,Q3_K_M "$tmp/m.mp" |
		"$bin/rec-plot" --title "gguf-synth tiny: frontier" -o "${QP_DEMO_SVG:-$tmp/frontier.svg}"
	"$bin/recipe-emit" -q --frontier "$tmp/m.mp" |
		"$bin/rec-show" --table -k recipe -f file_bytes,bpw,optimal.loss,pred.value | sed -n '1p;2p;10p;20p;30p;$p'
fi
if [ -x "$bin/recipe-emit" ] && [ -x "$bin/rec-plot" ] && [ -x "$bin/proxy-fit" ]; then
	out=${QP_DEMO_OUT:-demo-out}
	echo
	echo "== the whole job as Make rules (pipelines/quantpipe.mk) into $out/"
	mkdir -p "$out"
	cmp -s "$tmp/tiny.gguf" "$out/tiny.gguf" || cp "$tmp/tiny.gguf" "$out/tiny.gguf"
	make --no-print-directory -s -f "$(dirname "$0")/quantpipe.mk" MODEL="$out/tiny.gguf" \
		QP_OUT="$out" QP_BIN="$bin" QP_THREADS=2 TYPES=Q3_K,Q4_K,Q5_K,Q6_K,Q8_0 \
		BUDGETS="4.5" QP_COMPARE=Q4_K_M qp-all
	echo
	echo "   recipe:           $out/tiny.4.5.recipe (record: $out/tiny.4.5.recipe.mp)"
	echo "   tensor-type file: $out/tiny.4.5.tensor-types (llama-quantize --pure --tensor-type-file ...)"
	echo "   picture:          $out/tiny.4.5.svg"
	echo "   (make again: nothing to do; change TYPES or BUDGETS: only what depends on them)"
fi
