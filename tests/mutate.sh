#!/bin/sh
# tests/mutate.sh — mutation audit: does the suite fail when the code
# breaks?  (`make mutate`; a tool for developers, not part of make check.)
#
# usage: tests/mutate.sh [-j N] [-l LIST] [-B] [NUMBER...]
#
# Each line of LIST (default tests/mutations.tsv) is one mutation:
#   file <TAB> pattern <TAB> replacement <TAB> tests
# file is a basename, found anywhere under common/ and filters/ (so moving
# a module does not break its mutations); the first line holding the
# literal pattern gets its first occurrence replaced.  tests are the shell
# tests (tNNNN) and unit tests (their build/tbin name) that should notice,
# cheapest first.  The tree (tracked files as they are now, committed or
# not) is copied to a scratch folder and built once; each mutation is
# applied there, rebuilt, its tests run until one fails (killed), and put
# back.  A mutation that does not compile is reported and not counted.
# First every test named is run on the unmutated copy: a test that fails
# there would "kill" every mutation, so the audit stops (-B skips this
# when the baseline is known to pass).
# llama-quantize outputs of t0420 are cached across mutations (in
# $QP_LLAMA_CACHE when set, which may be kept between runs).
# Prints one line per mutation and the survivors; exit 0 when none survived.
set -u
jobs=2
list=
baseline=yes
while getopts j:l:B opt; do
	case $opt in
	j) jobs=$OPTARG ;;
	l) list=$OPTARG ;;
	B) baseline= ;;
	*) echo "usage: $0 [-j N] [-l LIST] [-B] [NUMBER...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
top=$(cd "$(dirname "$0")/.." && pwd)
list=${list:-$top/tests/mutations.tsv}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/qp-mutate.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

(cd "$top" && git ls-files -z | xargs -0 cp --parents -t "$scratch") || exit 1
# the fixtures are found next to the checkout: point the copy at them
: "${QP_FIXTURES:=$top/../shared/fixtures}"
: "${QP_LLAMA_BIN:=$top/../shared/llama.cpp/bin}"
export QP_FIXTURES QP_LLAMA_BIN
export QP_TEST_IMMEDIATE=1
export QP_LLAMA_CACHE="${QP_LLAMA_CACHE:-$scratch/.llama-cache}"
cd "$scratch" || exit 1
echo "mutate: building the copy in $scratch"
make -s -j"$jobs" all >build.log 2>&1 || { cat build.log; exit 1; }

# run_test NAME: one shell or unit test of the copy, quietly.
run_test() {
	case $1 in
	t[0-9]*)
		QP_BIN=$scratch/bin QP_UNIT=$scratch/build/tbin QP_TOP=$scratch \
			timeout 900 prove -j"$jobs" tests/$1-*.t >test.log 2>&1 ;;
	*)
		QP_TOP=$scratch timeout 900 prove build/tbin/$1 >test.log 2>&1 ;;
	esac
}

wanted() { # NUMBER: is it among the ones asked for (all when none)?
	[ -z "$selection" ] && return 0
	case " $selection " in *" $1 "*) return 0 ;; esac
	return 1
}
selection="$*"

tab=$(printf '\t')
if [ -n "$baseline" ]; then
	for t in $(grep -v '^#' "$list" | cut -f4 | tr ' ' '\n' | sort -u); do
		if ! QP_TEST_IMMEDIATE= run_test "$t"; then
			echo "mutate: $t fails without any mutation:"; cat test.log; exit 1
		fi
	done
	echo "mutate: every test named passes on the unmutated copy"
fi

n=0 killed=0 survived=0 broken=0 survivors=
while IFS="$tab" read -r file pattern replacement tests; do
	case $file in ''|'#'*) continue ;; esac
	n=$((n + 1))
	wanted $n || continue
	path=$(find common filters -name "$file" -type f | head -n 2)
	if [ -z "$path" ] || [ "$(printf '%s\n' "$path" | wc -l)" -ne 1 ]; then
		echo "$n: $file: not found (or not one file)"; broken=$((broken + 1)); continue
	fi
	cp "$path" "$path.orig"
	PATTERN=$pattern REPLACEMENT=$replacement awk '
		!done && (i = index($0, ENVIRON["PATTERN"])) {
			$0 = substr($0, 1, i - 1) ENVIRON["REPLACEMENT"] substr($0, i + length(ENVIRON["PATTERN"]))
			done = 1
		}
		{ print }
		END { exit !done }' "$path.orig" >"$path"
	if [ $? -ne 0 ]; then
		echo "$n: $file: pattern not found: $pattern"
		broken=$((broken + 1)); mv "$path.orig" "$path"; continue
	fi
	what="$file: $pattern -> $replacement"
	if ! make -s -j"$jobs" all >build.log 2>&1; then
		echo "$n: does not compile: $what"
		broken=$((broken + 1))
	else
		by=
		for t in $tests; do
			if ! run_test "$t"; then by=$t; break; fi
		done
		if [ -n "$by" ]; then
			killed=$((killed + 1)); echo "$n: killed by $by: $what"
			grep -m 1 "^not ok\|^not ok\|Failed test\|Dubious" test.log | sed "s/^/      /"
		else
			survived=$((survived + 1)); survivors="$survivors
  $n: $what (ran $tests)"
			echo "$n: SURVIVED: $what"
		fi
	fi
	mv "$path.orig" "$path" && touch "$path"
done <"$list"
make -s -j"$jobs" all >/dev/null 2>&1
total=$((killed + survived))
echo "mutate: $killed of $total killed, $broken not applicable"
[ -n "$survivors" ] && printf 'survivors:%s\n' "$survivors"
[ "$survived" -eq 0 ]
