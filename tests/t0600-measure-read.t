#!/bin/bash
test_description='measure-read: llama-perplexity logs and the files they measured to measure records'
. "$(dirname "$0")/lib.sh"

LLAMA=${QP_LLAMA_BIN:-$QP_TOP/../shared/llama.cpp/bin}
K=$FIXTURES/kjv-llama
TAB=$(printf '\t')

# A small hand-made KL log in the current layout naming q.gguf.
kl_log() {
	cat <<-'LOG'
	$ llama-perplexity -m q.gguf -f eval.txt -c 256 --kl-divergence-base base.kld --kl-divergence
	0.00.020.025 I kl_divergence: computing over 2 chunks, n_ctx=256, batch_size=2048, n_seq=8
	====== Perplexity statistics ======
	Mean PPL(Q)                   :  24.434222 ±   0.243766
	Mean PPL(base)                :  24.329480 ±   0.242529
	Mean ln(PPL(Q)/PPL(base))     :   0.004296 ±   0.000400
	Mean PPL(Q)/PPL(base)         :   1.004305 ±   0.000402
	====== KL divergence statistics ======
	Mean    KLD:   0.004598 ±   0.000023
	Maximum KLD:   0.200057
	99.0%   KLD:   0.028027
	Median  KLD:   0.003089
	====== Token probability statistics ======
	RMS Δp    :  1.552 ± 0.013 %
	Same top p: 95.085 ± 0.083 %
	LOG
}

test_expect_success 'usage: a log without its GGUF, no logs, a --gguf without a log' '
	gguf-synth -o q.gguf && kl_log >q.log &&
	test_must_fail 2 measure-read q.log 2>err && test_one_error_line err &&
	grep "which GGUF" err &&
	test_must_fail 2 measure-read 2>err && test_one_error_line err &&
	test_must_fail 2 measure-read --gguf q.gguf 2>err && test_one_error_line err
'

test_expect_success 'hand-made KL log: every figure, types from the GGUF, --base-model' '
	measure-read --base-model base.gguf q.log=q.gguf | rec-show -k measure --tsv -H \
		-f model,run,path,ppl,base_ppl,ln_ppl_ratio,ppl_ratio,kld_mean,kld_mean_err,kld_max,kld_p99,kld_median,dp_rms,top1,top1_err,ctx,chunks >got &&
	printf "base.gguf\tkl-divergence\tq.gguf\t24.434222\t24.32948\t0.004296\t1.004305\t0.004598\t2.3e-05\t0.200057\t0.028027\t0.003089\t1.552\t95.085\t0.083\t256\t2\n" >want &&
	test_cmp want got &&
	gguf-dump q.gguf | rec-show --tsv -H -f name,type >want.types &&
	measure-read -b base.gguf --gguf q.gguf q.log | rec-show -k measure |
		grep -o "\"[a-z_0-9.]*\":\"[A-Z0-9_]*\"" | tr -d "\"" | tr : "\t" >got.types &&
	test_cmp want.types got.types
'

test_expect_success 'a KL log whose base run is not given and no --base-model: error' '
	test_must_fail 1 measure-read q.log=q.gguf >out 2>err && test_one_error_line err &&
	grep "q.log: the base logits .base.kld. come from no base run" err && ! test -s out
'

test_expect_success 'a log of another file is an error naming the log and the line' '
	cp q.gguf other.gguf &&
	test_must_fail 1 measure-read -b x other.gguf.log=other.gguf 2>err && test_one_error_line err &&
	kl_log >other.gguf.log && sed -i "s/-m q.gguf/-m r.gguf/" other.gguf.log &&
	test_must_fail 1 measure-read -b x other.gguf.log=other.gguf 2>err && test_one_error_line err &&
	grep "other.gguf.log: line 1: the run measured .r.gguf., not other.gguf" err
'

test_expect_success 'loader lines: tensor count and size/BPW checked, a renamed file passes' '
	nt=$(gguf-dump q.gguf | rec-show -k model --tsv -H -f gguf.n_tensors) &&
	kl_log | sed "2i 0.00.041.477 I llama_model_loader: loaded meta data with 25 key-value pairs and $nt tensors from elsewhere/q.gguf (version GGUF V3 (latest))" >ld.log &&
	measure-read -b x ld.log=q.gguf >/dev/null &&
	cp q.gguf renamed.gguf && measure-read -b x ld.log=renamed.gguf >/dev/null &&
	kl_log | sed "2i llama_model_loader: loaded meta data with 25 key-value pairs and 7 tensors from q.gguf (version GGUF V3 (latest))" >bad.log &&
	test_must_fail 1 measure-read -b x bad.log=q.gguf 2>err && test_one_error_line err &&
	grep "bad.log: line 2: the run loaded a model of 7 tensors, q.gguf has $nt" err &&
	kl_log | sed "2i print_info: file size   = 1.00 MiB (9.99 BPW) " >bad2.log &&
	test_must_fail 1 measure-read -b x bad2.log=q.gguf 2>err && test_one_error_line err &&
	grep "bad2.log: line 2: the run loaded a model of 1.00 MiB (9.99 BPW), q.gguf is" err
'

test_expect_success 'a log naming no model: a warning (none with -q), the record is written' '
	kl_log | sed 1d >anon.log &&
	measure-read -b x anon.log=q.gguf >out 2>err && test_one_error_line err &&
	grep "anon.log: warning: the log names no model" err &&
	test "$(rec-show -k measure --tsv -H -f kld_mean out)" = 0.004598 &&
	measure-read -q -b x anon.log=q.gguf >out 2>err && ! test -s err
'

test_expect_success 'bad logs: one error line naming the log and the line, exit 1, no -o file' '
	kl_log | sed "/Same top p/d" >cut.log &&
	test_must_fail 1 measure-read -b x -o out.mp cut.log=q.gguf 2>err && test_one_error_line err &&
	grep "cut.log: line 14: the final statistics block (from line 3) ends before .Same top p." err &&
	! test -e out.mp &&
	kl_log | sed "/======/,\$d" >noblock.log &&
	test_must_fail 1 measure-read -b x noblock.log=q.gguf 2>err && test_one_error_line err &&
	grep "noblock.log: line 2: no final statistics block" err &&
	head -c 100 /dev/urandom >garbage.log &&
	test_must_fail 1 measure-read -b x garbage.log=q.gguf 2>err && test_one_error_line err &&
	test_must_fail 1 measure-read -b x missing.log=q.gguf 2>err && test_one_error_line err &&
	grep "missing.log: cannot open" err &&
	test_must_fail 1 measure-read -b x q.log=missing.gguf 2>err && test_one_error_line err &&
	grep "missing.gguf" err
'

test_expect_success 'a log on standard input: - as the log (or -- -=GGUF)' '
	measure-read -b base.gguf --gguf q.gguf - <q.log | rec-show -k measure --tsv -H -f log,kld_mean >got &&
	printf -- "-\t0.004598\n" >want && test_cmp want got &&
	measure-read -b base.gguf -- -=q.gguf <q.log | rec-show -k measure --tsv -H -f log,kld_mean >got &&
	test_cmp want got
'

test_expect_success 'hand-written measurements still go through rec-show --from-json' '
	echo "{\"kind\":\"measure\",\"model\":\"m.gguf\",\"source\":\"hand\",\"types\":{\"blk.0.ffn_down.weight\":\"Q3_K\"},\"n_bytes\":100,\"bpw\":4.5,\"kld_mean\":0.0123}" >hand.jsonl &&
	rec-show --from-json hand.jsonl >hand.mp &&
	rec-show -k measure --tsv -H -f kind,model,source,n_bytes,bpw,kld_mean hand.mp >got &&
	printf "measure\tm.gguf\thand\t100\t4.5\t0.0123\n" >want && test_cmp want got &&
	rec-show hand.mp | grep -F "\"types\":{\"blk.0.ffn_down.weight\":\"Q3_K\"}"
'

if ! test_have_fixtures || ! test -x "$LLAMA/llama-quantize"; then
	test_skip 'kjv-llama logs equal ppl.tsv' 'no ../shared/fixtures or llama.cpp tools'
	test_skip 'every truncation of the real logs' 'no ../shared/fixtures or llama.cpp tools'
	test_skip 'a real run with loader lines' 'no ../shared/fixtures or llama.cpp tools'
	test_done
	exit
fi

# Remakes a row's file with llama-quantize and its quantize_args.
remake() {
	args=$(awk -F'\t' -v id="$1" '$1 == id { print $6 }' "$K/ppl.tsv") &&
	test -n "$args" || { echo "no quantize_args for $1"; return 1; }
	"$LLAMA/llama-quantize" $args >quantize-$1.out 2>&1 || { cat quantize-$1.out; return 1; }
}

test_expect_success 'kjv-llama: measure-read of the three logs equals ppl.tsv to the printed digits' '
	ln -s "$K/model-f32.gguf" "$K/imatrix.gguf" . &&
	remake U-Q4_K && remake I-Q2_K &&
	measure-read "$K/logs/F32.ppl.log=model-f32.gguf" "$K/logs/U-Q4_K.ppl.log=U-Q4_K.gguf" \
		"$K/logs/I-Q2_K.ppl.log=I-Q2_K.gguf" >runs.mp &&
	fields=file_bytes,n_bytes,bpw,ppl,ppl_err,ln_ppl_ratio,ln_ppl_ratio_err,kld_mean,kld_mean_err,kld_median,kld_p99,kld_max,dp_rms,top1,top1_err &&
	rec-show -k measure --tsv -H -f path,model,$fields runs.mp >got.tsv &&
	cat got.tsv &&
	awk -F"\t" -v OFS="\t" "
		FNR == NR { row[\$1] = \$0; next }
		{
			id = \$1; sub(/\\.gguf\$/, \"\", id); if (id == \"model-f32\") id = \"F32\"
			split(row[id], w, \"\t\")
			if (\$2 != \"model-f32.gguf\") { print id, \"base\", \$2; bad++ }
			# ppl.tsv columns for file_bytes..top1_err
			n = split(\"7 8 9 10 11 12 13 14 15 16 17 18 19 20 21\", col, \" \")
			for (i = 1; i <= n; i++) {
				t = w[col[i]]; g = \$(i + 2)
				if (id == \"F32\" && i > 5) {   # the base run prints no KL figures
					if (g != \"\") { print id, \"made-up field\", i, g; bad++ }
					continue
				}
				d = index(t, \".\") && t !~ /e/ ? length(t) - index(t, \".\") : -1
				if (d >= 0 ? sprintf(\"%.\" d \"f\", g) != t : g + 0 != t + 0) {
					print id, \"column\", col[i], \"want\", t, \"got\", g; bad++
				}
				checked++
			}
			rows++
		}
		END { print rows, \"rows\", checked, \"figures\"; exit (bad || rows != 3 || checked != 35) }
	" "$K/ppl.tsv" got.tsv
'

test_expect_success 'kjv-llama: the types read from the remade files equal ppl.tsv tensor_types' '
	for id in U-Q4_K I-Q2_K; do
		rec-show -k measure -f types runs.mp | grep "\"path\":\"$id.gguf\"" >/dev/null ;
		measure-read "$K/logs/F32.ppl.log=model-f32.gguf" "$K/logs/$id.ppl.log=$id.gguf" |
			rec-show -k measure -f path,types | grep "\"$id.gguf\"" |
			grep -o "\"[a-z_0-9.]*\":\"[A-Z0-9_]*\"" | tr -d "\"" | awk -F: "
			{ n = split(\$1, p, \".\"); if (p[1] == \"blk\") t[p[3], p[2]] = \$2; else t[p[1]] = \$2 }
			END {
				s = \"token_embd=\" t[\"token_embd\"] \";output=\" t[\"output\"]
				split(\"attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down\", r, \" \")
				for (i = 1; i <= 7; i++) s = s \";\" r[i] \"=\" t[r[i],0] \"/\" t[r[i],1] \"/\" t[r[i],2] \"/\" t[r[i],3]
				print s
			}" >got.types &&
		awk -F"\t" -v id=$id "\$1 == id { print \$23 }" "$K/ppl.tsv" >want.types &&
		test_cmp want.types got.types || return 1
	done
'

test_expect_success 'kjv-llama: truncations of the real logs give one error line, exit 1' '
	cp "$K/logs/U-Q4_K.ppl.log" full.log &&
	size=$(wc -c <full.log) && end=$(grep -b "^Same top p" full.log | cut -d: -f1) &&
	for n in 0 1 100 5000 40000 $((size - 2000)) $((size - 900)) $((size - 500)) $((size - 100)) $((end + 5)) $((end + 20)); do
		head -c $n full.log >cut.log &&
		test_must_fail 1 measure-read -b x cut.log=U-Q4_K.gguf >out 2>err || return 1
		test_one_error_line err || return 1
		grep "^measure-read: cut.log: line [0-9]*: " err >/dev/null || { cat err; return 1; }
		! test -s out || return 1
	done
'

test_expect_success 'kjv-llama: a real run with loader lines (-lv 4) is checked against its file' '
	if ! test -x "$LLAMA/llama-perplexity"; then echo "no llama-perplexity"; return 0; fi
	# llama-perplexity sometimes stops before its result (see the fixtures
	# README): such a log must be refused, and the run is made again
	for try in 1 2 3 4 5; do
		"$LLAMA/llama-perplexity" -m U-Q4_K.gguf -f "$K/eval.txt" -c 256 -t 1 --chunks 4 -lv 4 >real.log 2>&1
		grep "Final estimate" real.log >/dev/null && break
		test_must_fail 1 measure-read -b x real.log=U-Q4_K.gguf 2>err && test_one_error_line err || return 1
	done &&
	grep "loaded meta data" real.log && grep "file size" real.log &&
	measure-read -b model-f32.gguf real.log=U-Q4_K.gguf | rec-show -k measure --tsv -H -f run,chunks,ppl >got &&
	ppl=$(sed -n "s/.*Final estimate: PPL = \([0-9.]*\) .*/\1/p" real.log) &&
	printf "perplexity\t4\t$ppl\n" >want && test_cmp want got &&
	test_must_fail 1 measure-read -b x real.log=I-Q2_K.gguf 2>err && test_one_error_line err &&
	grep "real.log: line [0-9]*: the run loaded a model of 2.15 MiB (4.92 BPW), I-Q2_K.gguf is 1.39 MiB (3.19 BPW)" err
'

test_done
