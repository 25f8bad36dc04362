#!/usr/bin/env bash
# One-node Slurm cluster for tests, run as root without systemd.
#
#   tests/cluster/slurm.sh install             apt-get slurm-wlm + munge if missing
#   tests/cluster/slurm.sh start STATE_DIR     munged + slurmctld + slurmd, wait for idle node
#   tests/cluster/slurm.sh stop  STATE_DIR     cancel jobs, stop exactly the pids we started
#   tests/cluster/slurm.sh env   STATE_DIR     print the export line for client commands
#   tests/cluster/slurm.sh kick  STATE_DIR     make requeued jobs eligible now (Slurm holds a
#                                              requeued job ~2 min: Reason=BeginTime)
#
# Everything (munge key and socket, slurm.conf, state, spool, logs, pids) lives
# under STATE_DIR; nothing in /etc is touched.  Client commands (sbatch, squeue,
# sinfo, scancel, submitit, ...) must see SLURM_CONF=STATE_DIR/slurm.conf:
#   eval "$(tests/cluster/slurm.sh env STATE_DIR)"
set -euo pipefail

die() { echo "slurm.sh: $*" >&2; exit 1; }

cmd=${1:-}
[[ -n "$cmd" ]] || die "usage: slurm.sh install | start STATE_DIR | stop STATE_DIR | env STATE_DIR | kick STATE_DIR"

need_state() {
  [[ -n "${STATE:-}" ]] || die "$cmd needs STATE_DIR"
}
STATE=${2:-}
if [[ -n "$STATE" ]]; then
  mkdir -p "$STATE"
  STATE=$(cd "$STATE" && pwd)
fi

do_install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
     && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || die "install needs root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq slurm-wlm munge >/dev/null || die "apt-get install slurm-wlm munge failed"
  command -v slurmctld >/dev/null && command -v munged >/dev/null \
    || die "slurmctld/munged still missing after install"
}

write_conf() {
  local host cpus mem_mb real_mb topo
  host=$(hostname -s)
  cpus=$(nproc --all)
  mem_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
  # a bit below the real memory, so slurmd does not drain the node
  real_mb=$(( mem_mb - mem_mb / 20 - 256 ))
  # the node's real layout as slurmd sees it (Boards/Sockets/Cores/Threads)
  topo=$(slurmd -C 2>/dev/null | head -1 | grep -o 'Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' || true)
  cat >"$STATE/slurm.conf" <<EOF
# written by tests/cluster/slurm.sh
ClusterName=testcluster
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.txt
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
JobRequeue=1
MinJobAge=30
KillWait=5
InactiveLimit=0
MessageTimeout=10
SlurmdTimeout=30
SlurmctldTimeout=30
WaitTime=0
OverTimeLimit=0
DefMemPerCPU=1024
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus $topo RealMemory=$real_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

pid_alive() {  # running and not a zombie (PID 1 in a container may not reap)
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
  [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

wait_pidfile() {  # file seconds -> echoes pid
  local f=$1 t=$2 i
  for ((i = 0; i < t * 10; i++)); do
    if [[ -s "$f" ]] && pid_alive "$(cat "$f")"; then cat "$f"; return 0; fi
    sleep 0.1
  done
  return 1
}

do_start() {
  need_state
  command -v slurmctld >/dev/null && command -v munged >/dev/null \
    || die "slurm/munge not installed (run: slurm.sh install)"
  [[ $(id -u) -eq 0 ]] || die "start needs root"
  if [[ -s "$STATE/pids" ]]; then
    local p
    for p in $(cat "$STATE/pids"); do
      pid_alive "$p" && die "cluster in $STATE already running (pid $p); run stop first"
    done
  fi
  : >"$STATE/pids"
  mkdir -p "$STATE/munge" "$STATE/ctld" "$STATE/spool" "$STATE/log"
  chmod 711 "$STATE/munge"   # munged wants o+x on the socket dir

  # munge: own key, socket, pid, log and seed, all under STATE_DIR
  if [[ ! -s "$STATE/munge/munge.key" ]]; then
    dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
  fi
  chmod 600 "$STATE/munge/munge.key"
  rm -f "$STATE/munge/munged.pid"
  munged --force \
    --key-file="$STATE/munge/munge.key" \
    --socket="$STATE/munge/munge.socket" \
    --pid-file="$STATE/munge/munged.pid" \
    --log-file="$STATE/log/munged.log" \
    --seed-file="$STATE/munge/munged.seed" \
    || die "munged failed to start (see $STATE/log/munged.log)"
  local mpid
  mpid=$(wait_pidfile "$STATE/munge/munged.pid" 10) || die "munged did not write its pid file"
  echo "$mpid" >>"$STATE/pids"

  write_conf
  export SLURM_CONF=$STATE/slurm.conf

  rm -f "$STATE/slurmctld.pid" "$STATE/slurmd.pid"
  # -i: ignore stale state from a previous run; -c: clear saved jobs
  slurmctld -c -i -f "$SLURM_CONF" || die "slurmctld failed to start (see $STATE/log/slurmctld.log)"
  local cpid
  cpid=$(wait_pidfile "$STATE/slurmctld.pid" 20) \
    || die "slurmctld did not start (see $STATE/log/slurmctld.log)"
  echo "$cpid" >>"$STATE/pids"

  slurmd -f "$SLURM_CONF" || die "slurmd failed to start (see $STATE/log/slurmd.log)"
  local dpid
  dpid=$(wait_pidfile "$STATE/slurmd.pid" 20) \
    || die "slurmd did not start (see $STATE/log/slurmd.log)"
  echo "$dpid" >>"$STATE/pids"

  local i state=""
  for ((i = 0; i < 600; i++)); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
    [[ "$state" == idle ]] && break
    sleep 0.1
  done
  if [[ "$state" != idle ]]; then
    # a node left DOWN by an earlier run: bring it back once
    scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
    for ((i = 0; i < 100; i++)); do
      state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
      [[ "$state" == idle ]] && break
      sleep 0.1
    done
  fi
  [[ "$state" == idle ]] \
    || die "node not idle after 70 s (state '${state:-none}'; see $STATE/log/)"
  echo "export SLURM_CONF=$STATE/slurm.conf"
}

do_stop() {
  need_state
  [[ -f "$STATE/pids" ]] || { echo "slurm.sh: no pid file in $STATE, nothing to stop" >&2; return 0; }
  export SLURM_CONF=$STATE/slurm.conf
  if [[ -f "$SLURM_CONF" ]]; then
    scancel --full --quiet --partition=debug >/dev/null 2>&1 || true
    # give slurmd a moment to kill job steps
    local i
    for ((i = 0; i < 100; i++)); do
      [[ -z "$(squeue -h -o %i 2>/dev/null || true)" ]] && break
      sleep 0.1
    done
  fi
  # stop in reverse order: slurmd, slurmctld, munged
  local pids p i
  pids=$(tac "$STATE/pids")
  for p in $pids; do
    pid_alive "$p" || continue
    kill -TERM "$p" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      pid_alive "$p" || break
      sleep 0.1
    done
    if pid_alive "$p"; then
      kill -KILL "$p" 2>/dev/null || true
      sleep 0.2
    fi
    pid_alive "$p" && die "pid $p did not exit"
  done
  : >"$STATE/pids"
}

case "$cmd" in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  kick)
    need_state
    export SLURM_CONF=$STATE/slurm.conf
    # Slurm holds a requeued job about 120 s (BeginTime), long enough for its last allocation to be
    # torn down: releasing it at once can start it on a node still ending that allocation, where it
    # fails. Release it once it has waited 10 s.
    now=$(date +%s)
    squeue -h -t PD -o '%i %r %S' | while read -r j reason begin; do
      [[ $reason == BeginTime ]] || continue
      begin=$(date -d "$begin" +%s 2>/dev/null) || continue
      (( begin - now <= 110 )) || continue
      scontrol update JobId="$j" StartTime=now || die "could not release job $j"
    done ;;
  env) need_state; echo "export SLURM_CONF=$STATE/slurm.conf" ;;
  *) die "unknown command '$cmd' (install | start STATE_DIR | stop STATE_DIR | env STATE_DIR | kick STATE_DIR)" ;;
esac
