#!/usr/bin/env bash
# `make run`: the whole thing on http://localhost:4800, in the foreground.
#
#   tools/run.sh            first run: install packages, build, install the
#                           extension, create a cluster, a database, a
#                           development organization and its secret key
#   tools/run.sh            later runs: reuse all of it and print the same key
#   tools/run.sh --rotate   issue a new secret key (the old one stops working)
#   tools/run.sh --shards N the same API through a router (make run SHARDS=N):
#                           the cluster holds the router database
#                           fanfare_router (the directory, the placements),
#                           N more clusters (ports after the first) one
#                           shard database each; N a power of two
#   tools/run.sh --ha       the production topology (make run HA=1): the
#                           cluster is a primary with a synchronous standby
#                           (pg_basebackup -R, on the next port), and the
#                           gateway connects with a multi-host string and
#                           target_session_attrs=read-write (README,
#                           "Production topology"); it prints how to fail over
#
# The gateway logs in as fanfare_gateway, granted only EXECUTE on
# fanfare.api_import_consumers, with log_parameter_max_length = 0 and
# log_parameter_max_length_on_error = 0 (tools/lib.sh, gateway_login_sql).
#
# State lives in .dev/ (ignored by git): the cluster, the organization id and
# the secret key (mode 0600); with --shards, .dev/router-N/ has the router's
# organization and key.  Ctrl-C stops the gateway and the clusters.
# FANFARE_DEV_PG_PORT (default 54800) and FANFARE_DEV_LISTEN (default
# 127.0.0.1:4800) move the ports.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=lib.sh
. tools/lib.sh

rotate=0
shards=0
ha=0
while [ $# -gt 0 ]; do
    case $1 in
    --rotate) rotate=1 ;;
    --ha) ha=1 ;;
    --shards) shards=${2:-}; shift ;;
    --shards=*) shards=${1#--shards=} ;;
    -h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
if ! [[ $shards =~ ^[0-9]+$ ]] || { [ "$shards" -gt 0 ] && [ $((shards & (shards - 1))) != 0 ]; }; then
    echo "run.sh: --shards wants a power of two (1, 2, 4, ...), not '$shards'" >&2
    exit 2
fi
if [ "$ha" = 1 ] && [ "$shards" != 0 ]; then
    echo "run.sh: --ha and --shards do not go together (a standby per shard is README, \"Production topology\")" >&2
    exit 2
fi

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

say "checking packages, building, installing the extension"
build_and_install

state=$root/.dev
mkdir -p "$state"
chmod 711 "$state"              # the postgres user may pass through, not list
datadir=$state/pgdata
if [ "$(id -u)" -eq 0 ] && ! as_owner test -x "$state"; then
    # as root the cluster belongs to postgres, which must reach the folder
    datadir=/var/tmp/fanfare-dev-$(printf '%s' "$root" | sha256sum | cut -c1-12)/pgdata
    mkdir -p "$(dirname "$datadir")"
    chmod 755 "$(dirname "$datadir")"
    say "the postgres user cannot reach $state; the cluster lives in $datadir instead"
fi
pgport=${FANFARE_DEV_PG_PORT:-54800}
listen=${FANFARE_DEV_LISTEN:-127.0.0.1:4800}

gateway_pid=
stop_dev_gateway() {
    if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
        kill -TERM "$gateway_pid" 2>/dev/null || true
        wait "$gateway_pid" 2>/dev/null || true
    fi
}
stop_dev_cluster() {
    say "stopping the cluster"
    cluster_stop "$datadir"
}

if cluster_running "$datadir"; then
    say "reusing the running cluster in $datadir"
else
    say "starting the cluster in $datadir (port $pgport)"
    # Fanfare's default limit of 1000 requests a minute per organization
    FANFARE_CLUSTER_RATE_LIMIT=1000 cluster_start "$datadir" "$pgport"
    on_exit stop_dev_cluster
fi
on_exit stop_dev_gateway
cluster_use "$datadir" "$pgport"
export PGDATABASE=fanfare
if [ "$(psql_q -d postgres -c "SELECT pg_catalog.pg_is_in_recovery()")" = t ]; then
    echo "run.sh: the cluster in $datadir is a standby (an earlier make run HA=1?); remove it to start afresh" >&2
    exit 1
fi
# an earlier --ha run left synchronous replication on: until a standby
# streams again (--ha), every commit would wait for it
if [ -n "$(psql_q -d postgres -c "SELECT pg_catalog.current_setting('synchronous_standby_names')")" ]; then
    say "synchronous replication off until a standby streams"
    cluster_sync "$PGHOST" "$pgport" off
fi

# the gateway logs in with EXECUTE on fanfare.api_import_consumers only, and
# its bind parameters (the key, the body) never reach the server log
gateway_role_sql=$(gateway_login_sql fanfare_gateway)
db_exists() { [ "$(psql_q -h "$1" -p "$2" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$3'")" = 1 ]; }

if [ "$shards" = 0 ]; then
    dbname=fanfare
    if ! db_exists "$PGHOST" "$pgport" fanfare; then
        say "creating database fanfare"
        createdb fanfare
    fi
    psql_q -c "CREATE EXTENSION IF NOT EXISTS fanfare"
    psql_q -c "$gateway_role_sql"
else
    # shellcheck source=router.sh
    . tools/router.sh
    dbname=fanfare_router
    state=$root/.dev/router-$shards
    mkdir -p "$state"
    connstrs=()
    for i in $(seq 0 $((shards - 1))); do
        sdir=$(dirname "$datadir")/shard$i
        sport=$((pgport + 1 + i))
        if cluster_running "$sdir"; then
            say "reusing shard $i in $sdir"
        else
            say "starting shard $i in $sdir (port $sport)"
            cluster_start "$sdir" "$sport"
            on_exit cluster_stop "$sdir"
        fi
        db_exists "$sdir" "$sport" fanfare_shard || shard_setup "$sdir" "$sport" fanfare_shard
        # the router's calls carry the body as a bind parameter too
        psql_q -h "$sdir" -p "$sport" -d postgres -c "ALTER ROLE $router_login SET log_parameter_max_length = 0" \
            -c "ALTER ROLE $router_login SET log_parameter_max_length_on_error = 0"
        connstrs+=("$(shard_connstr "$sport" fanfare_shard)")
    done
    if ! db_exists "$PGHOST" "$pgport" fanfare_router; then
        say "creating the router database fanfare_router over $shards shards"
        router_setup "$PGHOST" "$pgport" fanfare_router "${connstrs[@]}"
        rm -f "$state/organization_id"
    fi
    export PGDATABASE=fanfare_router
    psql_q -c "$gateway_role_sql"
fi

# --ha: a synchronous standby of the cluster on the next port
standby_dir=$(dirname "$datadir")/standby
standby_port=$((pgport + 1))
database="host=$PGHOST port=$pgport dbname=$dbname user=fanfare_gateway"
stop_dev_standby() {
    say "stopping the standby"
    cluster_stop "$standby_dir"
}
if [ "$ha" = 1 ]; then
    if cluster_running "$standby_dir"; then
        say "reusing the running standby in $standby_dir"
    elif [ -f "$standby_dir/PG_VERSION" ]; then
        say "starting the standby in $standby_dir (port $standby_port)"
        cluster_start "$standby_dir" "$standby_port"
        on_exit stop_dev_standby
    else
        say "making a standby of it in $standby_dir (pg_basebackup -R, port $standby_port)"
        cluster_standby "$standby_dir" "$standby_port" "$pgport"
        on_exit stop_dev_standby
    fi
    if [ ! -f "$standby_dir/standby.signal" ]; then
        echo "run.sh: $standby_dir was promoted (an earlier failover); remove $datadir and $standby_dir to start afresh" >&2
        exit 1
    fi
    cluster_wait_streaming "$PGHOST" "$pgport" || { echo "run.sh: the standby does not stream (see $standby_dir/server.log)" >&2; exit 1; }
    cluster_sync "$PGHOST" "$pgport" on || { echo "run.sh: the standby did not become synchronous" >&2; exit 1; }
    database="host=127.0.0.1,127.0.0.1 port=$pgport,$standby_port dbname=$dbname user=fanfare_gateway target_session_attrs=read-write"
fi

org_file=$state/organization_id
key_file=$state/secret_key
org=
[ -f "$org_file" ] && org=$(cat "$org_file")
if [ -z "$org" ] || [ "$(echo "SELECT 1 FROM fanfare.organizations WHERE id::text = :'org'" | psql_q -v org="$org")" != 1 ]; then
    say "creating the development organization"
    org=$(psql_q -c "SELECT fanfare.create_organization('Development')")
    printf '%s\n' "$org" >"$org_file"
    rm -f "$key_file"
fi
if [ "$rotate" = 1 ] || [ ! -s "$key_file" ]; then
    say "issuing a secret key"
    (umask 077; echo "SELECT fanfare.rotate_secret_key(:'org'::uuid, 'test')" | psql_q -v org="$org" >"$key_file")
fi
chmod 600 "$key_file"
key=$(cat "$key_file")
port=${listen##*:}

cat <<MSG

  organization  $org
  secret key    $key   (stored in ${state#"$root"/}/secret_key; rotate with: tools/run.sh --rotate$([ "$shards" = 0 ] || echo " --shards $shards"))$([ "$shards" = 0 ] || printf '\n  shards        %s, through the router database fanfare_router' "$shards")

  try it:

curl -sS -X POST http://localhost:$port/consumers/batch \\
  -H 'Authorization: Bearer $key' \\
  -H 'Content-Type: application/json' \\
  -d '{"consumers":[{"email":"ada@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE","fullName":"Ada Lovelace"}]}'

  metrics       curl http://localhost:$port/metrics   (Prometheus text)
  rate limit    1000 requests a minute per organization (X-RateLimit-* headers)

  Ctrl-C stops the gateway and the cluster.
MSG
if [ "$ha" = 1 ]; then
    echo
    bindir=$("$PG_CONFIG" --bindir)
    owner=
    [ "$(id -u)" -eq 0 ] && owner="runuser -u postgres -- "
    cat <<MSG
  primary  127.0.0.1:$pgport  $datadir
  standby  127.0.0.1:$standby_port  $standby_dir  (synchronous: a 200 is on both)
  gateway  --database '$database'

  fail over (another terminal): kill the primary, promote the standby; the
  gateway finds the new primary by itself:

kill -9 \$(head -1 $datadir/postmaster.pid)
${owner}$bindir/pg_ctl -D $standby_dir promote
MSG
fi
echo


# the webhook relay (README, "Webhooks"), on the database that holds the
# outbox; with --shards each shard has its own: run one per shard by hand
relay_pid=
stop_dev_relay() {
    if [ -n "$relay_pid" ] && kill -0 "$relay_pid" 2>/dev/null; then
        kill -TERM "$relay_pid" 2>/dev/null || true
        wait "$relay_pid" 2>/dev/null || true
    fi
}
if [ "$shards" = 0 ]; then
    psql_q -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'fanfare_dev_relay') THEN
        CREATE ROLE fanfare_dev_relay LOGIN IN ROLE fanfare_relay; END IF; END \$\$"
    say "starting fanfare-relay (webhooks: fanfare.create_webhook_endpoint, README \"Webhooks\")"
    src/relay/fanfare-relay --database "${database//user=fanfare_gateway/user=fanfare_dev_relay}" &
    relay_pid=$!
    on_exit stop_dev_relay
fi

src/gateway/fanfare-gateway --listen "$listen" --database "$database" &
gateway_pid=$!
wait "$gateway_pid" || true
