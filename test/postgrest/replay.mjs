// PostgREST replay suite: POST /rpc/post_consumers_batch as PostgREST 12
// runs it, statement for statement, against the fanfare extension.
//
//   node replay.mjs            (run.sh sets up node_modules and a cluster)
//
// No PostgREST binary is needed.  A LOGIN, NOINHERIT "authenticator" role
// connects, as PostgREST's pool does, and each request is one transaction:
//
//   BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE
//   select set_config('search_path', $1, true), set_config('role', $2, true),
//          set_config('request.jwt.claims', $3, true), ... request.method,
//          request.path, request.headers, request.cookies      (values bound)
//   WITH pgrst_source AS (... "fanfare"."post_consumers_batch"($1::json) ...)
//   SELECT ... body, response_headers, response_status, response_inserted ...
//   COMMIT                                  (ABORT when a statement failed)
//
// which is what PostgREST 12.2 sends for a volatile function with one
// unnamed json parameter, called with Accept: application/json and no
// Prefer header (its Query.setPgLocals, QueryBuilder.callPlanToQuery and
// Statements.prepareCall, run by hasql-transaction; the statements are in
// statements.mjs, shared with the importer's PostgREST stand-in).  The body
// is a bind parameter sent as text of unknown type, as PostgREST sends it.
//
// The database is reached with the PG* variables (a superuser).  The suite
// drops and creates the database fanfare_postgrest_test, creates the roles
// it needs when missing (roles are cluster-wide) and two organizations.
// Each check prints "ok - ..." or "FAIL - ... (why)"; lines starting with
// "#" say what PostgREST itself would answer where the database refuses the
// call.  The last line is "N passed, M failed"; the exit status is 1 when
// M > 0.
//
// FANFARE_REPLAY_INJECT=1 turns several expectations and one schema input
// deliberately wrong, to show that the checks can fail: every check marked
// with inject() must then print FAIL.

import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import pg from '../conformance/node_modules/pg/lib/index.js';
import Ajv2020 from '../conformance/node_modules/ajv/dist/2020.js';
import addFormats from '../conformance/node_modules/ajv-formats/dist/index.js';
import { loadOpenApi, responseSchema } from '../conformance/common.mjs';
// the statements themselves, shared with the importer's PostgREST stand-in
import {
  BEGIN, FUNCTION, SCHEMA, mainStatement, quoteIdent, settingsStatement, settingsValues,
} from './statements.mjs';

const DATABASE = 'fanfare_postgrest_test';
const AUTHENTICATOR = 'authenticator';
const WEB_USER = 'web_user';       // JWT role granted fanfare_api
const WEB_NOBODY = 'web_nobody';   // JWT role granted nothing
const WEB_ANON = 'web_anon';       // db-anon-role: requests without a JWT
const INJECT = process.env.FANFARE_REPLAY_INJECT === '1';

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

let passed = 0;
let failed = 0;

function check(name, ok, why) {
  if (ok) {
    passed++;
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`FAIL - ${name} (${typeof why === 'function' ? why() : why})`);
  }
}

const note = (text) => console.log(`# ${text}`);

// The expected value, or a wrong one under FANFARE_REPLAY_INJECT=1.
const inject = (right, wrong) => (INJECT ? wrong : right);

const show = (v) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s === undefined ? 'undefined' : s.length > 300 ? `${s.slice(0, 300)}...` : s;
};

// ---------------------------------------------------------------------------
// What PostgREST 12 sends
// ---------------------------------------------------------------------------

const base64url = (s) => Buffer.from(s).toString('base64url');
const jwtSecret = randomBytes(32).toString('base64url');

// An HS256 token for the claims, so that request.headers carries a real
// Authorization header (PostgREST keeps every header but Cookie there).
function jwtFor(claims) {
  const head = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = base64url(JSON.stringify(claims));
  const sig = createHmac('sha256', jwtSecret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

// The parameters of settingsStatement for one request.  A request with no
// claims is anonymous: no Authorization header, the anon role, claims {}.
function settingsFor({ role, claims, body, extraHeaders }) {
  const headers = {
    ...extraHeaders,
    accept: 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'content-type': 'application/json',
    host: 'localhost:3000',
    'user-agent': 'fanfare-postgrest-replay',
  };
  if (claims) headers.authorization = `Bearer ${jwtFor(claims)}`;
  return settingsValues(role, claims, headers);
}

// Runs one request as PostgREST does; returns { row } or { error }.
async function postgrest(client, request) {
  await client.query(BEGIN);
  try {
    await client.query({ name: 'pgrst_settings', text: settingsStatement, values: settingsFor(request) });
    const { rows } = await client.query({ name: 'pgrst_call', text: mainStatement, values: [request.body] });
    await client.query('COMMIT');
    return { row: rows[0] };
  } catch (error) {
    await client.query('ABORT');
    return { error };
  }
}

// The function called on its own, with the same settings, rolled back:
// its own output text and the status it set.
async function direct(client, request) {
  await client.query(BEGIN);
  try {
    await client.query({ name: 'pgrst_settings', text: settingsStatement, values: settingsFor(request) });
    const { rows } = await client.query(
      `SELECT ${quoteIdent(SCHEMA)}.${quoteIdent(FUNCTION)}($1::json)::text AS body, ` +
      "current_setting('response.status', true) AS status", [request.body]);
    return rows[0];
  } finally {
    await client.query('ROLLBACK');
  }
}

// fanfare.validate_consumers for the body, as the same role and tenant.
async function validateAs(client, request) {
  await client.query(BEGIN);
  try {
    await client.query({ name: 'pgrst_settings', text: settingsStatement, values: settingsFor(request) });
    const { rows } = await client.query('SELECT fanfare.validate_consumers($1::jsonb) AS issues', [request.body]);
    return JSON.parse(rows[0].issues);
  } finally {
    await client.query('ROLLBACK');
  }
}

// ---------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------

// Every column as the text the server sent: body bytes are compared as sent.
const rawText = { getTypeParser: () => (value) => value };

async function setup() {
  const admin = new pg.Client({ database: process.env.PGDATABASE || 'postgres' });
  await admin.connect();
  await admin.query('SET client_min_messages = warning');
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  // Roles are cluster-wide: create the missing ones, then give all of them
  // the attributes the suite needs, whatever an earlier run left.  A new
  // authenticator gets a random password, used where the cluster asks for
  // one; an existing one keeps its own (FANFARE_REPLAY_PASSWORD, if needed).
  let password = process.env.FANFARE_REPLAY_PASSWORD;
  const exists = async (role) => (await admin.query('SELECT FROM pg_roles WHERE rolname = $1', [role])).rowCount > 0;
  if (!(await exists(AUTHENTICATOR))) {
    password = randomBytes(24).toString('base64url');
    await admin.query(`CREATE ROLE ${AUTHENTICATOR} LOGIN NOINHERIT PASSWORD '${password}'`);
  }
  for (const role of [WEB_USER, WEB_NOBODY, WEB_ANON])
    if (!(await exists(role))) await admin.query(`CREATE ROLE ${role} NOLOGIN`);
  await admin.query(`ALTER ROLE ${AUTHENTICATOR} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`);
  for (const role of [WEB_USER, WEB_NOBODY, WEB_ANON])
    await admin.query(`ALTER ROLE ${role} NOLOGIN NOSUPERUSER NOBYPASSRLS`);
  await admin.end();

  const db = new pg.Client({ database: DATABASE, types: rawText });
  await db.connect();
  await db.query('SET client_min_messages = warning');
  await db.query('CREATE EXTENSION fanfare'); // creates fanfare_api when missing
  await db.query(`GRANT ${WEB_USER}, ${WEB_NOBODY}, ${WEB_ANON} TO ${AUTHENTICATOR}`);
  await db.query(`GRANT fanfare_api TO ${WEB_USER}`);
  for (const role of [WEB_NOBODY, WEB_ANON, AUTHENTICATOR])
    await db.query(`REVOKE fanfare_api FROM ${role}`);
  const org = async (name) => (await db.query('SELECT fanfare.create_organization($1) AS id', [name])).rows[0].id;
  const A = await org('PostgREST replay tenant A');
  const B = await org('PostgREST replay tenant B');

  const api = new pg.Client({
    database: DATABASE, user: AUTHENTICATOR, password, types: rawText,
    application_name: 'PostgREST 12 (fanfare replay)',
  });
  await api.connect();
  return { db, api, A, B };
}

// ---------------------------------------------------------------------------
// Checks shared by the cases
// ---------------------------------------------------------------------------

const doc = loadOpenApi();
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const validators = Object.fromEntries(
  ['200', '400', '401', '403'].map((s) => [s, ajv.compile(responseSchema(doc, s))]));
const ajvErrors = (v) => (v.errors ?? []).slice(0, 4).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');

// PostgREST's status for an RPC: response.status when set, else 200.
const httpStatus = (row) => (row.response_status === null ? '200' : row.response_status);

function parseBody(label, row) {
  try {
    return JSON.parse(row.body);
  } catch (e) {
    check(`${label}: body is JSON`, false, e.message);
    return undefined;
  }
}

function schemaCheck(label, status, body) {
  const validate = validators[status];
  check(`${label}: body validates against the ${status} schema`, validate(body), () => ajvErrors(validate));
}

function statementSucceeded(label, result) {
  check(`${label}: the call statement succeeds`, !result.error,
    () => `SQLSTATE ${result.error.code}: ${result.error.message}`);
  return !result.error;
}

const pathOf = (issue) => (issue.path ?? []).map((p) => p.key).join('/');

async function counts(db, A, B) {
  const { rows } = await db.query(
    'SELECT count(*) FILTER (WHERE organization_id = $1) AS a, count(*) FILTER (WHERE organization_id = $2) AS b, ' +
    'count(*) AS total FROM fanfare.consumers', [A, B]);
  return { a: Number(rows[0].a), b: Number(rows[0].b), total: Number(rows[0].total) };
}

const consumer = (extra = {}) => ({ emailVerified: true, phoneVerified: false, status: 'ACTIVE', ...extra });
const batch = (...consumers) => JSON.stringify({ consumers: consumers });

// ---------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------

async function validBatch({ db, api, A, B }) {
  const label = '1 valid batch';
  const sub = 'user-1@tenant-a.example';
  const claims = { role: WEB_USER, organization_id: A, sub };
  const body = batch(
    consumer({ email: 'ana@example.com', fullName: 'Ana Lima' }),
    consumer({ emailVerified: false, phoneVerified: true, status: 'INACTIVE', phone: '+15555550100' }));
  const before = await counts(db, A, B);
  const result = await postgrest(api, { role: WEB_USER, claims, body });
  if (!statementSucceeded(label, result)) return;
  const { row } = result;
  const wantStatus = inject(null, '201');
  check(`${label}: response_status is NULL (PostgREST answers 200)`,
    row.response_status === wantStatus, `response_status ${show(row.response_status)}, want ${show(wantStatus)}`);
  check(`${label}: response_headers is NULL, page_total is 1`,
    row.response_headers === null && row.page_total === '1',
    `response_headers ${show(row.response_headers)}, page_total ${show(row.page_total)}`);
  const created = parseBody(label, row);
  if (created === undefined) return;
  const forSchema = INJECT ? structuredClone(created) : created;
  if (INJECT && Array.isArray(forSchema) && forSchema[0]) delete forSchema[0].id;
  schemaCheck(label, '200', forSchema);
  check(`${label}: 2 consumers returned, in input order`,
    Array.isArray(created) && created.length === 2 && created[0].email === 'ana@example.com' &&
    created[1].phone === '+15555550100', `body ${show(created)}`);
  check(`${label}: every consumer's organizationId is tenant A`,
    Array.isArray(created) && created.every((c) => c.organizationId === A), `body ${show(created)}`);
  const wantBy = inject(sub, WEB_USER);
  check(`${label}: every consumer's createdBy is the JWT's sub`,
    Array.isArray(created) && created.every((c) => c.createdBy === wantBy),
    `createdBy ${show(Array.isArray(created) && created.map((c) => c.createdBy))}, want ${show(wantBy)}`);
  const after = await counts(db, A, B);
  const wantRows = inject(2, 3);
  check(`${label}: 2 rows stored for tenant A, none elsewhere`,
    after.a === before.a + wantRows && after.total === before.total + wantRows,
    `before ${show(before)}, after ${show(after)}, want ${wantRows} more for A`);
  const { rows } = await db.query(
    'SELECT id::text, created_by, email FROM fanfare.consumers WHERE organization_id = $1 AND id = ANY($2::uuid[]) ORDER BY id',
    [A, Array.isArray(created) ? created.map((c) => c.id) : []]);
  check(`${label}: the stored rows are the returned ids, created_by = sub`,
    rows.length === 2 && rows.every((r) => r.created_by === sub), `rows ${show(rows)}`);
}

async function invalidBatch({ db, api, A, B }) {
  const label = '2 invalid batch';
  const claims = { role: WEB_USER, organization_id: A, sub: 'user-2' };
  // element 0: no emailVerified, no phoneVerified, a bad email; element 1 is valid
  const body = batch({ status: 'ACTIVE', email: 'not-an-email' }, consumer({ email: 'valid-2@example.com' }));
  const before = await counts(db, A, B);
  const result = await postgrest(api, { role: WEB_USER, claims, body });
  if (!statementSucceeded(label, result)) return;
  const { row } = result;
  const wantStatus = inject('400', '422');
  check(`${label}: response_status is '400'`, row.response_status === wantStatus,
    `response_status ${show(row.response_status)}, want ${show(wantStatus)}`);
  const answer = parseBody(label, row);
  if (answer === undefined) return;
  const forSchema = INJECT ? structuredClone(answer) : answer;
  if (INJECT && forSchema?.issues?.[0]?.path?.[0]) forSchema.issues[0].path[0].key = 0;
  schemaCheck(label, '400', forSchema);
  const issues = answer?.issues ?? [];
  const paths = issues.map((i) => `${i.type}@${pathOf(i)}`);
  check(`${label}: issues name the bad email and both missing keys of element 0`,
    paths.includes('email@consumers/0/email') && paths.includes('object@consumers/0/emailVerified') &&
    paths.includes('object@consumers/0/phoneVerified') && issues.every((i) => pathOf(i).startsWith('consumers/0/')),
    `issues at ${show(paths)}`);
  const expected = await validateAs(api, { role: WEB_USER, claims, body });
  check(`${label}: issues are exactly fanfare.validate_consumers' for the body in tenant A`,
    isDeepStrictEqual(issues, expected), `body issues ${show(issues)}; validate_consumers ${show(expected)}`);
  check(`${label}: issueCount is the number of issues`,
    answer?.issueCount === expected.length && issues.length === expected.length,
    `issueCount ${show(answer?.issueCount)}, ${issues.length} listed, ${expected.length} expected`);
  const after = await counts(db, A, B);
  check(`${label}: nothing stored`, isDeepStrictEqual(after, before), `before ${show(before)}, after ${show(after)}`);
}

async function duplicateEmail({ db, api, A, B }) {
  const label = '3 duplicate email';
  const claims = { role: WEB_USER, organization_id: A, sub: 'user-3' };
  const first = await postgrest(api, { role: WEB_USER, claims, body: batch(consumer({ email: 'dup@example.com' })) });
  check(`${label}: the first batch stores dup@example.com`,
    !first.error && first.row.response_status === null,
    () => (first.error ? `SQLSTATE ${first.error.code}: ${first.error.message}` : `response_status ${first.row.response_status}`));
  const before = await counts(db, A, B);
  const body = batch(consumer({ email: 'DUP@example.com' }), consumer({ email: 'fresh-3@example.com' }));
  const result = await postgrest(api, { role: WEB_USER, claims, body });
  if (!statementSucceeded(label, result)) return;
  const { row } = result;
  check(`${label}: response_status is '400'`, row.response_status === '400', `response_status ${show(row.response_status)}`);
  const answer = parseBody(label, row);
  if (answer === undefined) return;
  schemaCheck(label, '400', answer);
  const issues = answer?.issues ?? [];
  const wantPath = inject('consumers/0/email', 'consumers/1/email');
  check(`${label}: one issue, type unique at consumers/0/email, "Email already exists"`,
    issues.length === 1 && issues[0].type === 'unique' && pathOf(issues[0]) === wantPath &&
    issues[0].message === 'Email already exists' && answer.issueCount === 1,
    `${issues.length} issues, ${show(issues.map((i) => `${i.type}@${pathOf(i)}: ${i.message}`))}, want unique@${wantPath}`);
  const expected = await validateAs(api, { role: WEB_USER, claims, body });
  check(`${label}: issues are exactly fanfare.validate_consumers' for the body`,
    isDeepStrictEqual(issues, expected), `validate_consumers ${show(expected)}`);
  const after = await counts(db, A, B);
  const { rows } = await db.query(
    "SELECT count(*) FILTER (WHERE lower(email) = 'fresh-3@example.com') AS fresh, " +
    "count(*) FILTER (WHERE lower(email) = 'dup@example.com') AS dup FROM fanfare.consumers");
  check(`${label}: the fresh consumer is not stored (its insert was undone)`,
    rows[0].fresh === '0' && isDeepStrictEqual(after, before), `fresh rows ${rows[0].fresh}, before ${show(before)}, after ${show(after)}`);
  check(`${label}: dup@example.com is stored once`, rows[0].dup === '1', `dup rows ${rows[0].dup}`);
}

async function noTenant({ db, api, A, B }) {
  const cases = [
    ['4 no organization claim', { role: WEB_USER, sub: 'x' }],
    ['4 malformed organization_id claim', { role: WEB_USER, organization_id: 'not-a-uuid', sub: 'x' }],
    ['4 organization_id claim that is not a string', { role: WEB_USER, organization_id: 42, sub: 'x' }],
    ['4 organization_id claim that is an array', { role: WEB_USER, organization_id: [A, B], sub: 'x' }],
  ];
  for (const [label, claims] of cases) {
    const before = await counts(db, A, B);
    const result = await postgrest(api, { role: WEB_USER, claims, body: batch(consumer({ email: 'no-tenant@example.com' })) });
    if (!statementSucceeded(label, result)) continue;
    const { row } = result;
    check(`${label}: response_status is '401'`, row.response_status === '401', `response_status ${show(row.response_status)}`);
    const wantBody = inject('{"error":"Authentication required"}', '{"error":"Authentication Required"}');
    check(`${label}: body is exactly {"error":"Authentication required"}`,
      row.body === wantBody, `body ${show(row.body)}, want ${show(wantBody)}`);
    const answer = parseBody(label, row);
    if (answer !== undefined) schemaCheck(label, '401', answer);
    const after = await counts(db, A, B);
    check(`${label}: nothing stored`, isDeepStrictEqual(after, before), `before ${show(before)}, after ${show(after)}`);
  }
}

async function payloadTenant({ db, api, A, B }) {
  const label = '5 organizationId in the payload';
  const claims = { role: WEB_USER, organization_id: A, sub: 'user-5' };
  const body = batch(
    consumer({ organizationId: B, email: 'payload-b-1@example.com' }),
    consumer({ organizationId: B, createdBy: 'mallory', id: '0190f5c2-8d2e-7a51-9c40-6f1d2b3a4c5e' }));
  const before = await counts(db, A, B);
  const result = await postgrest(api, { role: WEB_USER, claims, body });
  if (!statementSucceeded(label, result)) return;
  const { row } = result;
  check(`${label}: response_status is NULL (200)`, row.response_status === null, `response_status ${show(row.response_status)}`);
  const created = parseBody(label, row);
  if (created === undefined) return;
  schemaCheck(label, '200', created);
  check(`${label}: the body says tenant A and the JWT's sub, not the payload's values`,
    Array.isArray(created) && created.length === 2 &&
    created.every((c) => c.organizationId === A && c.createdBy === 'user-5') &&
    created[1].id !== '0190f5c2-8d2e-7a51-9c40-6f1d2b3a4c5e', `body ${show(created)}`);
  const after = await counts(db, A, B);
  const wantB = inject(0, 2);
  check(`${label}: 2 rows stored under A, none under B`,
    after.a === before.a + 2 && after.b === wantB && after.total === before.total + 2,
    `before ${show(before)}, after ${show(after)}, want ${wantB} under B`);
}

async function notGranted({ db, api, A, B }) {
  const runs = [
    ['6 JWT role not granted the function', WEB_NOBODY, { role: WEB_NOBODY, organization_id: A, sub: 'user-6' },
      'PostgREST 12 maps SQLSTATE 42501 to 403 Forbidden when the request is authenticated (a JWT whose role is not ' +
      'db-anon-role), with the error as body: {"code":"42501","details":null,"hint":null,"message":"<as above>"}'],
    ['6 anonymous role (no JWT) not granted the function', WEB_ANON, null,
      'PostgREST 12 maps SQLSTATE 42501 to 401 Unauthorized (with WWW-Authenticate: Bearer) when the request runs as ' +
      'db-anon-role, i.e. carries no JWT; same body shape'],
  ];
  for (const [label, role, claims, answer] of runs) {
    const before = await counts(db, A, B);
    const result = await postgrest(api, { role, claims, body: batch(consumer({ email: 'nobody@example.com' })) });
    const wantCode = inject('42501', '42502');
    check(`${label}: the call fails with SQLSTATE 42501`, result.error?.code === wantCode,
      () => `${result.error ? `SQLSTATE ${result.error.code}: ${result.error.message}` : `it succeeded: ${show(result.row)}`}, want ${wantCode}`);
    if (result.error) note(`${role}: ${result.error.message}`);
    note(answer);
    const after = await counts(db, A, B);
    check(`${label}: nothing stored`, isDeepStrictEqual(after, before), `before ${show(before)}, after ${show(after)}`);
  }
}

// The token names an organization that does not exist, or one that is
// disabled: 403, as the gateway answers for a disabled organization's key.
async function forbiddenOrganization({ db, api, A, B }) {
  await db.query('UPDATE fanfare.organizations SET disabled_at = now() WHERE id = $1', [B]);
  try {
    for (const [label, org] of [['8 unknown organization', randomUUID()], ['8 disabled organization', B]]) {
      const before = await counts(db, A, B);
      const claims = { role: WEB_USER, organization_id: org, sub: 'user-8' };
      const result = await postgrest(api, { role: WEB_USER, claims, body: batch(consumer({ email: 'forbidden-8@example.com' })) });
      if (!statementSucceeded(label, result)) continue;
      const { row } = result;
      const wantStatus = inject('403', '401');
      check(`${label}: response_status is '403'`, row.response_status === wantStatus, `response_status ${show(row.response_status)}`);
      check(`${label}: body is exactly {"error":"Forbidden"}`, row.body === '{"error":"Forbidden"}', `body ${show(row.body)}`);
      const answer = parseBody(label, row);
      if (answer !== undefined) schemaCheck(label, '403', answer);
      const after = await counts(db, A, B);
      check(`${label}: nothing stored`, isDeepStrictEqual(after, before), `before ${show(before)}, after ${show(after)}`);
    }
  } finally {
    await db.query('UPDATE fanfare.organizations SET disabled_at = NULL WHERE id = $1', [B]);
  }
}

// With db-schemas = fanfare PostgREST also serves POST /consumers, an INSERT
// of the JSON rows as they are.  The table refuses statements that do not
// come from fanfare's functions.
async function directTableWrite({ db, api, A, B }) {
  const label = '9 POST /consumers (a direct INSERT into the table)';
  const claims = { role: WEB_USER, organization_id: A, sub: 'user-9' };
  const rows = JSON.stringify([{ organization_id: A, id: randomUUID(), created_by: 'forged', email_verified: true,
    phone_verified: true, status: 'ACTIVE', archived: true, email: 'not an email' }]);
  const before = await counts(db, A, B);
  let error = null;
  await api.query(BEGIN);
  try {
    await api.query({ name: 'pgrst_settings', text: settingsStatement, values: settingsFor({ role: WEB_USER, claims, body: rows }) });
    await api.query('INSERT INTO "fanfare"."consumers" SELECT * FROM json_populate_recordset(null::"fanfare"."consumers", $1::json)', [rows]);
    await api.query('COMMIT');
  } catch (e) {
    error = e;
    await api.query('ABORT');
  }
  const wantCode = inject('42501', '23514');
  check(`${label}: refused with SQLSTATE 42501`, error?.code === wantCode,
    () => (error ? `SQLSTATE ${error.code}: ${error.message}` : 'it succeeded'));
  note('PostgREST 12 answers an authenticated request refused with 42501 with 403 {"code":"42501",...}');
  const after = await counts(db, A, B);
  check(`${label}: nothing stored`, isDeepStrictEqual(after, before), `before ${show(before)}, after ${show(after)}`);
}

// Ids and timestamps differ between two calls; everything else must not.
const maskVolatile = (text) => text
  .replace(/"id":"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"/g, '"id":"<id>"')
  .replace(/"createdAt":"[^"]*"/g, '"createdAt":"<createdAt>"');

async function bodyBytes({ db, api, A, B }) {
  const tenant = { role: WEB_USER, claims: { role: WEB_USER, organization_id: A, sub: 'user-7' } };
  const valid = batch(
    consumer({
      email: 'bytes-7@example.com', fullName: 'Zoë "Z" Ñandú \\ ✓', activityRank: 5, activityScore: 0.1,
      monetaryScore: 1e21, totalOrders: 9007199254740991, aov: '007.50', ltv: '12.345',
      lastLoginAt: '2024-05-04T10:00:00+05:30', lastGeoCoordinates: { latitude: -33.5, longitude: 151 },
      metadata: { tier: 'gold', visits: 7, ratio: -0.5, big: 1e300, tags: ['a', 1, false, null], 'ключ': 'значение', nl: 'a\nb' },
    }),
    consumer({ status: 'INACTIVE' }));
  const bodies = [
    ['7 body bytes, 200', tenant, valid, true],
    ['7 body bytes, 400', tenant, batch({ status: 'active', email: 'x@' }, consumer({ activityRank: 9 })), false],
    ['7 body bytes, 401', { role: WEB_USER, claims: { role: WEB_USER, sub: 'x' } }, valid, false],
  ];
  for (const [label, who, body, volatile] of bodies) {
    // the function on its own first (rolled back), so that both calls see the same rows
    const own = await direct(api, { ...who, body });
    const result = await postgrest(api, { ...who, body });
    if (!statementSucceeded(label, result)) continue;
    const { row } = result;
    const mask = volatile ? maskVolatile : (t) => t;
    // under injection the expectation differs in its first byte
    const expected = inject(mask(own.body), ` ${mask(own.body).slice(1)}`);
    const got = Buffer.from(mask(row.body));
    const want = Buffer.from(expected);
    let at = 0;
    while (at < got.length && at < want.length && got[at] === want[at]) at++;
    check(`${label}: the body column is the function's own output text, byte for byte${volatile ? ' (ids, createdAt masked)' : ''}`,
      got.equals(want), `${got.length} vs ${want.length} bytes, first difference at byte ${at}: ` +
      `body ${show(got.subarray(at, at + 40).toString())}, function ${show(want.subarray(at, at + 40).toString())}`);
    check(`${label}: response.status is the one the function set`,
      row.response_status === (own.status === '' || own.status === null ? null : own.status),
      `statement ${show(row.response_status)}, function ${show(own.status)}`);
    let compact = false;
    try { compact = JSON.stringify(JSON.parse(row.body)) === row.body; } catch { /* not JSON */ }
    check(`${label}: the body is compact JSON (as JSON.stringify prints it)`, compact, `body ${show(row.body)}`);
  }

  const notJson = 'not json {';
  for (const [label, who] of [
    ['7 body that is not JSON', tenant],
    ['7 body that is not JSON, without a tenant', { role: WEB_USER, claims: { role: WEB_USER, sub: 'x' } }],
  ]) {
    const before = await counts(db, A, B);
    const result = await postgrest(api, { ...who, body: notJson });
    check(`${label}: $1::json refuses it with SQLSTATE 22P02`, result.error?.code === '22P02',
      () => (result.error ? `SQLSTATE ${result.error.code}: ${result.error.message}` : `it succeeded: ${show(result.row)}`));
    const after = await counts(db, A, B);
    check(`${label}: nothing stored`, isDeepStrictEqual(after, before), `before ${show(before)}, after ${show(after)}`);
  }
  note('without a tenant the function itself would have answered the 401 body without raising: the 22P02 shows ' +
    'that the cast refused the body before the function ran');
  note('PostgREST 12 never sends such a body: it parses an application/json body itself and answers 400 ' +
    '{"code":"PGRST102","details":null,"hint":null,"message":"Empty or invalid json"} without opening a transaction; ' +
    'were the 22P02 reached, it would map it to 400 with {"code":"22P02",...} as body');
}

// ---------------------------------------------------------------------------

// Idempotency-Key through PostgREST: the header reaches the function in
// request.headers; a retry answers the first body byte for byte and sets
// Idempotent-Replayed through response.headers; another body is 422, a
// malformed key 400, the key of a request still running 409.
async function idempotencyKey({ db, api, A, B }) {
  const label = '10 Idempotency-Key';
  const claims = { role: WEB_USER, organization_id: A, sub: 'user-10' };
  const key = `import-${randomUUID()}`;
  const body = batch(consumer({ fullName: 'Retried Once' }), consumer({ email: 'retried-10@example.com' }));
  const request = (extra, b = body) => ({ role: WEB_USER, claims, body: b, extraHeaders: extra });
  const before = await counts(db, A, B);
  const first = await postgrest(api, request({ 'idempotency-key': key }));
  if (!statementSucceeded(`${label}, first request`, first)) return;
  check(`${label}, first request: 200, no response headers`,
    first.row.response_status === null && first.row.response_headers === null,
    `status ${show(first.row.response_status)}, headers ${show(first.row.response_headers)}`);
  const retry = await postgrest(api, request({ 'idempotency-key': `"${key}"` }));
  if (!statementSucceeded(`${label}, retry`, retry)) return;
  const wantHeaders = inject('[{"Idempotent-Replayed": "true"}]', null);
  check(`${label}, retry (as a structured-field string): 200 with Idempotent-Replayed: true in response.headers`,
    retry.row.response_status === null && retry.row.response_headers === wantHeaders,
    `status ${show(retry.row.response_status)}, headers ${show(retry.row.response_headers)}`);
  let headersOk = false;
  try { headersOk = isDeepStrictEqual(JSON.parse(retry.row.response_headers), [{ 'Idempotent-Replayed': 'true' }]); } catch { /* */ }
  check(`${label}, retry: response.headers is the JSON array of objects PostgREST reads`, headersOk,
    `headers ${show(retry.row.response_headers)}`);
  check(`${label}, retry: the body is the first answer byte for byte`, retry.row.body === first.row.body,
    `first ${show(first.row.body?.slice(0, 80))}, retry ${show(retry.row.body?.slice(0, 80))}`);
  const mid = await counts(db, A, B);
  check(`${label}: two answers, one batch stored`, mid.a === before.a + inject(2, 4), `before ${show(before)}, after ${show(mid)}`);

  const other = await postgrest(api, request({ 'idempotency-key': key }, batch(consumer({ fullName: 'Another' }))));
  if (statementSucceeded(`${label}, another body`, other)) {
    check(`${label}, another body: response_status '422'`, other.row.response_status === '422', `status ${show(other.row.response_status)}`);
    check(`${label}, another body: {"error": ...} says why`,
      other.row.body === '{"error":"This Idempotency-Key was used with a different request body"}', `body ${show(other.row.body)}`);
  }
  const bad = await postgrest(api, request({ 'idempotency-key': 'not a token' }));
  if (statementSucceeded(`${label}, malformed key`, bad)) {
    check(`${label}, malformed key: response_status '400'`, bad.row.response_status === '400', `status ${show(bad.row.response_status)}`);
    const answer = parseBody(`${label}, malformed key`, bad.row);
    if (answer !== undefined) schemaCheck(`${label}, malformed key`, '400', answer);
  }

  // a request holding the key, not yet committed, on another connection
  const busyKey = `busy-${randomUUID()}`;
  const busyBody = batch(consumer({ fullName: 'Busy One' }), consumer({ fullName: 'Busy Two' }));
  await db.query('BEGIN');
  try {
    await db.query({ text: settingsStatement, values: settingsFor(request({ 'idempotency-key': busyKey }, busyBody)) });
    await db.query(`SELECT ${quoteIdent(SCHEMA)}.${quoteIdent(FUNCTION)}($1::json)`, [busyBody]);
    const t0 = Date.now();
    const busy = await postgrest(api, request({ 'idempotency-key': busyKey }, busyBody));
    const took = Date.now() - t0;
    if (statementSucceeded(`${label}, key in use`, busy)) {
      check(`${label}, key in use by a running request: response_status '409' at once (${took} ms)`,
        busy.row.response_status === '409' && took < 1500, `status ${show(busy.row.response_status)}`);
      check(`${label}, key in use: {"error": ...} says why`,
        busy.row.body === '{"error":"A request with this Idempotency-Key is still in progress"}', `body ${show(busy.row.body)}`);
    }
  } finally {
    await db.query('ROLLBACK');
  }
  const afresh = await postgrest(api, request({ 'idempotency-key': busyKey }, busyBody));
  if (statementSucceeded(`${label}, after the running request rolled back`, afresh))
    check(`${label}, after the running request rolled back: created afresh, not a replay`,
      afresh.row.response_status === null && afresh.row.response_headers === null,
      `status ${show(afresh.row.response_status)}, headers ${show(afresh.row.response_headers)}`);
  const after = await counts(db, A, B);
  check(`${label}: 4 rows in all (2 batches of 2)`, after.a === before.a + 4 && after.total === before.total + 4,
    `before ${show(before)}, after ${show(after)}`);
}

async function main() {
  if (INJECT) note('FANFARE_REPLAY_INJECT=1: some expectations are deliberately wrong; those checks must FAIL');
  let ctx;
  try {
    ctx = await setup();
  } catch (e) {
    check('setup: database, extension, roles and tenants', false, e.message);
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(1);
  }
  note(`tenant A ${ctx.A}, tenant B ${ctx.B}`);
  for (const run of [validBatch, invalidBatch, duplicateEmail, noTenant, payloadTenant, notGranted, bodyBytes,
    forbiddenOrganization, directTableWrite, idempotencyKey]) {
    try {
      await run(ctx);
    } catch (e) {
      check(`${run.name}: runs to the end`, false, `${e.code ? `SQLSTATE ${e.code}: ` : ''}${e.message}`);
    }
  }
  await ctx.api.end();
  await ctx.db.end();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main();
