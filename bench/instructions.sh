#!/usr/bin/env bash
# bench/instructions.sh: what one call costs the backend, in instructions.
#
#   bench/instructions.sh [--rows N] [--out FILE]
#
# Wall-clock ratios on a shared two-core machine move by 10-20% from run to
# run; instruction counts do not move at all.  This runs a throwaway cluster
# whose backends run under valgrind's callgrind, counting only inside
# fanfare.import_consumers (the wire path, its response counted in the
# server: SELECT count(*)) and inside COPY FROM STDIN of the same rows as
# CSV (contender (c) of bench/run.sh), after a 1-row call of each, and writes a
# table of instructions per call and per consumer, split into the steps of
# each call.  Instructions are not time (a cache miss costs more than an
# add), so this shows where the work is and whether a change removed some,
# not the rows/s ratio.  About a minute for the default 2 000 rows.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/lib.sh
. tools/lib.sh

rows=2000
out=bench/results/instructions.md
while [ $# -gt 0 ]; do
    case $1 in
        --rows) rows=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/instructions.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
    echo "bench/instructions.sh: valgrind is missing (tools/deps.sh installs it)" >&2
    exit 1
fi

build_and_install >/dev/null
bindir=$("$PG_CONFIG" --bindir)
new_work_dir instructions
mkdir "$work/cg"
chmod 777 "$work" "$work/cg"

# the postmaster, wrapped: every backend under callgrind, counting only
# inside the two functions
cat >"$work/postgres" <<WRAP
#!/bin/sh
exec valgrind --quiet --tool=callgrind --trace-children=yes --collect-atstart=no \\
    --toggle-collect=fanfare_import_consumers --toggle-collect=CopyFrom \\
    --callgrind-out-file=$work/cg/callgrind.%p $bindir/postgres "\$@"
WRAP
chmod 755 "$work/postgres"
port=$(free_port)
data=$work/data
on_exit cluster_stop "$data" -t 300
FANFARE_FAST_CLUSTER=1 cluster_start "$data" "$port" >/dev/null
cluster_stop "$data"
cluster_start "$data" "$port" -p "$work/postgres" -o "-c autovacuum=off -c jit=off" -t 600 >/dev/null
cluster_use "$data" "$port"

createdb fanfare_instructions
psql_q -d fanfare_instructions -c "CREATE EXTENSION fanfare" >/dev/null
organization=$(psql_q -d fanfare_instructions -c "SELECT fanfare.create_organization('instructions')")
node bench/gen.mjs "$work/set" "$rows" "$organization" >/dev/null
body=$work/set/payload-$rows.0.json
csv=$work/set/rows-$rows.0.csv
columns=$(cat "$work/set/copy-columns.txt")

head -1 "$csv" >"$work/one.csv"
chmod a+r "$work"/set/* "$work/one.csv"

# session SQL: a 1-row call of each kind first (plans, caches), then, with
# "full", the measured calls; the table is emptied before each
session() {
    local full=$1
    psql -X -At -v ON_ERROR_STOP=1 -d fanfare_instructions <<SQL | tail -1
SET fanfare.organization_id = '$organization';
SET fanfare.max_batch_size = 1000000;
SELECT count(*) FROM fanfare.import_consumers('{"consumers":[{"status":"ACTIVE","emailVerified":true,"phoneVerified":true}]}');
TRUNCATE fanfare.consumers CASCADE;
\copy fanfare.consumers ($columns) FROM '$work/one.csv' (FORMAT csv)
TRUNCATE fanfare.consumers CASCADE;
$( [ "$full" = full ] && printf '%s\n' "\\set body \`cat $body\`" \
    "SELECT count(*) FROM fanfare.import_consumers(:'body');" \
    "TRUNCATE fanfare.consumers CASCADE;" \
    "\\copy fanfare.consumers ($columns) FROM '$csv' (FORMAT csv)" \
    "TRUNCATE fanfare.consumers CASCADE;" )
SELECT pg_backend_pid();
SQL
}
# the warm-up alone in one backend, warm-up and measured calls in another:
# the measured calls cost the difference (the same build and state give
# the same counts)
warm=$(session warm)
full=$(session full)
cluster_stop "$data" -t 300
for pid in "$warm" "$full"; do
    [ -s "$work/cg/callgrind.$pid" ] || { echo "bench/instructions.sh: no profile of backend $pid" >&2; exit 1; }
    callgrind_annotate --inclusive=yes --threshold=100 "$work/cg/callgrind.$pid" >"$work/inclusive.$pid.txt"
done
mkdir -p "$(dirname "$out")"
node - "$work/inclusive.$warm.txt" "$work/inclusive.$full.txt" "$rows" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" >"$out" <<'NODE'
const [warmFile, fullFile, rows, commit] = process.argv.slice(2);
const fs = require('fs');
const texts = [fs.readFileSync(warmFile, 'utf8'), fs.readFileSync(fullFile, 'utf8')];
const n = Number(rows);
// inclusive Ir of a function in the measured call: the full session's
// count less the warm-up session's (0 when it is not there)
const count = (text, name) => {
  const m = text.match(new RegExp('^\\s*([\\d,]+) \\([^)]*\\)\\s+\\S*:' + name + ' ', 'm'));
  return m ? Number(m[1].replace(/,/g, '')) : 0;
};
const ir = (name) => count(texts[1], name) - count(texts[0], name);
const fmt = (x) => (x / 1e6).toFixed(1);
const per = (x) => Math.round(x / n).toLocaleString('en-US');
const wire = ir('fanfare_import_consumers');
const copy = ir('CopyFrom');
const steps = [
  ['wire path: the whole call', wire],
  ['· reading the text (json_text_read)', ir('json_text_read')],
  ['· the batch walk: every consumer decoded, judged and staged (validate_batch)', ir('validate_batch')],
  ['· · decoding (consumer_record_decode)', ir('consumer_record_decode')],
  ['· · staging: the row packed, the email kept (add_consumer)', ir('add_consumer')],
  ['· inserting the staged rows (staged_rows_insert)', ir('staged_rows_insert')],
  ['· printing the response rows (response_texts_next)', ir('response_texts_next')],
  ['COPY FROM STDIN, CSV: the whole call', copy],
  ['· parsing each line into a row (NextCopyFrom)', ir('NextCopyFrom')],
  ['· inserting (the rest of CopyFrom)', copy - ir('NextCopyFrom')],
];
const lines = [
  '# fanfare: instructions per call',
  '',
  `${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}, commit ${commit}, ${n.toLocaleString('en-US')} consumers from bench/gen.mjs; \`bench/instructions.sh\`.`,
  'Instructions executed by the backend (valgrind callgrind, inclusive), after a 1-row call of each kind; the wire path\'s',
  'response is counted in the server (`SELECT count(*)`), not sent. Deterministic: the same build and rows give the same',
  'counts on any load. Not a time: memory traffic costs more per instruction for the insert than for the parse.',
  '',
  '| step | M instructions | per consumer |',
  '|---|---:|---:|',
  ...steps.filter(([, v]) => v > 0).map(([name, v]) => `| ${name} | ${fmt(v)} | ${per(v)} |`),
  '',
  `Wire path / COPY: **${(wire / copy).toFixed(2)}×** the instructions of COPY for the same rows.`,
];
console.log(lines.join('\n'));
NODE
cat "$out"
