#!/usr/bin/env bash
# Integration tests of fanfare-gateway: the real gateway against the real
# database, spoken to over HTTP with curl.
#
#   test/gateway/run.sh              (make check-gateway)
#
# Alone, it builds and installs the tree and starts a throwaway cluster of
# its own (tools/lib.sh), stopped at exit.  With PGHOST/PGPORT/PGUSER naming
# a running cluster (tools/test.sh does) it uses that one, which it stops and
# restarts once: FANFARE_TEST_DATADIR and FANFARE_TEST_PORT name it (they
# default to PGHOST and PGPORT when PGHOST is the data directory, as for the
# clusters of tools/cluster.sh).  Creates its own database,
# fanfare_gateway_test.  Runs every test against the gateway, then a subset
# against the gateway under valgrind (FANFARE_SKIP_VALGRIND=1 skips that
# part).  Prints "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

db=fanfare_gateway_test
login=fanfare_gateway_test_login
# shellcheck source=lib.sh
. test/gateway/lib.sh
suite_cluster gateway --restarts || abort "a cluster to test against"
new_work_dir gateway-test
on_exit stop_helpers
stall_pid=
stop_stall_db() { [ -n "$stall_pid" ] && kill "$stall_pid" 2>/dev/null; return 0; }
on_exit stop_stall_db
on_exit stop_pgbouncer
pass=setup

# --- reporting ---------------------------------------------------------------
# expect_status NAME CODE: checks the last response's status and X-Request-Id
expect_status() {
    if [ "$status" = "$2" ] && [ -n "$(header X-Request-Id)" ]; then ok "$1"
    else fail "$1" "status $status, want $2; body: $(head -c 300 "$work/body" 2>/dev/null)"; fi
}
expect_body() {
    if [ "$(cat "$work/body")" = "$2" ]; then ok "$1"; else fail "$1" "body: $(head -c 300 "$work/body")"; fi
}

# --- database ----------------------------------------------------------------
count_rows() { psql_db -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$1'"; }
# server_logs: the server logs that must not hold a client's data
server_logs() { echo "$FANFARE_TEST_DATADIR/server.log"; }
# the key objects whose comments t_keys_sql checks, as (oid, catalog) rows
commented_objects="('fanfare.organizations'::regclass::oid, 'pg_class'::regclass), ('fanfare.api_keys'::regclass, 'pg_class'),
        ('fanfare.create_organization(text)'::regprocedure, 'pg_proc'), ('fanfare.rotate_secret_key(uuid,text)'::regprocedure, 'pg_proc'),
        ('fanfare.rotate_publishable_key(uuid,text)'::regprocedure, 'pg_proc'), ('fanfare.api_create_consumers(text,text)'::regprocedure, 'pg_proc'),
        ('fanfare.api_import_consumers(text,bytea,text)'::regprocedure, 'pg_proc'), ('fanfare.idempotency_keys'::regclass, 'pg_class'),
        ('fanfare.prune_idempotency_keys()'::regprocedure, 'pg_proc'),
        ('fanfare.issue_api_key(uuid,text,text)'::regprocedure, 'pg_proc'), ('fanfare.random_key_bytes(integer)'::regprocedure, 'pg_proc')"

# FANFARE_GATEWAY_TARGET: a file sourced here that points the suite at
# another deployment than one database with the extension; it may redefine
# setup_db, count_rows, hold_lock, server_logs and commented_objects
# (test/router/target.sh: a router in front of its shards).
if [ -n "${FANFARE_GATEWAY_TARGET:-}" ]; then
    # shellcheck source=/dev/null
    . "$FANFARE_GATEWAY_TARGET" || abort "the target $FANFARE_GATEWAY_TARGET"
fi

# --- HTTP --------------------------------------------------------------------
# req METHOD PATH [curl args...]: sets $status; body and headers in $work.
# HEAD goes as curl --head: with -X HEAD curl would wait for the body that
# Content-Length announces, which never comes, until the gateway's idle
# timeout (30 s) closes the connection
req() {
    local method=$1 path=$2 how=(-X "$1")
    shift 2
    [ "$method" = HEAD ] && how=(--head)
    : >"$work/headers"
    : >"$work/body"
    status=$(curl -sS --max-time 120 -o "$work/body" -D "$work/headers" -w '%{http_code}' \
        "${how[@]}" "http://127.0.0.1:$port$path" "$@" 2>"$work/curl.err") || true
    [ -n "$status" ] || status=000
}
header() { grep -i "^$1:" "$work/headers" | head -1 | cut -d: -f2- | sed 's/^ *//; s/\r$//'; }
# post KEY FILE [curl args...]: POST /consumers/batch with a JSON body file
post() {
    local key=$1 file=$2
    shift 2
    post_as application/json "$key" "$file" "$@"
}
# post_as CONTENT-TYPE KEY FILE [curl args...]: the same with another Content-Type
post_as() {
    local type=$1 key=$2 file=$3
    shift 3
    req POST /consumers/batch -H "Authorization: Bearer $key" \
        -H "Content-Type: $type" --data-binary "@$file" "$@"
}
# js EXPR: evaluates EXPR with b = the last response body parsed as JSON
js() { json_get "$work/body" "$1"; }
# batch FILE N PREFIX: a valid body of N consumers with emails
# PASS.PREFIX-i@example.com (PASS keeps the gateway's passes apart)
batch() {
    node -e 'const [n, p] = [+process.argv[1], process.argv[2]]; const c = [];
        for (let i = 0; i < n; i++) c.push({email: `${p}-${i}@example.com`, emailVerified: true, phoneVerified: false, status: "ACTIVE", fullName: `Person ${i}`});
        process.stdout.write(JSON.stringify({consumers: c}));' "$2" "$pass.$3" >"$1"
}
# raw REQUEST-FILE: sends bytes on a fresh TCP connection, prints the status line
raw() {
    timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; cat "$2" >&3; head -1 <&3 | tr -d "\r"' _ "$port" "$1" 2>/dev/null
}

# === setup ===================================================================
setup_gateway_db() {
    setup_db || return 1
    psql_db <<SQL || return 1
ALTER DATABASE $db SET fanfare.max_batch_size = 20000;
-- the DETAIL that import_consumers raises for a body, to compare bodies
CREATE FUNCTION public.validation_detail(org uuid, payload text) RETURNS text
LANGUAGE plpgsql AS \$\$
DECLARE d text;
BEGIN
    PERFORM set_config('fanfare.organization_id', org::text, true);
    PERFORM set_config('fanfare.actor', 'test', true);
    PERFORM fanfare.import_consumers(payload);
    RETURN NULL;
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN d;
END
\$\$;
SQL
    orgA=$(psql_db -c "SELECT fanfare.create_organization('Org A')")
    orgB=$(psql_db -c "SELECT fanfare.create_organization('Org B')")
    orgC=$(psql_db -c "SELECT fanfare.create_organization('Org C (disabled)')")
    keyA=$(psql_db -c "SELECT fanfare.rotate_secret_key('$orgA')")
    keyB=$(psql_db -c "SELECT fanfare.rotate_secret_key('$orgB', 'test')")
    keyC=$(psql_db -c "SELECT fanfare.rotate_secret_key('$orgC')")
    pkA=$(psql_db -c "SELECT fanfare.rotate_publishable_key('$orgA')")
    psql_db -c "UPDATE fanfare.organizations SET disabled_at = now() WHERE id = '$orgC'"
    [[ $keyA == sk_live_* && $keyB == sk_test_* && $pkA == pk_live_* ]] || return 1
    printf '%s' '{"consumers":[{"email":"one@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}' >"$work/one.json"
    printf '%s' '{"consumers":[{"emailVerified":"yes","status":"GONE"},{"phoneVerified":true}]}' >"$work/invalid.json"
}

# === tests ===================================================================
t_cli() {
    "$gateway" --help >"$work/help" 2>&1
    check "--help exits 0 and lists --max-body" grep -q -- --max-body "$work/help"
    "$gateway" --pool zero >/dev/null 2>&1
    check "a bad flag value exits 2" [ $? = 2 ]
}

t_health() {
    req GET /healthz
    expect_status "GET /healthz is 200 while the database answers" 200
    expect_body "GET /healthz body" '{"status":"ok"}'
    req HEAD /healthz
    expect_status "HEAD /healthz is 200" 200
    check "HEAD /healthz: headers only, no body, and the connection closed (Connection: close)" head_without_body
}
# head_without_body: a HEAD /healthz on a raw connection gets a 200 whose
# bytes end with the headers' blank line, and the gateway closes it (10 s)
head_without_body() {
    timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >&3; cat <&3' _ "$port" \
        >"$work/head.raw" 2>/dev/null || return 1
    head -1 "$work/head.raw" | grep -q '^HTTP/1\.[01] 200' &&
        [ "$(tail -c 4 "$work/head.raw" | od -An -tx1 | tr -d ' \n')" = 0d0a0d0a ]
}

t_openapi() {
    req GET /openapi.json
    expect_status "GET /openapi.json is 200" 200
    check "/openapi.json is the project's contract/openapi.json" cmp -s "$work/body" "$root/contract/openapi.json"
    check "/openapi.json is application/json" [ "$(header Content-Type)" = application/json ]
    check "contract/openapi.json is in sync with openapi.yaml" make -s -C "$root/src/gateway" check-contract
}

t_not_found() {
    for path in /nope /consumers /consumers/batch/ /; do
        req GET "$path"
        expect_status "GET $path is 404" 404
        expect_body "GET $path body" '{"error":"Not found"}'
    done
    req POST /nope -H 'Content-Type: application/json' --data-binary '{}'
    expect_status "POST /nope with a body is 404" 404
}

t_method() {
    req GET /consumers/batch
    expect_status "GET /consumers/batch is 405" 405
    check "405 Allow: POST" [ "$(header Allow)" = POST ]
    req DELETE /consumers/batch
    expect_status "DELETE /consumers/batch is 405" 405
    req POST /healthz -H 'Content-Type: application/json' --data-binary '{}'
    expect_status "POST /healthz is 405" 405
    check "405 Allow: GET, HEAD" [ "$(header Allow)" = "GET, HEAD" ]
}

t_auth() {
    req POST /consumers/batch -H 'Content-Type: application/json' --data-binary "@$work/one.json"
    expect_status "no Authorization is 401" 401
    expect_body "no Authorization body" '{"error":"Authentication required"}'
    for bad in "Basic dXNlcjpwYXNz" "Bearer" "Bearer " "Bearer a b" "Bearer ${keyA}é" "$keyA"; do
        req POST /consumers/batch -H "Authorization: $bad" -H 'Content-Type: application/json' --data-binary "@$work/one.json"
        [ "$status" = 401 ] && [ "$(cat "$work/body")" = '{"error":"Authentication required"}' ] ||
            { fail "malformed Authorization is 401 Authentication required" "${bad:0:12}...: $status"; return; }
    done
    ok "malformed Authorization headers are 401 Authentication required"
    post "sk_live_doesnotexist0123456789" "$work/one.json"
    expect_status "unknown secret key is 401" 401
    expect_body "unknown secret key body" '{"error":"Invalid secret key"}'
    post "$pkA" "$work/one.json"
    expect_status "publishable key is 401" 401
    expect_body "publishable key body" '{"error":"Secret key required"}'
    post "$keyC" "$work/one.json"
    expect_status "key of a disabled organization is 403" 403
    expect_body "disabled organization body" '{"error":"Forbidden"}'
    check "nothing was created for the disabled organization" [ "$(count_rows "$orgC")" = 0 ]
}

# headers_only TOKEN [SECONDS]: a POST that announces a 100 kB body and
# sends none; prints the response (empty if none came within SECONDS, 3)
headers_only() {
    printf 'POST /consumers/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n' "$1" >"$work/headers-only"
    timeout "${2:-3}" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; cat "$2" >&3; cat <&3' _ "$port" "$work/headers-only" 2>/dev/null | tr -d '\r'
}

# A token that cannot be a secret key is answered from the headers: its
# body is never waited for, never read, never sent to the database.
t_key_shape() {
    local bad out
    for bad in x sk_live_short "sk_live_$(printf 'a%.0s' $(seq 1 44))" "sk_prod_$(printf 'a%.0s' $(seq 1 43))" \
        "sk_live_$(printf 'a%.0s' $(seq 1 42))~" "SK_LIVE_$(printf 'a%.0s' $(seq 1 43))"; do
        out=$(headers_only "$bad")
        [[ $out == "HTTP/1.1 401"* && $out == *'{"error":"Invalid secret key"}' ]] ||
            { fail "a token that cannot be a secret key is 401 before its body is sent" "${bad:0:12}...: ${out:0:60}"; return; }
    done
    ok "tokens that cannot be secret keys are 401 Invalid secret key before their body is sent"
    out=$(headers_only "pk_live_$(printf 'a%.0s' $(seq 1 43))")
    check "a publishable key is 401 Secret key required before its body is sent" \
        matches "$out" '^HTTP/1.1 401.*\{"error":"Secret key required"\}$'
    # no answer is the right one here, so the whole wait is spent: 1 s, not
    # 3; an answer from the headers alone would come as the 401s above do,
    # at once, not after a second
    out=$(headers_only "sk_test_$(printf 'a%.0s' $(seq 1 43))" 1)
    check "a token shaped like a secret key waits for its body" [ -z "$out" ]
    post "sk_live_doesnotexist0123456789" "$work/one.json"
    expect_body "a short sk_live_ token with a body is 401 Invalid secret key, as before" '{"error":"Invalid secret key"}'
}

t_media() {
    post_as text/plain "$keyA" "$work/one.json"
    expect_status "Content-Type text/plain is 415" 415
    expect_body "415 body" '{"error":"Unsupported media type"}'
    req POST /consumers/batch -H "Authorization: Bearer $keyA" -H 'Content-Type:' --data-binary "@$work/one.json"
    expect_status "no Content-Type is 415" 415
    post_as "application/json; charset=latin1" "$keyA" "$work/one.json"
    expect_status "JSON in another charset is 415" 415
    post_as application/jsonx "$keyA" "$work/one.json"
    expect_status "application/jsonx is 415" 415
    batch "$work/charset.json" 1 charset
    post_as "Application/JSON; charset=UTF-8" "$keyA" "$work/charset.json"
    expect_status "application/json; charset=utf-8 is accepted" 200
}

t_validation() {
    local detail
    post "$keyA" "$work/invalid.json"
    expect_status "invalid batch is 400" 400
    detail=$(psql_db -v body="$(cat "$work/invalid.json")" <<<"SELECT public.validation_detail('$orgA', :'body')")
    check "400 body is the extension's DETAIL byte for byte" cmp -s <(printf '%s' "$detail") "$work/body"
    check "400 Content-Type is application/json" [ "$(header Content-Type)" = application/json ]
    check "400 body says validation_error" [ "$(js 'b.error + "/" + (b.issueCount === b.issues.length)')" = validation_error/true ]
    check "400 body validates against the document's 400 schema" \
        node test/gateway/schema_check.mjs --status 400 contract/openapi.json "$work/body"
    # a client's metadata key reaches the body, never the server log
    printf '%s' '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","metadata":{"gateway-secret-key-name":{}}}]}' >"$work/secretkey.json"
    post "$keyA" "$work/secretkey.json"
    expect_status "a bad metadata value is 400" 400
    check "the client's metadata key is in the 400 body" grep -q gateway-secret-key-name "$work/body"
    check "and not in the server log (HINT, DETAIL and STATEMENT lines)" \
        bash -c '! grep -q gateway-secret-key-name "$@"' _ $(server_logs)
}

t_not_json() {
    local i=0 name
    printf '%s' '{"consumers":[' >"$work/nj0"
    printf '%s' 'hello' >"$work/nj1"
    : >"$work/nj2"
    printf '%s' '{"consumers":[{"fullName":"a\u0000b","emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}' >"$work/nj3"
    printf '{"consumers":[{"fullName":"\xff\xfe","emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}' >"$work/nj4"
    printf '{"consumers":[]}\0' >"$work/nj5"
    printf '%s' '{"consumers":[{"fullName":"\ud800","emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}' >"$work/nj6"
    node -e 'process.stdout.write("[".repeat(200000) + "]".repeat(200000))' >"$work/nj7"
    for name in "truncated JSON" "not JSON at all" "empty body" "\\u0000 in a string" "invalid UTF-8" "a NUL byte" "lone surrogate" "200000 nested arrays"; do
        post "$keyA" "$work/nj$i"
        if [ "$status" = 400 ] &&
            [ "$(js 'b.error === "validation_error" && b.issueCount === 1 && b.issues.length === 1 && Array.isArray(b.issues[0].path) && b.issues[0].path.length === 0 && ["kind","type","expected","received","message"].every((k) => typeof b.issues[0][k] === "string")')" = true ] &&
            node test/gateway/schema_check.mjs --status 400 contract/openapi.json "$work/body"; then
            ok "$name is 400 validation_error with one issue about the body, valid per the 400 schema"
        else
            fail "$name is 400 validation_error with one issue about the body, valid per the 400 schema" "status $status: $(head -c 200 "$work/body")"
        fi
        i=$((i + 1))
    done
    # the key is checked before the body is read, and a body that is not
    # JSON leaves none of its text in the server log
    printf '%s' '{"consumers":[{"fullName":"Unlogged Secret Name" oops}]}' >"$work/nj8"
    post "sk_test_unknownkeyunknownkeyunknownkey0000" "$work/nj8"
    expect_status "a body that is not JSON with an unknown key is 401 (key first)" 401
    post "$keyA" "$work/nj8"
    expect_status "the same body with a good key is 400" 400
    check "a body that is not JSON does not reach the server log" \
        bash -c '! grep -q "Unlogged Secret Name" "$@"' _ $(server_logs)
}

t_success() {
    local before rid
    before=$(count_rows "$orgA")
    batch "$work/two.json" 2 success
    post "$keyA" "$work/two.json" -H 'X-Request-Id: test-success-1'
    expect_status "valid batch is 200" 200
    check "200 Content-Type is application/json" [ "$(header Content-Type)" = application/json ]
    check "200 body is the created consumers of the key's organization" \
        [ "$(js "b.length === 2 && b.every((c) => c.organizationId === '$orgA' && c.createdBy.startsWith('api_key:sk_live_'))")" = true ]
    check "200 body validates against the OpenAPI response schema" \
        node test/gateway/schema_check.mjs contract/openapi.json "$work/body"
    check "the schema check itself rejects bad bodies" node test/gateway/schema_check.mjs --self-test contract/openapi.json
    check "the rows are in the database" [ "$(count_rows "$orgA")" = $((before + 2)) ]
    check "access log line with status, request id and organization" \
        grep -q "method=POST path=\"/consumers/batch\" status=200 .* request_id=test-success-1 organization_id=$orgA" "$work/gw-$gw_name.out"
}

t_idempotency() {
    local k="$pass-import-7f1c1c6e" before a_ids t0 took inflight_pid code
    before=$(count_rows "$orgA")
    batch "$work/idem.json" 3 idempotency
    post "$keyA" "$work/idem.json" -H "Idempotency-Key: $k" -H 'X-Request-Id: test-idem-1'
    expect_status "a batch with an Idempotency-Key is 200" 200
    check "the first answer is not marked replayed" [ -z "$(header Idempotent-Replayed)" ]
    cp "$work/body" "$work/idem.first"
    post "$keyA" "$work/idem.json" -H "Idempotency-Key: $k" -H 'X-Request-Id: test-idem-2'
    expect_status "its retry is 200" 200
    check "the retry has Idempotent-Replayed: true" [ "$(header Idempotent-Replayed)" = true ]
    check "the retry's body is the first answer byte for byte" cmp -s "$work/idem.first" "$work/body"
    post "$keyA" "$work/idem.json" -H "Idempotency-Key: \"$k\""
    check "the key as a structured-field string is the same key" \
        [ "$status/$(header Idempotent-Replayed)" = 200/true ]
    check "and answers the same body" cmp -s "$work/idem.first" "$work/body"
    check "three answers, one batch stored" [ "$(count_rows "$orgA")" = $((before + 3)) ]
    check "the access log marks the first request created and the retry replayed" \
        bash -c "grep -q 'request_id=test-idem-1 organization_id=$orgA idempotency=created' '$work/gw-$gw_name.out' &&
                 grep -q 'request_id=test-idem-2 organization_id=$orgA idempotency=replayed' '$work/gw-$gw_name.out'"

    # the same key with another body
    batch "$work/idem-other.json" 1 idempotency-other
    post "$keyA" "$work/idem-other.json" -H "Idempotency-Key: $k"
    expect_status "the same key with another body is 422" 422
    check "422 says why" [ "$(js 'b.error')" = "This Idempotency-Key was used with a different request body" ]
    check "and created nothing" [ "$(count_rows "$orgA")" = $((before + 3)) ]

    # another tenant's identical key is another key
    post "$keyB" "$work/idem.json" -H "Idempotency-Key: $k"
    check "another organization's identical key creates its own batch" \
        [ "$status/$(header Idempotent-Replayed)/$(js "b[0].organizationId")" = "200//$orgB" ]

    # malformed keys: 400 validation_error, valid per the 400 schema
    for bad in 'two words' '"unterminated' '"a" "b"' '""' "$(printf 'k%.0s' $(seq 1 256))"; do
        post "$keyA" "$work/idem.json" -H "Idempotency-Key: $bad"
        if [ "$status" = 400 ] && [ "$(js 'b.issues[0].type')" = idempotency_key ] &&
            node test/gateway/schema_check.mjs --status 400 contract/openapi.json "$work/body"; then
            ok "Idempotency-Key '${bad:0:20}' is a 400 about the key, valid per the 400 schema"
        else
            fail "Idempotency-Key '${bad:0:20}' is a 400 about the key, valid per the 400 schema" "status $status: $(head -c 200 "$work/body")"
        fi
    done
    batch "$work/idem255.json" 1 idempotency-255
    post "$keyA" "$work/idem255.json" -H "Idempotency-Key: $(printf 'k%.0s' $(seq 1 255))-x" 
    expect_status "a 257-character key is refused" 400
    post "$keyA" "$work/idem255.json" -H "Idempotency-Key: $pass-$(printf 'k%.0s' $(seq 1 240))"
    expect_status "a key of up to 255 characters is taken" 200

    # a 400 is not stored: the corrected retry under the same key creates
    printf '%s' '{"consumers":[{"emailVerified":true,"status":"ACTIVE"}]}' >"$work/idem-bad.json"
    post "$keyA" "$work/idem-bad.json" -H "Idempotency-Key: $k-fixed"
    expect_status "a keyed batch with issues is 400" 400
    batch "$work/idem-fixed.json" 1 idempotency-fixed
    post "$keyA" "$work/idem-fixed.json" -H "Idempotency-Key: $k-fixed"
    check "its corrected retry under the same key is created, not refused" \
        [ "$status/$(header Idempotent-Replayed)" = 200/ ]

    # the key in use by a request still running: 409 at once, then a replay
    batch "$work/idem-slow.json" 2 idempotency-slow
    hold_lock 3
    curl -sS -o "$work/idem-slow.body" -w '%{http_code}' -X POST "http://127.0.0.1:$port/consumers/batch" \
        -H "Authorization: Bearer $keyA" -H 'Content-Type: application/json' -H "Idempotency-Key: $k-slow" \
        --data-binary "@$work/idem-slow.json" >"$work/idem-slow.code" 2>/dev/null &
    inflight_pid=$!
    sleep 0.5
    t0=$(date +%s%N)
    post "$keyA" "$work/idem-slow.json" -H "Idempotency-Key: $k-slow"
    took=$((($(date +%s%N) - t0) / 1000000))
    expect_status "the same key while its first request runs is 409" 409
    check "409 comes at once, not after the first request (${took} ms)" [ "$took" -lt 1500 ]
    check "409 has Retry-After" [ -n "$(header Retry-After)" ]
    check "409 says why" [ "$(js 'b.error')" = "A request with this Idempotency-Key is still in progress" ]
    # the 409 is in: the lock's remaining 2.5 s would only delay the first request
    release_lock
    wait "$inflight_pid"
    code=$(cat "$work/idem-slow.code")
    check "the first request then completes with 200" [ "$code" = 200 ]
    post "$keyA" "$work/idem-slow.json" -H "Idempotency-Key: $k-slow"
    check "and the retry replays it" [ "$status/$(header Idempotent-Replayed)" = 200/true ]
    check "with its body" cmp -s "$work/idem-slow.body" "$work/body"

    check "the key is in no log of the gateway or the server" \
        bash -c '! grep -q -- "$@"' _ "$k" "$work/gw-$gw_name.out" "$work/gw-$gw_name.err" $(server_logs)
}

# Prefer: tx=rollback: the dry run answers what the real call would, with
# Preference-Applied, and stores nothing (no consumer, no idempotency key)
t_dry_run() {
    local before k="$pass-dry-run-key"
    before=$(count_rows "$orgA")
    batch "$work/dry.json" 2 dry-run
    post "$keyA" "$work/dry.json" -H 'Prefer: tx=rollback'
    expect_status "a valid batch with Prefer: tx=rollback is 200" 200
    check "its answer has Preference-Applied: tx=rollback" [ "$(header Preference-Applied)" = tx=rollback ]
    check "its body is the consumers the real call would create" \
        [ "$(js "b.length === 2 && b.every((c) => c.organizationId === '$orgA' && c.email.startsWith('$pass.dry-run-'))")" = true ]
    check "and nothing is stored" [ "$(count_rows "$orgA")" = "$before" ]
    post "$keyA" "$work/dry.json" -H 'Prefer: return=minimal; x="a,b", tx="rollback"' -H 'Prefer: handling=strict'
    check "tx=rollback among other preferences is honoured" \
        [ "$status/$(header Preference-Applied)/$(count_rows "$orgA")" = "200/tx=rollback/$before" ]
    post "$keyA" "$work/dry.json" -H 'Prefer: handling=strict' -H 'Prefer: TX=rollback'
    check "in a second Prefer header, with the name in upper case, too" \
        [ "$status/$(header Preference-Applied)/$(count_rows "$orgA")" = "200/tx=rollback/$before" ]

    post "$keyA" "$work/invalid.json"
    cp "$work/body" "$work/dry-real.400"
    post "$keyA" "$work/invalid.json" -H 'Prefer: tx=rollback'
    expect_status "an invalid batch with Prefer: tx=rollback is 400" 400
    check "with the real call's 400 body byte for byte" cmp -s "$work/dry-real.400" "$work/body"
    post "sk_test_unknownkeyunknownkeyunknownkey0000" "$work/dry.json" -H 'Prefer: tx=rollback'
    expect_status "a dry run with an unknown key is 401" 401

    post "$keyA" "$work/dry.json" -H 'Prefer: tx=rollback' -H "Idempotency-Key: $k"
    check "with an Idempotency-Key: 200, not replayed, nothing stored" \
        [ "$status/$(header Idempotent-Replayed)/$(count_rows "$orgA")" = "200//$before" ]
    post "$keyA" "$work/dry.json" -H "Idempotency-Key: $k"
    check "the real call with that key then creates (the dry run stored no key)" \
        [ "$status/$(header Idempotent-Replayed)/$(header Preference-Applied)/$(count_rows "$orgA")" = "200///$((before + 2))" ]
    post "$keyA" "$work/dry.json" -H 'Prefer: tx=rollback'
    expect_status "a dry run of rows now stored is 400" 400
    check "about the stored emails" [ "$(js 'b.issues.length + "/" + b.issues[0].message')" = "2/Email already exists" ]
    check "and stores nothing" [ "$(count_rows "$orgA")" = $((before + 2)) ]
}

# A database whose extension has no dry run: 501, and the real calls still work
t_dry_run_missing() {
    local before
    psql_db -c "ALTER FUNCTION fanfare.api_import_consumers_dry_run(text, bytea) RENAME TO api_import_consumers_dry_run_hidden" >/dev/null
    before=$(count_rows "$orgA")
    batch "$work/dry-missing.json" 1 dry-missing
    post "$keyA" "$work/dry-missing.json" -H 'Prefer: tx=rollback'
    expect_status "a dry run against an extension without it is 501" 501
    check "501 says why, without Preference-Applied" \
        [ "$(js 'b.error.includes("tx=rollback")')/$(header Preference-Applied)/$(count_rows "$orgA")" = "true//$before" ]
    post "$keyA" "$work/dry-missing.json"
    expect_status "and the real call still works" 200
    psql_db -c "ALTER FUNCTION fanfare.api_import_consumers_dry_run_hidden(text, bytea) RENAME TO api_import_consumers_dry_run" >/dev/null
    post "$keyA" "$work/dry-missing.json" -H 'Prefer: tx=rollback'
    check "once the function is back, the dry run answers again (its 400 about the stored row)" \
        [ "$status/$(header Preference-Applied)" = 400/tx=rollback ]
}

t_live_ready() {
    req GET /live
    expect_status "GET /live is 200" 200
    expect_body "GET /live body" '{"status":"ok"}'
    req GET /ready
    expect_status "GET /ready is 200 while the database answers" 200
    req POST /live -H 'Content-Type: application/json' --data-binary '{}'
    expect_status "POST /live is 405" 405
}

t_request_id() {
    req GET /healthz -H 'X-Request-Id: abc-123_x.y'
    check "a sane X-Request-Id is echoed" [ "$(header X-Request-Id)" = abc-123_x.y ]
    req GET /healthz -H 'X-Request-Id: two words'
    check "an unsafe X-Request-Id is replaced" matches "$(header X-Request-Id)" '^[0-9a-f]{32}$'
    req GET /healthz -H "X-Request-Id: $(printf 'a%.0s' $(seq 1 200))"
    check "an overlong X-Request-Id is replaced" matches "$(header X-Request-Id)" '^[0-9a-f]{32}$'
    req GET /nope
    check "responses without one get a generated X-Request-Id" matches "$(header X-Request-Id)" '^[0-9a-f]{32}$'
}

t_isolation() {
    local a_before b_before
    a_before=$(count_rows "$orgA")
    b_before=$(count_rows "$orgB")
    printf '%s' "{\"consumers\":[{\"organizationId\":\"$orgA\",\"email\":\"shared@example.com\",\"emailVerified\":true,\"phoneVerified\":false,\"status\":\"ACTIVE\"}]}" >"$work/iso.json"
    post "$keyB" "$work/iso.json"
    expect_status "key B with organizationId A in the body is 200" 200
    check "the row belongs to org B whatever the body says" [ "$(js "b[0].organizationId")" = "$orgB" ]
    check "org A got no row, org B one" [ "$(count_rows "$orgA")/$(count_rows "$orgB")" = "$a_before/$((b_before + 1))" ]
    post "$keyA" "$work/iso.json"
    expect_status "the same email in org A is not a duplicate of org B's" 200
    check "and it belongs to org A" [ "$(js "b[0].organizationId")" = "$orgA" ]
}

t_rotation() {
    local old=$keyA
    keyA=$(psql_db -c "SELECT fanfare.rotate_secret_key('$orgA')")
    post "$old" "$work/one.json"
    expect_status "the rotated-out key is refused at once" 401
    expect_body "rotated-out key body" '{"error":"Invalid secret key"}'
    batch "$work/rot.json" 1 rotation
    post "$keyA" "$work/rot.json"
    expect_status "the new key works" 200
    check "exactly one unrevoked secret key per org and mode" \
        [ "$(psql_db -c "SELECT count(*) FROM fanfare.api_keys WHERE organization_id = '$orgA' AND kind = 'secret' AND revoked_at IS NULL")" = 1 ]
    check "only hashes are stored" \
        [ "$(psql_db -c "SELECT count(*) FROM fanfare.api_keys WHERE key_hash = sha256(convert_to('$keyA', 'UTF8')) AND position('$keyA' in display_prefix) = 0")" = 1 ]
}

t_concurrent() {
    local before i codes
    before=$(count_rows "$orgB")
    local pids=()
    for i in $(seq 1 16); do
        batch "$work/par$i.json" 5 "parallel$i"
    done
    for i in $(seq 1 16); do
        curl -sS -o "$work/par$i.resp" -w '%{http_code}' -X POST "http://127.0.0.1:$port/consumers/batch" \
            -H "Authorization: Bearer $keyB" -H 'Content-Type: application/json' \
            --data-binary "@$work/par$i.json" >"$work/par$i.code" 2>/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}"
    codes=$(for i in $(seq 1 16); do cat "$work/par$i.code"; echo; done | sort | uniq -c | tr -s ' ')
    check "16 concurrent requests all answered 200" [ "$codes" = " 16 200" ] || echo "# codes: $codes"
    check "16 concurrent requests created 80 rows" [ "$(count_rows "$orgB")" = $((before + 80)) ]
    check "each concurrent response holds its own 5 consumers" \
        [ "$(for i in $(seq 1 16); do node -e 'const b = JSON.parse(require("fs").readFileSync(process.argv[1])); process.stdout.write(String(b.length === 5 && b.every((c) => c.email.startsWith(process.argv[2] + "-"))))' "$work/par$i.resp" "$pass.parallel$i"; done | tr -d '\n')" = "$(printf 'true%.0s' $(seq 1 16))" ]
}

t_big_batch() {
    local start took
    batch "$work/big.json" 10000 big
    start=$(date +%s%N)
    post "$keyA" "$work/big.json"
    took=$((($(date +%s%N) - start) / 1000000))
    expect_status "a 10000-row batch (limit raised) is 200 (${took} ms)" 200
    check "and returns 10000 consumers" [ "$(js 'b.length')" = 10000 ]
}

t_too_large() {
    local up
    head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$work/5m.json"
    up=$(curl -sS -o "$work/body" -w '%{http_code} %{size_upload}' -X POST "http://127.0.0.1:$port/consumers/batch" \
        -H "Authorization: Bearer $keyA" -H 'Content-Type: application/json' --data-binary "@$work/5m.json" 2>/dev/null)
    check "Content-Length over --max-body is 413" [ "${up% *}" = 413 ]
    check "413 is answered before the body is sent" [ "${up#* }" -lt $((1024 * 1024)) ]
    expect_body "413 body" '{"error":"Payload too large"}'
    head -c $((4 * 1024 * 1024 + 4096)) /dev/zero | tr '\0' ' ' >"$work/4m.json"
    post "$keyA" "$work/4m.json" -H 'Transfer-Encoding: chunked'
    expect_status "a chunked body that outgrows --max-body is 413" 413
    head -c $((40 * 1024 * 1024)) /dev/zero >"$work/40m.bin"
    post "$keyA" "$work/40m.bin" -H 'Transfer-Encoding: chunked'
    # 100: the connection was closed after "100 Continue", without a final answer
    check "a far larger chunked body is cut off (413 or connection closed)" matches "$status" '^(413|000|100)$' || echo "# status $status $(cat "$work/curl.err")"
    rm -f "$work/40m.bin" "$work/5m.json" "$work/4m.json"
    req GET /healthz
    expect_status "the gateway still answers after oversized bodies" 200
}

t_malformed_http() {
    local line
    printf 'GARBAGE\r\n\r\n' >"$work/m1"
    printf 'POST /consumers/batch HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n' >"$work/m2"
    printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n' >"$work/m3"
    { printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: '; head -c 100000 /dev/zero | tr '\0' a; printf '\r\n\r\n'; } >"$work/m4"
    printf 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n' >"$work/m5"
    line=$(raw "$work/m1")
    check "a garbage request line is refused (4xx or closed)" matches "$line" '^(HTTP/1\.[01] 4.*)?$'
    line=$(raw "$work/m2")
    check "a bad Content-Length is 400" matches "$line" '^HTTP/1\.[01] 400'
    line=$(raw "$work/m3")
    check "a header line without a colon is 400" matches "$line" '^HTTP/1\.[01] 400'
    line=$(raw "$work/m4")
    check "a 100 kB header is refused with a 4xx" matches "$line" '^HTTP/1\.[01] 4'
    line=$(raw "$work/m5")
    check "an unknown HTTP version is refused (4xx/505 or closed)" matches "$line" '^(HTTP/1\.[01] (4|505).*)?$'
    req GET /healthz
    expect_status "the gateway still answers after malformed requests" 200
}

t_internal_error() {
    psql_db -c "REVOKE EXECUTE ON FUNCTION fanfare.api_import_consumers(text, bytea, text) FROM fanfare_api, $login"
    post "$keyA" "$work/one.json" -H 'X-Request-Id: test-500'
    expect_status "an unexpected database error is 500" 500
    expect_body "500 body" '{"error":"Internal server error"}'
    check "the 500's cause is logged with its request id" grep -q "request_id=test-500 .*42501" "$work/gw-$gw_name.err"
    psql_db -c "GRANT EXECUTE ON FUNCTION fanfare.api_import_consumers(text, bytea, text) TO fanfare_api, $login"
}

t_database_restart() {
    local i
    cluster_stop "$FANFARE_TEST_DATADIR"
    post "$keyA" "$work/one.json"
    expect_status "database stopped: POST is 503" 503
    expect_body "503 body" '{"error":"Service unavailable"}'
    check "503 has Retry-After" [ -n "$(header Retry-After)" ]
    req GET /healthz
    expect_status "database stopped: /healthz is 503" 503
    suite_cluster_restart
    for i in $(seq 1 100); do
        req GET /healthz
        [ "$status" = 200 ] && break
        sleep 0.2
    done
    expect_status "database back: /healthz is 200 again" 200
    batch "$work/back.json" 3 restarted
    post "$keyA" "$work/back.json"
    expect_status "database back: the next POST is 200 without a gateway restart" 200
    batch "$work/back2.json" 3 restarted2
    post "$keyA" "$work/back2.json"
    expect_status "database back: and the one after" 200
    check "the gateway process survived" kill -0 "$gw_pid"
}

# The server ends the gateway's idle sessions (pg_terminate_backend, a
# restart of one backend): the gateway notices and reconnects, the next
# requests are 200, never a 503 for a connection that was already gone.
t_backend_terminated() {
    local before after
    post "$keyA" "$work/one.json"
    before=$(psql_db -c "SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE application_name = 'fanfare-gateway' AND datname = current_database()")
    check "(the gateway has sessions to end)" [ -n "$before" ]
    psql_db -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'fanfare-gateway' AND datname = current_database()" >/dev/null
    sleep 0.3
    batch "$work/after-kill.json" 2 terminated
    post "$keyA" "$work/after-kill.json"
    expect_status "sessions ended by the server: the next POST is 200" 200
    req GET /healthz
    expect_status "sessions ended by the server: /healthz is 200" 200
    after=$(psql_db -c "SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE application_name = 'fanfare-gateway' AND datname = current_database()")
    check "the gateway reconnected (new sessions)" [ -n "$after" -a "$after" != "$before" ]
}

t_no_secrets_logged() {
    check "no key appears in the logs" \
        bash -c '! grep -qF -e "$1" -e "$2" -e "$3" -e "$4" "$5"/gw-{main,small}.{out,err}' _ "$keyA" "$keyB" "$keyC" "$pkA" "$work"
    check "no body appears in the logs" bash -c '! grep -q -e "@example.com" -e "Person " "$1"/gw-{main,small}.{out,err}' _ "$work"
}

# The key functions in SQL: arguments, privileges, key format.
t_keys_sql() {
    local sk
    sk=$(psql_db -c "SELECT fanfare.rotate_secret_key('$orgB', 'live')")
    check "secret keys are sk_<mode>_ and 43 base64url characters" matches "$sk" '^sk_live_[A-Za-z0-9_-]{43}$'
    check "two rotations never return the same key" \
        [ "$(psql_db -c "SELECT fanfare.rotate_secret_key('$orgB', 'live') <> fanfare.rotate_secret_key('$orgB', 'live')")" = t ]
    check "live and test keys of one organization are independent" \
        [ "$(psql_db -c "SELECT count(*) FROM fanfare.api_keys WHERE organization_id = '$orgB' AND kind = 'secret' AND revoked_at IS NULL")" = 2 ]
    check "a bad mode is refused (22023)" \
        bash -c 'psql -X -At -d "$1" -c "SELECT fanfare.rotate_secret_key('"'"'$2'"'"', '"'"'prod'"'"')" 2>&1 | grep -q "invalid key mode"' _ "$db" "$orgB"
    check "an unknown organization is refused" \
        bash -c '! psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "SELECT fanfare.rotate_secret_key(gen_random_uuid())" >/dev/null 2>&1' _ "$db"
    check "the API role may not read api_keys" \
        bash -c '! psql -X -At -v ON_ERROR_STOP=1 -U "$2" -d "$1" -c "SELECT count(*) FROM fanfare.api_keys" >/dev/null 2>&1' _ "$db" "$login"
    check "the API role may not issue keys" \
        bash -c '! psql -X -At -v ON_ERROR_STOP=1 -U "$2" -d "$1" -c "SELECT fanfare.rotate_secret_key('"'"'$3'"'"')" >/dev/null 2>&1' _ "$db" "$login" "$orgB"
    check "random_key_bytes bounds its argument" \
        bash -c '! psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "SELECT fanfare.random_key_bytes(100000)" >/dev/null 2>&1' _ "$db"
    check "random_key_bytes gives n bytes" [ "$(psql_db -c "SELECT length(fanfare.random_key_bytes(32))")" = 32 ]
    check "every key object has a comment" [ "$(psql_db -c "SELECT count(*) FROM (VALUES
        $commented_objects) o(oid, cls)
        WHERE obj_description(oid, cls::regclass::text) IS NULL")" = 0 ]
}

# Second gateway, one connection: pool exhaustion, statement timeout, drain.
t_pool_timeout_and_shutdown() {
    local slow_pid code
    port=
    start_gateway small --pool 1 --threads 4 --pool-wait 300 --statement-timeout 2500 || { fail "small gateway starts"; return; }
    hold_lock 4
    curl -sS -o /dev/null -X POST "http://127.0.0.1:$port/consumers/batch" \
        -H "Authorization: Bearer $keyA" -H 'Content-Type: application/json' \
        --data-binary "@$work/one.json" 2>/dev/null &
    slow_pid=$!
    sleep 0.5
    post "$keyA" "$work/one.json"
    expect_status "all connections busy past --pool-wait is 503" 503
    check "pool 503 has Retry-After" [ -n "$(header Retry-After)" ]
    wait "$slow_pid"
    req GET /healthz
    check "a statement past --statement-timeout was answered 503" grep -q "database unavailable: sqlstate=57014" "$work/gw-small.err"
    wait "$lock_pid"
    lock_pid=

    # graceful stop: an in-flight request finishes, new connections are refused
    batch "$work/drain.json" 1 drain
    hold_lock 2
    curl -sS -o "$work/drain.body" -w '%{http_code}' -X POST "http://127.0.0.1:$port/consumers/batch" \
        -H "Authorization: Bearer $keyA" -H 'Content-Type: application/json' \
        --data-binary "@$work/drain.json" >"$work/drain.code" 2>/dev/null &
    slow_pid=$!
    sleep 0.3
    kill -TERM "$gw_pid"
    sleep 0.3
    req GET /healthz
    check "after SIGTERM new connections are refused" [ "$status" = 000 ]
    wait "$slow_pid"
    code=$(cat "$work/drain.code")
    wait "$lock_pid"
    lock_pid=
    check "after SIGTERM the in-flight request still completes with 200" [ "$code" = 200 ] || echo "# code $code $(cat "$work/drain.body")"
    wait "$gw_pid"
    check "the gateway exits 0 after SIGTERM" [ $? = 0 ]
    gw_pid=
}

# The connection limit per client address: the next connection from it is
# closed at once, and the address is served again once one ends.
t_per_ip_limit() {
    local fds=() fd i
    port=
    start_gateway perip --max-connections-per-ip 4 --threads 1 --pool 1 || { fail "per-address gateway starts"; return; }
    for i in 1 2 3 4; do
        exec {fd}<>"/dev/tcp/127.0.0.1/$port" && fds+=("$fd")
    done
    sleep 0.3
    req GET /live
    check "a fifth connection from one address past --max-connections-per-ip 4 is refused" [ "$status" = 000 ]
    for fd in "${fds[@]}"; do exec {fd}>&-; done
    sleep 0.3
    req GET /live
    expect_status "once they close, the address is served again" 200
    stop_gateway
}

# A slow-body flood (tokens shaped like keys and bogus ones) against a
# gateway with 32 connections: the tricklers are closed at --body-timeout,
# bogus tokens at once, and a normal client keeps getting 200s.
t_slow_body_flood() {
    port=
    start_gateway flood --max-connections 32 --max-connections-per-ip 0 --body-timeout 2 --threads 1 --pool 2 ||
        { fail "flood gateway starts"; return; }
    node test/gateway/slow_flood.mjs --port "$port" --key "$keyA" --tag "$pass.flood" \
        --connections 48 --seconds 7 >"$work/flood.result"
    note "slow-body flood: $(cat "$work/flood.result")"
    check "slow bodies with key-shaped tokens are closed within --body-timeout 2 s (+0.5 s)" \
        [ "$(json_get "$work/flood.result" 's.shaped.count > 0 && s.shaped.maxHeldMs <= 2500')" = true ]
    check "bogus tokens are answered 401 at once (< 500 ms), their bodies unread" \
        [ "$(json_get "$work/flood.result" 'Object.keys(s.bogus.statuses).join() === "401" && s.bogus.maxHeldMs < 500')" = true ]
    check "a normal client gets only 200s during the flood, each within 3 s" \
        [ "$(json_get "$work/flood.result" 's.normal.count >= 3 && Object.keys(s.normal.statuses).join() === "200" && s.normal.maxMs < 3000')" = true ]
    stop_gateway
}

# timed_get PATH: GET on the gateway; prints "STATUS MS"
timed_get() {
    curl -s -o /dev/null --max-time 20 -w '%{http_code} %{time_total}' "http://127.0.0.1:$port$1" 2>/dev/null |
        awk '{ printf "%s %d", $1, $2 * 1000 }'
}
# timed_post FILE OUT: POSTs FILE with $keyA, writes "STATUS MS RETRY-AFTER" to OUT
timed_post() {
    curl -s -o /dev/null -D "$2.headers" --max-time 30 -w '%{http_code} %{time_total}' -X POST \
        "http://127.0.0.1:$port/consumers/batch" -H "Authorization: Bearer $keyA" \
        -H 'Content-Type: application/json' --data-binary "@$1" 2>/dev/null |
        awk '{ printf "%s %d", $1, $2 * 1000 }' >"$2"
    printf ' %s' "$(grep -i '^Retry-After:' "$2.headers" | tr -d '\r' | cut -d' ' -f2)" >>"$2"
}
# live_max SECONDS: the slowest of the GET /live answers sampled every 100 ms
# for that long, "STATUS MS" (any status but 200 wins)
live_max() {
    local end=$((SECONDS + $1)) worst="200 0" got
    while [ "$SECONDS" -lt "$end" ]; do
        got=$(timed_get /live)
        if [ "${got% *}" != 200 ] || [ "${got#* }" -gt "${worst#* }" ]; then worst=$got; fi
        [ "${worst% *}" != 200 ] && break
        sleep 0.1
    done
    echo "$worst"
}
# stall_db ARGS...: starts test/gateway/stall_db.mjs on a free port (sets
# stall_port and stall_pid; stopped at exit by stop_stall_db)
stall_db() {
    local attempt
    for attempt in 1 2 3; do
        stall_port=$(free_port) || return 1
        node test/gateway/stall_db.mjs --port "$stall_port" "$@" >"$work/stall.out" 2>&1 &
        stall_pid=$!
        for _ in $(seq 1 100); do
            grep -q listening "$work/stall.out" && return 0
            kill -0 "$stall_pid" 2>/dev/null || break
            sleep 0.1
        done
        note "stall_db on port $stall_port did not start: $(head -c 300 "$work/stall.out")"
        kill "$stall_pid" 2>/dev/null
        stall_pid=
    done
    return 1
}

# A database that accepts TCP and never answers (packets dropped): the
# loop keeps serving /live, /healthz says 503 within --health-timeout, and
# POSTs get 503 once connect_timeout has passed.  One loop, so that a
# blocked connect would freeze the very loop that answers /live.
t_dead_database() {
    local live health p1 p2
    stall_db --blackhole || { fail "a database that never answers starts"; return; }
    port=
    start_gateway dead --database "host=127.0.0.1 port=$stall_port dbname=x user=x connect_timeout=2 sslmode=disable" \
        --pool 2 --threads 1 --pool-wait 10000 || { fail "the gateway starts against a database that never answers"; return; }
    timed_post "$work/one.json" "$work/dead1" &
    p1=$!
    timed_post "$work/one.json" "$work/dead2" &
    p2=$!
    sleep 0.1
    live=$(live_max 2)
    health=$(timed_get /healthz)
    wait "$p1" "$p2"
    note "database that never answers: POSTs $(cat "$work/dead1") / $(cat "$work/dead2") (status ms Retry-After), /live worst $live, /healthz $health"
    check "while connections to it hang, /live answers 200 within 200 ms" \
        [ "${live% *}" = 200 -a "${live#* }" -lt 200 ]
    check "/healthz answers 503 within --health-timeout 1 s (+ 500 ms)" \
        [ "${health% *}" = 503 -a "${health#* }" -lt 1500 ]
    check "POSTs are 503 with Retry-After within connect_timeout 2 s (+ 1 s)" \
        bash -c 'for f; do read -r s ms ra <"$f"; [ "$s" = 503 ] && [ "$ms" -lt 3000 ] && [ -n "$ra" ] || exit 1; done' _ "$work/dead1" "$work/dead2"
    check "the gateway says the database did not answer" grep -q "no answer within connect_timeout" "$work/gw-dead.err"
    stop_gateway
    check "the gateway exits 0 (under valgrind: clean)" [ "$gw_rc" = 0 ]
    kill "$stall_pid" 2>/dev/null
    wait "$stall_pid" 2>/dev/null
    stall_pid=
}

# A database that stalls mid-statement (a proxy that stops forwarding):
# the request is answered 503 at --statement-deadline, the loop serves
# /live meanwhile, /healthz does not wait for the one connection the
# request holds, and once the database answers again the next request is
# 200 on a new connection.
t_stalled_database() {
    local live p1 health
    rm -f "$work/pause"
    stall_db --to "127.0.0.1:$PGPORT" --pause-file "$work/pause" || { fail "the stalling proxy starts"; return; }
    port=
    start_gateway stalled --database "host=127.0.0.1 port=$stall_port dbname=$db user=$login sslmode=disable" \
        --pool 1 --threads 1 --pool-wait 10000 --statement-deadline 3000 || { fail "the gateway starts behind the stalling proxy"; return; }
    batch "$work/stall1.json" 1 stall1
    timed_post "$work/stall1.json" "$work/stall1"
    check "through the proxy, a POST is 200" [ "$(cut -d' ' -f1 "$work/stall1")" = 200 ]
    touch "$work/pause"
    batch "$work/stall2.json" 1 stall2
    timed_post "$work/stall2.json" "$work/stall2" &
    p1=$!
    sleep 0.2
    health=$(timed_get /healthz)
    live=$(live_max 1)
    wait "$p1"
    note "database stalled mid-statement: POST $(cat "$work/stall2") (status ms Retry-After), /healthz $health, /live worst $live"
    check "a POST on a stalled connection is 503 with Retry-After at --statement-deadline 3 s (+ 1 s)" \
        bash -c 'read -r s ms ra <"$1"; [ "$s" = 503 ] && [ "$ms" -ge 2900 ] && [ "$ms" -lt 4000 ] && [ -n "$ra" ]' _ "$work/stall2"
    check "/healthz does not wait for the busy pool: 503 within --health-timeout 1 s (+ 500 ms)" \
        [ "${health% *}" = 503 -a "${health#* }" -lt 1500 ]
    check "meanwhile /live answers 200 within 200 ms" [ "${live% *}" = 200 -a "${live#* }" -lt 200 ]
    check "the gateway says why" grep -q "no answer from the database within --statement-deadline" "$work/gw-stalled.err"
    rm -f "$work/pause"
    sleep 0.3
    batch "$work/stall3.json" 1 stall3
    timed_post "$work/stall3.json" "$work/stall3"
    check "once the database answers again, the next POST is 200 (a new connection)" [ "$(cut -d' ' -f1 "$work/stall3")" = 200 ]
    stop_gateway
    check "the gateway exits 0 (under valgrind: clean)" [ "$gw_rc" = 0 ]
    kill "$stall_pid" 2>/dev/null
    wait "$stall_pid" 2>/dev/null
    stall_pid=
}

# --- behind PgBouncer (transaction pooling) ------------------------------------
# role_settings VALUE...: ALTER ROLE $login IN DATABASE $db SET each
# name=value (or RESET ALL with none); PgBouncer's server connections are
# then replaced, since a backend reads them when it starts
role_settings() {
    local set
    psql_db -c "ALTER ROLE $login IN DATABASE $db RESET ALL"
    for set in "$@"; do psql_db -c "ALTER ROLE $login IN DATABASE $db SET ${set%%=*} = '${set#*=}'"; done
    pgbouncer_admin "RECONNECT"
}
# the gateway behind PgBouncer: start_gateway NAME with the database there
pooled_gateway() {
    local name=$1 dbname=$2
    shift 2
    port=
    start_gateway "$name" --database "host=127.0.0.1 port=$pgb_port dbname=$dbname user=$login" "$@"
}

# A plain start behind PgBouncer: it refuses the startup options, and the
# gateway says which flag to use instead of only "database unreachable".
# With --pooler transaction and the role's settings missing, the gateway
# refuses to start and names the ALTER ROLE to run.
t_pooler_start() {
    role_settings
    pooled_gateway pooler-plain "$db"
    check "a plain start behind PgBouncer names --pooler transaction" \
        grep -q -- "start the gateway with --pooler transaction" "$work/gw-pooler-plain.err"
    stop_gateway
    "$gateway" --listen 127.0.0.1:0 --pooler transaction \
        --database "host=127.0.0.1 port=$pgb_port dbname=$db user=$login" >/dev/null 2>"$work/pooler-refused.err"
    check "--pooler transaction without the role's settings refuses to start (exit 1)" [ $? = 1 ]
    check "and names the ALTER ROLE to run" grep -q "ALTER ROLE \"$login\" SET plan_cache_mode = force_generic_plan" "$work/pooler-refused.err"
    # the two settings a pooler used to need, without the rate limit report:
    # the X-RateLimit-* headers would be missing, so it still refuses
    role_settings statement_timeout=30000 plan_cache_mode=force_generic_plan
    "$gateway" --listen 127.0.0.1:0 --pooler transaction \
        --database "host=127.0.0.1 port=$pgb_port dbname=$db user=$login" >/dev/null 2>"$work/pooler-refused.err"
    check "--pooler transaction without the role's fanfare.rate_limit_report refuses to start (exit 1)" [ $? = 1 ]
    check "and names that ALTER ROLE" grep -q "ALTER ROLE \"$login\" SET fanfare.rate_limit_report = on" "$work/pooler-refused.err"
}

# The contract through PgBouncer in transaction pooling, with the role's
# settings: the same answers as without it.
t_pooler_contract() {
    role_settings statement_timeout=30000 plan_cache_mode=force_generic_plan fanfare.rate_limit_report=on
    pass=pooler
    if pooled_gateway pooler "$db" --pooler transaction; then
        for t in t_health t_auth t_key_shape t_validation t_not_json t_success t_idempotency t_concurrent; do "$t"; done
        # the rate limit's headers come through the pooler too
        psql_db -c "SELECT fanfare.set_rate_limit('$orgA', 100000)" >/dev/null
        batch "$work/pooler-limited.json" 1 pooler-limited
        post "$keyA" "$work/pooler-limited.json"
        check "behind PgBouncer a 200 carries X-RateLimit-Limit (the role's fanfare.rate_limit_report)" \
            [ "$status" = 200 -a "$(header X-RateLimit-Limit)" = 100000 -a -n "$(header X-RateLimit-Remaining)" ]
        # a 400 answers no row: its numbers come as the notice, through the pooler too
        printf '%s' '{"consumers":[{}]}' >"$work/pooler-limited-bad.json"
        post "$keyA" "$work/pooler-limited-bad.json"
        check "behind PgBouncer a 400 carries X-RateLimit-Limit (the extension's notice)" \
            [ "$status" = 400 -a "$(header X-RateLimit-Limit)" = 100000 -a -n "$(header X-RateLimit-Remaining)" ]
        psql_db -c "SELECT fanfare.set_rate_limit('$orgA', NULL)" >/dev/null
        check "behind PgBouncer the gateway sent no named prepared statement" \
            bash -c '! grep -q fanfare_gateway_create "$1"' _ "$FANFARE_TEST_DATADIR/server.log"
        stop_gateway
    else
        fail "the gateway starts behind PgBouncer with --pooler transaction"
    fi
}

# statement_timeout through PgBouncer: the role's, effective on every
# transaction whichever server connection runs it.
t_pooler_statement_timeout() {
    local slow_pid
    role_settings statement_timeout=1500 plan_cache_mode=force_generic_plan fanfare.rate_limit_report=on
    pooled_gateway pooler-timeout "$db" --pooler transaction --statement-timeout 1500 ||
        { fail "the gateway starts behind PgBouncer with a short timeout"; return; }
    hold_lock 4
    batch "$work/pooler-slow.json" 1 pooler-slow
    post "$keyA" "$work/pooler-slow.json"
    expect_status "behind PgBouncer, a request held past the role's statement_timeout is 503" 503
    check "and the cause is the statement timeout (57014)" grep -q "sqlstate=57014" "$work/gw-pooler-timeout.err"
    wait "$lock_pid"
    lock_pid=
    stop_gateway
}

# --prepare 1 behind PgBouncer (as with a pooler that keeps prepared
# statements) on one server connection: PgBouncer's RECONNECT replaces it,
# the prepared statement is gone (26000), and the gateway prepares it again
# and answers 200.
t_pooler_reprepare() {
    local lost
    role_settings statement_timeout=30000 plan_cache_mode=force_generic_plan fanfare.rate_limit_report=on
    pooled_gateway pooler-prepare "${db}_one" --pooler transaction --prepare 1 --pool 1 --threads 1 ||
        { fail "the gateway starts behind PgBouncer with --prepare 1"; return; }
    batch "$work/reprep1.json" 1 reprepare1
    post "$keyA" "$work/reprep1.json"
    expect_status "behind PgBouncer with --prepare 1, a POST is 200" 200
    lost=$(grep -c 'prepared statement "fanfare_gateway_create" does not exist' "$FANFARE_TEST_DATADIR/server.log")
    pgbouncer_admin "RECONNECT ${db}_one"
    batch "$work/reprep2.json" 1 reprepare2
    post "$keyA" "$work/reprep2.json"
    expect_status "after PgBouncer's RECONNECT the next POST is 200" 200
    check "the server had lost the prepared statement (26000), and it was prepared again" \
        [ "$(grep -c 'prepared statement "fanfare_gateway_create" does not exist' "$FANFARE_TEST_DATADIR/server.log")" -gt "$lost" ]
    check "the re-prepared request stored its consumer once" \
        [ "$(psql_db -c "SELECT count(*) FROM fanfare.consumers WHERE email LIKE '$pass.reprepare2-%'")" = 1 ]
    stop_gateway
}

# kill -9 of PgBouncer: 503 while it is gone, 200 again once it is back,
# without a gateway restart.
t_pooler_killed() {
    role_settings statement_timeout=30000 plan_cache_mode=force_generic_plan fanfare.rate_limit_report=on
    pooled_gateway pooler-killed "$db" --pooler transaction || { fail "the gateway starts behind PgBouncer"; return; }
    batch "$work/pk1.json" 1 pooler-killed1
    post "$keyA" "$work/pk1.json"
    expect_status "behind PgBouncer, a POST is 200" 200
    stop_pgbouncer KILL
    batch "$work/pk2.json" 1 pooler-killed2
    post "$keyA" "$work/pk2.json"
    expect_status "PgBouncer killed (-9): a POST is 503" 503
    start_pgbouncer || { fail "PgBouncer starts again"; return; }
    post "$keyA" "$work/pk2.json"
    expect_status "PgBouncer back: the next POST is 200 without a gateway restart" 200
    check "the 503 stored nothing, the 200 one row" \
        [ "$(psql_db -c "SELECT count(*) FROM fanfare.consumers WHERE email LIKE '$pass.pooler-killed2-%'")" = 1 ]
    stop_gateway
}

t_pooler() {
    start_pgbouncer || { fail "PgBouncer starts"; return; }
    t_pooler_start
    t_pooler_contract
    t_pooler_statement_timeout
    t_pooler_reprepare
    t_pooler_killed
    role_settings
    stop_pgbouncer
}

# === run =====================================================================
all_tests=(t_keys_sql t_cli t_health t_live_ready t_openapi t_not_found t_method t_auth t_key_shape t_media t_validation
    t_not_json t_success t_idempotency t_dry_run t_dry_run_missing t_request_id t_isolation t_rotation t_concurrent t_big_batch
    t_too_large t_malformed_http t_internal_error t_backend_terminated t_database_restart)
unprepared_tests=(t_auth t_validation t_not_json t_success t_idempotency t_dry_run t_concurrent t_internal_error)
valgrind_tests=(t_health t_live_ready t_openapi t_not_found t_method t_auth t_key_shape t_media t_validation
    t_not_json t_success t_idempotency t_dry_run t_request_id t_rotation t_concurrent t_too_large
    t_malformed_http t_internal_error t_backend_terminated t_database_restart)

[ -x "$gateway" ] || abort "a gateway binary at $gateway" "run make"
setup_gateway_db || abort "setup"

echo "# gateway"
pass=main
if start_gateway main --max-body 4M; then
    for t in "${all_tests[@]}"; do "$t"; done
    stop_gateway
    check "the gateway exits 0 on SIGTERM" [ "$gw_rc" = 0 ]
    check "the gateway logged its stop" grep -q "fanfare-gateway: stopped" "$work/gw-main.err"
else
    fail "the gateway starts"
fi
t_pool_timeout_and_shutdown
# Two tests never reach the target: the per-address limit (GET /live only)
# and a database that never answers (test/gateway/stall_db.mjs, not the
# target).  Against another target (the router suite) they would repeat the
# single-node run's work exactly, so they run against a single node only.
if [ -z "${FANFARE_GATEWAY_TARGET:-}" ]; then
    t_per_ip_limit
else
    note "per-address connection limit: checked against a single node only (it never reaches the database)"
fi
t_slow_body_flood
if [ -z "${FANFARE_GATEWAY_TARGET:-}" ]; then
    t_dead_database
else
    note "a database that never answers: checked against a single node only (a stand-in, not the target)"
fi
t_stalled_database
# PgBouncer in front of one fanfare database: its checks read that
# database's rows and server log, which a router target does not have
if [ -z "${FANFARE_GATEWAY_TARGET:-}" ]; then
    echo "# gateway behind PgBouncer"
    t_pooler
else
    note "gateway behind PgBouncer: checked against a single node only"
fi
t_no_secrets_logged

# --prepare 0 (for poolers that drop prepared statements): the statement
# goes unnamed with every request; the same answers
echo "# gateway with --prepare 0"
pass=unprepared
port=
if start_gateway unprepared --max-body 4M --prepare 0; then
    for t in "${unprepared_tests[@]}"; do "$t"; done
    stop_gateway
    check "the --prepare 0 gateway exits 0 on SIGTERM" [ "$gw_rc" = 0 ]
else
    fail "the gateway starts with --prepare 0"
fi

if [ "${FANFARE_SKIP_VALGRIND:-0}" != 1 ]; then
    echo "# gateway under valgrind"
    pass=valgrind
    launcher=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
        --errors-for-leak-kinds=definite,indirect --error-exitcode=97 --log-file="$work/valgrind-%p.log")
    port=
    if start_gateway valgrind --max-body 4M --pool 2; then
        for t in "${valgrind_tests[@]}"; do "$t"; done
        stop_gateway
        if [ "$gw_rc" = 0 ]; then ok "valgrind: no invalid accesses, no leaks"
        else fail "valgrind: no invalid accesses, no leaks" "exit $gw_rc"; cat "$work"/valgrind-*.log | head -100; fi
    else
        fail "the gateway starts under valgrind"
    fi
    # the connection paths to a database that does not answer: connect
    # deadline, cancel thread, replacement
    t_dead_database
    t_stalled_database
    launcher=()
fi

summary
