#!/usr/bin/env bash
# Cluster benchmarks with the simulator (prints markdown tables; not part of the test suite).
#
#   scripts/bench-cluster.sh [AGENTS=10000] [TASKS_PER_AGENT=10] [FRAMEWORKS=100] [WHICH=both|ours|genuine]
#
# For each master (ours, then the genuine Mesos 1.11 master of ../shared/interop/native when
# present), in one run:
#   - a real ZooKeeper (Debian's package) on a free loopback port; two masters contend in it
#     (ours: --zk --registry=replicated_log --quorum=1; genuine: run-local-cluster.sh with
#     MESOS_ZK, the genuine ZooKeeperMasterContender); the first one started leads;
#   - mesos-simulator --master=zk://… with AGENTS agents and FRAMEWORKS frameworks launching
#     AGENTS x TASKS_PER_AGENT long tasks (exactly TASKS_PER_AGENT per agent); the agents have
#     room for more, and frameworks decline with a 5 s filter, so offers keep flowing;
#   - (b) allocator/mesos/allocation_run_ms from the leader's /metrics/snapshot, 15 s after
#     every task runs;
#   - (c) GET /master/state latency (SAMPLES sequential requests; p50/p99) and the leader's
#     RSS (VmRSS) at that point;
#   - (a) kill -9 of the leader; the simulator reports the time from its detection of the
#     new leader (so the ZooKeeper session timeout before it is excluded) to the last agent
#     re-registered and to the last framework re-subscribed.
# Environment: READY_TIMEOUT (s, default 1800), SAMPLES (default 20), ZK_SESSION (default 10secs, as Mesos),
# SETTLE (s after READY before measuring, default 15), OURS_REGISTRY (our masters' --registry,
# default replicated_log: the registry in ZooKeeper; in_memory matches the genuine pair here,
# whose masters share no registry), KEEP=1 (keep the work dir with every log).
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS="${1:-10000}"
TPA="${2:-10}"
FRAMEWORKS="${3:-100}"
WHICH="${4:-both}"
TASKS=$((AGENTS * TPA))
TPF=$((TASKS / FRAMEWORKS))
READY_TIMEOUT="${READY_TIMEOUT:-1800}"
SAMPLES="${SAMPLES:-20}"
ZK_SESSION="${ZK_SESSION:-10secs}"
SETTLE="${SETTLE:-15}"
OURS_REGISTRY="${OURS_REGISTRY:-replicated_log}"
native="$(pwd)/../shared/interop/native"
ZK_JAR=/usr/share/java/zookeeper.jar
work=$(mktemp -d /tmp/bench-cluster-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # The ZooKeeper data and the masters' logs reach gigabytes at 10,000 agents.
  if [ "${KEEP:-0}" = 1 ]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
  return 0
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

[ "$((TPF * FRAMEWORKS))" -eq "$TASKS" ] || { echo "AGENTS x TASKS_PER_AGENT must be a multiple of FRAMEWORKS" >&2; exit 2; }
[ -f "$ZK_JAR" ] || { echo "ZooKeeper not installed ($ZK_JAR; apt-get install zookeeper)" >&2; exit 1; }

echo "==> building release binaries"
cargo build --release -q -p mesos-master -p mesos-simulator
bin=$(pwd)/target/release
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
ruok() { python3 - "$1" <<'EOF'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1); s.sendall(b"ruok"); s.settimeout(1)
    sys.exit(0 if s.recv(4) == b"imok" else 1)
except Exception:
    sys.exit(1)
EOF
}
json_get() { # port path key... -> values (or "-") from a JSON object endpoint
  { curl -s --max-time 300 "http://127.0.0.1:$1$2" || true; } | python3 -c '
import json, sys
try: v = json.load(sys.stdin)
except Exception: v = {}
print(" ".join(("%.1f" % v[k]) if isinstance(v.get(k), (int, float)) else "-" for k in sys.argv[1:]))' "${@:3}"
}
wait_line() { # file pattern timeout_s [pid] -> the first matching line; fails early if pid exits
  local deadline=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if grep -q "$2" "$1" 2>/dev/null; then grep -m1 "$2" "$1"; return 0; fi
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "-"; }

echo "==> ZooKeeper"
zk_port=$(free_port)
mkdir -p "$work/zk/data"
cat > "$work/zk/zoo.cfg" <<EOF
tickTime=200
dataDir=$work/zk/data
clientPort=$zk_port
clientPortAddress=127.0.0.1
maxSessionTimeout=60000
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok
EOF
java -Xmx1g -cp "$ZK_JAR" org.apache.zookeeper.server.ZooKeeperServerMain "$work/zk/zoo.cfg" > "$work/zk/log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do ruok "$zk_port" && break; sleep 0.1; done
ruok "$zk_port" || { echo "ZooKeeper did not start" >&2; tail -20 "$work/zk/log" >&2; exit 1; }

started_pid=
start_master() { # kind port zk_url -> sets started_pid (not in a subshell: pids must be kept)
  local kind=$1 port=$2 zk=$3 dir="$work/$1-$2"
  mkdir -p "$dir/work"
  if [ "$kind" = ours ]; then
    "$bin/mesos-master" --port="$port" --zk="$zk" --quorum=1 --registry="$OURS_REGISTRY" \
      --work_dir="$dir/work" --zk_session_timeout="$ZK_SESSION" > "$dir/out" 2> "$dir/err" &
  else
    MESOS_ZK="$zk" MESOS_QUORUM=1 MESOS_ZK_SESSION_TIMEOUT="$ZK_SESSION" MESOS_WORK_DIR="$dir/work" \
      bash "$native/run-local-cluster.sh" "$port" 0 7200 > "$dir/out" 2> "$dir/err" &
  fi
  started_pid=$!
  pids+=("$started_pid")
}
wait_leading() { # port: ours reports master/elected 1; genuine serves (always elected)
  for _ in $(seq 1 600); do
    [ "$(json_get "$1" /metrics/snapshot master/elected)" = "1.0" ] && return 0
    sleep 0.1
  done
  return 1
}

declare -A R
run_case() {
  local kind=$1 zk="zk://127.0.0.1:$zk_port/bench-$1"
  echo "==> $kind: two masters in ZooKeeper, $AGENTS simulated agents, $FRAMEWORKS frameworks, $TASKS tasks"
  local p1 p2 m1 m2
  p1=$(free_port); p2=$(free_port)
  start_master "$kind" "$p1" "$zk"; m1=$started_pid
  wait_leading "$p1" || { echo "$kind master on $p1 did not lead" >&2; tail -20 "$work/$kind-$p1/err" >&2; return 1; }
  start_master "$kind" "$p2" "$zk"; m2=$started_pid
  sleep 2
  local log="$work/$kind-sim.out"
  "$bin/mesos-simulator" --master="$zk" --agents="$AGENTS" --frameworks="$FRAMEWORKS" \
    --tasks_per_framework="$TPF" --tasks_per_agent="$TPA" \
    --agent_resources='cpus:4;mem:4096;disk:100000;ports:[31000-32000]' \
    --task_cpus=0.1 --task_mem=32 --refuse_seconds=5 --registration_rate=2000 \
    --progress_interval=10 --exit_after_failover > "$log" 2> "$work/$kind-sim.err" &
  local sim=$!
  pids+=("$sim")
  local ready
  if ready=$(wait_line "$log" '^READY' "$READY_TIMEOUT" "$sim"); then
    echo "$ready"
    R[$kind,ready]="$(sed -n 's/.*after=\([0-9.]*\)s.*/\1/p' <<< "$ready") s"
  else
    kill -0 "$sim" 2>/dev/null || { echo "$kind: the simulator exited" >&2; tail -5 "$work/$kind-sim.err" >&2; return 1; }
    # Measure what is there: the table says how far the fill got.
    local last
    last=$(grep '^progress' "$log" | tail -1)
    echo "$kind: not ready after ${READY_TIMEOUT}s: $last" >&2
    R[$kind,ready]="not all in ${READY_TIMEOUT} s: $(sed -n 's/.*agents registered \([0-9]*\).*running \([0-9]*\) finished.*/\1 agents, \2 tasks running/p' <<< "$last")"
  fi
  sleep "$SETTLE"
  R[$kind,alloc]=$(json_get "$p1" /metrics/snapshot allocator/mesos/allocation_run_ms/p50 \
    allocator/mesos/allocation_run_ms/p99 allocator/mesos/allocation_run_ms/max allocator/mesos/allocation_run_ms/count)
  local lat=()
  for _ in $(seq 1 "$SAMPLES"); do
    lat+=("$(curl -s -o "$work/state.json" -w '%{time_total}' --max-time 300 "http://127.0.0.1:$p1/master/state" || echo 300)")
  done
  R[$kind,state]=$(printf '%s\n' "${lat[@]}" | sort -g | awk '{a[NR]=$1*1000} END {
    i=int(NR*0.99+0.5); if (i<1) i=1; if (i>NR) i=NR; printf "%.0f / %.0f", a[int((NR+1)/2)], a[i]}')
  R[$kind,size]=$(awk -v b="$(stat -c %s "$work/state.json")" 'BEGIN{printf "%.1f", b/1048576}')
  R[$kind,rss]=$(rss_mb "$m1")
  R[$kind,offers]=$(grep '^progress' "$log" | tail -1 | sed -n 's/.*offers \([0-9]*\).*/\1/p')
  echo "$kind: allocation_run_ms p50/p99/max/count ${R[$kind,alloc]}; /master/state p50/p99 ${R[$kind,state]} ms (${R[$kind,size]} MB); RSS ${R[$kind,rss]} MB"
  local killed
  killed=$(now)
  kill -9 "$m1"
  local fo
  if fo=$(wait_line "$log" '^FAILOVER' 900 "$sim"); then
    echo "$fo"
    R[$kind,fo_agents]=$(sed -n 's/.*agents_ms=\([0-9.]*\).*/\1/p' <<< "$fo")
    R[$kind,fo_fw]=$(sed -n 's/.*frameworks_ms=\([0-9.]*\).*/\1/p' <<< "$fo")
    R[$kind,fo_tasks]=$(sed -n 's/.*tasks_running=\([0-9]*\).*/\1/p' <<< "$fo")
    R[$kind,fo_wall]=$(awk -v a="$killed" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
    # The new leader's view: tasks RUNNING there once every agent is back.
    R[$kind,fo_state]=$({ curl -s --max-time 300 "http://127.0.0.1:$p2/master/state" || true; } | python3 -c '
import json, sys
try:
    v = json.load(sys.stdin)
    print(sum(1 for f in v.get("frameworks", []) for t in f.get("tasks", []) if t.get("state") == "TASK_RUNNING"))
except Exception as e:
    print("-")')
  else
    R[$kind,fo_agents]="no failover in 900 s ($(tail -1 "$log" | cut -c1-160))"
  fi
  wait "$sim" 2>/dev/null || true
  kill -9 "$m2" 2>/dev/null || true
}

run_ours=0; run_genuine=0
case "$WHICH" in both) run_ours=1; run_genuine=1;; ours) run_ours=1;; genuine) run_genuine=1;; esac
[ "$run_ours" = 1 ] && run_case ours
if [ "$run_genuine" = 1 ]; then
  if [ -d "$native" ]; then
    bash "$native/setup.sh" > "$work/setup.log" 2>&1 || { tail -20 "$work/setup.log"; exit 1; }
    run_case genuine
  else
    echo "SKIPPED genuine: ../shared/interop/native not found"
  fi
fi

kinds=()
[ "$run_ours" = 1 ] && kinds+=(ours)
[ "$run_genuine" = 1 ] && [ -d "$native" ] && kinds+=(genuine)
echo
echo "ours: --registry=$OURS_REGISTRY"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $AGENTS agents, $FRAMEWORKS frameworks, $TASKS tasks"
echo
echo "| master | all registered + $TASKS tasks running | (a) failover: agents re-registered | frameworks re-subscribed | RUNNING on the new leader | kill -9 → done (incl. ZK session $ZK_SESSION) |"
echo "|---|---|---|---|---|---|"
for k in "${kinds[@]}"; do
  echo "| $k | ${R[$k,ready]:--} | ${R[$k,fo_agents]:--} ms | ${R[$k,fo_fw]:--} ms | ${R[$k,fo_state]:--} | ${R[$k,fo_wall]:--} s |"
done
echo
echo "| master | (b) allocation_run_ms p50 / p99 / max (count) | (c) /master/state p50 / p99 ms ($SAMPLES requests) | state size | master RSS | offers made while measuring (total) |"
echo "|---|---|---|---|---|---|"
for k in "${kinds[@]}"; do
  read -r a50 a99 amax acount <<< "${R[$k,alloc]:-- - - -}"
  echo "| $k | $a50 / $a99 / $amax ($acount) | ${R[$k,state]:--} | ${R[$k,size]:--} MB | ${R[$k,rss]:--} MB | ${R[$k,offers]:--} |"
done
