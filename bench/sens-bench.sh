#!/bin/sh
# sens-score throughput on the gguf-synth --preset 1b model (2.2 GB, F16):
# the weight-statistics pass without and with the randomized SVD, in GB/s
# of tensor data, next to the plain read bandwidth of the same file
# measured in the same run (cat, page cache warm).
# Usage: sh bench/sens-bench.sh BINDIR [BENCHBINDIR]
# QP_BENCH_THREADS (default: all cores) sets -@.
set -eu
bin=${1:-bin}
threads=${QP_BENCH_THREADS:-$(nproc 2>/dev/null || echo 1)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qp-sens-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

"$bin/gguf-synth" --preset 1b -@ "$threads" -o "$tmp/1b.gguf"
"$bin/gguf-dump" "$tmp/1b.gguf" >"$tmp/1b.mp"
bytes=$("$bin/rec-show" --tsv -H -k model -f n_bytes "$tmp/1b.mp")

# the best of three reads after a warm-up (one read takes a tenth of a
# second: a single one is noisy)
cat "$tmp/1b.gguf" >/dev/null
read_s=
for i in 1 2 3; do
	t0=$(now); cat "$tmp/1b.gguf" >/dev/null; t1=$(now)
	s=$(secs "$t0" "$t1")
	read_s=$(awk -v a="${read_s:-$s}" -v b="$s" 'BEGIN { print (b < a ? b : a) }')
done

t0=$(now); "$bin/sens-score" -q --no-svd -@ "$threads" "$tmp/1b.mp" >/dev/null; t1=$(now)
stats_s=$(secs "$t0" "$t1")

t0=$(now); "$bin/sens-score" -q -@ "$threads" "$tmp/1b.mp" >/dev/null; t1=$(now)
svd_s=$(secs "$t0" "$t1")

awk -v b="$bytes" -v r="$read_s" -v s="$stats_s" -v v="$svd_s" -v t="$threads" 'BEGIN {
	printf "sens-score bench: gguf-synth 1b, %.2f GB of tensor data, -@ %d\n", b / 1e9, t
	printf "  %-34s %8.2f s %8.3f GB/s\n", "plain read (cat, cached, best of 3)", r, b / 1e9 / r
	printf "  %-34s %8.2f s %8.3f GB/s  %6.4f x read\n", "sens-score --no-svd (statistics)", s, b / 1e9 / s, r / s
	printf "  %-34s %8.2f s %8.3f GB/s  %6.4f x read\n", "sens-score (with SVD rank 64)", v, b / 1e9 / v, r / v
}'
