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
# cpu CMD...: runs CMD, prints its user + system CPU seconds (the wall
# time of a shared machine says little); needs GNU time, else "nan".
cpu() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f "%U %S" -o "$tmp/cpu" "$@" >/dev/null &&
			awk '{ printf "%.3f", $1 + $2 }' "$tmp/cpu"
	else
		"$@" >/dev/null && printf nan
	fi
}

"$bin/gguf-synth" --preset moe -@ "$threads" -o "$tmp/moe.gguf"
"$bin/gguf-dump" "$tmp/moe.gguf" >"$tmp/moe.mp"
n=$("$bin/rec-show" --tsv -H -k model -f gguf.n_tensors "$tmp/moe.mp")
cat "$tmp/moe.gguf" >/dev/null

t0=$(now); base_c=$(cpu "$bin/qerr-measure" -q -t Q8_0 -@ "$threads" "$tmp/moe.mp"); t1=$(now)
base_s=$(secs "$t0" "$t1")
t0=$(now); stats_c=$(cpu "$bin/sens-score" -q --no-svd -@ "$threads" "$tmp/moe.mp"); t1=$(now)
stats_s=$(secs "$t0" "$t1")
t0=$(now); sens_c=$(cpu "$bin/sens-score" -q -@ "$threads" "$tmp/moe.mp"); t1=$(now)
sens_s=$(secs "$t0" "$t1")

awk -v n="$n" -v b="$base_s" -v s="$stats_s" -v v="$sens_s" -v t="$threads" \
    -v bc="$base_c" -v sc="$stats_c" -v vc="$sens_c" 'BEGIN {
	printf "sens-score moe bench: gguf-synth moe, %d tensors, -@ %d (wall, CPU = user + sys)\n", n, t
	printf "  %-32s %8.2f s wall %8.2f s CPU %7.3f ms CPU/tensor\n", "qerr-measure -t Q8_0 (baseline)", b, bc, 1000 * bc / n
	printf "  %-32s %8.2f s wall %8.2f s CPU %7.3f ms CPU/tensor %6.1f x baseline\n", "sens-score --no-svd", s, sc, 1000 * sc / n, sc / bc
	printf "  %-32s %8.2f s wall %8.2f s CPU %7.3f ms CPU/tensor %6.1f x baseline (target < 5 s)\n", "sens-score", v, vc, 1000 * vc / n, vc / bc
}'
