#!/usr/bin/env bash
# `make soak`: the long forms of test/reliability (see RELIABILITY.md).
#
#   1. sustained load, 60 s each at 8, 32 and 64 connections, against one
#      gateway process: statuses, latency, gateway RSS (stable after warm-up),
#      and the audit (stored consumers = rows of the 200 responses);
#   2. the postmaster killed with kill -9 five times under load, restarted
#      each time: 503 + Retry-After while down, recovery without a gateway
#      restart, then one audit over the whole run;
#   3. the gateway killed with SIGKILL five times under load, restarted each
#      time: one audit, lost answers all-or-nothing.
#
# Builds and installs the tree, starts its own throwaway cluster
# (tools/lib.sh) and stops it.  About 7 minutes.  SOAK_SECONDS (60) and
# SOAK_CONNECTIONS ("8 32 64") change phase 1; SOAK_KILLS (5) phases 2 and 3.  Loopback only; every loop is
# bounded in requests and seconds.  FANFARE_KEEP_WORK=1 keeps the scratch
# directory.  Prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

db=fanfare_soak
login=fanfare_soak_login
# shellcheck source=../reliability/lib.sh
. test/reliability/lib.sh
build_and_install || abort "the build"
new_work_dir soak
throwaway_cluster soak || abort "a throwaway cluster"
soak_seconds=${SOAK_SECONDS:-60}
soak_connections=${SOAK_CONNECTIONS:-8 32 64}
kills=${SOAK_KILLS:-5}
tag=sk$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
max_requests=1000000

stop_soak_helpers() {
    rss_stop
    stop_helpers
    [ -n "${load_pid:-}" ] && kill "$load_pid" 2>/dev/null
    return 0
}
on_exit stop_soak_helpers

# phases_where TAG PREFIX JS: true if JS (on phase p) holds for every phase named PREFIX*
phases_where() {
    [ "$(json_get "$work/$1.audit" "s.phases.filter((p) => p.from.startsWith('$2')).every((p) => $3)")" = true ]
}
expected_only='Object.keys(p.counts).every((k) => ["valid:200", "invalid:400", "badkey:401"].includes(k))'

setup_durable_db || abort "setup"
: >"$work/tenants"
for t in 1 2 3 4; do new_tenant "Soak $t" >>"$work/tenants" || abort "tenant $t"; done
spare=$(new_tenant "Soak spare")
revoked=$(psql_db -c "SELECT fanfare.rotate_secret_key('${spare% *}')")
psql_db -c "SELECT fanfare.rotate_secret_key('${spare% *}')" >/dev/null
keys_file "$work/keys.json" "sk_live_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)" \
    "$revoked" "$(psql_db -c "SELECT fanfare.rotate_publishable_key('${spare% *}')")" "sk_live_bad key"
start_gateway soak || abort "the gateway starts"
first_pid=$gw_pid
rss_begin=$(rss_kb "$gw_pid")

# === 1. sustained load ========================================================
for c in $soak_connections; do
    section "sustained load: $soak_seconds s at $c connections"
    rss_start "$gw_pid" "$work/rss.$c"
    load "load$c" "$soak_seconds" "$c"
    wait "$load_pid"
    rss_stop
    note "$(cat "$work/load$c.summary")"
    warm=$(rss_at "$work/rss.$c" 10)
    end=$(rss_at "$work/rss.$c" 100000)
    maxafter=$(rss_max_after "$work/rss.$c" 10)
    note "gateway RSS at $c connections: after 10 s warm-up ${warm} kB, end ${end} kB, max after warm-up ${maxafter} kB"
    check "$c connections: zero unexpected statuses" [ "$(json_get "$work/load$c.summary" 's.unexpected === 0 && s.requests > 0')" = true ]
    check "$c connections: gateway RSS grows < 16 MB after warm-up" [ $((maxafter - warm)) -lt 16384 ]
    audit "load$c"
    rc=$?
    note "audit: $(audit_line "load$c")"
    check "$c connections: stored consumers = rows of the 200 responses" [ $rc = 0 ]
done
note "gateway RSS over all sustained runs: ${rss_begin} kB at start, $(rss_kb "$gw_pid") kB after"

# === 2. repeated kill -9 of the postmaster =========================================
section "postmaster killed $kills times under load (32 connections)"
: >"$work/marks.db"
load dbkill $((kills * 60)) 32      # stopped 4 s after the last recovery
for i in $(seq 1 "$kills"); do
    sleep 4
    echo "lock$i $(now_ms)" >>"$work/marks.db"
    hold_lock 10
    sleep 0.5
    echo "kill$i $(now_ms)" >>"$work/marks.db"
    kill_postmaster
    wait "$lock_pid" 2>/dev/null
    sleep 2
    echo "restart$i $(now_ms)" >>"$work/marks.db"
    suite_cluster_restart || fail "the cluster restarts after kill $i"
    wait_healthy 30 || fail "the gateway is healthy again after kill $i"
    echo "healthy$i $(now_ms)" >>"$work/marks.db"
done
stop_load 4
note "$(cat "$work/dbkill.summary")"
audit dbkill --marks "$work/marks.db"
rc=$?
note "audit: $(audit_line dbkill)"
note "in flight at the kills: $(json_get "$work/dbkill.audit" "JSON.stringify(s.phases.filter((p) => p.from.startsWith('kill')).map((p) => p.inFlight))")"
check "$kills kills: no 500 and no lost answer" \
    [ "$(json_get "$work/dbkill.summary" 'Object.keys(s.counts).filter((k) => !/:(200|400|401|503)$/.test(k)).length')" = 0 ]
check "$kills kills: 503 during every outage" phases_where dbkill kill '(p.counts["valid:503"] || 0) > 0'
check "$kills kills: every 503 carries Retry-After" phases_where dbkill '' 'p.noRetryAfter === 0'
recovered() {
    phases_where dbkill healthy "$expected_only && (p.counts['valid:200'] || 0) > 0" &&
        phases_where dbkill start "$expected_only" && kill -0 "$first_pid"
}
check "$kills kills: 200s after every recovery, only expected statuses, same gateway process" recovered
check "$kills kills: stored consumers = rows of the 200 responses, no partial batch" [ $rc = 0 ]

# === 3. repeated SIGKILL of the gateway ==============================================
section "gateway killed $kills times under load (32 connections)"
: >"$work/marks.gw"
load gwkill $((kills * 60)) 32      # stopped 4 s after the last restart
for i in $(seq 1 "$kills"); do
    sleep 4
    echo "lock$i $(now_ms)" >>"$work/marks.gw"
    hold_lock 3
    sleep 0.5
    echo "kill$i $(now_ms)" >>"$work/marks.gw"
    kill -KILL "$gw_pid"
    wait "$gw_pid" 2>/dev/null
    wait "$lock_pid"
    sleep 1
    echo "restart$i $(now_ms)" >>"$work/marks.gw"
    start_gateway soak || fail "the gateway restarts after kill $i"
    echo "started$i $(now_ms)" >>"$work/marks.gw"
done
stop_load 4
note "$(cat "$work/gwkill.summary")"
audit gwkill --marks "$work/marks.gw" --unanswered allow
rc=$?
note "audit: $(audit_line gwkill)"
check "$kills gateway kills: only expected statuses once restarted" phases_where gwkill started "$expected_only"
check "$kills gateway kills: lost answers committed some batches (the all-or-nothing case ran)" \
    [ "$(json_get "$work/gwkill.audit" 's.unansweredCommitted > 0')" = true ]
check "$kills gateway kills: every 200 stored, no row without a 200 or a lost answer, lost answers all-or-nothing" [ $rc = 0 ]

stop_gateway
summary
