#!/bin/sh
# Side by side: quantpipe's quantizers and ggml's own (ggml-quants.c's
# quantize_* as ggml_quantize_chunk calls them), single thread, on the
# same heavy-tailed rows in the same run, with and without an importance
# matrix; MB/s of F32 input (best of QP_BENCH_REPS), the ratio, and whether
# the bytes are equal.  Times are the thread's CPU time (a loaded machine
# stretches wall time, not that).  ggml's side needs an llama.cpp source tree:
#   LLAMA_CPP_SRC=/path/to/llama.cpp make bench
# (its ggml/src/ggml-quants.c is compiled into a temporary folder, -O3 C11
# as llama.cpp's Release build does; nothing of it is kept).  Without
# LLAMA_CPP_SRC only quantpipe's figures are printed.  QP_BENCH_BASE=dir
# (the bench folder, build/bbin, of an earlier build) adds that build's
# figures, measured in the same run on the same rows, as "before" columns
# with their ratio to ggml, and whether its bytes were equal too.
# Usage: ggml-side.sh BIN_DIR BENCH_DIR
set -eu
bench=$2
rows=${QP_BENCH_ROWS:-64}
reps=${QP_BENCH_REPS:-3}
types=${QP_BENCH_TYPES:-"IQ4_NL IQ4_XS Q2_K Q3_K Q4_K Q5_K Q6_K Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 MXFP4 NVFP4 IQ3_S IQ3_XXS IQ2_S IQ2_XS IQ2_XXS IQ1_M IQ1_S"}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qp-side.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$bench/side_bench" gen "$tmp/data" "$rows"
echo "== ggml side by side: $rows x 4096 F32, single thread, best of $reps"
base=${QP_BENCH_BASE:-}
src=${LLAMA_CPP_SRC:-}
if [ -n "$src" ]; then
	g=$src/ggml
	[ -f "$g/src/ggml-quants.c" ] || { echo "ggml-side.sh: no $g/src/ggml-quants.c" >&2; exit 1; }
	mkdir -p "$tmp/shim/ggml-cpu"
	# a partial tree may lack the CPU backend header ggml-quants.c includes
	# (its reference quantizers use nothing from it)
	[ -f "$g/src/ggml-cpu/ggml-cpu-impl.h" ] || : >"$tmp/shim/ggml-cpu/ggml-cpu-impl.h"
	${CC:-cc} -O3 -DNDEBUG -std=c11 -D_GNU_SOURCE -I"$g/include" -I"$g/src" -I"$tmp/shim" \
		"$(dirname "$0")/ggml-side/ggml_harness.c" "$g/src/ggml-quants.c" -lm -o "$tmp/harness"
fi
# one type at a time, every contender back to back, so a change in the
# machine's load between types does not tilt a ratio
: >"$tmp/ours"
: >"$tmp/base"
: >"$tmp/ggml"
for t in $types; do
	"$bench/side_bench" run "$tmp/data" "$reps" "$t" >>"$tmp/ours"
	[ -z "$base" ] || "$base/side_bench" run "$tmp/data" "$reps" "$t" >>"$tmp/base"
	[ -z "$src" ] || "$tmp/harness" "$tmp/data" "$reps" "$t" >>"$tmp/ggml"
done
if [ -z "$src" ]; then
	echo "# no LLAMA_CPP_SRC: quantpipe alone"
	printf '%-8s %10s %10s\n' type plain imatrix
	awk '{ printf "%-8s %10s %10s\n", $1, $2, $3 }' "$tmp/ours"
	exit 0
fi
if [ -n "$base" ]; then
	printf '%-8s %9s %9s %7s %9s %7s %9s %9s %7s %9s %7s  %s\n' type ggml before ratio \
		qp ratio ggml_im before ratio qp_im ratio bytes
else
	printf '%-8s %9s %9s %7s %9s %9s %7s  %s\n' type ggml qp ratio ggml_im qp_im ratio bytes
fi
awk -v with_base="$base" '
	function ratio(a, b) { return (a == "-" || b == "-" || a == 0) ? "-" : sprintf("%.2f", b / a) }
	FILENAME == ARGV[1] { gp[$1] = $2; gi[$1] = $3; hp[$1] = $4; hi[$1] = $5; next }
	FILENAME == ARGV[2] { bp[$1] = $2; bi[$1] = $3; bhp[$1] = $4; bhi[$1] = $5; next }
	{
		same = ($4 == hp[$1] && $5 == hi[$1]) ? "equal" : "DIFFER"
		if (with_base == "") {
			printf "%-8s %9s %9s %7s %9s %9s %7s  %s\n", $1, gp[$1], $2, ratio(gp[$1], $2),
				gi[$1], $3, ratio(gi[$1], $3), same
			next
		}
		bsame = (bhp[$1] == hp[$1] && bhi[$1] == hi[$1]) ? "equal" : "DIFFER"
		printf "%-8s %9s %9s %7s %9s %7s %9s %9s %7s %9s %7s  %s (before: %s)\n", $1,
			gp[$1], bp[$1], ratio(gp[$1], bp[$1]), $2, ratio(gp[$1], $2),
			gi[$1], bi[$1], ratio(gi[$1], bi[$1]), $3, ratio(gi[$1], $3), same, bsame
	}' "$tmp/ggml" "$tmp/base" "$tmp/ours"
