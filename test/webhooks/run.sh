#!/usr/bin/env bash
# Webhooks (issue 19): the outbox, fanfare-relay and a real receiver on
# loopback (test/webhooks/receiver.mjs).
#
#   test/webhooks/run.sh          (make check-webhooks)
#
# Alone, it builds and installs the tree and starts a throwaway cluster of
# its own (tools/lib.sh); with PG* naming a running cluster (tools/test.sh)
# it uses that one, and kills its postmaster (kill -9) once and restarts it.
# Creates its own database, fanfare_webhooks_test.  The checks: the owner-
# only grants and the URL rules; signatures computed independently here
# (Node's crypto), across a secret rotation, and the envelope; GET /metrics
# (--metrics-listen) against the receiver's and the database's counts; the retry
# schedule (shortened by --retry-schedule) with its headers and
# webhook.delivery.failed; 410; the consecutive-failure disable; a slow
# receiver that delays only its own deliveries; the drain on SIGTERM; and
# the fault run: clients send valid, invalid and replayed batches through
# the gateway while the receiver answers 200, 500, 503, 410 and timeouts at
# random, the relay and the postmaster are each killed (kill -9) once and
# restarted, then the audit (test/webhooks/audit.mjs).  About a minute.
#   WEBHOOK_TESTS="t_grants ..." runs only those tests.
#   FANFARE_KEEP_WORK=1 keeps the scratch directory (logs, audit).
# Prints "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."

db=fanfare_webhooks_test
login=fanfare_webhooks_login
api_role=fanfare_webhooks_api
relay_role=fanfare_webhooks_relay
# shellcheck source=../gateway/lib.sh
. test/gateway/lib.sh
here=$fanfare_root/test/webhooks
relay_bin=$fanfare_root/src/relay/fanfare-relay
suite_cluster webhooks --restarts || abort "a cluster to test against"
new_work_dir webhooks
receiver_pid=
relay_pid=
fault_relay_pid=
client_pid=

stop_webhook_helpers() {
    stop_helpers
    for p in $receiver_pid $relay_pid $fault_relay_pid $client_pid; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    return 0
}
on_exit stop_webhook_helpers
[ -x "$relay_bin" ] || abort "a relay binary at $relay_bin" "run make"
[ -x "$gateway" ] || abort "a gateway binary at $gateway" "run make"

# --- helpers ---------------------------------------------------------------------
psql_as_role() { psql -X -q -v ON_ERROR_STOP=1 -At -U "$1" -d "$db" -c "$2" 2>&1; }
new_org() { psql_db -c "SELECT fanfare.create_organization('$1')"; }
# endpoint ORG PATH [EVENTS]: prints "id secret"
endpoint() {
    psql_db -F' ' -c "SELECT id, secret FROM fanfare.create_webhook_endpoint('$1', 'http://127.0.0.1:$rport$2'${3:+, '$3'})"
}
# consumers ORG N TAG: N consumers created from SQL (as the owner) for ORG
consumers() {
    local body
    body=$(node -e 'const [n, tag] = process.argv.slice(1); console.log(JSON.stringify({consumers: Array.from({length: +n},
        (_, i) => ({email: `${tag}-${i}@example.com`, fullName: i % 2 ? null : `Name ${i}`, emailVerified: true, phoneVerified: false, status: "ACTIVE"}))}))' "$2" "$3")
    PGOPTIONS="-c fanfare.organization_id=$1" psql_db -c "SELECT count(*) FROM fanfare.import_consumers(\$\$$body\$\$)" >/dev/null
}
# pending ORG: deliveries of ORG not yet settled, to enabled endpoints
pending() {
    psql_db -c "SELECT (SELECT count(*) FROM fanfare.webhook_deliveries d JOIN fanfare.webhook_endpoints e
        ON e.organization_id = d.organization_id AND e.id = d.endpoint_id
        WHERE d.organization_id = '$1' AND d.status = 'pending' AND e.enabled)
        + (SELECT coalesce(sum(cardinality(q.event_ids) * cardinality(q.endpoint_ids)), 0)
             FROM fanfare.webhook_event_batches q WHERE q.organization_id = '$1')"
}
# wait_settled ORG SECONDS: until ORG has nothing pending
wait_settled() {
    local i
    for i in $(seq 1 $(($2 * 5))); do
        [ "$(pending "$1")" = 0 ] && return 0
        sleep 0.2
    done
    return 1
}
# received PATH: the receiver's log lines for PATH
received() { grep -F "\"path\":\"$1\"" "$work/received.jsonl"; }
start_relay() {
    local name=$1
    shift
    "$relay_bin" --database "host=$PGHOST port=$PGPORT dbname=$db user=$relay_role" --poll-interval 200 --verbose 1 "$@" \
        >>"$work/relay-$name.out" 2>>"$work/relay-$name.err" &
    relay_pid=$!
}

# --- setup -----------------------------------------------------------------------
setup_webhooks() {
    setup_db && psql_db -c "ALTER DATABASE $db SET synchronous_commit = on" >/dev/null || return 1
    create_login_role "$api_role" || return 1
    psql_db <<SQL >/dev/null || return 1
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$relay_role') THEN
        CREATE ROLE $relay_role LOGIN IN ROLE fanfare_relay;
    ELSE
        GRANT fanfare_relay TO $relay_role;
    END IF;
END
\$\$;
SQL
    node "$here/receiver.mjs" --log "$work/received.jsonl" --port-file "$work/receiver.port" --seed "${WEBHOOK_SEED:-$RANDOM}" &
    receiver_pid=$!
    for _ in $(seq 1 50); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
    rport=$(cat "$work/receiver.port") || return 1
    # the relay of the short tests: a retry schedule of three 1 s waits, 5
    # failures in a row disable
    start_relay main --timeout 2 --retry-schedule 1,1,1 --disable-after 5
}

# === grants and URL rules ========================================================
t_grants() {
    section "grants: fanfare_api and fanfare_relay"
    local org out
    org=$(new_org "Grants")
    endpoint "$org" /ok-grants >/dev/null
    out=$(psql_as_role "$api_role" "SELECT secret FROM fanfare.webhook_endpoints")
    check "fanfare_api cannot read webhook secrets" matches "$out" "permission denied"
    out=$(psql_as_role "$api_role" "SELECT * FROM fanfare.create_webhook_endpoint('$org', 'https://example.com/x')")
    check "fanfare_api cannot register an endpoint" matches "$out" "permission denied"
    out=$(psql_as_role "$api_role" "SELECT * FROM fanfare.claim_webhook_deliveries(0, 1, 1, '{}', '{}')")
    check "fanfare_api cannot claim deliveries (with their secrets)" matches "$out" "permission denied"
    out=$(psql_as_role "$api_role" "SELECT fanfare.rotate_webhook_secret('x')")
    check "fanfare_api cannot rotate a secret" matches "$out" "permission denied"
    out=$(psql_as_role "$relay_role" "SELECT count(*) FROM fanfare.claim_webhook_deliveries(0, 1, 1, '{}', '{}')")
    check "fanfare_relay can claim" [ "$out" = 0 ]
    out=$(psql_as_role "$relay_role" "SELECT * FROM fanfare.create_webhook_endpoint('$org', 'https://example.com/x')")
    check "fanfare_relay cannot register an endpoint" matches "$out" "permission denied"
    out=$(psql_as_role "$relay_role" "SELECT count(*) FROM fanfare.webhook_endpoints")
    check "fanfare_relay cannot read the tables" matches "$out" "permission denied"
}

t_url_rules() {
    section "URL rules"
    local org url out bad=()
    org=$(new_org "URLs")
    for url in https://example.com/h https://hooks.example.com:8443/a?b=c http://127.0.0.1:9/x http://localhost/x \
        'http://[::1]:80/x' 'https://[2001:db8::1]/x' https://127.0.0.1/x; do
        out=$(psql_db -c "SELECT id FROM fanfare.create_webhook_endpoint('$org', '$url')" 2>&1)
        matches "$out" '^whe_[0-9a-f]{32}$' || bad+=("refused $url: $out")
    done
    for url in http://example.com/h ftp://example.com/x https://10.0.0.1/x https://192.168.1.1/ https://172.16.5.4/ \
        https://169.254.169.254/latest/meta-data https://metadata.google.internal/ 'https://[fe80::1]/' \
        'https://[fd00::1]/' 'https://[::ffff:10.0.0.1]/' https://0x7f000001/ https://2130706433/ https://127.1/ \
        https://100.64.0.1/ https://0.0.0.0/ 'not a url' 'https://exa mple.com/' https://example.com:99999/; do
        out=$(psql_db -c "SELECT id FROM fanfare.create_webhook_endpoint('$org', '$url')" 2>&1)
        matches "$out" 'ERROR:  (webhook url|invalid webhook url)' || bad+=("accepted $url: $out")
    done
    check "https only (http to loopback), no literal private, link-local or metadata host" [ ${#bad[@]} = 0 ]
    [ ${#bad[@]} = 0 ] || printf '#   %s\n' "${bad[@]}"
    out=$(psql_db -c "SET fanfare_webhook.allow_private_urls = on; SELECT id FROM fanfare.create_webhook_endpoint('$org', 'https://10.0.0.1/x')" 2>&1)
    check "a session's SET does not allow private hosts" matches "$out" "private address"
    # a superuser's setting: postgresql.conf (ALTER SYSTEM knows no placeholder)
    echo "fanfare_webhook.allow_private_urls = on # test/webhooks" >>"$FANFARE_TEST_DATADIR/postgresql.conf"
    psql_db -c "SELECT pg_reload_conf()" >/dev/null
    out=$(psql_db -c "SELECT count(*) FROM fanfare.create_webhook_endpoint('$org', 'https://10.0.0.1/x') a, fanfare.create_webhook_endpoint('$org', 'http://example.com/x') b" 2>&1)
    sed -i '/# test\/webhooks$/d' "$FANFARE_TEST_DATADIR/postgresql.conf"
    psql_db -c "SELECT pg_reload_conf()" >/dev/null
    check "the server setting allows private hosts and http" [ "$out" = 1 ]
}

# === GET /metrics =================================================================
# metrics_get PATH [CURL FLAGS]: the status of GET PATH on the relay's metrics port
metrics_get() {
    local path=$1
    shift
    curl -s -o "$work/metrics-body" -w '%{http_code}' --max-time 5 "$@" "http://127.0.0.1:$mport$path"
}

t_metrics() {
    section "GET /metrics (--metrics-listen): counters, histogram, gauges, 404"
    local org ok fail gone t0 out expect attempts py=/usr/bin/python3
    [ -x "$py" ] || py=python3
    org=$(new_org "Metrics")
    read -r ok _ < <(endpoint "$org" /ok-m)
    read -r fail _ < <(endpoint "$org" /fail-m)
    read -r gone _ < <(endpoint "$org" /gone-m)
    # a relay of its own, so that its counters hold this test's attempts only;
    # with --retry-schedule 1, /fail-m's first attempts are "retry", its
    # second ones "failed"
    kill -TERM "$relay_pid"; wait "$relay_pid" 2>/dev/null
    t0=$(psql_db -c "SELECT clock_timestamp()")
    start_relay metrics --timeout 2 --retry-schedule 1 --metrics-listen 127.0.0.1:0
    mport=
    for _ in $(seq 1 50); do
        mport=$(sed -n 's/.*(metrics port \([0-9]*\)).*/\1/p' "$work/relay-metrics.err")
        [ -n "$mport" ] && break
        sleep 0.1
    done
    check "the relay prints its metrics port" [ -n "$mport" ] || { start_relay main --timeout 2 --retry-schedule 1,1,1 --disable-after 5; return; }
    consumers "$org" 4 metrics
    wait_settled "$org" 15 || note "still pending: $(pending "$org")"
    check "GET /metrics is 200" [ "$(metrics_get /metrics)" = 200 ]
    cp "$work/metrics-body" "$work/metrics.txt"
    attempts=$(psql_db -c "SELECT count(*) FROM fanfare.webhook_attempts WHERE started_at >= '$t0'")
    expect=$(printf '{"delivered": %d, "retry": %d, "failed": %d, "gone": %d, "attempts": %d}' \
        "$(received /ok-m | grep -c '"status":2[0-9][0-9],')" \
        "$(received /fail-m | grep -vc '"x-fanfare-retry-count"')" \
        "$(received /fail-m | grep -c '"x-fanfare-retry-count":"1"')" \
        "$(received /gone-m | grep -c '"status":410,')" "$attempts")
    note "receiver and database: $expect"
    out=$("$py" "$here/metrics.py" "$work/metrics.txt" "$expect" "$org" "$ok" "$fail" "$gone" "127.0.0.1:$rport" 2>&1)
    check "metrics.py reports 6 checks" [ "$(grep -c $'^\\(ok\\|fail\\)\t' <<<"$out")" = 6 ] || note "$out"
    while IFS=$'\t' read -r res name why; do
        case $res in
            ok) ok "$name" ;;
            fail) fail "$name" "$why" ;;
        esac
    done <<<"$out"
    out="$(metrics_get /) $(metrics_get /metricsx) $(metrics_get /metrics/) $(metrics_get /healthz) $(metrics_get /metrics -X POST)"
    check "anything but GET /metrics is 404 there ($out)" [ "$out" = "404 404 404 404 404" ]
    kill -TERM "$relay_pid"; wait "$relay_pid" 2>/dev/null
    start_relay main --timeout 2 --retry-schedule 1,1,1 --disable-after 5
}

# === signatures, envelope, rotation ===============================================
# verify_all PATH SECRET [NOT_SECRET]: every request at PATH verifies with
# SECRET (Node's crypto) and none with NOT_SECRET; prints how many
verify_all() {
    received "$1" | node -e '
        const crypto = require("crypto");
        const [secret, wrong] = process.argv.slice(1);
        const sign = (s, t, b) => "sha256=" + crypto.createHmac("sha256", s).update(`${t}.${b}`).digest("hex");
        const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean).map(JSON.parse);
        let bad = 0;
        for (const r of lines) {
            const h = r.headers;
            if (h["x-fanfare-signature"] !== sign(secret, h["x-fanfare-timestamp"], r.body)) bad++;
            if (wrong && h["x-fanfare-signature"] === sign(wrong, h["x-fanfare-timestamp"], r.body)) bad++;
            if (Math.abs(Date.now() / 1000 - Number(h["x-fanfare-timestamp"])) > 300) bad++;
        }
        console.log(bad ? `bad ${bad}` : lines.length);' "$2" "${3:-}"
}

t_signatures() {
    section "signatures (Node crypto), envelope, rotation"
    local org id secret new out
    org=$(new_org "Signatures")
    read -r id secret < <(endpoint "$org" /ok-sig)
    consumers "$org" 3 sig1
    wait_settled "$org" 10
    check "3 deliveries signed with the secret (verified by Node's crypto)" [ "$(verify_all /ok-sig "$secret")" = 3 ]
    out=$(received /ok-sig | head -1 | node -e '
        const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
        const b = JSON.parse(r.body), h = r.headers;
        const ok = /^whk_[0-9a-f]{32}$/.test(b.id) && b.type === "consumer.created"
            && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(b.timestamp) && b.organizationId === process.argv[1]
            && JSON.stringify(Object.keys(b)) === JSON.stringify(["id", "type", "timestamp", "organizationId", "data"])
            && JSON.stringify(Object.keys(b.data)) === JSON.stringify(["consumerId", "email", "phone", "fullName", "createdAt", "source"])
            && b.data.phone === null && h["content-type"] === "application/json" && h["user-agent"] === "Fanfare-Webhooks/1.0"
            && h["x-fanfare-event-type"] === "consumer.created" && h["x-fanfare-delivery-id"] === b.id
            && !("x-fanfare-retry-count" in h) && !("x-fanfare-webhook-id" in h);
        console.log(ok ? "ok" : JSON.stringify(r));' "$org")
    check "the envelope and headers of a first attempt" [ "$out" = ok ]
    new=$(psql_db -c "SELECT fanfare.rotate_webhook_secret('$id')")
    check "a rotated secret is whsec_ and new" matches "$new" '^whsec_[A-Za-z0-9_-]{43}$'
    : >"$work/sig2.jsonl"
    consumers "$org" 2 sig2
    wait_settled "$org" 10
    out=$(received /ok-sig | tail -2 | node -e '
        const crypto = require("crypto");
        const [secret, old] = process.argv.slice(1);
        const sign = (s, t, b) => "sha256=" + crypto.createHmac("sha256", s).update(`${t}.${b}`).digest("hex");
        const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean).map(JSON.parse);
        console.log(lines.filter((r) => r.headers["x-fanfare-signature"] === sign(secret, r.headers["x-fanfare-timestamp"], r.body)
            && r.headers["x-fanfare-signature"] !== sign(old, r.headers["x-fanfare-timestamp"], r.body)).length);' "$new" "$secret")
    check "after a rotation, deliveries verify with the new secret, not the old" [ "$out" = 2 ]
}

# === retries, 410, consecutive failures ==========================================
t_retry_schedule() {
    section "retry schedule (1,1,1), retry headers, webhook.delivery.failed"
    local org id out
    org=$(new_org "Retries")
    read -r id _ < <(endpoint "$org" /fail-r)
    endpoint "$org" /ok-failed-r '{webhook.delivery.failed}' >/dev/null
    consumers "$org" 1 retry
    wait_settled "$org" 15
    out=$(received /fail-r | node -e '
        const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean).map(JSON.parse);
        const ep = process.argv[1], b0 = JSON.parse(lines[0].body);
        const bad = [];
        if (lines.length !== 4) bad.push(`${lines.length} attempts`);
        lines.forEach((r, i) => {
            const h = r.headers;
            if (r.body !== lines[0].body) bad.push(`attempt ${i + 1} has another body`);
            if (i === 0 && ("x-fanfare-retry-count" in h)) bad.push("retry count on the first attempt");
            if (i > 0 && (h["x-fanfare-retry-count"] !== String(i) || h["x-fanfare-webhook-id"] !== ep
                || h["x-fanfare-original-time"] !== b0.timestamp)) bad.push(`retry headers of attempt ${i + 1}: ${JSON.stringify(h)}`);
            if (i > 0 && r.t - lines[i - 1].t < 900) bad.push(`attempt ${i + 1} after ${r.t - lines[i - 1].t} ms`);
        });
        console.log(bad.length ? bad.join("; ") : "ok");' "$id")
    check "4 attempts, 1 s apart, same id and body, retry headers 1 to 3" [ "$out" = ok ] || note "$out"
    out=$(psql_db -c "SELECT d.status || ' ' || d.attempts || ' ' || d.last_status || ' ' || (SELECT count(*) FROM fanfare.webhook_attempts a WHERE a.delivery_id = d.id)
        FROM fanfare.webhook_deliveries d WHERE d.endpoint_id = '$id'")
    check "the delivery is failed after 4 attempts, each recorded" [ "$out" = "failed 4 500 4" ] || note "$out"
    out=$(received /ok-failed-r | node -e '
        const r = JSON.parse(require("fs").readFileSync(0, "utf8").split("\n")[0]);
        const b = JSON.parse(r.body);
        console.log(b.type === "webhook.delivery.failed" && b.data.endpointId === process.argv[1] && b.data.retryCount === 4
            && b.data.willRetry === false && b.data.eventType === "consumer.created" && b.data.lastError === "HTTP 500" ? "ok" : r.body);' "$id")
    check "webhook.delivery.failed reaches the other endpoint subscribed to it" [ "$out" = ok ] || note "$out"
}

t_gone() {
    section "410 Gone"
    local org id out
    org=$(new_org "Gone")
    read -r id _ < <(endpoint "$org" /gone-g)
    consumers "$org" 2 gone
    wait_settled "$org" 10
    out=$(psql_db -c "SELECT enabled || ' ' || disabled_reason FROM fanfare.webhook_endpoints WHERE id = '$id'")
    check "a 410 disables the endpoint" [ "$out" = "false 410 Gone" ] || note "$out"
    out=$(psql_db -c "SELECT string_agg(DISTINCT status || ' ' || attempts, ',') FROM fanfare.webhook_deliveries WHERE endpoint_id = '$id'")
    check "a 410 stops retries at once" [ "$out" = "failed 1" ] || note "$out"
    consumers "$org" 1 gone-after
    out=$(psql_db -c "SELECT count(*) FROM fanfare.webhook_deliveries WHERE endpoint_id = '$id'")
    check "a disabled endpoint gets no new deliveries" [ "$out" = 2 ]
}

t_consecutive_failures() {
    section "consecutive failures disable (--disable-after 5)"
    local org id out
    org=$(new_org "Failing")
    read -r id _ < <(endpoint "$org" /fail-d)
    consumers "$org" 3 failing
    wait_settled "$org" 15
    out=$(psql_db -c "SELECT enabled || ' ' || disabled_reason || ' ' || (consecutive_failures >= 5) FROM fanfare.webhook_endpoints WHERE id = '$id'")
    check "5 failures in a row disable the endpoint" [ "$out" = "false 5 consecutive failures true" ] || note "$out"
    out=$(psql_db -c "SELECT count(*) FILTER (WHERE status = 'pending') > 0 FROM fanfare.webhook_deliveries WHERE endpoint_id = '$id'")
    check "its remaining deliveries wait (pending) for it to be enabled" [ "$out" = t ]
}

# === a slow receiver, the drain ===================================================
t_slow_receiver() {
    section "a slow receiver delays only its own deliveries"
    local org slow ok start out
    org=$(new_org "Slow")
    read -r slow _ < <(endpoint "$org" /slow-s)
    read -r ok _ < <(endpoint "$org" /ok-s)
    start=$(date +%s%3N)
    consumers "$org" 12 slow
    for _ in $(seq 1 50); do
        [ "$(psql_db -c "SELECT count(*) FROM fanfare.webhook_deliveries WHERE endpoint_id = '$ok' AND status = 'delivered'")" = 12 ] && break
        sleep 0.1
    done
    out=$(( $(date +%s%3N) - start ))
    check "12 deliveries to a fast endpoint in under 2.5 s beside 12 to a 3 s one ($out ms)" [ "$out" -lt 2500 ]
    out=$(received /slow-s | wc -l)
    check "at most --per-endpoint (4) requests to the slow one at first ($out)" [ "$out" -le 4 ]
    wait_settled "$org" 20
}

t_drain() {
    section "SIGTERM drains the requests in flight"
    local org id rc out t0
    org=$(new_org "Drain")
    read -r id _ < <(endpoint "$org" /slow-drain)
    kill -TERM "$relay_pid"; wait "$relay_pid" 2>/dev/null
    consumers "$org" 2 drain
    start_relay drain --timeout 5 --retry-schedule 1,1,1
    for _ in $(seq 1 50); do [ "$(received /slow-drain | wc -l)" -ge 2 ] && break; sleep 0.1; done
    t0=$(date +%s%3N)
    kill -TERM "$relay_pid"
    wait "$relay_pid"
    rc=$?
    out=$(psql_db -c "SELECT string_agg(status, ',') FROM fanfare.webhook_deliveries WHERE endpoint_id = '$id'")
    check "the relay exits 0 after its requests in flight finish ($(( $(date +%s%3N) - t0 )) ms)" [ "$rc" = 0 ]
    check "and records them" [ "$out" = "delivered,delivered" ] || note "$out"
    start_relay main --timeout 2 --retry-schedule 1,1,1 --disable-after 5
}

# === the fault run ===============================================================
t_faults() {
    section "faults: random answers, kill -9 of the relay and of the postmaster"
    local org key flaky rare out max_in_flight=16 kills=2
    org=$(new_org "Faults")
    key=$(psql_db -c "SELECT fanfare.rotate_secret_key('$org')")
    read -r flaky _ < <(endpoint "$org" /flaky-f)
    read -r rare _ < <(endpoint "$org" /rare410-f)
    # this run's relays only (the main relay's schedule would fail the flaky endpoint)
    kill -TERM "$relay_pid"; wait "$relay_pid" 2>/dev/null
    start_gateway faults || { fail "gateway for the fault run"; return; }
    local relay_flags=(--timeout 1 --retry-schedule 1,1,1,1,1,1,1,1,1,1,1,1 --max-in-flight $max_in_flight --per-endpoint 8 --disable-after 1000)
    start_relay faults "${relay_flags[@]}"
    fault_relay_pid=$relay_pid
    node "$here/client.mjs" --url "http://127.0.0.1:$port" --key "$key" --tag "wh$RANDOM" --out "$work/client.jsonl" \
        --seconds 10 --connections 4 &
    client_pid=$!
    sleep 3
    kill -KILL "$fault_relay_pid"; wait "$fault_relay_pid" 2>/dev/null
    note "relay killed (kill -9) at ${SECONDS} s"
    start_relay faults "${relay_flags[@]}"
    fault_relay_pid=$relay_pid
    sleep 3
    kill -KILL "$(head -1 "$FANFARE_TEST_DATADIR/postmaster.pid")"
    note "postmaster killed (kill -9) at ${SECONDS} s"
    sleep 1
    suite_cluster_restart >/dev/null 2>&1 || { fail "the cluster restarts"; return; }
    wait "$client_pid"
    client_pid=
    wait_settled "$org" 60 || note "still pending after 60 s: $(pending "$org")"
    kill -TERM "$fault_relay_pid"; wait "$fault_relay_pid" 2>/dev/null
    fault_relay_pid=
    stop_gateway
    psql_db -c "SELECT json_build_object(
        'consumers', (SELECT coalesce(json_agg(c.id), '[]') FROM fanfare.consumers c WHERE c.organization_id = '$org'),
        'events', (SELECT coalesce(json_agg(json_build_object('id', v.id, 'type', v.type)), '[]') FROM fanfare.webhook_events v WHERE v.organization_id = '$org'),
        'deliveries', (SELECT coalesce(json_agg(json_build_object('id', 'whk_' || replace(d.id::text, '-', ''), 'event_id', d.event_id,
                        'endpoint_id', d.endpoint_id, 'status', d.status)), '[]') FROM fanfare.webhook_deliveries d WHERE d.organization_id = '$org'),
        'endpoints', (SELECT json_agg(json_build_object('id', e.id, 'path', regexp_replace(e.url, '^http://[^/]*', ''),
                        'secrets', json_build_array(e.secret), 'disabled_reason', e.disabled_reason, 'subscribed', true))
                      FROM fanfare.webhook_endpoints e WHERE e.organization_id = '$org'))" >"$work/faults-db.json"
    grep -E '"path":"/(flaky|rare410)-f"' "$work/received.jsonl" >"$work/faults-received.jsonl"
    node "$here/audit.mjs" --client "$work/client.jsonl" --received "$work/faults-received.jsonl" --db "$work/faults-db.json" \
        --max-duplicates $((max_in_flight * kills)) >"$work/faults.audit"
    out=$(json_get "$work/faults.audit" '`consumers answered ${s.answeredConsumers}, stored ${s.storedConsumers}, events ${s.events}, 400s ${s.refused400}, requests ${s.requestsReceived}, deliveries ${s.deliveries} (delivered ${s.delivered}), bad signatures ${s.badSignatures}, duplicates ${s.duplicates}, violations ${s.violationCount}${s.violations.length ? ": " + s.violations.slice(0, 3).join("; ") : ""}`')
    note "$out"
    check "fault audit: one event per created consumer, none for a 400, every event delivered (or 410), signatures, ids, duplicates bounded" \
        [ "$(json_get "$work/faults.audit" 's.violationCount === 0 && s.storedConsumers > 0 && s.refused400 > 0')" = true ]
    check "the relay's retries reached the flaky endpoint (500s, timeouts) and its deliveries all settled" \
        [ "$(pending "$org")" = 0 ]
}

setup_webhooks || abort "setup"
for t in ${WEBHOOK_TESTS:-t_grants t_url_rules t_metrics t_signatures t_retry_schedule t_gone t_consecutive_failures t_slow_receiver t_drain t_faults}; do
    "$t"
done
summary webhooks
