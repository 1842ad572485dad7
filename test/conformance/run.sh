#!/usr/bin/env bash
# Conformance suite: the cases runner (run.mjs) and the response-schema check
# (response-schema.mjs) against the fanfare extension in the cluster that the
# PG* variables name.  Arguments go to run.mjs (e.g. another cases file).
# The last line sums both: "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")"

if [ ! -d node_modules ]; then
    npm ci --silent --no-audit --no-fund >/dev/null || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi

passed=0 failed=0 status=0
step() {
    local out rc last
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
step run.mjs "$@"
step response-schema.mjs

[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit "$status"
