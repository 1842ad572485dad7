#!/usr/bin/env bash
# Hostile-tenant suite: what a verdict costs.  Bodies built to be expensive
# (deep nesting around huge numbers and strings, many containers in
# metadata, many issues, many elements, duplicate keys, random deep and wide
# mixtures) go to fresh backends, each of which reports its CPU time and
# peak memory; both must stay under linear bounds (hostile.mjs says which and
# why), and a statement_timeout must end every slow call soon after it
# fires.  Then the server log must show no backend lost.
#
#   test/hostile/run.sh       (make check-hostile) bodies of 1 and 4 MB
#                             (HOSTILE_MB=1,4,16 for more; HOSTILE_SEED)
set -uo pipefail
cd "$(dirname "$0")"
# shellcheck source=../../tools/lib.sh
. ../../tools/lib.sh

suite_cluster hostile || abort "a cluster to test against"
node_deps || abort "npm ci in test/conformance"

log=${FANFARE_TEST_DATADIR:+$FANFARE_TEST_DATADIR/server.log}
crash_pattern='terminated by signal|was terminated by|all server processes terminated'
crash_lines() {
    if [ -n "$log" ] && [ -r "$log" ]; then grep -cE "$crash_pattern" "$log" || true; else echo 0; fi
}
before=$(crash_lines)

psql_q -c "CREATE EXTENSION IF NOT EXISTS fanfare" >/dev/null
step "hostile bodies of ${HOSTILE_MB:-1,4} MB" \
    node hostile.mjs --mb "${HOSTILE_MB:-1,4}" --seed "${HOSTILE_SEED:-20261206}" --random 4

after=$(crash_lines)
if [ "$after" -ne "$before" ]; then
    fail "server log: no backend terminated by a signal" "$((after - before)) new crash lines"
else
    ok "server log: no backend terminated by a signal"
fi
summary steps
