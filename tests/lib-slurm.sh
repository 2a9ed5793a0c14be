# tests/lib-slurm.sh — a single-node Slurm cluster on localhost for tests.
#
# slurm_start DIR starts munged, slurmctld and slurmd as root with a minimal
# slurm.conf under DIR (its own munge key and socket, its own ports, nothing
# in /etc touched) and waits until the node is idle; slurm_stop DIR stops
# exactly the daemons it started, by their pid files.  SLURM_CONF is
# exported so sbatch, squeue and scontrol talk to this cluster only.
# slurm_why says why the last slurm_start failed (for the skip or the
# failure message).

slurm_why=

slurm_can_start() {
	for p in munged slurmctld slurmd sbatch squeue sinfo; do
		command -v "$p" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "$p" >/dev/null 2>&1 || {
			slurm_why="$p not installed (make deps installs slurm-wlm and munge)"
			return 1
		}
	done
	if [ "$(id -u)" -ne 0 ]; then
		slurm_why="the test cluster's daemons run as root"
		return 1
	fi
	return 0
}

slurm_start() {
	d=$1
	PATH=$PATH:/usr/sbin
	mkdir -p "$d/munge" "$d/spool/ctld" "$d/spool/d" "$d/log" &&
	chmod 700 "$d" "$d/munge" &&
	head -c 1024 /dev/urandom >"$d/munge/munge.key" &&
	chmod 400 "$d/munge/munge.key" || { slurm_why="cannot prepare $d"; return 1; }
	munged --key-file="$d/munge/munge.key" --socket="$d/munge/sock" \
		--pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" \
		--seed-file="$d/munge/seed" -f 2>"$d/log/munged.err" || {
		slurm_why="munged did not start: $(tail -n 1 "$d/log/munged.err")"
		return 1
	}
	host=$(hostname -s)
	# Ports in the dynamic range, from the folder name, so two runs on one
	# machine do not collide.
	base=$(( 20000 + $(printf '%s' "$d" | cksum | cut -d' ' -f1) % 20000 ))
	cat >"$d/slurm.conf" <<CONF
ClusterName=qptest
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$d/munge/sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$base
SlurmdPort=$((base + 1))
StateSaveLocation=$d/spool/ctld
SlurmdSpoolDir=$d/spool/d
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=qp Nodes=$host Default=YES MaxTime=60 State=UP
CONF
	SLURM_CONF=$d/slurm.conf
	export SLURM_CONF
	slurmctld -f "$d/slurm.conf" 2>"$d/log/slurmctld.err" || {
		slurm_why="slurmctld did not start: $(tail -n 1 "$d/log/slurmctld.err")"
		return 1
	}
	slurmd -f "$d/slurm.conf" 2>"$d/log/slurmd.err" || {
		slurm_why="slurmd did not start: $(tail -n 1 "$d/log/slurmd.err")"
		return 1
	}
	i=0
	while [ $i -lt 60 ]; do
		state=$(sinfo -h -o %T 2>/dev/null)
		case "$state" in idle*) return 0 ;; esac
		sleep 0.5
		i=$((i + 1))
	done
	slurm_why="the node never became idle (state '$state'): $(tail -n 2 "$d/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"
	return 1
}

# slurm_wait JOBID SECONDS: until the job (and its array tasks) left the
# queue; fails on timeout.
slurm_wait() {
	i=0
	while [ $i -lt $(($2 * 2)) ]; do
		[ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
		sleep 0.5
		i=$((i + 1))
	done
	echo "slurm_wait: job $1 still queued after $2 s:" >&2
	squeue >&2
	return 1
}

# A daemon that exited but was not reaped (a zombie) counts as gone.
slurm_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) //' "/proc/$1/stat" | cut -c1)
	[ "$state" != Z ]
}

slurm_stop() {
	d=$1
	for p in "$d/slurmd.pid" "$d/slurmctld.pid" "$d/munge/munged.pid"; do
		[ -f "$p" ] || continue
		pid=$(cat "$p")
		kill "$pid" 2>/dev/null
		i=0
		while slurm_alive "$pid" && [ $i -lt 20 ]; do
			sleep 0.25
			i=$((i + 1))
		done
		kill -9 "$pid" 2>/dev/null
	done
	return 0
}
