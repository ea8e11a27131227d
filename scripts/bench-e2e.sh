#!/usr/bin/env bash
# End-to-end benchmarks (prints markdown tables; not part of the test suite).
#
#   scripts/bench-e2e.sh [TASKS=1000] [SIDE_BY_SIDE_TASKS=200] [RUNS=3]
#
# 1. Ours alone: mesos-local with 4 agents, `launch-bench` launching TASKS trivial command
#    tasks (`true`): tasks/s from first launch to last TASK_FINISHED, launch->RUNNING and
#    launch->FINISHED percentiles.
# 2. Side by side (needs ../shared/interop/native): the GENUINE Mesos 1.11 scheduler driver
#    (run-scheduler.sh) launching SIDE_BY_SIDE_TASKS `echo ok` tasks on 4 agents, every task
#    run by OUR mesos-executor, (a) on a genuine master + 4 genuine agents
#    (bench-genuine.sh, our mesos-executor in the agents' launcher dir next to the genuine
#    mesos-containerizer) and (b) on ours (mesos-local). Wall time of run-scheduler.sh,
#    median of RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS="${1:-1000}"
SBS_TASKS="${2:-200}"
RUNS="${3:-3}"
RES='cpus:8;mem:8192;disk:10000;ports:[31000-32000]'
native="$(pwd)/../shared/interop/native"
work=$(mktemp -d /tmp/mesos-rs-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  return 0
}
trap cleanup EXIT

echo "==> building release binaries"
cargo build --release -q -p mesos-local -p mesos-scheduler -p mesos-agent
bin=$(pwd)/target/release

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_local() { # port -> starts mesos-local with 4 agents, waits until it serves
  local port=$1 log="$work/local-$1"
  "$bin/mesos-local" --port="$port" --num_slaves=4 --demo_tasks=0 --resources="$RES" \
    --work_dir="$work/local-$port-work" > "$log.out" 2> "$log.err" &
  pids+=($!)
  for _ in $(seq 1 300); do grep -q "serving;" "$log.out" 2>/dev/null && return 0; sleep 0.1; done
  echo "mesos-local did not start" >&2; tail -20 "$log.err" >&2; return 1
}

echo "==> 1. ours: $TASKS tasks with launch-bench on mesos-local (4 agents, $RES)"
port=$(free_port)
start_local "$port"
"$bin/launch-bench" --master="127.0.0.1:$port" --tasks="$TASKS" | tee "$work/launch-bench.md"
kill -TERM "${pids[-1]}" 2>/dev/null || true

if [ ! -d "$native" ]; then
  echo "SKIPPED side-by-side: ../shared/interop/native not found"
  exit 0
fi
bash "$native/setup.sh" > "$work/setup.log" 2>&1 || { tail -20 "$work/setup.log"; exit 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

echo "==> 2a. genuine master + 4 genuine agents, our mesos-executor, genuine driver, $SBS_TASKS tasks x $RUNS"
launcher="$work/launcher"
mkdir -p "$launcher"
ln -sf "${MESOS_NATIVE_BUILD:-/tmp/mesos-native}/libexec/mesos-containerizer" "$launcher/mesos-containerizer"
ln -sf "$bin/mesos-executor" "$launcher/mesos-executor"
gport=$(free_port)
MESOS_LAUNCHER_DIR="$launcher" BENCH_DIR="$work/genuine" AGENT_RESOURCES="$RES" \
  bash "$native/bench-genuine.sh" "$SBS_TASKS" 4 "$RUNS" "$gport" | tee "$work/genuine.txt"
genuine_wall=$(sed -n 's/.*median wall \([0-9.]*\)s.*/\1/p' "$work/genuine.txt")

echo "==> 2b. ours (mesos-local, 4 agents), genuine driver, $SBS_TASKS tasks x $RUNS"
port=$(free_port)
start_local "$port"
walls=()
for r in $(seq 1 "$RUNS"); do
  sleep 1
  t0=$(date +%s.%N)
  NATIVE_FRAMEWORK_NAME="bench-run-$r" bash "$native/run-scheduler.sh" "127.0.0.1:$port" "$SBS_TASKS" 300 \
    > "$work/ours-$r.out" 2> "$work/ours-$r.err" || { tail -5 "$work/ours-$r.out"; exit 1; }
  t1=$(date +%s.%N)
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
  echo "ours: run $r: wall ${wall}s :: $(tail -1 "$work/ours-$r.out")"
  walls+=("$wall")
done
ours_wall=$(median "${walls[@]}")

echo
echo "| cluster (genuine driver, $SBS_TASKS tasks, 4 agents, our mesos-executor) | median wall of $RUNS runs |"
echo "|---|---|"
echo "| genuine Mesos 1.11 master + agents | ${genuine_wall}s |"
echo "| ours (mesos-local) | ${ours_wall}s |"
awk -v g="$genuine_wall" -v o="$ours_wall" 'BEGIN{ if (o > 0) printf "\nours is %.1fx faster wall-clock\n", g/o }'
exit 0
