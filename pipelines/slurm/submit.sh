#!/bin/sh
# submit.sh — measure one model as N array tasks, then merge (and fit and
# emit recipes) in a job that starts only when every task succeeded.
# Usage: submit.sh MODEL.gguf OUTDIR N TYPES [BUDGETS]
# Prints the two job ids.  Extra sbatch options: QP_SBATCH_OPTS.
set -eu
[ $# -ge 4 ] || { echo "usage: submit.sh MODEL.gguf OUTDIR N TYPES [BUDGETS]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
model=$1 out=$2 n=$3 types=$4 budgets=${5:-}
case "$n" in ''|*[!0-9]*) echo "submit.sh: N must be a whole number, not '$n'" >&2; exit 2 ;; esac
[ "$n" -ge 1 ] || { echo "submit.sh: N must be at least 1" >&2; exit 2; }
mkdir -p "$out/log"
array=$(QP_MODEL=$model QP_OUT=$out QP_TYPES=$types \
	sbatch --parsable ${QP_SBATCH_OPTS:-} --export=ALL --array=0-$((n - 1)) \
	-o "$out/log/qerr-%a.log" "$here/qerr-shard.sbatch")
array=${array%%;*}
merge=$(QP_OUT=$out QP_SHARDS=$n QP_BUDGETS=$budgets \
	sbatch --parsable ${QP_SBATCH_OPTS:-} --export=ALL --dependency=afterok:$array \
	-o "$out/log/merge.log" "$here/merge.sbatch")
echo "$array ${merge%%;*}"
