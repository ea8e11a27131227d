#!/usr/bin/env bash
# Builds and runs every fuzz target for SECONDS each (default 600), then prints a table:
# target, runs, crashes. Needs `cargo install cargo-fuzz`; nightly features come from
# RUSTC_BOOTSTRAP=1, so the stable toolchain is enough. Exits non-zero if anything crashed
# or failed to build.
#
#   scripts/fuzz-all.sh          # 10 minutes per target
#   scripts/fuzz-all.sh 60       # a quick pass
set -u
SECONDS_EACH="${1:-600}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export RUSTC_BOOTSTRAP=1
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-all.XXXXXX")"

# crate directory (holding fuzz/) and its targets
TARGETS=(
  "libprocess inbound_request"
  "libprocess chunked_decoder"
  "libprocess recordio_decoder"
  "libprocess upid_parse"
  "allocator resources_parse"
  "proto json_to_proto"
)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
  exit 2
fi

status=0
rows=()
for entry in "${TARGETS[@]}"; do
  set -- $entry
  dir="$1"; target="$2"
  log="$LOGS/$target.log"
  artifacts="$ROOT/$dir/fuzz/artifacts/$target"
  mkdir -p "$artifacts" "$ROOT/$dir/fuzz/corpus/$target"
  before=$(find "$artifacts" -type f | wc -l)
  echo "== $dir/$target: building" >&2
  if ! (cd "$ROOT/$dir" && cargo fuzz build -O "$target") >"$log" 2>&1; then
    rows+=("$target|build failed|-")
    status=1
    continue
  fi
  echo "== $dir/$target: running ${SECONDS_EACH}s" >&2
  # Seeds (valid examples checked in next to the target) start the corpus off.
  seeds=()
  [ -d "$ROOT/$dir/fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  (cd "$ROOT/$dir" && cargo fuzz run -O "$target" "fuzz/corpus/$target" ${seeds[@]+"${seeds[@]}"} -- \
      -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=1) >>"$log" 2>&1
  rc=$?
  # libFuzzer's final stats line: "stat::number_of_executed_units: N".
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  if [ -z "$runs" ]; then
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  fi
  crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes="rc=$rc"
  fi
  [ "$crashes" != "0" ] && status=1
  rows+=("$target|${runs:-?}|$crashes")
done

printf '\n%-20s %14s %8s\n' target runs crashes
for row in "${rows[@]}"; do
  IFS='|' read -r t r c <<<"$row"
  printf '%-20s %14s %8s\n' "$t" "$r" "$c"
done
echo "logs: $LOGS"
exit $status
