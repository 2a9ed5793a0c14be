#!/bin/sh
# gguf-dump of a full-scale model's metadata (gguf-synth --preset 7b
# --sparse: Llama-2-7B shapes and vocab, data left as a hole), median of
# 21 runs, next to two baselines measured in the same run: starting a
# process that does nothing (true) and reading the metadata bytes with
# head -c.  Goal: under 20 ms.
set -eu
bin=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qp-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$bin/gguf-synth" --preset 7b --sparse -o "$tmp/7b.gguf"
meta=$("$bin/gguf-dump" "$tmp/7b.gguf" | "$bin/rec-show" --tsv -H -k tensor -f offset | sort -n | head -n 1)

median_ms() { # command...
	for i in $(seq 21); do
		t0=$(date +%s%N)
		"$@" >/dev/null
		t1=$(date +%s%N)
		echo $(( (t1 - t0) / 1000 ))
	done | sort -n | sed -n 11p | awk '{ printf "%.2f", $1 / 1000 }'
}

dump=$(median_ms "$bin/gguf-dump" "$tmp/7b.gguf")
dump_kv=$(median_ms "$bin/gguf-dump" --kv-full "$tmp/7b.gguf")
nothing=$(median_ms true)
head_ms=$(median_ms head -c "$meta" "$tmp/7b.gguf")
echo "== gguf-dump of 7B metadata (291 tensors, 32000-token vocab, $meta bytes)"
printf "gguf-dump            %8s ms\n" "$dump"
printf "gguf-dump --kv-full  %8s ms\n" "$dump_kv"
printf "baseline: true       %8s ms\n" "$nothing"
printf "baseline: head -c    %8s ms   (ratio gguf-dump / head -c: %s)\n" "$head_ms" \
	"$(awk -v a="$dump" -v b="$head_ms" 'BEGIN { printf "%.2f", a / b }')"
