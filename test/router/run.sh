#!/usr/bin/env bash
# The router (router/, the fanfare_router extension): one fanfare API over
# two shards, routed with PL/Proxy.
#
#   test/router/run.sh              (make check-router)
#
# Three clusters: the router's is the one PGHOST names (make test's) or a
# throwaway one of its own; the two shards are throwaway clusters of its
# own, on free ports, removed at exit.  What it checks:
#   - the gateway suite (test/gateway/run.sh, without its valgrind pass)
#     against the router, through test/router/target.sh;
#   - placement by the rule, tenants' rows on their shard only (each shard
#     queried directly), privileges, cross-tenant attempts on every path;
#   - errors as a single node raises them: SQLSTATE, message, DETAIL and
#     HINT of every error class compared with a single-node database, with
#     a negative control; a shard down or timing out is 503, not 500, while
#     the other shard's tenants are served;
#   - the load audit across kill -9 of one shard's postmaster (only its
#     tenants see 503; stored rows = rows of the 200s), a tenant move under
#     load (nothing lost or duplicated), idempotency keys carried by a move,
#     a move resumed after its session was killed, adding partitions;
#   - fanfare-import through the router: every row on the tenant's shard
#     once, the rejects file, a resume after kill -9, keys that hold;
#   - Citus's rules on fanfare's catalog and C source.
# Prints "N passed, M failed"; exits non-zero on any failure.  About 3
# minutes on two cores.  LOAD_LEAD (default 3): seconds of load before the
# kill and before the move.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

db=fanfare_router_test
login=fanfare_router_test_login
single=fanfare_router_single
# shellcheck source=../reliability/lib.sh
. test/reliability/lib.sh
# shellcheck source=../../tools/router.sh
. tools/router.sh
suite_cluster router --restarts || abort "a cluster to test against"
new_work_dir router
on_exit stop_helpers
# shellcheck disable=SC2034  # read by test/reliability/lib.sh (the load's emails)
tag=rt$$x
load_lead=${LOAD_LEAD:-3}     # seconds of load before the kill and before the move

# --- the shard clusters ------------------------------------------------------
shard_dir=()
shard_port=()
# start_shard: one more throwaway cluster (synchronous commit, so that a 200
# means its rows survive a kill -9 of the postmaster)
start_shard() {
    fast_cluster router-shard || return 1
    echo "synchronous_commit = on" >>"$cluster_dir/postgresql.conf"
    as_owner "$("$PG_CONFIG" --bindir)/pg_ctl" -D "$cluster_dir" reload >/dev/null || return 1
    shard_dir+=("$cluster_dir")
    shard_port+=("$cluster_port")
    echo "# shard $((${#shard_dir[@]} - 1)): cluster in $cluster_dir, port $cluster_port"
}
# shard_sql N ARGS...: psql on shard N's database of this suite
shard_sql() { local n=$1; shift; psql_at "${shard_dir[n]}" "${shard_port[n]}" "${db}_s$n" "$@"; }
single_sql() { psql_q -d "$single" "$@"; }
# restart_shard N: starts shard N again (after a stop or a kill -9: retrying
# while orphaned backends still hold its shared memory)
restart_shard() {
    local i
    for i in $(seq 1 60); do
        cluster_start "${shard_dir[$1]}" "${shard_port[$1]}" 2>/dev/null && return 0
        sleep 0.5
    done
    return 1
}
shard_postmaster() { head -1 "${shard_dir[$1]}/postmaster.pid" 2>/dev/null; }

section "setup"
start_shard && start_shard || abort "two shard clusters"
export FANFARE_ROUTER_SHARDS="${shard_dir[0]}:${shard_port[0]} ${shard_dir[1]}:${shard_port[1]}"

# === the gateway's contract, through the router ============================
section "the gateway suite against the router"
step "test/gateway/run.sh with the router as its database" \
    env FANFARE_GATEWAY_TARGET="$root/test/router/target.sh" FANFARE_SKIP_VALGRIND=1 test/gateway/run.sh

# === this suite's router ======================================================
section "the router and its tenants"
for n in 0 1; do
    shard_setup "${shard_dir[n]}" "${shard_port[n]}" "${db}_s$n" || abort "shard $n"
done
router_setup "$PGHOST" "$PGPORT" "$db" "$(shard_connstr "${shard_port[0]}" "${db}_s0")" \
    "$(shard_connstr "${shard_port[1]}" "${db}_s1")" || abort "the router database"
create_login_role "$login" || abort "the gateway's login role"
create_db "$PGHOST" "$PGPORT" "$single" && single_sql -c "CREATE EXTENSION fanfare" || abort "a single-node database"

# tenants until each partition has two; "org key partition" lines in $work/tenants.all
: >"$work/tenants.all"
for i in $(seq 1 40); do
    read -r org key <<<"$(new_tenant "Tenant $i")" || abort "a tenant"
    echo "$org $key $(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$org'")" >>"$work/tenants.all"
    [ "$(awk '$3 == 0' "$work/tenants.all" | wc -l)" -ge 2 ] && [ "$(awk '$3 == 1' "$work/tenants.all" | wc -l)" -ge 2 ] && break
done
read -r org0 key0 _ <<<"$(awk '$3 == 0' "$work/tenants.all" | head -1)"
read -r org1 key1 _ <<<"$(awk '$3 == 1' "$work/tenants.all" | head -1)"
awk '$3 == 0 || $3 == 1' "$work/tenants.all" | awk '{c[$3]++} c[$3] <= 2 {print $1, $2}' >"$work/tenants"
check "tenants are placed on both partitions ($(wc -l <"$work/tenants.all") created)" [ -n "$org0" ] && [ -n "$org1" ]
check "every placement follows the rule: hashtext(id) & (partitions - 1)" \
    [ "$(psql_db -c "SELECT bool_and(partition = hashtext(organization_id::text) & 1) FROM fanfare_router.placements")" = t ]
check "every organization is registered on its shard, and only there" \
    [ "$(shard_sql 0 -c "SELECT count(*) FROM fanfare.organizations")/$(shard_sql 1 -c "SELECT count(*) FROM fanfare.organizations")" = \
      "$(awk '$3 == 0' "$work/tenants.all" | wc -l)/$(awk '$3 == 1' "$work/tenants.all" | wc -l)" ]
check "a tenant's shard knows it, the other does not" \
    [ "$(shard_sql 0 -c "SELECT count(*) FROM fanfare.organizations WHERE id = '$org0'")$(shard_sql 1 -c "SELECT count(*) FROM fanfare.organizations WHERE id = '$org0'")" = 10 ]
check "the router keeps no consumers" [ "$(psql_db -c "SELECT to_regclass('fanfare.consumers') IS NULL")" = t ]

section "tenants land on their shard"
start_gateway main --max-body 4M || abort "the gateway starts against the router"
body_of() { # N PREFIX: a body of N consumers with emails PREFIX-i@example.com
    node -e 'const [n, p] = [+process.argv[1], process.argv[2]]; const c = [];
        for (let i = 0; i < n; i++) c.push({email: `${p}-${i}@example.com`, emailVerified: true, phoneVerified: false, status: "ACTIVE"});
        process.stdout.write(JSON.stringify({consumers: c}));' "$1" "$2"
}
http_post() { # KEY BODY-FILE [curl args]: prints the status; body in $work/body, headers in $work/headers
    local key=$1 file=$2
    shift 2
    curl -sS -o "$work/body" -D "$work/headers" -w '%{http_code}' --max-time 60 -X POST "http://127.0.0.1:$port/consumers/batch" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' --data-binary "@$file" "$@" 2>/dev/null || true
}
rows_on() { shard_sql "$1" -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$2'"; }
body_of 3 land0 >"$work/land0.json"
body_of 2 land1 >"$work/land1.json"
check "a tenant of partition 0 posts through the gateway (200)" [ "$(http_post "$key0" "$work/land0.json")" = 200 ]
check "its 3 rows are on shard 0, none on shard 1" [ "$(rows_on 0 "$org0")/$(rows_on 1 "$org0")" = 3/0 ]
check "a tenant of partition 1 posts through the gateway (200)" [ "$(http_post "$key1" "$work/land1.json")" = 200 ]
check "its 2 rows are on shard 1, none on shard 0" [ "$(rows_on 1 "$org1")/$(rows_on 0 "$org1")" = 2/0 ]
check "the rows carry the tenant and the key's actor on the shard" \
    [ "$(shard_sql 1 -c "SELECT bool_and(organization_id = '$org1' AND created_by LIKE 'api_key:sk_live_%') FROM fanfare.consumers WHERE email LIKE 'land1-%'")" = t ]

# rate limits (issue 20) are kept on the router: a limit of 2 set there
# refuses the third request, with the headers, before any shard sees it;
# the limit is taken off again at once (the load below uses this tenant)
section "the rate limit, kept on the router"
# (a 400 of the shard and an empty batch count too, and carry the headers:
# the router sends its charge as a notice when no row carries it)
psql_db -c "SELECT fanfare.set_rate_limit('$org0', 4)" >/dev/null
remaining() { sed -n 's/^x-ratelimit-remaining: *\([0-9]*\).*/\1/Ip' "$work/headers"; }
limit_answers=
body_of 1 limited1 >"$work/limited.json"
limit_answers+="$(http_post "$key0" "$work/limited.json" -H "Idempotency-Key: limited-1")/$(remaining) "
printf '%s' '{"consumers":[{}]}' >"$work/limited-bad.json"
limit_answers+="$(http_post "$key0" "$work/limited-bad.json")/$(remaining) "
printf '%s' '{"consumers":[]}' >"$work/limited-empty.json"
limit_answers+="$(http_post "$key0" "$work/limited-empty.json")/$(remaining) "
for i in 2 3; do
    body_of 1 "limited$i" >"$work/limited.json"
    limit_answers+="$(http_post "$key0" "$work/limited.json" -H "Idempotency-Key: limited-$i")/$(remaining) "
done
limit_retry=$(sed -n 's/^retry-after: *\([0-9]*\).*/\1/Ip' "$work/headers")
psql_db -c "SELECT fanfare.set_rate_limit('$org0', NULL)" >/dev/null
check "router: 200, 400, empty 200, 200 (Remaining 3 to 0), then 429 with Retry-After ($limit_answers, Retry-After $limit_retry)" \
    [ "$limit_answers" = "200/3 400/2 200/1 200/0 429/0 " ] && [ -n "$limit_retry" ]
check "router: the 429 reached no shard (2 rows and 2 keys of the limited batch, on shard 0)" \
    [ "$(shard_sql 0 -c "SELECT count(*) FROM fanfare.consumers WHERE email LIKE 'limited%'")/$(shard_sql 0 -c "SELECT count(*) FROM fanfare.idempotency_keys WHERE key LIKE 'limited-%'")" = 2/2 ]
# (and they go again: the checks below count this tenant's rows)
shard_sql 0 -c "DELETE FROM fanfare.consumers WHERE email LIKE 'limited%'" -c "DELETE FROM fanfare.idempotency_keys WHERE key LIKE 'limited-%'" >/dev/null


# === webhooks beside the shards ===============================================
# The outbox lives on each shard, with the consumers: one fanfare-relay per
# shard delivers what a batch through the router created (README, "Webhooks").
section "webhooks: one relay per shard"
hooks_received() { grep -c '"path":"/ok-shard"' "$work/hooks.jsonl" 2>/dev/null || true; }
webhooks_beside_shards() {
    local hook_pid n p other org key relays=()
    read -r org key <<<"$(new_tenant "Hooks")"
    p=$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$org'")
    other=$((1 - p))
    node "$root/test/webhooks/receiver.mjs" --log "$work/hooks.jsonl" --port-file "$work/hooks.port" &
    hook_pid=$!
    for _ in $(seq 1 50); do [ -s "$work/hooks.port" ] && break; sleep 0.1; done
    shard_sql "$p" -c "SELECT id FROM fanfare.create_webhook_endpoint('$org', 'http://127.0.0.1:$(cat "$work/hooks.port")/ok-shard')" >/dev/null
    body_of 4 hook0 >"$work/hook0.json"
    check "a tenant with an endpoint on its shard posts through the router (200)" [ "$(http_post "$key" "$work/hook0.json")" = 200 ]
    for n in 0 1; do
        "$root/src/relay/fanfare-relay" --database "host=${shard_dir[n]} port=${shard_port[n]} dbname=${db}_s$n user=postgres" \
            --poll-interval 200 2>>"$work/relay-shard$n.err" &
        relays+=($!)
    done
    for _ in $(seq 1 100); do [ "$(hooks_received)" -ge 4 ] && break; sleep 0.1; done
    kill -TERM "${relays[@]}" 2>/dev/null
    wait "${relays[@]}" 2>/dev/null
    kill "$hook_pid" 2>/dev/null
    wait "$hook_pid" 2>/dev/null
    check "the shard's relay delivers one consumer.created per consumer created through the router" [ "$(hooks_received)" = 4 ]
    check "the events are on the tenant's shard only" \
        [ "$(shard_sql "$p" -c "SELECT count(*) FROM fanfare.webhook_events WHERE organization_id = '$org'")/$(shard_sql "$other" -c "SELECT count(*) FROM fanfare.webhook_events")" = 4/0 ]
    # a move copies consumers that exist already: no new event on the target,
    # even with the organization's endpoint registered there first
    shard_sql "$other" -c "SELECT id FROM fanfare.create_webhook_endpoint('$org', 'http://127.0.0.1:9/ok-shard')" >/dev/null
    psql_db -c "CALL fanfare_router.move_organization('$org', $other)" >/dev/null
    check "a tenant move writes no event on the target for the consumers it copies" \
        [ "$(rows_on "$other" "$org")/$(shard_sql "$other" -c "SELECT count(*) FROM fanfare.webhook_events")" = 4/0 ]
}
webhooks_beside_shards


# === fanfare-import through the router ======================================
# The importer (src/import) against the gateway on the router: a file with
# invalid rows (one in 97) for a new tenant, the importer killed (kill -9)
# once its journal says 5 to 15 batches are done, then run to the end; then
# run again without its done records, so that every batch goes again with
# its Idempotency-Key (kept on the tenant's shard).
section "fanfare-import through the router"
import_through_router() {
    local org key p other pid killed=0 rc want got lines want_lines same start=$SECONDS
    local file=$work/rtr.ndjson importer=$root/src/import/fanfare-import
    [ -x "$importer" ] || make -s -C "$root/src/import" >/dev/null || { fail "import: build src/import"; return; }
    read -r org key <<<"$(new_tenant "Importer")"
    p=$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$org'")
    other=$((1 - p))
    node "$root/test/import/gen.mjs" rows 1200 rtr- bad >"$file"
    run_import() {
        FANFARE_SECRET_KEY=$key "$importer" --quiet --url "http://127.0.0.1:$port" "$file" --rejects "$work/rtr.rej" \
            --split-rejected --batch-size 25 --concurrency 2 "$@" >/dev/null 2>>"$work/rtr.err"
    }
    # the importer itself in the background (not a subshell running it, which
    # a kill -9 would leave the importer outliving)
    FANFARE_SECRET_KEY=$key "$importer" --quiet --url "http://127.0.0.1:$port" "$file" --rejects "$work/rtr.rej" \
        --split-rejected --batch-size 25 --concurrency 2 >/dev/null 2>>"$work/rtr.err" &
    pid=$!
    kill_importer_at "$pid" "$file.fanfare-import" $((5 + RANDOM % 11)) && killed=1
    run_import
    rc=$?
    check "import: killed while running, the resumed run exits 1 (rows rejected)" [ "$killed/$rc" = 1/1 ]
    # the audit: the tenant's shard has each valid row once, the other none;
    # the rejects file names each invalid row once, and no other
    want=$(node "$root/test/import/gen.mjs" expect "$file" | LC_ALL=C sort)
    got=$(shard_sql "$p" -c "SELECT lower(email) FROM fanfare.consumers WHERE organization_id = '$org'" | LC_ALL=C sort)
    want_lines=$(awk '(NR - 1) % 97 == 50 { print NR }' "$file")
    lines=$(node -e 'process.stdout.write(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l).line).join("\n"))' "$work/rtr.rej")
    check "import: the tenant's shard has every valid row once ($(echo "$got" | wc -l) of $(echo "$want" | wc -l)), the other shard none" \
        [ "$got|$(rows_on "$other" "$org")" = "$want|0" ]
    check "import: the rejects file names every invalid row once ($(echo "$lines" | wc -l) of $(echo "$want_lines" | wc -l))" \
        [ "$lines" = "$want_lines" ]
    cp "$work/rtr.rej" "$work/rtr-first.rej"
    n=$(rows_on "$p" "$org")
    # the resumed run's done records lost (as a crash of the machine may
    # lose them): its batches go again with the keys of their send records
    awk '/^done / && seen++ { next } /^complete/ { next } { print }' "$file.fanfare-import" >"$work/rtr.state" &&
        mv "$work/rtr.state" "$file.fanfare-import"
    run_import
    rc=$?
    cmp -s "$work/rtr.rej" "$work/rtr-first.rej" && same=same || same="other rejects"
    check "import: the batches sent again with their keys create nothing twice (exit $rc, $n -> $(rows_on "$p" "$org") rows, $same)" \
        [ "$rc/$(rows_on "$p" "$org")/$same" = "1/$n/same" ]
    note "fanfare-import through the router: $((SECONDS - start)) s"
}
import_through_router

# === privileges and cross-tenant attempts ===================================
section "cross-tenant attempts and privileges"
fails_as() { # DB-FUNCTION ROLE SQL: true when SQL fails for ROLE there
    ! "$1" -c "SET ROLE $2; $3" >/dev/null 2>&1
}
router_sql() { psql_db "$@"; }
printf '%s' "{\"consumers\":[{\"organizationId\":\"$org0\",\"email\":\"cross@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}" >"$work/cross.json"
check "gateway: key of partition 1 with organizationId of partition 0 in the body stores for its own tenant" \
    [ "$(http_post "$key1" "$work/cross.json")/$(rows_on 0 "$org0")/$(shard_sql 1 -c "SELECT organization_id FROM fanfare.consumers WHERE email = 'cross@example.com'")" = "200/3/$org1" ]
check "PostgREST front: the verified claims decide the tenant, not the body" \
    [ "$(router_sql -c "SET request.jwt.claims = '{\"organization_id\":\"$org1\",\"sub\":\"jwt-user\"}';
        SELECT fanfare.post_consumers_batch('{\"consumers\":[{\"organizationId\":\"$org0\",\"email\":\"cross-pgrst@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}') ->0->> 'organizationId'")" = "$org1" ]
check "PostgREST front: no claims is 401, from the router" \
    [ "$(router_sql -c "SELECT fanfare.post_consumers_batch('{\"consumers\":[]}')::text || current_setting('response.status')")" = '{"error":"Authentication required"}401' ]
check "an API role on the router cannot read placements" fails_as router_sql fanfare_api "SELECT * FROM fanfare_router.placements"
check "an API role on the router cannot move or delete tenants" \
    fails_as router_sql fanfare_api "SELECT fanfare_router.tenant_delete(0, '$org0')"
check "an API role on the router cannot call CALL move_organization" \
    fails_as router_sql fanfare_api "CALL fanfare_router.move_organization('$org0', 1)"
check "an API role on the router cannot read the directory's keys" fails_as router_sql fanfare_api "SELECT * FROM fanfare.api_keys"
wait_for() { local i n=$1; shift; for i in $(seq 1 "$n"); do "$@" && return 0; sleep 0.05; done; return 1; }
# L4 on the router: a tenant's lock is out of reach of a plain login, which
# may take any pg_advisory_* key (0.2.1 used the key below, a public hash)
lock_role=fanfare_lock_probe_$$
psql_db -c "CREATE ROLE $lock_role" >/dev/null
for f in tenant_lock tenant_lock_shared tenant_unlock; do
    check "a role without grants cannot call fanfare_router.$f" fails_as router_sql "$lock_role" "SELECT fanfare_router.$f('$org0')"
done
PGAPPNAME=lock-probe psql_db -c "SET ROLE $lock_role" \
    -c "SELECT pg_advisory_lock(hashtextextended('$org0'::text, 7243506921))" -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
lock_probe=$!
probe_holds() {
    [ "$(psql_db -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE a.application_name = 'lock-probe' AND l.locktype = 'advisory' AND l.granted")" = 1 ]
}
wait_for 100 probe_holds || note "the probe's advisory lock was not seen granted"
body_of 1 lockprobe >"$work/lockprobe.json"
t0=$(date +%s%N)
lock_status=$(http_post "$key0" "$work/lockprobe.json" --max-time 10)
lock_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "a tenant's calls go on while a plain login holds 0.2.1's advisory key of it ($lock_status in $lock_ms ms)" \
    [ "$lock_status" = 200 -a "$lock_ms" -lt 5000 ]
psql_db -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock-probe'" >/dev/null
wait "$lock_probe" 2>/dev/null
psql_db -c "DROP ROLE $lock_role" >/dev/null
s0() { shard_sql 0 "$@"; }
check "on a shard, an API role cannot call the router's functions" \
    fails_as s0 fanfare_api "SELECT * FROM fanfare.shard_import_consumers('$org0', 'x', '\\x7b7d', NULL)"
check "on a shard, the router's role cannot read consumers directly" fails_as s0 fanfare_router "SELECT count(*) FROM fanfare.consumers"
check "on a shard, the router's role cannot insert consumers directly" \
    fails_as s0 fanfare_router "INSERT INTO fanfare.consumers (organization_id, id, created_by, email_verified, phone_verified, status) VALUES ('$org0', gen_random_uuid(), 'x', true, true, 'ACTIVE')"
check "on a shard, PUBLIC cannot call the shard API" \
    [ "$(shard_sql 0 -c "SELECT count(*) FROM pg_proc WHERE pronamespace = 'fanfare'::regnamespace AND (proname LIKE 'shard\\_%' OR proname LIKE 'tenant\\_%') AND has_function_privilege('public', oid, 'EXECUTE')")" = 0 ]

# H3: SECURITY DEFINER functions pin search_path, on the router and on the
# shards; the router's role cannot run its own code in the owner's rights
unpinned_sql="SELECT count(*) FILTER (WHERE NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false))
    || '/' || count(*)
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = :'ext'
 WHERE p.prosecdef"
check "router: every SECURITY DEFINER function of fanfare_router pins search_path (unpinned/all: $(psql_db -v ext=fanfare_router <<<"$unpinned_sql"))" \
    bash -c '[[ $1 == 0/* ]] && [ "${1#0/}" -gt 5 ]' _ "$(psql_db -v ext=fanfare_router <<<"$unpinned_sql")"
check "shard: every SECURITY DEFINER function of fanfare pins search_path (unpinned/all: $(shard_sql 0 -v ext=fanfare <<<"$unpinned_sql"))" \
    bash -c '[[ $1 == 0/* ]] && [ "${1#0/}" -gt 5 ]' _ "$(shard_sql 0 -v ext=fanfare <<<"$unpinned_sql")"
h3_role=fanfare_h3_probe_$$
# an organization of shard 0's own (not in the directory), removed after
h3_org=$(shard_sql 0 -c "SELECT fanfare.create_organization('H3 probe')")
h3_key=$(shard_sql 0 -c "SELECT fanfare.rotate_secret_key('$h3_org', 'test')")
shard_sql 0 -c "CREATE ROLE $h3_role LOGIN IN ROLE fanfare_router, fanfare_api" >/dev/null
h3_body='{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}'
psql -X -q -At -h "${shard_dir[0]}" -p "${shard_port[0]}" -U "$h3_role" -d "${db}_s0" >"$work/h3.out" 2>&1 <<SQL
CREATE FUNCTION pg_temp.escalate(t pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS \$\$
BEGIN
    IF current_user <> '$h3_role' THEN
        EXECUTE 'ALTER ROLE $h3_role SUPERUSER';
    END IF;
    RETURN true;
END
\$\$;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.escalate(VALUE));
CREATE DOMAIN pg_temp.bytea AS pg_catalog.bytea CHECK (pg_temp.escalate(VALUE::pg_catalog.text));
SELECT count(*) FROM fanfare.shard_import_consumers_text('$h3_org', 'h3', '$h3_body', NULL);
SELECT count(*) FROM fanfare.shard_import_consumers('$h3_org', 'h3', convert_to('$h3_body', 'UTF8'), NULL);
SELECT count(*) FROM fanfare.api_import_consumers('$h3_key', convert_to('$h3_body', 'UTF8'), NULL);
SQL
check "shard: a login granted fanfare_router with a pg_temp.text domain calls shard_import_consumers_text, shard_import_consumers and api_import_consumers (3 batches)" \
    [ "$(head -3 "$work/h3.out" | paste -sd,)/$(shard_sql 0 -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$h3_org'")" = "1,1,1/3" ]
check "shard: and it is not superuser afterwards" [ "$(shard_sql 0 -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$h3_role'")" = f ]
shard_sql 0 -c "DELETE FROM fanfare.api_keys WHERE organization_id = '$h3_org'" -c "SELECT fanfare.tenant_delete('$h3_org')" >/dev/null
shard_sql 0 -c "DROP ROLE $h3_role" >/dev/null

# === errors as a single node raises them ====================================
section "errors: SQLSTATE, message, DETAIL and HINT as on a single node"
# the same organizations and keys in the single-node database
psql_db -c "COPY (SELECT id, name, created_at, disabled_at FROM fanfare.organizations) TO STDOUT" | single_sql -c "COPY fanfare.organizations (id, name, created_at, disabled_at) FROM STDIN"
psql_db -c "COPY (SELECT id, organization_id, kind, mode, display_prefix, key_hash, created_at, revoked_at FROM fanfare.api_keys) TO STDOUT" |
    single_sql -c "COPY fanfare.api_keys (id, organization_id, kind, mode, display_prefix, key_hash, created_at, revoked_at) FROM STDIN"
pk0=$(psql_db -c "SELECT fanfare.rotate_publishable_key('$org0')")
psql_db -c "COPY (SELECT id, organization_id, kind, mode, display_prefix, key_hash, created_at, revoked_at FROM fanfare.api_keys WHERE kind = 'publishable') TO STDOUT" |
    single_sql -c "COPY fanfare.api_keys (id, organization_id, kind, mode, display_prefix, key_hash, created_at, revoked_at) FROM STDIN"
error_of_sql='CREATE FUNCTION public.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    EXECUTE statement;
    RETURN '"'"'no error'"'"';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN concat_ws(E'"'"'\n'"'"', s, m, d, h);
END
$$'
psql_db -c "$error_of_sql" && single_sql -c "$error_of_sql" || abort "error_of"
# same_error NAME SETUP STATEMENT: the error of STATEMENT (after SETUP, both
# in one transaction) is the same text on the router and the single node
same_error() {
    local name=$1 setup=$2 statement=$3 r s
    r=$(printf '%s\n' "BEGIN; $setup" "SELECT public.error_of(:'st');" "ROLLBACK;" | psql_db -v st="$statement")
    s=$(printf '%s\n' "BEGIN; $setup" "SELECT public.error_of(:'st');" "ROLLBACK;" | single_sql -v st="$statement")
    if [ -n "$r" ] && [ "$r" = "$s" ] && [ "$r" != "no error" ]; then ok "$name ($(head -1 <<<"$r"))"
    else fail "$name" "router: $(head -c 300 <<<"$r") / single node: $(head -c 300 <<<"$s")"; fi
}
tenant0="SET LOCAL fanfare.organization_id = '$org0'; SET LOCAL fanfare.actor = 'differ';"
deep=$(node -e 'process.stdout.write("{\"consumers\":" + "[".repeat(10000) + "]".repeat(10000) + "}")')
same_error "22023 a batch with issues (bulk path)" "$tenant0" \
    "SELECT fanfare.import_consumers('{\"consumers\":[{\"emailVerified\":\"yes\",\"status\":\"GONE\"},{\"phoneVerified\":true,\"email\":\"x@\"}]}')"
single_sql -c "$tenant0 SELECT count(*) FROM fanfare.import_consumers('$(cat "$work/land0.json")')" >/dev/null
same_error "22023 an email the tenant already has, after the same rows on both" "$tenant0" \
    "SELECT fanfare.import_consumers('{\"consumers\":[{\"email\":\"LAND0-1@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}')"
same_error "22023 too many consumers (max_length)" "$tenant0" \
    "SELECT fanfare.import_consumers('$(node -e 'process.stdout.write(JSON.stringify({consumers: Array.from({length: 501}, () => ({emailVerified: true, phoneVerified: true, status: "ACTIVE"}))}))')')"
same_error "22023 from create_consumers (jsonb)" "$tenant0" \
    "SELECT fanfare.create_consumers('{\"consumers\":[{\"status\":\"active\"}]}')"
same_error "22N01 a body that is not JSON" "$tenant0" "SELECT fanfare.import_consumers('{\"consumers\":[')"
same_error "22N02 JSON PostgreSQL cannot store" "$tenant0" \
    "SELECT fanfare.import_consumers('{\"consumers\":[{\"fullName\":\"a\\u0000b\",\"emailVerified\":true,\"phoneVerified\":true,\"status\":\"ACTIVE\"}]}')"
same_error "22N03 a body that nests too deeply" "$tenant0" "SELECT fanfare.import_consumers('$deep')"
same_error "22N01 gateway path: invalid UTF-8" "" \
    "SELECT fanfare.api_import_consumers('$key0', '\\x7b22636f6e73756d657273223a5b7b2266756c6c4e616d65223a22ff227d5d7d'::bytea)"
same_error "22N01 gateway path: a NUL byte" "" "SELECT fanfare.api_import_consumers('$key0', '\\x7b7d00'::bytea)"
same_error "22N05 a malformed Idempotency-Key" "" \
    "SELECT fanfare.api_import_consumers('$key0', convert_to('{\"consumers\":[]}', 'UTF8'), 'two words')"
same_error "22N05 a malformed fanfare.idempotency_key setting" "$tenant0 SET LOCAL fanfare.idempotency_key = 'tab	tab';" \
    "SELECT fanfare.import_consumers('{\"consumers\":[]}')"
psql_db -c "SELECT count(*) FROM fanfare.api_import_consumers('$key0', convert_to('$(cat "$work/land1.json")', 'UTF8'), 'differ-key')" >/dev/null
single_sql -c "SELECT count(*) FROM fanfare.api_import_consumers('$key0', convert_to('$(cat "$work/land1.json")', 'UTF8'), 'differ-key')" >/dev/null
same_error "22N04 an Idempotency-Key used with another body" "" \
    "SELECT fanfare.api_import_consumers('$key0', convert_to('{\"consumers\":[]}', 'UTF8'), 'differ-key')"
same_error "28N01 an unknown secret key" "" "SELECT fanfare.api_import_consumers('sk_live_unknown', '\\x7b7d'::bytea)"
same_error "28N02 a publishable key" "" "SELECT fanfare.api_import_consumers('$pk0', '\\x7b7d'::bytea)"
psql_db -c "UPDATE fanfare.organizations SET disabled_at = now() WHERE id = '$org1'" &&
    single_sql -c "UPDATE fanfare.organizations SET disabled_at = now() WHERE id = '$org1'"
same_error "42N01 the key of a disabled organization" "" "SELECT fanfare.api_import_consumers('$key1', '\\x7b7d'::bytea)"
# the dry run (Prefer: tx=rollback) runs on the tenant's shard, stores nothing there
same_error "22023 dry run: an email the tenant already has (found on its shard)" "" \
    "SELECT fanfare.api_import_consumers_dry_run('$key0', convert_to('{\"consumers\":[{\"email\":\"LAND0-1@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}', 'UTF8'))"
same_error "22023 dry run: a batch with issues" "" \
    "SELECT fanfare.api_import_consumers_dry_run('$key0', convert_to('{\"consumers\":[{\"emailVerified\":\"yes\",\"status\":\"GONE\"}]}', 'UTF8'))"
same_error "28N01 dry run: an unknown secret key" "" "SELECT fanfare.api_import_consumers_dry_run('sk_live_unknown', '\\x7b7d'::bytea)"
same_error "42N01 dry run: the key of a disabled organization" "" "SELECT fanfare.api_import_consumers_dry_run('$key1', '\\x7b7d'::bytea)"
check "dry run: the router's SQLSTATEs are the real call's (22023 duplicate, 28N01, 42N01)" \
    [ "$(psql_db -c "SELECT string_agg(split_part(public.error_of(q), E'\n', 1), ' ' ORDER BY n) FROM (VALUES
        (1, \$q\$SELECT fanfare.api_import_consumers_dry_run('$key0', convert_to('{\"consumers\":[{\"email\":\"LAND0-1@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}', 'UTF8'))\$q\$),
        (2, \$q\$SELECT fanfare.api_import_consumers_dry_run('sk_live_unknown', '\\x7b7d'::bytea)\$q\$),
        (3, \$q\$SELECT fanfare.api_import_consumers_dry_run('$key1', '\\x7b7d'::bytea)\$q\$)) AS t(n, q)")" = "22023 28N01 42N01" ]
dry_before=$(rows_on 0 "$org0")
check "dry run on the router: the shard's rows for a valid batch, none stored on the shard" \
    [ "$(psql_db -c "SELECT count(*) FROM fanfare.api_import_consumers_dry_run('$key0', convert_to('{\"consumers\":[{\"email\":\"dry-router-1@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"},{\"email\":\"dry-router-2@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}', 'UTF8')) AS c
        WHERE c->>'organizationId' = '$org0'")/$(rows_on 0 "$org0")" = "2/$dry_before" ]
check "PostgREST front: a disabled organization is 403 on both" \
    [ "$(router_sql -c "SET request.jwt.claims = '{\"organization_id\":\"$org1\"}'; SELECT fanfare.post_consumers_batch('{\"consumers\":[]}')::text || current_setting('response.status')")" = '{"error":"Forbidden"}403' ]
psql_db -c "UPDATE fanfare.organizations SET disabled_at = NULL WHERE id = '$org1'" &&
    single_sql -c "UPDATE fanfare.organizations SET disabled_at = NULL WHERE id = '$org1'"
same_error "28000 no organization" "" "SELECT fanfare.import_consumers('{\"consumers\":[]}')"
same_error "28000 a malformed organization" "SET LOCAL fanfare.organization_id = 'not-a-uuid';" "SELECT fanfare.create_consumers('{\"consumers\":[]}')"
same_error "22004 a NULL body" "$tenant0" "SELECT fanfare.import_consumers(NULL)"
check "validate_consumers answers the same issues" \
    [ "$(router_sql -c "$tenant0 SELECT fanfare.validate_consumers('{\"consumers\":[{\"email\":\"land0-0@example.com\",\"emailVerified\":1}]}')")" = \
      "$(single_sql -c "$tenant0 SELECT fanfare.validate_consumers('{\"consumers\":[{\"email\":\"land0-0@example.com\",\"emailVerified\":1}]}')")" ]
post_400='{"consumers":[{"email":"x@","status":"GONE"}]}'
check "the PostgREST front's 400 body and status are the single node's" \
    [ "$(router_sql -c "SET request.jwt.claims = '{\"organization_id\":\"$org0\"}'; SELECT fanfare.post_consumers_batch('$post_400')::text || current_setting('response.status')")" = \
      "$(single_sql -c "SET request.jwt.claims = '{\"organization_id\":\"$org0\"}'; SELECT fanfare.post_consumers_batch('$post_400')::text || current_setting('response.status')")" ]
# negative control: PL/Proxy's own wrapping differs, and the comparison sees it
wrapped=$(psql_db -c "SELECT public.error_of(\$q\$SELECT * FROM fanfare_router.shard_import_consumers_text('$org0', 'x', '{\"consumers\":[', NULL)\$q\$)")
unwrapped=$(single_sql -c "BEGIN; $tenant0 SELECT public.error_of(\$q\$SELECT fanfare.import_consumers('{\"consumers\":[')\$q\$); ROLLBACK;" | grep -v '^$')
check "negative control: without the router's unwrapping, PL/Proxy's text differs (REMOTE ERROR)" \
    bash -c '[ "$1" != "$2" ] && [[ $1 == *"REMOTE ERROR: request body is not valid JSON"* ]] && [[ $1 == *"Remote detail: "* ]]' _ "$wrapped" "$unwrapped"
# a shard that does not answer in time: the router's statement timeout (the
# gateway's --statement-timeout) ends the call, and PL/Proxy cancels it on
# the shard.  (A statement_timeout set on the shard itself is not used: with
# PL/Proxy 2.10 the router's call then sometimes waits for ever; see the
# README, "Scaling out".)
PGAPPNAME=shard-lock-hold shard_sql 0 -c "BEGIN; LOCK TABLE fanfare.consumers; SELECT pg_sleep(4); COMMIT;" >/dev/null 2>&1 &
lock_pid=$!
for i in $(seq 1 50); do
    [ "$(shard_sql 0 -c "SELECT count(*) FROM pg_locks WHERE relation = 'fanfare.consumers'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
    sleep 0.1
done
state=$(psql_db -v VERBOSITY=sqlstate -c "SET statement_timeout = '500ms'" -c "SELECT count(*) FROM fanfare.api_import_consumers('$key0',
    convert_to('{\"consumers\":[{\"emailVerified\":true,\"phoneVerified\":true,\"status\":\"ACTIVE\"}]}', 'UTF8'))" 2>&1 | tail -1)
sleep 0.5
waiting=$(shard_sql 0 -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
# the lock has served: end its holder's sleep (about 2.5 s more) at once
shard_sql 0 -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'shard-lock-hold'" >/dev/null
wait "$lock_pid"
lock_pid=
check "a shard that does not answer in time: the router's statement timeout is 57014 (gateway: 503)" \
    [ "$state" = "ERROR:  57014" ]
check "and PL/Proxy cancelled the call on the shard (nothing left waiting there)" [ "$waiting" = 0 ]

# === a shard down =============================================================
section "a shard down: its tenants get 503, the others are served"
cluster_stop "${shard_dir[1]}"
body_of 1 down0 >"$work/down0.json"
body_of 1 down1 >"$work/down1.json"
code1=$(http_post "$key1" "$work/down1.json")
check "shard 1 down: its tenant gets 503 (not 500)" [ "$code1" = 503 ]
check "with Retry-After" grep -qi '^Retry-After:' "$work/headers"
check "the gateway logged sqlstate 08006 for it" grep -q "sqlstate=08006" "$work/gw-main.err"
check "shard 1 down: a tenant of shard 0 gets 200" [ "$(http_post "$key0" "$work/down0.json")" = 200 ]
check "from SQL too: 08006 for that tenant" \
    [ "$(printf '%s\n' "SET fanfare.organization_id = '$org1';" "SELECT split_part(public.error_of('SELECT fanfare.validate_consumers(''{}'')'), E'\\n', 1);" | psql_db)" = 08006 ]
# L1: the client is told "shard unavailable" and nothing about where the
# shard is; the router's server log has PL/Proxy's text (host, port)
log_lines=$(wc -l <"$FANFARE_TEST_DATADIR/server.log")
client_error=$(printf '%s\n' "SET fanfare.organization_id = '$org1';" "SELECT public.error_of('SELECT fanfare.validate_consumers(''{}'')');" | psql_db)
client_bulk=$(printf '%s\n' "SET fanfare.organization_id = '$org1';" "SELECT public.error_of('SELECT fanfare.import_consumers(''{}'')');" | psql_db)
client_rest=$(psql_db -c "SET request.jwt.claims = '{\"organization_id\":\"$org1\"}'" -c "SELECT public.error_of('SELECT fanfare.post_consumers_batch(''{}'')')")
client_api=$(psql_db -c "SELECT public.error_of('SELECT fanfare.api_import_consumers(''$key1'', ''\\x7b7d''::bytea)')")
# and an error that is not caught: what psql shows (verbose), and the server log
client_psql=$(printf '%s\n' "SET fanfare.organization_id = '$org1';" "SELECT fanfare.validate_consumers('{}');" | psql_db -v VERBOSITY=verbose 2>&1)
check "a shard down: the client's error is 08006 \"shard unavailable\", no detail, no hint (SQL, bulk, PostgREST, gateway paths)" \
    [ "$client_error|$client_bulk|$client_rest|$client_api" = $'08006\nshard unavailable|08006\nshard unavailable|08006\nshard unavailable|08006\nshard unavailable' ]
check "a shard down: nothing the client sees names the shard's port or address" \
    bash -c '! grep -Eq -- "$1|127\.0\.0\.1|port|host" <<<"$2" && grep -q "ERROR:  08006: shard unavailable" <<<"$3"' _ "${shard_port[1]}" "$client_error$client_bulk$client_rest$client_api$client_psql" "$client_psql"
check "a shard down: the router's server log has PL/Proxy's text with the shard's port" \
    bash -c 'tail -n +"$1" "$2" | grep -A1 "ERROR:  shard unavailable" | grep -q "DETAIL:  PL/Proxy: .*port $3"' _ "$((log_lines + 1))" "$FANFARE_TEST_DATADIR/server.log" "${shard_port[1]}"
restart_shard 1
check "shard 1 back: its tenant gets 200 again, through the same gateway" [ "$(http_post "$key1" "$work/down1.json")" = 200 ]
check "nothing was stored for the 503" [ "$(shard_sql 1 -c "SELECT count(*) FROM fanfare.consumers WHERE email LIKE 'down1-%'")" = 1 ]
stop_gateway

# === load, kill -9 of one shard ===============================================
section "load with kill -9 of shard 1's postmaster"
for n in 0 1; do shard_sql "$n" -c "ALTER DATABASE ${db}_s$n SET synchronous_commit = on" >/dev/null; done
keys_file "$work/keys.json" "sk_live_notakey000000000000000000000000000000" "pk_live_notasecret"
port=
start_gateway load --pool 8 --threads 8 || abort "the load gateway"
# dump_rows TAG FILE, from every shard (the router has no rows)
dump_rows() {
    : >"$2"
    for n in 0 1; do
        shard_sql "$n" -F, -c "SELECT id, email, organization_id FROM fanfare.consumers WHERE email LIKE '$1-%'" >>"$2"
    done
}
# tenant indexes (in $work/tenants) of each partition
part_of_index() { awk -v p="$1" 'NR == FNR {pl[$1] = $3; next} pl[$1] == p {print FNR - 1}' "$work/tenants.all" "$work/tenants" | paste -sd,; }
idx0=$(part_of_index 0)
idx1=$(part_of_index 1)
: >"$work/marks.kill"
load kill 60 8
sleep "$load_lead"
echo "kill $(now_ms)" >>"$work/marks.kill"
kill -KILL "$(shard_postmaster 1)"
sleep 3
echo "restart $(now_ms)" >>"$work/marks.kill"
restart_shard 1
check "shard 1 restarts after kill -9 of its postmaster" [ $? = 0 ]
echo "healthy $(now_ms)" >>"$work/marks.kill"
stop_load 4
note "$(cat "$work/kill.summary")"
audit kill --marks "$work/marks.kill"
rc=$?
note "audit: $(audit_line kill)"
# statuses per partition, from the client log: "P:STATUS count"
by_partition() {
    node -e 'const fs = require("fs"); const [log, i0, i1] = process.argv.slice(1);
        const part = new Map(); i0.split(",").forEach((i) => part.set(+i, 0)); i1.split(",").forEach((i) => part.set(+i, 1));
        const c = {};
        for (const l of fs.readFileSync(log, "utf8").split("\n").filter(Boolean)) {
            const r = JSON.parse(l); if (r.kind === "badkey") continue;
            const k = `${part.get(r.tenant)}:${r.status || r.err}`; c[k] = (c[k] || 0) + 1; }
        process.stdout.write(JSON.stringify(c));' "$work/kill.jsonl" "$idx0" "$idx1"
}
counts=$(by_partition)
note "statuses by partition (0: shard 0's tenants, 1: shard 1's): $counts"
check "shard 0's tenants never saw a 503 or a 500 while shard 1 was down" \
    node -e 'const c = JSON.parse(process.argv[1]); process.exit(Object.keys(c).some((k) => k.startsWith("0:") && !/^0:(200|400)$/.test(k)) ? 1 : 0)' "$counts"
check "shard 0's tenants were served during the outage" \
    [ "$(json_get "$work/kill.audit" "(s.phases.find((p) => p.from === 'kill').counts['valid:200'] || 0) > 0")" = true ]
check "shard 1's tenants saw 503 (the check can fail: this side did)" \
    node -e 'const c = JSON.parse(process.argv[1]); process.exit((c["1:503"] || 0) > 0 ? 0 : 1)' "$counts"
check "no 500 and no lost answer at any time" \
    [ "$(json_get "$work/kill.summary" 'Object.keys(s.counts).filter((k) => !/:(200|400|401|503)$/.test(k)).length')" = 0 ]
check "every 503 carries Retry-After" [ "$(json_get "$work/kill.audit" 's.phases.every((p) => p.noRetryAfter === 0)')" = true ]
check "once shard 1 is back, only expected statuses" only_expected kill healthy
check "kill -9 of a shard: stored rows across both shards = rows of the 200 responses (audit and its self-test)" [ $rc = 0 ]

# === a tenant move under load =================================================
section "moving a tenant under load"
read -r mover _ <<<"$(awk 'NR == 1' "$work/tenants")"
from=$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$mover'")
to=$((1 - from))
# an idempotency key of the mover, stored before the move
read -r mover_key <<<"$(awk -v o="$mover" '$1 == o {print $2}' "$work/tenants")"
body_of 2 moved-key >"$work/idem.json"
code=$(http_post "$mover_key" "$work/idem.json" -H 'Idempotency-Key: "move-me-1"')
cp "$work/body" "$work/idem.first"
check "a keyed batch of the tenant before its move (200, key on partition $from)" \
    [ "$code/$(shard_sql "$from" -c "SELECT count(*) FROM fanfare.idempotency_keys WHERE organization_id = '$mover' AND key = 'move-me-1'")" = 200/1 ]
: >"$work/marks.move"
load move 60 6
sleep "$load_lead"
echo "move $(now_ms)" >>"$work/marks.move"
move_t0=$(now_ms)
psql_db -c "CALL fanfare_router.move_organization('$mover', $to)"
move_rc=$?
move_t1=$(now_ms)
echo "moved $(now_ms)" >>"$work/marks.move"
stop_load 3
check "move_organization completes under load ($((move_t1 - move_t0)) ms, $(rows_on "$to" "$mover") rows)" [ $move_rc = 0 ]
note "$(cat "$work/move.summary")"
audit move --marks "$work/marks.move"
rc=$?
note "audit: $(audit_line move)"
check "the placement now names partition $to" \
    [ "$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$mover'")" = "$to" ]
check "the moved tenant's rows are all on partition $to, none left on $from" \
    [ "$(rows_on "$from" "$mover")/$(shard_sql "$to" -c "SELECT count(*) > 0 FROM fanfare.consumers WHERE organization_id = '$mover'")" = 0/t ]
check "no unfinished move is left" [ "$(psql_db -c "SELECT count(*) FROM fanfare_router.moves")" = 0 ]
check "only expected statuses during the move (its tenant's writes waited, none failed)" only_expected move move
check "other tenants were served while the move ran" \
    node -e 'const fs = require("fs"); const [log, t0, t1, mover] = process.argv.slice(1);
        const keys = JSON.parse(fs.readFileSync(process.argv[5], "utf8")).tenants;
        const n = fs.readFileSync(log, "utf8").split("\n").filter(Boolean).map(JSON.parse)
            .filter((r) => r.status === 200 && keys[r.tenant].org !== mover && r.t1 > +t0 && r.t1 < +t1).length;
        process.exit(n > 0 || +t1 - +t0 < 50 ? 0 : 1)' "$work/move.jsonl" "$move_t0" "$move_t1" "$mover" "$work/keys.json"
check "tenant move under load: stored rows = rows of the 200 responses, none lost or twice (audit and its self-test)" [ $rc = 0 ]
code=$(http_post "$mover_key" "$work/idem.json" -H 'Idempotency-Key: "move-me-1"')
check "after the move, the key replays (200, Idempotent-Replayed: true)" \
    [ "$code/$(grep -i '^Idempotent-Replayed:' "$work/headers" | tr -d '\r' | cut -d' ' -f2)" = 200/true ]
check "with the first answer byte for byte" cmp -s "$work/idem.first" "$work/body"
check "the key moved with its tenant" \
    [ "$(shard_sql "$to" -c "SELECT count(*) FROM fanfare.idempotency_keys WHERE organization_id = '$mover' AND key = 'move-me-1'")/$(shard_sql "$from" -c "SELECT count(*) FROM fanfare.idempotency_keys WHERE organization_id = '$mover'")" = 1/0 ]
check "the tenant's registration moved too" \
    [ "$(shard_sql "$to" -c "SELECT count(*) FROM fanfare.organizations WHERE id = '$mover'")/$(shard_sql "$from" -c "SELECT count(*) FROM fanfare.organizations WHERE id = '$mover'")" = 1/0 ]
stop_gateway

# === row-level security on a shard ===========================================
section "row-level security on a shard"
check "a fanfare_api role on shard 1 sees only the current tenant's rows, among others'" \
    [ "$(shard_sql 1 -c "CREATE ROLE rls_probe_$$ IN ROLE fanfare_api; SET ROLE rls_probe_$$;
        SET fanfare.organization_id = '$org1'; SELECT count(*) FROM fanfare.consumers; RESET ROLE; DROP ROLE rls_probe_$$")/$(shard_sql 1 -c "SELECT count(*) > count(*) FILTER (WHERE organization_id = '$org1') FROM fanfare.consumers")" = \
      "$(rows_on 1 "$org1")/t" ]

# === a move interrupted, then resumed ========================================
section "a move whose session dies in the middle, resumed"
read -r big bigkey <<<"$(awk 'NR == 2' "$work/tenants")"
bfrom=$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$big'")
bto=$((1 - bfrom))
shard_sql "$bfrom" -c "ALTER DATABASE ${db}_s$bfrom SET fanfare.max_batch_size = 20000" >/dev/null
body_of 6000 big >"$work/big.json"
# the body in the statement's text (a psql variable would be an argument, too long for exec)
{ printf '%s' "SELECT count(*) FROM fanfare.api_import_consumers('$bigkey', convert_to(\$b\$"; cat "$work/big.json"; printf '%s\n' "\$b\$, 'UTF8'));"; } >"$work/big.sql"
psql_db -f "$work/big.sql" >/dev/null
before=$(rows_on "$bfrom" "$big")
note "tenant $big: $before rows on partition $bfrom"
# pages of 50 rows, so that the copy takes a while
PGAPPNAME=mover psql_db -c "CALL fanfare_router.move_organization('$big', $bto, 50)" >/dev/null 2>&1 &
mover_pid=$!
terminated=0
for i in $(seq 1 100); do
    if [ "$(psql_db -c "SELECT state FROM fanfare_router.moves WHERE organization_id = '$big'")" = copying ]; then
        sleep 0.3
        psql_db -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mover'" >/dev/null
        terminated=1
        break
    fi
    sleep 0.05
done
wait "$mover_pid"
check "the moving session was killed while copying" \
    [ "$terminated/$(psql_db -c "SELECT state FROM fanfare_router.moves WHERE organization_id = '$big'")" = 1/copying ]
note "rows on the target when it died: $(rows_on "$bto" "$big")"
check "the placement still names the source, which still has every row" \
    [ "$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$big'")/$(rows_on "$bfrom" "$big")" = "$bfrom/$before" ]
check "its session gone, the tenant's lock is free: its calls go on" \
    psql_db -c "SET lock_timeout = '2s'" -c "SELECT fanfare_router.tenant_lock_shared('$big')"
psql_db -c "CALL fanfare_router.move_organization('$big', $bto)" >/dev/null
check "CALL move_organization again resumes and finishes the move" \
    [ "$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$big'")/$(psql_db -c "SELECT count(*) FROM fanfare_router.moves")" = "$bto/0" ]
check "all $before rows on the target, none twice, none left on the source" \
    [ "$(rows_on "$bto" "$big")/$(shard_sql "$bto" -c "SELECT count(DISTINCT id) FROM fanfare.consumers WHERE organization_id = '$big'")/$(rows_on "$bfrom" "$big")" = "$before/$before/0" ]
# a move stopped after its flip: the placement names the new partition, the
# old one still holds a copy
psql_db -c "CALL fanfare_router.move_organization('$big', $bfrom)" >/dev/null
psql_db -c "SELECT fanfare_router.tenant_import_consumers($bto, '$big', fanfare_router.tenant_export_consumers($bfrom, '$big', NULL, 10))" >/dev/null
psql_db -c "INSERT INTO fanfare_router.moves (organization_id, source, target, state) VALUES ('$big', $bto, $bfrom, 'deleting')" >/dev/null
check "a move stopped after its flip leaves a stale copy (10 rows) on the old partition" [ "$(rows_on "$bto" "$big")" = 10 ]
psql_db -c "CALL fanfare_router.move_organization('$big', $bfrom)" >/dev/null
check "resuming it deletes the stale copy and keeps the live rows" \
    [ "$(rows_on "$bto" "$big")/$(rows_on "$bfrom" "$big")/$(psql_db -c "SELECT count(*) FROM fanfare_router.moves")" = "0/$before/0" ]
check "a move to a partition that does not exist is refused (22023)" \
    [ "$(psql_db -c "SELECT split_part(public.error_of(\$q\$CALL fanfare_router.move_organization('$big', 7)\$q\$), E'\\n', 1)")" = 22023 ]
check "a move to another partition while one is unfinished is refused (55000)" \
    [ "$(psql_db -c "INSERT INTO fanfare_router.moves (organization_id, source, target, state) VALUES ('$big', $bfrom, $bto, 'copying')" >/dev/null;
         psql_db -v VERBOSITY=sqlstate -c "CALL fanfare_router.move_organization('$big', $bfrom)" 2>&1 | tail -1;
         psql_db -c "DELETE FROM fanfare_router.moves" >/dev/null)" = "ERROR:  55000" ]
check "a move called inside a transaction block fails (2D000) before it takes the tenant's lock" \
    [ "$(psql_db -v ON_ERROR_STOP=0 -v VERBOSITY=sqlstate -c "BEGIN" -c "CALL fanfare_router.move_organization('$big', $bto)" -c "ROLLBACK" \
         -c "SELECT 'locks ' || count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()" 2>&1 | tail -2 | paste -sd,)" = "ERROR:  2D000,locks 0" ]

# === M1: two moves of one tenant at once, a retried one, errors ==============
section "two moves of one tenant at once and a retried one, under load"
read -r racer _ <<<"$(awk 'NR == 3' "$work/tenants")"
rfrom=$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$racer'")
rto=$((1 - rfrom))
# move_holds APP: the session named APP holds the tenant's lock exclusively
move_holds() {
    [ "$(psql_db -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE a.application_name = '$1' AND l.locktype = 'advisory' AND l.mode = 'ExclusiveLock' AND l.granted")" = 1 ]
}
move_waits() {
    [ "$(psql_db -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1' AND wait_event_type = 'Lock' AND wait_event = 'advisory'")" = 1 ]
}
# wait_for TRIES CMD...: CMD until it succeeds, every 0.05 s
start_gateway race --pool 8 --threads 8 || abort "the gateway for the race"
: >"$work/marks.race"
load race 60 6
sleep "$load_lead"
echo "race $(now_ms)" >>"$work/marks.race"
# the first move is held inside its copy (the target's directory table
# locked, which only a move writes, until the second move is seen waiting),
# so that the second one starts while the first holds the tenant's lock
target_locked() {
    [ "$(shard_sql "$rto" -c "SELECT count(*) FROM pg_locks WHERE relation = 'fanfare.organizations'::regclass AND mode = 'ExclusiveLock' AND granted")" = 1 ]
}
PGAPPNAME=race-hold shard_sql "$rto" -c "BEGIN; LOCK TABLE fanfare.organizations IN EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;" >/dev/null 2>&1 &
hold_pid=$!
wait_for 400 target_locked || note "the target's table lock was not seen taken"
PGAPPNAME=move-a psql_db -c "CALL fanfare_router.move_organization('$racer', $rto, 50)" >"$work/move-a.out" 2>&1 &
pid_a=$!
wait_for 400 move_holds move-a || note "the first move was not seen holding the tenant's lock"
PGAPPNAME=move-b psql_db -c "CALL fanfare_router.move_organization('$racer', $rto, 50)" >"$work/move-b.out" 2>&1 &
pid_b=$!
if wait_for 400 move_waits move-b; then b_waited=1; else b_waited=0; fi
shard_sql "$rto" -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'race-hold'" >/dev/null
wait "$pid_a"; rc_a=$?
wait "$pid_b"; rc_b=$?
wait "$hold_pid"
# a client that did not hear back retries the same call
psql_db -c "CALL fanfare_router.move_organization('$racer', $rto, 50)" >"$work/move-c.out" 2>&1
rc_c=$?
echo "moved $(now_ms)" >>"$work/marks.race"
stop_load 3
note "$(cat "$work/race.summary")"
audit race --marks "$work/marks.race"
rc=$?
note "audit: $(audit_line race)"
check "the second move started while the first held the tenant's lock, and waited for it" [ "$b_waited" = 1 ]
check "all three calls succeed ($rc_a/$rc_b/$rc_c)" [ "$rc_a/$rc_b/$rc_c" = 0/0/0 ] || cat "$work"/move-[abc].out
check "the placement names partition $rto, no unfinished move" \
    [ "$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$racer'")/$(psql_db -c "SELECT count(*) FROM fanfare_router.moves")" = "$rto/0" ]
check "the tenant's rows are on partition $rto (none on $rfrom, none twice)" \
    [ "$(rows_on "$rfrom" "$racer")/$(shard_sql "$rto" -c "SELECT count(*) > 0 AND count(*) = count(DISTINCT id) FROM fanfare.consumers WHERE organization_id = '$racer'")" = 0/t ]
check "only expected statuses during the moves" only_expected race race
check "two moves at once and a retried one under load: stored rows = rows of the 200 responses, none lost (audit and its self-test)" [ $rc = 0 ]
stop_gateway

section "a move that fails releases the tenant's lock; the live copy is never cleared"
racer_rows=$(rows_on "$rto" "$racer")
shard_sql "$rfrom" -c "REVOKE EXECUTE ON FUNCTION fanfare.tenant_register(uuid, text) FROM fanfare_router" >/dev/null
held=$(psql_db -v ON_ERROR_STOP=0 -c "CALL fanfare_router.move_organization('$racer', $rfrom)" \
    -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()" 2>/dev/null)
shard_sql "$rfrom" -c "GRANT EXECUTE ON FUNCTION fanfare.tenant_register(uuid, text) TO fanfare_router" >/dev/null
check "an error inside the copy leaves no lock held by the moving session" [ "$held" = 0 ]
check "the failed move left the placement and the rows as they were" \
    [ "$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$racer'")/$(rows_on "$rto" "$racer")" = "$rto/$racer_rows" ]
psql_db -c "DELETE FROM fanfare_router.moves WHERE organization_id = '$racer'" >/dev/null
psql_db -c "INSERT INTO fanfare_router.moves (organization_id, source, target, state) VALUES ('$racer', $rfrom, $rto, 'copying')" >/dev/null
state=$(psql_db -v VERBOSITY=sqlstate -c "CALL fanfare_router.move_organization('$racer', $rto)" 2>&1 | tail -1)
check "a move whose copy would clear the current placement is refused (55000)" [ "$state" = "ERROR:  55000" ]
state=$(psql_db -c "SELECT split_part(public.error_of(\$q\$CALL fanfare_router.copy_organization('$racer', $rfrom, $rto)\$q\$), E'\\n', 1)")
check "copy_organization refuses the current placement as its target (55000)" [ "$state" = 55000 ]
check "and the live copy is intact ($racer_rows rows on partition $rto)" [ "$(rows_on "$rto" "$racer")" = "$racer_rows" ]
check "no lock is left behind by the refusals" \
    [ "$(psql_db -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ExclusiveLock'")" = 0 ]
psql_db -c "DELETE FROM fanfare_router.moves WHERE organization_id = '$racer'" >/dev/null

# === adding a shard ===========================================================
section "adding shards: from 2 partitions to 4"
for n in 0 1; do
    shard_setup "${shard_dir[n]}" "${shard_port[n]}" "${db}_n$n" || abort "new shard database $n"
done
psql_db -c "CREATE TABLE public.placements_before AS SELECT * FROM fanfare_router.placements" >/dev/null
three_refused() { ! psql_db -c "ALTER SERVER fanfare OPTIONS (ADD p2 '$1')" >/dev/null 2>&1; }
check "3 partitions are refused: PL/Proxy's validator wants a power of two" \
    three_refused "$(shard_connstr "${shard_port[0]}" "${db}_n0")"
check "the cluster still has 2 partitions" [ "$(psql_db -c "SELECT count(*) FROM fanfare_router.partitions()")" = 2 ]
psql_db -c "ALTER SERVER fanfare OPTIONS (ADD p2 '$(shard_connstr "${shard_port[0]}" "${db}_n0")',
                                         ADD p3 '$(shard_connstr "${shard_port[1]}" "${db}_n1")')" >/dev/null
check "the cluster has 4 partitions" [ "$(psql_db -c "SELECT count(*) FROM fanfare_router.partitions()")" = 4 ]
new_parts=
for i in $(seq 1 24); do
    read -r norg nkey <<<"$(new_tenant "After $i")"
    np=$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$norg'")
    new_parts+="$np "
    [ "$np" -ge 2 ] && break
done
check "new organizations are placed over 4 partitions, by the rule (partitions: $new_parts)" \
    [ "$np" -ge 2 ] && [ "$(psql_db -c "SELECT bool_and(p.partition = hashtext(p.organization_id::text) & 3) FROM fanfare_router.placements p JOIN fanfare.organizations o ON o.id = p.organization_id WHERE o.name LIKE 'After %'")" = t ]
check "no existing placement changed" \
    [ "$(psql_db -c "SELECT count(*) FILTER (WHERE b.partition = p.partition) || '/' || count(*) FROM public.placements_before b LEFT JOIN fanfare_router.placements p USING (organization_id)")" = \
      "$(psql_db -c "SELECT count(*) || '/' || count(*) FROM public.placements_before")" ]
port=
start_gateway add --pool 2 || abort "a gateway"
new_db() { psql_at "${shard_dir[$1]}" "${shard_port[$1]}" "${db}_n$1" "${@:2}"; }
body_of 2 newshard >"$work/new.json"
check "a tenant of a new partition posts (200)" [ "$(http_post "$nkey" "$work/new.json")" = 200 ]
check "its rows are in the new shard's database only" \
    [ "$(new_db $((np - 2)) -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$norg'")/$(rows_on 0 "$norg")/$(rows_on 1 "$norg")" = 2/0/0 ]
# org0's partition now (a move above may have taken it to partition 1)
p_old=$(psql_db -c "SELECT partition FROM fanfare_router.placements WHERE organization_id = '$org0'")
old_rows=$(rows_on "$p_old" "$org0")
body_of 1 oldshard >"$work/old.json"
check "a tenant of an old partition is still served from its shard (200)" \
    [ "$(http_post "$key0" "$work/old.json")/$(rows_on "$p_old" "$org0")" = "200/$((old_rows + 1))" ]
psql_db -c "CALL fanfare_router.move_organization('$org0', 3)" >/dev/null
check "an old tenant moves to a new partition with all its rows" \
    [ "$(new_db 1 -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$org0'")/$(rows_on "$p_old" "$org0")" = "$((old_rows + 1))/0" ]
body_of 1 moved3 >"$work/moved3.json"
check "and is served there" \
    [ "$(http_post "$key0" "$work/moved3.json")/$(new_db 1 -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$org0'")" = "200/$((old_rows + 2))" ]
stop_gateway

# === Citus's rules ===========================================================
section "Citus-ready: fanfare's catalog and C source"
citus_sql() { shard_sql 1 "$@"; }
# @DIST@: the tables to distribute by organization_id; @REF@: reference tables
unique_keys_without_tenant="SELECT i.indexrelid::regclass::text FROM pg_index i
    WHERE i.indisunique AND i.indrelid = ANY (@DIST@::regclass[])
      AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attname = 'organization_id'
                                                   AND a.attnum = ANY (i.indkey::int2[]))"
fks_across_tenants="SELECT c.conname::text FROM pg_constraint c
    WHERE c.contype = 'f' AND c.conrelid = ANY (@DIST@::regclass[])
      AND NOT c.confrelid = ANY (@REF@::regclass[])
      AND NOT EXISTS (SELECT FROM pg_attribute a, pg_attribute r
                       WHERE a.attrelid = c.conrelid AND a.attname = 'organization_id'
                         AND r.attrelid = c.confrelid AND r.attname = 'organization_id'
                         AND array_position(c.conkey, a.attnum) = array_position(c.confkey, r.attnum))"
dist="ARRAY['fanfare.consumers', 'fanfare.idempotency_keys', 'fanfare.webhook_endpoints', 'fanfare.webhook_events', 'fanfare.webhook_deliveries', 'fanfare.webhook_attempts', 'fanfare.webhook_event_batches']"
ref="ARRAY['fanfare.organizations', 'fanfare.api_keys', 'fanfare.rate_limits']"
citus_query() { local q=${1//@DIST@/$2}; citus_sql -c "${q//@REF@/$3}"; }
check "every table of fanfare is either distributed by organization_id or a reference table (the directory)" \
    [ "$(citus_sql -c "SELECT count(*) FROM pg_class WHERE relnamespace = 'fanfare'::regnamespace AND relkind IN ('r', 'p')
        AND NOT oid = ANY ($dist::regclass[] || $ref::regclass[])")" = 0 ]
check "the distributed tables have an organization_id that is NOT NULL" \
    [ "$(citus_sql -c "SELECT count(*) FROM pg_attribute WHERE attrelid = ANY ($dist::regclass[]) AND attname = 'organization_id' AND attnotnull")" = 7 ]
check "every primary key and unique index of a distributed table includes organization_id" \
    [ "$(citus_query "$unique_keys_without_tenant" "$dist" "$ref")" = "" ]
check "no foreign key of a distributed table crosses tenants" [ "$(citus_query "$fks_across_tenants" "$dist" "$ref")" = "" ]
citus_sql -c "CREATE SCHEMA citus_probe; CREATE TABLE citus_probe.t (organization_id uuid, id uuid PRIMARY KEY, other uuid UNIQUE,
    parent uuid REFERENCES citus_probe.t (id), PRIMARY_OK uuid, UNIQUE (organization_id, primary_ok))" >/dev/null
check "negative control: keys without organization_id are found (2 of 3)" \
    [ "$(citus_query "$unique_keys_without_tenant" "ARRAY['citus_probe.t']" "$ref" | wc -l)" = 2 ]
check "negative control: a foreign key across tenants is found" \
    [ "$(citus_query "$fks_across_tenants" "ARRAY['citus_probe.t']" "$ref" | wc -l)" = 1 ]
citus_sql -c "DROP SCHEMA citus_probe CASCADE" >/dev/null
raw_heap='heap_insert|heap_multi_insert|simple_heap_insert|table_tuple_insert|table_multi_insert|CatalogTupleInsert|heap_update|simple_heap_update|heap_delete|simple_heap_delete|heap_form_tuple.*simple'
check "fanfare's C writes rows through the executor (SPI): no raw heap or table AM calls" \
    bash -c '! grep -nE "\b($1)\s*\(" src/*.c router/*.c' _ "$raw_heap"
check "negative control: the grep finds such a call" \
    bash -c 'printf "x = heap_insert(rel, tup, 0, 0, NULL);\n" | grep -qE "\b($1)\s*\("' _ "$raw_heap"
check "the insert is one SPI plan: INSERT INTO fanfare.consumers ... through SPI_execute_plan" \
    bash -c 'grep -q "INSERT INTO fanfare.consumers" src/staged_rows.c && grep -q "SPI_execute_plan" src/staged_rows.c'

summary
