// Helpers shared by run.mjs (conformance cases) and response-schema.mjs
// (ajv check of the 200 and 400 bodies): the database connection, the
// response schema read from contract/openapi.yaml, the field catalogue the
// response is compared with, a strict ISO timestamp parser and a JSON
// deep-equal that ignores object key order (jsonb reorders keys).

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import YAML from 'yaml';

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
