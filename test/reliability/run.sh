#!/usr/bin/env bash
# Load, fault-injection and security tests, short forms (make test).  The
# long forms are test/soak/run.sh (make soak).  See RELIABILITY.md.
#
#   test/reliability/run.sh          (make check-reliability)
#
# Alone, it builds and installs the tree and starts a throwaway cluster of
# its own (tools/lib.sh).  With PG* naming a running cluster (tools/test.sh
# does) it uses that one; FANFARE_TEST_DATADIR and FANFARE_TEST_PORT name it
# (by default PGHOST and PGPORT, when PGHOST is the data directory).  Kills
# that cluster's postmaster (kill -9) three times and restarts it; starts
# PgBouncer (Debian's package) in front of it once and kills it too.
# Creates its own database, fanfare_reliability_test.  Loopback only; every
# load loop is bounded in requests and seconds.  About 2.5 minutes on two
# cores.
#
#   LOAD_SECONDS (15) LOAD_CONNECTIONS (16) override the sustained-load phase.
#   RELIABILITY_TESTS="t_pgbouncer_faults ..." runs only those tests.
#   FANFARE_CHECK_INTERVAL (1000): the gateway login's
#     client_connection_check_interval behind PgBouncer; 0 shows the audit
#     catching batches that commit after their 503.
#   FANFARE_KEEP_WORK=1 keeps the scratch directory (client logs, audits).
# Prints "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

db=fanfare_reliability_test
login=fanfare_reliability_login
tenant_role=fanfare_reliability_tenant
# shellcheck source=lib.sh
. test/reliability/lib.sh
suite_cluster reliability --restarts || abort "a cluster to test against"
new_work_dir reliability
tag=rl$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')   # in every email sent to the gateway
sqltag=sq$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')   # in the direct SQL attacks (logged as statements)
load_seconds=${LOAD_SECONDS:-15}
load_connections=${LOAD_CONNECTIONS:-16}

# what a failed check may leave running
stop_reliability_helpers() {
    rss_stop
    stop_helpers
    [ -n "${saved_pid:-}" ] && kill -KILL "$saved_pid" 2>/dev/null
    [ -n "${client_pid:-}" ] && kill -KILL "$client_pid" 2>/dev/null
    [ -n "${leaky_pid:-}" ] && kill -KILL "$leaky_pid" 2>/dev/null
    [ -n "${pgb_gw_pid:-}" ] && kill -KILL "$pgb_gw_pid" 2>/dev/null
    stop_pgbouncer
    return 0
}
on_exit stop_reliability_helpers

[ -x "$gateway" ] || abort "a gateway binary at $gateway" "run make"
server_log=$FANFARE_TEST_DATADIR/server.log
log_offset=$(stat -c %s "$server_log" 2>/dev/null || echo 0)

# === setup ===================================================================
setup_reliability() {
    setup_durable_db && create_login_role "$tenant_role" || return 1
    : >"$work/tenants"
    for t in 1 2 3; do new_tenant "Reliability $t" >>"$work/tenants" || return 1; done
    read -r orgA keyA < <(sed -n 1p "$work/tenants")
    read -r orgB keyB < <(sed -n 2p "$work/tenants")
    # bad keys: never issued, rotated out, publishable, malformed for RFC 6750
    local spare revoked pk
    spare=$(new_tenant "Reliability spare") || return 1
    revoked=$(psql_db -c "SELECT fanfare.rotate_secret_key('${spare% *}')")
    psql_db -c "SELECT fanfare.rotate_secret_key('${spare% *}')" >/dev/null
    revoked_keys=("${spare#* }" "$revoked")
    pk=$(psql_db -c "SELECT fanfare.rotate_publishable_key('$orgA')")
    bad_keys=("sk_live_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)"
        "$revoked" "$pk" "sk_live_bad key")
    keys_file "$work/keys.json" "${bad_keys[@]}"
}

# === load and faults ==========================================================
t_sustained() {
    local warm end maxafter start
    section "sustained load: ${load_seconds} s, $load_connections connections"
    start=$(rss_kb "$gw_pid")
    rss_start "$gw_pid" "$work/rss.sustained"
    load sustained "$load_seconds" "$load_connections"
    wait "$load_pid"
    rss_stop
    note "$(cat "$work/sustained.summary")"
    warm=$(rss_at "$work/rss.sustained" 3)
    end=$(rss_at "$work/rss.sustained" 100000)
    maxafter=$(rss_max_after "$work/rss.sustained" 3)
    note "gateway RSS: start ${start} kB, after 3 s warm-up ${warm} kB, end ${end} kB, max after warm-up ${maxafter} kB"
    check "sustained load: zero unexpected statuses (valid 200, invalid 400, bad key 401)" \
        [ "$(json_get "$work/sustained.summary" 's.unexpected === 0 && s.requests > 0')" = true ]
    check "sustained load: gateway RSS grows < 10 MB after warm-up" [ $((maxafter - warm)) -lt 10240 ]
    audit sustained
    local rc=$?
    note "audit: $(audit_line sustained)"
    check "sustained load: stored consumers = rows of the 200 responses (audit and its self-test)" [ $rc = 0 ]
}

t_kill_database() {
    local before_pid=$gw_pid
    section "database killed (kill -9 of the postmaster) under load"
    : >"$work/marks.db"
    load dbkill 60 "$load_connections"     # stopped 4 s after recovery
    sleep 3
    # batches stuck behind a lock when the postmaster dies must store nothing
    echo "lock $(now_ms)" >>"$work/marks.db"
    hold_lock 10
    sleep 0.5
    echo "kill $(now_ms)" >>"$work/marks.db"
    kill_postmaster
    wait "$lock_pid" 2>/dev/null
    sleep 3
    echo "restart $(now_ms)" >>"$work/marks.db"
    suite_cluster_restart
    check "the cluster restarts after kill -9 of its postmaster" [ $? = 0 ]
    wait_healthy 30
    echo "healthy $(now_ms)" >>"$work/marks.db"
    stop_load 4
    note "$(cat "$work/dbkill.summary")"
    audit dbkill --marks "$work/marks.db"
    local rc=$?
    note "in flight at the kill: $(in_flight dbkill kill)"
    note "sent during the outage: $(phase_counts dbkill kill)"
    note "audit: $(audit_line dbkill)"
    # a backend waiting for the lock may notice the dead postmaster (503,
    # nothing stored) or be woken by the lock holder's exit first and commit
    # (200, stored): both are consistent, the audit checks which
    check "valid batches were stuck in the database when it died, and got 200 or 503" \
        [ "$(json_get "$work/dbkill.audit" "((f) => (f['valid:503'] || 0) + (f['valid:200'] || 0) > 0 &&
            Object.keys(f).every((k) => /:(200|400|401|503)$/.test(k)))(s.phases.find((p) => p.from === 'kill').inFlight)")" = true ]
    check "database down: requests get 503" \
        [ "$(json_get "$work/dbkill.audit" "Object.keys(s.phases.find((p) => p.from === 'kill').counts).some((k) => k.endsWith(':503'))")" = true ]
    check "every 503 carries Retry-After" [ "$(json_get "$work/dbkill.audit" 's.phases.every((p) => p.noRetryAfter === 0)')" = true ]
    check "no 500 and no lost answer at any time" \
        [ "$(json_get "$work/dbkill.summary" 'Object.keys(s.counts).filter((k) => !/:(200|400|401|503)$/.test(k)).length')" = 0 ]
    check "before the kill and once healthy again, only expected statuses" only_expected dbkill start healthy
    check "recovery without a gateway restart: 200s once healthy, same gateway process" \
        [ "$(json_get "$work/dbkill.audit" "(s.phases.find((p) => p.from === 'healthy').counts['valid:200'] || 0) > 0")/$(kill -0 "$before_pid" && echo alive)" = true/alive ]
    check "database kill: stored consumers = rows of the 200 responses, no partial batch (audit and its self-test)" [ $rc = 0 ]
}

t_kill_gateway() {
    section "gateway killed (SIGKILL) and restarted under load"
    : >"$work/marks.gw"
    load gwkill 60 "$load_connections"     # stopped 4 s after the restart
    sleep 3
    # batches stuck behind a lock when the gateway dies commit once it is
    # released, with nobody to answer: the audit's all-or-nothing case
    echo "lock $(now_ms)" >>"$work/marks.gw"
    hold_lock 3
    sleep 0.5
    echo "kill $(now_ms)" >>"$work/marks.gw"
    kill -KILL "$gw_pid"
    wait "$gw_pid" 2>/dev/null
    wait "$lock_pid"
    gw_pid=
    sleep 1
    echo "restart $(now_ms)" >>"$work/marks.gw"
    start_gateway main
    check "the gateway restarts on the same port" [ $? = 0 ]
    echo "started $(now_ms)" >>"$work/marks.gw"
    stop_load 4
    note "$(cat "$work/gwkill.summary")"
    audit gwkill --marks "$work/marks.gw" --unanswered allow
    local rc=$?
    note "in flight at the kill: $(in_flight gwkill kill)"
    note "sent while down: $(phase_counts gwkill kill)"
    note "audit: $(audit_line gwkill)"
    check "gateway down: connections are refused or reset, nothing else" \
        [ "$(json_get "$work/gwkill.audit" "Object.keys(s.phases.find((p) => p.from === 'kill').counts).every((k) => /:(ECONNREFUSED|ECONNRESET|EPIPE|200|400|401)$/.test(k))")" = true ]
    check "once restarted, only expected statuses" only_expected gwkill started
    check "batches whose answer was lost did commit (the all-or-nothing case was exercised)" \
        [ "$(json_get "$work/gwkill.audit" 's.unansweredCommitted > 0')" = true ]
    check "gateway kill: every 200 stored, no row without a 200 or a lost answer, lost answers all-or-nothing (audit and its self-test)" [ $rc = 0 ]
}

# The exactly-once audit: importers that retry with the same Idempotency-Key
# until they get an answer, across kill -9 of the postmaster and of the
# gateway.  Every batch must be stored once, under the ids it was answered.
t_exactly_once() {
    local eo=${tag}eo rc
    section "exactly once: retried batches with Idempotency-Key across kill -9 of the postmaster and the gateway"
    node "$here/exactly_once.mjs" --url "http://127.0.0.1:$port" --keys "$work/keys.json" --tag "$eo" \
        --out "$work/eo.jsonl" --connections 8 --duration 60 --give-up 90 --seed "$RANDOM" >"$work/eo.summary" &
    client_pid=$!
    sleep 3
    # batches inside the database when it dies: retried, then created afresh
    hold_lock 8
    sleep 1
    kill_postmaster
    wait "$lock_pid" 2>/dev/null
    lock_pid=
    sleep 2
    suite_cluster_restart
    check "exactly once: the cluster restarts after kill -9" [ $? = 0 ]
    wait_healthy 30
    sleep 3
    # batches that commit while the gateway is dead: answers lost, retried, replayed
    hold_lock 3
    sleep 0.5
    kill -KILL "$gw_pid"
    wait "$gw_pid" 2>/dev/null
    wait "$lock_pid"
    lock_pid=
    gw_pid=
    sleep 1
    start_gateway main
    check "exactly once: the gateway restarts on the same port" [ $? = 0 ]
    sleep 4
    kill -TERM "$client_pid"
    wait "$client_pid"
    client_pid=
    note "clients: $(cat "$work/eo.summary")"
    psql_db -F, -c "SELECT id, metadata->>'batch', metadata->>'element', organization_id FROM fanfare.consumers
        WHERE metadata->>'run' = '$eo'" >"$work/eo.rows"
    node "$here/exactly_once.mjs" --audit --log "$work/eo.jsonl" --rows "$work/eo.rows" --keys "$work/keys.json" \
        --self-test >"$work/eo.audit"
    rc=$?
    note "audit: $(json_get "$work/eo.audit" '`${s.batches} batches, ${s.rows} rows; stored once ${s.stored}, lost ${s.lost}, duplicated ${s.duplicated}; retries ${s.retries} (of ${s.retriedBatches} batches), replays ${s.replays}; attempts ${JSON.stringify(s.attempts)}; violations ${s.violationCount}${s.violations.length ? ": " + s.violations.slice(0, 3).join("; ") : ""}; self-test misses ${JSON.stringify(s.selfTestMisses)}`')"
    check "exactly once: the faults made clients retry, and some retries were replays" \
        [ "$(json_get "$work/eo.audit" 's.retries > 0 && s.replays > 0')" = true ]
    check "exactly once: every batch answered 200 and stored once under the ids answered, 0 lost, 0 duplicated (audit and its self-test)" [ $rc = 0 ]
}

# The gateway behind PgBouncer in transaction pooling (--pooler transaction,
# the role's statement_timeout and plan_cache_mode), as in README
# "Production topology": kill -9 of PgBouncer, then of the postmaster, each
# while batches wait inside the database, under the load client and under
# importers retrying with Idempotency-Key at once.  Only 200 and 503, every
# 200 stored, nothing stored without a 200, every batch once.  The role's
# client_connection_check_interval (FANFARE_CHECK_INTERVAL ms, 1000) ends a
# transaction whose pooler died before it can commit; 0 shows why: the
# batches waiting at PgBouncer's kill commit once the lock is released,
# after the gateway answered 503, and the audit finds them.
t_pgbouncer_faults() {
    local main_pid=$gw_pid main_port=$port eo=${tag}pe rc rc_eo started=$SECONDS
    section "behind PgBouncer (pool_mode = transaction, --pooler transaction): kill -9 of PgBouncer, then of the postmaster, under load"
    psql_db -c "ALTER ROLE $login IN DATABASE $db SET statement_timeout = 30000" \
        -c "ALTER ROLE $login IN DATABASE $db SET plan_cache_mode = force_generic_plan" \
        -c "ALTER ROLE $login IN DATABASE $db SET fanfare.rate_limit_report = on" \
        -c "ALTER ROLE $login IN DATABASE $db SET client_connection_check_interval = ${FANFARE_CHECK_INTERVAL:-1000}" >/dev/null
    pgb_settings="server_login_retry = 1"
    start_pgbouncer || { fail "PgBouncer starts"; return; }
    gw_pid= port=
    if ! start_gateway pgbouncer --database "host=127.0.0.1 port=$pgb_port dbname=$db user=$login" \
        --pooler transaction --pool 8; then
        fail "the gateway starts behind PgBouncer with --pooler transaction"
        gw_pid=$main_pid port=$main_port
        return
    fi
    pgb_gw_pid=$gw_pid
    : >"$work/marks.pgb"
    load pgb 90 8     # stopped 4 s after the second recovery
    node "$here/exactly_once.mjs" --url "http://127.0.0.1:$port" --keys "$work/keys.json" --tag "$eo" \
        --out "$work/pe.jsonl" --connections 8 --duration 90 --give-up 60 --seed "$RANDOM" >"$work/pe.summary" &
    client_pid=$!
    sleep 3
    # batches waiting inside the database when PgBouncer dies must store nothing
    echo "lock $(now_ms)" >>"$work/marks.pgb"
    hold_lock 4
    sleep 0.5
    echo "pgbkill $(now_ms)" >>"$work/marks.pgb"
    stop_pgbouncer KILL
    sleep 2
    echo "pgbstart $(now_ms)" >>"$work/marks.pgb"
    start_pgbouncer
    check "PgBouncer starts again on the same port after kill -9" [ $? = 0 ]
    wait "$lock_pid" 2>/dev/null
    lock_pid=
    wait_healthy 30
    echo "pgbhealthy $(now_ms)" >>"$work/marks.pgb"
    sleep 3
    echo "lock2 $(now_ms)" >>"$work/marks.pgb"
    hold_lock 10
    sleep 0.5
    echo "dbkill $(now_ms)" >>"$work/marks.pgb"
    kill_postmaster
    wait "$lock_pid" 2>/dev/null
    lock_pid=
    sleep 2
    echo "dbrestart $(now_ms)" >>"$work/marks.pgb"
    suite_cluster_restart
    check "the cluster restarts after kill -9 of its postmaster (behind PgBouncer)" [ $? = 0 ]
    wait_healthy 30
    echo "dbhealthy $(now_ms)" >>"$work/marks.pgb"
    stop_load 4
    kill -TERM "$client_pid"
    wait "$client_pid"
    client_pid=
    note "load: $(cat "$work/pgb.summary")"
    note "importers: $(cat "$work/pe.summary")"
    audit pgb --marks "$work/marks.pgb"
    rc=$?
    note "in flight at PgBouncer's kill: $(in_flight pgb pgbkill); at the postmaster's: $(in_flight pgb dbkill)"
    note "sent while PgBouncer was down: $(phase_counts pgb pgbkill); while the postmaster was: $(phase_counts pgb dbkill) $(phase_counts pgb dbrestart)"
    note "audit: $(audit_line pgb)"
    psql_db -F, -c "SELECT id, metadata->>'batch', metadata->>'element', organization_id FROM fanfare.consumers
        WHERE metadata->>'run' = '$eo'" >"$work/pe.rows"
    node "$here/exactly_once.mjs" --audit --log "$work/pe.jsonl" --rows "$work/pe.rows" --keys "$work/keys.json" \
        --self-test >"$work/pe.audit"
    rc_eo=$?
    note "exactly once: $(json_get "$work/pe.audit" '`${s.batches} batches, ${s.rows} rows; stored once ${s.stored}, lost ${s.lost}, duplicated ${s.duplicated}; retries ${s.retries} (of ${s.retriedBatches} batches), replays ${s.replays}; attempts ${JSON.stringify(s.attempts)}; violations ${s.violationCount}${s.violations.length ? ": " + s.violations.slice(0, 3).join("; ") : ""}`')"
    check "behind PgBouncer: valid batches were inside the database at PgBouncer's kill and at the postmaster's, and got 503 or 200" \
        [ "$(json_get "$work/pgb.audit" "['pgbkill', 'dbkill'].every((m) => ((f) => (f['valid:503'] || 0) + (f['valid:200'] || 0) > 0 &&
            Object.keys(f).every((k) => /:(200|400|401|503)$/.test(k)))(s.phases.find((p) => p.from === m).inFlight))")" = true ]
    check "behind PgBouncer: requests get 503 while PgBouncer is down and while the postmaster is" \
        [ "$(json_get "$work/pgb.audit" "['pgbkill', 'dbkill'].every((m) => Object.keys(s.phases.find((p) => p.from === m).counts).some((k) => k.endsWith(':503')))")" = true ]
    check "behind PgBouncer: every 503 carries Retry-After" [ "$(json_get "$work/pgb.audit" 's.phases.every((p) => p.noRetryAfter === 0)')" = true ]
    check "behind PgBouncer: only 200, 400, 401 and 503 at any time (no 500, no lost answer)" \
        [ "$(json_get "$work/pgb.summary" 'Object.keys(s.counts).filter((k) => !/:(200|400|401|503)$/.test(k)).length')" = 0 ]
    check "behind PgBouncer: before the kills and once healthy again after each, only expected statuses" only_expected pgb start pgbhealthy dbhealthy
    check "behind PgBouncer: recovery without a gateway restart (200s after each outage, same gateway process)" \
        [ "$(json_get "$work/pgb.audit" "['pgbhealthy', 'dbhealthy'].every((m) => (s.phases.find((p) => p.from === m).counts['valid:200'] || 0) > 0)")/$(kill -0 "$pgb_gw_pid" && echo alive)" = true/alive ]
    check "behind PgBouncer: stored consumers = rows of the 200 responses, 0 lost, 0 phantom, no partial batch (audit and its self-test)" [ $rc = 0 ]
    check "behind PgBouncer: the faults made importers retry" [ "$(json_get "$work/pe.audit" 's.retries > 0')" = true ]
    check "behind PgBouncer: every retried batch stored once under the ids answered, 0 lost, 0 duplicated (audit and its self-test)" [ $rc_eo = 0 ]
    stop_gateway
    pgb_gw_pid=
    gw_pid=$main_pid port=$main_port
    stop_pgbouncer
    psql_db -c "ALTER ROLE $login IN DATABASE $db RESET ALL" >/dev/null
    wait_healthy 30
    note "behind PgBouncer: $((SECONDS - started)) s"
}

# A backup taken with pg_dump must carry the tenants' data.
t_backup() {
    section "pg_dump carries the consumers, organizations and keys"
    pg_dump -d "$db" >"$work/dump.sql" 2>"$work/dump.err"
    if grep -q '^COPY fanfare.consumers ' "$work/dump.sql" && grep -q '^COPY fanfare.api_keys ' "$work/dump.sql" &&
        grep -q '^COPY fanfare.idempotency_keys ' "$work/dump.sql"; then
        ok "pg_dump includes the rows of fanfare.consumers, fanfare.api_keys and fanfare.idempotency_keys"
    else
        fail "pg_dump includes the rows of fanfare.consumers, fanfare.api_keys and fanfare.idempotency_keys" "no COPY for them in the dump (pg_extension_config_dump)"
    fi
}

t_overlapping_emails() {
    section "concurrent batches with overlapping emails, two tenants with the same emails"
    node "$here/race.mjs" run --url "http://127.0.0.1:$port" --keys "$work/keys.json" --tag "${tag}race" \
        --out "$work/race.json" --connections 16 --requests 600 >"$work/race.summary"
    note "$(cat "$work/race.summary")"
    psql_db -F, -c "SELECT id, email, organization_id FROM fanfare.consumers WHERE lower(email) LIKE '${tag}race-%'" >"$work/race.rows"
    node "$here/race.mjs" check --keys "$work/keys.json" --tag "${tag}race" --out "$work/race.json" --rows "$work/race.rows" >"$work/race.check"
    local rc=$?
    note "$(cat "$work/race.check")"
    check "overlapping emails: only 200/400 unique, never a 500, no duplicate, every 200 stored, tenants independent" [ $rc = 0 ]
    # the check itself: a duplicate row or a row without a 200 must be caught
    { cat "$work/race.rows"; head -1 "$work/race.rows" | sed 's/^[^,]*,/00000000-0000-0000-0000-000000000001,/'; } >"$work/race.broken"
    check "the overlapping-emails check catches a duplicate row" \
        bash -c '! node "$1" check --keys "$2" --tag "$3" --out "$4" --rows "$5" >/dev/null' _ \
        "$here/race.mjs" "$work/keys.json" "${tag}race" "$work/race.json" "$work/race.broken"
}

# === security ================================================================
# as_tenant SQL: runs SQL as the non-owner tenant role acting for org A
as_tenant() { psql_as "$tenant_role" "$orgA" "$1"; }
count_org() { psql_db -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$1'"; }
b_digest() { psql_db -c "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM fanfare.consumers t WHERE organization_id = '$orgB'"; }

t_tenant_isolation() {
    local b_rows b_sum out b_id b_email
    section "a non-owner role acting for tenant A against tenant B's rows"
    printf '{"consumers":[{"email":"%s-bsecret-0@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE","fullName":"B private"}]}' "$tag" >"$work/b.json"
    curl -sS -o /dev/null -X POST "http://127.0.0.1:$port/consumers/batch" -H "Authorization: Bearer $keyB" \
        -H 'Content-Type: application/json' --data-binary "@$work/b.json"
    b_id=$(psql_db -c "SELECT id FROM fanfare.consumers WHERE email = '$tag-bsecret-0@example.com'")
    b_email=$tag-bsecret-0@example.com
    b_rows=$(count_org "$orgB")
    b_sum=$(b_digest)
    [ -n "$b_id" ] || { fail "tenant B has a row to attack"; return; }

    check "direct SELECT: A sees none of B's rows" [ "$(as_tenant "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$orgB' OR id = '$b_id'")" = 0 ]
    check "direct SELECT: A sees exactly its own rows" [ "$(as_tenant "SELECT count(*) FROM fanfare.consumers")" = "$(count_org "$orgA")" ]
    as_tenant "COPY fanfare.consumers TO STDOUT" >"$work/copy.out"
    check "COPY TO: A's copy of the table holds A's rows and none of B's" \
        [ "$(grep -cF "$orgA" "$work/copy.out")/$(grep -cF -e "$orgB" -e "$b_id" "$work/copy.out")" = "$(count_org "$orgA")/0" ]
    out=$(as_tenant "INSERT INTO fanfare.consumers (organization_id, id, created_by, email_verified, phone_verified, status, email)
        VALUES ('$orgB', gen_random_uuid(), 'x', true, true, 'ACTIVE', '$sqltag-evil@example.com')")
    check "direct INSERT into B is refused (fanfare's insert guard, SQLSTATE 42501)" matches "$out" 'direct inserts into fanfare.consumers are not allowed'
    out=$(as_tenant "INSERT INTO fanfare.consumers (organization_id, id, created_by, email_verified, phone_verified, status, email)
        VALUES ('$orgA', gen_random_uuid(), 'x', true, true, 'ACTIVE', '$sqltag-unvalidated@example.com')")
    check "a direct INSERT into A's own rows is refused too (it would skip validation)" matches "$out" 'direct inserts into fanfare.consumers are not allowed'
    out=$(as_tenant "UPDATE fanfare.consumers SET full_name = 'pwned' WHERE organization_id = '$orgB'")
    check "direct UPDATE of B is refused" matches "$out" 'permission denied'
    out=$(as_tenant "DELETE FROM fanfare.consumers WHERE organization_id = '$orgB'")
    check "direct DELETE of B is refused" matches "$out" 'permission denied'
    out=$(as_tenant "TRUNCATE fanfare.consumers")
    check "TRUNCATE is refused" matches "$out" 'permission denied'
    out=$(as_tenant "SELECT count(*) FROM fanfare.api_keys")
    check "api_keys is not readable" matches "$out" 'permission denied'
    out=$(as_tenant "SELECT count(*) FROM fanfare.organizations")
    check "organizations is not readable" matches "$out" 'permission denied'
    out=$(as_tenant "SELECT * FROM fanfare.staged_consumer_rows() AS t(a int)")
    check "the internal row source cannot be called on its own" matches "$out" 'ERROR'
    out=$(as_tenant "SELECT (fanfare.create_consumers('{\"consumers\":[{\"organizationId\":\"$orgB\",\"id\":\"$b_id\",\"email\":\"$sqltag-viafn@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}'::jsonb)->0->>'organizationId')")
    check "create_consumers with B's organizationId and id in the body creates in A" [ "$out" = "$orgA" ]
    check "... with a new id, not B's" [ "$(psql_db -c "SELECT count(*) FROM fanfare.consumers WHERE id = '$b_id'")" = 1 ]
    out=$(as_tenant "SELECT fanfare.validate_consumers('{\"consumers\":[{\"email\":\"$b_email\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}'::jsonb)")
    check "validate_consumers does not reveal that B holds an email" [ "$out" = "[]" ]
    out=$(PGOPTIONS="-c request.jwt.claims={\"organization_id\":\"$orgA\"}" psql -X -At -U "$tenant_role" -d "$db" \
        -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$orgB'" 2>&1)
    check "the JWT-claims tenant (PostgREST) sees none of B's rows" [ "$out" = 0 ]
    out=$(psql -X -At -U "$tenant_role" -d "$db" -c "SELECT count(*) FROM fanfare.consumers" 2>&1)
    check "with no tenant set, no row is visible" [ "$out" = 0 ]
    out=$(psql -X -At -U "$tenant_role" -d "$db" -c "SELECT fanfare.create_consumers('{\"consumers\":[]}')" 2>&1)
    check "with no tenant set, create_consumers refuses (28000)" matches "$out" 'no organization for this request'

    printf '{"consumers":[{"organizationId":"%s","id":"%s","email":"%s","emailVerified":true,"phoneVerified":false,"status":"ACTIVE","fullName":"overwrite?"}]}' \
        "$orgB" "$b_id" "$b_email" >"$work/ab.json"
    out=$(curl -sS -X POST "http://127.0.0.1:$port/consumers/batch" -H "Authorization: Bearer $keyA" \
        -H 'Content-Type: application/json' --data-binary "@$work/ab.json")
    check "gateway with A's key and B's ids in the body: created in A, new id" \
        [ "$(node -e 'const b = JSON.parse(process.argv[1]); process.stdout.write(String(b[0].organizationId === process.argv[2] && b[0].id !== process.argv[3]))' "$out" "$orgA" "$b_id")" = true ]
    check "after every attempt, B's rows are exactly as they were" [ "$(count_org "$orgB")/$(b_digest)" = "$b_rows/$b_sum" ]
    # the check above must be able to fail: an owner's change to B shows
    psql_db -c "UPDATE fanfare.consumers SET full_name = 'changed' WHERE id = '$b_id'"
    check "(the B-unchanged check notices a change to B)" [ "$(b_digest)" != "$b_sum" ]
}

t_keys() {
    local old new out k secret leaked=0
    section "keys: hashes only, revocation and rotation at once, timing"
    for k in $(cut -d' ' -f2 "$work/tenants") "${revoked_keys[@]}"; do
        secret=${k:12}   # display_prefix is the first 12 characters
        [ "$(psql_db -c "SELECT count(*) FROM fanfare.api_keys t WHERE strpos(t::text, '$secret') > 0")" = 0 ] || leaked=1
    done
    check "api_keys holds no key text beyond the 12-character display prefix" [ $leaked = 0 ]
    check "each live key is stored as its SHA-256" [ "$(psql_db -c "SELECT count(*) FROM fanfare.api_keys WHERE key_hash = sha256(convert_to('$keyA', 'UTF8')) AND revoked_at IS NULL")" = 1 ]
    # every byte the cluster has written: tables, indexes, WAL
    psql_db -c CHECKPOINT
    check "no key in any file of the data directory (tables, indexes, WAL)" \
        bash -c '! grep -rqF -e "${1:12}" -e "${2:12}" -e "${3:12}" "$4" 2>/dev/null' _ "$keyA" "$keyB" "${revoked_keys[1]}" "$FANFARE_TEST_DATADIR"
    check "(the data-directory grep finds what is there: a stored email)" grep -rqF "$tag-bsecret-0@example.com" "$FANFARE_TEST_DATADIR"

    post_status() {
        curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/consumers/batch" -H "Authorization: Bearer $1" \
            -H 'Content-Type: application/json' --data-binary "{\"consumers\":[{\"email\":\"$tag-$2@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}"
    }
    read -r orgC old < <(sed -n 3p "$work/tenants")
    check "the key works before rotation" [ "$(post_status "$old" rot-0)" = 200 ]
    new=$(psql_db -c "SELECT fanfare.rotate_secret_key('$orgC')")
    check "the rotated-out key fails at once (next request)" [ "$(post_status "$old" rot-1)" = 401 ]
    check "the new key works at once" [ "$(post_status "$new" rot-2)" = 200 ]
    psql_db -c "UPDATE fanfare.api_keys SET revoked_at = now() WHERE organization_id = '$orgC' AND revoked_at IS NULL AND kind = 'secret'"
    check "a revoked key fails at once (next request)" [ "$(post_status "$new" rot-3)" = 401 ]
    check "nothing was stored with a refused key" [ "$(psql_db -c "SELECT count(*) FROM fanfare.consumers WHERE email IN ('$tag-rot-1@example.com', '$tag-rot-3@example.com')")" = 0 ]
    revoked_keys+=("$old" "$new")

    out=$(psql_db -c "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT 1 FROM fanfare.api_keys k WHERE k.key_hash = sha256(convert_to('x', 'UTF8')) AND k.kind = 'secret'")
    check "key lookup is by SHA-256 through the unique index on key_hash" matches "$out" 'Index.*api_keys_key_hash_key'
    node "$here/timing.mjs" --port "$port" --key "$keyA" --n 300 --self-test >"$work/timing.json"
    local rc=$?
    note "timing: $(cat "$work/timing.json")"
    check "wrong-key timing does not depend on the matching prefix (8 vs 40 vs 50 chars; and its self-test)" [ $rc = 0 ]
}

t_verbatim() {
    local id
    section "SQL, HTML and shell metacharacters stored and returned verbatim"
    node "$here/verbatim.mjs" send --port "$port" --key "$keyA" --tag "$tag" --out "$work/verbatim.json" >"$work/verbatim.sent"
    check "every text field and metadata key/value comes back verbatim in the 200" [ $? = 0 ] || note "$(cat "$work/verbatim.sent")"
    id=$(json_get "$work/verbatim.json" 's.id')
    psql_db -c "SELECT jsonb_build_object('email', email, 'fullName', full_name, 'phone', phone, 'lastGeoCity', last_geo_city,
        'lastGeoCountry', last_geo_country, 'lastGeoPostalCode', last_geo_postal_code, 'lastGeoRegion', last_geo_region,
        'lastGeoSource', last_geo_source, 'lastGeoTimezone', last_geo_timezone, 'verificationCode', verification_code,
        'metadata', metadata) FROM fanfare.consumers WHERE id = '$id'" >"$work/verbatim.db"
    node "$here/verbatim.mjs" check --out "$work/verbatim.json" --db "$work/verbatim.db" >"$work/verbatim.check"
    check "and the database holds them verbatim" [ $? = 0 ] || note "$(cat "$work/verbatim.check")"
    check "the table is still there and the keys intact" [ "$(psql_db -c "SELECT count(*) > 0 FROM fanfare.api_keys")" = t ]
    # the comparison itself: a changed byte must be caught
    sed 's/DROP TABLE/DROP TABLX/' "$work/verbatim.db" >"$work/verbatim.broken"
    check "(the verbatim check catches one changed byte)" \
        bash -c '! node "$1" check --out "$2" --db "$3" >/dev/null' _ "$here/verbatim.mjs" "$work/verbatim.json" "$work/verbatim.broken"
}

t_hostile_http() {
    saved_pid=$gw_pid saved_port=$port   # global: cleanup stops it too
    section "hostile HTTP against a gateway with --max-connections 32 --idle-timeout 2 --header-timeout 2"
    gw_pid= port=
    start_gateway hostile --max-connections 32 --idle-timeout 2 --header-timeout 2 --threads 2 --pool 2 || { fail "hostile gateway starts"; gw_pid=$saved_pid port=$saved_port saved_pid=; return; }
    node "$here/hostile.mjs" --port "$port" --key "$keyA" --tag "${tag}hostile" --max-connections 32 --idle-timeout 2 >"$work/hostile.json"
    while IFS=$'\t' read -r okv is_known name detail; do
        if [ "$okv" = true ]; then ok "$name${detail:+ $detail}"
        elif [ "$is_known" = true ]; then known_bug "$name $detail"
        else fail "$name" "$detail"; fi
    done < <(node -e 'for (const r of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")))
        console.log([r.ok, !!r.known, r.name, r.detail === undefined ? "" : JSON.stringify(r.detail)].join("\t"))' "$work/hostile.json")
    check "the hostile-HTTP gateway is still running" kill -0 "$gw_pid"
    stop_gateway
    gw_pid=$saved_pid port=$saved_port saved_pid=
}

# grep_logs STRING...: true if any string is in the gateway logs or in the
# part of the server log written since this suite started
grep_logs() {
    local s found=1
    for s in "$@"; do
        grep -qF -e "$s" "$work"/gw-*.out "$work"/gw-*.err 2>/dev/null && { echo "# in the gateway log: ${s:0:16}..."; found=0; }
        # not a pipe: grep -q stops at the first match, and under pipefail
        # tail's SIGPIPE would then turn a match into a failure
        grep -qF -e "$s" < <(tail -c +$((log_offset + 1)) "$server_log") &&
            { echo "# in the server log: ${s:0:16}..."; found=0; }
    done
    return $found
}
no_logs() { ! grep_logs "$@"; }

t_logs() {
    local marker control pg_control
    section "keys and bodies never in the logs"
    # a body PostgreSQL cannot parse, with a marker right before the error
    marker=nj$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    curl -sS -o /dev/null -X POST "http://127.0.0.1:$port/consumers/batch" -H "Authorization: Bearer $keyA" \
        -H 'Content-Type: application/json' --data-binary "{\"consumers\":[{\"fullName\":\"$marker\" oops}]}"
    # positive controls: strings that are logged, one per log
    control=ctl$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    curl -sS -o /dev/null "http://127.0.0.1:$port/healthz" -H "X-Request-Id: $control"
    pg_control=pg$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    psql_db -c "DO \$\$ BEGIN RAISE WARNING '%', '$pg_control'; END \$\$" 2>/dev/null
    check "(the log grep finds a request id in the gateway log)" grep_logs "$control"
    check "(the log grep finds a warning in the server log)" grep_logs "$pg_control"
    local keys=() k
    # every key of the run but the malformed one: live, rotated, revoked, publishable, never issued
    for k in $(printf '%s\n' $(cut -d' ' -f2 "$work/tenants") "${revoked_keys[@]}" "${bad_keys[@]:0:3}" | sort -u); do
        keys+=("${k:8}")
    done
    check "no key (${#keys[@]} issued, rotated, revoked or bad; without the sk_live_ prefix) in any log" no_logs "${keys[@]}"
    check "no body in any log (run tag $tag, metacharacter strings, names)" \
        no_logs "$tag" "DROP TABLE fanfare" "<script>" "rm -rf" "Load 1." "B private"
    if grep_logs "$marker" >/dev/null; then
        fail "a body PostgreSQL cannot parse is not in the server log" "found in the server log"
    else
        ok "a body PostgreSQL cannot parse is not in the server log"
    fi
}
# The gateway's login (setup_db, tools/lib.sh gateway_login_sql) may run
# fanfare.api_import_consumers and its dry run, nothing else of fanfare: with the
# credential alone, no tenant can be chosen and no row read.
as_login() { psql -X -q -v ON_ERROR_STOP=1 -At -U "$login" -d "$db" -c "$1" 2>&1; }
t_gateway_login() {
    local out
    section "the gateway's login holds EXECUTE on fanfare.api_import_consumers and its dry run only"
    check "it is not a member of fanfare_api" [ "$(psql_db -c "SELECT pg_catalog.pg_has_role('$login', 'fanfare_api', 'MEMBER')")" = f ]
    check "the fanfare functions it may execute are api_import_consumers(text, bytea, text) and api_import_consumers_dry_run(text, bytea)" \
        [ "$(psql_db -c "SELECT string_agg(p.oid::regprocedure::text, ' ' ORDER BY p.oid::regprocedure::text) FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'fanfare'::regnamespace AND pg_catalog.has_function_privilege('$login', p.oid, 'EXECUTE')")" = \
          "fanfare.api_import_consumers(text,bytea,text) fanfare.api_import_consumers_dry_run(text,bytea)" ]
    check "it may read no table of fanfare" [ "$(psql_db -c "SELECT count(*) FROM pg_catalog.pg_class c
            WHERE c.relnamespace = 'fanfare'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
              AND pg_catalog.has_table_privilege('$login', c.oid, 'SELECT')")" = 0 ]
    out=$(as_login "SELECT fanfare.create_consumers('{\"consumers\":[{\"email\":\"$sqltag-gw@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}')")
    check "as the gateway's login: fanfare.create_consumers is refused" matches "$out" 'permission denied'
    out=$(as_login "SELECT * FROM fanfare.import_consumers('{\"consumers\":[]}')")
    check "as the gateway's login: fanfare.import_consumers is refused" matches "$out" 'permission denied'
    out=$(as_login "SELECT count(*) FROM fanfare.consumers")
    check "as the gateway's login: reading fanfare.consumers is refused" matches "$out" 'permission denied'
    out=$(as_login "SET fanfare.organization_id = '$orgA'; SELECT count(*) FROM fanfare.consumers")
    check "as the gateway's login: SET fanfare.organization_id, then reading the tenant's consumers is refused" matches "$out" 'permission denied'
    out=$(as_login "SET fanfare.organization_id = '$orgA'; SELECT fanfare.validate_consumers('{\"consumers\":[]}')")
    check "... and so is validate_consumers for that tenant" matches "$out" 'permission denied'
    out=$(as_login "SET fanfare.organization_id = '$orgA'; SELECT * FROM fanfare.post_consumers_batch('{\"consumers\":[]}')")
    check "... and post_consumers_batch (PostgREST's)" matches "$out" 'permission denied'
    out=$(as_login "SELECT count(*) FROM fanfare.api_keys")
    check "... and reading api_keys" matches "$out" 'permission denied'
    # the check can fail: the same read works for a member of fanfare_api
    check "(SET fanfare.organization_id and the read work for a fanfare_api member: the check above can fail)" \
        [ "$(psql_as "$tenant_role" "$orgA" "SELECT count(*) FROM fanfare.consumers")" = "$(count_org "$orgA")" ]
    check "through the gateway, as that login, POST /consumers/batch is 200" \
        [ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/consumers/batch" -H "Authorization: Bearer $keyA" \
            -H 'Content-Type: application/json' -H "Idempotency-Key: $tag-gwlogin" \
            --data-binary "{\"consumers\":[{\"email\":\"$tag-gwlogin@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}")" = 200 ]
    check "... and /healthz is 200" [ "$(healthz)" = 200 ]
}

# The key and the body are bind parameters of the gateway's statement:
# with log_min_duration_statement = 0 or log_statement = all on the server,
# PostgreSQL logs them ("parameters: $1 = 'sk_live_...', $2 = '\x7b...'")
# unless log_parameter_max_length is 0, which gateway_login_sql sets on the
# gateway's login.  The negative control: a second gateway whose login has
# the same grants but not those settings; its key and body must show up.
reset_log_settings() {
    psql_db -c "ALTER SYSTEM RESET log_min_duration_statement" -c "ALTER SYSTEM RESET log_statement" \
        -c "SELECT pg_catalog.pg_reload_conf()" >/dev/null 2>&1
}
hex_of() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
t_parameter_logs() {
    local leaky=${login}_logged setting offset logs saved_login=$login orgP keyP orgN keyN m k
    saved_pid=$gw_pid saved_port=$port
    section "server log with log_min_duration_statement = 0, then log_statement = all: no key, no body"
    read -r orgP keyP < <(new_tenant "Reliability log, protected")
    read -r orgN keyN < <(new_tenant "Reliability log, control")
    { gateway_login_sql "$leaky"; echo "ALTER ROLE $leaky RESET log_parameter_max_length; ALTER ROLE $leaky RESET log_parameter_max_length_on_error;"; } | psql_db
    gw_pid= port= login=$leaky
    start_gateway logged || { fail "the control gateway starts"; login=$saved_login gw_pid=$saved_pid port=$saved_port saved_pid=; return; }
    leaky_port=$port leaky_pid=$gw_pid
    login=$saved_login gw_pid=$saved_pid port=$saved_port saved_pid=
    on_exit reset_log_settings
    for setting in "log_min_duration_statement = 0" "log_statement = 'all'"; do
        reset_log_settings
        psql_db -c "ALTER SYSTEM SET $setting" -c "SELECT pg_catalog.pg_reload_conf()" >/dev/null
        sleep 1
        offset=$(stat -c %s "$server_log")
        m=pm$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n') k=pk$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
        # through the gateway of the least-privilege login: a 200, a 400 and
        # a 401 (an error raised in the database)
        for body in "{\"consumers\":[{\"fullName\":\"$m\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}" \
            "{\"consumers\":[{\"fullName\":\"$m\",\"status\":\"NOPE\"}]}"; do
            curl -sS -o /dev/null -X POST "http://127.0.0.1:$port/consumers/batch" -H "Authorization: Bearer $keyP" \
                -H 'Content-Type: application/json' -H "Idempotency-Key: $k-$RANDOM" --data-binary "$body"
        done
        curl -sS -o /dev/null -X POST "http://127.0.0.1:$port/consumers/batch" -H "Authorization: Bearer sk_live_${m}unknownkey0000000000000000000" \
            -H 'Content-Type: application/json' --data-binary "{\"consumers\":[]}"
        # through the control gateway
        curl -sS -o /dev/null -X POST "http://127.0.0.1:$leaky_port/consumers/batch" -H "Authorization: Bearer $keyN" \
            -H 'Content-Type: application/json' -H "Idempotency-Key: ${k}ctl" \
            --data-binary "{\"consumers\":[{\"fullName\":\"${m}ctl\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}"
        sleep 0.5
        logs=$(tail -c +$((offset + 1)) "$server_log")
        check "$setting: the gateway's statements are in the server log" \
            [ "$(grep -c 'api_import_consumers' <<<"$logs")" -ge 4 ]
        check "$setting: no secret key, no body (text or hex), no Idempotency-Key of the gateway's login in the server log" \
            bash -c '! grep -qF -e "${1:8}" -e "$2" -e "$3" -e "$4" -e "$5" <<<"$6"' _ "$keyP" "$m\"" "$(hex_of "$m\"")" "$k-" "${m}unknownkey" "$logs"
        check "$setting: (control) without the role's settings the key, the body (hex) and the Idempotency-Key are logged" \
            bash -c 'grep -qF -e "${1:8}" <<<"$4" && grep -qF -e "$2" <<<"$4" && grep -qF -e "$3" <<<"$4"' _ \
            "$keyN" "$(hex_of "${m}ctl")" "${k}ctl" "$logs"
    done
    reset_log_settings
    kill -TERM "$leaky_pid" 2>/dev/null
    wait "$leaky_pid" 2>/dev/null
}
# === run =====================================================================
setup_reliability || abort "setup"
start_gateway main || abort "the gateway starts"
for t in ${RELIABILITY_TESTS:-t_sustained t_kill_database t_kill_gateway t_exactly_once t_pgbouncer_faults
    t_overlapping_emails t_backup t_tenant_isolation t_keys t_verbatim t_hostile_http t_logs t_gateway_login
    t_parameter_logs}; do
    "$t"
done
stop_gateway
summary
