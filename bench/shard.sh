#!/bin/sh
# Sharded qerr-measure of the gguf-synth 1b preset (TinyLlama-1.1B shapes,
# F16): N = 1, 2, 4 shards run two at a time (-@ 1 each), then rec-merge;
# wall time of the shards and of the merge, next to the baseline measured
# in the same run: one unsharded qerr-measure -@ 1 and one with -@ 2 (the
# same two cores).  Every merge is checked byte for byte against the
# unsharded output.
# It is heavy: by default it measures one type on a 5% row sample
# (QP_BENCH_QERR='-t Q4_K --sample 0.05'); QP_BENCH_QERR='-t Q4_K' gives
# the full pass, QP_BENCH_PRESET=tiny the small preset.
set -eu
bin=$1
preset=${QP_BENCH_PRESET:-1b}
qopts=${QP_BENCH_QERR:--t Q4_K --sample 0.05}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qp-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$bin/gguf-synth" --preset "$preset" -@ 2 -o "$tmp/m.gguf"
"$bin/gguf-dump" "$tmp/m.gguf" >"$tmp/m.mp"
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cat "$tmp/m.gguf" >/dev/null # warm the page cache for every run alike
echo "== sharded qerr-measure $qopts, preset $preset ($(wc -c <"$tmp/m.gguf") bytes, $(nproc) cores)"
t0=$(now); "$bin/qerr-measure" -@ 1 $qopts "$tmp/m.mp" >"$tmp/full.mp"; t1=$(now)
base=$(secs $t0 $t1)
echo "baseline: unsharded qerr-measure -@ 1   $base s"
t0=$(now); "$bin/qerr-measure" -@ 2 $qopts "$tmp/m.mp" >"$tmp/full2.mp"; t1=$(now)
echo "          unsharded qerr-measure -@ 2   $(secs $t0 $t1) s  ($(ratio $(secs $t0 $t1) $base) x baseline)"
printf '%-4s %10s %10s %10s %10s %12s %s\n' N shards_s ratio merge_s merge_ratio merged_MB identical
for n in 1 2 4; do
	rm -f "$tmp"/s*.mp
	t0=$(now)
	i=0
	while [ $i -lt $n ]; do echo $i; i=$((i + 1)); done |
		xargs -P 2 -I{} "$bin/qerr-measure" -@ 1 --shard {}/$n $qopts -o "$tmp/s{}.mp" "$tmp/m.mp"
	t1=$(now)
	"$bin/rec-merge" "$tmp"/s*.mp >"$tmp/merged.mp"
	t2=$(now)
	same=no
	cmp -s "$tmp/full.mp" "$tmp/merged.mp" && same=yes
	mb=$(awk -v b="$(wc -c <"$tmp/merged.mp")" 'BEGIN { printf "%.2f", b / 1048576 }')
	printf '%-4s %10s %10s %10s %10s %12s %s\n' $n $(secs $t0 $t1) \
		$(ratio $(secs $t0 $t1) $base) $(secs $t1 $t2) $(ratio $(secs $t1 $t2) $base) $mb $same
done
