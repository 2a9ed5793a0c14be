#!/bin/bash
test_description='hostile input: impossible sizes, corrupt archives, special files, nesting, signals'
. "$(dirname "$0")/lib.sh"

if ! command -v python3 >/dev/null; then
	printf '1..0 # SKIP no python3 (tests/craft.py writes the crafted files)\n'
	exit 0
fi
craft() { python3 "$QP_TOP/tests/craft.py" "$@"; }

# fails_cleanly ERRFILE PATTERN: one error line, naming PATTERN.
fails_cleanly() {
	test_one_error_line "$1" && grep -q -- "$2" "$1"
}

# ---- sizes (issue 12 defects 1 and 2) ----------------------------------

test_expect_success 'F32 tensor of 2^62 elements: gguf-dump names it (row bytes wrapped to 0)' '
	craft big.gguf tensor blk.0.attn_q.weight 0 $((1 << 62)) &&
	test_must_fail 1 gguf-dump big.gguf >out 2>err &&
	fails_cleanly err "blk.0.attn_q.weight.*overflows"
'

test_expect_success 'Q8_0 and F16 tensors whose bytes do not fit are refused too' '
	craft q8.gguf tensor blk.0.ffn_up.weight 8 $((32 << 58)) &&
	test_must_fail 1 gguf-dump q8.gguf >out 2>err &&
	fails_cleanly err "blk.0.ffn_up.weight" &&
	craft f16.gguf tensor blk.0.ffn_up.weight 1 $((1 << 62)),2 &&
	test_must_fail 1 gguf-dump f16.gguf >out 2>err &&
	fails_cleanly err "blk.0.ffn_up.weight"
'

test_expect_success 'a tensor record claiming 2^62 F32 elements is refused by qerr-measure' '
	printf "{\"kind\":\"tensor\",\"model\":\"m\",\"name\":\"blk.0.attn_q.weight\",\"type\":\"F32\",\"shape\":[4611686018427387904],\"n_elem\":4611686018427387904,\"n_bytes\":0,\"path\":\"x\",\"offset\":0}\n" |
		rec-show --from-json >big.mp &&
	test_must_fail 1 qerr-measure -t Q8_0 big.mp >out 2>err &&
	fails_cleanly err "blk.0.attn_q.weight"
'

test_expect_success 'imatrix in_sum2 of shape [2^62] is an error naming it' '
	craft m.gguf tensor blk.0.attn_q.weight 0 8,2 &&
	craft im.gguf tensor blk.0.attn_q.weight.in_sum2 0 $((1 << 62)) \
		tensor blk.0.attn_q.weight.counts 0 1 --kv general.type=str:imatrix &&
	gguf-dump m.gguf >m.mp &&
	test_must_fail 1 sens-score --imatrix im.gguf m.mp >out 2>err &&
	fails_cleanly err "in_sum2" &&
	test_must_fail 1 qerr-measure -t Q8_0 --imatrix im.gguf m.mp >out 2>err &&
	fails_cleanly err "in_sum2"
'

test_expect_success 'imatrix in_sum2 [2^30, 2^30] (2^62 bytes, fits 64 bits) is refused, not allocated' '
	craft im2.gguf tensor blk.0.attn_q.weight.in_sum2 0 $((1 << 30)),$((1 << 30)) \
		tensor blk.0.attn_q.weight.counts 0 $((1 << 30)) --kv general.type=str:imatrix &&
	test_must_fail 1 sens-score --imatrix im2.gguf m.mp >out 2>err &&
	fails_cleanly err "in_sum2.*past the end"

'

# ---- layer numbers (defect 4) ------------------------------------------

test_expect_success 'blk.100000000 in a 2-tensor model: reported, not gigabytes of table (ulimit -v 4G)' '
	craft lay.gguf tensor blk.0.attn_q.weight 0 8,2 tensor blk.100000000.attn_q.weight 0 8,2 &&
	gguf-dump lay.gguf >lay.mp &&
	# an ASan build cannot start under a 4 GB address-space limit
	if (ulimit -v 4000000 && sens-score --version) >/dev/null 2>&1; then
		(ulimit -v 4000000 && test_must_fail 1 sens-score lay.mp >out 2>err)
	else
		test_must_fail 1 sens-score lay.mp >out 2>err
	fi &&
	fails_cleanly err "blk.100000000.attn_q.weight.*layer 100000000 is beyond"
'

test_expect_success 'a layer at or past block_count is reported; inside it is fine' '
	craft lay2.gguf tensor blk.0.attn_q.weight 0 8,2 tensor blk.4.attn_q.weight 0 8,2 \
		--kv general.architecture=str:llama --kv llama.block_count=u32:4 &&
	gguf-dump lay2.gguf >lay2.mp &&
	test_must_fail 1 sens-score lay2.mp >out 2>err &&
	fails_cleanly err "blk.4.attn_q.weight.*beyond the model.s 4 layers" &&
	craft lay3.gguf tensor blk.0.attn_q.weight 0 8,2 tensor blk.3.attn_q.weight 0 8,2 \
		--kv general.architecture=str:llama --kv llama.block_count=u32:4 &&
	gguf-dump lay3.gguf | sens-score | rec-show -k profile >profile.json &&
	grep -q "\"layers\":\[{\"n_tensors\":1,.*{\"n_tensors\":1,[^]]*}\]" profile.json
'

# ---- nesting and keys (defect 5, rec-show --from-json) ------------------

# mp_nested DEPTH KIND: a record whose field "a" nests DEPTH-1 more
# containers (KIND arrays, maps, or keys: maps used as keys of maps).
mp_nested() {
	python3 -c 'import sys
d, kind = int(sys.argv[1]), sys.argv[2]
v = b"\x01"
for i in range(d - 1):
    v = {"arrays": b"\x91" + v, "maps": b"\x81\xa1a" + v, "keys": b"\x81" + v + b"\x01"}[kind]
sys.stdout.buffer.write(b"\x82\xa4kind\xa1t\xa1a" + v)' "$@"
}

test_expect_success 'maps as keys of maps: the JSON view grows linearly (was 4 GB for 30 levels)' '
	mp_nested 30 keys >keys.mp &&
	rec-show keys.mp >keys.json &&
	test $(wc -c <keys.json) -lt 200 &&
	grep -q "\"<map 1>\"" keys.json
'

test_expect_success 'scalar keys show as their JSON text' '
	printf "\203\244kind\241t\001\002\303\003" >scalar.mp &&
	rec-show scalar.mp >actual &&
	printf "{\"kind\":\"t\",\"1\":2,\"true\":3}\n" >expect &&
	test_cmp expect actual
'

test_expect_success '32 levels are read; 33 are refused with their own message' '
	mp_nested 32 arrays >d32.mp && rec-show d32.mp >/dev/null &&
	mp_nested 32 maps >d32m.mp && rec-show d32m.mp >/dev/null &&
	for k in arrays maps keys; do
		mp_nested 33 $k >d33.mp &&
		test_must_fail 1 rec-show d33.mp >out 2>err &&
		fails_cleanly err "record 1 (byte offset 0): nested deeper than 32 levels" || return 1
	done &&
	mp_nested 2000 arrays >deep.mp &&
	test_must_fail 1 qerr-measure -t Q8_0 deep.mp >out 2>err &&
	fails_cleanly err "nested deeper than 32 levels"
'

test_expect_success 'an empty container as the 33rd level is refused too (the decoder counts it)' '
	python3 -c "import sys; sys.stdout.buffer.write(b\"\x82\xa4kind\xa1t\xa1a\" + b\"\x91\" * 31 + b\"\x90\")" >e33.mp &&
	test_must_fail 1 rec-show e33.mp >out 2>err &&
	fails_cleanly err "nested deeper than 32 levels"
'

test_expect_success 'rec-show --from-json refuses what no reader accepts (schema 2, 33 levels)' '
	printf "{\"kind\":\"meta\",\"schema\":2}\n" >s2.json &&
	test_must_fail 1 rec-show --from-json s2.json >out 2>err &&
	fails_cleanly err "line 1: schema 2 is not understood" &&
	python3 -c "print(\"{\\\"kind\\\":\\\"x\\\",\\\"a\\\":\" + \"[\" * 32 + \"]\" * 32 + \"}\")" >deep.json &&
	test_must_fail 1 rec-show --from-json deep.json >out 2>err &&
	fails_cleanly err "nested deeper than 32 levels" &&
	python3 -c "print(\"{\\\"kind\\\":\\\"x\\\",\\\"a\\\":\" + \"[\" * 31 + \"]\" * 31 + \"}\")" >ok.json &&
	rec-show --from-json ok.json | rec-show >/dev/null
'

# ---- -o onto links and special files, stdout errors (defects 6, 7) -------

test_expect_success '-o onto a symlink replaces the file it names; the link stays' '
	printf "{\"kind\":\"x\",\"a\":1}\n" >one.json &&
	printf "old\n" >real.mp && ln -s real.mp link.mp &&
	mkdir d && ln -s ../real.mp d/rel.mp && ln -s d/rel.mp chain.mp &&
	rec-show --from-json -o link.mp one.json &&
	test -h link.mp && rec-show real.mp >actual &&
	printf "{\"kind\":\"x\",\"a\":1}\n" >expect && test_cmp expect actual &&
	printf "old\n" >real.mp &&
	rec-show --from-json -o chain.mp one.json &&
	test -h chain.mp && test -h d/rel.mp && rec-show real.mp >actual &&
	test_cmp expect actual &&
	ln -s new.mp dangling.mp && rec-show --from-json -o dangling.mp one.json &&
	test -h dangling.mp && test -f new.mp &&
	! ls | grep -q tmp
'

test_expect_success '-o onto a FIFO writes through it' '
	mkfifo fifo &&
	{ cat fifo >got.mp & } &&
	rec-show --from-json -o fifo one.json && wait &&
	test -p fifo && rec-show got.mp >actual && test_cmp expect actual
'

test_expect_success '-o /dev/stdout writes to standard output (pipe and file)' '
	rec-show --from-json -o /dev/stdout one.json | rec-show >actual &&
	test_cmp expect actual &&
	rec-show --from-json -o /dev/stdout one.json >so.mp &&
	rec-show so.mp >actual && test_cmp expect actual
'

if [ "$(id -u)" = 0 ] && mknod null c 1 3 2>/dev/null; then
	test_expect_success 'as root, -o onto a character device (a copy of /dev/null) leaves it a device' '
		rec-show --from-json -o null one.json && test -c null &&
		gguf-synth -o null && test -c null &&
		craft small.gguf tensor blk.0.attn_q.weight 0 8,2 &&
		gguf-dump -o null small.gguf && test -c null
	'
else
	test_skip 'as root, -o onto a character device leaves it a device' 'not root or no mknod'
fi

test_expect_success '--help and --version into a full device: exit 1, one error line' '
	test -c /dev/full || { echo "no /dev/full"; return 0; }
	for p in gguf-dump rec-show qerr-measure sens-score gguf-synth; do
		for o in --help --version; do
			test_must_fail 1 $p $o >/dev/full 2>err &&
			fails_cleanly err "$p: standard output: No space left on device" || return 1
		done
	done
'

# sig_leaves_no_tmp SIG: a filter writing -o out.mp killed by SIG while
# it waits for input removes its temporary file.
sig_leaves_no_tmp() {
	rm -f in out.mp* && mkfifo in || return 1
	{ sleep 5 >in & }
	holder=$!
	rec-show --from-json -o out.mp <in &
	pid=$!
	i=0; while ! ls out.mp.tmp* >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	ls out.mp.tmp* >/dev/null 2>&1 || { echo "no temporary file appeared"; return 1; }
	kill -$1 $pid; wait $pid; st=$?
	kill $holder 2>/dev/null
	test $st -gt 128 || { echo "exit $st, not killed"; return 1; }
	! ls out.mp* 2>/dev/null | grep .
}

test_expect_success 'SIGTERM removes the -o temporary file' 'sig_leaves_no_tmp TERM'

# Under nohup SIGHUP is ignored, and the programs rightly keep it ignored
# (no shell can take that back): the SIGHUP tests need it delivered.
test_lazy_prereq SIGHUP_ACTS '! sh -c "kill -HUP \$\$; exit 0"'

test_expect_success SIGHUP_ACTS 'SIGHUP removes the -o temporary file' 'sig_leaves_no_tmp HUP'

# A signal in the instant between creating the temporary file and setting
# up the handlers: a preloaded mkstemp raises SIGTERM as soon as the file
# exists.  (Not under ASan, whose runtime must come first in the preload
# list; not without a C compiler.)
test_lazy_prereq PRELOAD_RAISE '
	cat >raise.c <<-\EOF &&
	#define _GNU_SOURCE
	#include <dlfcn.h>
	#include <signal.h>
	#include <stdlib.h>
	int mkstemp(char *template)
	{
		int (*real)(char *) = (int (*)(char *))dlsym(RTLD_NEXT, "mkstemp");
		int fd = real(template);
		if (fd >= 0 && getenv("QP_TEST_RAISE"))
			raise(SIGTERM);
		return fd;
	}
	EOF
	${CC:-cc} -shared -fPIC -o raise.so raise.c -ldl &&
	LD_PRELOAD="$PWD/raise.so" rec-show --version
'

test_expect_success PRELOAD_RAISE 'SIGTERM the moment the -o temporary file exists: no file is left' '
	rm -f out.mp* &&
	{ printf "{\"kind\":\"x\"}\n" |
		QP_TEST_RAISE=1 LD_PRELOAD="$TRASH/.prereq-PRELOAD_RAISE/raise.so" \
		rec-show --from-json -o out.mp; st=$?; } &&
	test $st -gt 128 &&
	! ls out.mp* 2>/dev/null | grep .
'

# ---- FIFOs where a file is mapped (defect 9) ------------------------------

test_expect_success 'a FIFO as --imatrix, record path or shard is refused at once, not waited on' '
	rm -f ff && mkfifo ff &&
	craft m.gguf tensor blk.0.attn_q.weight 0 8,2 && gguf-dump m.gguf >m.mp &&
	test_must_fail 1 timeout 20 sens-score --imatrix ff m.mp >out 2>err &&
	fails_cleanly err "sens-score: ff: not a regular file" &&
	test_must_fail 1 timeout 20 qerr-measure -t Q8_0 --imatrix ff m.mp >out 2>err &&
	fails_cleanly err "qerr-measure: ff: not a regular file" &&
	printf "{\"kind\":\"tensor\",\"model\":\"m\",\"name\":\"blk.0.attn_q.weight\",\"type\":\"F32\",\"shape\":[8,2],\"n_elem\":16,\"n_bytes\":64,\"path\":\"ff\",\"offset\":0}\n" |
		rec-show --from-json >r.mp &&
	test_must_fail 1 timeout 20 qerr-measure -t Q8_0 r.mp >out 2>err &&
	fails_cleanly err "ff: not a regular file" &&
	test_must_fail 1 timeout 20 sens-score r.mp >out 2>err &&
	fails_cleanly err "ff: not a regular file" &&
	craft s-00001-of-00002.gguf tensor blk.0.attn_q.weight 0 8,2 \
		--kv split.no=u32:0 --kv split.count=u32:2 &&
	rm -f s-00002-of-00002.gguf && mkfifo s-00002-of-00002.gguf &&
	test_must_fail 1 timeout 20 gguf-dump s-00001-of-00002.gguf >out 2>err &&
	fails_cleanly err "s-00002-of-00002.gguf: not a regular file"
'

test_expect_success 'a FIFO named as a gguf-dump operand is read as a stream' '
	rm -f gf && mkfifo gf &&
	{ cat m.gguf >gf & } &&
	timeout 20 gguf-dump gf >gf.mp && wait &&
	rec-show -k tensor -f name gf.mp | grep -q "blk.0.attn_q.weight"
'

# ---- NaN and infinite weights -------------------------------------------

test_expect_success 'NaN/Inf weights: sens-score leaves them out (SVD included), qerr figures nil with a note' '
	python3 -c "
import struct
v = [((i * 37) % 17 - 8) / 10.0 for i in range(512)]
v[5] = float(\"nan\"); v[100] = float(\"inf\"); v[300] = float(\"-inf\")
m = b\"GGUF\" + struct.pack(\"<IQQ\", 3, 1, 0)
n = b\"blk.0.attn_q.weight\"
m += struct.pack(\"<Q\", len(n)) + n + struct.pack(\"<IQQIQ\", 2, 64, 8, 0, 0)
m += b\"\\0\" * (-len(m) % 32)
open(\"nan.gguf\", \"wb\").write(m + struct.pack(\"<512f\", *v))
" &&
	gguf-dump nan.gguf >nan.mp &&
	sens-score nan.mp >s.mp 2>err && test ! -s err &&
	rec-show --tsv -H -k tensor -f stats.n_nonfinite,sens.nv_n,sens.sv_n s.mp >actual &&
	printf "3\t509\t8\n" >expect && test_cmp expect actual &&
	rec-show -k tensor s.mp | grep -q "\"score\":[0-9]" &&
	qerr-measure -t Q8_0 nan.mp >q.mp &&
	rec-show --tsv -H -k tensor -f qerr.Q8_0.mse,qerr.Q8_0.rel,qerr.Q8_0.cos,qerr.Q8_0.sqnr_db,qerr.Q8_0.maxabs q.mp >actual &&
	printf "\t\t\t\t\n" >expect && test_cmp expect actual &&
	rec-show -k tensor q.mp | grep -q "\"note\":\"error undefined: the tensor holds NaN or infinite values\""
'

test_expect_success 'sens-score skips a zero-length tensor and an unknown type id with a warning' '
	craft z.gguf tensor blk.0.attn_q.weight 0 8,0 tensor blk.0.attn_k.weight 0 8,2 &&
	gguf-dump z.gguf >z.mp && sens-score z.mp >zs.mp 2>err &&
	fails_cleanly err "warning: tensor .blk.0.attn_q.weight.: no elements" &&
	rec-show --tsv -H -k tensor -f name,stats,sens.family zs.mp >actual &&
	printf "blk.0.attn_q.weight\t\t\nblk.0.attn_k.weight\t" >expect &&
	head -c $(wc -c <expect) actual | cmp - expect &&
	craft u.gguf tensor blk.0.attn_q.weight 77 8,2 tensor blk.0.attn_k.weight 0 8,2 &&
	gguf-dump u.gguf >u.mp && sens-score -q u.mp >us.mp 2>err && test ! -s err &&
	sens-score u.mp >us.mp 2>err &&
	fails_cleanly err "type type_77 cannot be read" &&
	rec-show -k tensor us.mp | grep -c "\"sens\"" | grep -qx 1
'

test_expect_success 'gguf-dump refuses a tensor name containing NUL' '
	craft nul.gguf tensor "blk.0.attn_q\\0x.weight" 0 8,2 &&
	test_must_fail 1 gguf-dump nul.gguf >out 2>err &&
	fails_cleanly err "the name contains a NUL byte"
'

# ---- archives (defect 3) -------------------------------------------------

# flip FILE OFFSET [MASK]: XORs one byte (negative offsets count from the end).
flip() {
	python3 -c 'import sys
f = sys.argv[1]; b = bytearray(open(f, "rb").read()); i = int(sys.argv[2])
b[i] ^= int(sys.argv[3], 0); open(f, "wb").write(b)' "$1" "$2" "${3:-0x10}"
}

test_expect_success 'archives: setup (tar.gz, zip stored and deflated, 1.5 MB member)' '
	craft a.gguf tensor blk.0.attn_q.weight 0 64,64 --data 1500000 &&
	craft b.gguf tensor blk.0.attn_k.weight 0 64,64 &&
	python3 -c "
import tarfile, zipfile
with tarfile.open(\"m.tar.gz\", \"w:gz\") as t:
    t.add(\"a.gguf\"); t.add(\"b.gguf\")
with tarfile.open(\"m.tar\", \"w\") as t:
    t.add(\"a.gguf\"); t.add(\"b.gguf\")
for name, how in ((\"stored.zip\", zipfile.ZIP_STORED), (\"deflated.zip\", zipfile.ZIP_DEFLATED)):
    with zipfile.ZipFile(name, \"w\", how) as z:
        z.write(\"a.gguf\"); z.write(\"b.gguf\")
" &&
	gguf-dump --crc m.tar.gz >good.mp &&
	gguf-dump stored.zip >/dev/null && gguf-dump deflated.zip >/dev/null &&
	gguf-dump m.tar >/dev/null
'

test_expect_success 'tar.gz: a flipped bit in the CRC-32 trailer is an error' '
	cp m.tar.gz crc.tar.gz && flip crc.tar.gz -8 0x01 &&
	test_must_fail 1 gguf-dump crc.tar.gz >out 2>err &&
	fails_cleanly err "crc.tar.gz: .*gzip: incorrect data check"
'

test_expect_success 'a damaged compressed archive is called an archive, not "no GGUF nor an archive"' '
	echo small >small.txt && tar cf small.tar small.txt &&
	gzip -c small.tar >small.tar.gz && flip small.tar.gz -8 0x01 &&
	xz -c m.tar >cut.tar.xz && head -c 200 cut.tar.xz >cut2.tar.xz &&
	zstd -q -c m.tar >cut.tar.zst && head -c 100 cut.tar.zst >cut2.tar.zst &&
	for f in small.tar.gz cut2.tar.xz cut2.tar.zst; do
		test_must_fail 1 gguf-dump $f >out 2>err &&
		fails_cleanly err "^gguf-dump: $f: archive: " && ! grep -q "nor an archive" err || return 1
	done
'

test_expect_success 'tar.gz: a flipped length trailer is an error' '
	cp m.tar.gz len.tar.gz && flip len.tar.gz -3 0x40 &&
	test_must_fail 1 gguf-dump len.tar.gz >out 2>err &&
	fails_cleanly err "gzip: incorrect length check"
'

test_expect_success 'tar.gz: any flipped bit in the compressed data fails or gives the same bytes' '
	size=$(wc -c <m.tar.gz) && refused=0 &&
	for k in 1 2 3 4 5 6 7 8 9; do
		off=$((10 + (size - 10) * k / 10)) &&
		cp m.tar.gz f.tar.gz && flip f.tar.gz $off 0x04 &&
		if gguf-dump --crc f.tar.gz >f.mp 2>err; then
			sed "s/f\.tar\.gz/m.tar.gz/g" f.mp | cmp -s - good.mp || { echo "accepted with different data at $off"; return 1; }
		else
			test_one_error_line err || return 1; refused=$((refused + 1))
		fi
	done && echo "$refused of 9 flips refused" && test $refused -ge 5
'

test_expect_success 'tar.gz: cut inside the trailer or the data is an error' '
	size=$(wc -c <m.tar.gz) &&
	for keep in $((size - 4)) $((size - 9)) $((size / 2)); do
		head -c $keep m.tar.gz >cut.tar.gz &&
		test_must_fail 1 gguf-dump cut.tar.gz >out 2>err &&
		test_one_error_line err || return 1
	done
'

test_expect_success 'tar.gz: trailing garbage after the last gzip member is an error' '
	cp m.tar.gz tail.tar.gz && printf "x" >>tail.tar.gz &&
	test_must_fail 1 gguf-dump tail.tar.gz >out 2>err &&
	fails_cleanly err "trailing garbage" &&
	cat m.tar.gz m.tar.gz >two.tar.gz && gguf-dump two.tar.gz >/dev/null
'

test_expect_success 'zip: a stored member whose CRC does not match is an error (byte in and after the tensor data)' '
	for at in 200 1200000; do
		cp stored.zip f.zip &&
		off=$(python3 -c "import sys; print(open(\"f.zip\",\"rb\").read().index(b\"GGUF\") + $at)") &&
		flip f.zip $off &&
		test_must_fail 1 gguf-dump f.zip >out 2>err &&
		fails_cleanly err "member a.gguf: ZIP bad CRC" || return 1
	done
'

test_expect_success 'zip: a deflated member with a wrong CRC in its header is an error' '
	cp deflated.zip f.zip && flip f.zip 14 0x01 &&
	test_must_fail 1 gguf-dump f.zip >out 2>err &&
	test_one_error_line err
'

test_expect_success 'tar: a member cut short is an error' '
	head -c 1000000 m.tar >cut.tar &&
	test_must_fail 1 gguf-dump cut.tar >out 2>err &&
	test_one_error_line err
'

test_done
