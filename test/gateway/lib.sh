# The gateway harness (sourced): what the suites that speak HTTP to a real
# fanfare-gateway share: test/gateway/run.sh, test/reliability/run.sh and
# test/soak/run.sh.  Loads tools/lib.sh (clusters, reporting).
#
# Expects, before the functions are called: $work (a scratch directory), $db
# (the suite's database), $login (the LOGIN role the gateway connects as),
# the PG* variables pointing at the cluster.  Sets $gateway (the binary of
# the tree), and $gw_pid and $port while a gateway runs.  $launcher (an
# array, empty by default) is put in front of the gateway's command, e.g.
# valgrind.
# shellcheck source=../../tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib.sh"

gateway=$fanfare_root/src/gateway/fanfare-gateway
gw_pid=
gw_name=
gw_rc=
port=
lock_pid=
launcher=()

# --- database ----------------------------------------------------------------
psql_db() { psql_q -d "$db" "$@"; }

# create_login_role ROLE: a LOGIN role in fanfare_api; an existing one
# (roles are cluster-wide and outlive the suite's database, and another
# suite on the same cluster may have made it a least-privilege login) is
# made a member again
create_login_role() {
    psql_db <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$1') THEN
        CREATE ROLE $1 LOGIN IN ROLE fanfare_api;
    ELSE
        GRANT fanfare_api TO $1;
    END IF;
END
\$\$;
SQL
}

# setup_db: the suite's database, new, with the extension, and $login as
# the gateway's least-privilege login (tools/lib.sh, gateway_login_sql:
# EXECUTE on fanfare.api_import_consumers only, parameters never logged)
setup_db() {
    PGOPTIONS="-c client_min_messages=warning" dropdb --if-exists --force "$db" && createdb "$db" || return 1
    psql_db -c "CREATE EXTENSION fanfare" && gateway_login_sql "$login" | psql_db
}

# hold_lock SECONDS: a session that blocks every write to fanfare.consumers
# for a while (sets lock_pid), so that requests pile up inside the database;
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

# --- the gateway -------------------------------------------------------------
# start_gateway NAME [flags...]: starts the gateway (behind $launcher) for
# $db as $login and waits until it listens (60 s); sets gw_pid and port.
# Logs go to $work/gw-NAME.out (access log) and .err, appended.  With $port
# already set (a restart) it listens on that port again, so clients find it;
# empty $port first for a new one.
start_gateway() {
    local name=$1 listen=127.0.0.1:${port:-0} lines found
    shift
    lines=$(cat "$work/gw-$name.err" 2>/dev/null | wc -l)
    ${launcher[@]+"${launcher[@]}"} "$gateway" --listen "$listen" \
        --database "host=$PGHOST port=$PGPORT dbname=$db user=$login" "$@" \
        >>"$work/gw-$name.out" 2>>"$work/gw-$name.err" &
    gw_pid=$!
    gw_name=$name
    for _ in $(seq 1 600); do
        found=$(tail -n +$((lines + 1)) "$work/gw-$name.err" | sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' | tail -1)
        [ -n "$found" ] && { port=$found; return 0; }
        kill -0 "$gw_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "gateway $name did not start:"
    tail -n 5 "$work/gw-$name.err"
    return 1
}
# stop_gateway: SIGTERM and wait; sets gw_rc (the gateway's exit status)
stop_gateway() {
    [ -n "$gw_pid" ] || return 0
    kill -TERM "$gw_pid" 2>/dev/null
    wait "$gw_pid" 2>/dev/null
    gw_rc=$?
    gw_pid=
}
# stop_helpers: kills what a suite may have left running: the gateway, a
# lock holder (for on_exit)
stop_helpers() {
    [ -n "$gw_pid" ] && kill -KILL "$gw_pid" 2>/dev/null
    [ -n "$lock_pid" ] && kill "$lock_pid" 2>/dev/null
    return 0
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

# json_get FILE EXPR: prints EXPR evaluated with s (or b, for a body) = the
# JSON in FILE ("NOT JSON" when FILE does not parse)
json_get() {
    node -e 'const fs = require("fs");
        let s; try { s = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch (e) { process.stdout.write("NOT JSON"); process.exit(0); }
        process.stdout.write(String(new Function("s", "b", "return (" + process.argv[2] + ")")(s, s)));' "$1" "$2"
}
