#!/usr/bin/env bash
# Bad-input suite: differential fuzzing against the Valibot oracle, a
# self-test of that comparison, and the crash test.
#
#   test/fuzz/run.sh          (make check-fuzz) fixed seed, 10 000 cases
#                             (FUZZ_SEED, FUZZ_N override)
#
# Alone, it builds and installs the tree and starts a throwaway cluster of
# its own (tools/lib.sh); with PGHOST set it uses the cluster the PG*
# variables name (tools/test.sh does).  Then the server log
# ($FANFARE_TEST_DATADIR/server.log; by default in PGHOST when PGHOST is the
# data directory) must have no new line saying that a backend was terminated
# by a signal or that the server reinitialised.  Each runner prints its own
# counts; a step passes when its runner exits 0, and the last line counts the
# steps.  One case again: node test/fuzz/fuzz.mjs --seed S --case I.
set -uo pipefail
cd "$(dirname "$0")"
# shellcheck source=../../tools/lib.sh
. ../../tools/lib.sh

suite_cluster fuzz || abort "a cluster to test against"
node_deps || abort "npm ci in test/conformance"

SEED=${FUZZ_SEED:-20261126}
N=${FUZZ_N:-10000}
log=${FANFARE_TEST_DATADIR:+$FANFARE_TEST_DATADIR/server.log}
crash_pattern='terminated by signal|was terminated by|all server processes terminated'
crash_lines() {
    if [ -n "$log" ] && [ -r "$log" ]; then
        grep -cE "$crash_pattern" "$log" || true
    else
        echo 0
    fi
}
before=$(crash_lines)

step "differential fuzzing, seed $SEED, $N cases" node fuzz.mjs --seed "$SEED" --n "$N" --jobs 2 --list-limit 300
step "self-test: injected differences are caught" node fuzz.mjs --seed 7 --n 400 --inject 4 --list-limit 0
step "crash resistance" node crash.mjs --seed "$SEED" --n 600

after=$(crash_lines)
if [ -z "$log" ]; then
    note "server log: FANFARE_TEST_DATADIR not set, log not checked (the runners still fail on a lost connection)"
elif [ "$after" -ne "$before" ]; then
    fail "server log: no backend terminated by a signal, no restart" "$((after - before)) new crash lines"
    grep -E "$crash_pattern" "$log" | tail -n $((after - before))
else
    ok "server log: no backend terminated by a signal, no restart"
fi
summary steps
