# The gateway suite's target for a router (sourced by test/gateway/run.sh
# through FANFARE_GATEWAY_TARGET; test/router/run.sh sets it): the suite's
# database $db becomes a fanfare_router database in front of one shard
# database on each shard cluster, and the helpers that looked into the one
# database look into the shards.
#
# FANFARE_ROUTER_SHARDS: "DATADIR:PORT DATADIR:PORT" of the shard clusters
# (a socket in the data directory, as tools/lib.sh makes them).
# shellcheck source=../../tools/router.sh
. "$fanfare_root/tools/router.sh"

read -r -a router_shards <<<"${FANFARE_ROUTER_SHARDS:?FANFARE_ROUTER_SHARDS names the shard clusters}"

# for_each_shard FUNCTION ARGS...: FUNCTION DATADIR PORT DB ARGS... for every shard
for_each_shard() {
    local f=$1 i s
    shift
    for i in "${!router_shards[@]}"; do
        s=${router_shards[i]}
        "$f" "${s%%:*}" "${s##*:}" "${db}_s$i" "$@" || return 1
    done
}

shard_setup_for_gateway() {
    shard_setup "$1" "$2" "$3" &&
        psql_at "$1" "$2" "$3" -c "ALTER DATABASE $3 SET fanfare.max_batch_size = 20000"
}
shard_connstr_of() { shard_connstr "$2" "$3"; }

setup_db() {
    local connstrs
    for_each_shard shard_setup_for_gateway || return 1
    mapfile -t connstrs < <(for_each_shard shard_connstr_of)
    # the gateway's login as on a single node (tools/lib.sh): EXECUTE on the
    # router's api_import_consumers, which runs as its owner, and nothing else
    router_setup "$PGHOST" "$PGPORT" "$db" "${connstrs[@]}" && gateway_login_sql "$login" | psql_db
}

shard_count() { psql_at "$1" "$2" "$3" -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$4'"; }
count_rows() {
    for_each_shard shard_count "$1" | awk '{ n += $1 } END { print n + 0 }'
}

shard_log() { echo "$1/server.log"; }
server_logs() { echo "$FANFARE_TEST_DATADIR/server.log"; for_each_shard shard_log; }

# hold_lock SECONDS: every shard's fanfare.consumers locked for a while
shard_lock() {
    PGAPPNAME=fanfare-test-lock psql_at "$1" "$2" "$3" -c "BEGIN; LOCK TABLE fanfare.consumers IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($4); COMMIT;" >/dev/null 2>&1 &
}
shard_locked() {
    [ "$(psql_at "$1" "$2" "$3" -c "SELECT count(*) FROM pg_catalog.pg_locks WHERE relation = 'fanfare.consumers'::regclass
        AND mode = 'AccessExclusiveLock' AND granted")" = 1 ]
}
hold_lock() {
    local i
    (for_each_shard shard_lock "$1"; wait) &
    lock_pid=$!
    for i in $(seq 1 50); do
        for_each_shard shard_locked && return 0
        sleep 0.1
    done
    return 1
}
# release_lock: hold_lock's sessions ended at once on every shard (see
# test/gateway/lib.sh)
shard_unlock() {
    psql_at "$1" "$2" "$3" -c "SELECT count(pg_catalog.pg_cancel_backend(pid)) FROM pg_catalog.pg_stat_activity
        WHERE application_name = 'fanfare-test-lock'" >/dev/null
}
release_lock() {
    for_each_shard shard_unlock
    wait "$lock_pid" 2>/dev/null
    lock_pid=
}

# the router has the directory's objects; the idempotency keys live on the shards
commented_objects="('fanfare.organizations'::regclass::oid, 'pg_class'::regclass), ('fanfare.api_keys'::regclass, 'pg_class'),
        ('fanfare.create_organization(text)'::regprocedure, 'pg_proc'), ('fanfare.rotate_secret_key(uuid,text)'::regprocedure, 'pg_proc'),
        ('fanfare.rotate_publishable_key(uuid,text)'::regprocedure, 'pg_proc'), ('fanfare.api_create_consumers(text,text)'::regprocedure, 'pg_proc'),
        ('fanfare.api_import_consumers(text,bytea,text)'::regprocedure, 'pg_proc'),
        ('fanfare.issue_api_key(uuid,text,text)'::regprocedure, 'pg_proc'), ('fanfare.random_key_bytes(integer)'::regprocedure, 'pg_proc'),
        ('fanfare_router.placements'::regclass, 'pg_class'), ('fanfare_router.route(uuid)'::regprocedure, 'pg_proc'),
        ('fanfare_router.move_organization(uuid,integer,integer)'::regprocedure, 'pg_proc')"
echo "# target: the router $db in front of ${#router_shards[@]} shards"
