#!/usr/bin/env bash
# Bad-input suite (run by `make test` through tools/test.sh): differential
# fuzzing against the Valibot oracle, a self-test of that comparison, and the
# crash test, against the cluster the PG* variables name.
#
#   test/fuzz/run.sh                 fixed seed, 10 000 cases (FUZZ_SEED, FUZZ_N override)
#
# Then the server log ($FANFARE_TEST_DATADIR/server.log, when set) must have
# no new line saying that a backend was terminated by a signal or that the
# server reinitialised.  The last line sums every step: "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")"

if [ ! -d ../conformance/node_modules ]; then
    (cd ../conformance && npm ci --silent --no-audit --no-fund >/dev/null) || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi

SEED=${FUZZ_SEED:-20261126}
N=${FUZZ_N:-10000}
log=${FANFARE_TEST_DATADIR:+$FANFARE_TEST_DATADIR/server.log}
crash_lines() {
    if [ -n "$log" ] && [ -r "$log" ]; then
        grep -cE 'terminated by signal|was terminated by|all server processes terminated' "$log" || true
    else
        echo 0
    fi
}
before=$(crash_lines)

passed=0 failed=0 status=0
step() {
    local out rc last
    echo "== node $*"
    out=$(mktemp)
    node "$@" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    last=$(tail -n 1 "$out")
    rm -f "$out"
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
    else
        failed=$((failed + 1))
    fi
    [ "$rc" -eq 0 ] || status=1
}

step fuzz.mjs --seed "$SEED" --n "$N" --jobs 2 --list-limit 300
step fuzz.mjs --seed 7 --n 400 --inject 4 --list-limit 0
step crash.mjs --seed "$SEED" --n 600

after=$(crash_lines)
if [ -z "$log" ]; then
    echo "server log: FANFARE_TEST_DATADIR not set, log not checked (the runners still fail on a lost connection)"
elif [ "$after" -ne "$before" ]; then
    echo "server log: $((after - before)) NEW crash lines:"
    grep -E 'terminated by signal|was terminated by|all server processes terminated' "$log" | tail -n $((after - before))
    failed=$((failed + 1)); status=1
else
    echo "server log: no backend terminated by a signal, no restart"
    passed=$((passed + 1))
fi

[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit "$status"
