#!/usr/bin/env bash
# `make test`: everything, from a fresh Debian 12 machine.
#
# Installs missing packages, builds and installs the extension and the
# gateway, starts a throwaway cluster, runs the pg_regress and isolation
# suites, the conformance runner and response-schema check, the gateway's
# integration tests (with a valgrind pass), differential fuzzing with a
# fixed seed and the crash-resistance cases, the short load/fault/security
# suite, the extension's memory check (its own cluster under valgrind) and
# the benchmark's quick mode (its own cluster; no timing asserted), stops the
# cluster, and prints one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

tools/deps.sh
export PG_CONFIG=${PG_CONFIG:-$(ls -d /usr/lib/postgresql/15/bin/pg_config 2>/dev/null || command -v pg_config)}

make -s PG_CONFIG="$PG_CONFIG"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO make -s install PG_CONFIG="$PG_CONFIG" >/dev/null

# throwaway cluster, reachable by every suite through the libpq variables
work=$(mktemp -d /tmp/fanfare-test.XXXXXX)
chmod 755 "$work"
port=${FANFARE_TEST_PORT:-$((55000 + RANDOM % 5000))}
export FANFARE_FAST_CLUSTER=1
cleanup() { tools/cluster.sh stop "$work/data" || true; rm -rf "$work"; }
trap cleanup EXIT
tools/cluster.sh start "$work/data" "$port"
eval "$(tools/cluster.sh env "$work/data" "$port")"
export FANFARE_TEST_DATADIR="$work/data" FANFARE_TEST_PORT="$port"

passed=0 failed=0
suite() {
    local name=$1; shift
    echo "== $name"
    if "$@"; then passed=$((passed + 1)); echo "-- $name: ok"
    else failed=$((failed + 1)); echo "-- $name: FAILED"; fi
}

regress() {
    make -s installcheck PG_CONFIG="$PG_CONFIG" || { cat regression.diffs 2>/dev/null | head -200; cat output_iso/regression.diffs 2>/dev/null | head -200; return 1; }
}
suite "pg_regress + isolation" regress

(cd test/conformance && npm ci --silent --no-audit --no-fund >/dev/null)
# the short suites; the long ones (make fuzz, make soak) have their own targets
for name in conformance gateway fuzz reliability memcheck upgrade postgrest bench; do
    t=test/$name/run.sh
    if [ ! -x "$t" ]; then
        failed=$((failed + 1))
        echo "-- $name: FAILED ($t is missing)"
        continue
    fi
    # the memory check is slow, but CI should run it: ask for it here
    FANFARE_MEMCHECK=1 suite "$name" "$t"
done

echo
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
