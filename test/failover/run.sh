#!/usr/bin/env bash
# Failover: a primary, a standby, the gateway on a multi-host connection
# string, and importers that retry with Idempotency-Keys (make
# check-failover).  See README.md, "Production topology".
#
#   test/failover/run.sh            (make check-failover)
#
# Twice, once with synchronous replication and once asynchronous, on two
# clusters of its own (never PGHOST's: it kills and rebuilds them):
#   1. a primary A and a standby B made from it by pg_basebackup -R; with
#      synchronous replication, synchronous_standby_names = '*' on A once B
#      streams;
#   2. the gateway on "host=127.0.0.1,127.0.0.1 port=A,B ...
#      target_session_attrs=read-write", 8 clients of
#      test/reliability/exactly_once.mjs (batches retried with the same
#      Idempotency-Key until answered) and a probe (probe.mjs: one small
#      batch every 20 ms, to time the recovery);
#   3. B's WAL receiver paused for 1 s (SIGSTOP: a standby a second behind),
#      then kill -9 of A (its postmaster and every process it started, as
#      when its machine dies), promotion of B 1 s later;
#   4. a new standby of B in A's place, made synchronous, then kill -9 of B
#      and promotion of A: the second failover, back;
#   5. the audit: every batch answered 200 and stored once under the ids
#      answered, every id of a probe's 200 stored, no 500.
# The gateway's share of each failover, from the standby becoming writable
# (pg_is_in_recovery() false) to the probe's first 200, is reported and held
# to at most 2 s (FANFARE_FAILOVER_TARGET_MS).  The asynchronous run reports
# what it lost, and fails only on a 500 or a broken run: it shows what the
# synchronous setting buys.  Alone it builds and installs the tree; with
# PGHOST set (tools/test.sh) the caller has.  About 2 minutes on two cores.
#
#   FANFARE_FAILOVER_TARGET_MS (2000) the gateway's share allowed.
#
#   FANFARE_KEEP_WORK=1 keeps the scratch directory (clusters' logs, client logs).
# Prints "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."

db=fanfare_failover_test
login=fanfare_failover_login
# shellcheck source=../reliability/lib.sh
. test/reliability/lib.sh
failover_dir=$fanfare_root/test/failover
suite_build || abort "the build"
new_work_dir failover
[ -x "$gateway" ] || abort "a gateway binary at $gateway" "run make"
target_ms=${FANFARE_FAILOVER_TARGET_MS:-2000}
# durable clusters whatever the caller's environment says (a fast cluster
# has synchronous_commit off, which no standby can make synchronous)
unset FANFARE_FAST_CLUSTER

probe_pid=
stop_failover_helpers() {
    [ -n "$probe_pid" ] && kill -KILL "$probe_pid" 2>/dev/null
    [ -n "${client_pid:-}" ] && kill -KILL "$client_pid" 2>/dev/null
    stop_helpers
    return 0
}
on_exit stop_failover_helpers

# new_primary DIR PORT: a cluster that keeps synchronous_commit on (the
# suites' fast clusters turn it off, which would make a synchronous standby
# pointless); fsync is off, since only processes are killed here, never the
# machine, so the page cache survives every kill
new_primary() {
    cluster_create "$1" || return 1
    echo "fsync = off" >>"$1/postgresql.conf"
    cluster_start "$1" "$2"
}

# kill_primary DIR: cluster_kill, then waits until every process it killed
# is gone (so that its directory may be removed)
kill_primary() {
    local pids pid alive
    pids="$(head -1 "$1/postmaster.pid" 2>/dev/null) $(ps -o pid= --ppid "$(head -1 "$1/postmaster.pid" 2>/dev/null)" 2>/dev/null)"
    cluster_kill "$1"
    for _ in $(seq 1 100); do
        alive=0
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && return 0
        sleep 0.1
    done
}

# wait_writable PORT: until the server on PORT is out of recovery; prints
# the time (ms) it was first seen so
wait_writable() {
    for _ in $(seq 1 3000); do
        if [ "$(psql_q -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "SELECT pg_catalog.pg_is_in_recovery()" 2>/dev/null)" = f ]; then
            now_ms
            return 0
        fi
        sleep 0.01
    done
    return 1
}

# start_ha_gateway PORT_A PORT_B: the gateway on both servers, for the one
# that accepts writes
start_ha_gateway() {
    local conn="host=127.0.0.1,127.0.0.1 port=$1,$2 dbname=$db user=$login target_session_attrs=read-write"
    note "gateway --database '$conn'"
    "$gateway" --listen 127.0.0.1:0 --database "$conn" >>"$work/gw-$mode.out" 2>>"$work/gw-$mode.err" &
    gw_pid=$!
    port=
    for _ in $(seq 1 300); do
        port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$work/gw-$mode.err" | tail -1)
        [ -n "$port" ] && return 0
        kill -0 "$gw_pid" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 5 "$work/gw-$mode.err"
    return 1
}

# first_200_after MS: the time (ms) the probe got its first 200 at or after
# MS (empty if none)
first_200_after() {
    node -e 'const fs = require("fs"); const t = +process.argv[2];
        const r = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
            .find((r) => r.status === 200 && r.done >= t);
        process.stdout.write(r ? String(r.done) : "");' "$work/$mode.probe" "$1" 2>/dev/null
}

# failover FROM_DIR TO_DIR TO_PORT N: kill -9 of FROM, promotion of TO; notes
# the times; sets share_N (ms, the gateway's share) and total_N
failover() {
    local from=$1 to=$2 to_port=$3 n=$4 t_kill t_writable t_200 receiver
    # the standby falls a second behind before the primary dies, as over a
    # congested network: its WAL receiver is stopped (SIGSTOP) for 1 s.  With
    # synchronous replication commits wait meanwhile; without, they are
    # answered 200 and exist on the primary only.
    receiver=$(psql_q -h 127.0.0.1 -p "$to_port" -U postgres -d postgres -c "SELECT pid FROM pg_catalog.pg_stat_wal_receiver")
    [ -n "$receiver" ] && kill -STOP "$receiver"
    sleep 1
    t_kill=$(now_ms)
    kill_primary "$from"
    [ -n "$receiver" ] && kill -CONT "$receiver"
    # a failover manager needs a moment to decide; the clients meanwhile get 503
    sleep 1
    cluster_promote "$to" &
    local promote_pid=$!
    t_writable=$(wait_writable "$to_port")
    wait "$promote_pid"
    check "$mode, failover $n: the standby is promoted and writable" [ -n "$t_writable" ] || return 1
    for _ in $(seq 1 100); do
        t_200=$(first_200_after "$t_writable")
        [ -n "$t_200" ] && break
        sleep 0.1
    done
    if [ -z "$t_200" ]; then
        fail "$mode, failover $n: a 200 within 10 s of the promotion"
        return 1
    fi
    eval "share_$n=$((t_200 - t_writable))"
    note "$mode, failover $n: kill -9 to writable $((t_writable - t_kill)) ms (1 s of it the wait before promoting), writable to the first 200 $((t_200 - t_writable)) ms (the gateway's share), kill to first 200 $((t_200 - t_kill)) ms"
}

# sync_state PORT: "streaming/sync" of the primary's first standby
sync_state() {
    psql_q -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "SELECT state || '/' || sync_state FROM pg_catalog.pg_stat_replication LIMIT 1"
}

# run_topology sync|async
run_topology() {
    mode=$1
    local base=$work/$mode pA pB dirA dirB tag rc want
    share_1='' share_2=''
    section "$mode replication"
    mkdir -p "$base" && chmod 755 "$base"
    dirA=$base/a dirB=$base/b
    pA=$(free_port) || { fail "$mode: a free port"; return 1; }
    on_exit cluster_stop "$dirA"
    on_exit cluster_stop "$dirB"
    new_primary "$dirA" "$pA" || { fail "$mode: primary A starts"; return 1; }
    cluster_use "$dirA" "$pA"
    setup_db || { fail "$mode: the database on A"; return 1; }
    : >"$work/tenants"
    for t in 1 2; do new_tenant "Failover $t" >>"$work/tenants" || { fail "$mode: tenants"; return 1; }; done
    keys_file "$work/$mode.keys.json"

    # the port is taken at the last moment, and again if another cluster
    # of this machine took it meanwhile
    for _ in 1 2 3; do
        pB=$(free_port) && [ "$pB" != "$pA" ] && cluster_standby "$dirB" "$pB" "$pA" && break
        cluster_stop "$dirB"
        rm -rf "$dirB"
        pB=
    done
    [ -n "$pB" ] && cluster_wait_streaming 127.0.0.1 "$pA"
    check "$mode: standby B made by pg_basebackup -R streams from A" [ $? = 0 ] || return 1
    want=streaming/async
    if [ "$mode" = sync ]; then
        cluster_sync 127.0.0.1 "$pA" on
        want=streaming/sync
    fi
    check "$mode: B is $want" [ "$(sync_state "$pA")" = "$want" ] || return 1

    start_ha_gateway "$pA" "$pB" || { fail "$mode: the gateway starts"; return 1; }
    tag=fo$mode$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    node "$fanfare_root/test/reliability/exactly_once.mjs" --url "http://127.0.0.1:$port" --keys "$work/$mode.keys.json" \
        --tag "$tag" --out "$work/$mode.jsonl" --connections 8 --duration 90 --give-up 30 --seed "$RANDOM" \
        >"$work/$mode.summary" &
    client_pid=$!
    node "$failover_dir/probe.mjs" --url "http://127.0.0.1:$port" --key "$(sed -n '1s/^[^ ]* //p' "$work/tenants")" \
        --tag "${tag}probe" --out "$work/$mode.probe" &
    probe_pid=$!
    sleep 4

    failover "$dirA" "$dirB" "$pB" 1
    sleep 3
    # A's machine is replaced: a new standby of B in its place
    rm -rf "$dirA"
    cluster_standby "$dirA" "$pA" "$pB" && cluster_wait_streaming 127.0.0.1 "$pB"
    check "$mode: a new standby A made from the new primary B streams" [ $? = 0 ] || return 1
    [ "$mode" = sync ] && cluster_sync 127.0.0.1 "$pB" on
    check "$mode: the new A is $want" [ "$(sync_state "$pB")" = "$want" ] || return 1
    sleep 4
    failover "$dirB" "$dirA" "$pA" 2
    rm -rf "$dirB"              # dead, and left so
    sleep 4

    kill -TERM "$client_pid" "$probe_pid"
    wait "$client_pid"
    wait "$probe_pid"
    client_pid='' probe_pid=''
    stop_gateway
    note "clients: $(cat "$work/$mode.summary")"
    cluster_use "$dirA" "$pA"
    check "$mode: A, the original primary, is the primary again" [ "$(psql_db -c "SELECT pg_catalog.pg_is_in_recovery()")" = f ]
    psql_db -F, -c "SELECT id, metadata->>'batch', metadata->>'element', organization_id FROM fanfare.consumers
        WHERE metadata->>'run' = '$tag'" >"$work/$mode.rows"
    node "$fanfare_root/test/reliability/exactly_once.mjs" --audit --log "$work/$mode.jsonl" --rows "$work/$mode.rows" \
        --keys "$work/$mode.keys.json" --self-test >"$work/$mode.audit"
    rc=$?
    note "$mode audit: $(json_get "$work/$mode.audit" '`${s.batches} batches, ${s.rows} rows; stored once ${s.stored}, lost ${s.lost}, duplicated ${s.duplicated}; retries ${s.retries} (of ${s.retriedBatches} batches), replays ${s.replays}; attempts ${JSON.stringify(s.attempts)}; violations ${s.violationCount}${s.violations.length ? ": " + s.violations.slice(0, 3).join("; ") : ""}; self-test misses ${JSON.stringify(s.selfTestMisses)}`')"
    # the probe's 200s: each id stored
    psql_db -c "SELECT id FROM fanfare.consumers WHERE metadata->>'run' = '${tag}probe'" >"$work/$mode.probe.rows"
    node -e 'const fs = require("fs");
        const stored = new Set(fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean));
        const rs = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
        const ok = rs.filter((r) => r.status === 200);
        const counts = {};
        for (const r of rs) counts[r.status || r.err] = (counts[r.status || r.err] || 0) + 1;
        const lost = ok.filter((r) => !stored.has(r.id)).length;
        fs.writeFileSync(process.argv[3], JSON.stringify({requests: rs.length, counts, ok: ok.length, lost}));' \
        "$work/$mode.probe" "$work/$mode.probe.rows" "$work/$mode.probe.audit"
    note "$mode probe: $(cat "$work/$mode.probe.audit")"
    local no500
    no500=$(json_get "$work/$mode.audit" '!Object.keys(s.attempts).some((k) => /^5\d\d$/.test(k) && k !== "503")')/$(json_get "$work/$mode.probe.audit" '!Object.keys(s.counts).some((k) => /^5\d\d$/.test(k) && k !== "503")')
    check "$mode: no 500 (nor any 5xx but 503) to any client or the probe" [ "$no500" = true/true ]
    check "$mode: the failovers made clients retry" [ "$(json_get "$work/$mode.audit" 's.retries > 0')" = true ]
    if [ "$mode" = sync ]; then
        check "sync: every batch answered 200 and stored once under the ids answered, 0 lost, 0 duplicated (audit and its self-test)" [ $rc = 0 ]
        check "sync: every id of a probe's 200 is stored" [ "$(json_get "$work/$mode.probe.audit" 's.lost')" = 0 ]
        local n share
        for n in 1 2; do
            share=$(eval echo "\${share_$n:-}")
            check "sync, failover $n: the gateway's share (writable to first 200) is ${share:-?} ms, target <= $target_ms ms" \
                [ "${share:-999999}" -le "$target_ms" ]
        done
    else
        # what asynchronous replication loses: reported, not failed
        note "async: LOST after kill -9 of a primary: $(json_get "$work/$mode.audit" 's.lost') of $(json_get "$work/$mode.audit" 's.batches') batches answered 200 (audit violations $(json_get "$work/$mode.audit" 's.violationCount')), $(json_get "$work/$mode.probe.audit" 's.lost') of $(json_get "$work/$mode.probe.audit" 's.ok') probe 200s"
        note "async: gateway's share: failover 1 ${share_1:-?} ms, failover 2 ${share_2:-?} ms"
        check "async: the audit ran, its self-test catches every broken copy" \
            [ "$(json_get "$work/$mode.audit" 'Array.isArray(s.selfTestMisses) && s.selfTestMisses.length === 0 && s.batches > 0')" = true ]
    fi
    cluster_stop "$dirA"
}

run_topology sync
run_topology async
summary
