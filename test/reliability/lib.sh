# Shared helpers of test/reliability/run.sh and test/soak/run.sh (sourced).
#
# Expects: $root (the repository), $work (a scratch directory), $db (the
# database), $login (a LOGIN role in fanfare_api), PG* pointing at the
# cluster, FANFARE_TEST_DATADIR and FANFARE_TEST_PORT.

here=$root/test/reliability
gateway=$root/src/gateway/fanfare-gateway
passed=0
failed=0
known=0
gw_pid=
port=
rss_pid=

# --- reporting ---------------------------------------------------------------
ok() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; return 1; fi; }
# known_bug NAME: a check that fails because of a bug reported to the lead;
# counted apart unless FANFARE_STRICT=1, which makes it a failure.
known_bug() {
    if [ "${FANFARE_STRICT:-0}" = 1 ]; then fail "$1" "known bug"
    else known=$((known + 1)); echo "KNOWN BUG - $1"; fi
}
note() { echo "# $*"; }
section() { echo "# == $* (at ${SECONDS} s)"; }
matches() { [[ $1 =~ $2 ]]; }
summary() {
    echo
    [ "$known" -gt 0 ] && echo "# $known known bug(s) reported, not counted (FANFARE_STRICT=1 counts them)"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# --- database ----------------------------------------------------------------
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" "$@"; }
# psql_as ROLE ORG SQL: runs SQL as ROLE acting for tenant ORG; prints output, exit status of psql
psql_as() {
    PGOPTIONS="-c fanfare.organization_id=$2" psql -X -q -v ON_ERROR_STOP=1 -At -U "$1" -d "$db" -c "$3" 2>&1
}
postmaster_pid() { head -1 "$FANFARE_TEST_DATADIR/postmaster.pid" 2>/dev/null; }
cluster_running() {
    local pid
    pid=$(postmaster_pid)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
# cluster_start: starts the cluster, retrying while backends orphaned by a
# killed postmaster still hold its shared memory
cluster_start() {
    local i
    for i in $(seq 1 60); do
        "$root/tools/cluster.sh" start "$FANFARE_TEST_DATADIR" "$FANFARE_TEST_PORT" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}
# kill_postmaster: SIGKILL to the postmaster only (its backends notice and exit)
kill_postmaster() {
    local pid
    pid=$(postmaster_pid)
    [ -n "$pid" ] && kill -KILL "$pid"
}

# setup_db: the database, the extension, the gateway's login role;
# synchronous_commit on so that a 200 means the commit record was written
# before the answer (the throwaway cluster turns it off globally).
# FANFARE_SYNC_COMMIT=off shows why: the kill -9 audits then find 200s whose
# rows were lost.
setup_db() {
    PGOPTIONS="-c client_min_messages=warning" dropdb --if-exists --force "$db" && createdb "$db" || return 1
    psql_db <<SQL || return 1
CREATE EXTENSION fanfare;
ALTER DATABASE $db SET synchronous_commit = ${FANFARE_SYNC_COMMIT:-on};
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$login') THEN
        CREATE ROLE $login LOGIN IN ROLE fanfare_api;
    END IF;
END
\$\$;
SQL
}
# new_tenant NAME: prints "org key"
new_tenant() {
    local org key
    org=$(psql_db -c "SELECT fanfare.create_organization('$1')") || return 1
    key=$(psql_db -c "SELECT fanfare.rotate_secret_key('$org')") || return 1
    echo "$org $key"
}

# --- the gateway -------------------------------------------------------------
# start_gateway NAME [flags...]: sets gw_pid and port.  With $port already
# set (a restart), listens on that port again, so clients find it.
start_gateway() {
    local name=$1 listen=127.0.0.1:${port:-0} lines found
    shift
    lines=$(cat "$work/gw-$name.err" 2>/dev/null | wc -l)
    "$gateway" --listen "$listen" --database "host=$PGHOST port=$PGPORT dbname=$db user=$login" "$@" \
        >>"$work/gw-$name.out" 2>>"$work/gw-$name.err" &
    gw_pid=$!
    for _ in $(seq 1 300); do
        found=$(tail -n +$((lines + 1)) "$work/gw-$name.err" | sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' | tail -1)
        [ -n "$found" ] && { port=$found; return 0; }
        kill -0 "$gw_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "gateway $name did not start:"; tail -5 "$work/gw-$name.err"
    return 1
}
stop_gateway() {
    [ -n "$gw_pid" ] || return 0
    kill -TERM "$gw_pid" 2>/dev/null
    wait "$gw_pid" 2>/dev/null
    gw_pid=
}
healthz() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/healthz"; }
# wait_healthy SECONDS: until /healthz is 200
wait_healthy() {
    local i
    for i in $(seq 1 $(($1 * 5))); do
        [ "$(healthz)" = 200 ] && return 0
        sleep 0.2
    done
    return 1
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
# rss_sampler PID FILE: one "seconds rss_kb" line per second until stopped
rss_start() {
    local pid=$1 file=$2
    : >"$file"
    (
        t=0
        while kill -0 "$pid" 2>/dev/null && [ "$t" -lt 3600 ]; do
            echo "$t $(rss_kb "$pid")" >>"$file"
            sleep 1
            t=$((t + 1))
        done
    ) &
    rss_pid=$!
}
rss_stop() { [ -n "$rss_pid" ] && kill "$rss_pid" 2>/dev/null; wait "$rss_pid" 2>/dev/null; rss_pid=; }
# rss_at FILE SECOND: the sample at (or just before) SECOND, in kB
rss_at() { awk -v s="$2" '$1 <= s && $2 != "" {v = $2} END {print v + 0}' "$1"; }
rss_max_after() { awk -v s="$2" '$1 >= s && $2 > m {m = $2} END {print m + 0}' "$1"; }

# --- load and audit ----------------------------------------------------------
# keys_file FILE BADKEY...: the tenants (org key lines in $work/tenants) as JSON for load.mjs
keys_file() {
    local file=$1
    shift
    node -e 'const fs = require("fs");
        const tenants = fs.readFileSync(process.argv[1], "utf8").trim().split("\n")
            .map((l) => l.split(" ")).map(([org, key]) => ({org, key}));
        fs.writeFileSync(process.argv[2], JSON.stringify({tenants, badKeys: process.argv.slice(3)}));' \
        "$work/tenants" "$file" "$@"
}
# dump_rows TAG FILE: the stored consumers whose email carries TAG, as id,email,organization_id
dump_rows() {
    psql_db -F, -c "SELECT id, email, organization_id FROM fanfare.consumers WHERE email LIKE '$1-%'" >"$2"
}
# json_get FILE EXPR: evaluates EXPR with s = the JSON in FILE
json_get() {
    node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        process.stdout.write(String(new Function("s", "return (" + process.argv[2] + ")")(s)));' "$1" "$2"
}

# --- load runs (need $tag, $port, $work/keys.json) ---------------------------
# load NAME SECONDS CONNECTIONS: load.mjs in the background (sets load_pid);
# emails carry $tag$NAME, the client log is $work/NAME.jsonl
load() {
    node "$here/load.mjs" --url "http://127.0.0.1:$port" --keys "$work/keys.json" --tag "$tag$1" \
        --out "$work/$1.jsonl" --duration "$2" --connections "$3" --max-requests "${max_requests:-200000}" \
        --seed "$RANDOM" >"$work/$1.summary" &
    load_pid=$!
}
# stop_load SECONDS: lets the load run SECONDS more, then stops it and waits
stop_load() {
    sleep "$1"
    kill -TERM "$load_pid" 2>/dev/null
    wait "$load_pid"
}
# audit NAME [audit.mjs flags...]: dumps the rows of that run and audits them
# (with the self-test); the summary is $work/NAME.audit
audit() {
    local t=$1
    shift
    dump_rows "$tag$t" "$work/$t.rows"
    node "$here/audit.mjs" --log "$work/$t.jsonl" --rows "$work/$t.rows" --keys "$work/keys.json" \
        --tag "$tag$t" --self-test "$@" >"$work/$t.audit"
}
audit_line() {
    json_get "$work/$1.audit" '`rows audited ${s.rowsAudited}, 200 batches ${s.batches200}, unanswered ${s.unanswered} (committed ${s.unansweredCommitted}), refused ${s.refused}, violations ${s.violationCount}${s.violations.length ? ": " + s.violations.slice(0, 3).join("; ") : ""}`'
}
# phase_counts NAME PHASE: status counts of the requests sent in that phase
phase_counts() { json_get "$work/$1.audit" "JSON.stringify(s.phases.find((p) => p.from === '$2').counts)"; }
# in_flight NAME MARK: what the requests in flight at MARK got
in_flight() { json_get "$work/$1.audit" "JSON.stringify(s.phases.find((p) => p.from === '$2').inFlight)"; }
# only_expected NAME PHASE...: every request sent in those phases got its kind's status
only_expected() {
    local t=$1 phase
    shift
    for phase in "$@"; do
        [ "$(json_get "$work/$t.audit" "Object.entries(s.phases.find((p) => p.from === '$phase').counts)
            .filter(([k]) => !['valid:200', 'invalid:400', 'badkey:401'].includes(k)).length")" = 0 ] || return 1
    done
}
# hold_lock SECONDS: a session that blocks every write to fanfare.consumers
# for a while, so that the requests in flight pile up inside the database;
# returns once the lock is held (or after 5 s)
hold_lock() {
    local i
    psql_db -c "BEGIN; LOCK TABLE fanfare.consumers IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($1); COMMIT;" >/dev/null 2>&1 &
    lock_pid=$!
    for i in $(seq 1 50); do
        [ "$(psql_db -c "SELECT count(*) FROM pg_catalog.pg_locks WHERE relation = 'fanfare.consumers'::regclass
            AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && return 0
        sleep 0.1
    done
    return 1
}
