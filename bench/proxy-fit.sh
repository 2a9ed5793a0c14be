#!/bin/sh
# proxy-fit at scale: a stream of 1,000 tensor records x 15 qerr types and
# 50 measures (bench/proxy_bench.c) fitted by proxy-fit (target: < 1 s),
# next to rec-show merely decoding the same stream, in the same run; then
# 10,000 configurations predicted in-process through the term table
# (target: < 1 s), next to summing the same doubles.
set -eu
bin=$1
bbin=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qp-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# CPU seconds (user + system) of one command: the machine is shared, so
# wall time says more about the neighbours than about us.
cpu() { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null | tail -n 1 | awk '{ printf "%.3f", $1 + $2 }'; }
"$bbin/proxy_bench" write "$tmp/s.mp"
base=$(cpu "$bin/rec-show" "$tmp/s.mp")
fit=$(cpu "$bin/proxy-fit" -q -o "$tmp/out.mp" "$tmp/s.mp")
echo "baseline: rec-show (decode + JSON)  $base s CPU"
echo "proxy-fit (fit + pred on 50 runs)   $fit s CPU  ratio $(awk -v a="$base" -v b="$fit" 'BEGIN { printf "%.1f", b / a }')"
"$bin/rec-show" -k fit "$tmp/out.mp" | sed 's/"resid":\[[^]]*\]/"resid":[...]/; s/"candidates":\[.*\],"baselines"/"candidates":[...],"baselines"/'
"$bbin/proxy_bench" predict
