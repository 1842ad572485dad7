#!/usr/bin/env bash
# The cost of rate limits and of GET /metrics (issue 20), for make bench.
#
#   bench/ratelimit.sh [--quick] [--rounds N] [--duration SECONDS]
#
# A throwaway cluster (fsync off, fanfare preloaded), one gateway, two
# organizations: one with a limit far above what the run can reach (limits
# on: counted, headers sent), one with none (0: off).  wrk sends 1-row
# batches (bench/gateway.lua) for DURATION seconds to each in turn, ROUNDS
# times, interleaved, and the script prints requests/s of each and their
# ratio (target: on >= 0.95 x off).  Then it times the exposition of
# /metrics: bench/metrics_render.c fills every series the gateway can have
# (route x method x status) and renders it many times.  --quick: 1 round of
# 2 s (the machinery only; no number from it means anything).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../tools/lib.sh
. tools/lib.sh

rounds=5 duration=10
while [ $# -gt 0 ]; do
    case $1 in
    --quick) rounds=1 duration=2 ;;
    --rounds) rounds=${2:?}; shift ;;
    --duration) duration=${2:?}; shift ;;
    *) echo "ratelimit.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

build_and_install
new_work_dir bench-ratelimit
FANFARE_FAST_CLUSTER=1 FANFARE_CLUSTER_PRELOAD=1 fast_cluster bench-ratelimit
cluster_use "$cluster_dir" "$cluster_port"
createdb fanfare_bench_rl
psql_q -d fanfare_bench_rl -c "CREATE EXTENSION fanfare" >/dev/null
on=$(psql_q -d fanfare_bench_rl -c "SELECT id FROM (SELECT fanfare.create_organization('on') AS id) o, LATERAL fanfare.set_rate_limit(o.id, 2000000000)")
off=$(psql_q -d fanfare_bench_rl -c "SELECT id FROM (SELECT fanfare.create_organization('off') AS id) o, LATERAL fanfare.set_rate_limit(o.id, 0)")
key_on=$(psql_q -d fanfare_bench_rl -c "SELECT fanfare.rotate_secret_key('$on')")
key_off=$(psql_q -d fanfare_bench_rl -c "SELECT fanfare.rotate_secret_key('$off')")
printf '{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}' >"$work/one.json"

src/gateway/fanfare-gateway --listen 127.0.0.1:0 --database "host=$PGHOST port=$PGPORT dbname=fanfare_bench_rl user=postgres" \
    >/dev/null 2>"$work/gw.err" &
gw=$!
on_exit kill "$gw"
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$work/gw.err")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$work/gw.err"; exit 1; }

# one wrk run: prints requests/s
run() {
    FANFARE_BENCH_BODY=$work/one.json FANFARE_BENCH_KEY=$1 \
        wrk -t2 -c8 -d"${duration}s" --timeout 30s -s bench/gateway.lua "http://127.0.0.1:$port/consumers/batch" |
        awk -F'\t' '/^RESULT/ { printf "%.0f %d\n", $2 / $3, $6 }'
}
echo "# 1-row requests/s through the gateway, limits on (not reached) vs off, interleaved;"
echo "# one unmeasured run of each first (the gateway's pool and the backends warm up),"
echo "# and each round's first side alternates, so that neither always runs first"
run "$key_on" >/dev/null
run "$key_off" >/dev/null
printf 'round\ton\toff\ton/off\n'
sum_on=0 sum_off=0
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) = 1 ]; then
        read -r a errs_a < <(run "$key_on")
        read -r b errs_b < <(run "$key_off")
    else
        read -r b errs_b < <(run "$key_off")
        read -r a errs_a < <(run "$key_on")
    fi
    [ "$errs_a" = 0 ] && [ "$errs_b" = 0 ] || echo "# errors: on $errs_a, off $errs_b"
    printf '%d\t%d\t%d\t%.3f\n' "$r" "$a" "$b" "$(echo "$a / $b" | bc -l)"
    sum_on=$((sum_on + a)) sum_off=$((sum_off + b))
done
printf 'all\t%d\t%d\t%.3f\t(target >= 0.95)\n' $((sum_on / rounds)) $((sum_off / rounds)) "$(echo "$sum_on / $sum_off" | bc -l)"
curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$port/consumers/batch" -H "Authorization: Bearer $key_on" \
    -H 'Content-Type: application/json' --data-binary "@$work/one.json" | grep -i '^x-ratelimit' | sed 's/^/# /'

echo "# GET /metrics: exposition of every series the gateway can have"
cc -O2 -std=gnu11 -I src/gateway -I src/common -I "$("$PG_CONFIG" --includedir)" $(pkg-config --cflags libmicrohttpd) \
    -o "$work/metrics_render" bench/metrics_render.c src/gateway/metrics.c src/gateway/reply.c \
    src/common/metrics_page.c \
    $(pkg-config --libs libmicrohttpd)
"$work/metrics_render" $([ "$duration" -le 2 ] && echo 50 || echo 1000)
took=$(curl -s -o "$work/metrics" -w '%{time_total}' "http://127.0.0.1:$port/metrics")
echo "# a scrape of this gateway's /metrics over HTTP (curl's time_total): ${took} s, $(grep -vc '^#' "$work/metrics") samples"
