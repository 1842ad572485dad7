#!/usr/bin/env bash
# PostgREST replay suite: replays, as PostgREST 12's roles, the statements
# PostgREST sends for POST /rpc/post_consumers_batch (replay.mjs says which),
# and checks bodies, statuses and stored rows against the contract.
#
#   test/postgrest/run.sh
#
# With PGHOST/PGPORT/PGUSER naming a running cluster (a superuser, the
# extension installed), the suite uses it, as the other suites do.  Without
# PGHOST it starts a throwaway cluster of its own (tools/cluster.sh, a free
# port in 55000-59999) and stops and removes it at exit, so that this script
# works alone.  FANFARE_REPLAY_INJECT=1 makes some expectations wrong on
# purpose (they must FAIL).  The last line is "N passed, M failed"; the exit
# status is non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

if [ ! -d ../conformance/node_modules ]; then
    (cd ../conformance && npm ci --silent --no-audit --no-fund >/dev/null) ||
        { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi

# A port nothing listens on, TCP or Unix socket.
free_port() {
    local port
    for _ in $(seq 1 100); do
        port=$((55000 + RANDOM % 5000))
        if [ -z "$(ss -Hln "sport = :$port" 2>/dev/null)" ]; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

work=
cleanup() {
    if [ -n "$work" ]; then
        "$root/tools/cluster.sh" stop "$work/data" || true
        rm -rf "$work"
    fi
}
trap cleanup EXIT

if [ -z "${PGHOST:-}" ]; then
    work=$(mktemp -d /tmp/fanfare-postgrest-test.XXXXXX)
    chmod 755 "$work"
    port=$(free_port) || { echo "no free port in 55000-59999"; echo "0 passed, 1 failed"; exit 1; }
    if ! FANFARE_FAST_CLUSTER=1 "$root/tools/cluster.sh" start "$work/data" "$port"; then
        echo "could not start a cluster on port $port"
        cat "$work/data/server.log" 2>/dev/null | tail -n 20
        echo "0 passed, 1 failed"
        exit 1
    fi
    eval "$("$root/tools/cluster.sh" env "$work/data" "$port")"
    echo "# throwaway cluster in $work/data, port $port"
fi
export PGUSER=${PGUSER:-postgres}

node replay.mjs
