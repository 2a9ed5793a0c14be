#!/bin/bash
test_description='sens-score: weight and activation statistics, scores, profile'
. "$(dirname "$0")/lib.sh"

F=$FIXTURES
IM=$F/stories260K.imatrix.gguf

# Independent double-precision statistics of the tensors listed on stdin
# (name, type, path, offset, n_elem as TSV), read straight from the file.
cat >wstats.py <<'EOF'
import math, struct, sys
def values(typ, path, off, n):
    with open(path, 'rb') as f:
        f.seek(off)
        if typ == 'F32':
            return struct.unpack('<%df' % n, f.read(4 * n))
        if typ == 'F16':
            return struct.unpack('<%de' % n, f.read(2 * n))
        if typ == 'Q8_0':
            out = []
            for _ in range(n // 32):
                b = f.read(34)
                d = struct.unpack('<e', b[:2])[0]
                out.extend(d * q for q in struct.unpack('<32b', b[2:]))
            return out
    raise SystemExit('type ' + typ)
for line in sys.stdin:
    name, typ, path, off, n = line.rstrip('\n').split('\t')
    w = values(typ, path, int(off), int(n))
    n = len(w)
    mean = math.fsum(w) / n
    m2 = math.fsum((x - mean) ** 2 for x in w) / n
    m3 = math.fsum((x - mean) ** 3 for x in w) / n
    m4 = math.fsum((x - mean) ** 4 for x in w) / n
    sd = math.sqrt(m2)
    rms = math.sqrt(math.fsum(x * x for x in w) / n)
    amax = max(abs(x) for x in w)
    out3 = sum(1 for x in w if abs(x - mean) > 3 * sd) / n
    out6 = sum(1 for x in w if abs(x - mean) > 6 * sd) / n
    zeros = sum(1 for x in w if x == 0) / n
    print('\t'.join([name] + ['%.17g' % v for v in (
        mean, sd, min(w), max(w), m4 / m2 ** 2 - 3, m3 / sd ** 3,
        amax / rms, out3, out6, zeros)]))
EOF

# compare_stats FILE.mp: the stats key of every tensor agrees with the
# independent computation (relative 1e-9; counts of tails exactly).
compare_stats() {
	rec-show --tsv -H -f name,type,path,offset,n_elem "$1" | python3 wstats.py >want.tsv &&
	rec-show --tsv -H -f name,stats.mean,stats.std,stats.min,stats.max,stats.kurtosis,stats.skew,stats.crest,stats.out3,stats.out6,stats.zeros "$1" >got.tsv &&
	paste want.tsv got.tsv | awk -F'\t' '
		function bad(a, b) { d = a - b; if (d < 0) d = -d; s = (a < 0 ? -a : a) + 1e-300; return d > 1e-9 * s + 1e-15 }
		{ n++; if ($1 != $12) { print "order", $1, $12; exit 1 }
		  for (i = 2; i <= 11; i++) if (bad($i, $(i + 11))) { print $1, "field", i - 1, $i, $(i + 11); b++ } }
		END { print n, "tensors compared"; exit (n != 48 || b) }'
}

test_expect_success 'setup: a gguf-synth model where no fixture is needed' '
	gguf-synth -o synth.gguf && gguf-dump synth.gguf >synth.mp
'

test_expect_success 'synthetic model: byte-identical for -@ 1 and -@ 2 (but for the argv in meta)' '
	sens-score -q -@ 1 synth.mp >y1.mp && sens-score -q -@ 2 synth.mp >y2.mp &&
	test "$(cmp -l y1.mp y2.mp | wc -l)" -eq 1 &&
	rec-show y1.mp | sed 1d >j1 && rec-show y2.mp | sed 1d >j2 && test_cmp j1 j2
'

test_expect_success 'synthetic model: meta first, model untouched, profile after the last tensor' '
	rec-show -k meta y1.mp | sed -n 1p | grep -q "\"tool\":\"sens-score\"" &&
	rec-show -k model synth.mp >m1 && rec-show -k model y1.mp >m2 && test_cmp m1 m2 &&
	rec-show y1.mp | grep -o "^{\"kind\":\"[a-z]*\"" | cut -d\" -f4 | uniq -c | awk "{ printf \"%s %s;\", \$1, \$2 }" >kinds &&
	test "$(cat kinds)" = "2 meta;1 model;39 tensor;1 profile;"
'

test_expect_success 'synthetic model: running twice replaces its own keys; --no-svd and --svd-rank' '
	sens-score -q y1.mp | sens-score -q --no-svd >twice.mp &&
	rec-show -k tensor twice.mp | sed -n 4p >rec &&
	! grep -q "\"se_raw\"" rec && grep -q "\"stats\"" rec &&
	sens-score -q --svd-rank 8 synth.mp | rec-show --tsv -H -f name,sens.sv_n | grep -q "^blk.0.attn_q.weight	8\$"
'

test_expect_success 'synthetic model: profile gqa_ratio is n_head / n_head_kv, nil when n_head_kv is 0' '
	rec-show -k profile --tsv -H -f arch.gqa_ratio,arch.n_head,arch.n_head_kv y1.mp >got &&
	printf "2.0\t8\t4\n" >want && test_cmp want got &&
	rec-show synth.mp | sed "s/\"n_head_kv\":4/\"n_head_kv\":0/" | rec-show --from-json >kv0.mp &&
	sens-score -q --no-svd kv0.mp | rec-show -k profile --tsv -H -f arch.gqa_ratio,arch.n_head_kv >got &&
	printf "\t0\n" >want && test_cmp want got
'

test_expect_success FIXTURES,PYTHON 'weight statistics agree with an independent double computation (F32)' '
	gguf-dump "$F/stories260K-f32.gguf" >f32.mp &&
	sens-score -q f32.mp >s32.mp &&
	compare_stats s32.mp
'

test_expect_success FIXTURES,PYTHON 'quantized source: statistics describe the dequantized weights (Q8_0, F16)' '
	gguf-dump "$F/stories260K-Q8_0-pure-ffndownF16.gguf" | sens-score -q >s8.mp &&
	compare_stats s8.mp &&
	rec-show --tsv -H -f type s8.mp | sort -u | tr "\n" " " | grep -q "F16 F32 Q8_0"
'

# The rows of --show-statistics, printed with its formats.
imatrix_table() {
	rec-show --tsv -H -f layer,role,imat.sum_sq,imat.min,imat.max,imat.mean,imat.std,imat.active,imat.n,imat.entropy,imat.entropy_norm,imat.zd,imat.cossim "$1" |
	awk -F'\t' '$3 != "" { printf "%d %s %.2f %.4f %.4f %.2f %.2f %.2f%% %d %.4f %.2f%% %.2f%% %.4f\n",
		$1, $2, $3, $4, $5, $6, $7, 100 * $8, $9, $10, 100 * $11, 100 * $12, $13 == "" ? 0 : $13 }' | sort
}

test_expect_success FIXTURES 'imat reproduces the llama-imatrix --show-statistics table' '
	sens-score -q --imatrix "$IM" f32.mp >si.mp &&
	imatrix_table si.mp >ours &&
	awk -F"\t" "NF == 13 && \$1 ~ /^ *[0-9]+\$/ { for (i = 1; i <= NF; i++) gsub(/^ +| +\$/, \"\", \$i);
		print \$1, \$2, \$3, \$4, \$5, \$6, \$7, \$8, \$9, \$10, \$11, \$12, \$13 }" \
		"$F/figures/stories260K-imatrix-statistics.txt" | sort >theirs &&
	test $(wc -l <theirs) -eq 35 &&
	test_cmp theirs ours &&
	rec-show --tsv -H -f name,imat.tokens si.mp | awk -F"\t" "\$2 != \"\" && \$2 != 48128 { exit 1 }"
'

test_expect_success FIXTURES 'the legacy .dat imatrix gives the same scores' '
	sens-score -q --imatrix "$F/stories260K.imatrix.dat" f32.mp >sd.mp &&
	rec-show --tsv -H -f name,sens.act,sens.score si.mp >a &&
	rec-show --tsv -H -f name,sens.act,sens.score sd.mp >b &&
	awk -F"\t" "NR == FNR { s[\$1] = \$3; next } { d = s[\$1] - \$3; if (d * d > 1e-16) { print; bad++ } } END { exit bad }" a b
'

test_expect_success FIXTURES 'a tensor missing from the imatrix is reported, not silently scored' '
	sens-score --imatrix "$IM" f32.mp >/dev/null 2>err &&
	grep -q "warning: 1 tensor is not in the imatrix.*output.weight" err &&
	rec-show --tsv -H -f name,sens.note,sens.act,imat.sum_sq si.mp | grep "^output.weight" >line &&
	grep -q "no imatrix entry" line &&
	test "$(cut -f3,4 line)" = "$(printf "\t")"
'

test_expect_success FIXTURES 'scores: every part is there, in range, and combined as documented' '
	rec-show --tsv -H -f name,sens.nv,sens.se,sens.nsds,sens.act,sens.w_role,sens.w_depth,sens.w_size,sens.score,sens.sv_n si.mp |
	awk -F"\t" "\$2 == \"\" { next }
		{ n++; nsds = 1 - (1 - \$2) * (1 - \$3); if ((nsds - \$4) ^ 2 > 1e-20) { print \"nsds\", \$1; bad++ }
		  base = \$5 == \"\" ? \$4 : 1 - (1 - \$4) * (1 - \$5)
		  if ((\$6 * \$7 * \$8 * base - \$9) ^ 2 > 1e-20) { print \"score\", \$1; bad++ }
		  if (\$2 <= 0 || \$2 >= 1 || \$3 <= 0 || \$3 >= 1 || \$10 != ((\$1 ~ /attn_[kv]/) ? 32 : 64)) { print \"range\", \$0; bad++ } }
		END { exit (n != 37 || bad) }"
'

test_expect_success FIXTURES 'the same model as F32, as a split GGUF (exactly) and as F16 (closely)' '
	gguf-dump "$F/stories260K-f32-split-00001-of-00003.gguf" | sens-score -q --imatrix "$IM" >ssplit.mp &&
	fields=name,stats.mean,stats.std,stats.kurtosis,stats.col_cv,sens.nv,sens.se,sens.act,sens.score,sens.sv.0 &&
	rec-show --tsv -H -f $fields si.mp | sort >a && rec-show --tsv -H -f $fields ssplit.mp | sort >b && test_cmp a b &&
	rec-show -k profile si.mp | sed "s/\"model\":\"[^\"]*\"//" >p1 &&
	rec-show -k profile ssplit.mp | sed "s/\"model\":\"[^\"]*\"//" >p2 && test_cmp p1 p2 &&
	gguf-dump "$F/stories260K-F16-pure.gguf" | sens-score -q --imatrix "$IM" >s16.mp &&
	rec-show --tsv -H -f $fields s16.mp | sort >c &&
	paste a c | awk -F"\t" "{ for (i = 2; i <= 10; i++) { d = \$i - \$(i + 10); if (d < 0) d = -d; a = \$i < 0 ? -\$i : \$i
		if (d > 2e-3 * a + 1e-6) { print \$1, i, \$i, \$(i + 10); bad++ } } } END { exit bad }"
'

test_expect_success FIXTURES 'output is byte-identical for -@ 1 and -@ 2 (but for the argv in meta)' '
	sens-score -q -@ 1 --imatrix "$IM" f32.mp >t1.mp &&
	sens-score -q -@ 2 --imatrix "$IM" f32.mp >t2.mp &&
	test "$(cmp -l t1.mp t2.mp | wc -l)" -eq 1 &&
	rec-show t1.mp | sed 1d >j1 && rec-show t2.mp | sed 1d >j2 && test_cmp j1 j2 &&
	sed -n 1p j1 | grep -q "\"tool\":\"gguf-dump\"" &&
	gguf-dump "$F/kjv-llama/model-f16.gguf" >kjv.mp &&
	sens-score -q -@ 1 kjv.mp >k1.mp && sens-score -q -@ 2 kjv.mp >k2.mp &&
	test "$(cmp -l k1.mp k2.mp | wc -l)" -eq 1 &&
	rec-show k1.mp | sed 1d >j1 && rec-show k2.mp | sed 1d >j2 && test_cmp j1 j2
'

test_expect_success FIXTURES 'records: meta first, model record untouched, profile after the last tensor' '
	rec-show -k meta si.mp | sed -n 1p | grep -q "\"tool\":\"sens-score\"" &&
	rec-show -k model f32.mp >m1 && rec-show -k model si.mp >m2 && test_cmp m1 m2 &&
	rec-show si.mp | grep -o "^{\"kind\":\"[a-z]*\"" | cut -d\" -f4 | uniq -c | awk "{ printf \"%s %s;\", \$1, \$2 }" >kinds &&
	test "$(cat kinds)" = "2 meta;1 model;48 tensor;1 profile;"
'

test_expect_success FIXTURES 'profile: bytes by family and type, bpw, architecture, decode speed' '
	sens-score -q --no-svd -b 100 s8.mp >p.mp &&
	rec-show -k profile --tsv -H -f n_params,n_bytes,by_type.Q8_0.n_tensors,by_type.F16.n_tensors,arch.gqa_ratio,arch.head_dim,params_active,bytes_per_token,mem_bw_gbs p.mp >got &&
	printf "292800\t364768\t32\t5\t2.0\t8\t292800\t%s\t100.0\n" $((364768 - 34816 + 34816 / 512)) >want &&
	test_cmp want got &&
	rec-show -k profile --tsv -H -f tok_per_s p.mp | awk "{ exit !(\$1 > 303000 && \$1 < 303020) }"
'

test_expect_success FIXTURES 'two models in one stream are normalised separately' '
	gguf-dump "$F/kjv-llama/model-f16.gguf" "$F/stories260K-f32.gguf" | sens-score -q >two.mp &&
	test $(rec-show -k profile two.mp | wc -l) -eq 2 &&
	rec-show --tsv -H -f name,sens.score s32.mp >a &&
	rec-show --tsv -H -f model,name,sens.score two.mp | grep "^stories260K-f32.gguf" | cut -f2- >b &&
	test_cmp a b
'

test_expect_success FIXTURES 'running twice replaces its own keys; --no-svd and --svd-rank' '
	sens-score -q --imatrix "$IM" f32.mp | sens-score -q --no-svd >twice.mp &&
	rec-show -k tensor twice.mp | sed -n 4p >rec &&
	! grep -q "\"imat\"" rec && ! grep -q "\"se_raw\"" rec && grep -q "\"stats\"" rec &&
	sens-score -q --svd-rank 8 f32.mp | rec-show --tsv -H -f name,sens.sv_n | grep -q "^blk.0.attn_q.weight	8\$"
'

# A legacy .dat imatrix: int32 count; per entry int32 name length, name,
# int32 ncall, int32 nval, nval floats; int32 last chunk; dataset name.
cat >mkdat.py <<'EOF'
import struct, sys
out, name, ncall, val = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
with open(out, 'wb') as f:
    f.write(struct.pack('<i', 1))
    f.write(struct.pack('<i', len(name)) + name.encode())
    f.write(struct.pack('<ii', ncall, 64))
    f.write(struct.pack('<64f', *([1.0] * 63 + [val])))
    f.write(struct.pack('<ii', 1, 1) + b'x')
EOF

test_expect_success FIXTURES,PYTHON 'bad imatrix input: one clear error line' '
	test_must_fail 1 sens-score -q --imatrix "$F/kjv-llama/imatrix.gguf" f32.mp >out 2>err &&
	test_one_error_line err && grep -q "another model" err &&
	rec-show f32.mp | sed "s/\"blk\.4\./\"blk.7./" | rec-show --from-json >renamed.mp &&
	test_must_fail 1 sens-score -q --imatrix "$IM" renamed.mp >out 2>err &&
	test_one_error_line err && grep -q "imatrix entry .blk.4.* names no tensor" err &&
	head -c 9000 "$IM" >trunc.gguf &&
	test_must_fail 1 sens-score -q --imatrix trunc.gguf f32.mp >out 2>err &&
	test_one_error_line err && grep -q "trunc.gguf" err &&
	python3 mkdat.py zero.dat blk.0.attn_q.weight 0 1 &&
	test_must_fail 1 sens-score -q --imatrix zero.dat f32.mp >out 2>err &&
	test_one_error_line err && grep -q "^sens-score: zero.dat: blk.0.attn_q.weight: ncall is 0" err &&
	python3 mkdat.py neg.dat blk.0.attn_q.weight 10 -1 &&
	test_must_fail 1 sens-score -q --imatrix neg.dat f32.mp >out 2>err &&
	test_one_error_line err && grep -q "bad sum -1" err &&
	python3 mkdat.py nan.dat blk.0.attn_q.weight 10 nan &&
	test_must_fail 1 sens-score -q --imatrix nan.dat f32.mp >out 2>err &&
	test_one_error_line err && grep -q "bad sum nan" err &&
	gguf-dump "$F/stories260K-rows256-f32.gguf" >r256.mp &&
	test_must_fail 1 sens-score -q --imatrix "$IM" -o never.mp r256.mp 2>err && test_one_error_line err && grep -q "rows of 256" err &&
	test ! -e never.mp
'

test_expect_success 'bad records and usage' '
	printf "{\"kind\":\"tensor\",\"name\":\"x\",\"type\":\"F32\",\"shape\":[4],\"n_elem\":4,\"n_bytes\":16,\"path\":\"x\",\"offset\":0}\n" |
		rec-show --from-json >nomodel.mp &&
	test_must_fail 1 sens-score nomodel.mp >out 2>err && test_one_error_line err && grep -q "\"model\"" err &&
	printf "{\"kind\":\"tensor\",\"model\":\"m\",\"name\":\"x\",\"type\":\"F32\",\"shape\":[4],\"n_elem\":4,\"n_bytes\":16,\"path\":\"missing.gguf\",\"offset\":0}\n" |
		rec-show --from-json >missing.mp &&
	test_must_fail 1 sens-score missing.mp >out 2>err && test_one_error_line err && grep -q "missing.gguf" err &&
	test_must_fail 2 sens-score --svd-rank 0 synth.mp 2>err &&
	test_must_fail 2 sens-score --mem-bw -3 synth.mp 2>err
'

test_done
