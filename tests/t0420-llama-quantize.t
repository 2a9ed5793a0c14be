#!/bin/bash
test_description='qerr-measure against files llama-quantize makes here: every quantizer with and without an imatrix, tensors of several work chunks, every decoder, and the figures recomputed from the dequantized values'
. "$(dirname "$0")/lib.sh"

F=$FIXTURES
K=$F/kjv-llama
LQ=$LLAMA_BIN/llama-quantize

# Every type qerr-measure has a quantizer for, as TYPE:FTYPE (the name
# llama-quantize takes for a file of that type).  kjv-llama's rows are
# multiples of 256, so with --pure every 2-D tensor gets the type itself.
QUANTIZERS="F16:F16 BF16:BF16 Q4_0:Q4_0 Q4_1:Q4_1 Q5_0:Q5_0 Q5_1:Q5_1 Q8_0:Q8_0
	Q2_K:Q2_K Q3_K:Q3_K Q4_K:Q4_K Q5_K:Q5_K Q6_K:Q6_K IQ4_NL:IQ4_NL
	IQ4_XS:IQ4_XS TQ1_0:TQ1_0 TQ2_0:TQ2_0 MXFP4:MXFP4_MOE Q1_0:Q1_0 Q2_0:Q2_0"
# The ones an importance matrix changes (the others ignore it).
IMATRIX_QUANTIZERS="Q4_0:Q4_0 Q4_1:Q4_1 Q5_0:Q5_0 Q5_1:Q5_1 Q2_K:Q2_K Q3_K:Q3_K
	Q4_K:Q4_K Q5_K:Q5_K Q6_K:Q6_K IQ4_NL:IQ4_NL IQ4_XS:IQ4_XS"
# Types only llama-quantize writes (they need an imatrix), one per kind of
# tensor of one file (each type's grid setup costs seconds), TENSOR:TYPE.
IQ_ONLY="attn_q:IQ2_XXS attn_k:IQ2_XS attn_v:IQ2_S attn_output:IQ3_XXS
	ffn_gate:IQ3_S ffn_up:IQ1_S ffn_down:IQ1_M"

types_of() { # "T:FT ..." -> T,T,...
	for p in $1; do printf '%s\n' "${p%%:*}"; done | paste -sd, -
}

# run_llama SRC OUT ARGS...: llama-quantize ARGS (SRC and OUT among them).
# With QP_LLAMA_CACHE set (tests/mutate.sh sets it), OUT is kept there
# under the crc of ARGS and SRC's bytes: llama.cpp's output does not
# depend on quantpipe, so mutation runs need not remake it.
run_llama() {
	local src=$1 out=$2 key
	shift 2
	if test -n "${QP_LLAMA_CACHE:-}"; then
		key=$( (printf "%s " "$@"; cksum <"$src") | cksum | tr " " _)
		if test -f "$QP_LLAMA_CACHE/$key"; then
			cp "$QP_LLAMA_CACHE/$key" "$out" && return 0
		fi
	fi
	"$LQ" "$@" >"$out.log" 2>&1 || { tail -n 5 "$out.log"; return 1; }
	if test -n "${QP_LLAMA_CACHE:-}"; then
		mkdir -p "$QP_LLAMA_CACHE" && cp "$out" "$QP_LLAMA_CACHE/$key.tmp$$" &&
			mv "$QP_LLAMA_CACHE/$key.tmp$$" "$QP_LLAMA_CACHE/$key"
	fi
}

# llama_quantize SRC OUT FTYPE [IMATRIX [EXTRA...]]: llama-quantize --pure.
llama_quantize() {
	local src=$1 out=$2 ft=$3 im=${4:-}
	shift 3; shift $(($# > 0))
	run_llama "$src" "$out" --pure ${im:+--imatrix "$im"} "$@" "$src" "$out" "$ft" 2
}

# same_bytes QUANT.gguf QERR.mp TYPE: every tensor of QUANT has the type
# qerr-measure reported as written for TYPE and the crc32 it reported;
# prints how many tensors were quantized (type changed) and compared.
same_bytes() {
	gguf-dump --crc "$1" | rec-show --tsv -H -f name,type,crc32 | sort >want.tsv &&
	rec-show --tsv -H -f name,qerr.$3.as,qerr.$3.crc32,type "$2" | sort >got.tsv &&
	join -t "$(printf '\t')" want.tsv got.tsv | awk -F'\t' -v what="$1 as $3" '
		{ n++ }
		$2 != $4 { print what ": " $1 " written as " $2 ", qerr-measure says " $4; bad++; next }
		$3 != $5 { print what ": " $1 " crc " $3 ", qerr-measure " $5; bad++; next }
		$2 != $6 { quantized++ }
		END { if (bad || n != lines) exit 1; print what ": " n " tensors, " quantized + 0 " quantized" }
	' lines=$(wc -l <want.tsv)
}

test_expect_success FIXTURES,LLAMA 'setup: kjv-llama records and llama-quantize files of every quantizer' '
	gguf-dump "$K/model-f32.gguf" >kjv.mp &&
	for p in $QUANTIZERS; do
		llama_quantize "$K/model-f32.gguf" plain-${p%%:*}.gguf ${p#*:} || return 1
	done &&
	for p in $IMATRIX_QUANTIZERS; do
		llama_quantize "$K/model-f32.gguf" imat-${p%%:*}.gguf ${p#*:} "$K/imatrix.gguf" || return 1
	done &&
	llama_quantize "$K/model-f32.gguf" imat-IQ.gguf Q8_0 "$K/imatrix.gguf" \
		$(for p in $IQ_ONLY; do printf " --tensor-type %s=%s" ${p%%:*} ${p#*:}; done) &&
	gguf-dump imat-IQ.gguf | rec-show --tsv -H -f role,type >iq.tsv &&
	for p in $IQ_ONLY; do
		test $(grep -c "^${p%%:*}	${p#*:}\$" iq.tsv) = 4 || return 1
	done
'

test_expect_success FIXTURES,LLAMA 'every quantizer without an imatrix: the bytes of llama-quantize --pure' '
	qerr-measure -@ 2 --crc -t $(types_of "$QUANTIZERS") kjv.mp >plain.mp &&
	for p in $QUANTIZERS; do
		same_bytes plain-${p%%:*}.gguf plain.mp ${p%%:*} >>report || { cat report; return 1; }
	done &&
	cat report && ! grep " 0 quantized" report
'

# token_embd has no imatrix entry: both quantize it without one.
test_expect_success FIXTURES,LLAMA 'every quantizer with kjv-llama'\''s imatrix (K-quants included): the bytes of llama-quantize --imatrix' '
	qerr-measure -@ 2 --crc -t $(types_of "$IMATRIX_QUANTIZERS") -m "$K/imatrix.gguf" kjv.mp >imat.mp &&
	for p in $IMATRIX_QUANTIZERS; do
		same_bytes imat-${p%%:*}.gguf imat.mp ${p%%:*} >>ireport || { cat ireport; return 1; }
	done &&
	cat ireport && ! grep " 0 quantized" ireport
'

test_expect_success FIXTURES,LLAMA 'the imatrix changes the bytes of every such quantizer (the test above is not vacuous)' '
	for t in $(types_of "$IMATRIX_QUANTIZERS" | tr , " "); do
		rec-show --tsv -H -f name,qerr.$t.crc32 plain.mp | sort >p.tsv &&
		rec-show --tsv -H -f name,qerr.$t.crc32 imat.mp | sort >i.tsv &&
		n=$(join p.tsv i.tsv | awk "\$2 != \$3" | wc -l) &&
		echo "$t: $n tensors differ" &&
		test $n -ge 25 || return 1
	done
'

test_expect_success FIXTURES,LLAMA 'the legacy .dat imatrix gives the same bytes as the GGUF one' '
	qerr-measure -@ 2 --crc -t Q4_K,Q2_K,IQ4_XS -m "$K/imatrix.dat" kjv.mp |
		rec-show --tsv -H -f name,qerr.Q4_K.crc32,qerr.Q2_K.crc32,qerr.IQ4_XS.crc32 | sort >dat.tsv &&
	rec-show --tsv -H -f name,qerr.Q4_K.crc32,qerr.Q2_K.crc32,qerr.IQ4_XS.crc32 imat.mp | sort >gguf.tsv &&
	test_cmp gguf.tsv dat.tsv
'

# gguf-synth's wide preset holds tensors of 2M and 512K values: qerr-
# measure splits them into work chunks of 2^18 values, whose crc and sums
# must be merged in row order.
test_expect_success LLAMA 'tensors of several work chunks: the bytes of llama-quantize, any thread count' '
	gguf-synth -p wide -o wide.gguf && gguf-dump wide.gguf >wide.mp &&
	test $(rec-show --tsv -H -f n_elem wide.mp | awk "\$1 > 262144" | wc -l) -ge 5 &&
	qerr-measure -@ 2 --crc -t Q4_K,Q6_K,Q2_K,Q4_0,IQ4_XS,Q8_0 wide.mp >wide-q.mp &&
	qerr-measure -@ 1 --crc -t Q4_K,Q6_K,Q2_K,Q4_0,IQ4_XS,Q8_0 wide.mp >wide-q1.mp &&
	rec-show -k tensor wide-q.mp >w2.json && rec-show -k tensor wide-q1.mp >w1.json &&
	test_cmp w1.json w2.json &&
	for t in Q4_K Q6_K Q2_K Q4_0 IQ4_XS Q8_0; do
		llama_quantize wide.gguf wide-$t.gguf $t &&
		same_bytes wide-$t.gguf wide-q.mp $t || return 1
	done
'

# llama-quantize --allow-requantize Q.gguf OUT.gguf F32 makes ggml
# dequantize Q; measuring Q as F32 gives the crc of our dequantized values.
# One file of every quantized type (a decoder does not see the imatrix).
test_expect_success FIXTURES,LLAMA 'every decoder (IQ2_XXS to IQ1_M included) gives ggml'\''s dequantized values' '
	for q in plain-Q8_0.gguf plain-TQ1_0.gguf plain-TQ2_0.gguf plain-MXFP4.gguf \
		 plain-Q1_0.gguf plain-Q2_0.gguf imat-*.gguf; do
		run_llama $q deq-$q --allow-requantize $q deq-$q F32 2 || return 1
		gguf-dump $q | qerr-measure -@ 2 --crc -t F32 >deq.mp &&
		same_bytes deq-$q deq.mp F32 >>dreport || { cat dreport; return 1; }
	done &&
	grep -q "^deq-imat-IQ.gguf as F32: 39 tensors" dreport
'

# The figures of qerr-measure recomputed in double precision from the
# source and ggml's dequantization (deq-*.gguf above); imatrix weights
# from the legacy .dat (wmse does not depend on their scale).
cat >figures.py <<'EOF'
import math, struct, sys
def floats(path, off, n):
    with open(path, 'rb') as f:
        f.seek(off)
        return struct.unpack('<%df' % n, f.read(4 * n))
def imatrix_dat(path):
    out = {}
    with open(path, 'rb') as f:
        n, = struct.unpack('<i', f.read(4))
        for _ in range(n):
            ln, = struct.unpack('<i', f.read(4))
            name = f.read(ln).decode()
            ncall, nval = struct.unpack('<ii', f.read(8))
            out[name] = struct.unpack('<%df' % nval, f.read(4 * nval))
    return out
imp = imatrix_dat(sys.argv[1])
for line in sys.stdin:
    name, n, shape, spath, soff, dpath, doff = line.rstrip('\n').split('\t')
    shape = [int(x) for x in shape.strip('[]').split(',')]
    if len(shape) < 2:
        continue  # vectors are kept as they are: no error to compare
    n, rowlen = int(n), shape[0]
    w, q = floats(spath, int(soff), n), floats(dpath, int(doff), n)
    d = [a - b for a, b in zip(w, q)]
    E = math.fsum(x * x for x in d)
    W = math.fsum(x * x for x in w)
    Q = math.fsum(x * x for x in q)
    WQ = math.fsum(a * b for a, b in zip(w, q))
    out = [E / n, math.sqrt(E / n), math.sqrt(E / W), -10 * math.log10(E / W),
           WQ / math.sqrt(W * Q), max(abs(x) for x in d)]
    if name in imp:
        im, rows = imp[name], n // rowlen
        isum = math.fsum(im)
        out.append(math.fsum(math.fsum(im[i] * d[r * rowlen + i] ** 2 for i in range(rowlen)) / isum
                             for r in range(rows)) / rows)
    else:
        out.append('')
    print('\t'.join([name] + [x if x == '' else '%.17g' % x for x in out]))
EOF

# figures_check TYPE: mse, rmse, rel, sqnr_db, cos, maxabs and wmse of
# qerr-measure -t TYPE -m imatrix.dat agree with figures.py to 1e-9 (wmse
# to 1e-7: qerr-measure weighs with the float quotient sum / ncall).
figures_check() {
	gguf-dump deq-imat-$1.gguf | rec-show --tsv -H -f name,path,offset | sort >deq.tsv &&
	qerr-measure -@ 2 -t $1 -m "$K/imatrix.dat" kjv.mp >fig.mp &&
	rec-show --tsv -H -f name,n_elem,shape,path,offset fig.mp | sort | join -t "$(printf '\t')" - deq.tsv |
		python3 figures.py "$K/imatrix.dat" | sort >want.tsv &&
	rec-show --tsv -H -f name,qerr.$1.mse,qerr.$1.rmse,qerr.$1.rel,qerr.$1.sqnr_db,qerr.$1.cos,qerr.$1.maxabs,qerr.$1.wmse fig.mp |
		sort | join -t "$(printf '\t')" want.tsv - | awk -F'\t' -v t=$1 '
		function off(a, b, tol) { d = a - b; if (d < 0) d = -d; s = a < 0 ? -a : a; return d > tol * s + 1e-300 }
		{ n++; for (i = 2; i <= 8; i++) if ($i == "" ? $(i + 7) != "" : off($i, $(i + 7), i == 8 ? 1e-7 : 1e-9)) { print t, $1, "field", i - 1, $i, $(i + 7); bad++ }
		  if ($2 > 0) q++ }
		END { print t ": " n " tensors compared"; exit (bad || n != 30 || q != 30) }'
}

test_expect_success FIXTURES,LLAMA,PYTHON 'mse, rmse, rel, sqnr_db, cos, maxabs and wmse equal an independent computation (Q4_K, Q2_K)' '
	figures_check Q4_K && figures_check Q2_K
'

test_done
