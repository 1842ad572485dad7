#!/usr/bin/env bash
# The importer part of `make bench` (run by bench/run.sh while its gateway
# runs): fanfare-import of an NDJSON file through the gateway, 500-row
# batches, 8 in flight, against wrk posting pre-built 500-row batches of the
# same rows with 8 connections, in the same run.  The target (issue 21):
# the importer reaches at least 0.9 x wrk's rows/s.
#
#   bench/import.sh WORK RAW URL KEY DB QUICK
#
# WORK: scratch directory; RAW: where import.tsv goes; URL: the gateway;
# KEY: a secret key of an organization in DB (truncated between the runs);
# QUICK: 1 for CI size (5 000 rows, 2 s of wrk), else 100 000 rows, 10 s.
# The rows carry no email, so that wrk's repeated body never collides.  Each
# of wrk's requests carries an Idempotency-Key of its own, as each of the
# importer's does: the same requests on the wire, so the ratio measures the
# importer, not the cost of a key (README, "Performance").
# import.tsv: measure, rows, seconds, rows/s; then ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$1 raw=$2 url=$3 key=$4 db=$5 quick=$6
log() { printf 'bench: import: %s\n' "$*" >&2; }
if [ "$quick" = 1 ]; then rows=5000 duration=2; else rows=100000 duration=10; fi
importer=src/import/fanfare-import
[ -x "$importer" ] || make -s -C src/import >/dev/null

node -e 'const n = +process.argv[1]; const out = [];
    for (let i = 0; i < n; i++)
        out.push(JSON.stringify({fullName: `Person ${i}`, emailVerified: i % 2 === 0, phoneVerified: false,
            status: "ACTIVE", totalOrders: i % 17, activityScore: (i % 100) / 8, aov: `${i % 1000}.25`,
            metadata: {tier: i % 2 ? "gold" : "silver"}}));
    require("fs").writeFileSync(process.argv[2], out.join("\n") + "\n");
    require("fs").writeFileSync(process.argv[3], `{"consumers":[${out.slice(0, 500).join(",")}]}`);' \
    "$rows" "$work/import.ndjson" "$work/import-500.json"

# untimed warm-up of both sides (the gateway's pool, the backends' caches and
# plans, the table's first pages), so that neither measures a cold start
head -n 5000 "$work/import.ndjson" >"$work/warm.ndjson"
rm -f "$work/warm.state"
FANFARE_SECRET_KEY=$key "$importer" --quiet --url "$url" --batch-size 500 --concurrency 8 \
    --state "$work/warm.state" "$work/warm.ndjson" 2>/dev/null || log "the warm-up import failed"
FANFARE_BENCH_BODY=$work/import-500.json FANFARE_BENCH_KEY=$key FANFARE_BENCH_IDEMPOTENCY=warm-$$ \
    wrk -t2 -c8 -d1s --timeout 60s -s bench/gateway.lua "$url/consumers/batch" >/dev/null
psql -X -q -d "$db" -c "TRUNCATE fanfare.consumers"
log "fanfare-import, $rows rows, 500-row batches, 8 in flight"
rm -f "$work/import.state"
start=$(date +%s.%N)
FANFARE_SECRET_KEY=$key "$importer" --quiet --url "$url" --batch-size 500 --concurrency 8 \
    --state "$work/import.state" "$work/import.ndjson" 2>"$raw/import.log"
end=$(date +%s.%N)
imp_rate=$(awk -v r="$rows" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", r / (e - s) }')

psql -X -q -d "$db" -c "TRUNCATE fanfare.consumers"
log "wrk, the same rows as pre-built 500-row batches, 8 connections, ${duration}s"
FANFARE_BENCH_BODY=$work/import-500.json FANFARE_BENCH_KEY=$key FANFARE_BENCH_IDEMPOTENCY=import-$$ \
    wrk -t2 -c8 -d"${duration}s" --timeout 60s -s bench/gateway.lua "$url/consumers/batch" >"$raw/import-wrk.txt"
wrk_rate=$(awk -F'\t' '$1 == "RESULT" { printf "%.0f", $2 * 500 / $3 }' "$raw/import-wrk.txt")
psql -X -q -d "$db" -c "TRUNCATE fanfare.consumers"
ratio=$(awk -v a="$imp_rate" -v b="$wrk_rate" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
{
    printf 'importer\t%s\t%s\n' "$rows" "$imp_rate"
    printf 'wrk\t%s\t%s\n' "$duration s" "$wrk_rate"
    printf 'ratio\t%s\t(target >= 0.9)\n' "$ratio"
} >"$raw/import.tsv"
log "importer $imp_rate rows/s, wrk $wrk_rate rows/s: $ratio x (target >= 0.9$([ "$quick" = 1 ] && echo '; quick mode: not a measurement'))"
