#!/usr/bin/env bash
# Rate limits (issue 20): one budget per organization, kept by the
# extension in shared memory, shared by every front of the database.
#
#   test/ratelimit/run.sh            (make check-ratelimit)
#
# Two gateways on one database, requests spread over both; the PostgREST
# front (post_consumers_batch, as PostgREST calls it); 16 concurrent
# clients.  The suite's database has a window of RATE_WINDOW seconds
# (fanfare.rate_limit_window, the test-only setting) instead of a minute,
# so that it sees windows end without waiting minutes.  Limits are set per
# organization (fanfare.set_rate_limit), on organizations of its own: no
# other suite's requests are limited.  Alone, it builds and installs the
# tree and starts a throwaway cluster; with PGHOST set it uses that one.
# Prints "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."

db=fanfare_ratelimit_test
login=fanfare_ratelimit_test_login
# shellcheck source=../gateway/lib.sh
. test/gateway/lib.sh
suite_cluster ratelimit || abort "a cluster to test against"
new_work_dir ratelimit-test
gw_pids=()
stop_gateways() { local p; for p in ${gw_pids[@]+"${gw_pids[@]}"}; do kill -TERM "$p" 2>/dev/null; done; return 0; }
on_exit stop_gateways

RATE_WINDOW=${RATE_WINDOW:-12}
LIMIT=60
one='{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}'
invalid='{"consumers":[{}]}'

# --- setup ---------------------------------------------------------------------
setup_db || abort "the suite's database"
psql_db -c "ALTER DATABASE $db SET fanfare.rate_limit_window = $RATE_WINDOW" >/dev/null || abort "the window"
new_org() {
    psql_db -c "SELECT id FROM (SELECT fanfare.create_organization('$1') AS id) o, LATERAL fanfare.set_rate_limit(o.id, $2)"
}
org_a=$(new_org limited "$LIMIT") && org_b=$(new_org other "$LIMIT") && org_c=$(new_org concurrent "$LIMIT") &&
    org_p=$(new_org postgrest 5) || abort "organizations"
key_a=$(psql_db -c "SELECT fanfare.rotate_secret_key('$org_a')") &&
    key_b=$(psql_db -c "SELECT fanfare.rotate_secret_key('$org_b')") &&
    key_c=$(psql_db -c "SELECT fanfare.rotate_secret_key('$org_c')") || abort "keys"

ports=()
for name in one two; do
    port=
    start_gateway "$name" || abort "gateway $name starts"
    gw_pids+=("$gw_pid")
    ports+=("$port")
done
ok "two gateways on one database (ports ${ports[*]})"

# --- HTTP ----------------------------------------------------------------------
# client.py MODE ARGS...: its "ok"/"fail" lines become the suite's checks;
# its facts are left in $work/facts
client() {
    local kind name why
    : >"$work/facts"
    while IFS=$'\t' read -r kind name why; do
        case "$kind" in
        ok) ok "$name" ;;
        fail) fail "$name" "$why" ;;
        fact) echo "$name=$why" >>"$work/facts" ;;
        esac
    done < <(python3 test/ratelimit/client.py "$@")
}
fact() { sed -n "s/^$1=//p" "$work/facts"; }
rows() { psql_db -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$1'"; }
keys() { psql_db -c "SELECT count(*) FROM fanfare.idempotency_keys WHERE organization_id = '$1'"; }
both=${ports[0]},${ports[1]}

# --- exactly the limit, over both gateways ---------------------------------------
section "exactly $LIMIT per window, Remaining one by one, over two gateways"
client sequence "$both" "$key_a" "$LIMIT" "$RATE_WINDOW"
# the 200s (every tenth request was a 400) created one row and key each;
# the 429s, which had keys too, none
created=$((LIMIT - LIMIT / 10))
if [ "$(rows "$org_a")" = "$created" ] && [ "$(keys "$org_a")" = "$created" ]; then
    ok "the 429s left no rows and no idempotency keys ($created rows and keys, from the 200s)"
else
    fail "the 429s left no rows and no keys" "rows $(rows "$org_a"), keys $(keys "$org_a"), want $created"
fi
status=$(curl -s -o /dev/null -D "$work/headers" -w '%{http_code}' -X POST "http://127.0.0.1:${ports[0]}/consumers/batch" \
    -H "Authorization: Bearer $key_b" -H 'Content-Type: application/json' --data-binary "$one")
remaining=$(sed -n 's/^x-ratelimit-remaining: *\([0-9]*\).*/\1/Ip' "$work/headers")
if [ "$status" = 200 ] && [ "$remaining" = $((LIMIT - 1)) ]; then
    ok "another organization is unaffected (200, Remaining $remaining)"
else fail "another organization is unaffected" "status $status, remaining $remaining"; fi

# --- Retry-After honoured -----------------------------------------------------------
section "Retry-After honoured"
client retry "$both" "$key_a" "$LIMIT" "$RATE_WINDOW"

# --- 16 concurrent clients -----------------------------------------------------------
section "16 concurrent clients, one organization"
client concurrent "$both" "$key_c" 16 10 "$RATE_WINDOW"
if [ "$(fact others)" = 0 ] && [ "$(fact most)" -le "$LIMIT" ] && [ "$(fact most)" -gt 0 ] &&
    [ "$(rows "$org_c")" = "$(fact created)" ]; then
    ok "160 requests: at most $LIMIT 200s in any window ($(fact most)), the rest 429, one row per 200"
else
    fail "16 concurrent clients never exceed the limit" "$(tr '\n' ' ' <"$work/facts") rows $(rows "$org_c")"
fi

# --- the PostgREST front -----------------------------------------------------------
section "the PostgREST front: response.status and response.headers"
# as PostgREST calls it: the verified claims, a JWT role, one transaction
# per request; prints status, headers, body
postgrest_call() {
    psql_db -v ON_ERROR_STOP=1 <<SQL
BEGIN;
SET LOCAL ROLE fanfare_api;
SELECT set_config('request.jwt.claims', '{"organization_id":"$org_p","sub":"u1"}', true);
SELECT set_config('request.headers', '{}', true);
SELECT fanfare.post_consumers_batch('$one'::json)::text AS body \gset
SELECT coalesce(nullif(current_setting('response.status', true), ''), '200') || ' ' || coalesce(current_setting('response.headers', true), '') || ' ' || :'body';
COMMIT;
SQL
}
pg_ok=1
for i in 1 2 3 4 5; do
    out=$(postgrest_call | tail -1)
    matches "$out" "\"X-RateLimit-Remaining\": \"$((5 - i))\"" || { pg_ok=0; break; }
done
out429=$(postgrest_call | tail -1)
if [ "$pg_ok" = 1 ] && matches "$out429" '^429 .*"Retry-After": "[0-9]+".* \{"error":"Rate limit exceeded","retryAfter":[0-9]+\}$' &&
    [ "$(rows "$org_p")" = 5 ]; then
    ok "PostgREST: 5 answered with Remaining 4..0, the sixth 429 with Retry-After and the body; 5 rows"
else
    fail "PostgREST front" "last: $out; sixth: $out429; rows $(rows "$org_p")"
fi

stop_gateways
summary ratelimit
