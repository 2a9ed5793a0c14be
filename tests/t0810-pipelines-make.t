#!/bin/sh
test_description='pipelines/quantpipe.mk: the job as Make rules (resume, rebuild on change, -j)'
. "$(dirname "$0")/lib.sh"

mk=$QP_TOP/pipelines/quantpipe.mk
qpmake() { make --no-print-directory -f "$mk" QP_BIN="$QP_BIN" "$@"; }
# mtime in nanoseconds: tells a rebuilt file from a kept one
stamp() { stat -c %.9Y "$1"; }

test_expect_success 'a synthetic checkpoint' '
	gguf-synth -o tiny.gguf
'

test_expect_success 'dump, sens and qerr are built in a chain, each with one log line' '
	qpmake MODEL=tiny.gguf TYPES=Q4_K,Q8_0 qp-qerr >log &&
	test -s qp-out/tiny.dump.mp && test -s qp-out/tiny.sens.mp && test -s qp-out/tiny.qerr.mp &&
	grep -c "^quantpipe: qp-out/tiny" log >n && echo 3 >expect && test_cmp expect n &&
	gguf-dump tiny.gguf | sens-score -q | qerr-measure -q -t Q4_K,Q8_0 >direct.mp &&
	rec-show -k tensor direct.mp >expect && rec-show -k tensor qp-out/tiny.qerr.mp >actual &&
	test_cmp expect actual
'

test_expect_success 'a second make does nothing' '
	before=$(stamp qp-out/tiny.qerr.mp) &&
	qpmake MODEL=tiny.gguf TYPES=Q4_K,Q8_0 qp-qerr >log &&
	! grep "^quantpipe:" log && test "$(stamp qp-out/tiny.qerr.mp)" = "$before"
'

test_expect_success 'changing TYPES rebuilds qerr and nothing before it' '
	dump=$(stamp qp-out/tiny.dump.mp) && sens=$(stamp qp-out/tiny.sens.mp) &&
	qerr=$(stamp qp-out/tiny.qerr.mp) &&
	qpmake MODEL=tiny.gguf TYPES=Q4_K,Q6_K qp-qerr >log &&
	test "$(stamp qp-out/tiny.dump.mp)" = "$dump" && test "$(stamp qp-out/tiny.sens.mp)" = "$sens" &&
	test "$(stamp qp-out/tiny.qerr.mp)" != "$qerr" &&
	rec-show --tsv -H -f qerr.Q6_K.as qp-out/tiny.qerr.mp | grep -q Q6_K
'

test_expect_success 'a newer model rebuilds everything' '
	sleep 0.01 && touch tiny.gguf && qpmake MODEL=tiny.gguf TYPES=Q4_K,Q6_K qp-qerr >log &&
	grep -c "^quantpipe:" log >n && echo 3 >expect && test_cmp expect n
'

# A qerr-measure that is slow enough to be interrupted: it reads its input
# through a pipe that stays open until it is killed.
mkdir slow && for p in "$QP_BIN"/*; do ln -s "$p" slow/; done && rm slow/qerr-measure
cat >slow/qerr-measure <<'EOF'
#!/bin/sh
: >"$QP_SLOW_STARTED"
n=$#; i=0
for a; do
	i=$((i + 1)); shift
	if [ $i -eq $n ]; then in=$a; else set -- "$@" "$a"; fi
done
{ cat "$in"; sleep 60; } | "$QP_REAL_BIN/qerr-measure" "$@" -
EOF
chmod +x slow/qerr-measure
QP_SLOW_STARTED=$TRASH/qerr-started QP_REAL_BIN=$QP_BIN
export QP_SLOW_STARTED QP_REAL_BIN

test_expect_success 'a make -j killed mid-step (SIGTERM) leaves nothing half-written and resumes' '
	rm -rf qp-out && (setsid make --no-print-directory -j2 -f "$mk" QP_BIN="$PWD/slow" \
		MODEL=tiny.gguf TYPES=Q4_K,Q8_0 qp-qerr >log 2>&1 & echo $! >pid) &&
	i=0 && while [ ! -e qerr-started ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done &&
	test -e qerr-started && i=0 &&
	while ! { ls -a qp-out >during && grep -q "tiny.qerr.mp.tmp" during; } && [ $i -lt 200 ]; do
		sleep 0.1; i=$((i + 1)); done &&
	grep -q "tiny.qerr.mp.tmp" during &&
	kill -TERM -$(cat pid) && i=0 &&
	while kill -0 $(cat pid) 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done &&
	! kill -0 $(cat pid) 2>/dev/null &&
	ls -a qp-out >left && ! grep -q "tiny.qerr" left &&
	sens=$(stamp qp-out/tiny.sens.mp) &&
	qpmake MODEL=tiny.gguf TYPES=Q4_K,Q8_0 qp-qerr >log &&
	test "$(stamp qp-out/tiny.sens.mp)" = "$sens" &&
	rec-show -k tensor qp-out/tiny.qerr.mp >actual &&
	qpmake QP_OUT=again MODEL=tiny.gguf TYPES=Q4_K,Q8_0 qp-qerr >log &&
	rec-show -k tensor again/tiny.qerr.mp >expect && test_cmp expect actual
'

test_expect_success 'a failing step leaves no output and make fails' '
	test_must_fail qpmake QP_OUT=bad MODEL=tiny.gguf TYPES=Q4_K,NOPE qp-qerr >log 2>&1 &&
	grep "NOPE" log && test -e bad/tiny.sens.mp && ! test -e bad/tiny.qerr.mp &&
	! ls bad | grep -q tmp
'

test_expect_success 'make -j2 writes the same bytes as make -j1' '
	mkdir j1 j2 &&
	(cd j1 && qpmake -j1 MODEL=../tiny.gguf TYPES=Q4_K,Q8_0 qp-qerr >/dev/null) &&
	(cd j2 && qpmake -j2 MODEL=../tiny.gguf TYPES=Q4_K,Q8_0 qp-qerr >/dev/null) &&
	for f in dump sens qerr; do cmp j1/qp-out/tiny.$f.mp j2/qp-out/tiny.$f.mp || return 1; done
'

test_expect_success 'the whole job: fit, a recipe per budget, its tensor-type file and picture' '
	qpmake QP_OUT=all MODEL=tiny.gguf TYPES=Q3_K,Q4_K,Q6_K BUDGETS="4.5 3GiB" qp-all >log &&
	for f in fit.mp 4.5.recipe.mp 4.5.recipe 4.5.tensor-types 4.5.svg 3GiB.recipe.mp frontier.mp compare.mp; do
		test -s all/tiny.$f || { echo "missing all/tiny.$f"; return 1; }
	done &&
	rec-show --tsv -H -k recipe -f budget.bpw all/tiny.4.5.recipe.mp >bpw && echo 4.5 >expect && test_cmp expect bpw &&
	rec-show --tsv -H -k recipe -f budget.bytes all/tiny.3GiB.recipe.mp >bytes &&
	echo 3221225472 >expect && test_cmp expect bytes &&
	head -n 1 all/tiny.4.5.recipe | grep -q "^# quantpipe recipe 1" &&
	grep -q "=q[0-9]_k$" all/tiny.4.5.tensor-types &&
	grep -q "<svg" all/tiny.4.5.svg
'

test_expect_success 'changing RUNS refits and re-plans, and measures nothing again' '
	qerr=$(stamp all/tiny.qerr.mp) && fit=$(stamp all/tiny.fit.mp) &&
	rec-show -k model all/tiny.dump.mp >/dev/null &&
	printf "%s\n" "{\"kind\":\"meta\",\"schema\":1,\"tool\":\"hand\",\"version\":\"1\",\"argv\":[]}" >runs.json &&
	rec-show --from-json -o runs.mp runs.json &&
	qpmake QP_OUT=all MODEL=tiny.gguf TYPES=Q3_K,Q4_K,Q6_K BUDGETS="4.5 3GiB" RUNS=runs.mp qp-all >log &&
	test "$(stamp all/tiny.qerr.mp)" = "$qerr" && test "$(stamp all/tiny.fit.mp)" != "$fit" &&
	grep -q "quantpipe: all/tiny.4.5.recipe.mp" log
'

test_expect_success 'sweep.mk: the job over two checkpoints and one table comparing them' '
	gguf-synth --seed 2 -o other.gguf &&
	make --no-print-directory -j2 -f "$QP_TOP/pipelines/sweep.mk" QP_BIN="$QP_BIN" \
		CHECKPOINTS="tiny.gguf other.gguf" TYPES=Q3_K,Q4_K,Q6_K BUDGETS=4.5 QP_COMPARE= >log &&
	cut -f1,2,4 sweep-out/sweep.tsv >actual &&
	size=$(wc -c <tiny.gguf) &&
	r1=$(rec-show --tsv -H -k recipe -f n_bytes sweep-out/tiny/tiny.4.5.recipe.mp) &&
	r2=$(rec-show --tsv -H -k recipe -f n_bytes sweep-out/other/other.4.5.recipe.mp) &&
	printf "checkpoint\tn_bytes\t4.5.n_bytes\ntiny\t%s\t%s\nother\t%s\t%s\n" \
		"$(rec-show --tsv -H -k model -f n_bytes sweep-out/tiny/tiny.dump.mp)" "$r1" \
		"$(rec-show --tsv -H -k model -f n_bytes sweep-out/other/other.dump.mp)" "$r2" >expect &&
	test_cmp expect actual &&
	test "$(cut -f8 sweep-out/sweep.tsv | sed -n 2p | tr , "\n" | wc -l)" = 3
'

# xmllint and rsvg-convert come from libxml2-utils and librsvg2-bin
# (.ci/deps.sh): outside CI a missing one is left out, in CI it fails.
svg_valid() {
	for t in xmllint rsvg-convert; do
		command -v $t >/dev/null 2>&1 && continue
		[ "${CI:-}" = true ] && { echo "CI: $t missing" >&2; return 1; }
	done
	if command -v xmllint >/dev/null 2>&1; then xmllint --noout "$1" || return 1; fi
	if command -v rsvg-convert >/dev/null 2>&1; then rsvg-convert "$1" -o "$1.png" && test -s "$1.png" || return 1; fi
}

test_expect_success 'sweep.mk: the same comparison as one valid SVG naming every checkpoint and prediction' '
	test -s sweep-out/sweep.svg && svg_valid sweep-out/sweep.svg &&
	test $(grep -c "<svg" sweep-out/sweep.svg) = 1 &&
	for n in tiny other; do
		grep -q ">$n.gguf<" sweep-out/sweep.svg || { echo "no $n in the SVG"; return 1; }
		set -- $(rec-show --tsv -H -k recipe -f pred.value,pred.lo,pred.hi sweep-out/$n/$n.4.5.recipe.mp) &&
		cell=$(awk -v v=$1 -v lo=$2 -v hi=$3 "BEGIN { printf \"%.4g [%.4g, %.4g]\", v, lo, hi }") &&
		grep -qF ">$cell, " sweep-out/sweep.svg || { echo "no \"$cell\" for $n"; return 1; }
		top=$(sed -n "/^$n	/p" sweep-out/sweep.tsv | cut -f8 | sed "s/,/, /g") &&
		grep -q ">$top<" sweep-out/sweep.svg || { echo "no \"$top\" for $n"; return 1; }
	done
'

sweep() {
	make --no-print-directory -j2 -f "$QP_TOP/pipelines/sweep.mk" QP_BIN="$QP_BIN" \
		CHECKPOINTS="tiny.gguf other.gguf" TYPES=Q3_K,Q4_K,Q6_K QP_COMPARE= "$@"
}

test_expect_success 'sweep.mk: nothing changed, neither table is rewritten' '
	svg=$(stamp sweep-out/sweep.svg) && tsv=$(stamp sweep-out/sweep.tsv) &&
	sweep BUDGETS=4.5 >log &&
	! grep "^quantpipe:" log &&
	test "$(stamp sweep-out/sweep.svg)" = "$svg" && test "$(stamp sweep-out/sweep.tsv)" = "$tsv"
'

test_expect_success 'sweep.mk: a changed checkpoint redraws the picture with its new figures' '
	cp sweep-out/sweep.svg before.svg &&
	gguf-synth --seed 3 -o other.gguf && sweep BUDGETS=4.5 >log &&
	grep -q "^quantpipe: sweep-out/sweep.svg" log && ! cmp -s before.svg sweep-out/sweep.svg &&
	set -- $(rec-show --tsv -H -k recipe -f pred.value,pred.lo,pred.hi sweep-out/other/other.4.5.recipe.mp) &&
	cell=$(awk -v v=$1 -v lo=$2 -v hi=$3 "BEGIN { printf \"%.4g [%.4g, %.4g]\", v, lo, hi }") &&
	grep -qF ">$cell, " sweep-out/sweep.svg && svg_valid sweep-out/sweep.svg
'

test_expect_success 'sweep.mk: another budget list redraws both tables, a column per budget' '
	sweep BUDGETS="4.5 3.5" >log &&
	grep -q "^quantpipe: sweep-out/sweep.svg" log && grep -q "^quantpipe: sweep-out/sweep.tsv" log &&
	grep -q ">3.5 bpw: pred" sweep-out/sweep.svg && grep -q ">4.5 bpw: pred" sweep-out/sweep.svg &&
	head -n 1 sweep-out/sweep.tsv | grep -q "3.5.pred" &&
	sweep BUDGETS=4.5 >log && ! grep -q "3.5 bpw" sweep-out/sweep.svg
'

test_expect_success 'without MODEL the fragment says what to set' '
	test_must_fail qpmake qp-qerr 2>err && grep "set MODEL=" err
'

test_done
