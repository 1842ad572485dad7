// Differential fuzzer: seeded request bodies through fanfare.validate_consumers
// and fanfare.create_consumers, compared with Valibot 1.5.0 running the
// project's strict schema (test/conformance/schema-strict.mjs).
//
//   node fuzz.mjs --seed S --n N [--start I] [--jobs J] [--progress SECONDS]
//   node fuzz.mjs --seed S --case I            one case: its body, then its check
//   node fuzz.mjs --seed S --n N --inject K    self-test: see below
//
// The database is reached with the PG* variables (a superuser), in the
// conformance database (test/conformance/common.mjs), `fanfare.max_issues`
// set to 100000 so that no case is capped.  Each case runs in a transaction
// that is rolled back, under a fresh tenant; J connections (default 2) work
// through the cases.
//
// A case's body is printed as raw JSON text (gen.mjs), so that 1e309, -0,
// 1.0 and duplicate keys reach the product as written; the oracle gets
// JSON.parse of the same text.  The comparison is the conformance runner's
// (checkAgainstProduct in common.mjs): verdict, reduced issues, wire form,
// the create_consumers DETAIL, and for valid bodies the returned and stored
// consumers against the oracle's output.
//
// Outcomes per case: pass; documented (counted and listed, never dropped):
// "not expressible in jsonb" (U+0000, lone surrogates: PostgreSQL rejects the
// text, so there is no product verdict) and "jsonb key order" (the issues
// differ only in the order of several bad values of one metadata object);
// anything else is a mismatch, printed with seed, case index and a minimised
// body.  The last line is "N passed, M failed" (M = mismatches); the exit
// status is 1 when M > 0.
//
// --inject K proves that the comparison can fail: for every K-th case the
// oracle is given a perturbed body (element 0 gets activityRank
// "injected-<i>", or the body becomes {"consumers":[]}), the product the
// original.  Every injected case must then be reported as a mismatch (except
// those whose body jsonb cannot hold); the exit status says whether that held.

import { safeParse } from '../conformance/node_modules/valibot/dist/index.mjs';
import { StrictBodySchema, MAX_BATCH } from '../conformance/schema-strict.mjs';
import { connect, configureSession, reduceAll, checkAgainstProduct } from '../conformance/common.mjs';
import { fuzzCase, print, isObj, isArr, member, setMember, obj, arr } from './gen.mjs';

const ACTOR = 'fuzz';
const MAX_ISSUES = 100000;
const MAX_ERROR_SIZE = '1048575kB'; // the largest the setting allows (MaxAllocSize)
const MINIMISE_BUDGET = 400;
const MINIMISE_KINDS = 4;

const opts = { seed: 1, n: 1000, start: 0, jobs: 2, progress: 0, case: null, inject: 0, listLimit: 1000 };
{
  const args = process.argv.slice(2);
  const num = (a, x) => {
    const n = Number(x);
    if (!Number.isSafeInteger(n) || n < 0) usage(`${a} needs a non-negative integer`);
    return n;
  };
  while (args.length) {
    const a = args.shift();
    if (a === '--seed') opts.seed = num(a, args.shift());
    else if (a === '--n') opts.n = num(a, args.shift());
    else if (a === '--start') opts.start = num(a, args.shift());
    else if (a === '--jobs') opts.jobs = Math.max(1, num(a, args.shift()));
    else if (a === '--progress') opts.progress = num(a, args.shift());
    else if (a === '--case') opts.case = num(a, args.shift());
    else if (a === '--inject') opts.inject = num(a, args.shift());
    else if (a === '--list-limit') opts.listLimit = num(a, args.shift());
    else usage(`unknown argument ${a}`);
  }
}

function usage(msg) {
  console.error(`${msg}\nusage: node fuzz.mjs --seed S --n N [--start I] [--jobs J] [--progress SECONDS] [--inject K] [--list-limit L]\n       node fuzz.mjs --seed S --case I`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// One check
// ---------------------------------------------------------------------------

// The oracle's verdict on `oracleText`, the product's on `text` (the same
// text unless a difference is being injected).
async function check(client, text, oracleText = text) {
  const oracle = safeParse(StrictBodySchema, JSON.parse(oracleText));
  const expect = {
    valid: oracle.success,
    issues: oracle.success ? [] : reduceAll(oracle.issues),
    oracleIssues: oracle.issues,
    output: oracle.output,
  };
  await client.query('BEGIN');
  try {
    const res = await checkAgainstProduct(client, text, expect, { actor: ACTOR });
    res.valid = oracle.success;
    // jsonb cannot hold the text: no verdict of the jsonb path to compare,
    // whatever the oracle says; the wire path's 22N02 answer was checked
    if (res.reason && res.status !== 'fail') res.status = 'notjsonb';
    return res;
  } finally {
    await client.query('ROLLBACK');
  }
}

// The oracle sees a different body: a difference the comparison must catch.
function injectInto(tree, index) {
  const copy = structuredClone(tree);
  const consumers = isObj(copy) ? member(copy, 'consumers') : undefined;
  if (isArr(consumers) && consumers.a.length && isObj(consumers.a[0])) {
    setMember(consumers.a[0], 'activityRank', `injected-${index}`);
    return copy;
  }
  const empty = obj([['consumers', arr([])]]);
  return print(copy) === print(empty) ? null : empty;
}

// ---------------------------------------------------------------------------
// Minimising a mismatch
// ---------------------------------------------------------------------------

// Removes consumers, then members of the remaining consumers, then members of
// their metadata, as long as the case still fails.
async function minimise(client, tree) {
  let best = structuredClone(tree);
  let trials = 0;
  const fails = async (t) => {
    if (trials++ >= MINIMISE_BUDGET) return false;
    try {
      return (await check(client, print(t))).status === 'fail';
    } catch {
      return true;
    }
  };
  const consumersOf = (t) => (isObj(t) ? member(t, 'consumers') : undefined);

  if (isArr(consumersOf(best))) {
    // elements that must stay (a batch over the limit) become minimal ones
    const minimal = () => obj([['emailVerified', true], ['phoneVerified', true], ['status', 'ACTIVE']]);
    const isMinimal = (x) => print(x) === print(minimal());
    const halving = (n, floor = 1) => {
      const sizes = [];
      for (let size = Math.ceil(n / 2); size >= floor; size = Math.floor(size / 2)) sizes.push(size);
      return sizes;
    };
    for (const size of halving(consumersOf(best).a.length)) {
      for (let at = 0; at < consumersOf(best).a.length && trials < MINIMISE_BUDGET; at += size) {
        if (consumersOf(best).a.slice(at, at + size).every(isMinimal)) continue;
        const t = structuredClone(best);
        for (let k = at; k < Math.min(at + size, consumersOf(t).a.length); k++) consumersOf(t).a[k] = minimal();
        if (await fails(t)) best = t;
      }
    }
    // then fewer elements: chunks of at least 1/64 of the batch
    for (const size of halving(consumersOf(best).a.length, Math.max(1, Math.floor(consumersOf(best).a.length / 64)))) {
      for (let at = 0; at < consumersOf(best).a.length && trials < MINIMISE_BUDGET;) {
        const t = structuredClone(best);
        consumersOf(t).a.splice(at, size);
        if (await fails(t)) best = t;
        else at += size;
      }
    }
    for (let i = 0; i < consumersOf(best).a.length; i++) {
      if (isMinimal(consumersOf(best).a[i])) continue;
      for (const path of [[], ['metadata']]) {
        const container = (t) => {
          let c = consumersOf(t).a[i];
          for (const k of path) c = isObj(c) ? member(c, k) : undefined;
          return isObj(c) ? c : null;
        };
        if (!container(best)) continue;
        for (let j = 0; j < container(best).e.length && trials < MINIMISE_BUDGET;) {
          const t = structuredClone(best);
          container(t).e.splice(j, 1);
          if (await fails(t)) best = t;
          else j++;
        }
      }
    }
  }
  return best;
}

// The body as text, with runs of identical consumers written "N x {...}"
// (readable, not JSON).
function describe(tree) {
  const consumers = isObj(tree) ? member(tree, 'consumers') : undefined;
  if (!isArr(consumers) || consumers.a.length < 4) return print(tree);
  const parts = [];
  for (let i = 0; i < consumers.a.length;) {
    const one = print(consumers.a[i]);
    let j = i + 1;
    while (j < consumers.a.length && print(consumers.a[j]) === one) j++;
    parts.push(j - i > 1 ? `${j - i} x ${one}` : one);
    i = j;
  }
  return `{"consumers":[${parts.join(',')}]} (${consumers.a.length} consumers)`;
}

// What kind of difference: the first diff line without numbers and values.
const signature = (diffs) => (diffs[0] ?? '?').replace(/\[\d+\]/g, '[N]').replace(/(\.input\[N\])\.[\s\S]*?: /, '$1...: ')
  .replace(/(expected|got|unexpected|missing) [\s\S]*/, '$1 ...').slice(0, 160);

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const short = (s, max = 2000) => (s.length > max ? `${s.slice(0, max)}... (${s.length} chars)` : s);

async function runOne(c, i) {
  const clients = await openClients(1);
  try {
    const { tree, mode } = fuzzCase(opts.seed, i);
    const text = print(tree);
    console.log(`seed ${opts.seed} case ${i} (${mode}), body ${text.length} chars:\n${short(text, 20000)}`);
    const res = await check(clients[0], text);
    console.log(`oracle: ${res.valid ? 'valid' : 'invalid'}; result: ${res.status}`);
    for (const d of res.diffs) console.log(`  ${d}`);
    if (res.reason) console.log(`  ${res.reason}`);
    return res.status === 'fail' ? 1 : 0;
  } finally {
    await Promise.all(clients.map((cl) => cl.end()));
  }
}

async function openClients(n) {
  const clients = [];
  // the first creates the database and the extension; the others find them
  for (let j = 0; j < n; j++) {
    const client = await connect();
    await configureSession(client, { actor: ACTOR, maxIssues: MAX_ISSUES, maxBatch: MAX_BATCH });
    // like max_issues: no case may be cut short by the 400-body size bound
    // (where the extension has one)
    await client.query("SELECT set_config('fanfare.max_error_size', $1, false) WHERE current_setting('fanfare.max_error_size', true) IS NOT NULL", [MAX_ERROR_SIZE]);
    clients.push(client);
  }
  return clients;
}

async function main() {
  if (opts.case !== null) {
    process.exitCode = await runOne(opts.case, opts.case);
    return;
  }
  const first = opts.start;
  const end = opts.start + opts.n;
  const counts = { pass: 0, fail: 0, notjsonb: 0, keyorder: 0, valid: 0, invalid: 0, injected: 0, caught: 0, stray: 0, uncomparable: 0 };
  const documented = [];
  const mismatches = [];
  let next = first;
  let done = 0;
  const t0 = Date.now();
  let clients = await openClients(opts.jobs);
  const startedAt = (await clients[0].query('SELECT pg_postmaster_start_time()::text AS t')).rows[0].t;

  let timer;
  if (opts.progress) {
    timer = setInterval(() => {
      const s = (Date.now() - t0) / 1000;
      console.error(`progress: ${done}/${opts.n} cases in ${s.toFixed(0)} s (${(done / s).toFixed(0)}/s); ${counts.fail} mismatches, ${counts.notjsonb} not expressible in jsonb, ${counts.keyorder} jsonb key order`);
    }, opts.progress * 1000);
  }

  // A lost connection means a backend died (or the server restarted): it is
  // recorded as a crash, the worker reconnects once the server accepts
  // connections again, and the case is tried once more to tell a
  // reproducible crash from an outside event.
  const crashes = [];
  const lost = (e) => /terminat|ECONNRESET|ECONNREFUSED|Connection|not yet accepting|shutting down|recovery/i.test(e.message);
  async function reconnect() {
    for (let t = 0; t < 120; t++) {
      try {
        return (await openClients(1))[0];
      } catch {
        await new Promise((ok) => setTimeout(ok, 1000));
      }
    }
    throw new Error('the server did not come back within 120 s');
  }

  async function worker(client) {
    client.on('error', () => {}); // reported through the failing query
    while (next < end) {
      const i = next++;
      const { tree, mode } = fuzzCase(opts.seed, i);
      const text = print(tree);
      let oracleText = text;
      let injected = false;
      if (opts.inject && i % opts.inject === opts.inject - 1) {
        const t = injectInto(tree, i);
        if (t) {
          oracleText = print(t);
          injected = true;
          counts.injected++;
        }
      }
      let res;
      try {
        res = await check(client, text, oracleText);
      } catch (e) {
        res = { status: 'fail', diffs: [`runner error: ${e.message}`], valid: null };
        if (lost(e)) {
          await client.end().catch(() => {});
          client = await reconnect();
          client.on('error', () => {});
          let again = 'passed the rerun';
          try {
            const r2 = await check(client, text, oracleText);
            again = `rerun: ${r2.status}`;
          } catch (e2) {
            again = `rerun lost the connection again (${e2.message})`;
            await client.end().catch(() => {});
            client = await reconnect();
            client.on('error', () => {});
          }
          crashes.push({ i, at: new Date().toISOString(), message: e.message, again });
          res.diffs = [`CONNECTION LOST (backend crash or server restart): ${e.message}; ${again}`];
        }
      }
      done++;
      if (res.valid === true) counts.valid++;
      else if (res.valid === false) counts.invalid++;
      counts[res.status]++;
      if (opts.inject) {
        if (injected && res.status === 'notjsonb') {
          counts.injected--; // no product verdict to differ from
          counts.uncomparable++;
        } else if (res.status === 'fail' && injected) counts.caught++;
        else if (res.status === 'fail') counts.stray++;
        else if (injected) console.log(`inject: case ${i} (${res.status}) NOT CAUGHT`);
      }
      if (res.status === 'notjsonb' || res.status === 'keyorder') {
        documented.push({ i, mode, status: res.status, why: res.status === 'notjsonb' ? `${res.reason} (oracle: ${res.valid ? 'valid' : 'invalid'})` : 'issues differ only in the order of several bad values of one metadata object' });
      } else if (res.status === 'fail' && !injected) {
        // keep the bodies of the first two of each kind only (long runs)
        const sig = signature(res.diffs);
        const seen = mismatches.filter((m) => m.sig === sig).length;
        mismatches.push({ i, mode, sig, tree: seen < 2 ? tree : null, diffs: seen < 2 ? res.diffs : null });
      }
    }
    return client;
  }

  try {
    clients = await Promise.all(clients.map(worker));
    if (timer) clearInterval(timer);
    const seconds = (Date.now() - t0) / 1000;

    for (const d of documented.slice(0, opts.listLimit)) {
      console.log(`documented   seed ${opts.seed} case ${d.i}: ${d.status === 'notjsonb' ? 'not expressible in jsonb' : 'jsonb key order (documented limit)'}: ${d.why}`);
    }
    if (documented.length > opts.listLimit) console.log(`documented   ... ${documented.length - opts.listLimit} more (raise --list-limit to see them)`);

    // every kind of difference once in full (minimised), the others by case
    const kinds = new Map();
    for (const m of mismatches) {
      if (!kinds.has(m.sig)) kinds.set(m.sig, []);
      kinds.get(m.sig).push(m);
    }
    let shown = 0;
    for (const [sig, list] of kinds) {
      console.log(`MISMATCH KIND (${list.length} cases): ${sig}`);
      for (const m of list.filter((x) => x.tree).slice(0, shown < 6 ? 2 : 1)) {
        shown++;
        console.log(`MISMATCH   seed ${opts.seed} case ${m.i} (${m.mode}); rerun: node fuzz.mjs --seed ${opts.seed} --case ${m.i}`);
        for (const d of m.diffs.slice(0, 12)) console.log(`    ${d}`);
        if (m.diffs.length > 12) console.log(`    ... ${m.diffs.length - 12} more`);
        // minimising costs up to MINIMISE_BUDGET checks: the first kinds only
        if (shown <= MINIMISE_KINDS) console.log(`    minimised body: ${short(describe(await minimise(clients[0], m.tree)))}`);
        else console.log(`    body: ${short(describe(m.tree), 600)}`);
      }
      console.log(`    cases: ${list.slice(0, 100).map((m) => m.i).join(' ')}${list.length > 100 ? ' ...' : ''}`);
    }

    for (const c of crashes) console.log(`CRASH   seed ${opts.seed} case ${c.i} at ${c.at}: connection lost (${c.message}); ${c.again}`);
    const now = (await clients[0].query('SELECT pg_postmaster_start_time()::text AS t')).rows[0].t;
    if (now !== startedAt) {
      console.log(`CLUSTER RESTARTED during the run (postmaster start ${startedAt} -> ${now})`);
      counts.fail++;
    }
    console.log(`fuzz: ${crashes.length} connections lost (backend crashes)`);
    console.log(`fuzz: seed ${opts.seed}, cases ${first}..${end - 1}: ${opts.n} cases in ${seconds.toFixed(1)} s (${(opts.n / seconds).toFixed(0)}/s), `
      + `oracle ${counts.valid} valid / ${counts.invalid} invalid`);
    console.log(`fuzz: ${counts.pass} passed, ${counts.fail} mismatches, ${counts.notjsonb} not expressible in jsonb, ${counts.keyorder} jsonb key order (documented limit)`);
    if (opts.inject) {
      // the product's own mismatches (stray) are the plain run's business
      const ok = counts.caught === counts.injected && counts.injected > 0;
      console.log(`inject: ${counts.injected} differences injected, ${counts.caught} caught (${counts.uncomparable} more went into bodies jsonb cannot hold; ${counts.stray} mismatches of the product itself): ${ok ? 'the comparison catches every one' : 'NOT ALL CAUGHT'}`);
      console.log(`${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
      process.exitCode = ok ? 0 : 1;
    } else {
      console.log(`${counts.pass} passed, ${counts.fail} failed`);
      process.exitCode = counts.fail > 0 ? 1 : 0;
    }
  } finally {
    if (timer) clearInterval(timer);
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}

main().catch((e) => {
  console.error(`fuzz: ${e.caseIndex !== undefined ? `seed ${opts.seed} case ${e.caseIndex}: ` : ''}${e.stack || e.message}`);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
