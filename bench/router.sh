#!/usr/bin/env bash
# The router part of `make bench` (run by bench/run.sh, which passes its
# cluster in the PG* variables): the same work on a single node and through
# a fanfare_router database over 1 and 2 shards, each shard a cluster of
# its own on this machine.
#
#   bench/router.sh WORK RAW DURATION SINGLE_DB GATEWAY
#
# WORK: bench/run.sh's scratch directory (its generated bodies in WORK/set);
# RAW: where router.tsv goes; DURATION: seconds per wrk and pgbench run;
# SINGLE_DB: the single-node database (fanfare installed); GATEWAY: the
# gateway binary.  Three measures per target, two tenants in parallel
# (on a router over 2 shards, one on each):
#   http500   500-row batches over HTTP, wrk with 4 connections per tenant
#   sql10000  one 10 000-row fanfare.import_consumers call per tenant
#   call1     1-row api_import_consumers calls, pgbench, 1 client: ms per call
# router.tsv: target, measure, rows/s (call1: calls/s), p50 ms, p99 ms, errors.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$1 raw=$2 duration=$3 single_db=$4 gateway_bin=$5
# shellcheck source=../tools/router.sh
. tools/router.sh
log() { printf 'bench: router: %s\n' "$*" >&2; }
main_host=$PGHOST main_port=$PGPORT

shard_dirs=()
gateway_pid=
stop_router_bench() {
    [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
    for d in "${shard_dirs[@]}"; do tools/cluster.sh stop "$d" || true; done
}
trap stop_router_bench EXIT

# two shard clusters, fsync off as bench/run.sh's own
ports=()
for i in 0 1; do
    d=$work/shard$i
    p=$(free_port)
    FANFARE_FAST_CLUSTER=1 tools/cluster.sh start "$d" "$p"
    shard_dirs+=("$d")
    ports+=("$p")
done

# the targets: r1 over one shard database, r2 over one on each cluster
setup_shard() {
    shard_setup "$1" "$2" "$3" &&
        psql_at "$1" "$2" "$3" -c "ALTER DATABASE $3 SET fanfare.max_batch_size = 1000000"
}
setup_shard "${shard_dirs[0]}" "${ports[0]}" bench_r1_s0
setup_shard "${shard_dirs[0]}" "${ports[0]}" bench_r2_s0
setup_shard "${shard_dirs[1]}" "${ports[1]}" bench_r2_s1
router_setup "$main_host" "$main_port" bench_r1 "$(shard_connstr "${ports[0]}" bench_r1_s0)" 2>/dev/null
router_setup "$main_host" "$main_port" bench_r2 "$(shard_connstr "${ports[0]}" bench_r2_s0)" \
    "$(shard_connstr "${ports[1]}" bench_r2_s1)" 2>/dev/null
for db in bench_r1 bench_r2; do
    psql_at "$main_host" "$main_port" "$db" -c "GRANT fanfare_api TO bench_api"
done

# tenants: "org key" lines, two per target; on r2 one per partition
tenants() {
    local db=$1 want=$2 org key part have=
    for _ in $(seq 1 40); do
        org=$(psql_at "$main_host" "$main_port" "$db" -c "SELECT fanfare.create_organization('bench')")
        part=$(psql_at "$main_host" "$main_port" "$db" -c "SELECT coalesce((SELECT partition FROM fanfare_router.placements WHERE organization_id = '$org'), 0)" 2>/dev/null || echo 0)
        [ "$want" = 2 ] && [[ " $have " == *" $part "* ]] && continue
        key=$(psql_at "$main_host" "$main_port" "$db" -c "SELECT fanfare.rotate_secret_key('$org')")
        echo "$org $key"
        have+=" $part"
        [ "$(wc -w <<<"$have")" = 2 ] && return 0
    done
    return 1
}
declare -A shards_of=([single]=0 [router1]=1 [router2]=2)
declare -A db_of=([single]=$single_db [router1]=bench_r1 [router2]=bench_r2)
for t in single router1 router2; do
    tenants "${db_of[$t]}" "${shards_of[$t]}" >"$work/tenants-$t" || { log "no tenants for $t"; exit 1; }
done

node -e 'const fs = require("fs"); const b = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    for (const c of b.consumers) delete c.email;
    fs.writeFileSync(process.argv[2], JSON.stringify(b));' "$work/set/payload-10000.0.json" "$work/router-10000.json"
chmod 644 "$work/router-10000.json"
: >"$raw/router.tsv"
gw_port=$(free_port)
for t in single router1 router2; do
    db=${db_of[$t]}
    read -r org0 key0 <<<"$(sed -n 1p "$work/tenants-$t")"
    read -r org1 key1 <<<"$(sed -n 2p "$work/tenants-$t")"

    # 500-row batches over HTTP: one wrk per tenant, at the same time
    PGUSER=bench_api PGDATABASE=$db "$gateway_bin" --listen "127.0.0.1:$gw_port" --pool 8 \
        >"$raw/router-gateway-$t.log" 2>&1 &
    gateway_pid=$!
    wait_port 127.0.0.1 "$gw_port" 10 || { log "the gateway for $t did not start (see $raw/router-gateway-$t.log)"; exit 1; }
    log "$t: wrk, 500-row batches, 2 tenants x 4 connections, ${duration}s"
    wrk_pids=()
    for k in 0 1; do
        key=$key0
        [ "$k" = 1 ] && key=$key1
        FANFARE_BENCH_BODY=$work/set/gw-500.json FANFARE_BENCH_KEY=$key \
            wrk -t1 -c4 -d"${duration}s" --timeout 60s -s bench/gateway.lua \
            "http://127.0.0.1:$gw_port/consumers/batch" >"$raw/router-wrk-$t-$k.txt" &
        wrk_pids+=($!)
    done
    wait "${wrk_pids[@]}"
    kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
    gateway_pid=
    awk -F'\t' -v t="$t" '$1 == "RESULT" { req += $2; d = $3 > d ? $3 : d; p50 += $4 / 2; p99 = $5 > p99 ? $5 : p99; err += $6 }
        END { printf "%s\thttp500\t%.0f\t%.3f\t%.3f\t%d\n", t, req * 500 / d, p50, p99, err }' \
        "$raw/router-wrk-$t-0.txt" "$raw/router-wrk-$t-1.txt" >>"$raw/router.tsv"

    # 10 000 rows from SQL: one call per tenant, the two at the same time
    # (the body without emails, so that rounds do not collide on them)
    log "$t: import_consumers, 10 000 rows, 2 tenants at once, 3 rounds"
    best=
    for _ in 1 2 3; do
        t0=$(date +%s%N)
        sql_pids=()
        for org in "$org0" "$org1"; do
            psql_at "$main_host" "$main_port" "$db" -v body="$work/router-10000.json" >/dev/null <<SQL &
SET fanfare.organization_id = '$org';
SET fanfare.max_batch_size = 1000000;
SELECT count(*) FROM fanfare.import_consumers(pg_read_file(:'body'));
SQL
            sql_pids+=($!)
        done
        wait "${sql_pids[@]}"
        ms=$((($(date +%s%N) - t0) / 1000000))
        { [ -z "$best" ] || [ "$ms" -lt "$best" ]; } && best=$ms
    done
    printf '%s\tsql10000\t%.0f\t%s\t\t0\n' "$t" "$(echo "20000 * 1000 / $best" | bc -l)" "$best" >>"$raw/router.tsv"

    # one-row calls, one client: the router's cost per call
    log "$t: pgbench, 1-row api_import_consumers, 1 client, ${duration}s"
    printf "SELECT count(*) FROM fanfare.api_import_consumers(:key, pg_catalog.convert_to(:body, 'UTF8'), NULL);\n" >"$work/router-call1.sql"
    PGUSER=bench_api pgbench -h "$main_host" -p "$main_port" -n -M prepared -c 1 -T "$duration" \
        -D key="$key0" -D body="$(cat "$work/set/gw-1.json")" -f "$work/router-call1.sql" "$db" >"$raw/router-pgbench-$t.txt" 2>&1
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$raw/router-pgbench-$t.txt" | head -1)
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$raw/router-pgbench-$t.txt" | head -1)
    printf '%s\tcall1\t%s\t%s\t\t%s\n' "$t" "${tps:-0}" "${lat:-}" \
        "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$raw/router-pgbench-$t.txt")" >>"$raw/router.tsv"
done
log "wrote $raw/router.tsv"
