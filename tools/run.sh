#!/usr/bin/env bash
# `make run`: the whole thing on http://localhost:4800, in the foreground.
#
#   tools/run.sh            first run: install packages, build, install the
#                           extension, create a cluster, a database, a
#                           development organization and its secret key
#   tools/run.sh            later runs: reuse all of it and print the same key
#   tools/run.sh --rotate   issue a new secret key (the old one stops working)
#
# State lives in .dev/ (ignored by git): the cluster, the organization id and
# the secret key (mode 0600).  Ctrl-C stops the gateway and the cluster.
# FANFARE_DEV_PG_PORT (default 54800) and FANFARE_DEV_LISTEN (default
# 127.0.0.1:4800) move the ports.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=lib.sh
. tools/lib.sh

rotate=0
for arg in "$@"; do
    case $arg in
    --rotate) rotate=1 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

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
    cluster_start "$datadir" "$pgport"
    on_exit stop_dev_cluster
fi
on_exit stop_dev_gateway
cluster_use "$datadir" "$pgport"
export PGDATABASE=fanfare

if [ "$(psql_q -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'fanfare'")" != 1 ]; then
    say "creating database fanfare"
    createdb fanfare
fi
psql_q -c "CREATE EXTENSION IF NOT EXISTS fanfare"
# the gateway logs in with only the API role's rights
psql_q <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'fanfare_gateway') THEN
        CREATE ROLE fanfare_gateway LOGIN IN ROLE fanfare_api;
    END IF;
END
$$;
SQL

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
  secret key    $key   (stored in .dev/secret_key; rotate with: tools/run.sh --rotate)

  try it:

curl -sS -X POST http://localhost:$port/consumers/batch \\
  -H 'Authorization: Bearer $key' \\
  -H 'Content-Type: application/json' \\
  -d '{"consumers":[{"email":"ada@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE","fullName":"Ada Lovelace"}]}'

  Ctrl-C stops the gateway and the cluster.

MSG

src/gateway/fanfare-gateway --listen "$listen" \
    --database "host=$PGHOST port=$pgport dbname=fanfare user=fanfare_gateway" &
gateway_pid=$!
wait "$gateway_pid" || true
