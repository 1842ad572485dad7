// Response-schema check: the bodies fanfare produces for POST /consumers/batch
// against the response schemas of contract/openapi.yaml, with a real JSON
// Schema validator (ajv, draft 2020-12 as OpenAPI 3.1 uses, plus
// ajv-formats for date-time, uuid and email).
//
//   node response-schema.mjs [--recreate]
//
// 200: a minimal consumer, a full one and 50 mixed ones, through both paths
// (create_consumers' jsonb, and import_consumers' rows joined as the
// gateway joins them); each must validate strictly against the 200 schema,
// every property of the schema must be present (explicit nulls), and the
// wire path's keys come in the document's property order.
//
// 400: the DETAIL of the 22023 error for several invalid batches, through
// both paths, against the 400 schema.  In the default form
// (fanfare.issue_format = openapi) every body must validate, with no
// exception.  In the valibot form the body may fail the schema only where
// Valibot's own 400 body for the same input fails it, in the same place
// (an issue without path, a numeric key, a null expected): those conflicts
// are printed with their counts; any other error fails the check.

import { randomUUID } from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import * as v from 'valibot';
import { StrictBodySchema } from './schema-strict.mjs';
import { connect, configureSession, loadOpenApi, responseSchema, checkCatalogue, show } from './common.mjs';

const recreate = process.argv.includes('--recreate');
const ACTOR = 'response-schema-check';

const doc = loadOpenApi();
const schema200 = responseSchema(doc, '200');
const schema400 = responseSchema(doc, '400');
const properties = checkCatalogue(schema200);

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const validate200 = ajv.compile(schema200);
const validate400 = ajv.compile(schema400);

// ---------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------

const minimal = [{ emailVerified: true, phoneVerified: false, status: 'ACTIVE' }];

const full = [{
  activityRank: 3, activityScore: 0.75, activityScoreUpdatedAt: '2024-05-01T12:00:00.123456789+02:00',
  aov: '42.50', email: 'jane.doe+promo@example.com', emailVerified: true, engagedCount: 12,
  fullName: 'Jane Doe', lastEngagedAt: '2024-05-02 08:30:00Z', lastGeoAt: '2024-05-03T09:00:00-0330',
  lastGeoCity: 'Lisbon', lastGeoCoordinates: { latitude: 38.7223, longitude: -9.1393 },
  lastGeoCountry: 'PT', lastGeoPostalCode: '1100-148', lastGeoRegion: 'Lisboa', lastGeoSource: 'ip',
  lastGeoTimezone: 'Europe/Lisbon', lastLoginAt: '2024-05-04T10:00:00 +05', lastOrderAt: '2024-04-30T18:45:00.5Z',
  lastReturnAt: '2024-03-15T11:11:11Z', loyaltyBalance: 150.25, loyaltyLastActivityAt: '2024-04-29T00:00:00Z',
  loyaltyLifetimePoints: 980, ltv: '000000001234.56000000',
  metadata: { tier: 'gold', visits: 7, vip: true, note: null, tags: ['a', 1, false, null], 'ключ': 'значение' },
  monetaryRank: 2, monetaryScore: 0.9, monetaryScoreUpdatedAt: '2024-05-01T00:00:00Z', phone: '+15555550123',
  phoneVerified: true, purchaseFrequencyRank: 5, purchaseFrequencyScore: -0.4,
  purchaseFrequencyScoreUpdatedAt: '1970-01-01T00:00:00Z', smsOptOut: true, status: 'INACTIVE',
  totalEngagements: 30, totalMessages: 44, totalOrders: 9007199254740991, totalReturns: 0,
  verificationCode: '123456', verificationCodeExpiresAt: '9999-12-31T23:59:59.999Z',
}];

// 50 consumers mixing present, absent and null fields; deterministic.
function mixed(n) {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const out = [];
  for (let i = 0; i < n; i++) {
    const c = { emailVerified: rnd() < 0.5, phoneVerified: rnd() < 0.5, status: pick(['ACTIVE', 'INACTIVE']) };
    const maybe = (k, val) => { if (rnd() < 0.6) c[k] = val; };
    maybe('email', pick([null, `user${i}@example.com`, `User.${i}+tag@Sub.Example.org`]));
    maybe('fullName', pick([null, `Consumer ${i}`, 'Zoë Ñandú', '']));
    maybe('phone', pick([null, `+1555000${String(i).padStart(4, '0')}`]));
    maybe('activityRank', pick([0, 1, 5]));
    maybe('monetaryScore', pick([0, -1.5, 1e-7, 123456.789]));
    maybe('aov', pick(['0', '00', '42.50', '999999999999.99999999', '000000000000.00000000']));
    maybe('ltv', pick(['1', '0.1', '12.345']));
    maybe('totalOrders', pick([0, 1, 100, 9007199254740991]));
    maybe('lastLoginAt', pick([null, '2024-05-01T12:00:00Z', '2024-02-29 23:59:59.9999999-23:59', '0001-01-01T00:00:00Z', '2000-01-01T00:00:00+14']));
    maybe('lastGeoCoordinates', pick([null, { latitude: -90, longitude: 180 }, { latitude: 0.000001, longitude: -179.999999 }]));
    maybe('metadata', pick([null, {}, { a: [] }, { n: 1.5, s: 'x', b: false, z: null }, ['array', 'as', 'record']]));
    maybe('smsOptOut', rnd() < 0.5);
    maybe('verificationCodeExpiresAt', pick([null, '2030-01-01T00:00:00.001Z']));
    out.push(c);
  }
  return out;
}

// Invalid batches for the 400 body.  Each one reaches a conflict or a shape
// the 400 schema has to carry.
const invalid = {
  'body is null (top-level issue)': null,
  'consumers is not an array': { consumers: {} },
  'missing keys and bad email': { consumers: [{ email: 'a@b', status: 'active' }] },
  'strict actions (rank, count, decimal, timestamp, geo)': {
    consumers: [{ emailVerified: true, phoneVerified: true, status: 'ACTIVE', activityRank: 7.5, totalOrders: -1.5,
      aov: '1.', lastLoginAt: '2023-02-29T00:00:00Z', lastGeoCoordinates: { latitude: 91, longitude: 0 } }],
  },
  'metadata union (nested issues)': { consumers: [{ emailVerified: true, phoneVerified: true, status: 'ACTIVE', metadata: { a: {}, b: [1, {}] } }] },
};

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

const results = [];
const conflicts = new Map(); // description -> count

function record(name, problems) {
  results.push({ name, ok: problems.length === 0 });
  console.log(`${problems.length ? 'FAIL' : 'ok  '}   ${name}`);
  for (const p of problems.slice(0, 12)) console.log(`         ${p}`);
  if (problems.length > 12) console.log(`         ... ${problems.length - 12} more`);
}

const ajvLine = (e) => `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`;

function pointer(obj, ptr) {
  return ptr.split('/').slice(1).reduce((o, k) => (o == null ? undefined : o[k.replace(/~1/g, '/').replace(/~0/g, '~')]), obj);
}

// Names an ajv error on a 400 body that the Valibot wire form itself causes.
function classify(e, body) {
  const value = pointer(body, e.instancePath);
  if (e.keyword === 'required' && e.params.missingProperty === 'path' && /^\/issues\/\d+$/.test(e.instancePath)) {
    return 'a top-level (whole-body) issue has no "path" (Valibot leaves it undefined); the 400 schema requires "path"';
  }
  if (e.keyword === 'type' && /^\/issues\/\d+\/path\/\d+\/key$/.test(e.instancePath) && Number.isInteger(value)) {
    return 'an array path item has a numeric "key" (Valibot: the index as a JSON number); the 400 schema says key is a string';
  }
  if (e.keyword === 'type' && /^\/issues\/\d+\/expected$/.test(e.instancePath) && value === null) {
    return '"expected" is null on validation issues such as email, integer, finite, safe_integer, iso_timestamp; the 400 schema says string';
  }
  return null;
}

async function inTenant(client, fn) {
  await client.query('BEGIN');
  try {
    await client.query("SELECT set_config('fanfare.organization_id', $1, true)", [randomUUID()]);
    return await fn();
  } finally {
    await client.query('ROLLBACK');
  }
}

// The created consumers through one path.
async function createdBy(client, path, body) {
  if (path === 'jsonb') return (await client.query('SELECT fanfare.create_consumers($1::jsonb) AS c', [body])).rows[0].c;
  const rows = (await client.query('SELECT fanfare.import_consumers($1)::text AS c', [body])).rows;
  return JSON.parse(`[${rows.map((r) => r.c).join(',')}]`);
}

async function check200(client, name, consumers, path) {
  const problems = [];
  const oracle = v.safeParse(StrictBodySchema, { consumers });
  if (!oracle.success) {
    record(name, [`test data error: the oracle rejects the batch: ${oracle.issues[0].message}`]);
    return;
  }
  await inTenant(client, async () => {
    let created;
    try {
      created = await createdBy(client, path, JSON.stringify({ consumers }));
    } catch (e) {
      problems.push(`${path} path raised ${e.code} ${e.message} ${e.detail ? show(e.detail, 300) : ''}`);
      return;
    }
    if (!validate200(created)) problems.push(...validate200.errors.map((e) => `200 schema: ${ajvLine(e)}`));
    if (!Array.isArray(created) || created.length !== consumers.length) {
      problems.push(`expected ${consumers.length} consumers, got ${Array.isArray(created) ? created.length : show(created)}`);
    } else {
      created.forEach((c, i) => {
        const missing = properties.filter((p) => !(c && Object.prototype.hasOwnProperty.call(c, p)));
        if (missing.length) problems.push(`[${i}] response properties absent (must be explicit): ${missing.join(', ')}`);
        if (path === 'wire' && Object.keys(c).join() !== properties.join()) problems.push(`[${i}] keys are not in the document's property order`);
      });
    }
  });
  record(`200 ${name} (${path} path)`, problems);
}

async function check400(client, name, body, { maxIssues, path, form }) {
  const problems = [];
  const oracle = v.safeParse(StrictBodySchema, body);
  if (oracle.success) {
    record(name, ['test data error: the oracle accepts the batch']);
    return;
  }
  const wire = JSON.parse(JSON.stringify(oracle.issues));
  const valibotBody = { error: 'validation_error', issues: maxIssues ? wire.slice(0, maxIssues) : wire, issueCount: wire.length };
  validate400(valibotBody);
  const valibotErrors = new Set((validate400.errors ?? []).map((e) => `${e.instancePath} ${e.keyword}`));

  await inTenant(client, async () => {
    await client.query("SELECT set_config('fanfare.issue_format', $1, true)", [form]);
    if (maxIssues) await client.query("SELECT set_config('fanfare.max_issues', $1, true)", [String(maxIssues)]);
    try {
      await createdBy(client, path, JSON.stringify(body));
      problems.push(`the ${path} path did not raise`);
      return;
    } catch (e) {
      if (e.code !== '22023') {
        problems.push(`the ${path} path raised ${e.code} ${e.message}, expected 22023`);
        return;
      }
      let detail;
      try {
        detail = JSON.parse(e.detail);
      } catch {
        problems.push(`DETAIL is not JSON: ${show(e.detail, 200)}`);
        return;
      }
      if (detail.issueCount !== wire.length) problems.push(`issueCount ${show(detail.issueCount)}, expected ${wire.length} (the total before the cap)`);
      const want = maxIssues ? Math.min(maxIssues, wire.length) : wire.length;
      if (!Array.isArray(detail.issues) || detail.issues.length !== want) {
        problems.push(`${Array.isArray(detail.issues) ? detail.issues.length : show(detail.issues)} issues in the body, expected ${want}`);
      }
      if (!validate400(detail)) {
        for (const err of validate400.errors) {
          const why = classify(err, detail);
          if (form === 'valibot' && why && valibotErrors.has(`${err.instancePath} ${err.keyword}`)) {
            conflicts.set(why, (conflicts.get(why) ?? 0) + 1);
            console.log(`         contract conflict (valibot form, expected): ${ajvLine(err)}`);
          } else {
            problems.push(`400 schema: ${ajvLine(err)}${why ? ` (a Valibot-form conflict, which the ${form} form must not have)` : ''}`);
          }
        }
      }
    }
  });
  record(`400 ${name} (${path} path, ${form} form)`, problems);
}

async function main() {
  const client = await connect({ recreate });
  try {
    await configureSession(client, { actor: ACTOR, maxIssues: 100000 });
    for (const path of ['jsonb', 'wire']) {
      await check200(client, 'minimal consumer', minimal, path);
      await check200(client, 'full consumer', full, path);
      await check200(client, '50 mixed consumers', mixed(50), path);
      for (const form of ['openapi', 'valibot']) {
        for (const [name, body] of Object.entries(invalid)) await check400(client, name, body, { path, form });
        await check400(client, 'fanfare.max_issues = 2 caps the issues, issueCount is the total',
          { consumers: [{ activityRank: 9 }, { activityRank: 9 }] }, { maxIssues: 2, path, form });
      }
    }
  } finally {
    await client.end();
  }
  if (conflicts.size) {
    console.log('contract conflicts between the 400 schema of openapi.yaml and the valibot form (expected there, not failures):');
    for (const [why, n] of conflicts) console.log(`  ${n} x ${why}`);
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`response-schema: ${passed} passed, ${failed} failed`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.error(`response-schema: ${e.stack || e.message}`);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
});
