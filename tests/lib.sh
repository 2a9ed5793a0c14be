# tests/lib.sh — shell test library in the style of git's t/test-lib.sh.
#
# A test script sets test_description, sources this file, runs
#   test_expect_success [PREREQS] "title" 'commands'
# blocks, and ends with test_done.  Output is TAP for prove.  The tests of
# a script share one scratch directory ($TRASH); the built programs are on
# PATH (QP_BIN).
#
# Prerequisites, as in git: PREREQS is a comma-separated list of names, a
# leading ! negates one.  A test whose prerequisites are not met is
# reported as skipped, naming them, so a script never vanishes as a whole
# because one of its tests needs something absent.  Built in:
#   FIXTURES  ../shared/fixtures (real llama.cpp files) at $FIXTURES
#   LLAMA     llama.cpp's llama-quantize in $LLAMA_BIN
#   PYTHON    python3, for independent computations
# test_set_prereq NAME declares one; test_lazy_prereq NAME 'script'
# declares one decided the first time a test asks (script run once, in a
# subshell of its own directory, success = present).
#
# QP_TEST_IMMEDIATE=1 stops a script at its first failing test (git's
# --immediate; tests/mutate.sh uses it).
set -u
QP_TOP=${QP_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
QP_BIN=${QP_BIN:-$QP_TOP/bin}
PATH=$QP_BIN:$PATH
export PATH QP_TOP
FIXTURES=${QP_FIXTURES:-$QP_TOP/../shared/fixtures}
LLAMA_BIN=${QP_LLAMA_BIN:-$QP_TOP/../shared/llama.cpp/bin}
LC_ALL=C
export LC_ALL

test_count=0
test_failed=0
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/qp-test.XXXXXX")
trap 'rm -rf "$TRASH"' EXIT
cd "$TRASH" || exit 1

say() { printf '# %s\n' "$*"; }

satisfied_prereq=' '
missing_prereq=
lazy_prereqs=' '

test_set_prereq() {
	satisfied_prereq="$satisfied_prereq$1 "
}

# test_lazy_prereq NAME 'script': NAME holds when script succeeds; run at
# most once, when a test first needs it.
test_lazy_prereq() {
	lazy_prereqs="$lazy_prereqs$1 "
	eval "lazy_script_$1=\$2"
}

test_have_one_prereq_() {
	case "$satisfied_prereq" in *" $1 "*) return 0 ;; esac
	case "$lazy_prereqs" in
	*" $1 "*)
		lazy_prereqs=$(printf '%s' "$lazy_prereqs" | sed "s/ $1 / /")
		mkdir -p "$TRASH/.prereq-$1"
		# the script is shell text: eval it, not the variable's words
		if (cd "$TRASH/.prereq-$1" && eval "eval \"\$lazy_script_$1\"") >/dev/null 2>&1; then
			test_set_prereq "$1"
			return 0
		fi
		;;
	esac
	return 1
}

# test_have_prereq LIST: every prerequisite of LIST holds; the ones that
# do not are left in $missing_prereq.
test_have_prereq() {
	missing_prereq=
	old_ifs=$IFS
	IFS=,
	set -- $1
	IFS=$old_ifs
	for p in "$@"; do
		case "$p" in
		!*)
			if test_have_one_prereq_ "${p#!}"; then
				missing_prereq="${missing_prereq:+$missing_prereq,}$p"
			fi
			;;
		*)
			if ! test_have_one_prereq_ "$p"; then
				missing_prereq="${missing_prereq:+$missing_prereq,}$p"
			fi
			;;
		esac
	done
	test -z "$missing_prereq"
}

# test_when_finished 'commands': run after the current test, pass or
# fail (the body runs in a subshell, so the commands go through a file).
test_when_finished() {
	printf '%s\n' "$*" >>"$TRASH/.when-finished"
}

test_run_when_finished_() {
	if test -f "$TRASH/.when-finished"; then
		(cd "$TRASH" && . "$TRASH/.when-finished") >>"$TRASH/.out" 2>&1 || {
			echo "test_when_finished failed" >>"$TRASH/.out"
			rm -f "$TRASH/.when-finished"
			return 1
		}
		rm -f "$TRASH/.when-finished"
	fi
	return 0
}

# test_expect_success [PREREQS] TITLE BODY
test_expect_success() {
	if [ $# -eq 3 ]; then
		prereq=$1
		shift
	else
		prereq=
	fi
	if [ -n "$prereq" ] && ! test_have_prereq "$prereq"; then
		test_skip "$1" "missing $missing_prereq"
		return 0
	fi
	test_count=$((test_count + 1))
	rm -f "$TRASH/.when-finished"
	if (eval "$2") >"$TRASH/.out" 2>&1 && test_run_when_finished_; then
		printf 'ok %d - %s\n' "$test_count" "$1"
	else
		test_run_when_finished_ || :
		test_failed=$((test_failed + 1))
		printf 'not ok %d - %s\n' "$test_count" "$1"
		sed 's/^/#   /' "$TRASH/.out" | head -n 40
		if [ -n "${QP_TEST_IMMEDIATE:-}" ]; then
			say "QP_TEST_IMMEDIATE: stopping at the first failure"
			test_done
			exit 1
		fi
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

# test_must_be_empty FILE: FILE exists and is empty (shows it if not).
test_must_be_empty() {
	if ! test -f "$1"; then
		echo "'$1' is missing" >&2
		return 1
	fi
	if test -s "$1"; then
		echo "'$1' is not empty:" >&2
		cat "$1" >&2
		return 1
	fi
}

test_have_fixtures() {
	[ -f "$FIXTURES/README.txt" ]
}

test_have_fixtures && test_set_prereq FIXTURES
test -x "$LLAMA_BIN/llama-quantize" && test_set_prereq LLAMA
command -v python3 >/dev/null 2>&1 && test_set_prereq PYTHON

test_done() {
	printf '1..%d\n' "$test_count"
	[ "$test_failed" -eq 0 ]
}
