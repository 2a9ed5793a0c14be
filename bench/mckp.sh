#!/bin/sh
# The knapsack behind recipe-emit on synthetic 1,000- and 20,000-tensor
# instances, next to a plain greedy timed in the same run (mckp_bench.c).
set -eu
bbin=$2
echo "== mckp (recipe-emit's knapsack)"
"$bbin/mckp_bench"
