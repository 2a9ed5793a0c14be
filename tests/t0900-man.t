#!/bin/sh
test_description='man pages: mandoc -Tlint clean, every --help option documented, every program has a page'
. "$(dirname "$0")/lib.sh"

# Programs allowed, for now, to have no man page because they are being
# written at the same time as this test.  This list must only shrink:
# remove a name as soon as man/NAME.1 exists, and never add one.
MAN_PENDING=""

MAN=$QP_TOP/man

is_pending() {
	for p in $MAN_PENDING; do
		[ "$p" = "$1" ] && return 0
	done
	return 1
}

# The long options a program's --help prints: its --word tokens.
help_long_options() {
	"$1" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u
}

# A page as text, one line per paragraph-ish line, without overstrike, so
# that "--kv-full" is found whatever the markup around it.
page_text() {
	mandoc -Tascii -O width=1000 "$1" | col -b
}

if command -v mandoc >/dev/null 2>&1; then
test_expect_success 'every page passes mandoc -Tlint -W warning silently' '
	found=0 &&
	for page in "$MAN"/*.1 "$MAN"/*.5; do
		test -f "$page" || continue
		found=$((found + 1))
		mandoc -Tlint -W warning "$page" >lint.out 2>&1
		status=$?
		if test -s lint.out || test $status -ne 0; then
			echo "$page (exit $status):"; cat lint.out; return 1
		fi
	done &&
	test $found -gt 0 && test -f "$MAN/quantpipe.5"
'
else
	test_skip 'every page passes mandoc -Tlint -W warning silently' 'mandoc is not installed'
fi

if command -v mandoc >/dev/null 2>&1 && command -v col >/dev/null 2>&1; then
test_expect_success 'every long option of --help appears in the program'\''s page' '
	checked=0 &&
	for prog in "$QP_BIN"/*; do
		test -x "$prog" || continue
		name=${prog##*/}
		page=$MAN/$name.1
		test -f "$page" || continue
		checked=$((checked + 1))
		page_text "$page" >page.txt &&
		help_long_options "$prog" >opts || { echo "$name --help failed"; return 1; }
		test -s opts || { echo "$name --help lists no long option"; return 1; }
		missing=
		while read opt; do
			grep -q -e "$opt\([^a-z0-9-]\|\$\)" page.txt || missing="$missing $opt"
		done <opts
		test -z "$missing" || { echo "$page lacks:$missing"; return 1; }
	done &&
	test $checked -gt 0
'
else
	test_skip 'every long option of --help appears in the program'\''s page' 'mandoc or col is not installed'
fi

test_expect_success 'every program in bin/ has a man page' '
	n=0 && missing= &&
	for prog in "$QP_BIN"/*; do
		test -x "$prog" && test -f "$prog" || continue
		n=$((n + 1))
		name=${prog##*/}
		test -f "$MAN/$name.1" && continue
		is_pending "$name" && { say "no page yet for $name (allowed: MAN_PENDING)"; continue; }
		missing="$missing $name"
	done &&
	test $n -gt 0 &&
	{ test -z "$missing" || { echo "no man/NAME.1 for:$missing"; false; }; }
'

test_expect_success 'pages on the pending list do not exist yet (shrink the list)' '
	stale= &&
	for p in $MAN_PENDING; do
		test ! -f "$MAN/$p.1" || stale="$stale $p"
	done &&
	{ test -z "$stale" || { echo "remove from MAN_PENDING:$stale"; false; }; }
'

test_done
