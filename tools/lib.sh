# The shell library of fanfare's scripts: sourced, never run.
#
#   . "$(dirname "$0")/../../tools/lib.sh"      from test/NAME/run.sh
#   . "$(dirname "$0")/lib.sh"                   from tools/
#
# Loading it sets fanfare_root (the repository), PG_CONFIG (exported; see
# find_pg_config) and SUDO (empty as root, else sudo), and nothing else: no
# directory change, no trap until on_exit is called.  Sourcing it twice is a
# no-op, so a suite and the helper file it sources may both load it.
#
# Why here and not under test/: tools/run.sh (make run), tools/deps.sh and
# tools/cluster.sh use it as much as the suites do, and tools/ is where the
# project's own shell plumbing lives.  The gateway's harness (HTTP requests,
# starting the gateway), shared by the gateway, reliability and soak suites,
# is test/gateway/lib.sh, which loads this file.
#
# Groups of functions, in the order below:
#   environment   find_pg_config as_root as_owner apt_install
#                 build_and_install node_deps psql_q
#   exit hooks    on_exit new_work_dir
#   clusters      cluster_start cluster_stop cluster_running cluster_env
#                 cluster_use free_port wait_port wait_server
#   the gateway's login   gateway_login_sql
#   replication   cluster_standby cluster_wait_streaming cluster_sync
#                 cluster_promote cluster_kill
#   suites        throwaway_cluster suite_build suite_cluster
#                 leave_cluster_running suite_cluster_restart
#   reporting     ok fail check known_bug step note section matches
#                 summary abort
[ -z "${fanfare_lib_loaded:-}" ] || return 0
fanfare_lib_loaded=1

fanfare_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --- environment -------------------------------------------------------------

# find_pg_config: prints the pg_config to build and run with: $PG_CONFIG when
# set, else PostgreSQL 15's own (Debian's /usr/bin/pg_config is libpq's and
# may name another server), else the first in PATH.
find_pg_config() {
    if [ -n "${PG_CONFIG:-}" ]; then
        echo "$PG_CONFIG"
    elif [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
        echo /usr/lib/postgresql/15/bin/pg_config
    else
        command -v pg_config || echo pg_config
    fi
}
PG_CONFIG=$(find_pg_config)
export PG_CONFIG

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# as_root CMD...: runs CMD as root (directly, or through sudo)
as_root() { $SUDO "$@"; }

# as_owner CMD...: runs CMD as the owner of the clusters: initdb refuses to
# run as root, so as root that is the postgres user, otherwise the caller
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# apt_install PACKAGE...: installs those of the Debian packages that are
# missing; touches apt only when one is
apt_install() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# build_and_install: the packages of tools/deps.sh, then `make` of the tree
# (extension and gateway) and `make install` of the extension into the
# server's directories.  Quiet unless something fails.
build_and_install() {
    "$fanfare_root/tools/deps.sh" &&
        make -s -C "$fanfare_root" PG_CONFIG="$PG_CONFIG" &&
        as_root make -s -C "$fanfare_root" install PG_CONFIG="$PG_CONFIG" >/dev/null
}

# node_deps [--fresh]: test/conformance's node_modules (the oracle, the
# PostgreSQL client), shared by every node script of the tests; --fresh
# reinstalls them from the lock file even when they are there
node_deps() {
    local dir=$fanfare_root/test/conformance
    if [ "${1:-}" = --fresh ] || [ ! -d "$dir/node_modules" ]; then
        (cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null) || { echo "npm ci failed in $dir" >&2; return 1; }
    fi
}

# psql_q ARGS...: psql for scripts: no psqlrc, quiet, unaligned, tuples only,
# stops at the first error (the exit status says so)
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# --- exit hooks --------------------------------------------------------------
# One EXIT trap runs every hook, the last registered first (a suite's own
# clean-up before the cluster it needs goes away).  The script's exit status
# is kept; a failing hook does not stop the others.  Ctrl-C and SIGTERM exit
# through the hooks too.
exit_hooks=()
run_exit_hooks() {
    local i
    trap - EXIT
    for ((i = ${#exit_hooks[@]} - 1; i >= 0; i--)); do
        eval "${exit_hooks[i]}" || true
    done
}
# on_exit COMMAND...: runs COMMAND (words, as given) when the script exits
on_exit() {
    exit_hooks+=("$(printf '%q ' "$@")")
    trap run_exit_hooks EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
remove_work_dir() {
    if [ "${FANFARE_KEEP_WORK:-0}" = 1 ]; then echo "# work kept in $1"; else rm -rf "$1"; fi
}
# new_work_dir NAME: sets $work to a new scratch directory /tmp/fanfare-NAME.*
# that the postgres user can enter; removed at exit unless FANFARE_KEEP_WORK=1
new_work_dir() {
    work=$(mktemp -d "/tmp/fanfare-$1.XXXXXX")
    chmod 755 "$work"
    on_exit remove_work_dir "$work"
}

# --- clusters ----------------------------------------------------------------
# A cluster is a data directory DIR with a server on 127.0.0.1:PORT and a
# Unix socket in DIR itself (so PGHOST=DIR), trust authentication for local
# connections, superuser postgres, the log in DIR/server.log.

# cluster_create DIR: initdb, once.  FANFARE_FAST_CLUSTER=1 trades
# durability for speed (fsync off), for throwaway clusters.  fanfare is
# preloaded (its rate limit counts in shared memory), unless
# FANFARE_CLUSTER_PRELOAD=0 (the benchmark, which loads an older fanfare
# library beside this one); fanfare.rate_limit is
# $FANFARE_CLUSTER_RATE_LIMIT, else 0 (off), so that no suite's load meets
# the default: suites limit their own organizations (fanfare.set_rate_limit).
cluster_create() {
    local dir=$1 bindir
    [ -f "$dir/PG_VERSION" ] && return 0
    bindir=$("$PG_CONFIG" --bindir)
    mkdir -p "$dir" || return 1
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir" || return 1; fi
    chmod 700 "$dir"
    as_owner "$bindir/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null || return 1
    cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
max_prepared_transactions = 10
log_min_messages = warning
logging_collector = off
fanfare.rate_limit = ${FANFARE_CLUSTER_RATE_LIMIT:-0}
CONF
    if [ "${FANFARE_CLUSTER_PRELOAD:-1}" = 1 ]; then
        echo "shared_preload_libraries = 'fanfare'" >>"$dir/postgresql.conf"
    fi
    if [ "${FANFARE_FAST_CLUSTER:-0}" = 1 ]; then
        printf 'fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n' >>"$dir/postgresql.conf"
    fi
}

# cluster_start DIR PORT [PG_CTL_ARGS...]: creates the cluster if needed and
# starts it, waiting until it accepts connections (60 s; a later -t wins).
# Extra arguments go to pg_ctl (e.g. -p WRAPPER, -o "-c setting=value").
# On failure prints the end of the server log.
cluster_start() {
    local dir=$1 port=$2
    shift 2
    cluster_create "$dir" || return 1
    if ! as_owner "$("$PG_CONFIG" --bindir)/pg_ctl" -D "$dir" -o "-p $port" -l "$dir/server.log" \
        -w -t 60 "$@" start >/dev/null; then
        echo "cluster in $dir did not start on port $port:" >&2
        tail -n 20 "$dir/server.log" >&2 2>/dev/null
        return 1
    fi
}

# cluster_stop DIR [PG_CTL_ARGS...]: fast shutdown, if it is running
cluster_stop() {
    local dir=$1
    shift
    [ -f "$dir/postmaster.pid" ] || return 0
    as_owner "$("$PG_CONFIG" --bindir)/pg_ctl" -D "$dir" -m fast -w "$@" stop >/dev/null || true
}

# cluster_running DIR: true while the postmaster of DIR is alive
cluster_running() {
    local pid
    pid=$(head -1 "$1/postmaster.pid" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# cluster_env DIR PORT: prints the shell line that points libpq at it
cluster_env() { echo "export PGHOST='$1' PGPORT='$2' PGUSER=postgres"; }

# cluster_use DIR PORT: points libpq (PGHOST, PGPORT, PGUSER) at it
cluster_use() { export PGHOST=$1 PGPORT=$2 PGUSER=postgres; }

# free_port [LOW HIGH]: prints a port in LOW..HIGH (55000..59999) on which
# nothing listens, TCP or Unix socket, and that no TCP connection uses as its
# local port (the range overlaps Linux's ephemeral ports: a busy client's
# connection there makes a server's bind fail)
free_port() {
    local low=${1:-55000} high=${2:-59999} port
    for _ in $(seq 1 100); do
        port=$((low + RANDOM % (high - low + 1)))
        if [ -z "$(ss -Hln "sport = :$port" 2>/dev/null)" ] && [ -z "$(ss -Htan "sport = :$port" 2>/dev/null)" ]; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port in $low-$high" >&2
    return 1
}

# wait_port HOST PORT [SECONDS]: until something accepts TCP connections
# there (default 30 s)
wait_port() {
    local i
    for ((i = 0; i < ${3:-30} * 10; i++)); do
        timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# wait_server [SECONDS]: until the server the PG* variables name accepts
# connections (default 30 s)
wait_server() {
    local i
    for ((i = 0; i < ${1:-30} * 5; i++)); do
        pg_isready -q -t 1 && return 0
        sleep 0.2
    done
    return 1
}

# --- the gateway's login -------------------------------------------------------

# gateway_login_sql ROLE: prints the SQL (run it as a superuser, in the
# database the gateway serves) that makes ROLE the gateway's login with
# least privilege: USAGE on schema fanfare and EXECUTE on
# fanfare.api_import_consumers, the function the gateway calls (a
# SECURITY DEFINER function that authenticates the key and sets the tenant
# itself), and on its dry run api_import_consumers_dry_run (Prefer:
# tx=rollback) when the extension has it; pg_catalog.current_setting and the /healthz SELECT 1 need nothing
# more.  ROLE is not a member of fanfare_api (an older make run made it one:
# that membership is revoked), so the credential cannot SET
# fanfare.organization_id and read a tenant through fanfare_api's grants.
# The key and the body are bind parameters, which log_min_duration_statement
# and log_statement = all would write to the server log: for ROLE, parameters
# are never logged (both settings are superuser-only, hence a superuser runs
# this).  Idempotent: the role is created if missing.
gateway_login_sql() {
    cat <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$1') THEN
        CREATE ROLE $1 LOGIN;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                 JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
                 JOIN pg_catalog.pg_roles u ON u.oid = m.member
                WHERE g.rolname = 'fanfare_api' AND u.rolname = '$1') THEN
        REVOKE fanfare_api FROM $1;
    END IF;
END
\$\$;
GRANT USAGE ON SCHEMA fanfare TO $1;
GRANT EXECUTE ON FUNCTION fanfare.api_import_consumers(text, bytea, text) TO $1;
DO \$\$
BEGIN
    IF pg_catalog.to_regprocedure('fanfare.api_import_consumers_dry_run(text, bytea)') IS NOT NULL THEN
        GRANT EXECUTE ON FUNCTION fanfare.api_import_consumers_dry_run(text, bytea) TO $1;
    END IF;
END
\$\$;
ALTER ROLE $1 SET log_parameter_max_length = 0;
ALTER ROLE $1 SET log_parameter_max_length_on_error = 0;
SQL
}

# --- replication ---------------------------------------------------------------
# A standby is a cluster made by pg_basebackup -R from a running one (the
# primary), on 127.0.0.1; the clusters' own trust rules for replication
# connections from 127.0.0.1 let it stream.  make run HA=1 (tools/run.sh)
# and test/failover/run.sh use these.

# cluster_standby DIR PORT PRIMARY_PORT: a new standby of the cluster on
# 127.0.0.1:PRIMARY_PORT in DIR (which must not exist yet), started on PORT
# (streaming, hot standby)
cluster_standby() {
    local dir=$1 port=$2 primary=$3 bindir
    bindir=$("$PG_CONFIG" --bindir)
    mkdir -p "$dir" || return 1
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir" || return 1; fi
    chmod 700 "$dir"
    # (the primary's socket, in its data directory, is skipped with a warning)
    as_owner "$bindir/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -D "$dir" -R -X stream -c fast \
        2> >(grep -v 'skipping special file' >&2) || return 1
    # the primary's files came along: its socket directory and log are not ours
    rm -f "$dir/server.log"
    echo "unix_socket_directories = '$dir'" >>"$dir/postgresql.conf" || return 1
    cluster_start "$dir" "$port"
}

# cluster_wait_streaming HOST PORT [SECONDS]: until the primary there has a
# standby in state streaming (default 30 s)
cluster_wait_streaming() {
    local i
    for ((i = 0; i < ${3:-30} * 10; i++)); do
        [ "$(psql_q -h "$1" -p "$2" -U postgres -d postgres -c "SELECT count(*) FROM pg_catalog.pg_stat_replication WHERE state = 'streaming'" 2>/dev/null)" -gt 0 ] 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# cluster_sync HOST PORT on|off: makes the primary's commits wait for a
# standby (synchronous_standby_names = '*', set with ALTER SYSTEM, so that it
# stays with this cluster and no basebackup taken earlier carries it), or
# stop waiting; with on, returns once a standby is synchronous (30 s)
cluster_sync() {
    local host=$1 port=$2 names=''
    [ "$3" = on ] && names='*'
    psql_q -h "$host" -p "$port" -U postgres -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = '$names'" \
        -c "SELECT pg_catalog.pg_reload_conf()" >/dev/null || return 1
    [ "$3" = on ] || return 0
    local i
    for ((i = 0; i < 300; i++)); do
        [ "$(psql_q -h "$host" -p "$port" -U postgres -d postgres -c "SELECT count(*) FROM pg_catalog.pg_stat_replication WHERE sync_state = 'sync'")" -gt 0 ] && return 0
        sleep 0.1
    done
    return 1
}

# cluster_promote DIR: promotes the standby in DIR and waits until it is
# read-write
cluster_promote() { as_owner "$("$PG_CONFIG" --bindir)/pg_ctl" -D "$1" -w -t 60 promote >/dev/null; }

# cluster_kill DIR: kill -9 of the postmaster of DIR and of every process it
# started, at once: what a primary's machine dying looks like to the others
cluster_kill() {
    local pid children
    pid=$(head -1 "$1/postmaster.pid" 2>/dev/null)
    [ -n "$pid" ] || return 1
    children=$(ps -o pid= --ppid "$pid" 2>/dev/null)
    # shellcheck disable=SC2086  # a list of pids
    kill -KILL "$pid" $children 2>/dev/null
    return 0
}

# --- clusters for suites -------------------------------------------------------
# Every suite runs against the cluster named by PGHOST/PGPORT/PGUSER.  The
# variables FANFARE_TEST_DATADIR and FANFARE_TEST_PORT name its data directory
# and port, for the suites that restart it or read its server.log.

# fast_cluster NAME: starts a fast cluster in a new directory
# /tmp/fanfare-NAME-pg.*, on a free port, stopped and removed at exit; sets
# cluster_dir (its data directory) and cluster_port
fast_cluster() {
    local dir
    dir=$(mktemp -d "/tmp/fanfare-$1-pg.XXXXXX") || return 1
    chmod 755 "$dir"
    on_exit remove_cluster "$dir"
    cluster_port=$(free_port) || return 1
    cluster_dir=$dir/data
    FANFARE_FAST_CLUSTER=1 cluster_start "$cluster_dir" "$cluster_port"
}

# throwaway_cluster NAME: a fast_cluster of the suite's own; points PG* and
# FANFARE_TEST_* at it
throwaway_cluster() {
    fast_cluster "$1" || return 1
    cluster_use "$cluster_dir" "$cluster_port"
    export FANFARE_TEST_DATADIR=$cluster_dir FANFARE_TEST_PORT=$cluster_port
    echo "# throwaway cluster in $cluster_dir, port $cluster_port"
}
remove_cluster() {
    cluster_stop "$1/data"
    # orphans of a killed postmaster may hold the directory a moment
    rm -rf "$1" 2>/dev/null || { sleep 1; rm -rf "$1"; }
}

# suite_build: builds and installs the tree, unless PGHOST is set (then the
# caller, such as tools/test.sh, has done it and the cluster is ready)
suite_build() {
    [ -n "${PGHOST:-}" ] && return 0
    build_and_install || { echo "the build failed" >&2; return 1; }
}

# suite_cluster NAME [--restarts]: the cluster a suite runs against.  With
# PGHOST set (tools/test.sh, or a cluster of your own) that one, once it
# accepts connections (5 s); FANFARE_TEST_DATADIR defaults to PGHOST when
# PGHOST is a data directory (the clusters above have their socket there).
# Without PGHOST it builds and installs the tree, then starts a throwaway
# cluster (see above).  --restarts: the suite stops, kills or restarts the
# cluster, so it fails unless FANFARE_TEST_DATADIR and FANFARE_TEST_PORT are
# known, and a shared cluster is started again at exit if the suite left it
# down.
suite_cluster() {
    if [ -z "${PGHOST:-}" ]; then
        suite_build && throwaway_cluster "$1"
        return
    fi
    export PGUSER=${PGUSER:-postgres}
    if ! wait_server 5; then
        note "no server accepts connections at PGHOST=$PGHOST PGPORT=${PGPORT:-5432} (unset PGHOST for a cluster of the suite's own)"
        return 1
    fi
    if [ -z "${FANFARE_TEST_DATADIR:-}" ] && [ -f "$PGHOST/PG_VERSION" ]; then
        export FANFARE_TEST_DATADIR=$PGHOST FANFARE_TEST_PORT=${FANFARE_TEST_PORT:-${PGPORT:-5432}}
    fi
    [ "${2:-}" = --restarts ] || return 0
    if [ -z "${FANFARE_TEST_DATADIR:-}" ] || [ -z "${FANFARE_TEST_PORT:-}" ]; then
        note "$1 restarts the cluster: set FANFARE_TEST_DATADIR and FANFARE_TEST_PORT, or unset PGHOST"
        return 1
    fi
    on_exit leave_cluster_running
}
# leave_cluster_running: starts the suite's cluster again if it is down, for
# the suites that run after this one
leave_cluster_running() {
    cluster_running "$FANFARE_TEST_DATADIR" || suite_cluster_restart >/dev/null 2>&1
}

# suite_cluster_restart: starts the suite's cluster again (after a stop or a
# kill -9), retrying for 30 s while backends orphaned by a killed postmaster
# still hold its shared memory
suite_cluster_restart() {
    local i
    for i in $(seq 1 60); do
        cluster_start "$FANFARE_TEST_DATADIR" "$FANFARE_TEST_PORT" 2>/dev/null && return 0
        sleep 0.5
    done
    cluster_start "$FANFARE_TEST_DATADIR" "$FANFARE_TEST_PORT"
}

# --- reporting -----------------------------------------------------------------
# One line per check ("ok - NAME", "FAIL - NAME (DETAIL)"), then summary:
# the failed names again, and "N passed, M failed" as the last line; its exit
# status is the suite's.  Known bugs are counted apart (FANFARE_STRICT=1 makes
# them failures).
passed=0
failed=0
known=0
failed_names=()
ok() { passed=$((passed + 1)); echo "ok - $1"; }
fail() {
    failed=$((failed + 1))
    failed_names+=("$1")
    echo "FAIL - $1${2:+ ($2)}"
}
# check NAME COMMAND...: ok when COMMAND succeeds, else fail (and status 1)
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name"; return 1; fi
}
# known_bug NAME: a check that fails because of a reported bug
known_bug() {
    if [ "${FANFARE_STRICT:-0}" = 1 ]; then fail "$1" "known bug"
    else known=$((known + 1)); echo "KNOWN BUG - $1"; fi
}
# step NAME COMMAND...: a step of several checks of its own (a node runner,
# a whole suite): its output as it comes, then ok or fail by its exit status
step() {
    local name=$1 rc start=$SECONDS
    shift
    echo "== $name"
    "$@" && rc=0 || rc=$?
    if [ "$rc" -eq 0 ]; then ok "$name"; else fail "$name" "exit status $rc"; fi
    note "$name took $((SECONDS - start)) s"
    return "$rc"
}
note() { echo "# $*"; }
section() { echo "# == $* (at ${SECONDS} s)"; }
# matches TEXT REGEX: bash's extended regular expression match
matches() { [[ $1 =~ $2 ]]; }
# summary [LABEL]: the closing lines; status 0 when nothing failed
summary() {
    local name
    echo
    [ "$known" -gt 0 ] && echo "# $known known bug(s) reported, not counted (FANFARE_STRICT=1 counts them)"
    for name in ${failed_names[@]+"${failed_names[@]}"}; do echo "# failed: $name"; done
    echo "${1:+$1: }$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
# abort NAME [DETAIL]: a failure that ends the suite at once
abort() {
    fail "$@"
    summary
    exit 1
}
