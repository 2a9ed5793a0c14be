#!/bin/bash
test_description='every filter: records it does not consume pass through in place, byte for byte; -o is atomic for every program'
. "$(dirname "$0")/lib.sh"

# What each program is, and the arguments that make a filter run quickly.
# PRODUCERS write records from something else (GGUF, logs) or show them;
# rec-merge rebuilds one run's output from shards and has its own tests;
# rec-plot writes SVG; proxy-fit enriches the measure records this test
# passes through (t1000-proxy-fit checks what it passes).
# A new program must be added here (the first test fails until it is).
FILTERS="qerr-measure:-t,Q8_0 sens-score:-q,--no-svd recipe-emit:-q"
PRODUCERS="gguf-dump gguf-synth rec-show measure-read rec-merge rec-plot proxy-fit"

filter_args() { # NAME -> its arguments, space-separated
	for f in $FILTERS; do
		[ "${f%%:*}" = "$1" ] && printf '%s\n' "${f#*:}" | tr , " "
	done
}

test_expect_success 'every program in bin/ is a filter or a producer listed here' '
	for p in "$QP_BIN"/*; do
		n=${p##*/}
		case " $PRODUCERS $(for f in $FILTERS; do printf "%s " ${f%%:*}; done)" in
		*" $n "*) ;;
		*) echo "$n: add it to FILTERS or PRODUCERS in $0"; return 1 ;;
		esac
	done
'

hex() { od -An -tx1 -v "$1" | tr -d " \n"; }

# kinds FILE.mp: kind, name and tool of each record, one line each.
kinds() {
	rec-show "$1" | sed 's/^{"kind":"\([^"]*\)".*/\1/' >k1 &&
	rec-show "$1" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p; t; s/.*"tool":"\([^"]*\)".*/tool=\1/p; t; s/.*/-/p' >k2 &&
	paste k1 k2
}

# Records of kinds no filter consumes, encoded as no packer would write
# them (a uint32 where a fixint does, a float32, a str8 for one byte), so
# any re-encoding changes their bytes.
printf '\204\244kind\252zz-unknown\241n\316\000\000\000\005\241f\312\077\300\000\000\241s\331\001x' >unknown.rec
printf '\203\244kind\247measure\245model\252synth.gguf\243ppl\312\101\040\000\000' >measure.rec
printf '\202\244kind\245notes\244text\332\000\002hi' >notes.rec

# The stream: gguf-dump's records, one file each (re-packed by
# --from-json), with the odd records before the model, between the first
# two tensors, after the last tensor and at the end.
test_expect_success 'setup: a synthetic model stream with unknown records in four places' '
	gguf-synth -o synth.gguf && gguf-dump synth.gguf | rec-show >records.json &&
	n=$(wc -l <records.json) && test $n -eq 41 &&
	i=0 && : >stream.mp &&
	while IFS= read -r line; do
		i=$((i + 1))
		printf "%s\n" "$line" | rec-show --from-json >>stream.mp || return 1
		case $i in
		1) cat unknown.rec >>stream.mp ;;
		3) cat measure.rec notes.rec >>stream.mp ;;
		$n) cat unknown.rec measure.rec >>stream.mp ;;
		esac
	done <records.json &&
	cat notes.rec >>stream.mp &&
	kinds stream.mp >in.kinds &&
	test $(grep -c "^zz-unknown" in.kinds) = 2
'

for f in $FILTERS; do
	name=${f%%:*}
	test_expect_success "$name: unknown and measure records pass through in their place, byte for byte" '
		$name $(filter_args '"$name"') stream.mp >out.mp &&
		kinds out.mp >out.all &&
		sed -n 1p out.all | grep -q "^meta	tool='"$name"'\$" &&
		sed 1d out.all | grep -v "^profile	" >out.kinds &&
		test_cmp in.kinds out.kinds &&
		out=$(hex out.mp) &&
		for r in unknown measure notes; do
			want=$(grep -c "^$( [ $r = unknown ] && echo zz-unknown || echo $r )	" in.kinds) &&
			got=$(printf "%s" "$out" | grep -o "$(hex $r.rec)" | wc -l) &&
			test "$got" = "$want" || { echo "$r: $got of $want unchanged"; return 1; }
		done
	'
done

# -o: the output appears under its name only when complete.  Each program
# reads its input from a fifo held open, so it is caught mid-run: its
# temporary file is there, the final name is not (or still holds the old
# contents).  Then a failed run must leave an existing file as it was.
gguf-synth -o model.gguf 2>/dev/null
gguf-dump model.gguf >model.mp 2>/dev/null

# mid_run_check stdin|file PROG ARGS...: PROG -o result reading the fifo
# on standard input or as its last argument, fed half of input.bin, then
# the rest.
mid_run_check() {
	how=$1 && shift &&
	rm -f fifo result result.tmp* && mkfifo fifo &&
	echo "old contents" >result && cp result before &&
	if test $how = stdin; then
		("$@" -o result <fifo >prog.out 2>prog.err; echo $? >prog.rc) &
	else
		("$@" -o result fifo >prog.out 2>prog.err; echo $? >prog.rc) &
	fi
	exec 3>fifo &&
	head -c $(($(wc -c <input.bin) / 2)) input.bin >&3 &&
	# wait for the temporary file, for the final name to change (written
	# in place) or for the program to end (it cannot succeed yet)
	while ! ls result.tmp* >/dev/null 2>&1 && cmp -s before result && ! test -s prog.rc; do
		sleep 0.1
	done &&
	ls result.tmp* >/dev/null 2>&1 &&
	test_cmp before result &&
	tail -c +$(($(wc -c <input.bin) / 2 + 1)) input.bin >&3 &&
	exec 3>&- &&
	wait &&
	test "$(cat prog.rc)" = 0 &&
	! test_cmp before result >/dev/null &&
	test -z "$(ls | grep result.tmp)"
}

test_expect_success 'gguf-dump -o: nothing under the final name before success' '
	cp model.gguf input.bin && mid_run_check stdin gguf-dump --crc - &&
	gguf-dump --crc - <model.gguf | rec-show -k tensor >want.json &&
	rec-show -k tensor result | test_cmp want.json -
'

for p in qerr-measure:-t,Q8_0 sens-score:-q rec-show:--tsv; do
	name=${p%%:*}
	test_expect_success "$name -o: nothing under the final name before success" '
		cp model.mp input.bin && mid_run_check file '"$name"' $(echo '"${p#*:}"' | tr , " ")
	'
done

# fail_keeps PROG ARGS...: with a bad input, PROG -o keeps an existing file.
fail_keeps() {
	echo "old contents" >kept && cp kept before &&
	test_must_fail 1 "$@" -o kept 2>err &&
	test_one_error_line err &&
	test_cmp before kept &&
	test -z "$(ls | grep kept.tmp)"
}

test_expect_success 'a failed run leaves an existing -o file unchanged, for every program that reads' '
	head -c 2000000 model.gguf >trunc.gguf &&
	head -c 5000 model.mp >trunc.mp &&
	fail_keeps gguf-dump trunc.gguf &&
	fail_keeps qerr-measure -t Q8_0 trunc.mp &&
	fail_keeps sens-score -q trunc.mp &&
	fail_keeps rec-show trunc.mp
'

test_done
