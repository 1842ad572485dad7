#!/usr/bin/env bash
# The benchmark's quick mode, so that `make bench` cannot rot unnoticed.
#
#   test/bench/run.sh
#
# Runs `bench/run.sh --quick --rounds 2` (its own throwaway cluster; sizes up
# to 10 000, 2 rounds, 1 s gateway cells; results in bench/results/raw/quick/, never the
# committed latest.md) and checks that every contender produced every round,
# that the gateway and pgbench cells ran without errors, and that the report
# was written.  No timing is asserted: speed belongs to `make bench`.  The
# driver itself checks that each call stored exactly its rows.
#
# Why 2 rounds and not --quick's 3: this run is there so that every
# contender, every part and the report keep working, and asserts no time.
# Two rounds still run the interleaved round loops, a round after the
# first on the same connection settings, and the report's medians over
# several rounds; a third repeats that work (about a third of the SQL and
# in-server parts, the slowest of the run).  FANFARE_BENCH_QUICK_ROUNDS
# sets another count.
set -uo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=../../tools/lib.sh
. tools/lib.sh
raw=bench/results/raw/quick
rounds=${FANFARE_BENCH_QUICK_ROUNDS:-2}

t0=$(date +%s)
if bench/run.sh --quick --rounds "$rounds" >"${TMPDIR:-/tmp}/fanfare-bench-quick.$$.log" 2>&1; then
    check "bench/run.sh --quick --rounds $rounds exits 0" true
else
    check "bench/run.sh --quick --rounds $rounds exits 0" false
    tail -n 30 "${TMPDIR:-/tmp}/fanfare-bench-quick.$$.log"
fi
rm -f "${TMPDIR:-/tmp}/fanfare-bench-quick.$$.log"
echo "bench: quick run took $(( $(date +%s) - t0 )) s"

# contenders.tsv: contender/setting rows round ms ... ; $rounds rounds per
# contender, connection setting and size
rounds_ok() {
    local label=$1 rows=$2
    [ "$(awk -F'\t' -v l="$label" -v r="$rows" '$1 == l && $2 == r && $4 > 0' "$raw/contenders.tsv" 2>/dev/null | wc -l)" -eq "$rounds" ]
}
for contender in wire fanfare plain plpgsql copy; do
    for setting in new persistent; do
        for rows in 1 100 500 10000; do
            check "$contender ($setting connection), $rows rows: $rounds timed rounds" rounds_ok "$contender/$setting" "$rows"
        done
    done
done
check "wire path with a custom plan, 10000 rows: $rounds timed rounds" rounds_ok wire-custom/new 10000

# floors.tsv: the wire path's parts timed alone at 10 000 rows, $rounds rounds each
floor_ok() {
    [ "$(awk -F'\t' -v l="$1" '$1 == l && $2 == 10000 && $4 > 0' "$raw/floors.tsv" 2>/dev/null | wc -l)" -eq "$rounds" ]
}
for part in receive/new receive/persistent insert/new insert/persistent send/persistent \
    counted/persistent single-row/persistent; do
    check "wire path floor $part, 10000 rows: $rounds timed rounds" floor_ok "$part"
done
check "report has the floors section, each setting's bound against COPY" \
    grep -q '^- Persistent connection: with the body as one parameter the wire path can reach at most' "$raw/latest.md"

# inserver.tsv: target rows round ms ref; create_consumers(jsonb) of this
# build and of 0.1.0, and (a), the body already jsonb, and this build's
# rows inserted alone (above 1 row): $rounds rounds each, per size
inserver_ok() {
    [ "$(awk -F'\t' -v t="$1" -v r="$2" '$1 == t && $2 == r && $4 > 0' "$raw/inserver.tsv" 2>/dev/null | wc -l)" -eq "$rounds" ]
}
for rows in 1 500 10000; do
    check "create_consumers(jsonb) in the server, this build, $rows rows: $rounds rounds" inserver_ok current "$rows"
    check "create_consumers(jsonb) in the server, 0.1.0 built from git history, $rows rows: $rounds rounds" inserver_ok baseline "$rows"
    check "(a) plain SQL in the server, the body already jsonb, $rows rows: $rounds rounds" inserver_ok plain "$rows"
    if [ "$rows" -gt 1 ]; then
        check "the in-server floor, this build's rows inserted alone, $rows rows: $rounds rounds" inserver_ok insert "$rows"
    fi
done

# gateway.tsv: tool rows connections requests duration p50 p99 errors
cell_ok() {
    local tool=$1 rows=$2 conns=$3
    [ "$(awk -F'\t' -v t="$tool" -v r="$rows" -v c="$conns" \
        '$1 == t && $2 == r && $3 == c && $4 > 0 && $8 == 0' "$raw/gateway.tsv" 2>/dev/null | wc -l)" -eq 1 ]
}
for tool in wrk pgbench; do
    for rows in 1 500; do
        for conns in 1 8 32; do
            check "$tool, $rows-row batches, $conns connections: requests and no errors" cell_ok "$tool" "$rows" "$conns"
        done
    done
done

# router.tsv: target measure rate p50 p99 errors, for 3 targets x 3 measures
router_ok() {
    [ "$(awk -F'\t' -v t="$1" -v m="$2" '$1 == t && $2 == m && $3 > 0 && $6 == 0' "$raw/router.tsv" 2>/dev/null | wc -l)" -eq 1 ]
}
for target in single router1 router2; do
    for measure in http500 sql10000 call1; do
        check "router part: $target, $measure measured, no errors" router_ok "$target" "$measure"
    done
done
check "report has the router section with its overhead per call" grep -q '^Router overhead per call' "$raw/latest.md"
check "report written with the targets table" grep -q '^## Targets' "$raw/latest.md"
# issue 18's targets, each with a verdict computed from this run
issue18_ok() {
    [ "$(grep -c '^| issue 18: .* | \*\*\(not \)\{0,1\}met\*\* |$' "$raw/latest.md")" -eq 5 ]
}
check "report shows issue 18's 5 targets, each met or not met" issue18_ok
check "report has the in-server table of this build, 0.1.0 and (a)" \
    grep -q '^## create_consumers(jsonb) in the server, against 0.1.0 and (a)' "$raw/latest.md"
check "report gives the in-server floor at 500 rows" \
    grep -q '^- 500 rows: the insert takes .* 5× (a) needs the call at' "$raw/latest.md"
check "chart written" grep -q '<svg' "$raw/latest.svg"

summary
