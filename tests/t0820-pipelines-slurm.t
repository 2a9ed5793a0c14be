#!/bin/sh
test_description='pipelines/slurm: job arrays on a real single-node Slurm cluster'
. "$(dirname "$0")/lib.sh"
. "$QP_TOP/tests/lib-slurm.sh"

# The cluster is started here and stopped at the end, whatever happens.
# In CI a cluster that cannot start is a failure; elsewhere (not root, no
# slurm-wlm) the tests skip with the reason.
slurm_dir=$TRASH/slurm
trap 'slurm_stop "$slurm_dir"; rm -rf "$TRASH"' EXIT
if slurm_can_start && slurm_start "$slurm_dir"; then
	have_slurm=1
else
	have_slurm=
	if [ "${CI:-}" = true ]; then
		test_expect_success 'a single-node Slurm cluster starts (CI must have it)' "
			echo 'cannot start Slurm: $slurm_why' >&2; false
		"
		test_done
		exit
	fi
fi

slurm_test() {
	if [ -n "$have_slurm" ]; then
		test_expect_success "$@"
	else
		test_skip "$1" "$slurm_why"
	fi
}

mk=$QP_TOP/pipelines/quantpipe.mk
slurm=$QP_TOP/pipelines/slurm

test_expect_success 'two synthetic checkpoints' '
	gguf-synth -o a.gguf && gguf-synth --seed 2 -o b.gguf
'

slurm_test 'a qerr job array over shards, merged by a dependent job, equals one run' '
	# the meta records name the programs as the job scripts run them
	"$QP_BIN/gguf-dump" -q "$PWD/a.gguf" | "$QP_BIN/qerr-measure" -q -@ 1 -t Q4_K,Q8_0 >whole.mp &&
	jobs=$(QP_BIN=$QP_BIN sh "$slurm/submit.sh" "$PWD/a.gguf" "$PWD/out" 3 Q4_K,Q8_0) &&
	set -- $jobs && test $# -eq 2 &&
	slurm_wait "$1" 120 && slurm_wait "$2" 120 &&
	ls out/qerr.shard-0-of-3.mp out/qerr.shard-1-of-3.mp out/qerr.shard-2-of-3.mp &&
	cmp whole.mp out/qerr.mp
'

slurm_test 'a failed array task stops the merge job (afterok)' '
	jobs=$(QP_BIN=$QP_BIN sh "$slurm/submit.sh" "$PWD/missing.gguf" "$PWD/bad" 2 Q4_K) &&
	set -- $jobs &&
	slurm_wait "$1" 60 &&
	i=0 &&
	while [ $i -lt 40 ] && ! squeue -h -j "$2" -o %r | grep -q DependencyNeverSatisfied; do
		sleep 0.5; i=$((i + 1))
	done &&
	squeue -h -j "$2" -o %r | grep -q DependencyNeverSatisfied &&
	grep -q "missing.gguf" bad/log/qerr-0.log &&
	! test -e bad/qerr.mp &&
	scancel "$2"
'

slurm_test 'a sweep array runs quantpipe.mk once per checkpoint of a list' '
	printf "%s\n" "# checkpoints" "$PWD/a.gguf" "" "$PWD/b.gguf" >list.txt &&
	j=$(sbatch --parsable --array=0-1 -o "$PWD/sweep-%a.log" \
		--export=ALL,QP_LIST=$PWD/list.txt,QP_OUT=$PWD/sweep,QP_MK=$mk,QP_BIN=$QP_BIN,QP_TARGET=qp-qerr,TYPES=Q4_K \
		"$slurm/sweep.sbatch") &&
	slurm_wait "${j%%;*}" 120 &&
	gguf-dump "$PWD/b.gguf" | sens-score -q | qerr-measure -q -t Q4_K >b.mp &&
	rec-show -k tensor b.mp >expect && rec-show -k tensor sweep/b/b.qerr.mp >actual &&
	test_cmp expect actual &&
	test -s sweep/a/a.qerr.mp && grep -q "quantpipe: .*a.qerr.mp" sweep-0.log
'

test_expect_success 'submit.sh refuses a shard count that is not a number' '
	test_must_fail 2 sh "$slurm/submit.sh" a.gguf out x Q4_K 2>err &&
	grep "N must be a whole number" err
'

test_done
