#!/usr/bin/env bash
# Runs the leader kill -9 scenario (master/tests/zk_failover_cluster.rs: three masters with
# --zk, two agents, a framework with long tasks, a real ZooKeeper) N times, each in a fresh
# test process with a fresh ZooKeeper, and prints every iteration's failover time and a
# summary. Exits non-zero if any iteration failed.
#
#   scripts/stress-failover.sh 20     # locally
#   scripts/stress-failover.sh 3      # CI-sized
#
# Needs Debian's zookeeper package (scripts/test.sh installs it). Logs of failed iterations
# are kept under /tmp/stress-failover-<iteration>.log.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}

cargo build -q -p mesos-agent --bins || exit 1
cargo test -q -p mesos-master --test zk_failover_cluster --no-run || exit 1

passed=0
failed=0
times=()
for i in $(seq 1 "$n"); do
  log=/tmp/stress-failover-$i.log
  if cargo test -q -p mesos-master --test zk_failover_cluster -- --nocapture >"$log" 2>&1 \
      && grep -q 'failover iteration' "$log"; then
    ms=$(grep -o '[0-9]* ms from kill' "$log" | awk '{print $1}')
    times+=("$ms")
    passed=$((passed + 1))
    echo "iteration $i/$n: ok, failover ${ms} ms"
    rm -f "$log"
  else
    failed=$((failed + 1))
    echo "iteration $i/$n: FAILED (log: $log)"
    grep -m3 -A3 'panicked' "$log" || tail -5 "$log"
  fi
done

if [ ${#times[@]} -gt 0 ]; then
  stats=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1; s+=$1} END {
    printf "min %d ms, median %d ms, max %d ms, mean %d ms", a[1], a[int((NR+1)/2)], a[NR], s/NR}')
else
  stats="no successful iteration"
fi
echo "summary: $passed/$n passed, $failed failed; failover (kill -9 to agents and framework re-registered, 2 s ZooKeeper session timeout included): $stats"
[ "$failed" -eq 0 ]
