#!/bin/sh
test_description='schema: every key the programs write is in man/quantpipe.5 (pipelines from tests/schema-pipelines.txt)'
. "$(dirname "$0")/lib.sh"

LIST=$QP_TOP/tests/schema-pipelines.txt
PAGE=$QP_TOP/man/quantpipe.5

# The keys the page documents: the words of its Cm and Qq macros.
documented_keys() {
	awk '{
		on = 0
		for (i = 1; i <= NF; i++) {
			w = $i
			if (w == "Cm" || w == "Qq" || w == ".Cm" || w == ".Qq") { on = 1; continue }
			if (w ~ /^\.?[A-Z]/) { on = 0; continue }
			if (on) { gsub(/[,;:.()]/, "", w); if (w ~ /^[a-z_][a-z_0-9]*$/) print w }
		}
	}' "$1" | sort -u
}

# The keys of a record stream (as JSON lines), except the own keys of
# the maps keyed by data.
written_keys() {
	jq -r --arg data "$2" '
		($data | split(" ")) as $d
		| paths | map(select(type == "string")) as $p
		| range(0; $p | length) as $i
		| select($i == 0 or (($d | index([$p[$i - 1]])) | not))
		| $p[$i]' "$1" | sort -u
}

if ! command -v jq >/dev/null 2>&1; then
	test_skip 'schema check' 'jq is not installed'
	test_done
	exit
fi

test_expect_success 'setup: a model and the documented keys' '
	gguf-synth -o model.gguf &&
	documented_keys "$PAGE" >documented &&
	grep -q "^n_elem$" documented && grep -q "^kind$" documented
'

DATA=$(sed -n 's/^maps-keyed-by-data: *//p' "$LIST")
MODEL=$TRASH/model.gguf
export MODEL FIXTURES

grep -v '^#' "$LIST" | grep -v '^maps-keyed-by-data:' | grep -v '^[ \t]*$' >"$TRASH/.pipelines"
while IFS= read -r line; do
	head=${line%%:*}
	cmd=${line#*:}
	name=${head%% *}
	case " $head " in
	*" fixtures "*)
		if ! test_have_fixtures; then
			test_skip "keys of $name" "no fixtures in $FIXTURES"
			continue
		fi ;;
	esac
	test_expect_success "keys of $name are documented" "
		( $cmd ) >out.mp && rec-show out.mp >out.json && test -s out.json &&
		written_keys out.json \"$DATA\" >written &&
		comm -23 written documented >missing &&
		if test -s missing; then
			echo \"written by: $cmd\" && echo \"keys missing from man/quantpipe.5:\" &&
			cat missing && false
		fi
	"
done <"$TRASH/.pipelines"

test_expect_success 'the check sees an undocumented key' '
	printf "{\"kind\":\"tensor\",\"name\":\"x\",\"qerr\":{\"Q4_K\":{\"rmse\":1,\"made_up_key\":2}}}\n" |
		rec-show --from-json | rec-show >fake.json &&
	written_keys fake.json "$DATA" >written &&
	comm -23 written documented >missing &&
	test "$(cat missing)" = made_up_key
'

test_done
