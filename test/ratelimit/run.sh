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

# --- the report: no notice per call, the headers on every answer ---------------------
# fanfare.rate_limit_report on: a call that answers rows reports its limit in
# fanfare.rate_limit_status (the gateway's 4th column), not in a notice,
# which cost a tenth of a 1-row request; a call that answers no row (an
# error, an empty batch) sends the notice, 01N01, whose DETAIL the gateway
# reads.  Every answer to an authenticated request has the three headers.
section "the rate limit report: no notice for a 200, the headers on 200, 400, 409, 422, 429"
org_n=$(new_org notices 12) && key_n=$(psql_db -c "SELECT fanfare.rotate_secret_key('$org_n')") || abort "the report's organization"
# the section's calls (about 4 s) must fall in one window: at least 8 s of it left
until [ $(($(date +%s) % RATE_WINDOW)) -le $((RATE_WINDOW - 8)) ]; do sleep 0.1; done
# a psql session as the gateway's, reported; its notices go to stderr
reported_call() {
    psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" -c "SET fanfare.rate_limit_report = on" \
        -c "SELECT count(*) FROM fanfare.api_import_consumers('$key_n', convert_to('$1', 'UTF8'))" 2>&1
}
out=$(reported_call "$one")
if [ "$out" = 1 ]; then
    ok "SQL: a successful api_import_consumers, reported, sends no notice (its only output: 1 row)"
else fail "SQL: no notice for a successful call" "$out"; fi
out=$(reported_call "$invalid")
if matches "$out" '^NOTICE: .*
DETAIL:  limit=12 remaining=10 reset=[0-9]+ retry=[0-9]+
ERROR: '; then
    ok "SQL: a 400, reported, sends the 01N01 notice with the numbers before its error"
else fail "SQL: the notice of a failing call" "$out"; fi
# the gateway: status and Remaining of each answer, the three headers there
nbase=http://127.0.0.1:${ports[0]}
npost() {
    curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' --max-time 30 -X POST "$nbase/consumers/batch" \
        -H "Authorization: Bearer $key_n" -H 'Content-Type: application/json' "$@"
}
answer() {
    local limit remaining reset
    limit=$(sed -n 's/^x-ratelimit-limit: *\([0-9]*\).*/\1/Ip' "$work/headers")
    remaining=$(sed -n 's/^x-ratelimit-remaining: *\([0-9]*\).*/\1/Ip' "$work/headers")
    reset=$(sed -n 's/^x-ratelimit-reset: *\([0-9]*\).*/\1/Ip' "$work/headers")
    if [ "$limit" = 12 ] && [ -n "$reset" ] && [ "$reset" -gt "$(date +%s)" ]; then echo "$1/$remaining"; else echo "$1/no-headers"; fi
}
answers=
answers+="$(answer "$(npost --data-binary "$one")") "
answers+="$(answer "$(npost --data-binary "$invalid")") "
answers+="$(answer "$(npost --data-binary '{"consumers":[]}')") "
answers+="$(answer "$(npost -H 'Prefer: tx=rollback' --data-binary "$one")") "
answers+="$(answer "$(npost -H 'Prefer: tx=rollback' --data-binary "$invalid")") "
answers+="$(answer "$(npost -H 'Idempotency-Key: n-1' --data-binary "$one")") "
answers+="$(answer "$(npost -H 'Idempotency-Key: n-1' --data-binary "$invalid")") "
if [ "$answers" = "200/9 400/8 200/7 200/6 400/5 200/4 422/3 " ]; then
    ok "gateway: 200, 400, empty 200, dry-run 200 and 400, keyed 200, 422 all carry the headers, Remaining down by one ($answers)"
else fail "gateway: the headers on every answer" "$answers (want 200/9 400/8 200/7 200/6 400/5 200/4 422/3)"; fi
# 409: the key in use by a request that waits on a lock (charged: Remaining 2)
hold_lock 2 || abort "the lock"
curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X POST "$nbase/consumers/batch" -H "Authorization: Bearer $key_n" \
    -H 'Content-Type: application/json' -H 'Idempotency-Key: n-slow' --data-binary "$one" >"$work/slow.code" &
slow_pid=$!
sleep 0.5
answers="$(answer "$(npost -H 'Idempotency-Key: n-slow' --data-binary "$one")") "
wait "$slow_pid"
wait "$lock_pid"
answers+="$(answer "$(npost --data-binary "$one")") "
answers+="$(answer "$(npost --data-binary "$one")")"
if [ "$answers" = "409/1 200/0 429/0" ] && [ "$(cat "$work/slow.code")" = 200 ]; then
    ok "gateway: a 409 (key in use) and the 429 carry the headers too ($answers)"
else fail "gateway: the headers of 409 and 429" "$answers, the slow request $(cat "$work/slow.code")"; fi

# --- metrics, the idempotency alias, the JSON access log --------------------------
section "GET /metrics after a known set of requests; X-Idempotency-Key; --log-format json"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
org_m=$(new_org metrics 4) && key_m=$(psql_db -c "SELECT fanfare.rotate_secret_key('$org_m')") || abort "the metrics organization"
port=
start_gateway three --metrics-listen 127.0.0.1:0 --log-format json || abort "gateway three starts"
gw_pids+=("$gw_pid")
mport=$(sed -n 's/.*metrics on .*(metrics port \([0-9]*\)).*/\1/p' "$work/gw-three.err" | tail -1)
base=http://127.0.0.1:$port
call() { curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' --max-time 30 "$@"; }
# counted by the limit of 4: s1, s2 (a replay), s4 (a 400 of the
# database), s5; s3 (a 400 of the gateway) is not; s6 is the 429
s1=$(call -X POST "$base/consumers/batch" -H "Authorization: Bearer $key_m" -H 'Content-Type: application/json' \
    -H 'X-Idempotency-Key: alias-1' --data-binary "$one")
s2=$(call -X POST "$base/consumers/batch" -H "Authorization: Bearer $key_m" -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: alias-1' --data-binary "$one")
replayed=$(sed -n 's/^idempotent-replayed: *\([a-z]*\).*/\1/Ip' "$work/headers")
s3=$(call -X POST "$base/consumers/batch" -H "Authorization: Bearer $key_m" -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: k-1' -H 'X-Idempotency-Key: k-2' --data-binary "$one")
cp "$work/body" "$work/conflict-gateway"
if [ "$s1" = 200 ] && [ "$s2" = 200 ] && [ "$replayed" = true ] && [ "$s3" = 400 ]; then
    ok "X-Idempotency-Key is Idempotency-Key's alias (a retry under the other name replays); both, differing: 400"
else fail "X-Idempotency-Key alias" "statuses $s1 $s2 (replayed $replayed) $s3"; fi
s4=$(call -X POST "$base/consumers/batch" -H "Authorization: Bearer $key_m" -H 'Content-Type: application/json' --data-binary "$invalid")
s5=$(call -X POST "$base/consumers/batch" -H "Authorization: Bearer $key_m" -H 'Content-Type: application/json' --data-binary "$one")
s6=$(call -X POST "$base/consumers/batch" -H "Authorization: Bearer $key_m" -H 'Content-Type: application/json' --data-binary "$one")
s7=$(call -X POST "$base/consumers/batch" -H 'Content-Type: application/json' --data-binary "$one")
s8=$(call "$base/nowhere")
s9=$(call "$base/live")
s10=$(call "$base/metrics")
[ "$s4 $s5 $s6 $s7 $s8 $s9 $s10" = "400 200 429 401 404 200 404" ] ||
    fail "the known requests" "statuses $s4 $s5 $s6 $s7 $s8 $s9 $s10 (want 400 200 429 401 404 200 404)"
ok "the main listener does not serve /metrics when --metrics-listen is given (404)"
curl -s --max-time 10 -o "$work/metrics" "http://127.0.0.1:$mport/metrics"
matches "$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$mport/metrics")" '^text/plain; version=0.0.4' &&
    ok "/metrics on --metrics-listen, text/plain; version=0.0.4" || fail "/metrics content type"
expect='{"requests": {"/consumers/batch 200": 3, "/consumers/batch 400": 2, "/consumers/batch 429": 1,
  "/consumers/batch 401": 1, " 404": 1, "/live 200": 1, "/metrics 404": 1},
  "created": 2, "replays": 1, "rate_limited": 1}'
while IFS=$'\t' read -r kind name why; do
    case "$kind" in ok) ok "$name" ;; fail) fail "$name" "$why" ;; esac
done < <("$py" test/ratelimit/metrics.py "$work/metrics" "$expect" "$org_m" "$key_m" "$org_a" "$key_a")
# the same exposition on a gateway without --metrics-listen
s=$(curl -s -o "$work/metrics-main" -w '%{http_code}' "http://127.0.0.1:${ports[0]}/metrics")
if [ "$s" = 200 ] && "$py" -c 'import sys; from prometheus_client.parser import text_string_to_metric_families as p; list(p(open(sys.argv[1]).read()))' "$work/metrics-main"; then
    ok "/metrics on the main listener otherwise (200, parses)"
else fail "/metrics on the main listener" "status $s"; fi

# PostgREST answers the two keys alike
conflict_pg=$(psql_db <<SQL | tail -1
BEGIN;
SET LOCAL ROLE fanfare_api;
SELECT set_config('request.jwt.claims', '{"organization_id":"$org_b","sub":"u1"}', true) IS NULL;
SELECT set_config('request.headers', '{"idempotency-key":"k-1","x-idempotency-key":"k-2"}', true) IS NULL;
SELECT fanfare.post_consumers_batch('$one'::json)::text AS body \gset
SELECT current_setting('response.status', true) || ' ' || :'body';
COMMIT;
SQL
)
if [ "$conflict_pg" = "400 $(cat "$work/conflict-gateway")" ]; then
    ok "PostgREST: both keys, differing, is the same 400 as the gateway's"
else fail "PostgREST: both keys, differing" "$conflict_pg vs $(cat "$work/conflict-gateway")"; fi

stop_gateways
sleep 0.5
if "$py" -c '
import json, sys
want = {"time", "method", "path", "status", "duration_ms", "bytes", "request_id", "organization_id", "idempotency"}
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) >= 10, len(lines)
for line in lines:
    assert set(json.loads(line)) == want, line
' "$work/gw-three.out"; then
    ok "--log-format json: every access log line is one JSON object with the logfmt fields"
else fail "--log-format json" "$(head -3 "$work/gw-three.out")"; fi
section "the default limit, for a database owner who is not a superuser"
# fanfare.rate_limit is PGC_SUSET; README: a superuser grants SET ON
# PARAMETER, then the owner sets the database's default
owner=fanfare_rl_owner_$$
owner_db=fanfare_rl_owner_db_$$
psql_db -c "CREATE ROLE $owner LOGIN" >/dev/null && psql_db -c "CREATE DATABASE $owner_db OWNER $owner" >/dev/null ||
    abort "the owner's database"
as_owner_sql() { psql -X -q -At -U "$owner" -d "$owner_db" "$@" 2>&1; }
check "without the grant, the owner cannot set the default" \
    bash -c '! psql -X -q -At -v ON_ERROR_STOP=1 -U "$1" -d "$2" -c "ALTER DATABASE $2 SET fanfare.rate_limit = 7" >/dev/null 2>&1' _ "$owner" "$owner_db"
psql_db -c "GRANT SET ON PARAMETER fanfare.rate_limit TO $owner" >/dev/null
check "granted SET ON PARAMETER, the owner sets the database's default, which new sessions use" \
    [ "$(as_owner_sql -c "ALTER DATABASE $owner_db SET fanfare.rate_limit = 7" && as_owner_sql -c "SHOW fanfare.rate_limit")" = 7 ]
check "an API role still cannot change it" \
    bash -c '! psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "SET ROLE fanfare_api" -c "SET fanfare.rate_limit = 0" >/dev/null 2>&1' _ "$owner_db"
psql_db -c "DROP DATABASE $owner_db" >/dev/null
psql_db -c "REVOKE SET ON PARAMETER fanfare.rate_limit FROM $owner" >/dev/null
psql_db -c "DROP ROLE $owner" >/dev/null

summary ratelimit
