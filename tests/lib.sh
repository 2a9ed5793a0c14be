# tests/lib.sh — shell test library in the style of git's t/test-lib.sh.
#
# A test script sets test_description, sources this file, runs
# test_expect_success "title" 'commands' blocks, and ends with test_done.
# Output is TAP for prove.  Each test runs in its own scratch directory
# ($TRASH); the built programs are on PATH (QP_BIN); $FIXTURES is the
# shared fixtures folder when present (use test_have_fixtures to skip).

set -u
QP_TOP=${QP_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
QP_BIN=${QP_BIN:-$QP_TOP/bin}
PATH=$QP_BIN:$PATH
export PATH QP_TOP
FIXTURES=${QP_FIXTURES:-$QP_TOP/../shared/fixtures}
LC_ALL=C
export LC_ALL

test_count=0
test_failed=0
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/qp-test.XXXXXX")
trap 'rm -rf "$TRASH"' EXIT
cd "$TRASH" || exit 1

say() { printf '# %s\n' "$*"; }

test_expect_success() {
	test_count=$((test_count + 1))
	if (eval "$2") >"$TRASH/.out" 2>&1; then
		printf 'ok %d - %s\n' "$test_count" "$1"
	else
		test_failed=$((test_failed + 1))
		printf 'not ok %d - %s\n' "$test_count" "$1"
		sed 's/^/#   /' "$TRASH/.out" | head -n 40
	fi
}

test_skip() {
	test_count=$((test_count + 1))
	printf 'ok %d # skip %s (%s)\n' "$test_count" "$1" "$2"
}

# test_cmp expected actual
test_cmp() {
	diff -u "$1" "$2"
}

# test_must_fail [status] cmd...: the command fails (not by a signal);
# with a number first, with exactly that status.
test_must_fail() {
	want=
	case "$1" in [0-9]*) want=$1; shift ;; esac
	"$@"
	status=$?
	if [ "$status" -eq 0 ]; then
		echo "test_must_fail: '$*' succeeded" >&2
		return 1
	fi
	if [ "$status" -gt 128 ]; then
		echo "test_must_fail: '$*' died of signal $((status - 128))" >&2
		return 1
	fi
	if [ -n "$want" ] && [ "$status" -ne "$want" ]; then
		echo "test_must_fail: '$*' exited $status, want $want" >&2
		return 1
	fi
	return 0
}

# test_one_error_line FILE: stderr holds exactly one line.
test_one_error_line() {
	n=$(wc -l <"$1")
	if [ "$n" -ne 1 ]; then
		echo "want one error line, got $n:" >&2
		cat "$1" >&2
		return 1
	fi
}

test_have_fixtures() {
	[ -f "$FIXTURES/README.txt" ]
}

test_done() {
	printf '1..%d\n' "$test_count"
	[ "$test_failed" -eq 0 ]
}
