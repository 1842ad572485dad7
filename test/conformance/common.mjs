// Helpers shared by run.mjs (conformance cases) and response-schema.mjs
// (ajv check of the 200 and 400 bodies): the database connection, the
// response schema read from contract/openapi.yaml, the field catalogue the
// response is compared with, a strict ISO timestamp parser and a JSON
// deep-equal that ignores object key order (jsonb reorders keys), and the
// comparison of one body's product results with the oracle's.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import YAML from 'yaml';
import { reduceIssue } from './issue.mjs';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = join(HERE, '..', '..');
export const DATABASE = 'fanfare_conformance';

// ---------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------

// Connects with the PG* variables to the maintenance database, creates
// `fanfare_conformance` when it is missing, then returns a client connected
// to it with the extension created.  `recreate` drops and re-creates the
// extension, for a development database that outlived an install script.
export async function connect({ recreate = false } = {}) {
  const admin = new pg.Client({ database: process.env.PGDATABASE || 'postgres' });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) {
      try {
        await admin.query(`CREATE DATABASE ${DATABASE}`);
      } catch (e) {
        if (e.code !== '42P04') throw e; // created concurrently
      }
    }
  } finally {
    await admin.end();
  }
  const client = new pg.Client({ database: DATABASE });
  await client.connect();
  // the conformance database belongs to this suite: silence NOTICEs
  await client.query('SET client_min_messages = warning');
  if (recreate) await client.query('DROP EXTENSION IF EXISTS fanfare CASCADE');
  await client.query('CREATE EXTENSION IF NOT EXISTS fanfare');
  // load the library (any of its C functions does), so that the SETs below
  // reach the real settings rather than placeholders
  await client.query('SELECT fanfare.current_organization_id()');
  return client;
}

// Session settings common to both scripts.  The tenant is set per case.
export async function configureSession(client, { actor, maxIssues, maxBatch }) {
  await client.query("SET TimeZone = 'UTC'");
  await client.query('SELECT set_config($1, $2, false)', ['fanfare.actor', actor]);
  if (maxIssues !== undefined) await client.query('SELECT set_config($1, $2, false)', ['fanfare.max_issues', String(maxIssues)]);
  // fanfare.max_batch_size is superuser-only: set it only when it differs
  if (maxBatch !== undefined) {
    const cur = (await client.query("SELECT current_setting('fanfare.max_batch_size', true) AS v")).rows[0].v;
    if (cur !== String(maxBatch)) await client.query('SELECT set_config($1, $2, false)', ['fanfare.max_batch_size', String(maxBatch)]);
  }
  const { rows } = await client.query(
    "SELECT current_setting('fanfare.max_issues', true) AS mi, current_setting('fanfare.max_batch_size', true) AS mb");
  if (maxIssues !== undefined && rows[0].mi !== String(maxIssues)) {
    throw new Error(`fanfare.max_issues is ${rows[0].mi}, wanted ${maxIssues}: is the setting defined by the extension?`);
  }
  if (maxBatch !== undefined && rows[0].mb !== String(maxBatch)) {
    throw new Error(`fanfare.max_batch_size is ${rows[0].mb}, wanted ${maxBatch}: is the setting defined by the extension?`);
  }
}

// ---------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------

export function loadOpenApi() {
  return YAML.parse(readFileSync(join(REPO, 'contract', 'openapi.yaml'), 'utf8'));
}

export function responseSchema(doc, status) {
  const s = doc?.paths?.['/consumers/batch']?.post?.responses?.[status]?.content?.['application/json']?.schema;
  if (!s) throw new Error(`openapi.yaml: no application/json schema for POST /consumers/batch ${status}`);
  return s;
}

// How each property of a created consumer is compared.  Input fields first
// (kind and response default), then the fields the server fills in.  The
// catalogue must name exactly the properties of the 200 response schema;
// checkCatalogue() says so when the contract changes.
export const FIELDS = {
  email: { kind: 'string', dflt: null },
  emailVerified: { kind: 'boolean', required: true },
  phone: { kind: 'string', dflt: null },
  phoneVerified: { kind: 'boolean', required: true },
  fullName: { kind: 'string', dflt: null },
  status: { kind: 'status', required: true },
  smsOptOut: { kind: 'boolean', dflt: false },
  activityRank: { kind: 'rank', dflt: 0 },
  activityScore: { kind: 'double', dflt: 0 },
  activityScoreUpdatedAt: { kind: 'timestamp', dflt: null },
  monetaryRank: { kind: 'rank', dflt: 0 },
  monetaryScore: { kind: 'double', dflt: 0 },
  monetaryScoreUpdatedAt: { kind: 'timestamp', dflt: null },
  purchaseFrequencyRank: { kind: 'rank', dflt: 0 },
  purchaseFrequencyScore: { kind: 'double', dflt: 0 },
  purchaseFrequencyScoreUpdatedAt: { kind: 'timestamp', dflt: null },
  aov: { kind: 'decimal', dflt: '0' },
  ltv: { kind: 'decimal', dflt: '0' },
  engagedCount: { kind: 'count', dflt: 0 },
  lastEngagedAt: { kind: 'timestamp', dflt: null },
  totalEngagements: { kind: 'count', dflt: 0 },
  totalMessages: { kind: 'count', dflt: 0 },
  totalOrders: { kind: 'count', dflt: 0 },
  totalReturns: { kind: 'count', dflt: 0 },
  lastLoginAt: { kind: 'timestamp', dflt: null },
  lastOrderAt: { kind: 'timestamp', dflt: null },
  lastReturnAt: { kind: 'timestamp', dflt: null },
  lastGeoAt: { kind: 'timestamp', dflt: null },
  lastGeoCity: { kind: 'string', dflt: null },
  lastGeoCoordinates: { kind: 'geo', dflt: null },
  lastGeoCountry: { kind: 'string', dflt: null },
  lastGeoPostalCode: { kind: 'string', dflt: null },
  lastGeoRegion: { kind: 'string', dflt: null },
  lastGeoSource: { kind: 'string', dflt: null },
  lastGeoTimezone: { kind: 'string', dflt: null },
  loyaltyBalance: { kind: 'double', dflt: 0 },
  loyaltyLastActivityAt: { kind: 'timestamp', dflt: null },
  loyaltyLifetimePoints: { kind: 'double', dflt: 0 },
  metadata: { kind: 'metadata', dflt: null },
  verificationCode: { kind: 'string', dflt: null },
  verificationCodeExpiresAt: { kind: 'timestamp', dflt: null },
  // filled in by the server
  id: { kind: 'server' },
  organizationId: { kind: 'server' },
  createdAt: { kind: 'server' },
  createdBy: { kind: 'server' },
  archived: { kind: 'server' },
  updatedAt: { kind: 'server' },
  updatedBy: { kind: 'server' },
  primaryExternalId: { kind: 'server' },
  primaryLastSyncedAt: { kind: 'server' },
  primarySourceVendor: { kind: 'server' },
  primarySyncSourceId: { kind: 'server' },
};

export function checkCatalogue(schema200) {
  const props = Object.keys(schema200.items.properties).sort();
  const mine = Object.keys(FIELDS).sort();
  if (JSON.stringify(props) !== JSON.stringify(mine)) {
    const missing = props.filter((p) => !mine.includes(p));
    const extra = mine.filter((p) => !props.includes(p));
    throw new Error(`field catalogue out of date with openapi.yaml: missing ${missing.join(',') || '-'}, extra ${extra.join(',') || '-'}`);
  }
  return props;
}

// camelCase property -> column of fanfare.consumers
export const column = (name) => name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

// SELECT list that renders a stored row in the response's shape, with every
// value whose JavaScript decoding would lose information as text
// (timestamps, numeric, bigint, double precision).
export function storedRowSelect() {
  const out = [];
  for (const [name, f] of Object.entries(FIELDS)) {
    if (name === 'lastGeoCoordinates') {
      out.push('last_geo_latitude::text AS "lastGeoLatitude"', 'last_geo_longitude::text AS "lastGeoLongitude"');
    } else if (['timestamp', 'decimal', 'count', 'double'].includes(f.kind)
      || ['createdAt', 'updatedAt', 'primaryLastSyncedAt', 'id', 'organizationId'].includes(name)) {
      out.push(`${column(name)}::text AS "${name}"`);
    } else {
      out.push(`${column(name)} AS "${name}"`);
    }
  }
  return out.join(', ');
}

// ---------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------

// The ISO forms the strict schema accepts, plus PostgreSQL's timestamptz
// output: date, 'T' or space, time, 1-9 fraction digits, then 'Z' or an
// offset ±hh, ±hhmm or ±hh:mm, optionally after one space.
const TS = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)| ?([+-])(\d{2})(?::?(\d{2}))?)$/;

function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

// Milliseconds since the epoch of the instant `s` names, fraction digits
// beyond the millisecond truncated; null when `s` is not of the form above.
export function parseTimestamp(s) {
  if (typeof s !== 'string') return null;
  const m = TS.exec(s);
  if (!m) return null;
  const [, y, mo, d, h, mi, se, frac = '', z, sign, oh, om = '00'] = m;
  const ms = Number((frac + '000').slice(0, 3));
  const offsetMin = z ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  return daysFromCivil(Number(y), Number(mo), Number(d)) * 86400000
    + ((Number(h) * 60 + Number(mi) - offsetMin) * 60 + Number(se)) * 1000 + ms;
}

// The response form: exactly what Date#toISOString prints for years 1-9999.
export const ISO_MS = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

export function formatMs(ms) {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

// Canonical text of a non-negative decimal string ("007.50" -> "7.5"); null
// when it is not one.
export function canonicalDecimal(s) {
  if (typeof s !== 'string') return null;
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) return null;
  const int = m[1].replace(/^0+(?=\d)/, '');
  const frac = (m[2] ?? '').replace(/0+$/, '');
  return frac ? `${int}.${frac}` : int;
}

// Deep equality of JSON values: arrays in order, objects regardless of key
// order, numbers with === (so 0 equals -0, as JSON cannot tell them apart).
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
}

// Up to `limit` lines "where: expected X, got Y" describing how b differs from a.
export function jsonDiff(expected, actual, where = '', out = [], limit = 6) {
  if (out.length >= limit || jsonEqual(expected, actual)) return out;
  const isObj = (x) => x !== null && typeof x === 'object';
  if (isObj(expected) && isObj(actual) && Array.isArray(expected) === Array.isArray(actual)) {
    if (Array.isArray(expected)) {
      if (expected.length !== actual.length) out.push(`${where || '.'}: expected ${expected.length} items, got ${actual.length}`);
      for (let i = 0; i < Math.max(expected.length, actual.length) && out.length < limit; i++) {
        if (i >= expected.length) out.push(`${where}[${i}]: unexpected ${show(actual[i])}`);
        else if (i >= actual.length) out.push(`${where}[${i}]: missing ${show(expected[i])}`);
        else jsonDiff(expected[i], actual[i], `${where}[${i}]`, out, limit);
      }
    } else {
      const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
      for (const k of keys) {
        if (out.length >= limit) break;
        const has = (o) => Object.prototype.hasOwnProperty.call(o, k);
        if (!has(actual)) out.push(`${where}.${k}: missing (expected ${show(expected[k])})`);
        else if (!has(expected)) out.push(`${where}.${k}: unexpected ${show(actual[k])}`);
        else jsonDiff(expected[k], actual[k], `${where}.${k}`, out, limit);
      }
    }
  } else {
    out.push(`${where || '.'}: expected ${show(expected)}, got ${show(actual)}`);
  }
  return out;
}

export function show(x, max = 120) {
  let s;
  if (x === undefined) s = 'undefined';
  else if (typeof x === 'number' && !Number.isFinite(x)) s = String(x);
  else s = JSON.stringify(x);
  return s.length > max ? s.slice(0, max - 3) + '...' : s;
}

export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// ---------------------------------------------------------------------------
// The product against the oracle: what run.mjs checks per case, shared with
// the differential fuzzer (test/fuzz/fuzz.mjs)
// ---------------------------------------------------------------------------

export const DECIMAL_PATTERN = /^\d{1,12}(\.\d{1,8})?$/;

// ---------------------------------------------------------------------------
// Body text helpers
// ---------------------------------------------------------------------------

// Keys that occur more than once in one object of the (valid JSON) text.
export function duplicateKeys(text) {
  const dups = [];
  const stack = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      let k = j + 1;
      while (' \t\n\r'.includes(text[k])) k++;
      const top = stack[stack.length - 1];
      if (text[k] === ':' && top) {
        const key = JSON.parse(text.slice(i, j + 1));
        if (top.has(key)) dups.push(key);
        else top.add(key);
      }
      i = j;
    } else if (ch === '{') stack.push(new Set());
    else if (ch === '[') stack.push(null);
    else if (ch === '}' || ch === ']') stack.pop();
  }
  return [...new Set(dups)];
}

// ---------------------------------------------------------------------------
// Issue lists
// ---------------------------------------------------------------------------

export const reduceAll = (issues) => JSON.parse(JSON.stringify(issues.map(reduceIssue)));

// Valibot's issues as JSON.stringify sends them, with the product's one
// deliberate difference applied: the body path item carries "input": null
// and "value": null, the `consumers` array item "input": null.
export function expectedWire(issues) {
  const wire = JSON.parse(JSON.stringify(issues));
  for (const issue of wire) {
    if (!issue.path) continue;
    issue.path[0].input = null;
    if ('value' in issue.path[0]) issue.path[0].value = null;
    if (issue.path[1]) issue.path[1].input = null;
  }
  return wire;
}

// The members of an issue on the wire, in the order JSON.stringify writes
// Valibot's issues.
const ISSUE_KEYS = ['kind', 'type', 'input', 'expected', 'received', 'message', 'requirement', 'path', 'issues'];

// Issues in the published document's form (conformance/README.md, "Two wire
// forms"): path always present ([] for an issue about the body), path keys
// as strings, expected the issue's type where Valibot has null; at every
// level, nested issues included.  Members keep Valibot's order.
export function openapiForm(issues) {
  return issues.map((issue) => {
    const out = {};
    for (const k of ISSUE_KEYS) {
      if (k === 'path') out.path = (issue.path ?? []).map((p) => {
        const item = {};
        for (const [pk, pv] of Object.entries(p)) item[pk] = pk === 'key' ? String(pv) : pv;
        return item;
      });
      else if (k === 'expected') out.expected = issue.expected ?? issue.type;
      else if (k === 'issues') { if (issue.issues) out.issues = openapiForm(issue.issues); }
      else if (k in issue) out[k] = issue[k];
    }
    for (const k of Object.keys(issue)) if (!(k in out) && !ISSUE_KEYS.includes(k)) out[k] = issue[k];
    return out;
  });
}

// The wire issues the product must print for the oracle's, in a form.
export function expectedIssues(oracleIssues, form) {
  const wire = expectedWire(oracleIssues);
  return form === 'openapi' ? openapiForm(wire) : wire;
}

// The contract's response schemas, compiled once (ajv, draft 2020-12).
let validators = null;
export async function contractValidators() {
  if (validators) return validators;
  const { default: Ajv2020 } = await import('ajv/dist/2020.js');
  const { default: addFormats } = await import('ajv-formats');
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  const doc = loadOpenApi();
  validators = {
    properties: Object.keys(responseSchema(doc, '200').items.properties),
    v200: ajv.compile(responseSchema(doc, '200')),
    v400: ajv.compile(responseSchema(doc, '400')),
  };
  return validators;
}
export const ajvErrors = (validate) => (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).slice(0, 5).join('; ');

function canonical(x) {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (x && typeof x === 'object') return `{${Object.keys(x).sort().map((k) => `${JSON.stringify(k)}:${canonical(x[k])}`).join(',')}}`;
  return JSON.stringify(x === undefined ? null : x);
}

// Issues about values inside one consumer's metadata object: their order is
// the object's key order, which jsonb cannot keep.  Sorting each run of them
// removes that one degree of freedom.
function metadataRun(issue) {
  const p = issue?.path;
  return Array.isArray(p) && p.length >= 4 && p[2]?.key === 'metadata' ? String(p[1]?.key) : null;
}
function sortMetadataRuns(list) {
  const out = [];
  for (let i = 0; i < list.length;) {
    const run = metadataRun(list[i]);
    let j = i + 1;
    if (run !== null) while (j < list.length && metadataRun(list[j]) === run) j++;
    out.push(...list.slice(i, j).map((x) => [canonical(x), x]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((p) => p[1]));
    i = j;
  }
  return out;
}

// 'equal', 'keyorder' (equal once metadata runs are sorted) or 'different'
export function compareIssueLists(expected, actual) {
  if (jsonEqual(expected, actual)) return 'equal';
  if (jsonEqual(sortMetadataRuns(expected), sortMetadataRuns(actual))) return 'keyorder';
  return 'different';
}

// ---------------------------------------------------------------------------
// Consumers
// ---------------------------------------------------------------------------

// Differences between one created consumer (`got`, in the response's shape)
// and the oracle's output element `exp`.  `stored` relaxes only the
// timestamp spelling (PostgreSQL text instead of toISOString).
export function compareConsumer(got, exp, where, { stored, tenant, actor }) {
  const d = [];
  const say = (name, msg) => d.push(`${where}.${name}: ${msg}`);
  if (!got || typeof got !== 'object' || Array.isArray(got)) return [`${where}: not an object: ${show(got)}`];
  if (!stored) {
    const extra = Object.keys(got).filter((k) => !(k in FIELDS));
    if (extra.length) d.push(`${where}: properties outside the response schema: ${extra.join(', ')}`);
  }
  for (const [name, f] of Object.entries(FIELDS)) {
    if (f.kind === 'server') continue;
    if (!Object.prototype.hasOwnProperty.call(got, name)) {
      say(name, 'missing (every response property must be present)');
      continue;
    }
    const g = got[name];
    const e = Object.prototype.hasOwnProperty.call(exp, name) ? exp[name] : f.dflt;
    switch (f.kind) {
      case 'string':
      case 'status':
      case 'boolean':
        if (g !== e) say(name, `expected ${show(e)}, got ${show(g)}`);
        break;
      case 'rank':
        if (typeof g !== 'number' || !Number.isInteger(g) || g !== e) say(name, `expected integer ${show(e)}, got ${show(g)}`);
        break;
      case 'double':
      case 'count':
        if (typeof g !== 'number' || g !== e) say(name, `expected ${show(e)}, got ${show(g)}`);
        break;
      case 'decimal':
        if (typeof g !== 'string' || !DECIMAL_PATTERN.test(g) || canonicalDecimal(g) !== canonicalDecimal(e)) {
          say(name, `expected a decimal string equal to ${show(e)}, got ${show(g)}`);
        }
        break;
      case 'timestamp':
        if (e === null) {
          if (g !== null) say(name, `expected null, got ${show(g)}`);
        } else {
          const want = parseTimestamp(e);
          const have = parseTimestamp(g);
          if (!stored && (typeof g !== 'string' || !ISO_MS.test(g))) say(name, `expected toISOString form of ${formatMs(want)}, got ${show(g)}`);
          else if (have !== want) say(name, `expected instant ${formatMs(want)} (from ${show(e)}), got ${show(g)}`);
        }
        break;
      case 'geo':
        if (e === null) {
          if (g !== null) say(name, `expected null, got ${show(g)}`);
        } else if (!g || typeof g !== 'object' || Object.keys(g).sort().join() !== 'latitude,longitude'
          || g.latitude !== e.latitude || g.longitude !== e.longitude) {
          say(name, `expected ${show({ latitude: e.latitude, longitude: e.longitude })}, got ${show(g)}`);
        }
        break;
      case 'metadata':
        if (e === null ? g !== null : !jsonEqual(e, g)) {
          say(name, `expected ${show(e)}, got ${show(g)}${e && g ? ` (${jsonDiff(e, g, 'metadata', [], 2).join('; ')})` : ''}`);
        }
        break;
      default:
        throw new Error(`unknown kind ${f.kind}`);
    }
  }
  // server-filled properties
  if (!stored) {
    if (typeof got.id !== 'string' || !UUID_V7.test(got.id)) say('id', `expected a lower-case UUIDv7, got ${show(got.id)}`);
    if (got.organizationId !== tenant) say('organizationId', `expected the tenant ${tenant}, got ${show(got.organizationId)}`);
    if (got.createdBy !== actor) say('createdBy', `expected fanfare.actor ${show(actor)}, got ${show(got.createdBy)}`);
    if (typeof got.createdAt !== 'string' || !ISO_MS.test(got.createdAt)) say('createdAt', `expected toISOString form, got ${show(got.createdAt)}`);
    if (got.archived !== false) say('archived', `expected false, got ${show(got.archived)}`);
    for (const k of ['updatedAt', 'updatedBy', 'primaryExternalId', 'primaryLastSyncedAt', 'primarySourceVendor', 'primarySyncSourceId']) {
      if (got[k] !== null) say(k, `expected null, got ${show(got[k])}`);
    }
    if (typeof got.id === 'string' && UUID_V7.test(got.id) && typeof got.createdAt === 'string') {
      const idMs = parseInt(got.id.replace(/-/g, '').slice(0, 12), 16);
      const at = parseTimestamp(got.createdAt);
      if (at === null || Math.abs(idMs - at) > 60000) say('id', `UUIDv7 time ${formatMs(idMs)} is not within a minute of createdAt ${got.createdAt}`);
    }
  }
  return d;
}

// A stored row (storedRowSelect) in the response's shape.
export function storedAsResponse(row) {
  const out = {};
  for (const [name, f] of Object.entries(FIELDS)) {
    if (name === 'lastGeoCoordinates') {
      out[name] = row.lastGeoLatitude === null && row.lastGeoLongitude === null
        ? null
        : { latitude: row.lastGeoLatitude === null ? null : Number(row.lastGeoLatitude), longitude: row.lastGeoLongitude === null ? null : Number(row.lastGeoLongitude) };
    } else if ((f.kind === 'double' || f.kind === 'count') && row[name] !== null) {
      out[name] = Number(row[name]);
    } else {
      out[name] = row[name];
    }
  }
  return out;
}

export async function savepointQuery(client, sql, params) {
  await client.query('SAVEPOINT c');
  try {
    const r = await client.query(sql, params);
    await client.query('RELEASE SAVEPOINT c');
    return { rows: r.rows };
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT c');
    return { error };
  }
}

export const errText = (e) => `${e.code ?? '?'} ${e.message}${e.detail ? ` (detail ${show(e.detail, 200)})` : ''}`;

// ---------------------------------------------------------------------------
// One body against the product
// ---------------------------------------------------------------------------

// Runs `text` through both paths and both wire forms, in the caller's open
// transaction (under a fresh tenant, set locally), and compares each with
// the oracle.  `expect` is {valid, issues (the reduced issues), oracleIssues
// (Valibot's full issues), output (Valibot's output)}; `actor` is the
// session's fanfare.actor.
//   jsonb path: validate_consumers(jsonb) in the openapi form and the
//     create_consumers DETAIL in the valibot form; the issues may differ
//     only in the documented jsonb key order of bad metadata values.
//   wire path: import_consumers(text) in both forms; its DETAIL must be the
//     oracle's 400 body byte for byte, order included, and each created
//     consumer's JSON text byte for byte what a JavaScript service would
//     send; its stored rows must equal the jsonb path's.
//   every openapi-form 400 body validates against the document's schema.
// Returns {status, diffs, reason, keyorder, acceptedByOracle}: status
// 'pass', 'fail', 'keyorder' (the jsonb path's issues differ only in the
// documented order) or 'notjsonb' (jsonb cannot hold the text, `reason`
// says why; the wire path must then answer 22N02 with a contract body).
export async function checkAgainstProduct(client, text, expect, { actor, reducedOnly = false }) {
  const r = { status: 'pass', diffs: [], keyorder: false };
  const { v400 } = await contractValidators();

  // can jsonb hold the text at all?
  let reason = null;
  if (!text.isWellFormed()) reason = 'the text contains a lone surrogate, which has no UTF-8 encoding';
  else {
    const q = await savepointQuery(client, 'SELECT $1::jsonb IS NOT NULL AS ok', [text]);
    if (q.error) reason = `jsonb input rejects it: ${q.error.code} ${q.error.message}${q.error.detail ? ` (${q.error.detail})` : ''}`;
  }

  const tenant = randomUUID();
  await client.query("SELECT set_config('fanfare.organization_id', $1, true)", [tenant]);
  const countStored = async () => Number((await client.query(
    'SELECT count(*) AS n FROM fanfare.consumers WHERE organization_id = $1', [tenant])).rows[0].n);

  if (reason) {
    r.status = 'notjsonb';
    r.reason = reason;
    r.acceptedByOracle = expect.valid;
    if (text.isWellFormed()) await checkWireUnstorable(client, r, text, v400, countStored);
    if (r.diffs.length) r.status = 'fail';
    return r;
  }

  // the jsonb path: validate_consumers, openapi form (the default)
  const val = await savepointQuery(client, 'SELECT fanfare.validate_consumers($1::jsonb) AS issues', [text]);
  if (val.error) {
    r.diffs.push(`validate_consumers raised ${errText(val.error)}`);
  } else {
    const got = val.rows[0].issues;
    if (!Array.isArray(got)) r.diffs.push(`validate_consumers returned ${show(got)}, not an array`);
    else if (expect.valid && got.length) r.diffs.push(`verdict: rejected (${got.length} issues, first ${show(reduceIssue(got[0]), 300)}), the oracle accepts`);
    else if (!expect.valid && !got.length) r.diffs.push(`verdict: accepted, the oracle rejects (first issue: ${expect.issues[0].message})`);
    else if (!expect.valid) {
      compareIssues(r, expect, got, 'openapi', 'validate_consumers', reducedOnly);
      const body = { error: 'validation_error', issues: got, issueCount: expect.issues.length };
      if (!v400(body)) r.diffs.push(`validate_consumers issues as a 400 body fail the document's 400 schema: ${ajvErrors(v400)}`);
    }
    const n = await countStored();
    if (n) r.diffs.push(`validate_consumers stored ${n} rows`);
  }

  // the jsonb path: create_consumers, valibot form
  await client.query('SAVEPOINT jsonb_path');
  let jsonbRows = null;
  const cre = await withForm(client, 'valibot', () =>
    savepointQuery(client, 'SELECT fanfare.create_consumers($1::jsonb) AS created', [text]));
  if (!expect.valid) {
    if (!cre.error) {
      r.diffs.push(`create_consumers returned instead of raising 22023; ${await countStored()} rows stored`);
    } else if (cre.error.code !== '22023') {
      r.diffs.push(`create_consumers raised ${errText(cre.error)}, expected SQLSTATE 22023`);
    } else {
      const body = parseDetail(r, cre.error.detail, 'create_consumers');
      if (body) {
        if (body.issueCount !== expect.issues.length) r.diffs.push(`create_consumers DETAIL issueCount: expected ${expect.issues.length}, got ${show(body.issueCount)}`);
        if (Array.isArray(body.issues)) compareIssues(r, expect, body.issues, 'valibot', 'create_consumers DETAIL', reducedOnly);
      }
      const n = await countStored();
      if (n) r.diffs.push(`create_consumers raised but ${n} rows are stored`);
    }
  } else if (cre.error) {
    r.diffs.push(`create_consumers raised ${errText(cre.error)}`);
  } else {
    // JSON text of the output, as a JavaScript service would store and send
    // it: an infinite metadata number (1e400) becomes null
    await checkCreated(client, r, JSON.parse(JSON.stringify(expect.output.consumers)), cre.rows[0].created, tenant, actor);
    jsonbRows = await storedRows(client, tenant);
  }
  await client.query('ROLLBACK TO SAVEPOINT jsonb_path');

  // the wire path, in both forms
  for (const form of ['openapi', 'valibot']) {
    if (expect.valid && form === 'valibot') break; // a valid batch has no issues to print
    await client.query('SAVEPOINT wire_path');
    const imp = await withForm(client, form, () =>
      savepointQuery(client, 'SELECT fanfare.import_consumers($1)::text AS consumer', [text]));
    if (!expect.valid) {
      if (!imp.error) r.diffs.push(`import_consumers returned ${imp.rows.length} rows instead of raising 22023 [${form}]`);
      else if (imp.error.code !== '22023') r.diffs.push(`import_consumers raised ${errText(imp.error)}, expected 22023 [${form}]`);
      else {
        const want = JSON.stringify({ error: 'validation_error', issues: expectedIssues(expect.oracleIssues, form), issueCount: expect.issues.length });
        if (!reducedOnly && imp.error.detail !== want) {
          const got = parseDetail(r, imp.error.detail, `import_consumers [${form}]`);
          if (got) {
            const d = jsonDiff(JSON.parse(want), got, `import_consumers DETAIL [${form}]`);
            r.diffs.push(...(d.length ? d : [`import_consumers DETAIL [${form}] differs from the oracle's body in member or key order: ${firstDifference(want, imp.error.detail)}`]));
          }
        } else if (reducedOnly) {
          const got = parseDetail(r, imp.error.detail, `import_consumers [${form}]`);
          const reduced = form === 'openapi' ? openapiForm(expect.issues) : expect.issues;
          if (got && !jsonEqual(reduceAll(got.issues), reduced)) r.diffs.push(...jsonDiff(reduced, reduceAll(got.issues), `import_consumers reduced issues [${form}]`));
        }
        if (form === 'openapi') {
          const got = JSON.parse(imp.error.detail);
          if (!v400(got)) r.diffs.push(`import_consumers 400 body fails the document's 400 schema: ${ajvErrors(v400)}`);
        }
      }
      const n = await countStored();
      if (n) r.diffs.push(`import_consumers raised but ${n} rows are stored [${form}]`);
    } else if (imp.error) {
      r.diffs.push(`import_consumers raised ${errText(imp.error)}`);
    } else {
      await checkWireCreated(client, r, JSON.parse(JSON.stringify(expect.output.consumers)),
        imp.rows.map((row) => row.consumer), tenant, actor, jsonbRows);
    }
    await client.query('ROLLBACK TO SAVEPOINT wire_path');
  }

  if (r.diffs.length) r.status = 'fail';
  else if (r.keyorder) r.status = 'keyorder';
  return r;
}

// Runs fn with fanfare.issue_format set for the transaction, then back.
async function withForm(client, form, fn) {
  await client.query("SELECT set_config('fanfare.issue_format', $1, true)", [form]);
  try {
    return await fn();
  } finally {
    await client.query("SELECT set_config('fanfare.issue_format', 'openapi', true)");
  }
}

function parseDetail(r, detail, where) {
  let body;
  try {
    body = JSON.parse(detail);
  } catch {
    r.diffs.push(`${where} DETAIL is not JSON: ${show(detail, 200)}`);
    return null;
  }
  if (!body || typeof body !== 'object' || Object.keys(body).join() !== 'error,issues,issueCount') {
    r.diffs.push(`${where} DETAIL is not {error, issues, issueCount} in that order: ${show(body, 200)}`);
    return null;
  }
  if (body.error !== 'validation_error') r.diffs.push(`${where} DETAIL error: expected "validation_error", got ${show(body.error)}`);
  return body;
}

// Where two texts first differ, with some context.
function firstDifference(a, b) {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `at byte ${i}: expected ${show(a.slice(Math.max(0, i - 40), i + 40))}, got ${show(b.slice(Math.max(0, i - 40), i + 40))}`;
}

// The jsonb path's issues against the oracle's in a form: the reduced issues
// in order, then the whole wire form, both up to the documented key order.
function compareIssues(r, expect, got, form, where, reducedOnly) {
  const red = reduceAll(got);
  const reduced = form === 'openapi' ? openapiForm(expect.issues) : expect.issues;
  const verdict = compareIssueLists(reduced, red);
  if (verdict === 'keyorder') r.keyorder = true;
  else if (verdict === 'different') {
    r.diffs.push(...jsonDiff(reduced, red, `${where} reduced issues [${form} form]`));
    return; // the wire form would repeat the same differences
  }
  if (reducedOnly) return;
  const wire = expectedIssues(expect.oracleIssues, form);
  const w = compareIssueLists(wire, got);
  if (w === 'keyorder') r.keyorder = true;
  else if (w === 'different') r.diffs.push(...jsonDiff(wire, got, `${where} wire issues`).map((s) => `${s} [${form} form]`));
}

// A body jsonb cannot hold: the wire path answers 22N02 (or 22N01 for a
// raw control character) with a contract 400 body, and stores nothing.
async function checkWireUnstorable(client, r, text, v400, countStored) {
  const imp = await savepointQuery(client, 'SELECT fanfare.import_consumers($1)::text AS consumer', [text]);
  if (!imp.error) {
    r.diffs.push(`import_consumers accepted a body jsonb cannot hold (${r.reason})`);
    return;
  }
  if (!['22N01', '22N02', '22N03'].includes(imp.error.code)) {
    r.diffs.push(`import_consumers raised ${errText(imp.error)} for a body jsonb cannot hold, expected 22N02`);
    return;
  }
  let body;
  try {
    body = JSON.parse(imp.error.detail);
  } catch {
    r.diffs.push(`import_consumers ${imp.error.code} DETAIL is not JSON: ${show(imp.error.detail, 200)}`);
    return;
  }
  if (!v400(body)) r.diffs.push(`import_consumers ${imp.error.code} body fails the document's 400 schema: ${ajvErrors(v400)}`);
  else if (body.issueCount !== 1 || body.issues.length !== 1 || body.issues[0].type !== 'json' || body.issues[0].path.length) {
    r.diffs.push(`import_consumers ${imp.error.code} body is not one issue of type json about the body: ${show(body, 200)}`);
  }
  const n = await countStored();
  if (n) r.diffs.push(`import_consumers raised but ${n} rows are stored`);
}

// Every stored row of the tenant, as text, in id (= input) order, without
// what differs between two calls (id, created_at).
async function storedRows(client, tenant) {
  return (await client.query(
    `SELECT to_jsonb(c) - 'id' - 'created_at' AS row FROM fanfare.consumers c
      WHERE organization_id = $1 ORDER BY id`, [tenant])).rows.map((x) => x.row);
}

// numeric's text of a valid decimal string: leading zeros dropped
const numericText = (s) => s.replace(/^0+(?=\d)/, '');

// What a JavaScript service would send for one created consumer: the
// oracle's output with the response's defaults and forms, keys in the
// document's order, the server's values taken from the product's answer.
export function expectedConsumerText(properties, exp, got) {
  const out = {};
  for (const name of properties) {
    const f = FIELDS[name];
    if (f.kind === 'server') {
      out[name] = got[name];
      continue;
    }
    const has = Object.prototype.hasOwnProperty.call(exp, name) && exp[name] !== undefined;
    let value = has ? exp[name] : f.dflt ?? null;
    if (has && value !== null) {
      if (f.kind === 'decimal') value = numericText(value);
      else if (f.kind === 'timestamp') value = formatMs(parseTimestamp(value));
      else if (f.kind === 'geo') value = { latitude: value.latitude, longitude: value.longitude };
    }
    out[name] = value;
  }
  return JSON.stringify(out);
}

// The wire path's rows: each consumer's text byte for byte, the same checks
// as the jsonb path's answer, and stored rows equal to the jsonb path's.
async function checkWireCreated(client, r, expected, texts, tenant, actor, jsonbRows) {
  const { properties, v200 } = await contractValidators();
  const before = r.diffs.length;
  let created;
  try {
    created = texts.map((t) => JSON.parse(t));
  } catch (e) {
    r.diffs.push(`import_consumers returned a row that is not JSON: ${e.message}`);
    return;
  }
  if (created.length !== expected.length) {
    r.diffs.push(`import_consumers returned ${created.length} rows for ${expected.length} inputs`);
    return;
  }
  if (!v200(created)) r.diffs.push(`import_consumers rows fail the 200 schema: ${ajvErrors(v200)}`);
  created.forEach((got, i) => {
    r.diffs.push(...compareConsumer(got, expected[i], `imported[${i}]`, { stored: false, tenant, actor }).map((d) => `${d} [wire]`));
    const want = expectedConsumerText(properties, expected[i], got);
    if (texts[i] !== want) r.diffs.push(`imported[${i}] text is not what JSON.stringify sends: ${firstDifference(want, texts[i])}`);
  });
  if (r.diffs.length - before > 8) r.diffs.splice(before + 8, Infinity, `... (${r.diffs.length - before - 8} more)`);
  const rows = await storedRows(client, tenant);
  if (jsonbRows && !jsonEqual(rows, jsonbRows)) {
    r.diffs.push(...jsonDiff(jsonbRows, rows, 'wire path stored rows vs jsonb path').map((d) => `${d} [wire]`));
  }
}

async function checkCreated(client, r, expected, created, tenant, actor) {
  if (!Array.isArray(created)) {
    r.diffs.push(`create_consumers returned ${show(created)}, not an array`);
    return;
  }
  if (created.length !== expected.length) {
    r.diffs.push(`create_consumers returned ${created.length} consumers for ${expected.length} inputs`);
    return;
  }
  const before = r.diffs.length;
  created.forEach((got, i) => r.diffs.push(...compareConsumer(got, expected[i], `returned[${i}]`, { stored: false, tenant, actor })));
  const createdAts = new Set(created.map((g) => g.createdAt));
  if (createdAts.size > 1) r.diffs.push(`createdAt differs within one batch: ${[...createdAts].slice(0, 3).join(', ')}`);
  const ids = new Set(created.map((g) => g.id));
  if (ids.size !== created.length) r.diffs.push('ids are not unique within the batch');
  if (r.diffs.length - before > 8) r.diffs.splice(before + 8, Infinity, `... (${r.diffs.length - before - 8} more)`);

  const bounds = (await client.query(
    "SELECT (extract(epoch FROM now()) * 1000)::bigint AS lo, (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS hi")).rows[0];
  const at = created.length ? parseTimestamp(created[0].createdAt) : null; // an empty batch creates nothing
  if (at !== null && (at < Math.floor(Number(bounds.lo)) - 1 || at > Number(bounds.hi) + 1)) {
    r.diffs.push(`createdAt ${created[0].createdAt} is outside the transaction (${formatMs(Number(bounds.lo))} .. ${formatMs(Number(bounds.hi))})`);
  }

  // the stored rows say the same
  const rows = (await client.query(
    `SELECT ${storedRowSelect()} FROM fanfare.consumers WHERE organization_id = $1`, [tenant])).rows;
  if (rows.length !== created.length) r.diffs.push(`${rows.length} rows stored for ${created.length} created consumers`);
  const byId = new Map(rows.map((row) => [row.id, row]));
  const sbefore = r.diffs.length;
  created.forEach((got, i) => {
    const row = byId.get(got.id);
    if (!row) {
      r.diffs.push(`stored[${i}]: no row with id ${show(got.id)}`);
      return;
    }
    const s = storedAsResponse(row);
    r.diffs.push(...compareConsumer(s, expected[i], `stored[${i}]`, { stored: true, tenant, actor }));
    if (s.organizationId !== tenant) r.diffs.push(`stored[${i}].organization_id: ${show(s.organizationId)}, not the tenant`);
    if (s.createdBy !== got.createdBy) r.diffs.push(`stored[${i}].created_by ${show(s.createdBy)} differs from the response's ${show(got.createdBy)}`);
    if (parseTimestamp(s.createdAt) !== parseTimestamp(got.createdAt)) r.diffs.push(`stored[${i}].created_at ${s.createdAt} differs from the response's ${got.createdAt}`);
    if (s.archived !== false) r.diffs.push(`stored[${i}].archived: ${show(s.archived)}`);
    for (const k of ['updatedAt', 'updatedBy', 'primaryExternalId', 'primaryLastSyncedAt', 'primarySourceVendor', 'primarySyncSourceId']) {
      if (s[k] !== null) r.diffs.push(`stored[${i}].${k}: ${show(s[k])}, expected null`);
    }
  });
  if (r.diffs.length - sbefore > 8) r.diffs.splice(sbefore + 8, Infinity, `... (${r.diffs.length - sbefore - 8} more)`);
}
