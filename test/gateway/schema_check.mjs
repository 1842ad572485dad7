// Checks a JSON document against a response schema (200 by default) of
// POST /consumers/batch, with a small validator for the JSON Schema subset
// the contract uses (type, properties, required, items, anyOf, oneOf, enum,
// const, pattern, minimum, maximum, additionalProperties, propertyNames,
// format uuid/date-time/email).  Unknown keywords other than annotations
// make it fail, so that a contract change cannot be silently ignored.
//
//   node schema_check.mjs [--status 400] OPENAPI.json BODY.json   exit 0 if valid
//   node schema_check.mjs --self-test OPENAPI.json   the checker rejects bad bodies
import { readFileSync } from 'node:fs';

const ANNOTATIONS = new Set(['default', 'description', 'nullable', 'title']);
const KNOWN = new Set(['type', 'properties', 'required', 'items', 'anyOf', 'oneOf', 'enum',
  'const', 'pattern', 'minimum', 'maximum', 'additionalProperties', 'propertyNames', 'format']);

const FORMATS = {
  uuid: (s) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s),
  'date-time': (s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)),
  email: (s) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s),
};

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(want, v) {
  const got = typeOf(v);
  return want === got || (want === 'number' && got === 'integer');
}

// Returns a list of error strings (empty when valid).
function validate(schema, v, at = '$') {
  const errors = [];
  for (const k of Object.keys(schema))
    if (!KNOWN.has(k) && !ANNOTATIONS.has(k)) errors.push(`${at}: unsupported keyword ${k}`);
  if (schema.nullable && v === null) return errors;
  if (schema.type !== undefined && !typeMatches(schema.type, v))
    return [...errors, `${at}: expected ${schema.type}, got ${typeOf(v)}`];
  if (schema.enum && !schema.enum.includes(v)) errors.push(`${at}: not in enum`);
  if ('const' in schema && schema.const !== v) errors.push(`${at}: not const`);
  if (typeof v === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(v)) errors.push(`${at}: pattern ${schema.pattern}`);
    if (schema.format && FORMATS[schema.format] && !FORMATS[schema.format](v)) errors.push(`${at}: format ${schema.format}`);
  }
  if (typeof v === 'number') {
    if (schema.minimum !== undefined && v < schema.minimum) errors.push(`${at}: below minimum`);
    if (schema.maximum !== undefined && v > schema.maximum) errors.push(`${at}: above maximum`);
  }
  if (Array.isArray(v) && schema.items)
    v.forEach((item, i) => errors.push(...validate(schema.items, item, `${at}[${i}]`)));
  if (typeOf(v) === 'object') {
    for (const r of schema.required || []) if (!(r in v)) errors.push(`${at}: missing ${r}`);
    for (const [k, value] of Object.entries(v)) {
      if (schema.properties && k in schema.properties) errors.push(...validate(schema.properties[k], value, `${at}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: unexpected ${k}`);
      else if (typeof schema.additionalProperties === 'object') errors.push(...validate(schema.additionalProperties, value, `${at}.${k}`));
      if (schema.propertyNames) errors.push(...validate(schema.propertyNames, k, `${at}{${k}}`));
    }
  }
  for (const key of ['anyOf', 'oneOf']) {
    if (!schema[key]) continue;
    const ok = schema[key].filter((s) => validate(s, v, at).length === 0).length;
    if (key === 'anyOf' ? ok === 0 : ok !== 1) errors.push(`${at}: ${key} matched ${ok}`);
  }
  return errors;
}

function responseSchema(openapiFile, status = '200') {
  const doc = JSON.parse(readFileSync(openapiFile, 'utf8'));
  return doc.paths['/consumers/batch'].post.responses[status].content['application/json'].schema;
}

const args = process.argv.slice(2);
let status = '200';
if (args[0] === '--status') {
  status = args[1];
  args.splice(0, 2);
}
if (args[0] === '--self-test') {
  const schema = responseSchema(args[1]);
  const good = [{ id: '0190a4b2-0000-7000-8000-000000000000', organizationId: '0190a4b2-0000-7000-8000-000000000001',
    createdAt: '2024-01-01T00:00:00.000Z', createdBy: 'x', archived: false, emailVerified: true,
    phoneVerified: false, status: 'ACTIVE', aov: '0', activityRank: 0, email: 'a@b.co', metadata: { a: [1, 'x'] } }];
  const bad = [
    (b) => { delete b[0].id; }, (b) => { b[0].activityRank = 7; }, (b) => { b[0].aov = '1.123456789'; },
    (b) => { b[0].status = 'GONE'; }, (b) => { b[0].createdAt = 'yesterday'; }, (b) => { b[0].metadata = { a: { b: 1 } }; },
  ];
  let failures = validate(schema, good).length ? 1 : 0;
  for (const mutate of bad) {
    const b = structuredClone(good);
    mutate(b);
    if (validate(schema, b).length === 0) failures++;
  }
  // and a 400 body: Valibot's raw form (no path, numeric key, null expected) fails
  const schema400 = responseSchema(args[1], '400');
  const issue = { kind: 'schema', type: 'json', expected: 'JSON', received: 'x', message: 'Invalid JSON: x', path: [] };
  if (validate(schema400, { error: 'validation_error', issues: [issue], issueCount: 1 }).length) failures++;
  for (const mutate of [(i) => { delete i.path; }, (i) => { i.expected = null; },
    (i) => { i.path = [{ type: 'array', origin: 'value', input: null, key: 0 }]; }]) {
    const i = structuredClone(issue);
    mutate(i);
    if (validate(schema400, { error: 'validation_error', issues: [i], issueCount: 1 }).length === 0) failures++;
  }
  if (failures) { console.error(`schema_check self-test: ${failures} wrong verdicts`); process.exit(1); }
  process.exit(0);
}
const errors = validate(responseSchema(args[0], status), JSON.parse(readFileSync(args[1], 'utf8')));
if (errors.length) {
  console.error(errors.slice(0, 20).join('\n'));
  process.exit(1);
}
