#!/bin/sh
test_description='error lines: every program names the bad file exactly once, record errors have the shape prog: FILE: record N (byte offset X): what'
. "$(dirname "$0")/lib.sh"

# expect_error_line STDERR PROG FILE [REGEX]: one line, "PROG: FILE: ...",
# FILE nowhere else in it, and the rest matching REGEX (extended) if given.
expect_error_line() {
	test_one_error_line "$1" || return 1
	line=$(cat "$1")
	case "$line" in
	"$2: $3: "*) ;;
	*) echo "want '$2: $3: ...', got: $line" >&2; return 1 ;;
	esac
	n=$(grep -o -F -- "$3" "$1" | wc -l)
	[ "$n" -eq 1 ] || { echo "'$3' appears $n times: $line" >&2; return 1; }
	[ $# -lt 4 ] || echo "${line#"$2: $3: "}" | grep -E -q -- "$4" ||
		{ echo "the rest does not match /$4/: $line" >&2; return 1; }
}

RECORD='^record [0-9]+ \(byte offset [0-9]+\): [^ ]'

test_expect_success 'setup: a model, its records, bad files' '
	gguf-synth -o m.gguf && gguf-dump m.gguf >m.mp &&
	printf "" >bad-empty &&
	printf "garbage that is not msgpack\n" >bad-garbage &&
	head -c 3000 m.mp >bad-truncated.mp &&
	head -c 700 m.gguf >bad-truncated.gguf &&
	mkdir bad-dir &&
	rec-show m.mp | sed "s/\"model\":\"m.gguf\",//" | rec-show --from-json >bad-nomodel.mp &&
	rec-show m.mp | sed "s/\"path\":\"m.gguf\"/\"path\":\"gone.gguf\"/" | rec-show --from-json >bad-datapath.mp
'

for prog in rec-show qerr-measure sens-score; do
	test_expect_success "$prog: a stream that is not msgpack" "
		test_must_fail 1 $prog bad-garbage >/dev/null 2>err &&
		expect_error_line err $prog bad-garbage '$RECORD' &&
		grep -q 'record 1 (byte offset 0): not a msgpack map' err
	"
	test_expect_success "$prog: a truncated stream" "
		test_must_fail 1 $prog bad-truncated.mp >/dev/null 2>err &&
		expect_error_line err $prog bad-truncated.mp '$RECORD' &&
		grep -q truncated err
	"
	test_expect_success "$prog: a missing file" "
		test_must_fail 1 $prog bad-missing >/dev/null 2>err &&
		expect_error_line err $prog bad-missing
	"
	test_expect_success "$prog: a directory" "
		test_must_fail 1 $prog bad-dir >/dev/null 2>err &&
		expect_error_line err $prog bad-dir
	"
	test_expect_success "$prog: an output file that cannot be created" "
		test_must_fail 1 $prog -o bad-dir/no/out m.mp >/dev/null 2>err &&
		expect_error_line err $prog bad-dir/no/out
	"
done

for prog in qerr-measure sens-score; do
	test_expect_success "$prog: a tensor record pointing at a missing file" "
		test_must_fail 1 $prog bad-datapath.mp >/dev/null 2>err &&
		expect_error_line err $prog bad-datapath.mp '$RECORD' &&
		grep -q \"tensor '.*': gone.gguf: cannot open\" err
	"
	for im in bad-empty bad-garbage bad-missing bad-dir bad-truncated.gguf; do
		test_expect_success "$prog: -m $im" "
			test_must_fail 1 $prog -m $im m.mp >/dev/null 2>err &&
			expect_error_line err $prog $im
		"
	done
done

test_expect_success 'sens-score: a tensor record without its model field' "
	test_must_fail 1 sens-score bad-nomodel.mp >/dev/null 2>err &&
	expect_error_line err sens-score bad-nomodel.mp '$RECORD' &&
	grep -q 'field \"model\" is missing' err
"

for f in bad-empty bad-garbage bad-missing bad-dir bad-truncated.gguf; do
	test_expect_success "gguf-dump: $f" "
		test_must_fail 1 gguf-dump $f >/dev/null 2>err &&
		expect_error_line err gguf-dump $f
	"
done

test_expect_success 'gguf-dump: an output file that cannot be created' '
	test_must_fail 1 gguf-dump -o bad-dir/no/out m.gguf 2>err &&
	expect_error_line err gguf-dump bad-dir/no/out
'

test_expect_success 'gguf-synth: an output file that cannot be created' '
	test_must_fail 1 gguf-synth -o bad-dir/no/out.gguf 2>err &&
	expect_error_line err gguf-synth bad-dir/no/out.gguf
'

test_expect_success 'rec-show --from-json: a line that is not JSON' '
	test_must_fail 1 rec-show --from-json bad-garbage >/dev/null 2>err &&
	expect_error_line err rec-show bad-garbage "^line 1: invalid JSON"
'

test_done
