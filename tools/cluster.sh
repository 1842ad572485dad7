#!/usr/bin/env bash
# A private PostgreSQL cluster for tests, benchmarks and `make run`.
#
#   tools/cluster.sh start DIR PORT   create (once) and start a cluster in DIR
#   tools/cluster.sh stop DIR         stop it (fast shutdown)
#   tools/cluster.sh env DIR PORT     print the libpq variables to reach it
#
# The server listens on 127.0.0.1 and on a Unix socket in DIR, with trust
# authentication for local connections, superuser "postgres".  initdb refuses
# to run as root, so as root the cluster belongs to the postgres user.
set -euo pipefail

cmd=${1:?usage: cluster.sh start|stop|env DIR [PORT]}
dir=${2:?data directory}
PG_CONFIG=${PG_CONFIG:-pg_config}
bindir=$("$PG_CONFIG" --bindir)

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    port=${3:?port}
    if [ ! -f "$dir/PG_VERSION" ]; then
        mkdir -p "$dir"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
        chmod 700 "$dir"
        as_owner "$bindir/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
max_prepared_transactions = 10
log_min_messages = warning
logging_collector = off
CONF
        # throwaway clusters (tests, bench) trade durability for speed
        if [ "${FANFARE_FAST_CLUSTER:-0}" = 1 ]; then
            printf 'fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n' >>"$dir/postgresql.conf"
        fi
    fi
    as_owner "$bindir/pg_ctl" -D "$dir" -o "-p $port" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
stop)
    if [ -f "$dir/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    fi
    ;;
env)
    port=${3:?port}
    echo "export PGHOST='$dir' PGPORT='$port' PGUSER=postgres"
    ;;
*)
    echo "usage: cluster.sh start|stop|env DIR [PORT]" >&2
    exit 2
    ;;
esac
