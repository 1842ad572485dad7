# Shared helpers of test/reliability/run.sh and test/soak/run.sh (sourced):
# tenants, the kill of a postmaster, the gateway's memory, the load runs and
# their audit.  Loads the gateway harness (test/gateway/lib.sh), and through
# it tools/lib.sh.
#
# Expects: $work (a scratch directory), $db (the database), $login (the
# gateway's login, made by setup_db), PG* pointing at the cluster, FANFARE_TEST_DATADIR and
# FANFARE_TEST_PORT.
# shellcheck source=../gateway/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../gateway/lib.sh"

here=$fanfare_root/test/reliability
rss_pid=

# --- database ----------------------------------------------------------------
# psql_as ROLE ORG SQL: runs SQL as ROLE acting for tenant ORG; prints output, exit status of psql
psql_as() {
    PGOPTIONS="-c fanfare.organization_id=$2" psql -X -q -v ON_ERROR_STOP=1 -At -U "$1" -d "$db" -c "$3" 2>&1
}
postmaster_pid() { head -1 "$FANFARE_TEST_DATADIR/postmaster.pid" 2>/dev/null; }
# kill_postmaster: SIGKILL to the postmaster only (its backends notice and exit)
kill_postmaster() {
    local pid
    pid=$(postmaster_pid)
    [ -n "$pid" ] && kill -KILL "$pid"
}

# setup_durable_db: setup_db, with synchronous_commit on so that a 200 means
# the commit record was written before the answer (the throwaway cluster
# turns it off globally).  FANFARE_SYNC_COMMIT=off shows why: the kill -9
# audits then find 200s whose rows were lost.
setup_durable_db() {
    setup_db && psql_db -c "ALTER DATABASE $db SET synchronous_commit = ${FANFARE_SYNC_COMMIT:-on}"
}
# new_tenant NAME: prints "org key"
new_tenant() {
    local org key
    org=$(psql_db -c "SELECT fanfare.create_organization('$1')") || return 1
    key=$(psql_db -c "SELECT fanfare.rotate_secret_key('$org')") || return 1
    echo "$org $key"
}

# --- the gateway's memory ------------------------------------------------------
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
now_ms() { date +%s%3N; }

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
