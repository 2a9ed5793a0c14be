#!/bin/sh
# sens-score's per-tensor cost on many small tensors: gguf-synth --preset
# moe (20,335 tensors of 64 x 32 or less, 86 MB, F16), next to a baseline
# measured in the same run: qerr-measure -t Q8_0 on the same records (a
# filter with a small per-tensor cost).  Issue 12 asks for < 5 s.
# Usage: sh bench/sens-moe.sh BINDIR [BENCHBINDIR]
# QP_BENCH_THREADS (default 1) sets -@.
set -eu
bin=${1:-bin}
threads=${QP_BENCH_THREADS:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qp-sens-moe.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

"$bin/gguf-synth" --preset moe -@ "$threads" -o "$tmp/moe.gguf"
"$bin/gguf-dump" "$tmp/moe.gguf" >"$tmp/moe.mp"
n=$("$bin/rec-show" --tsv -H -k model -f gguf.n_tensors "$tmp/moe.mp")
cat "$tmp/moe.gguf" >/dev/null

t0=$(now); "$bin/qerr-measure" -q -t Q8_0 -@ "$threads" "$tmp/moe.mp" >/dev/null; t1=$(now)
base_s=$(secs "$t0" "$t1")
t0=$(now); "$bin/sens-score" -q --no-svd -@ "$threads" "$tmp/moe.mp" >/dev/null; t1=$(now)
stats_s=$(secs "$t0" "$t1")
t0=$(now); "$bin/sens-score" -q -@ "$threads" "$tmp/moe.mp" >/dev/null; t1=$(now)
sens_s=$(secs "$t0" "$t1")

awk -v n="$n" -v b="$base_s" -v s="$stats_s" -v v="$sens_s" -v t="$threads" 'BEGIN {
	printf "sens-score moe bench: gguf-synth moe, %d tensors, -@ %d\n", n, t
	printf "  %-32s %8.2f s %8.3f ms/tensor\n", "qerr-measure -t Q8_0 (baseline)", b, 1000 * b / n
	printf "  %-32s %8.2f s %8.3f ms/tensor  %6.1f x baseline\n", "sens-score --no-svd", s, 1000 * s / n, s / b
	printf "  %-32s %8.2f s %8.3f ms/tensor  %6.1f x baseline  (target < 5 s)\n", "sens-score", v, 1000 * v / n, v / b
}'
