// report.mjs: turns the raw numbers of bench/run.sh into the markdown report
// and the chart's data file.
//
//   node bench/report.mjs RAWDIR RESULTSDIR
//
// Reads RAWDIR/contenders.tsv (bench-driver lines labelled
// contender/setting), RAWDIR/inserver.tsv (target, rows, round, ms per
// call, 0.1.0's commit), RAWDIR/floors.tsv and floors-host.txt (the wire
// path's parts timed alone), RAWDIR/gateway.tsv and RAWDIR/meta.tsv; writes
// RESULTSDIR/latest.md and RAWDIR/chart.dat (rows/s per contender, setting
// and batch size, for bench/chart.gp).  Times are medians over the rounds;
// memory is the largest round.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [rawDir, resultsDir] = process.argv.slice(2);
const tsv = (name) => {
  const p = join(rawDir, name);
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
};
const meta = Object.fromEntries(tsv('meta.tsv').map(([k, ...v]) => [k, v.join('\t')]));

const CONTENDERS = [
  ['wire', 'fanfare wire path'],
  ['fanfare', 'fanfare jsonb path'],
  ['plain', '(a) plain SQL'],
  ['plpgsql', '(b) PL/pgSQL'],
  ['copy', '(c) COPY'],
];
const SETTINGS = [
  ['new', 'a new connection per call'],
  ['persistent', 'a persistent connection'],
];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, digits = 0) =>
  x === undefined || Number.isNaN(x) ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (x) => fmt(x, x < 10 ? 2 : x < 100 ? 1 : 0);
const mb = (kb) => fmt(kb / 1024, 1);

// results[contender][rows] = {ms, rowsPerSec, msPerRow, rounds, privatePeakKb, hwmKb, hwmDeltaKb, bytes}
const results = {};
const groups = new Map();
for (const [label, rows, , t, hwmBefore, hwmAfter, anonBefore, anonPeak, bytes] of tsv('contenders.tsv')) {
  const key = `${label}\t${rows}`;
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push({ t: +t, hwmBefore: +hwmBefore, hwmAfter: +hwmAfter, anonBefore: +anonBefore, anonPeak: +anonPeak, bytes: +bytes });
}
for (const [key, rounds] of groups) {
  const [label, rowsText] = key.split('\t');
  const rows = +rowsText;
  const t = median(rounds.map((r) => r.t));
  (results[label] ??= {})[rows] = {
    ms: t,
    rowsPerSec: rows / (t / 1000),
    msPerRow: t / rows,
    rounds: rounds.length,
    privatePeakKb: Math.max(...rounds.map((r) => r.anonPeak - r.anonBefore)),
    hwmKb: Math.max(...rounds.map((r) => r.hwmAfter)),
    hwmDeltaKb: Math.max(...rounds.map((r) => r.hwmAfter - r.hwmBefore)),
    bytes: rounds[0].bytes,
  };
}
const sizes = [...new Set(Object.values(results).flatMap((r) => Object.keys(r).map(Number)))].sort((a, b) => a - b);
const get = (label, rows) => results[label]?.[rows];
const at = (contender, setting, rows) => get(`${contender}/${setting}`, rows);

const out = [];
out.push('# fanfare benchmark');
out.push('');
out.push(`${meta.quick === '1' ? '**Quick run (CI size), not the reference numbers.** ' : ''}` +
  `Run ${meta.date} on ${meta.cpu}, PostgreSQL ${meta.postgres}, commit ${meta.commit}; ` +
  `\`${meta.command.trim()}\`. Rounds: ${meta.rounds}; medians shown. Load average ${meta.load}.`);
out.push('');
{
  const cores = parseInt(meta.cpu, 10);
  // the load at the end counts the gateway part's own 32-client cells, so
  // other work shows in the load at the start and before the gateway part
  const loads = (meta.load || '').match(/^(\S+) .* at the start, (\S+) .* before the gateway part/);
  if (cores && loads && Math.max(+loads[1], +loads[2]) > cores) {
    out.push(`**The machine was busy** (1-minute load above its ${cores} cores before the gateway part): ` +
      'other work shared the CPUs, so single numbers are noisy; compare contenders within this run only.');
    out.push('');
  } else if (cores && loads) {
    out.push(`1-minute load within the ${cores} cores at the start and before the gateway part; ` +
      'the load at the end includes the gateway part\'s own 32-client cells.');
    out.push('');
  }
}
out.push('Throwaway cluster with `fsync = off` (tools/cluster.sh, FANFARE_FAST_CLUSTER=1). ' +
  'Each timed call is one statement sent by `bench/driver.c` (libpq, body as a text parameter of a generic plan, ' +
  '`plan_cache_mode = force_generic_plan`, as the gateway sends it; COPY streams the CSV), measured from sending to having the whole result ' +
  '(the wire path\'s one row per consumer included); ' +
  'the table is truncated once per round, before an untimed 1-row warm-up call; a round of a small batch is 2 000 / rows calls (at most 200), each with its own consumers, averaged. ' +
  'Two settings: a **new connection** per round, and a **persistent connection**, one that has already made an untimed call of the same size ' +
  '(as a pooled connection has: its memory is already mapped). fanfare, (a) and (b) run as a non-owner role ' +
  'member of `fanfare_api`, so row-level security applies; (c) runs as the owner (no RLS, no ' +
  'validation, no response).');
out.push('');

// --- throughput tables, one per setting
for (const [setting, name] of SETTINGS) {
  out.push(`## Throughput on ${name}: ms per batch, rows/s`);
  out.push('');
  out.push(`| rows | ${CONTENDERS.map(([, cname]) => cname).join(' | ')} |`);
  out.push(`|---:|${CONTENDERS.map(() => '---:').join('|')}|`);
  for (const n of sizes) {
    out.push(`| ${fmt(n)} | ${CONTENDERS.map(([c]) => {
      const r = at(c, setting, n);
      return r ? `${ms(r.ms)} ms · ${fmt(r.rowsPerSec)} rows/s` : '–';
    }).join(' | ')} |`);
  }
  out.push('');
}
out.push('![rows/s by batch size](latest.svg)');
out.push('');

// --- targets
const targets = [];
const ratio = (a, b, setting, n) => {
  const x = at(a, setting, n);
  const y = at(b, setting, n);
  return x && y ? x.rowsPerSec / y.rowsPerSec : undefined;
};
const verdict = (ok) => (ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');
const times = (r) => (r === undefined ? '–' : `${fmt(r, 2)}×`);
// issue 18: the wire path at least as fast as COPY (0.9× with a new connection per call)
const COPY_TARGET = { new: 0.9, persistent: 1.0 };
for (const [setting, sname] of SETTINGS) {
  const r = ratio('wire', 'copy', setting, 10000);
  targets.push([`wire path ≥ 0.5× (c) COPY rows/s at 10,000 rows, ${sname}`, times(r), verdict(r === undefined ? undefined : r >= 0.5)]);
  targets.push([`issue 18: wire path ≥ ${fmt(COPY_TARGET[setting], 1)}× (c) COPY rows/s at 10,000 rows, ${sname}`,
    times(r), verdict(r === undefined ? undefined : r >= COPY_TARGET[setting])]);
  for (const n of [500, 10000]) {
    const a = ratio('wire', 'plain', setting, n);
    targets.push([`wire path ≥ 3× (a) plain SQL rows/s at ${fmt(n)} rows, ${sname}`, times(a), verdict(a === undefined ? undefined : a >= 3)]);
    const b = ratio('wire', 'plpgsql', setting, n);
    targets.push([`wire path ≥ 5× (b) PL/pgSQL rows/s at ${fmt(n)} rows, ${sname}`, times(b), verdict(b === undefined ? undefined : b >= 5)]);
  }
}
{
  const b = at('wire', 'new', 100000);
  const r = b ? (b.privatePeakKb * 1024) / b.bytes : undefined;
  targets.push(['wire path: peak private backend memory for 100,000 rows ≤ 3× the request',
    r === undefined ? '–' : `${mb(b.privatePeakKb)} MB for a ${fmt(b.bytes / 1048576, 1)} MB request: ${fmt(r, 2)}×`,
    verdict(r === undefined ? undefined : r <= 3)]);
}
for (const [setting, sname] of SETTINGS) {
  const a = at('wire', setting, 500);
  const b = at('wire', setting, 100000);
  const r = a && b ? b.msPerRow / a.msPerRow : undefined;
  targets.push([`linear: wire path µs/row at 100,000 within 1.25× of µs/row at 500, ${sname}`,
    r === undefined ? '–' : `${fmt(b.msPerRow * 1000, 1)} µs vs ${fmt(a.msPerRow * 1000, 1)} µs per row: ${fmt(r, 2)}×`,
    verdict(r === undefined ? undefined : r <= 1.25)]);
}

// in-server: create_consumers(jsonb) of this build, of 0.1.0 and (a), by size:
// inserver[target][rows] = {ref, ms: [one per round]}
const INSERVER = [['current', 'this build'], ['baseline', '0.1.0'], ['plain', '(a) plain SQL'], ['insert', 'floor: its rows inserted alone']];
const inserver = {};
for (const [target, rows, , t, ref] of tsv('inserver.tsv')) {
  ((inserver[target] ??= {})[+rows] ??= { ref, ms: [] }).ms.push(+t);
}
const inserverSizes = [...new Set(Object.values(inserver).flatMap((x) => Object.keys(x).map(Number)))].sort((a, b) => a - b);
const inserverMs = (target, rows) => (inserver[target]?.[rows] ? median(inserver[target][rows].ms) : undefined);
const baselineRef = Object.values(inserver.baseline ?? {})[0]?.ref ?? '?';
// ms per call with three decimals below 1 ms (the 1-row call)
const msFine = (x) => (x !== undefined && x < 1 ? fmt(x, 3) : ms(x));
{
  const n = inserverSizes.length ? inserverSizes[inserverSizes.length - 1] : undefined;
  const cur = inserverMs('current', n);
  const old = inserverMs('baseline', n);
  const r = cur !== undefined && old !== undefined ? cur / old : undefined;
  targets.push([`create_consumers(jsonb), the body already jsonb in the server: no slower than 0.1.0 (${baselineRef})`,
    r === undefined ? (meta.inserver_note || '–') : `${ms(cur)} ms vs ${ms(old)} ms for ${fmt(n)} consumers: ${fmt(r, 2)}× the time`,
    verdict(r === undefined ? undefined : r <= 1.0)]);
}
for (const n of [500, 10000]) {
  const cur = inserverMs('current', n);
  const a = inserverMs('plain', n);
  const r = cur !== undefined && a !== undefined ? a / cur : undefined;
  targets.push([`issue 18: create_consumers(jsonb), the body already jsonb in the server, ≥ 5× (a) plain SQL rows/s (its body jsonb too) at ${fmt(n)} rows`,
    r === undefined ? (meta.inserver_note || '–') : `${ms(cur)} ms vs ${ms(a)} ms: ${fmt(r, 2)}×`,
    verdict(r === undefined ? undefined : r >= 5)]);
}
{
  const cur = inserverMs('current', 1);
  const old = inserverMs('baseline', 1);
  const r = cur !== undefined && old !== undefined ? cur / old : undefined;
  targets.push([`issue 18: the 1-row create_consumers(jsonb) call in the server no slower than 0.1.0 (${baselineRef}): ratio of medians ≤ 1.10 (noise)`,
    r === undefined ? (meta.inserver_note || '–') : `${msFine(cur)} ms vs ${msFine(old)} ms: ${fmt(r, 2)}× the time`,
    verdict(r === undefined ? undefined : r <= 1.1)]);
}

// gateway rows: gw[tool][rows][conns]
const gw = {};
for (const [tool, rows, conns, requests, duration, p50, p99, errors] of tsv('gateway.tsv')) {
  ((gw[tool] ??= {})[rows] ??= {})[conns] = {
    rps: +requests / +duration, rowsPerSec: (+requests * +rows) / +duration, p50: +p50, p99: +p99, errors: +errors,
  };
}
const gwRatio = (rows, conns, key) => {
  const w = gw.wrk?.[rows]?.[conns];
  const p = gw.pgbench?.[rows]?.[conns];
  return w && p ? w[key] / p[key] : undefined;
};
{
  const r = gwRatio(500, 8, 'rowsPerSec');
  targets.push(['gateway 500-row batches at 8 connections ≥ 0.8× pgbench rows/s', r === undefined ? '–' : `${fmt(r, 2)}×`, verdict(r === undefined ? undefined : r >= 0.8)]);
}
{
  const r = gwRatio(1, 8, 'rps');
  targets.push(['gateway 1-row batches at 8 connections ≥ 0.7× pgbench transactions/s', r === undefined ? '–' : `${fmt(r, 2)}×`, verdict(r === undefined ? undefined : r >= 0.7)]);
}

out.push('## Targets');
out.push('');
out.push('| target | measured | |');
out.push('|---|---|---|');
for (const [t, m, v] of targets) out.push(`| ${t} | ${m} | ${v} |`);
out.push('');

// --- ratios at every size
out.push('## The wire path against each contender (rows/s ratio)');
out.push('');
out.push('| rows | connection | wire/jsonb path | wire/(a) | wire/(b) | wire/(c) | wire µs/row |');
out.push('|---:|---|---:|---:|---:|---:|---:|');
for (const n of sizes) {
  for (const [setting] of SETTINGS) {
    const f = at('wire', setting, n);
    const cell = (c) => times(ratio('wire', c, setting, n));
    out.push(`| ${fmt(n)} | ${setting} | ${cell('fanfare')} | ${cell('plain')} | ${cell('plpgsql')} | ${cell('copy')} | ${f ? fmt(f.msPerRow * 1000, 1) : '–'} |`);
  }
}
out.push('');

// --- the wire path's floors (floors.tsv: bench-driver lines, part/setting)
const floors = {};
for (const [label, rows, , t] of tsv('floors.tsv')) ((floors[label] ??= { rows: +rows, ms: [] }).ms.push(+t));
if (Object.keys(floors).length) {
  const n = Object.values(floors)[0].rows;
  const f = (label) => (floors[label] ? median(floors[label].ms) : undefined);
  const host = tsv('floors-host.txt')[0];
  out.push(`## The wire path's floors at ${fmt(n)} rows`);
  out.push('');
  out.push('Parts of the wire path\'s call, each timed alone as a statement of its own, ' +
    `rounds interleaved (${Object.values(floors)[0].ms.length}), medians. *Persistent*: a connection that has made such a call before. ` +
    'Receiving the body and inserting the rows come one after the other in any implementation that takes the body as one ' +
    'parameter and inserts with the table\'s guarantees, so their sum is a floor: the time such a call takes if reading, ' +
    'checking and answering cost nothing. Sending the response overlaps the server\'s work (rows go out as they are made; ' +
    'the client stores them on the other core), so it is shown, not added.');
  out.push('');
  out.push('| part | new connection, ms | persistent, ms |');
  out.push('|---|---:|---:|');
  const row = (what, label, settings = ['new', 'persistent']) =>
    out.push(`| ${what} | ${['new', 'persistent'].map((s) => (settings.includes(s) ? ms(f(`${label}/${s}`)) : '')).join(' | ')} |`);
  row('receiving the body as a text parameter: `SELECT octet_length($1)`', 'receive');
  row(`inserting the call's ${fmt(n)} rows: \`INSERT … SELECT\` of the same rows, as \`bench_api\` (row-level security, constraints, triggers)`, 'insert');
  const floorAt = (s) => (f(`receive/${s}`) !== undefined && f(`insert/${s}`) !== undefined ? f(`receive/${s}`) + f(`insert/${s}`) : undefined);
  out.push(`| **floor: receive + insert** | **${ms(floorAt('new'))}** | **${ms(floorAt('persistent'))}** |`);
  out.push(`| (c) COPY of the same rows, as the owner (the throughput table) | ${ms(at('copy', 'new', n)?.ms)} | ${ms(at('copy', 'persistent', n)?.ms)} |`);
  out.push(`| the wire path (the throughput table; the client holds the whole result) | ${ms(at('wire', 'new', n)?.ms)} | ${ms(at('wire', 'persistent', n)?.ms)} |`);
  row(`sending the call's ${fmt(n)} response rows alone, read back from a table (the client holds them all)`, 'send', ['persistent']);
  row('the whole call, the response counted in the server instead of sent', 'counted', ['persistent']);
  row('the whole call, its rows read one at a time (libpq single-row mode, as the gateway)', 'single-row', ['persistent']);
  out.push('');
  for (const [s, target] of [['new', 0.9], ['persistent', 1.0]]) {
    const floor = floorAt(s), copy = at('copy', s, n)?.ms, wire = at('wire', s, n)?.ms;
    if (floor === undefined || copy === undefined) continue;
    out.push(`- ${s === 'new' ? 'New connection' : 'Persistent connection'}: with the body as one parameter the wire path can reach at most ` +
      `**${fmt(copy / floor, 2)}×** COPY's rows/s (COPY ${ms(copy)} ms / floor ${ms(floor)} ms; issue 18's target ${fmt(target, 1)}×)` +
      (wire === undefined ? '.' : `; reading, checking, staging and answering add ${ms(wire - floor)} ms to the floor.`));
  }
  if (host)
    out.push(`- On this host a 4 kB page of fresh memory costs ${fmt(+host[0], 2)} µs to fault in and ${fmt(+host[1], 2)} µs ` +
      `to copy once resident (\`bench-driver --page-fault-cost\`): ${fmt(+host[0] / +host[1], 0)}×. ` +
      'Every megabyte a call moves through fresh allocations (the Bind message, the parameter\'s copy, the client\'s result) pays that.');
  out.push('');
}

// --- memory
out.push('## Peak backend memory');
out.push('');
out.push('*Private peak*: the largest RssAnon of the backend, sampled every millisecond during the call, ' +
  'minus its value before the call; it includes what PostgreSQL itself holds for the call (the Bind message and ' +
  'the parameter: about 2× the request, before any function runs). ' +
  '*VmHWM*: the backend\'s peak resident set read from /proc right after the call; it also counts the ' +
  'shared buffers the backend touched (the table and index pages it wrote). ' +
  '*wire path, custom plan*: the wire path with libpq\'s default plan mode, which copies the body into the plan once more.');
out.push('');
out.push('| contender | connection | rows | request MB | private peak MB | private / request | VmHWM MB (growth during call) |');
out.push('|---|---|---:|---:|---:|---:|---:|');
for (const [c, name] of [...CONTENDERS, ['wire-custom', 'fanfare wire path, custom plan']]) {
  for (const [setting] of SETTINGS) {
    for (const n of sizes.filter((x) => x >= 10000)) {
      const r = at(c, setting, n);
      if (!r) continue;
      out.push(`| ${name} | ${setting} | ${fmt(n)} | ${fmt(r.bytes / 1048576, 1)} | ${mb(r.privatePeakKb)} | ${fmt((r.privatePeakKb * 1024) / r.bytes, 2)}× | ${mb(r.hwmKb)} (+${mb(r.hwmDeltaKb)}) |`);
    }
  }
}
out.push('');

// --- in the server
out.push('## create_consumers(jsonb) in the server, against 0.1.0 and (a)');
out.push('');
if (!inserver.current || !inserver.baseline || !inserver.plain) {
  out.push(meta.inserver_note || 'Not measured.');
} else {
  const rounds = inserver.current[inserverSizes[0]].ms.length;
  out.push('The body already jsonb in the server (read into a temporary table), each call timed in a DO block: ' +
    '`fanfare.create_consumers(body)` of this build and of the 0.1.0 library ' +
    `(${baselineRef}, built from git history, in a database of its own), and (a), the statement of \`bench/plain_sql.sql\` ` +
    'with the body as a jsonb variable of the block in place of `$1`. All three run as `bench_api` (`SET ROLE` after the bodies are read), a non-owner member of ' +
    '`fanfare_api`, so row-level security applies, with `plan_cache_mode = force_generic_plan`. Per size: an untimed warm-up call, ' +
    'then 3 passes over as many bodies as a driver round uses (each call its own consumers), the table truncated after each pass; ' +
    `a round counts its best pass's mean per call. ${rounds} rounds, the three contenders interleaved; medians shown.`);
  out.push('');
  out.push(`| rows | this build | 0.1.0 (${baselineRef}) | (a) plain SQL | this build / (a), rows/s | this build / 0.1.0, time | floor: its rows inserted alone | most this build could reach / (a) |`);
  out.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
  const cell = (target, n) => {
    const t = inserverMs(target, n);
    return t === undefined ? '–' : `${msFine(t)} ms · ${fmt(n / (t / 1000))} rows/s`;
  };
  for (const n of inserverSizes) {
    const cur = inserverMs('current', n), old = inserverMs('baseline', n), a = inserverMs('plain', n);
    const floor = inserverMs('insert', n);
    out.push(`| ${fmt(n)} | ${cell('current', n)} | ${cell('baseline', n)} | ${cell('plain', n)} | ` +
      `${cur && a ? fmt(a / cur, 2) + '×' : '–'} | ${cur && old ? fmt(cur / old, 2) + '×' : '–'} | ` +
      `${floor ? msFine(floor) + ' ms' : '–'} | ${floor && a ? fmt(a / floor, 2) + '×' : '–'} |`);
  }
  out.push('');
  out.push('*Floor*: the rows each call of this build stores (made by running the call once beforehand, as the owner), ' +
    'inserted alone by `bench_api` in the same DO blocks (one static `INSERT … SELECT` per call, same passes and timing): ' +
    'row-level security, constraints, indexes and triggers as for the call. Reading, checking, staging and answering come before ' +
    'and after the insert, so (a) / floor is the most this build could reach if they cost nothing.');
  for (const n of inserverSizes) {
    const cur = inserverMs('current', n), a = inserverMs('plain', n), floor = inserverMs('insert', n);
    if (!cur || !a || !floor) continue;
    const need = a / 5 - floor;
    out.push(`- ${fmt(n)} rows: the insert takes ${msFine(floor)} of the call's ${msFine(cur)} ms; everything else ${msFine(cur - floor)} ms ` +
      `(${fmt(((cur - floor) * 1000) / n, 1)} µs per consumer). 5× (a) needs the call at ${msFine(a / 5)} ms: ` +
      (need > 0 ? `everything but the insert in ${msFine(need)} ms (${fmt((need * 1000) / n, 1)} µs per consumer).`
        : 'less than the insert alone takes, out of reach whatever the rest costs.'));
  }
  out.push('');
  out.push('Rounds, ms per call:');
  out.push('');
  out.push('| rows | contender | rounds (ms) |');
  out.push('|---:|---|---|');
  for (const n of inserverSizes) {
    for (const [target, name] of INSERVER) {
      const x = inserver[target]?.[n];
      if (x) out.push(`| ${fmt(n)} | ${name} | ${x.ms.map((v) => msFine(v)).join(', ')} |`);
    }
  }
}
out.push('');

// --- gateway
out.push('## Gateway (wrk) against pgbench issuing the same SQL');
out.push('');
if (meta.gateway_note) {
  out.push(`Not measured: ${meta.gateway_note}.`);
} else {
  out.push(`\`wrk\` POSTs a fixed body to \`fanfare-gateway\` (${meta.duration} s per cell); \`pgbench\` ` +
    'runs the gateway\'s statement, `SELECT fanfare.api_import_consumers(key, convert_to(body, \'UTF8\')), current_setting(...)`, with the gateway\'s session settings ' +
    '(`statement_timeout`, `plan_cache_mode = force_generic_plan`): for 1-row bodies prepared, with the key and body bound (`-M prepared`), as the gateway prepares it; ' +
    'a 500-row body is too large for pgbench to bind, so it goes as a literal (`-M simple`). Bodies omit `email`, so requests never collide on the unique email index; ' +
    'the table is truncated before every cell. Latencies in ms. The gateway runs with its defaults ' +
    `(${(meta.gateway_start || '').replace(/^fanfare-gateway: /, '')}); wrk and pgbench use 2 threads (1 at 1 connection), on the same machine.`);
  out.push('');
  out.push('| rows/batch | connections | gateway req/s | gateway rows/s | p50 | p99 | pgbench tx/s | pgbench rows/s | p50 | p99 | gateway/pgbench |');
  out.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const rows of ['1', '500']) {
    for (const conns of ['1', '8', '32']) {
      const w = gw.wrk?.[rows]?.[conns];
      const p = gw.pgbench?.[rows]?.[conns];
      if (!w && !p) continue;
      const r = gwRatio(rows, conns, 'rps');
      const err = (x) => (x && x.errors ? ` (${x.errors} errors)` : '');
      out.push(`| ${rows} | ${conns} | ${w ? fmt(w.rps) + err(w) : '–'} | ${w ? fmt(w.rowsPerSec) : '–'} | ${w ? fmt(w.p50, 2) : '–'} | ${w ? fmt(w.p99, 2) : '–'} | ` +
        `${p ? fmt(p.rps) + err(p) : '–'} | ${p ? fmt(p.rowsPerSec) : '–'} | ${p ? fmt(p.p50, 2) : '–'} | ${p ? fmt(p.p99, 2) : '–'} | ${r === undefined ? '–' : fmt(r, 2) + '×'} |`);
    }
  }
}
out.push('');

// --- Idempotency-Key
{
  const idem = {};
  for (const [mode, rows, round, requests, duration, p50, p99, errors] of tsv('idempotency.tsv'))
    ((idem[rows] ??= {})[mode] ??= []).push({ rps: +requests / +duration, p50: +p50, p99: +p99, errors: +errors });
  if (Object.keys(idem).length) {
    out.push('## Idempotency-Key: what a key costs over HTTP');
    out.push('');
    out.push('The same `wrk` requests at 8 connections, without a key and with a fresh `Idempotency-Key` on every request ' +
      '(each one a first request: looked up, then stored with the batch), alternating, ' +
      `${meta.quick === '1' ? 'one round' : 'three rounds'} of ${meta.duration} s each; medians of the rounds. Latencies in ms.`);
    out.push('');
    out.push('| rows/batch | req/s without | req/s with a key | with/without | p50 without | p50 with | p99 without | p99 with |');
    out.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const rows of ['1', '500']) {
      const a = idem[rows]?.none, b = idem[rows]?.key;
      if (!a || !b) continue;
      const m = (xs, k) => median(xs.map((x) => x[k]));
      const err = (xs) => { const e = xs.reduce((s, x) => s + x.errors, 0); return e ? ` (${e} errors)` : ''; };
      out.push(`| ${rows} | ${fmt(m(a, 'rps'))}${err(a)} | ${fmt(m(b, 'rps'))}${err(b)} | ${fmt(m(b, 'rps') / m(a, 'rps'), 2)}× | ` +
        `${fmt(m(a, 'p50'), 2)} | ${fmt(m(b, 'p50'), 2)} | ${fmt(m(a, 'p99'), 2)} | ${fmt(m(b, 'p99'), 2)} |`);
    }
    out.push('');
  }
}

// --- through a router (bench/router.sh)
{
  const rt = {};
  for (const [target, measure, rate, p50, p99, errors] of tsv('router.tsv'))
    (rt[measure] ??= {})[target] = { rate: +rate, p50: p50 === '' ? undefined : +p50, p99: p99 === '' ? undefined : +p99, errors: +errors };
  out.push('## Through a router: 1 and 2 shards against a single node');
  out.push('');
  if (meta.router_note || !rt.http500) {
    out.push(`Not measured: ${meta.router_note || 'no router results'}.`);
  } else {
    const names = [['single', 'single node'], ['router1', 'router, 1 shard'], ['router2', 'router, 2 shards']];
    const rel = (m, t) => (rt[m]?.[t] && rt[m]?.single ? `${fmt(rt[m][t].rate / rt[m].single.rate, 2)}×` : '–');
    const err = (x) => (x?.errors ? ` (${x.errors} errors)` : '');
    out.push('The same work on the single-node database and through a `fanfare_router` database (PL/Proxy) over one shard, then over two ' +
      '(each shard a cluster of its own on this machine; the router database is on the single node\'s cluster). Two tenants in parallel ' +
      'everywhere; over two shards, one tenant on each. 500-row batches: `wrk`, 4 connections per tenant, ' +
      `${meta.duration} s, through a gateway with 8 database connections (bodies without \`email\`). 10 000 rows: one \`fanfare.import_consumers\` call per tenant, ` +
      'both at once, best of 3 rounds. One-row calls: `pgbench`, one client, `api_import_consumers` prepared: the router\'s cost per call is the ' +
      'difference of the mean latencies. This machine has 2 cores for every cluster, the gateway and the load generators: no speed-up from a ' +
      'second shard is expected here, only the overhead.');
    out.push('');
    out.push('| target | 500-row batches, rows/s | vs single | p50 ms | p99 ms | 10 000 rows from SQL, rows/s | vs single | wall ms | 1-row calls/s | ms per call |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const [t, label] of names) {
      const h = rt.http500?.[t], q = rt.sql10000?.[t], c = rt.call1?.[t];
      out.push(`| ${label} | ${h ? fmt(h.rate) + err(h) : '–'} | ${rel('http500', t)} | ${h ? fmt(h.p50, 2) : '–'} | ${h ? fmt(h.p99, 2) : '–'} | ` +
        `${q ? fmt(q.rate) : '–'} | ${rel('sql10000', t)} | ${q ? fmt(q.p50) : '–'} | ${c ? fmt(c.rate) + err(c) : '–'} | ${c?.p50 !== undefined ? fmt(c.p50, 3) : '–'} |`);
    }
    const s1 = rt.call1?.single?.p50, r1 = rt.call1?.router1?.p50;
    if (s1 !== undefined && r1 !== undefined) {
      out.push('');
      out.push(`Router overhead per call (1-row batch, one client): **${fmt(r1 - s1, 3)} ms** (${fmt(s1, 3)} ms on the single node, ${fmt(r1, 3)} ms through the router: ` +
        'authentication and placement on the router, one PL/Proxy round trip to the shard, the rows passed back through PL/pgSQL).');
    }
  }
  out.push('');
}

// --- instructions per call (bench/instructions.sh; full runs only)
const instructions = join(rawDir, 'instructions.md');
if (existsSync(instructions)) {
  out.push('## Instructions per call: the wire path against COPY');
  out.push('');
  out.push(...readFileSync(instructions, 'utf8').trim().split('\n').filter((l) => !l.startsWith('# ')).slice(1));
  out.push('');
}

// --- how the contenders differ
out.push('## Contenders');
out.push('');
out.push('- **fanfare wire path**: `SELECT fanfare.import_consumers($1)`: the body read as JSON text, strict validation, duplicate-email check, defaults, one INSERT, one created consumer per row as compact JSON text in the document\'s key order.');
out.push('- **fanfare jsonb path**: `SELECT fanfare.create_consumers($1)`: the same, with the body cast to jsonb by PostgreSQL first and the response returned as one jsonb value.');
out.push('- **(a) plain SQL** (`bench/plain_sql.sql`): `INSERT ... SELECT FROM jsonb_to_recordset($1->\'consumers\') RETURNING *` + `jsonb_agg(to_jsonb(row))`; no validation, snake_case response.');
out.push('- **(b) PL/pgSQL** (`bench/plpgsql_contender.sql`): the strict validation in a loop over the elements, duplicate-email check, one set-based INSERT, camelCase response with `jsonb_build_object`. It raises on the **first** invalid element instead of listing every issue. ' +
  `Verdicts against the conformance cases (bench/check_plpgsql.sql): ${meta.plpgsql_check}; the known differences are a number that underflows (1e-400) and UTC offsets beyond ±15:59, which timestamptz rejects.`);
out.push('- **(c) COPY**: `COPY fanfare.consumers (...) FROM STDIN (FORMAT csv)` of the same rows, defaults filled in by the generator, as the table owner.');
out.push('');
out.push('Raw numbers: `bench/results/raw/` (not committed). Regenerate with `make bench` (or `bench/run.sh --help`).');
if (meta.with_fanfare === '0') {
  out.push('');
  out.push('**This run used `--without-fanfare`**: the table came from contract/consumers.sql with SQL stand-ins for the tenant functions (bench/standin.sql); fanfare itself was not measured.');
}
out.push('');

writeFileSync(join(resultsDir, 'latest.md'), out.join('\n'));

// chart data: batch size, then rows/s per contender and setting (NaN where not measured)
const chart = ['# rows ' + CONTENDERS.flatMap(([c]) => SETTINGS.map(([st]) => `${c}/${st}`)).join(' ')];
for (const n of sizes) {
  chart.push([n, ...CONTENDERS.flatMap(([c]) => SETTINGS.map(([st]) => (at(c, st, n) ? at(c, st, n).rowsPerSec.toFixed(1) : 'NaN')))].join(' '));
}
writeFileSync(join(rawDir, 'chart.dat'), chart.join('\n') + '\n');
