# shellcheck shell=bash
# Shell helpers for a router and its shards (sourced): what make run
# SHARDS=N (tools/run.sh), test/router/run.sh and bench/run.sh share.  Loads
# tools/lib.sh.  Each cluster is named by "HOST PORT" (HOST: a socket
# directory or 127.0.0.1); databases and roles are made if missing.
#
#   shard_setup HOST PORT DB          a shard: fanfare, and the router's login
#   router_setup HOST PORT DB CONNSTR...
#                                     a router: fanfare_router, the SQL/MED
#                                     cluster fanfare with one partition per
#                                     CONNSTR (2^k of them), its user mapping
#   shard_connstr PORT DB             the connection string of a local shard
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The role a router logs in to its shards as (granted fanfare_router there).
router_login=${FANFARE_ROUTER_LOGIN:-fanfare_router_login}

# psql_at HOST PORT DB ARGS...: psql_q on that database
psql_at() {
    local host=$1 port=$2 db=$3
    shift 3
    psql_q -h "$host" -p "$port" -U postgres -d "$db" "$@"
}

# create_db HOST PORT DB: a new, empty database (an old one is dropped)
create_db() {
    PGOPTIONS="-c client_min_messages=warning" dropdb -h "$1" -p "$2" -U postgres --if-exists --force "$3" &&
        createdb -h "$1" -p "$2" -U postgres "$3"
}

shard_setup() {
    local host=$1 port=$2 db=$3
    create_db "$host" "$port" "$db" || return 1
    psql_at "$host" "$port" "$db" <<SQL
CREATE EXTENSION fanfare;
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$router_login') THEN
        CREATE ROLE $router_login LOGIN IN ROLE fanfare_router;
    END IF;
END
\$\$;
SQL
}

shard_connstr() { echo "host=127.0.0.1 port=$1 dbname=$2 connect_timeout=2"; }

router_setup() {
    local host=$1 port=$2 db=$3 options="connection_lifetime '1800'" i=0 c
    shift 3
    for c in "$@"; do
        options+=", p$i '$c'"
        i=$((i + 1))
    done
    create_db "$host" "$port" "$db" || return 1
    psql_at "$host" "$port" "$db" <<SQL
CREATE EXTENSION fanfare_router CASCADE;
CREATE SERVER fanfare FOREIGN DATA WRAPPER plproxy OPTIONS ($options);
CREATE USER MAPPING FOR PUBLIC SERVER fanfare OPTIONS (user '$router_login');
SQL
}
