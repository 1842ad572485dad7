#!/usr/bin/env bash
# fanfare-import suite: the importer against a real gateway and cluster.
#   - round trip: the same generated rows as NDJSON, a JSON array and CSV,
#     each imported into an organization of its own, store exactly what the
#     same rows posted directly as 500-row batches store (ids and times aside);
#   - crash and resume: kill -9 of the importer at random points, three
#     times, then a run to completion; kill -9 of the gateway, and of the
#     postmaster, during a run; then the audit: every valid row stored once,
#     every invalid row in the rejects file once, nothing else stored;
#   - rejects mapping: a CSV and an NDJSON file with known bad rows give
#     exactly test/import/expected/*.ndjson; an unknown CSV column sends nothing;
#   - hostile input: a truncated file, invalid UTF-8, a 100 MB line, a CSV
#     with mismatched columns: exit 2, the line named, nothing sent past it
#     (and --skip-invalid-lines goes on);
#   - rate limits: against a server that limits requests per window (a small
#     Node server answering as the gateway's rate limits do), never more than
#     one 429 per window, and done; then the same against the gateway, with
#     an organization limited to 6 requests in windows of 4 s;
#   - --postgrest, through a stand-in for PostgREST 12 (test/postgrest/standin.mjs:
#     the JWT verified, PostgREST's statements): round trip, rejects, kill -9
#     and resume, every batch resent with its key, a bad token, 429 pacing;
#   - memory: an NDJSON stream through stdin, peak RSS under 64 MB;
#   - exit statuses: 4 for a refused key, 3 for a server that stays down,
#     2 for a usage error;
#   - --dry-run: the same rejects file as the real run, nothing stored, no
#     state file; against a server that does not apply Prefer: tx=rollback,
#     exit 2 after the probe alone.
#
#   test/import/run.sh       (make check-import) ROWS=100000 rows per format
#                            (issue 21's round trip), a 200 MB stream
#   make import-long         the same rows, a 1 GB stream
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

db=fanfare_import_test
login=fanfare_import_test_login
# shellcheck source=../gateway/lib.sh
. test/gateway/lib.sh
suite_cluster import --restarts || abort "a cluster to test against"
new_work_dir import-test
on_exit stop_helpers
fake_pid=
stop_fake() { [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; return 0; }
on_exit stop_fake

if [ "${FANFARE_IMPORT_LONG:-0}" = 1 ]; then
    rows=${ROWS:-100000}
    stream_mb=${STREAM_MB:-1024}
else
    rows=${ROWS:-100000}
    stream_mb=${STREAM_MB:-200}
fi
importer=$root/src/import/fanfare-import
gen() { node "$root/test/import/gen.mjs" "$@"; }
[ -x "$importer" ] || make -s -C src/import >/dev/null || abort "build src/import"

setup_db || abort "the suite's database"
# kill -9 of the postmaster must not lose a commit the gateway answered 200 for
psql_db -c "ALTER DATABASE $db SET synchronous_commit = on" >/dev/null
# rate limits count in windows of 4 s here, not a minute (the test-only
# setting), so the gateway's limit is met in a few seconds
psql_db -c "ALTER DATABASE $db SET fanfare.rate_limit_window = 4" >/dev/null
# new_org NAME: a new organization and its secret key (sets org, key)
new_org() {
    org=$(psql_db -c "SELECT fanfare.create_organization('$1')") &&
        key=$(psql_db -c "SELECT fanfare.rotate_secret_key('$org')")
}
# stored ORG: the MD5 of its rows without ids, times and the tenant, ordered
# by email (and how many)
stored() {
    psql_db -c "SELECT md5(coalesce(jsonb_agg(to_jsonb(c) - '{id,organization_id,created_at,created_by,updated_at,updated_by}'::text[] ORDER BY email), '[]')::text) || ' ' || count(*)
                FROM fanfare.consumers c WHERE organization_id = '$1'"
}
count_of() { psql_db -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$1'"; }
emails_of() { psql_db -c "SELECT email FROM fanfare.consumers WHERE organization_id = '$1' ORDER BY email"; }
start_gateway main || abort "the gateway"
export FANFARE_URL=http://127.0.0.1:$port
# imp [ARGS...]: the importer, quiet, its stderr in $work/imp.err; sets rc
imp() {
    FANFARE_SECRET_KEY=$key "$importer" --quiet "$@" >"$work/imp.out" 2>"$work/imp.err"
    rc=$?
}

# --- round trip ------------------------------------------------------------------
section "round trip, $rows rows per format"
gen rows "$rows" rt- >"$work/rt.ndjson"
gen json "$rows" rt- >"$work/rt.json"
gen csv "$rows" rt- >"$work/rt.csv"
new_org direct && direct_org=$org
gen direct "$FANFARE_URL" "$key" "$work/rt.ndjson" || fail "round trip: the rows posted directly"
direct=$(stored "$direct_org")
[ "$(count_of "$direct_org")" = "$rows" ] || fail "round trip: the direct batches stored $rows rows"
for fmt in ndjson json csv; do
    new_org "rt-$fmt"
    start=$SECONDS
    imp "$work/rt.$fmt" --output "$work/rt-$fmt.out" --concurrency 4
    if [ "$rc" = 0 ] && [ "$(stored "$org")" = "$direct" ] && [ "$(wc -l <"$work/rt-$fmt.out")" = "$rows" ]; then
        ok "round trip: $fmt ($rows rows in $((SECONDS - start)) s) stores what direct batches store"
    else
        fail "round trip: $fmt" "exit $rc, $(count_of "$org") rows; $(tail -2 "$work/imp.err")"
    fi
done
# --output is in input order
if [ "$(node -e 'const l = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
        process.stdout.write(String(l.every((x, i) => JSON.parse(x).email === `rt-${i}@example.com`)))' "$work/rt-csv.out")" = true ]; then
    ok "round trip: --output lists the created consumers in input order"
else
    fail "round trip: --output lists the created consumers in input order"
fi
# a second run of the same command creates nothing and skips everything
imp "$work/rt.ndjson"
if [ "$rc" = 0 ] && grep -q "created 0, rejected 0, skipped as already done $rows," "$work/imp.err"; then
    ok "round trip: a second run skips what the state file says is done"
else
    fail "round trip: a second run skips what is done" "exit $rc: $(cat "$work/imp.err")"
fi
# a resumed run whose input changed stops before it sends anything
for change in edit shorten; do
    cp "$work/rt.ndjson" "$work/changed-$change.ndjson"
    cp "$work/rt.ndjson.fanfare-import" "$work/changed-$change.ndjson.fanfare-import"
    sed -i '/^complete/d' "$work/changed-$change.ndjson.fanfare-import"
    if [ "$change" = edit ]; then sed -i '3s/"Person 2"/"Person Two"/' "$work/changed-$change.ndjson"
    else head -n -10 "$work/rt.ndjson" >"$work/changed-$change.ndjson"; fi
    before=$(count_of "$org")
    imp "$work/changed-$change.ndjson"
    if [ "$rc" = 2 ] && grep -q "changed since the state file was written" "$work/imp.err" && [ "$(count_of "$org")" = "$before" ]; then
        ok "round trip: a resumed run refuses an input that changed ($change), sending nothing"
    else
        fail "round trip: a resumed run refuses a changed input ($change)" "exit $rc: $(head -c 300 "$work/imp.err")"
    fi
done

# --- crash and resume ------------------------------------------------------------
# The file has an invalid row every 97 rows, and some rows the organization
# already has (posted first).  audit ORG FILE REJECTS: the stored emails are
# exactly the valid rows', each once; the rejects file names each invalid or
# already-stored row exactly once, and no other
audit() {
    local org=$1 file=$2 rejects=$3 want got lines want_lines
    want=$(gen expect "$file")
    got=$(psql_db -c "SELECT lower(email) FROM fanfare.consumers WHERE organization_id = '$org' ORDER BY 1")
    [ "$got" = "$want" ] || { echo "stored: $(echo "$got" | wc -l), want $(echo "$want" | wc -l)"; return 1; }
    lines=$(node -e 'process.stdout.write(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l).line).join("\n"))' "$rejects")
    want_lines=$(awk '(NR - 1) % 97 == 50 || (NR - 1) % 211 == 7 { print NR }' "$file")
    [ "$lines" = "$want_lines" ] || { echo "rejects lines: $(echo "$lines" | wc -l), want $(echo "$want_lines" | wc -l)"; return 1; }
}
# strip_done STATE: the state file as a crash of the machine could leave it
# after a resumed run: its first done record (the compacted one) kept, the
# later ones and "complete" lost (done records are synced lazily)
strip_done() {
    awk '/^done / && seen++ { next } /^complete/ { next } { print }' "$1" >"$1.tmp" && mv "$1.tmp" "$1"
}
# preload ORG_KEY FILE: posts the valid rows i % 211 == 7 directly
preload() {
    awk '(NR - 1) % 211 == 7 && (NR - 1) % 97 != 50' "$2" >"$work/pre.ndjson"
    gen direct "$FANFARE_URL" "$1" "$work/pre.ndjson"
}

section "crash and resume: kill -9 of the importer three times"
crash_rows=${CRASH_ROWS:-5000}
gen rows "$crash_rows" cr- bad >"$work/cr.ndjson"
new_org reference
preload "$key" "$work/cr.ndjson"
imp "$work/cr.ndjson" --state "$work/ref.state" --rejects "$work/ref.rej" --split-rejected --batch-size 25
reference_rc=$rc
check "crash: an uninterrupted run exits 1 (rows rejected)" [ "$rc" = 1 ]
audit "$org" "$work/cr.ndjson" "$work/ref.rej" && ok "crash: the uninterrupted run passes the audit" ||
    fail "crash: the uninterrupted run passes the audit"
new_org crash
preload "$key" "$work/cr.ndjson"
killed=0
journal=$work/cr.ndjson.fanfare-import
for attempt in 1 2 3; do
    FANFARE_SECRET_KEY=$key "$importer" --quiet "$work/cr.ndjson" --rejects "$work/cr.rej" --split-rejected \
        --concurrency 2 --batch-size 25 >/dev/null 2>>"$work/crash.err" &
    pid=$!
    # killed 5 to 20 batches after where the attempt began
    kill_importer_at "$pid" "$journal" $(( $(importer_done "$journal") + 5 + RANDOM % 16 )) &&
        killed=$((killed + 1))
    note "kill -9 $attempt: $(count_of "$org") rows stored, batches done: $(importer_done "$journal")"
done
imp "$work/cr.ndjson" --rejects "$work/cr.rej" --split-rejected --batch-size 25
check "crash: the importer was killed while running, 3 times" [ "$killed" = 3 ]
check "crash: the final run exits 1 (rows rejected)" [ "$rc" = 1 ]
audit "$org" "$work/cr.ndjson" "$work/cr.rej" && ok "crash: every valid row stored once, every invalid row rejected once" ||
    fail "crash: every valid row stored once, every invalid row rejected once"
if cmp -s "$work/cr.rej" "$work/ref.rej"; then ok "crash: the rejects file equals the uninterrupted run's"
else fail "crash: the rejects file equals the uninterrupted run's" "$(diff "$work/cr.rej" "$work/ref.rej" | head -c 300)"; fi

# kill_during NAME COMMAND...: an import of a new copy of the file into a new
# organization, with COMMAND run 0.2 s into it; then the audit
kill_during() {
    local name=$1
    shift
    new_org "$name"
    preload "$key" "$work/cr.ndjson"
    rm -f "$work/cr.ndjson.fanfare-import"
    FANFARE_SECRET_KEY=$key "$importer" --quiet "$work/cr.ndjson" --rejects "$work/$name.rej" --split-rejected \
        --concurrency 2 --batch-size 25 --retries 20 >/dev/null 2>"$work/$name.err" &
    pid=$!
    sleep 0.2
    "$@"
    wait "$pid"
    rc=$?
    check "crash: $name: the import finishes (exit 1, rows rejected)" [ "$rc" = 1 ] || tail -3 "$work/$name.err"
    audit "$org" "$work/cr.ndjson" "$work/$name.rej" && ok "crash: $name: the audit" || fail "crash: $name: the audit"
    grep -q "retried [1-9]" "$work/$name.err" && ok "crash: $name: batches were retried" ||
        fail "crash: $name: batches were retried" "$(tail -1 "$work/$name.err")"
}
restart_gateway() {
    kill -KILL "$gw_pid"
    wait "$gw_pid" 2>/dev/null
    gw_pid=
    sleep 1
    start_gateway main
}
restart_postmaster() {
    cluster_kill "$FANFARE_TEST_DATADIR"
    sleep 1
    suite_cluster_restart
}
section "crash and resume: kill -9 of the gateway, of the postmaster"
kill_during gateway-kill restart_gateway
kill_during postmaster-kill restart_postmaster

# --- rejects mapping -------------------------------------------------------------
section "rejects mapping"
new_org rejects
printf '{"email":"taken@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}\n' >"$work/taken.ndjson"
gen direct "$FANFARE_URL" "$key" "$work/taken.ndjson"
# rejects_case NAME FILE WANT_RC ARGS...: the rejects file equals expected/NAME.ndjson
rejects_case() {
    local name=$1 file=$2 want_rc=$3
    shift 3
    imp "$root/test/import/data/$file" --state "$work/$name.state" --rejects "$work/$name.rej" "$@"
    if [ "$rc" = "$want_rc" ] && cmp -s "$work/$name.rej" "$root/test/import/expected/$name.ndjson"; then
        ok "rejects: $file ${*:-(no options)}: exactly expected/$name.ndjson"
    else
        fail "rejects: $file $*" "exit $rc; $(diff "$work/$name.rej" "$root/test/import/expected/$name.ndjson" | head -c 400)"
    fi
}
rejects_case rejects-csv rejects.csv 1 --split-rejected
check "rejects: the valid CSV rows were created (3 and the one stored before)" [ "$(count_of "$org")" = 4 ]
rejects_case rejects-ndjson rejects.ndjson 1
check "rejects: a rejected batch stores nothing without --split-rejected" [ "$(count_of "$org")" = 4 ]
# --dry-run (Prefer: tx=rollback): the same rejects file as the real run
# just above (which stored nothing of the file), nothing stored, no state file
cp "$root/test/import/data/rejects.ndjson" "$work/dry-rejects.ndjson"
before=$(count_of "$org")
imp "$work/dry-rejects.ndjson" --dry-run --rejects "$work/dry-rejects.rej"
if [ "$rc" = 1 ] && cmp -s "$work/dry-rejects.rej" "$root/test/import/expected/rejects-ndjson.ndjson"; then
    ok "dry run: rejects.ndjson gives exactly the real run's rejects (expected/rejects-ndjson.ndjson)"
else
    fail "dry run: the real run's rejects" "exit $rc; $(diff "$work/dry-rejects.rej" "$root/test/import/expected/rejects-ndjson.ndjson" | head -c 400); $(head -c 300 "$work/imp.err")"
fi
check "dry run: nothing stored, no state file written" \
    [ "$(count_of "$org")/$(ls "$work"/dry-rejects.ndjson.* 2>/dev/null | wc -l)" = "$before/0" ]
imp "$root/test/import/data/unknown.csv" --state "$work/unknown.state"
if [ "$rc" = 2 ] && grep -q 'line 1: unknown column "favouriteColour"' "$work/imp.err" && [ "$(count_of "$org")" = 4 ]; then
    ok "rejects: an unknown CSV column is an error before anything is sent"
else
    fail "rejects: an unknown CSV column" "exit $rc: $(cat "$work/imp.err")"
fi
imp "$root/test/import/data/unknown.csv" --state "$work/unknown2.state" --ignore-unknown-columns
check "rejects: --ignore-unknown-columns sends the rest (a row without its required fields: rejected)" [ "$rc" = 1 ]
before=$(count_of "$org")
gen rows 25 dry- >"$work/dry.ndjson"
imp "$work/dry.ndjson" --dry-run --batch-size 10
check "dry run: a valid file says it would create its 25 rows, and stores none" \
    bash -c '[ "$1" = 0 ] && grep -q "dry run: would create 25, rejected 0" "$2" && [ "$3" = "$4" ]' _ \
    "$rc" "$work/imp.err" "$(count_of "$org")" "$before"
imp "$work/dry.ndjson" --batch-size 10
check "dry run: then the real run creates them" [ "$rc/$(count_of "$org")" = "0/$((before + 25))" ]

# --- hostile input ---------------------------------------------------------------
section "hostile input"
# hostile NAME WANT_RC WANT_STORED PATTERN FILE ARGS...: into a new organization
hostile() {
    local name=$1 want_rc=$2 want_stored=$3 pattern=$4 file=$5
    shift 5
    new_org "hostile-$name"
    if [ "$file" = - ]; then
        "${feed[@]}" | FANFARE_SECRET_KEY=$key /usr/bin/time -f '%M' -o "$work/rss" "$importer" --quiet - \
            --state "$work/h-$name.state" --rejects "$work/h-$name.rej" "$@" >/dev/null 2>"$work/imp.err"
        rc=${PIPESTATUS[1]}
    else
        imp "$file" --state "$work/h-$name.state" --rejects "$work/h-$name.rej" "$@"
    fi
    if [ "$rc" = "$want_rc" ] && [ "$(count_of "$org")" = "$want_stored" ] && grep -q -- "$pattern" "$work/imp.err"; then
        ok "hostile: $name: exit $rc, $want_stored stored, says \"$pattern\""
    else
        fail "hostile: $name" "exit $rc (want $want_rc), $(count_of "$org") stored (want $want_stored): $(head -c 300 "$work/imp.err")"
    fi
}
gen rows 1200 tr- >"$work/full.ndjson"
head -c $(($(head -n 1199 "$work/full.ndjson" | wc -c) + 40)) "$work/full.ndjson" >"$work/truncated.ndjson"
hostile truncated 2 1000 "line 1200: invalid JSON" "$work/truncated.ndjson"
hostile truncated-skip 1 1199 "rejected 1," "$work/truncated.ndjson" --skip-invalid-lines
{ head -n 6 "$work/full.ndjson"; printf '{"email":"bad\xff@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}\n'
  sed -n '7,20p' "$work/full.ndjson"; } >"$work/utf8.ndjson"
hostile invalid-utf8 2 0 "line 7: invalid JSON" "$work/utf8.ndjson"
hostile invalid-utf8-skip 1 20 "rejected 1," "$work/utf8.ndjson" --skip-invalid-lines
printf 'email,fullName,emailVerified,phoneVerified,status\na@example.com,A,true,false,ACTIVE\nb@example.com,B,true,false,ACTIVE\nc@example.com,C,true\nd@example.com,D,true,false,ACTIVE\n' >"$work/mismatch.csv"
hostile csv-mismatched 2 0 "line 4: the record has 3 cells, the header 5" "$work/mismatch.csv"
hostile csv-mismatched-skip 1 3 "rejected 1," "$work/mismatch.csv" --skip-invalid-lines
printf 'email,fullName\n"a@example.com,A\n' >"$work/open-quote.csv"
hostile csv-open-quote 2 0 "truncated file" "$work/open-quote.csv"
{ echo '['; sed -n '1,10p' "$work/full.ndjson" | sed 's/$/,/'; echo '{"email":"cut@exa'; } >"$work/truncated.json"
hostile json-truncated 2 0 "ends inside the JSON array" "$work/truncated.json"
feed=(node "$root/test/import/gen.mjs" huge 100)
hostile 100mb-line 2 0 "line 1: row longer than 16777216 bytes" -
check "hostile: the 100 MB line cost at most 64 MB of RSS ($(tail -1 "$work/rss") kB)" [ "$(tail -1 "$work/rss")" -lt 65536 ]
hostile 100mb-line-skip 1 1 "rejected 1," - --skip-invalid-lines
check "hostile: skipping the 100 MB line cost at most 64 MB of RSS ($(tail -1 "$work/rss") kB)" [ "$(tail -1 "$work/rss")" -lt 65536 ]

# --- exit statuses ---------------------------------------------------------------
section "exit statuses"
FANFARE_SECRET_KEY=sk_live_$(printf 'x%.0s' $(seq 1 43)) "$importer" --quiet "$work/full.ndjson" \
    --state "$work/auth.state" >/dev/null 2>"$work/imp.err"
rc=$?
check "exit 4 when the gateway refuses the key ($(head -1 "$work/imp.err"))" [ "$rc" = 4 ]
FANFARE_SECRET_KEY=$key "$importer" --quiet --url http://127.0.0.1:1 --retries 2 "$work/full.ndjson" \
    --state "$work/down.state" >/dev/null 2>"$work/imp.err"
rc=$?
check "exit 3 when the server stays unreachable ($(head -1 "$work/imp.err"))" [ "$rc" = 3 ]
FANFARE_SECRET_KEY=$key "$importer" --quiet "$work/full.ndjson" --batch-size 501 >/dev/null 2>&1
check "exit 2 for a batch size over the server's 500" [ "$?" = 2 ]

# --- rate limits -----------------------------------------------------------------
# start_fake MODE: the Node stand-in for a gateway (gen.mjs server); sets fake_url
start_fake() {
    rm -f "$work/fake.port"
    LIMIT=10 node "$root/test/import/gen.mjs" server "$1" "$work/fake.port" "$work/fake-$1.log" &
    fake_pid=$!
    for _ in $(seq 1 50); do [ -s "$work/fake.port" ] && break; sleep 0.1; done
    fake_url=http://127.0.0.1:$(cat "$work/fake.port")
}
section "rate limits"
start_fake ratelimit
gen rows 400 rl- >"$work/rl.ndjson"
FANFARE_SECRET_KEY=sk_test_fake "$importer" --quiet --url "$fake_url" "$work/rl.ndjson" --batch-size 10 \
    --concurrency 4 >/dev/null 2>"$work/rl.err"
rc=$?
stop_fake
fake_pid=
worst=$(awk '$2 == 429 { n[$1]++ } END { m = 0; for (w in n) if (n[w] > m) m = n[w]; print m }' "$work/fake-ratelimit.log")
windows=$(awk '{ print $1 }' "$work/fake-ratelimit.log" | sort -u | wc -l)
if [ "$rc" = 0 ] && [ "$worst" -le 1 ] && [ "$(grep -c ' 200$' "$work/fake-ratelimit.log")" = 40 ]; then
    ok "rate limits: 40 batches at 10 a second: done in $windows windows, at most $worst 429 in any"
else
    fail "rate limits: at most one 429 per window" "exit $rc, worst window $worst 429s; $(tail -1 "$work/rl.err")"
fi
# against the gateway itself: an organization limited to 6 requests a window
new_org ratelimit
psql_db -c "SELECT fanfare.set_rate_limit('$org', 6)" >/dev/null
curl -s -D "$work/probe.h" -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data '{"consumers":[]}' "$FANFARE_URL/consumers/batch"
limit=$(grep -i '^X-RateLimit-Limit:' "$work/probe.h" | tr -dc 0-9)
if [ "$limit" != 6 ]; then
    fail "rate limits: the gateway's" "its answer carries no X-RateLimit-Limit: 6: $(tr -d '\r' <"$work/probe.h" | tr '\n' ' ')"
else
    gen rows "$((limit * 3))" gwrl- >"$work/gwrl.ndjson"
    # the windows start on multiples of 4 s of the clock: at most one 429 in
    # each window the run touched
    t0=$(date +%s)
    imp "$work/gwrl.ndjson" --batch-size 1 --concurrency 4
    t1=$(date +%s)
    windows=$((t1 / 4 - t0 / 4 + 1))
    got429=$(sed -n 's/.*(429: \([0-9]*\)).*/\1/p' "$work/imp.err")
    if [ "$rc" = 0 ] && [ "${got429:-99}" -le "$windows" ] && [ "$(count_of "$org")" = $((limit * 3)) ]; then
        ok "rate limits: the gateway's, $((limit * 3)) one-row batches at 6 a window: all created, $got429 429s in $windows windows"
    else fail "rate limits: the gateway's" "exit $rc, ${got429:-?} 429s in $windows windows, $(count_of "$org") stored; $(tail -1 "$work/imp.err")"; fi
fi

# --dry-run against a server that answers 200 without Preference-Applied
# (an older gateway, PostgREST without the override): only the probe is sent
section "dry run against a server that does not honour Prefer: tx=rollback"
start_fake ok
FANFARE_SECRET_KEY=sk_test_fake "$importer" --quiet --url "$fake_url" "$work/dry.ndjson" --dry-run \
    --batch-size 10 >/dev/null 2>"$work/dry-fake.err"
rc=$?
stop_fake
fake_pid=
if [ "$rc" = 2 ] && [ "$(wc -l <"$work/fake-ok.log")" = 1 ] && grep -q "does not honour Prefer: tx=rollback" "$work/dry-fake.err"; then
    ok "dry run: exit 2 and one request (the empty probe) when the preference is not applied"
else
    fail "dry run: refused when the preference is not applied" "exit $rc, $(wc -l <"$work/fake-ok.log") requests: $(head -c 300 "$work/dry-fake.err")"
fi

# --- --postgrest -----------------------------------------------------------------
# No PostgREST binary is packaged for Debian 12 (nor on npm): the importer
# talks to test/postgrest/standin.mjs, which verifies the JWT as PostgREST
# does and runs the statements PostgREST 12 sends (test/postgrest/statements.mjs,
# the replay suite's), as an authenticator role that switches to the token's
# role.  FANFARE_STANDIN_DROP=idempotency-key (or x-ratelimit-limit) makes the
# stand-in lose that header, and the checks below that depend on it fail.
section "--postgrest, through a stand-in for PostgREST 12"
pgrst_start=$SECONDS
pg_auth=fanfare_import_authenticator
pg_role=fanfare_import_web
pg_secret=$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64url"))')
psql_db >/dev/null <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$pg_auth') THEN
        CREATE ROLE $pg_auth LOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$pg_role') THEN
        CREATE ROLE $pg_role NOLOGIN;
    END IF;
END
\$\$;
GRANT fanfare_api TO $pg_role;
GRANT $pg_role TO $pg_auth;
SQL
# jwt ORG [SECRET]: an HS256 token of the role for ORG (sub: the importer)
jwt() {
    node -e 'const c = require("crypto"), [org, secret, role] = process.argv.slice(1);
        const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
        const t = `${b({alg: "HS256", typ: "JWT"})}.${b({role, organization_id: org, sub: "fanfare-import",
            exp: Math.floor(Date.now() / 1000) + 3600})}`;
        process.stdout.write(`${t}.${c.createHmac("sha256", secret).update(t).digest("base64url")}`);' \
        "$1" "${2:-$pg_secret}" "$pg_role"
}
pgrst_pid=
stop_pgrst() { [ -n "$pgrst_pid" ] && kill "$pgrst_pid" 2>/dev/null; pgrst_pid=; return 0; }
on_exit stop_pgrst
rm -f "$work/pgrst.port"
PGDATABASE=$db PGUSER=$pg_auth FANFARE_STANDIN_JWT_SECRET=$pg_secret \
    node "$root/test/postgrest/standin.mjs" "$work/pgrst.port" "$work/pgrst.log" 2>"$work/pgrst.err" &
pgrst_pid=$!
for _ in $(seq 1 50); do [ -s "$work/pgrst.port" ] && break; sleep 0.1; done
pgrst_url=http://127.0.0.1:$(cat "$work/pgrst.port" 2>/dev/null)
# pimp ORG [ARGS...]: the importer with --postgrest and ORG's token (like imp)
pimp() {
    local org=$1
    shift
    FANFARE_SECRET_KEY=$(jwt "$org") "$importer" --quiet --postgrest --url "$pgrst_url" "$@" \
        >"$work/imp.out" 2>"$work/imp.err"
    rc=$?
}
# round trip: the same rows as the gateway's round trip, the same stored rows
new_org pgrst-rt
pimp "$org" "$work/rt.ndjson" --state "$work/pgrst-rt.state" --concurrency 4
if [ "$rc" = 0 ] && [ "$(stored "$org")" = "$direct" ]; then
    ok "postgrest: $rows rows store what direct batches through the gateway store"
else
    fail "postgrest: round trip" "exit $rc, $(count_of "$org") rows; $(tail -2 "$work/imp.err")"
fi
check "postgrest: the rows carry the token's sub as createdBy" \
    [ "$(psql_db -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$org' AND created_by = 'fanfare-import'")" = "$rows" ]
# rejects and resume: the crash file (invalid rows, rows stored before), kill
# -9 once the journal says 5 to 20 batches are done, then a run to the end
new_org pgrst-crash
pg_org=$org
preload "$key" "$work/cr.ndjson"
cp "$work/cr.ndjson" "$work/pgrst-cr.ndjson"
pg_token=$(jwt "$pg_org")
FANFARE_SECRET_KEY=$pg_token "$importer" --quiet --postgrest --url "$pgrst_url" "$work/pgrst-cr.ndjson" \
    --rejects "$work/pgrst-cr.rej" --split-rejected --concurrency 2 --batch-size 25 >/dev/null 2>"$work/pgrst-crash.err" &
pid=$!
kill_importer_at "$pid" "$work/pgrst-cr.ndjson.fanfare-import" $((5 + RANDOM % 16)) && killed_pg=1 || killed_pg=0
pimp "$pg_org" "$work/pgrst-cr.ndjson" --rejects "$work/pgrst-cr.rej" --split-rejected --batch-size 25
check "postgrest: killed while running ($(count_of "$pg_org") rows at the end), the resumed run exits 1 (rows rejected)" \
    [ "$killed_pg/$rc" = 1/1 ]
audit "$pg_org" "$work/pgrst-cr.ndjson" "$work/pgrst-cr.rej" &&
    ok "postgrest: after kill -9 and resume, every valid row stored once, every invalid row rejected once" ||
    fail "postgrest: after kill -9 and resume, every valid row stored once, every invalid row rejected once"
if cmp -s "$work/pgrst-cr.rej" "$work/ref.rej"; then ok "postgrest: the rejects file equals the gateway's uninterrupted run's"
else fail "postgrest: the rejects file equals the gateway's" "$(diff "$work/pgrst-cr.rej" "$work/ref.rej" | head -c 300)"; fi
# a run that lost the done records of the resumed run (all but the first,
# which the resumed run's journal starts with): it sends those batches again
# with the keys their send records name, each is answered from the stored
# key, nothing is created twice
strip_done "$work/pgrst-cr.ndjson.fanfare-import"
before=$(count_of "$pg_org")
: >"$work/pgrst.log"
pimp "$pg_org" "$work/pgrst-cr.ndjson" --rejects "$work/pgrst-cr.rej" --split-rejected --batch-size 25
if [ "$rc" = 1 ] && [ "$(count_of "$pg_org")" = "$before" ] && cmp -s "$work/pgrst-cr.rej" "$work/ref.rej" &&
    [ "$(grep -c '^200 fi-' "$work/pgrst.log")" -ge 100 ]; then
    ok "postgrest: every batch sent again with its Idempotency-Key: $(grep -c '^200 fi-' "$work/pgrst.log") answered 200, none created twice, the same rejects"
else
    fail "postgrest: batches sent again with their keys" "exit $rc, $before -> $(count_of "$pg_org") rows; $(diff "$work/pgrst-cr.rej" "$work/ref.rej" | head -c 200); $(tail -1 "$work/imp.err")"
fi
# a token signed with another secret: 401 from the stand-in, exit 4
FANFARE_SECRET_KEY=$(jwt "$pg_org" not-the-secret) "$importer" --quiet --postgrest --url "$pgrst_url" "$work/full.ndjson" \
    --state "$work/pgrst-auth.state" >/dev/null 2>"$work/imp.err"
rc=$?
check "postgrest: a token with a wrong signature is refused: exit 4 ($(head -c 120 "$work/imp.err"))" [ "$rc" = 4 ]
# 429 pacing: organizations limited to 3 requests in windows of 4 s; the
# X-RateLimit-* headers come through PostgREST's response.headers
new_org pgrst-probe
psql_db -c "SELECT fanfare.set_rate_limit('$org', 3)" >/dev/null
curl -s -D "$work/pgrst-probe.h" -o /dev/null -H "Authorization: Bearer $(jwt "$org")" -H 'Content-Type: application/json' \
    --data '{"consumers":[]}' "$pgrst_url/rpc/post_consumers_batch"
check "postgrest: the answer carries X-RateLimit-Limit: 3 (from response.headers)" \
    grep -qi '^X-RateLimit-Limit: 3' "$work/pgrst-probe.h"
new_org pgrst-ratelimit
psql_db -c "SELECT fanfare.set_rate_limit('$org', 3)" >/dev/null
gen rows 6 pgrl- >"$work/pgrl.ndjson"
t0=$(date +%s)
pimp "$org" "$work/pgrl.ndjson" --state "$work/pgrl.state" --batch-size 1 --concurrency 3
t1=$(date +%s)
windows=$((t1 / 4 - t0 / 4 + 1))
got429=$(sed -n 's/.*(429: \([0-9]*\)).*/\1/p' "$work/imp.err")
if [ "$rc" = 0 ] && [ "${got429:-99}" -le "$windows" ] && [ "$(count_of "$org")" = 6 ]; then
    ok "postgrest: rate limits: 6 one-row batches at 3 a window: all created, $got429 429s in $windows windows"
else fail "postgrest: rate limits" "exit $rc, ${got429:-?} 429s in $windows windows, $(count_of "$org") stored; $(tail -1 "$work/imp.err")"; fi
stop_pgrst
note "--postgrest checks: $((SECONDS - pgrst_start)) s"

# --- memory ----------------------------------------------------------------------
section "memory: $stream_mb MB of NDJSON through stdin"
start_fake ok
node "$root/test/import/gen.mjs" big "$stream_mb" |
    FANFARE_SECRET_KEY=sk_test_fake /usr/bin/time -f '%M' -o "$work/rss" "$importer" --quiet --url "$fake_url" - \
        >/dev/null 2>"$work/mem.err"
rc=${PIPESTATUS[1]}
stop_fake
fake_pid=
rss=$(tail -1 "$work/rss")
if [ "$rc" = 0 ] && [ "$rss" -lt 65536 ]; then
    ok "memory: $stream_mb MB streamed with a peak RSS of $rss kB (< 64 MB); $(sed -n 's/.*: \(created [0-9]*\).*/\1/p' "$work/mem.err") rows"
else
    fail "memory: $stream_mb MB under 64 MB" "exit $rc, $rss kB: $(tail -2 "$work/mem.err")"
fi

stop_gateway
summary import
