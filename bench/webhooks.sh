#!/usr/bin/env bash
# The webhook benchmark (issue 19): relay throughput and the outbox's cost.
#
#   bench/webhooks.sh [--quick] [--results DIR]
#
# Expects the tree built and installed (bench/run.sh does it first; alone:
# make && make install).  Starts a throwaway cluster (fsync off) of its own,
# a loopback receiver that answers 200 at once (test/webhooks/receiver.mjs)
# and the gateway, then measures:
#   outbox    500-row batches over HTTP, one client, median and best ms per
#             batch: the trigger disabled (as before issue 19), enabled with
#             no endpoint, and with one subscribed endpoint (no relay
#             running, so only the outbox's writes are counted).  Targets:
#             within noise with no endpoint, at most 15% with one.
#   relay     deliveries/s of 2 fanfare-relay processes side by side (per
#             endpoint 64 in flight, 128 in all) draining a backlog to 8
#             endpoints.  Target: at least 2,000/s.
# Prints the numbers and writes DIR/webhooks.tsv (DIR: bench/results/raw, or
# bench/results/raw/quick with --quick).  --quick: 10 batches per setting and
# a 2,000-delivery backlog, to prove it runs; no target is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../tools/lib.sh
. tools/lib.sh

quick=0 results=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --results) results=${2:?--results DIR}; shift ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/webhooks.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
batches=60 backlog=40000
[ "$quick" = 1 ] && batches=10 backlog=2000
results=${results:-bench/results/raw$([ "$quick" = 1 ] && echo /quick)}
mkdir -p "$results"
log() { echo "webhooks bench: $*"; }

new_work_dir webhooks-bench
throwaway_cluster webhooks-bench >/dev/null
db=fanfare_webhooks_bench
pids=()
stop_bench_helpers() { for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; return 0; }
on_exit stop_bench_helpers
createdb "$db"
psql_q -d "$db" -c "CREATE EXTENSION fanfare" >/dev/null
gateway_login_sql fanfare_bench_gateway | psql_q -d "$db" >/dev/null
psql_q -d "$db" -c "CREATE ROLE fanfare_bench_relay LOGIN IN ROLE fanfare_relay" >/dev/null 2>&1 || true
org=$(psql_q -d "$db" -c "SELECT fanfare.create_organization('Bench')")
key=$(psql_q -d "$db" -c "SELECT fanfare.rotate_secret_key('$org')")

node test/webhooks/receiver.mjs --log /dev/null --port-file "$work/receiver.port" &
pids+=($!)
gw_port=$(free_port)
src/gateway/fanfare-gateway --listen "127.0.0.1:$gw_port" \
    --database "host=$PGHOST port=$PGPORT dbname=$db user=fanfare_bench_gateway" >/dev/null 2>"$work/gateway.err" &
pids+=($!)
wait_port 127.0.0.1 "$gw_port" 30
for _ in $(seq 1 50); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
rport=$(cat "$work/receiver.port")

# --- the outbox over HTTP -------------------------------------------------------
# batches LABEL: $batches 500-row batches, one at a time; prints "median best" ms
batches_ms() {
    node -e '
        const [url, key, tag, n] = process.argv.slice(1);
        const times = [];
        (async () => {
            for (let b = 0; b < +n + 2; b++) {
                const consumers = Array.from({length: 500}, (_, i) => ({email: `${tag}-${b}-${i}@example.com`,
                    fullName: `Bench ${i}`, emailVerified: true, phoneVerified: false, status: "ACTIVE"}));
                const body = JSON.stringify({consumers});
                const t0 = process.hrtime.bigint();
                const res = await fetch(url, {method: "POST", body, headers: {"Content-Type": "application/json", Authorization: `Bearer ${key}`}});
                await res.text();
                if (res.status !== 200) throw new Error(`status ${res.status}`);
                if (b >= 2) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
            }
            times.sort((a, b) => a - b);
            console.log(times[times.length >> 1].toFixed(2), times[0].toFixed(2));
        })();' "http://127.0.0.1:$gw_port/consumers/batch" "$key" "$1$RANDOM" "$batches"
}
psql_q -d "$db" -c "ALTER TABLE fanfare.consumers DISABLE TRIGGER consumers_outbox" >/dev/null
read -r off_med off_best < <(batches_ms off)
psql_q -d "$db" -c "ALTER TABLE fanfare.consumers ENABLE TRIGGER consumers_outbox" >/dev/null
read -r none_med none_best < <(batches_ms none)
psql_q -d "$db" -c "SELECT id FROM fanfare.create_webhook_endpoint('$org', 'http://127.0.0.1:$rport/ok-bench')" >/dev/null
read -r one_med one_best < <(batches_ms one)
pct() { node -e 'console.log(((process.argv[2] / process.argv[1] - 1) * 100).toFixed(1))' "$1" "$2"; }
log "outbox, 500-row batches over HTTP (median / best ms): no trigger $off_med / $off_best, no endpoint $none_med / $none_best ($(pct "$off_med" "$none_med")%), one endpoint $one_med / $one_best ($(pct "$off_med" "$one_med")%)"

# --- relay throughput ----------------------------------------------------------
psql_q -d "$db" -c "SELECT fanfare.delete_webhook_endpoint(id) FROM fanfare.webhook_endpoints()" >/dev/null
psql_q -d "$db" -c "SELECT (fanfare.create_webhook_endpoint('$org', 'http://127.0.0.1:$rport/ok-bench-' || g)).id FROM generate_series(1, 8) g" >/dev/null
per_endpoint=$((backlog / 8))
# in batches of at most 500, the server's limit
for first in $(seq 1 500 "$per_endpoint"); do
    last=$((first + 499 < per_endpoint ? first + 499 : per_endpoint))
    psql_q -d "$db" -c "SET fanfare.organization_id = '$org'; SELECT count(*) FROM fanfare.import_consumers(
        (SELECT '{\"consumers\":[' || string_agg(format('{\"email\":\"relay-%s@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}', g), ',') || ']}'
           FROM generate_series($first, $last) g))" >/dev/null
done
psql_q -d "$db" -c "SELECT fanfare.expand_webhook_events()" >/dev/null
total=$(psql_q -d "$db" -c "SELECT count(*) FROM fanfare.webhook_deliveries WHERE status = 'pending'")
t0=$(date +%s%3N)
for r in 1 2; do
    src/relay/fanfare-relay --database "host=$PGHOST port=$PGPORT dbname=$db user=fanfare_bench_relay" \
        --per-endpoint 64 --max-in-flight 128 --poll-interval 100 2>>"$work/relay.err" &
    pids+=($!)
done
while [ "$(psql_q -d "$db" -c "SELECT count(*) FROM fanfare.webhook_deliveries WHERE status = 'pending'")" != 0 ]; do
    sleep 0.2
    [ $(( $(date +%s%3N) - t0 )) -lt 600000 ] || { log "relay: not drained in 10 minutes"; break; }
done
ms=$(( $(date +%s%3N) - t0 ))
rate=$(( total * 1000 / (ms > 0 ? ms : 1) ))
log "relay: $total deliveries by 2 relays in $ms ms: $rate deliveries/s"
printf 'quick\t%s\noutbox_off_ms\t%s\noutbox_none_ms\t%s\noutbox_one_ms\t%s\nrelay_deliveries\t%s\nrelay_ms\t%s\nrelay_per_s\t%s\n' \
    "$quick" "$off_med" "$none_med" "$one_med" "$total" "$ms" "$rate" >"$results/webhooks.tsv"
