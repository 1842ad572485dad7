# The gateway harness (sourced): what the suites that speak HTTP to a real
# fanfare-gateway share: test/gateway/run.sh, test/reliability/run.sh and
# test/soak/run.sh.  Loads tools/lib.sh (clusters, reporting).  PgBouncer
# in front of the cluster: start_pgbouncer, stop_pgbouncer (on_exit it).
# The kill -9 of fanfare-import at a batch of its journal (test/import and
# test/router): kill_importer_at.
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
# returns once the lock is held (or after 5 s).  The session's
# application_name is fanfare-test-lock (release_lock ends it).
hold_lock() {
    local i
    PGAPPNAME=fanfare-test-lock psql_db -c "BEGIN; LOCK TABLE fanfare.consumers IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($1); COMMIT;" >/dev/null 2>&1 &
    lock_pid=$!
    for i in $(seq 1 50); do
        [ "$(psql_db -c "SELECT count(*) FROM pg_catalog.pg_locks WHERE relation = 'fanfare.consumers'::regclass
            AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && return 0
        sleep 0.1
    done
    return 1
}
# release_lock: ends hold_lock's session before its SECONDS are up (its
# sleep cancelled, its transaction rolled back, the lock gone) and waits for
# it, for a test that has seen what the lock was for
release_lock() {
    psql_db -c "SELECT count(pg_catalog.pg_cancel_backend(pid)) FROM pg_catalog.pg_stat_activity
        WHERE application_name = 'fanfare-test-lock'" >/dev/null
    wait "$lock_pid" 2>/dev/null
    lock_pid=
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

# --- PgBouncer -----------------------------------------------------------------
# stop_pgbouncer [SIGNAL]: PgBouncer, by the pid in its pidfile (as root
# $pgb_pid is runuser, which a SIGKILL would not pass on)
pgb_pid=
stop_pgbouncer() {
    local pid
    [ -n "$pgb_pid" ] || return 0
    pid=$(cat "$work/pgbouncer/pgbouncer.pid" 2>/dev/null)
    if [ -n "$pid" ] && kill "-${1:-TERM}" "$pid" 2>/dev/null; then
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    else
        kill "$pgb_pid" 2>/dev/null
    fi
    wait "$pgb_pid" 2>/dev/null
    pgb_pid=
    return 0
}
# start_pgbouncer: Debian's PgBouncer in front of the suite's cluster, on a
# free port (sets pgb_port, pgb_pid; with pgb_port set, on that port
# again), pool_mode = transaction; two database names: $db (4 server
# connections) and ${db}_one (1, so that a test knows which server
# connection a request gets).  $pgb_settings: more lines for its
# [pgbouncer] section.
pgb_port=
pgb_settings=
start_pgbouncer() {
    local dir=$work/pgbouncer
    [ -n "$pgb_port" ] || pgb_port=$(free_port) || return 1
    mkdir -p "$dir"
    rm -f "$dir/pgbouncer.pid"
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
$db = host=127.0.0.1 port=$PGPORT dbname=$db pool_size=4
${db}_one = host=127.0.0.1 port=$PGPORT dbname=$db pool_size=1
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 200
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
$pgb_settings
INI
    printf '"%s" ""\n"postgres" ""\n' "$login" >"$dir/users.txt"
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
    as_owner pgbouncer "$dir/pgbouncer.ini" >>"$dir/pgbouncer.out" 2>&1 &
    pgb_pid=$!
    wait_port 127.0.0.1 "$pgb_port" 10 && return 0
    note "PgBouncer on port $pgb_port: $(tail -n 3 "$dir/pgbouncer.out" "$dir/pgbouncer.log" 2>&1 | tr '\n' ' ')"
    return 1
}
# pgbouncer_admin COMMAND: on PgBouncer's admin console
pgbouncer_admin() { psql -X -q -At -h 127.0.0.1 -p "$pgb_port" -U postgres -d pgbouncer -c "$1" >/dev/null; }

# --- fanfare-import ------------------------------------------------------------
# importer_done JOURNAL: the last batch the importer's journal
# (FILE.fanfare-import) records as done; 0 before the first
importer_done() {
    local n
    n=$(sed -n 's/^done \([0-9]*\).*/\1/p' "$1" 2>/dev/null | tail -1)
    echo "${n:-0}"
}

# kill_importer_at PID JOURNAL N: kill -9 of the importer PID (a child of
# this shell, started with &, not a subshell around it, which the importer
# would outlive) once its journal records batch N as done, or when it ends
# on its own; then reaps it.  The journal is polled rather than a sleep of
# fixed length waited, which would race a fast run (200 small batches can
# take a tenth of a second).  Returns 0 when the importer was killed while
# running (its journal does not say complete), 1 when it had finished.
kill_importer_at() {
    local pid=$1 journal=$2 target=$3
    while kill -0 "$pid" 2>/dev/null; do
        [ "$(importer_done "$journal")" -ge "$target" ] && break
        sleep 0.002
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    ! grep -q '^complete' "$journal" 2>/dev/null
}
