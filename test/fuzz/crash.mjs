// Crash resistance: random and hostile JSON through fanfare.validate_consumers
// and fanfare.create_consumers.  Any answer is fine (issues, rows, an ERROR);
// what must never happen is a lost connection (a backend killed by a signal,
// a server restart) or a statement that does not finish.
//
//   node crash.mjs [--seed S] [--n N]
//
// The cases: nesting as deep as jsonb accepts (and deeper) at every position,
// huge arrays, numbers like 1e400, -0, 1e-400 and 100 000 digits, every JSON
// type at every position, long strings and keys, many keys, U+0000 and lone
// surrogates, text that is not JSON at all, and seeded random JSON.  Each
// case runs in a transaction that is rolled back, under a fresh tenant, with
// fanfare.max_issues at its default (100) or at 100000.  Prints per-category
// counts, then the amplification check (issues per byte of body must not grow
// with the body: see amplification()), then "N passed, M failed" (M = lost
// connections, timeouts and a quadratic amplification); the caller checks the
// server log (run.sh).

import { randomUUID } from 'node:crypto';
import { connect, configureSession } from '../conformance/common.mjs';
import { Rng, print, raw, obj, arr, anyString, numberText, KINDS, validConsumer } from './gen.mjs';

const opts = { seed: 1, n: 3000 };
{
  const args = process.argv.slice(2);
  while (args.length) {
    const a = args.shift();
    if (a === '--seed') opts.seed = Number(args.shift());
    else if (a === '--n') opts.n = Number(args.shift());
    else {
      console.error('usage: node crash.mjs [--seed S] [--n N]');
      process.exit(2);
    }
  }
}

const MINIMAL = () => [['emailVerified', true], ['phoneVerified', true], ['status', 'ACTIVE']];
const TYPES = () => [null, true, false, raw('0'), raw('-0'), raw('1e400'), raw('-1e400'), raw('1e-400'), '', 'x', arr([]), obj([]), arr([obj([])]), obj([['a', arr([])]])];

// Places `value` at one position of an otherwise valid body.
const POSITIONS = {
  body: (v) => v,
  consumers: (v) => obj([['consumers', v]]),
  element: (v) => obj([['consumers', arr([v])]]),
  field: (v, name = 'fullName') => obj([['consumers', arr([obj([...MINIMAL(), [name, v]])])]]),
  metadata: (v) => obj([['consumers', arr([obj([...MINIMAL(), ['metadata', v]])])]]),
  metadataValue: (v) => obj([['consumers', arr([obj([...MINIMAL(), ['metadata', obj([['k', v]])]])])]]),
  metadataItem: (v) => obj([['consumers', arr([obj([...MINIMAL(), ['metadata', obj([['k', arr([1, v])]])]])])]]),
  geo: (v) => obj([['consumers', arr([obj([...MINIMAL(), ['lastGeoCoordinates', v]])])]]),
  latitude: (v) => obj([['consumers', arr([obj([...MINIMAL(), ['lastGeoCoordinates', obj([['latitude', v], ['longitude', 0]])]])])]]),
  extraKey: (v) => obj([['consumers', arr([obj([...MINIMAL(), ['zzz', v]])])]]),
  topExtra: (v) => obj([['consumers', arr([])], ['zzz', v]]),
};

function nestText(depth, kind) {
  if (kind === 'array') return '['.repeat(depth) + ']'.repeat(depth);
  if (kind === 'object') return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  return '[{"a":'.repeat(depth) + '1' + '}]'.repeat(depth);
}

// The hostile cases, as {category, text}: first a fixed list, then random ones.
function* cases(r) {
  // every JSON type at every position, and at every field
  for (const [pos, place] of Object.entries(POSITIONS)) for (const v of TYPES()) yield { category: 'type x position', text: print(place(v)) };
  for (const name of Object.keys(KINDS)) for (const v of TYPES()) yield { category: 'type x field', text: print(POSITIONS.field(v, name)) };

  // nesting, up to and past what jsonb accepts (PostgreSQL stops it with
  // "stack depth limit exceeded")
  for (const depth of [10, 100, 1000, 5000, 10000, 20000, 50000, 100000, 1000000]) {
    for (const kind of ['array', 'object', 'mixed']) {
      for (const pos of ['body', 'consumers', 'element', 'field', 'metadata', 'metadataValue', 'metadataItem', 'geo', 'latitude', 'extraKey']) {
        if (depth >= 100000 && !['body', 'metadataValue'].includes(pos)) continue;
        yield { category: `nesting ${depth}`, text: print(POSITIONS[pos](raw(nestText(depth, kind)))) };
      }
    }
  }

  // numbers
  const numbers = ['1e400', '-1e400', '-0', '1e-400', '-1e-400', '1e999999999', '-0.0e-0', '0.' + '0'.repeat(5000) + '1',
    '9'.repeat(1000), '1' + '0'.repeat(100000), '-' + '9'.repeat(100000), '1.' + '3'.repeat(100000), '1e-99999999', '4.9e-324',
    '2.4703282292062327e-324', '1.7976931348623157e308', '1.7976931348623159e308', '123456789012345678901234567890e-30'];
  for (const t of numbers) {
    for (const pos of ['body', 'consumers', 'element', 'metadata', 'metadataValue', 'metadataItem', 'latitude', 'extraKey']) yield { category: 'numbers', text: print(POSITIONS[pos](raw(t))) };
    for (const name of Object.keys(KINDS)) yield { category: 'numbers', text: print(POSITIONS.field(raw(t), name)) };
  }

  // sizes: huge arrays (the max_length issue carries the whole array), long strings, many keys
  for (const n of [501, 10000, 100000]) {
    yield { category: 'huge arrays', text: print(obj([['consumers', arr(Array.from({ length: n }, () => obj(MINIMAL())))]])) };
    yield { category: 'huge arrays', text: print(obj([['consumers', arr(Array.from({ length: n }, () => null))]])) };
    yield { category: 'huge arrays', text: print(obj([['consumers', arr(Array.from({ length: n }, (_, i) => obj([...MINIMAL(), ['activityRank', i % 7], ['email', `e${i}@x.io`]])))]])) };
    yield { category: 'huge arrays', text: print(POSITIONS.metadataValue(arr(Array.from({ length: n }, (_, i) => i)))) };
  }
  yield { category: 'huge arrays', text: print(obj([['consumers', arr(Array.from({ length: 501 }, (_, i) => obj([...MINIMAL(), ['email', 'same@x.io'], ['n', i]])))]])) };
  for (const len of [1000, 100000, 1000000, 3000000]) {
    const s = 'x'.repeat(len);
    yield { category: 'long strings', text: print(POSITIONS.field(s)) };
    yield { category: 'long strings', text: print(POSITIONS.field(s, 'email')) };
    yield { category: 'long strings', text: print(POSITIONS.field(s, 'status')) };
    yield { category: 'long strings', text: print(POSITIONS.field(s, 'lastLoginAt')) };
    yield { category: 'long strings', text: print(POSITIONS.field(s, 'aov')) };
    yield { category: 'long strings', text: print(POSITIONS.metadata(obj([[s, 1]]))) };
    yield { category: 'long strings', text: print(POSITIONS.extraKey(obj([[s, s]]))) };
    yield { category: 'long strings', text: print(obj([['consumers', arr([obj([...MINIMAL(), [s, 1]])])]])) };
  }
  for (const n of [1000, 100000]) {
    const keys = Array.from({ length: n }, (_, i) => [`k${i}`, i % 2 ? obj([]) : i]);
    const scalars = Array.from({ length: n }, (_, i) => [`k${i}`, i]);
    // bad values: every issue repeats the metadata object, so only 1000 of them
    yield { category: 'many keys', text: print(POSITIONS.metadata(obj(n > 1000 ? scalars : keys))) };
    yield { category: 'many keys', text: print(obj([['consumers', arr([obj([...MINIMAL(), ...keys])])]])) };
    yield { category: 'many keys', text: print(obj([['consumers', arr([])], ...keys])) };
  }
  // 100 bad metadata values in each of 100 elements: the issue cap
  yield { category: 'many issues', text: print(obj([['consumers', arr(Array.from({ length: 100 }, () => obj([...MINIMAL(), ['metadata', obj(Array.from({ length: 100 }, (_, i) => [`k${i}`, obj([])]))]])))]])) };

  // text jsonb rejects, and text that is not JSON
  for (const s of ['"\\u0000"', '"\\ud800"', '"\\udfff"', '"\\ud800\\u0041"', '"a\\u0000b"']) {
    for (const pos of ['body', 'field', 'metadataValue', 'extraKey']) yield { category: 'not jsonb', text: print(POSITIONS[pos](raw(s))) };
  }
  for (const t of ['', ' ', '{', '[', '{"consumers":', '{"consumers":[}', 'NaN', 'Infinity', '-', '01', '1.', '.5', "{'a':1}", '{"a":1,}', '[1,]',
    'nul', 'tru', '"\\x"', '"\t"', '\u0000', '{"consumers":[{"a":1}]}}', '\ufeff{}', '[' + '1,'.repeat(1000) + ']']) {
    yield { category: 'not JSON', text: t };
  }

  // seeded random JSON, in every position
  for (let i = 0; i < opts.n; i++) {
    const pos = r.pick(Object.keys(POSITIONS));
    yield { category: 'random', text: print(POSITIONS[pos](randomJson(r, 0))) };
    if (i % 4 === 0) {
      const els = Array.from({ length: r.int(1, 20) }, () => (r.chance(0.8) ? validConsumer(r, { unique: i * 100 }, r.float()) : randomJson(r, 2)));
      for (const e of els) if (e && e.t === 'obj' && r.chance(0.5)) e.e.push([r.pick(Object.keys(KINDS)), randomJson(r, 1)]);
      yield { category: 'random batches', text: print(obj([['consumers', arr(els)]])) };
    }
  }
}

// Bytes of issues per byte of body for a metadata array of n bad items:
// Valibot's wire form repeats the array in the path of every item's issue,
// so it grows with n squared.  Returns [{n, body, issues}].
async function amplification(client) {
  const out = [];
  for (const n of [100, 200, 400, 800, 1600]) {
    const text = print(POSITIONS.metadataValue(arr(Array.from({ length: n }, () => obj([])))));
    await client.query('BEGIN');
    try {
      await client.query("SELECT set_config('fanfare.organization_id', $1, true)", [randomUUID()]);
      const { rows } = await client.query('SELECT length(fanfare.validate_consumers($1::jsonb)::text) AS n', [text]);
      out.push({ n, body: text.length, issues: Number(rows[0].n) });
    } finally {
      await client.query('ROLLBACK');
    }
  }
  return out;
}

function randomJson(r, depth) {
  const k = r.int(0, depth > 6 ? 3 : 6);
  switch (k) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return raw(numberText(r));
    case 3: return anyString(r);
    case 4: return arr(Array.from({ length: r.int(0, 5) }, () => randomJson(r, depth + 1)));
    case 5: return obj(Array.from({ length: r.int(0, 5) }, () => [r.chance(0.5) ? r.pick(Object.keys(KINDS)) : anyString(r), randomJson(r, depth + 1)]));
    default: return raw(nestText(r.pick([2, 10, 100, 1000]), r.pick(['array', 'object', 'mixed'])));
  }
}

async function main() {
  const client = await connect();
  client.on('error', () => {});
  await configureSession(client, { actor: 'crash-test' });
  await client.query("SET statement_timeout = '120s'");
  const r = new Rng(opts.seed, 0xc4a5);
  const by = new Map();
  const bad = [];
  let total = 0;
  const t0 = Date.now();
  for (const c of cases(r)) {
    total++;
    const stat = by.get(c.category) ?? { cases: 0, errors: 0, answers: 0, ms: 0 };
    const c0 = Date.now();
    by.set(c.category, stat);
    stat.cases++;
    // a high cap only where the issues stay small
    const maxIssues = /random|type|numbers/.test(c.category) && total % 3 === 0 ? 100000 : 100;
    for (const fn of ['validate_consumers', 'create_consumers']) {
      try {
        await client.query('BEGIN');
        await client.query("SELECT set_config('fanfare.organization_id', $1, true), set_config('fanfare.max_issues', $2, true)", [randomUUID(), String(maxIssues)]);
        await client.query(`SELECT length(fanfare.${fn}($1::jsonb)::text) AS n`, [c.text]);
        stat.answers++;
      } catch (e) {
        if (e.code === '57014' || /terminat|ECONNRESET|Connection|not queryable/i.test(e.message)) {
          bad.push(`${c.category} case ${total} ${fn}: ${e.code ?? ''} ${e.message} (body ${c.text.length} chars: ${c.text.slice(0, 200)})`);
          if (e.code !== '57014') {
            console.log(`crash: ${bad[bad.length - 1]}`);
            console.log(`crash: ${total} cases, connection lost`);
            console.log(`${total - 1} passed, 1 failed`);
            process.exitCode = 1;
            return;
          }
        } else {
          stat.errors++;
        }
      } finally {
        await client.query('ROLLBACK').catch(() => {});
      }
    }
    stat.ms += Date.now() - c0;
  }
  for (const [cat, s] of by) console.log(`crash: ${cat}: ${s.cases} cases, ${s.answers} answers, ${s.errors} SQL errors (${(s.ms / 1000).toFixed(1)} s)`);
  for (const b of bad) console.log(`TIMEOUT ${b}`);
  console.log(`crash: ${total} cases (x2 functions) in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${bad.length} timeouts, no connection lost`);

  // amplification: linear output keeps issues/body constant as n grows
  const amp = await amplification(client);
  await client.end();
  for (const a of amp) console.log(`amplification: metadata array of ${a.n} bad items: body ${a.body} bytes, issues ${a.issues} bytes (${(a.issues / a.body).toFixed(0)}x)`);
  const growth = (amp[amp.length - 1].issues / amp[amp.length - 1].body) / (amp[0].issues / amp[0].body);
  const quadratic = growth > 4;
  console.log(`amplification: issues/body grew ${growth.toFixed(1)}x for a ${amp[amp.length - 1].n / amp[0].n}x longer array: ${quadratic
    ? 'QUADRATIC: a body of ~30 KB (10 000 bad items) makes the backend build ~0.5 GB of issues and more in memory; the OOM killer ended it (signal 9) and the whole cluster restarted'
    : 'linear'}`);
  const failed = bad.length + (quadratic ? 1 : 0);
  console.log(`${total - bad.length + (quadratic ? 0 : 1)} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.error(`crash: ${e.stack || e.message}`);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
