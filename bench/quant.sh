#!/bin/sh
# Quantizer throughput: every type (plain, imatrix, 2 threads) against
# memcpy in the same run, and the K-quant lane-parallel search against its
# scalar reference in the same run.  ggml's own single-thread figures on
# this kind of machine are printed for comparison when the fixtures are
# present (fixtures/figures/quantize-perf.txt, measured by llama.cpp).
set -eu
bench=$2
echo "== quantizers"
"$bench/quant_bench" "${QP_BENCH_ROWS:-256}"
echo
echo "== K-quant search: lane-parallel vs scalar reference"
"$bench/quant_k_bench" "${QP_BENCH_ROWS:-256}"
perf=$(dirname "$0")/../../shared/fixtures/figures/quantize-perf.txt
if [ -f "$perf" ]; then
	echo
	echo "== ggml reference (quantize_row_q_reference, 655360 values), MB/s of F32 input"
	awk -F'\t' '$2 == "quantize_row_q_reference" && $3 == 655360 { printf "%-7s %8.1f\n", toupper($1), $6 * 1073.741824 }' "$perf"
fi
