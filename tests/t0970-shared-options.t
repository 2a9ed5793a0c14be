#!/bin/sh
test_description='the shared options (-@ -o -q -h -V) read the same in every --help: cli.c declares them once'
. "$(dirname "$0")/lib.sh"

# The shared lines of PROG's --help, the program's own name replaced.
shared_lines() {
	name=$(basename "$1")
	"$1" --help >"$TRASH/help" || return 1
	grep -E '^  -[@oqhV], --' "$TRASH/help" | sed "s/$name/PROG/g; s/  */ /g"
}

test_expect_success 'every program prints the five shared options once' '
	for p in "$QP_BIN"/*; do
		[ -x "$p" ] || continue
		n=$(shared_lines "$p" | wc -l)
		[ "$n" -eq 5 ] || { echo "$p: $n shared option lines"; shared_lines "$p"; exit 1; }
	done
'

test_expect_success 'and every program words them the same way' '
	first=
	for p in "$QP_BIN"/*; do
		[ -x "$p" ] || continue
		shared_lines "$p" >"$TRASH/this" && test -s "$TRASH/this" || exit 1
		if [ -z "$first" ]; then
			first=$p && cp "$TRASH/this" "$TRASH/first"
		else
			test_cmp "$TRASH/first" "$TRASH/this" ||
			{ echo "$p words the shared options unlike $first"; exit 1; }
		fi
	done
'

test_expect_success 'the shared lines line up with the program'"'"'s own options' '
	for p in "$QP_BIN"/*; do
		[ -x "$p" ] || continue
		"$p" --help | grep -E "^  -[a-zA-Z@], --[a-z-]+( [A-Z]+)? +[^ ]" |
		awk -v p="$p" "{ match(\$0, /^  -.,  *--[a-z-]+( [A-Z]+)? +/); c[RLENGTH]++ }
			END { n = 0; for (k in c) n++; if (n != 1) { print p \": option texts start in \" n \" columns\"; exit 1 } }"
	done
'

test_expect_success '--help prints the help alone: it ends with the exit status line, and nothing is read or written after it' '
	for p in "$QP_BIN"/*; do
		[ -x "$p" ] || continue
		"$p" --help </dev/null >"$TRASH/help" 2>"$TRASH/err" || { echo "$p --help failed"; exit 1; }
		tail -n 1 "$TRASH/help" | grep -q "^Exit status: " ||
		{ echo "$p --help: output goes on after the help"; tail -c 200 "$TRASH/help"; exit 1; }
		test_must_be_empty "$TRASH/err" || exit 1
	done
'

test_done
