#!/bin/sh
# Whole-model qerr-measure of the gguf-synth 1b preset (TinyLlama-1.1B
# shapes, F16) for the default ladder, on 1 and 2 threads, next to the
# time to read the model's bytes (cat > /dev/null) in the same run; then
# --sample 0.05 with three seeds: the share of (tensor, type, metric)
# whose full-pass value lies inside the sampled 95% interval.
# QP_BENCH_PRESET=tiny runs the same on the small preset.
set -eu
bin=$1
preset=${QP_BENCH_PRESET:-1b}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qp-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$bin/gguf-synth" --preset "$preset" -@ 2 -o "$tmp/m.gguf"
"$bin/gguf-dump" "$tmp/m.gguf" >"$tmp/m.mp"
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

t0=$(date +%s%N); cat "$tmp/m.gguf" >/dev/null; t1=$(date +%s%N)
echo "== qerr-measure, default ladder, preset $preset ($(wc -c <"$tmp/m.gguf") bytes)"
echo "baseline: cat > /dev/null   $(secs $t0 $t1) s"
for n in 1 2; do
	t0=$(date +%s%N)
	"$bin/qerr-measure" -@ $n "$tmp/m.mp" >"$tmp/full$n.mp"
	t1=$(date +%s%N)
	echo "qerr-measure -@ $n          $(secs $t0 $t1) s"
done
"$bin/rec-show" -k tensor "$tmp/full1.mp" >"$tmp/full1.json"
"$bin/rec-show" -k tensor "$tmp/full2.mp" | cmp -s - "$tmp/full1.json" &&
	echo "tensor records identical for -@ 1 and -@ 2" || echo "tensor records DIFFER between -@ 1 and -@ 2"

types="Q2_K Q3_K Q4_K Q5_K Q6_K Q8_0 IQ4_XS"
fields() { for t in $types; do printf "qerr.$t.$1,"; done | sed 's/,$//'; }
"$bin/rec-show" --tsv -H -f "name,$(fields rel),$(fields mse)" "$tmp/full2.mp" >"$tmp/full.tsv"
for seed in 1 2 3; do
	t0=$(date +%s%N)
	"$bin/qerr-measure" -@ 2 --sample 0.05 --seed $seed "$tmp/m.mp" >"$tmp/s.mp"
	t1=$(date +%s%N)
	echo "qerr-measure -@ 2 --sample 0.05 --seed $seed   $(secs $t0 $t1) s" >&2
	"$bin/rec-show" --tsv -H -f "$(fields ci95.rel),$(fields ci95.mse)" "$tmp/s.mp" |
		paste "$tmp/full.tsv" -
done | tr -d '[]' | awk -F'\t' '
	{ for (i = 2; i <= 15; i++) { split($(i + 14), ci, ","); if (ci[2] == "") continue;
	  n++; if ($i >= ci[1] && $i <= ci[2]) inside++ } }
	END { printf "--sample 0.05: %d of %d full-pass values inside the 95%% interval (%.1f%%)\n", inside, n, 100 * inside / n }'
