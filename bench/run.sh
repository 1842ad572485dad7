#!/usr/bin/env bash
# `make bench`: fanfare against the other ways to create consumers, side by side.
#
#   bench/run.sh [--quick] [--rounds N] [--sizes 1,100,500,10000,100000]
#                [--duration SECONDS] [--no-gateway] [--without-fanfare]
#                [--results DIR] [--no-router]
#
# Installs missing packages, builds and installs the extension (and the
# gateway), starts a throwaway cluster (fsync off) that it stops at exit,
# generates deterministic consumers (bench/gen.mjs), and times, for every
# batch size, the same rows through:
#   wire      SELECT fanfare.import_consumers($1)       (the wire path: text in, rows of JSON text out)
#   fanfare   SELECT fanfare.create_consumers($1)       (the jsonb path: $1 cast to jsonb)
#   plain     (a) INSERT ... SELECT FROM jsonb_to_recordset RETURNING + jsonb_agg (plain_sql.sql)
#   plpgsql   (b) the same validation in PL/pgSQL (plpgsql_contender.sql)
#   copy      (c) COPY FROM STDIN of the same rows as CSV, as the table owner
# each on a new connection per call and on a persistent connection (one that
# has already made a call of that size), then create_consumers(jsonb) with the
# body already in the server, this build against the last 0.1.0 build and
# (a) at 1, 500 and 10 000 rows, then
# the gateway with wrk against pgbench issuing the gateway's statement, and
# the same work through a router over 1 and 2 shards (bench/router.sh),
# and rate limits on vs off with the /metrics exposition (bench/ratelimit.sh).
# Results: DIR/latest.md and DIR/latest.svg, raw numbers in bench/results/raw/.
#
# --quick: CI-sized (sizes up to 10 000, 3 rounds, 1 s gateway runs), results
# and raw numbers in bench/results/raw/quick/ so the committed latest.md is
# left alone.
# --without-fanfare: no build; the contract's table and SQL stand-ins
# (standin.sql) so that (a), (b) and (c) can run before the extension exists.
set -euo pipefail
cd "$(dirname "$0")/.."
args="$*"

usage() { sed -n '4,6p' "$0" | sed 's/^# \{0,1\}//'; }

quick=0 gateway=1 with_fanfare=1 router=1
rounds='' sizes='' duration='' results=''
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --rounds) rounds=${2:?--rounds N}; shift ;;
    --sizes) sizes=${2:?--sizes LIST}; shift ;;
    --duration) duration=${2:?--duration SECONDS}; shift ;;
    --results) results=${2:?--results DIR}; shift ;;
    --no-gateway) gateway=0 ;;
    --no-router) router=0 ;;
    --without-fanfare) with_fanfare=0 gateway=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    sizes=${sizes:-1,100,500,10000} duration=${duration:-1} results=${results:-bench/results/raw/quick}
    rounds_small=${rounds:-3} rounds_big=${rounds:-3}
else
    sizes=${sizes:-1,100,500,10000,100000} duration=${duration:-10} results=${results:-bench/results}
    rounds_small=${rounds:-5} rounds_big=${rounds:-3}
fi
raw=bench/results/raw
[ "$quick" = 1 ] && raw=$results
mkdir -p "$raw" "$results"
rm -f "$raw"/*.tsv "$raw"/*.txt "$raw"/gateway.log "$raw"/chart.dat
log() { printf 'bench: %s\n' "$*" >&2; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- packages, build, install ----------------------------------------------
FANFARE_BENCH_DEPS=1 tools/deps.sh
export PG_CONFIG=${PG_CONFIG:-$(ls -d /usr/lib/postgresql/15/bin/pg_config 2>/dev/null || command -v pg_config)}
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
gateway_built=0
if [ "$with_fanfare" = 1 ]; then
    if make -s PG_CONFIG="$PG_CONFIG" >"$raw/build.log" 2>&1; then
        gateway_built=1
        $SUDO make -s install PG_CONFIG="$PG_CONFIG" >>"$raw/build.log" 2>&1
    else
        # the gateway may not build yet; the extension alone is enough for the SQL part
        log "full build failed (see $raw/build.log); building the extension alone"
        if ! make -s -o gateway PG_CONFIG="$PG_CONFIG" >>"$raw/build.log" 2>&1; then
            tail -30 "$raw/build.log" >&2
            log "the extension does not build; run with --without-fanfare to measure (a), (b), (c) only"
            exit 1
        fi
        $SUDO make -s -o gateway install PG_CONFIG="$PG_CONFIG" >>"$raw/build.log" 2>&1
    fi
fi

# --- throwaway cluster -------------------------------------------------------
work=$(mktemp -d /tmp/fanfare-bench.XXXXXX)
chmod 755 "$work"
port=${FANFARE_BENCH_PORT:-$((50000 + RANDOM % 5000))}
gateway_pid=
cleanup() {
    [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
    tools/cluster.sh stop "$work/data" || true
    rm -rf "$work"
}
trap cleanup EXIT
export FANFARE_FAST_CLUSTER=1
# fanfare not preloaded: the in-server part loads 0.1.0's library (built
# from git history) into sessions of this cluster, and a preloaded 0.3.0
# would already hold its settings' names; bench/ratelimit.sh, which needs
# the preload, runs a cluster of its own
export FANFARE_CLUSTER_PRELOAD=0
tools/cluster.sh start "$work/data" "$port"
eval "$(tools/cluster.sh env "$work/data" "$port")"
db=fanfare_bench
admin="host=$PGHOST port=$PGPORT user=postgres dbname=$db"
api="host=$PGHOST port=$PGPORT user=bench_api dbname=$db"
organization=0190f5c2-0000-7000-8000-0000000b3e0c

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db"
if [ "$with_fanfare" = 1 ]; then
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION fanfare"
else
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f bench/standin.sql
fi
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f bench/plpgsql_contender.sql 2>&1 | grep -v NOTICE || true
# (a) and (b) stand for what a user assembles without fanfare: they insert
# into the table themselves, which fanfare's insert guard refuses to API
# roles.  Switch the guard off in this throwaway database (for fanfare it
# is one trigger call per statement either way).
if [ "$with_fanfare" = 1 ]; then
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "ALTER TABLE fanfare.consumers DISABLE TRIGGER consumers_insert_guard"
fi
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
CREATE ROLE bench_api LOGIN IN ROLE fanfare_api;
GRANT USAGE ON SCHEMA fanfare_bench TO fanfare_api;
SQL
# batches beyond the documented 500 (the PL/pgSQL contender reads the same setting)
if [ "$with_fanfare" = 1 ]; then
    # the library defines the setting once loaded
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
LOAD 'fanfare';
ALTER SYSTEM SET fanfare.max_batch_size = 1000000;
SELECT pg_reload_conf() \gset
SQL
else
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "ALTER ROLE bench_api SET fanfare.max_batch_size = 1000000"
fi

# contender (b) against the oracle's verdicts (not timed)
psql -X -q -d "$db" -f bench/check_plpgsql.sql <test/conformance/cases.jsonl >"$raw/plpgsql_check.txt" 2>&1 || true
plpgsql_check=$(grep -o '(b) PL/pgSQL agrees.*verdicts' "$raw/plpgsql_check.txt" || echo "conformance check failed, see raw/plpgsql_check.txt")

# --- data and driver -----------------------------------------------------------
log "generating data for sizes $sizes"
node bench/gen.mjs "$work/set" "1,$sizes" "$organization"
cc -O2 -Wall -o "$work/bench-driver" bench/driver.c -I"$("$PG_CONFIG" --includedir)" \
    -L"$("$PG_CONFIG" --libdir)" -lpq -lpthread

# Every SQL contender gets the body as one parameter of a generic plan:
# with a custom plan (libpq's unnamed statements get one by default)
# PostgreSQL copies the body into the plan as a constant, one more copy of
# it for every contender (the gateway connects this way too).
generic="SET plan_cache_mode = force_generic_plan"
setup="SET fanfare.organization_id = '$organization'; SET fanfare.actor = 'bench'; SET TimeZone = 'UTC'; $generic"
copy_statement="COPY fanfare.consumers ($(cat "$work/set/copy-columns.txt")) FROM STDIN (FORMAT csv)"
contenders=(plain plpgsql copy)
[ "$with_fanfare" = 1 ] && contenders=(wire fanfare "${contenders[@]}")
settings=(new persistent)

# One contender at one size in one setting, after a 1-row warm-up call: one
# line per round appended to contenders.tsv, labelled contender/setting.
# new: a new connection for the round; persistent: one that has already made
# an untimed call of the same size (as a pooled connection has).
measure() {
    local contender=$1 n=$2 rounds=$3 round_label=$4 setting=$5 prime=()
    case $contender in
    wire) set -- --conn "$api" --setup "$setup" --statement 'SELECT fanfare.import_consumers($1)' --result rows ;;
    wire-custom) set -- --conn "$api" --setup "${setup%; $generic}" --statement 'SELECT fanfare.import_consumers($1)' --result rows ;;
    fanfare) set -- --conn "$api" --setup "$setup" --statement 'SELECT fanfare.create_consumers($1)' ;;
    plain) set -- --conn "$api" --setup "$setup" --statement "$(cat bench/plain_sql.sql)" ;;
    plpgsql) set -- --conn "$api" --setup "$setup" --statement 'SELECT fanfare_bench.plpgsql_create_consumers($1)' ;;
    copy) set -- --mode copy --conn "$admin" --statement "$copy_statement" ;;
    esac
    # small batches: several calls per round (mean reported), each with its
    # own consumers (gen.mjs writes one file per call); one truncation per round
    local repeat=$((2000 / n))
    [ "$repeat" -gt 200 ] && repeat=200
    [ "$repeat" -lt 1 ] && repeat=1
    local data=$work/set/payload-$n.%d.json warm=$work/set/warmup.json
    [ "$contender" = copy ] && data=$work/set/rows-$n.%d.csv warm=$work/set/warmup.csv
    # shellcheck disable=SC2059
    [ "$setting" = persistent ] && prime=(--prime "$(printf "$data" 0)")
    log "$contender ($setting connection), $n rows, round $round_label"
    "$work/bench-driver" "$@" "${prime[@]}" --admin "$admin" --label "$contender/$setting" --data "$data" \
        --warmup "$warm" --rows "$n" --rounds "$rounds" --repeat "$repeat" |
        awk -v round="${round_label%/*}" 'BEGIN { FS = OFS = "\t" } { $3 = round; print }' >>"$raw/contenders.tsv"
}

: >"$raw/contenders.tsv"
IFS=, read -ra size_list <<<"$sizes"
for n in "${size_list[@]}"; do
    r=$rounds_small
    [ "$n" -ge 10000 ] && r=$rounds_big
    # rounds interleaved across contenders, so that a slow spell on this
    # (possibly shared) machine does not fall on one contender only
    for ((i = 1; i <= r; i++)); do
        for setting in "${settings[@]}"; do
            for c in "${contenders[@]}"; do
                measure "$c" "$n" 1 "$i/$r" "$setting"
            done
        done
    done
done
# the wire path's memory with libpq's default custom plan, at the largest size
if [ "$with_fanfare" = 1 ]; then
    n=${size_list[-1]}
    for ((i = 1; i <= rounds_big; i++)); do
        measure wire-custom "$n" 1 "$i/$rounds_big" new
    done
fi

# --- the wire path's floors ---------------------------------------------------
# What the wire path's call at 10 000 rows (or the largest size below) is
# made of, each part timed alone, rounds interleaved: receiving the body
# (SELECT octet_length($1)) and inserting the call's rows (INSERT ... SELECT
# of the same rows, as bench_api: row-level security, constraints and
# triggers as for the call), on a new connection and on a persistent one;
# sending the call's response rows (read back from a table); the whole call
# with the response counted in the server instead of sent; and the whole call
# read one row at a time (libpq's single-row mode, as the gateway reads it).
# The statements that read a stored table take 'all' as $1 ('none' for their
# untimed warm-up call, which plans the statement and inserts nothing or
# sends one row).  report.mjs sets them next to the wire path and COPY.  And what
# this host charges for a page of fresh memory (floors-host.txt).
: >"$raw/floors.tsv"
floor_n=
for n in "${size_list[@]}"; do
    [ "$n" -le 10000 ] && floor_n=$n
done
if [ "$with_fanfare" = 1 ] && [ "${floor_n:-1}" -gt 1 ]; then
    floor_data=$work/set/payload-$floor_n.0.json
    printf all >"$work/set/floor-all.txt"
    printf none >"$work/set/floor-none.txt"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
TRUNCATE fanfare.consumers;
SET fanfare.organization_id = '$organization'; SET fanfare.actor = 'bench'; SET TimeZone = 'UTC';
CREATE TABLE fanfare_bench.floor_rows AS
    SELECT fanfare.import_consumers(pg_catalog.pg_read_file('$floor_data')) AS r;
CREATE TABLE fanfare_bench.floor_staged AS SELECT * FROM fanfare.consumers;
TRUNCATE fanfare.consumers;
GRANT SELECT ON fanfare_bench.floor_rows, fanfare_bench.floor_staged TO fanfare_api;
SQL
    # floor LABEL SETTING DATA WARMUP STATEMENT [DRIVER OPTIONS]: one round
    floor() {
        local label=$1 setting=$2 data=$3 warmup=$4 statement=$5 connection=(--prime "$3")
        shift 5
        [ "$setting" = new ] && connection=(--fresh)
        "$work/bench-driver" --conn "$api" --admin "$admin" --setup "$setup" --label "$label/$setting" \
            --statement "$statement" --data "$data" --warmup "$warmup" "${connection[@]}" \
            --rows "$floor_n" --rounds 1 "$@" |
            awk -v round="$i" 'BEGIN { FS = OFS = "\t" } { $3 = round; print }' >>"$raw/floors.tsv"
    }
    all=$work/set/floor-all.txt none=$work/set/floor-none.txt warm=$work/set/warmup.json
    # shellcheck disable=SC2016  # the statements' $1, not the shell's
    for ((i = 1; i <= rounds_big; i++)); do
        log "wire path floors, $floor_n rows, round $i/$rounds_big"
        for setting in new persistent; do
            floor receive "$setting" "$floor_data" "$warm" 'SELECT pg_catalog.octet_length($1)' \
                --result one --expect-rows 0
            floor insert "$setting" "$all" "$none" \
                'INSERT INTO fanfare.consumers SELECT * FROM fanfare_bench.floor_staged WHERE $1 = '"'all'" \
                --result none
        done
        floor send persistent "$all" "$none" \
            'SELECT r FROM fanfare_bench.floor_rows LIMIT CASE WHEN $1 = '"'all'"' THEN NULL ELSE 1 END' \
            --result rows --expect-rows 0
        floor counted persistent "$floor_data" "$warm" \
            'SELECT pg_catalog.count(*) FROM fanfare.import_consumers($1)' --result one
        floor single-row persistent "$floor_data" "$warm" 'SELECT fanfare.import_consumers($1)' --single-row
    done
    "$work/bench-driver" --page-fault-cost >"$raw/floors-host.txt"
fi

# --- create_consumers(jsonb), the body already jsonb in the server --------------
# Three contenders, rounds interleaved, at 1, 500 and 10 000 rows (those of
# --sizes; else the largest size up to 10 000): this build's
# create_consumers, the last 0.1.0 build's (its library built from git
# history and its install script run, as plain objects, in a database of its
# own, so that no backend loads both libraries), and (a), the statement of
# bench/plain_sql.sql with the body as a jsonb variable of the DO block where
# the driver binds $1.  Each round is one session per contender: the bodies
# read into a temporary table as superuser, then SET ROLE bench_api (a
# non-owner member of fanfare_api: row-level security applies to all three,
# as to the driver's contenders) and, per size, one DO block: an untimed
# warm-up call, then 3 passes over the size's bodies (as many calls as a
# driver round makes, each with its own consumers), the table truncated after
# each pass; a round's figure is the best pass's mean ms per call.  As many
# rounds as batches under 10 000 get (5, --quick 3: (a) takes about a second
# a call at 10 000 rows).  A fourth, interleaved with them, is this build's
# floor: the rows its calls store, inserted alone by the same role in the
# same way (inserver_insert_block).
: >"$raw/inserver.tsv"
inserver_note=
baseline_ref=
inserver_sizes=(1)
for n in "${size_list[@]}"; do
    case $n in 500 | 10000) inserver_sizes+=("$n") ;; esac
done
if [ "${#inserver_sizes[@]}" = 1 ]; then
    for n in "${size_list[@]}"; do
        [ "$n" -gt 1 ] && [ "$n" -le 10000 ] && [ "$n" -gt "${inserver_sizes[-1]}" ] && inserver_sizes[1]=$n
    done
fi
# the call each contender times, on the jsonb variable request_body
# shellcheck disable=SC2016  # the statement's $1, not the shell's
plain_call="$(sed -e '/^--/d' -e 's/\$1/request_body/g' bench/plain_sql.sql) INTO response;"
inserver_call() {
    case $1 in
    current | baseline) echo "PERFORM fanfare.create_consumers(request_body);" ;;
    plain) echo "$plain_call" ;;
    esac
}
# inserver_insert_block N CALLS: the DO block of the floor, the call's rows
# inserted alone: the rows each of the size's calls stores (staged_N_K, made
# by running this build's call once as the owner), one static INSERT per
# call, the passes and timing as for the calls
inserver_insert_block() {
    local n=$1 calls=$2 k
    echo "DO \$\$"
    echo "DECLARE t0 timestamptz; spent interval;"
    echo "BEGIN"
    echo "    FOR pass IN 0 .. 3 LOOP"
    echo "        spent := interval '0';"
    echo "        IF pass = 0 THEN"
    echo "            INSERT INTO fanfare.consumers SELECT * FROM staged_${n}_0;"
    echo "        ELSE"
    for ((k = 0; k < calls; k++)); do
        echo "            t0 := clock_timestamp();"
        echo "            INSERT INTO fanfare.consumers SELECT * FROM staged_${n}_$k;"
        echo "            spent := spent + (clock_timestamp() - t0);"
    done
    echo "            INSERT INTO t VALUES ($n, extract(epoch FROM spent) * 1000 / $calls);"
    echo "        END IF;"
    echo "        TRUNCATE fanfare.consumers;"
    echo "    END LOOP;"
    echo "END \$\$;"
}
# inserver_calls N: how many calls (bodies) a pass of size N makes, as a
# driver round
inserver_calls() {
    local calls=$((2000 / $1))
    [ "$calls" -gt 200 ] && calls=200
    [ "$calls" -lt 1 ] && calls=1
    echo "$calls"
}
# inserver_round TARGET DATABASE ROUND: one round of TARGET, a line per size
inserver_round() {
    local target=$1 dbname=$2 round=$3 n k
    {
        echo "SET fanfare.organization_id = '$organization';"
        echo "SET fanfare.max_batch_size = 1000000;"
        echo "SET plan_cache_mode = force_generic_plan;"
        echo "CREATE TEMP TABLE body (n int, k int, j jsonb);"
        for n in "${inserver_sizes[@]}"; do
            for ((k = 0; k < $(inserver_calls "$n"); k++)); do
                echo "INSERT INTO body VALUES ($n, $k, pg_catalog.pg_read_file('$work/set/payload-$n.$k.json')::jsonb);"
            done
        done
        echo "GRANT SELECT ON body TO bench_api;"
        if [ "$target" = insert ]; then
            for n in "${inserver_sizes[@]}"; do
                [ "$n" -gt 1 ] || continue
                for ((k = 0; k < $(inserver_calls "$n"); k++)); do
                    echo "DO \$\$ BEGIN PERFORM fanfare.create_consumers(j) FROM body WHERE n = $n AND k = $k; END \$\$;"
                    echo "CREATE TEMP TABLE staged_${n}_$k AS SELECT * FROM fanfare.consumers;"
                    echo "TRUNCATE fanfare.consumers;"
                    echo "GRANT SELECT ON staged_${n}_$k TO bench_api;"
                done
            done
        fi
        echo "SET ROLE bench_api;"
        echo "CREATE TEMP TABLE t (n int, ms float8);"
        for n in "${inserver_sizes[@]}"; do
            if [ "$target" = insert ]; then
                [ "$n" -gt 1 ] && inserver_insert_block "$n" "$(inserver_calls "$n")"
                continue
            fi
            cat <<SQL
DO \$\$
DECLARE
    bodies jsonb[] := ARRAY(SELECT j FROM body WHERE n = $n ORDER BY k);
    request_body jsonb;
    response jsonb;
    t0 timestamptz;
    spent interval;
BEGIN
    FOR pass IN 0 .. 3 LOOP
        spent := interval '0';
        FOREACH request_body IN ARRAY CASE WHEN pass = 0 THEN bodies[1:1] ELSE bodies END LOOP
            t0 := clock_timestamp();
            $(inserver_call "$target")
            spent := spent + (clock_timestamp() - t0);
        END LOOP;
        IF pass > 0 THEN
            INSERT INTO t VALUES ($n, extract(epoch FROM spent) * 1000 / pg_catalog.array_length(bodies, 1));
        END IF;
        TRUNCATE fanfare.consumers;
    END LOOP;
END \$\$;
SQL
        done
        echo "SELECT n, min(ms) FROM t GROUP BY n ORDER BY n;"
    } | psql -X -q -At -v ON_ERROR_STOP=1 -d "$dbname" |
        awk -F'|' -v t="$target" -v r="$round" -v ref="$baseline_ref" \
            'BEGIN { OFS = "\t" } NF { print t, $1, r, $2, ref }' >>"$raw/inserver.tsv"
}
if [ "$with_fanfare" = 1 ] && git rev-parse --git-dir >/dev/null 2>&1; then
    # the commit that moved fanfare.control past 0.1.0; its parent is 0.1.0
    bump=$(git log -1 --format=%H -S"default_version = '0.1.0'" -- fanfare.control 2>/dev/null || true)
    [ -n "$bump" ] && baseline_ref=$(git rev-parse --short "$bump^" 2>/dev/null || true)
fi
if [ -z "$baseline_ref" ]; then
    inserver_note="not measured: no git history to build the 0.1.0 library from"
else
    base=$work/baseline
    mkdir -p "$base"
    git archive "$baseline_ref" | tar -x -C "$base"
    if make -s -C "$base" -o gateway PG_CONFIG="$PG_CONFIG" fanfare.so >"$raw/baseline-build.log" 2>&1; then
        chmod 755 "$base" && chmod 644 "$base/fanfare.so"
        psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE fanfare_baseline"
        { echo "CREATE SCHEMA fanfare;"
          sed -e '/^\\echo/d' -e '/pg_extension_config_dump/d' \
              -e "s|MODULE_PATHNAME|$base/fanfare.so|g" "$base/fanfare--0.1.0.sql"; } |
            psql -X -q -v ON_ERROR_STOP=1 -d fanfare_baseline >>"$raw/baseline-build.log" 2>&1
        # bench_api truncates between passes, inside its DO blocks
        for dbname in "$db" fanfare_baseline; do
            psql -X -q -v ON_ERROR_STOP=1 -d "$dbname" -c "GRANT TRUNCATE ON fanfare.consumers TO bench_api"
        done
        inserver_start=$SECONDS
        for ((i = 1; i <= rounds_small; i++)); do
            for target in baseline current plain insert; do
                dbname=$db
                [ "$target" = baseline ] && dbname=fanfare_baseline
                log "in the server: $target, ${inserver_sizes[*]} rows, round $i/$rounds_small"
                inserver_round "$target" "$dbname" "$i"
            done
        done
        log "in the server: $((SECONDS - inserver_start)) s"
    else
        inserver_note="not measured: the 0.1.0 library ($baseline_ref) did not build (see raw/baseline-build.log)"
    fi
fi

# --- gateway against pgbench ----------------------------------------------------
# the SQL part keeps about one core busy; the gateway part's 32-client cells
# raise the load on their own, so "other work" is judged before them
load_gateway=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$raw/gateway.tsv"
gateway_note=
gateway_bin=src/gateway/fanfare-gateway
missing_functions=$(psql -X -At -d "$db" -c "
    SELECT string_agg('fanfare.' || f, ', ')
    FROM unnest(ARRAY['api_import_consumers', 'create_organization', 'rotate_secret_key']) f
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_proc
                      WHERE proname = f AND pronamespace = 'fanfare'::regnamespace)")
if [ "$gateway" = 0 ]; then
    gateway_note="gateway part not run (--no-gateway or --without-fanfare)"
elif [ "$gateway_built" = 0 ] || [ ! -x "$gateway_bin" ]; then
    gateway_note="gateway part skipped: $gateway_bin did not build"
elif [ -n "$missing_functions" ]; then
    gateway_note="gateway part skipped: missing SQL functions: $missing_functions"
fi

if [ -z "$gateway_note" ]; then
    gw_port=$((port + 1))
    # the gateway and pgbench connect as the same role; bench_api when it may
    # call the API function, else the superuser (then row-level security is
    # bypassed for both alike)
    gw_user=bench_api
    [ "$(psql -X -At -d "$db" -c "SELECT has_function_privilege('bench_api',
        'fanfare.api_import_consumers(text,bytea,text)', 'EXECUTE')")" = t ] || gw_user=postgres
    key=$(psql -X -At -d "$db" -c "SELECT fanfare.rotate_secret_key(fanfare.create_organization('bench'))")
    PGUSER=$gw_user PGDATABASE=$db "$gateway_bin" --listen "127.0.0.1:$gw_port" \
        >"$raw/gateway.log" 2>&1 &
    gateway_pid=$!
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$gw_port/healthz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    if ! curl -fs "http://127.0.0.1:$gw_port/healthz" >/dev/null 2>&1; then
        gateway_note="gateway part skipped: the gateway did not become healthy (see raw/gateway.log)"
        kill "$gateway_pid" 2>/dev/null || true
        gateway_pid=
    fi
fi

if [ -z "$gateway_note" ]; then
    for n in 1 500; do
        body=$work/set/gw-$n.json
        status=$(curl -s -o "$work/gw-check.json" -w '%{http_code}' -X POST \
            -H 'Content-Type: application/json' -H "Authorization: Bearer $key" \
            --data-binary "@$body" "http://127.0.0.1:$gw_port/consumers/batch")
        if [ "$status" != 200 ]; then
            log "gateway answered $status to a valid $n-row batch:"
            head -c 500 "$work/gw-check.json" >&2; echo >&2
            exit 1
        fi
        # pgbench sends the gateway's statement with the gateway's session
        # settings: prepared, with the key and body bound, for 1-row bodies,
        # as the gateway does; a 500-row body is too large for pgbench to
        # bind (-D), so it goes as a literal with the simple protocol.
        if [ "$n" = 1 ]; then
            pgbench_mode=(-M prepared -D key="$key" -D body="$(cat "$body")")
            printf "SELECT fanfare.api_import_consumers(:key, pg_catalog.convert_to(:body, 'UTF8'), NULL), pg_catalog.current_setting('fanfare.organization_id', true), pg_catalog.current_setting('fanfare.idempotency_outcome', true);\n" \
                >"$work/pgbench-$n.sql"
        else
            pgbench_mode=(-M simple)
            printf "SELECT fanfare.api_import_consumers('%s', pg_catalog.convert_to('%s', 'UTF8'), NULL), pg_catalog.current_setting('fanfare.organization_id', true), pg_catalog.current_setting('fanfare.idempotency_outcome', true);\n" \
                "$key" "$(sed "s/'/''/g" "$body")" >"$work/pgbench-$n.sql"
        fi
        echo "pgbench_mode_$n	${pgbench_mode[1]}" >>"$raw/pgbench-modes.tsv"
        for conns in 1 8 32; do
            threads=$((conns < 2 ? conns : 2))
            psql -X -q -d "$db" -c "TRUNCATE fanfare.consumers"
            log "gateway: wrk, $n-row batches, $conns connections, ${duration}s"
            FANFARE_BENCH_BODY=$body FANFARE_BENCH_KEY=$key \
                wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 60s -s bench/gateway.lua \
                "http://127.0.0.1:$gw_port/consumers/batch" >"$raw/wrk-$n-$conns.txt"
            awk -v n="$n" -v c="$conns" -F'\t' '$1 == "RESULT" {
                    printf "wrk\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n, c, $2, $3, $4, $5, $6 }' \
                "$raw/wrk-$n-$conns.txt" >>"$raw/gateway.tsv"

            psql -X -q -d "$db" -c "TRUNCATE fanfare.consumers"
            log "gateway: pgbench, $n-row batches, $conns clients, ${duration}s"
            rm -f "$work"/pgbench_log*
            if ! (cd "$work" && PGUSER=$gw_user PGOPTIONS="-c statement_timeout=30000 -c plan_cache_mode=force_generic_plan" \
                pgbench -n "${pgbench_mode[@]}" -c "$conns" -j "$threads" \
                -T "$duration" -l --log-prefix=pgbench_log -f "pgbench-$n.sql" "$db") \
                >"$raw/pgbench-$n-$conns.txt" 2>&1; then
                cat "$raw/pgbench-$n-$conns.txt" >&2
                exit 1
            fi
            failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$raw/pgbench-$n-$conns.txt")
            cat "$work"/pgbench_log* | awk '{ print $3 / 1000 }' | sort -n |
                awk -v n="$n" -v c="$conns" -v d="$duration" -v failed="${failed:-0}" '
                    { lat[NR] = $1 }
                    END {
                        p50 = lat[int((NR - 1) * 0.50) + 1]; p99 = lat[int((NR - 1) * 0.99) + 1]
                        printf "pgbench\t%s\t%s\t%d\t%.3f\t%.3f\t%.3f\t%d\n", n, c, NR, d, p50, p99, failed
                    }' >>"$raw/gateway.tsv"
        done
    done
fi

# --- Idempotency-Key: its cost over HTTP -------------------------------------------
# The same requests with and without a key (a fresh one per request, so each
# is stored, never replayed), 8 connections, alternating, three rounds each
# (one in --quick).
if [ -z "$gateway_note" ]; then
    for n in 1 500; do
        for round in $(seq 1 $([ "$quick" = 1 ] && echo 1 || echo 3)); do
            for mode in none key; do
                psql -X -q -d "$db" -c "TRUNCATE fanfare.consumers, fanfare.idempotency_keys"
                log "gateway: wrk, $n-row batches, 8 connections, Idempotency-Key: $mode, round $round"
                FANFARE_BENCH_BODY=$work/set/gw-$n.json FANFARE_BENCH_KEY=$key \
                    FANFARE_BENCH_IDEMPOTENCY=$([ "$mode" = key ] && echo "r$round-n$n-$$") \
                    wrk -t2 -c8 -d"${duration}s" --timeout 60s -s bench/gateway.lua \
                    "http://127.0.0.1:$gw_port/consumers/batch" >"$raw/wrk-idem-$n-$mode-$round.txt"
                awk -v n="$n" -v m="$mode" -v r="$round" -F'\t' '$1 == "RESULT" {
                        printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m, n, r, $2, $3, $4, $5, $6 }' \
                    "$raw/wrk-idem-$n-$mode-$round.txt" >>"$raw/idempotency.tsv"
            done
        done
    done
fi

# --- through a router, over 1 and 2 shards ------------------------------------------
: >"$raw/router.tsv"
[ -z "$gateway_note" ] && { bench/import.sh "$work" "$raw" "http://127.0.0.1:$gw_port" "$key" "$db" "$quick" || log "import part failed"; }
router_note=
if [ "$router" = 0 ]; then
    router_note="router part not run (--no-router)"
elif [ -n "$gateway_note" ]; then
    router_note="router part not run: $gateway_note"
elif [ ! -f "$work/set/payload-10000.0.json" ]; then
    router_note="router part not run: it needs the size 10000 in --sizes"
elif [ ! -f "$("$PG_CONFIG" --sharedir)/extension/plproxy.control" ]; then
    router_note="router part not run: PL/Proxy (postgresql-15-plproxy) is not installed"
else
    kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
    gateway_pid=
    bench/router.sh "$work" "$raw" "$duration" "$db" "$gateway_bin" ||
        router_note="router part failed (see the bench: router: lines above)"
fi

# --- report ------------------------------------------------------------------------
{
    echo "date	$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    dirty=
    [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty=" (with uncommitted changes)"
    echo "commit	$(git rev-parse --short HEAD 2>/dev/null || echo none)$dirty"
    echo "cpu	$(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "load	$load_start at the start, $load_gateway before the gateway part, $(cut -d' ' -f1-3 /proc/loadavg) at the end (1, 5, 15 min)"
    echo "postgres	$(psql -X -At -d "$db" -c 'SHOW server_version')"
    echo "command	bench/run.sh $args"
    echo "quick	$quick"
    echo "rounds	$rounds_small (batches under 10 000), $rounds_big (10 000 and more)"
    echo "duration	$duration"
    echo "gateway_start	$(grep -m1 'listening on' "$raw/gateway.log" 2>/dev/null || true)"
    echo "gateway_note	$gateway_note"
    echo "inserver_note	$inserver_note"
    echo "router_note	$router_note"
    echo "with_fanfare	$with_fanfare"
    echo "plpgsql_check	$plpgsql_check"
} >"$raw/meta.tsv"
# the webhooks (issue 19): relay throughput and the outbox's cost, on a cluster of its own
bench/webhooks.sh $([ "$quick" = 1 ] && echo --quick) --results "$raw" || log "webhooks bench failed"
# rate limits on vs off, and /metrics (issue 20): bench/ratelimit.sh, its own cluster
if [ "$gateway" = 1 ]; then
    bench/ratelimit.sh $([ "$quick" = 1 ] && echo --quick) | tee "$raw/ratelimit.txt" ||
        log "the rate limit bench failed"
fi
# instructions per call, wire path against COPY (callgrind; about a minute,
# so not in --quick): bench/instructions.sh, a cluster of its own
if [ "$quick" = 0 ] && [ "$with_fanfare" = 1 ]; then
    bench/instructions.sh --out "$raw/instructions.md" >/dev/null || log "the instruction count failed"
fi
node bench/report.mjs "$raw" "$results"
gnuplot -e "datafile='$raw/chart.dat'; outfile='$results/latest.svg'" bench/chart.gp
log "wrote $results/latest.md and $results/latest.svg"
[ -n "$gateway_note" ] && log "$gateway_note"
exit 0
