// Conformance runner: replays a cases file (cases.jsonl format, see
// README.md) against both paths of the extension, the jsonb one
// (validate_consumers, create_consumers) and the wire path
// (import_consumers), in both wire forms of an issue.
//
//   node run.mjs [CASES_FILE] [--recreate] [--only TEXT] [--reduced-only] [--verbose]
//
// CASES_FILE defaults to the project copy ./cases.jsonl; only records with
// "schema":"strict" are used.  The database is reached with the PG*
// variables; the runner uses its own database `fanfare_conformance` and every
// case runs in a transaction that is rolled back, under a fresh tenant.
//
// Per case (checkAgainstProduct in common.mjs says exactly what is compared):
// - the body is `case.body` when present (raw text, authoritative), else
//   JSON.stringify(case.input);
// - the local oracle (schema-strict.mjs, Valibot 1.5.0) parses the same text,
//   and must agree with the case record (verdict, reduced issues, output);
//   its result is used where the record is lossy (Infinity, -0, full issues);
// - a body that PostgreSQL's jsonb input rejects is "not expressible in
//   jsonb": reported by name with the reason; the oracle must reject it
//   too, and the wire path must answer it with 22N02 and a contract body;
// - verdict: validate_consumers returns [] iff the case is valid;
// - invalid: on the jsonb path, the reduced issues equal the case's, in
//   order, and the whole issues equal the oracle's in the openapi form
//   (validate_consumers) and the valibot form (create_consumers' DETAIL),
//   with the documented difference (outer path items carry "input": null,
//   the body item "value": null) unless --reduced-only; on the wire path,
//   import_consumers' DETAIL is the oracle's 400 body byte for byte in both
//   forms; every openapi-form body validates against the document's 400
//   schema (ajv); nothing is stored;
// - valid: create_consumers returns one consumer per input element, every
//   property of the 200 response schema present, values equal to the
//   oracle's output (defaults for absent fields), and the stored rows say
//   the same; import_consumers returns each consumer's JSON text exactly as
//   a JavaScript service would send it, and stores the same rows.
//
// Documented jsonb limits, reported rather than skipped: duplicate keys
// (jsonb keeps the last, like JSON.parse) are noted per case; a case whose
// only difference on the jsonb path is the order of issues for several bad
// values inside one `metadata` object is classified "jsonb key order
// (documented limit)", because jsonb sorts keys (length, then bytes) and
// JavaScript keeps text order.  The wire path has no such limit.

import { readFileSync } from 'node:fs';
import { join, isAbsolute, resolve } from 'node:path';
import * as v from 'valibot';
import { StrictBodySchema, MAX_BATCH } from './schema-strict.mjs';
import {
  HERE, connect, configureSession, loadOpenApi, responseSchema, checkCatalogue,
  jsonEqual, jsonDiff, duplicateKeys, reduceAll, checkAgainstProduct,
} from './common.mjs';

const ACTOR = 'conformance-runner';
const MAX_ISSUES = 100000;

// ---------------------------------------------------------------------------
// Arguments and cases
// ---------------------------------------------------------------------------

const opts = { file: join(HERE, 'cases.jsonl'), recreate: false, only: null, reducedOnly: false, verbose: false };
{
  const args = process.argv.slice(2);
  while (args.length) {
    const a = args.shift();
    if (a === '--recreate') opts.recreate = true;
    else if (a === '--reduced-only') opts.reducedOnly = true;
    else if (a === '--verbose') opts.verbose = true;
    else if (a === '--only') opts.only = args.shift();
    else if (a.startsWith('--')) {
      console.error(`unknown option ${a}\nusage: node run.mjs [CASES_FILE] [--recreate] [--only TEXT] [--reduced-only] [--verbose]`);
      process.exit(2);
    } else opts.file = isAbsolute(a) ? a : resolve(process.cwd(), a);
  }
}

function loadCases(file) {
  const cases = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let rec;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not JSON: ${e.message}`);
    }
    if (rec.schema !== 'strict') return;
    if (typeof rec.name !== 'string' || typeof rec.valid !== 'boolean' || (rec.body === undefined && !('input' in rec))) {
      throw new Error(`${file}:${i + 1}: not a cases.jsonl record (name, valid, body or input)`);
    }
    cases.push(rec);
  });
  return cases;
}

async function runCase(client, c) {
  const r = { name: c.name, status: 'pass', diffs: [], notes: [], keyorder: false };
  const text = c.body ?? JSON.stringify(c.input);

  // 1. the local oracle on the same text, and its agreement with the record
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    r.diffs.push(`case body is not JSON: ${e.message}`);
    r.status = 'fail';
    return r;
  }
  const oracle = v.safeParse(StrictBodySchema, parsed);
  if (oracle.success !== c.valid) {
    r.diffs.push(`cases file says valid=${c.valid} but the oracle (valibot 1.5.0) says valid=${oracle.success}`);
  } else if (c.valid && !jsonEqual(JSON.parse(JSON.stringify(oracle.output)), c.output)) {
    r.diffs.push(`cases file output differs from the oracle's: ${jsonDiff(JSON.parse(JSON.stringify(oracle.output)), c.output, 'output', [], 3).join('; ')}`);
  } else if (!c.valid && !jsonEqual(reduceAll(oracle.issues), c.issues)) {
    r.diffs.push(`cases file issues differ from the oracle's: ${jsonDiff(reduceAll(oracle.issues), c.issues, 'issues', [], 3).join('; ')}`);
  }
  if (r.diffs.length) {
    r.status = 'fail';
    return r;
  }
  const dups = duplicateKeys(text);
  if (dups.length) r.notes.push(`duplicate keys ${dups.map((k) => JSON.stringify(k)).join(', ')}: jsonb keeps the last value, as JSON.parse does`);

  const res = await checkAgainstProduct(client, text,
    { valid: c.valid, issues: c.issues, oracleIssues: oracle.issues, output: oracle.output },
    { actor: ACTOR, reducedOnly: opts.reducedOnly });
  r.status = res.status;
  r.diffs.push(...res.diffs);
  r.keyorder = res.keyorder;
  if (res.reason) r.reason = res.reason;
  if (res.acceptedByOracle) {
    r.status = 'fail';
    r.diffs.push(`not expressible in jsonb (${res.reason}), but the oracle accepts it: the product answers 400 where Valibot answers 200`);
  }
  return r;
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main() {
  checkCatalogue(responseSchema(loadOpenApi(), '200'));
  let cases = loadCases(opts.file);
  if (opts.only) cases = cases.filter((c) => c.name.includes(opts.only));
  console.log(`conformance: ${cases.length} strict cases from ${opts.file}${opts.reducedOnly ? ' (reduced issues only, wire form not compared)' : ''}`);

  const client = await connect({ recreate: opts.recreate });
  const results = [];
  try {
    await configureSession(client, { actor: ACTOR, maxIssues: MAX_ISSUES, maxBatch: MAX_BATCH });
    for (const c of cases) {
      await client.query('BEGIN');
      try {
        results.push(await runCase(client, c));
      } catch (e) {
        results.push({ name: c.name, status: 'fail', diffs: [`runner error: ${e.message}`], notes: [] });
      } finally {
        await client.query('ROLLBACK');
      }
    }
  } finally {
    await client.end();
  }

  const by = (s) => results.filter((x) => x.status === s);
  for (const x of results) {
    if (x.notes.length && (opts.verbose || x.status !== 'fail')) for (const n of x.notes) console.log(`note   ${x.name}: ${n}`);
  }
  for (const x of by('notjsonb')) console.log(`not expressible in jsonb   ${x.name}: ${x.reason}; the oracle rejects it too, and the wire path answers 22N02 with a contract 400 body`);
  for (const x of by('keyorder')) console.log(`jsonb key order (documented limit)   ${x.name}: the issues differ from the oracle only in the order of several bad metadata values`);
  for (const x of by('fail')) {
    console.log(`FAIL   ${x.name}`);
    for (const n of x.notes) console.log(`         note: ${n}`);
    for (const d of x.diffs.slice(0, opts.verbose ? Infinity : 10)) console.log(`         ${d}`);
    if (!opts.verbose && x.diffs.length > 10) console.log(`         ... ${x.diffs.length - 10} more`);
  }
  if (opts.verbose) for (const x of by('pass')) console.log(`pass   ${x.name}`);

  const passed = by('pass').length;
  const failed = by('fail').length;
  console.log(`jsonb key order (documented limit): ${by('keyorder').length}`);
  console.log(`conformance: ${passed} passed, ${failed} failed, ${by('notjsonb').length} not expressible in jsonb`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((e) => {
  console.error(`conformance: ${e.stack || e.message}`);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
