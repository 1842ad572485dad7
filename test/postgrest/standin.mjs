// A stand-in for PostgREST 12 in front of fanfare, for tests of clients
// (fanfare-import --postgrest): no PostgREST binary is packaged for Debian 12
// or npm, so this small server does what PostgREST does for
// POST /rpc/post_consumers_batch, with the very statements the replay suite
// checks (statements.mjs):
//   - the JWT (Authorization: Bearer) is verified as PostgREST verifies it
//     with jwt-secret: HS256 only, the signature over the secret's bytes, exp
//     and nbf when present; a bad token is 401 (PGRST301), as is a request
//     without one when no anon role is configured;
//   - its role claim is the role the transaction switches to, its claims are
//     request.jwt.claims, the request's headers (lower case, no Cookie) are
//     request.headers (so Idempotency-Key reaches the function);
//   - response.status and response.headers (PostgREST's list of one-header
//     objects) become the answer's status and headers; the body is the
//     function's result;
//   - Prefer: tx=rollback is honoured as with db-tx-end = commit-allow-override
//     (rolled back, Preference-Applied: tx=rollback);
//   - a failed statement is the answer PostgREST gives for its SQLSTATE
//     class: 503 when the database cannot be reached, 401/403 for 42501,
//     else 500.
//
//   node standin.mjs PORTFILE [LOG]
//
// The database: the PG* variables, as the authenticator (login) role.
// FANFARE_STANDIN_JWT_SECRET: the secret (required).  FANFARE_STANDIN_ANON:
// the anon role (default: none).  FANFARE_STANDIN_POOL: connections (10).
// FANFARE_STANDIN_DROP: a comma-separated list of header names (lower case)
// to leave out of request.headers and of the answer, to show that a test
// fails when a header does not get through.  The port it listens on (on
// 127.0.0.1) goes to PORTFILE; LOG gets one line per answer:
// "STATUS IDEMPOTENCY-KEY" ("-" for none).

import http from 'node:http';
import fs from 'node:fs';
import { createHmac, timingSafeEqual } from 'node:crypto';
import pg from '../conformance/node_modules/pg/lib/index.js';
import { BEGIN, FUNCTION, mainStatement, settingsStatement, settingsValues } from './statements.mjs';

const [portFile, logFile] = process.argv.slice(2);
const secret = process.env.FANFARE_STANDIN_JWT_SECRET;
const anonRole = process.env.FANFARE_STANDIN_ANON || null;
const drop = new Set((process.env.FANFARE_STANDIN_DROP || '').split(',').filter(Boolean));
if (!portFile || !secret) {
  console.error('usage: FANFARE_STANDIN_JWT_SECRET=... node standin.mjs PORTFILE [LOG]');
  process.exit(2);
}
const log = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : null;

// every column as the text the server sent (the body goes out as it is)
const pool = new pg.Pool({
  max: Number(process.env.FANFARE_STANDIN_POOL || 10),
  types: { getTypeParser: () => (value) => value },
  application_name: 'PostgREST 12 (fanfare stand-in)',
});
pool.on('error', () => {});   // a connection lost while idle: the next request reconnects

class Refusal extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    Object.assign(this, { status, code, extra });
  }
}

// The claims of a valid HS256 token, as PostgREST checks it; else a Refusal.
function verifyJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3)
    throw new Refusal(401, 'PGRST301', 'Expected 3 parts in JWT; got ' + parts.length);
  let head;
  let claims;
  try {
    head = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new Refusal(401, 'PGRST301', 'JWSError (CompactDecodeError Invalid number of parts)');
  }
  if (head.alg !== 'HS256')
    throw new Refusal(401, 'PGRST301', 'JWSError JWSInvalidSignature');
  const want = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2], 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want))
    throw new Refusal(401, 'PGRST301', 'JWSError JWSInvalidSignature');
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims))
    throw new Refusal(401, 'PGRST301', 'Parsing claims failed');
  const now = Date.now() / 1000;
  if (typeof claims.exp === 'number' && now > claims.exp)
    throw new Refusal(401, 'PGRST303', 'JWT expired');
  if (typeof claims.nbf === 'number' && now < claims.nbf)
    throw new Refusal(401, 'PGRST303', 'JWT not yet valid');
  return claims;
}

// The role and claims of a request: its token's, or the anon role's.
function authenticate(req) {
  const auth = req.headers.authorization;
  if (auth === undefined) {
    if (anonRole === null)
      throw new Refusal(401, 'PGRST302', 'Anonymous access is disabled');
    return { role: anonRole, claims: {} };
  }
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  if (!m)
    throw new Refusal(401, 'PGRST301', 'Invalid authorization header');
  const claims = verifyJwt(m[1]);
  const role = typeof claims.role === 'string' ? claims.role : anonRole;
  if (role === null)
    throw new Refusal(401, 'PGRST302', 'Anonymous access is disabled');
  return { role, claims };
}

// request.headers: every header but Cookie and the dropped ones
function requestHeaders(req) {
  const headers = {};
  for (const [name, value] of Object.entries(req.headers))
    if (name !== 'cookie' && !drop.has(name))
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
  return headers;
}

// PostgREST's answer to a statement that failed, by SQLSTATE
function failure(error, role) {
  const code = String(error.code ?? '');
  if (!/^[0-9A-Z]{5}$/.test(code) || code.startsWith('08') || code.startsWith('53') || code.startsWith('57P'))
    return new Refusal(503, 'PGRST001', 'Database client error. Retrying the connection.');
  if (code === '42501')
    return new Refusal(role === anonRole ? 401 : 403, code, error.message);
  return new Refusal(500, code, error.message);
}

// One request: the transaction PostgREST runs; { status, headers, body }.
async function call(req, body) {
  const { role, claims } = authenticate(req);
  const rollback = /(^|[\s,])tx=rollback($|[\s,])/.test(req.headers.prefer ?? '');
  let client;
  try {
    client = await pool.connect();
  } catch (error) {
    throw failure(error, role);
  }
  let broken = false;
  try {
    await client.query(BEGIN);
    try {
      await client.query({ name: 'pgrst_settings', text: settingsStatement,
        values: settingsValues(role, claims, requestHeaders(req)) });
      const { rows } = await client.query({ name: 'pgrst_call', text: mainStatement, values: [body] });
      await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
      const row = rows[0];
      const headers = { 'content-type': 'application/json; charset=utf-8' };
      for (const one of JSON.parse(row.response_headers ?? '[]'))
        for (const [name, value] of Object.entries(one))
          headers[name] = value;
      if (rollback)
        headers['preference-applied'] = 'tx=rollback';
      return { status: row.response_status === null ? 200 : Number(row.response_status), headers, body: row.body };
    } catch (error) {
      await client.query('ABORT').catch(() => { broken = true; });
      throw error;
    }
  } catch (error) {
    broken = broken || !(error.code && /^[0-9A-Z]{5}$/.test(error.code)) || String(error.code).startsWith('57P');
    throw failure(error, role);
  } finally {
    client.release(broken);
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    let answer;
    try {
      if (req.method !== 'POST' || req.url.split('?')[0] !== `/rpc/${FUNCTION}`)
        throw new Refusal(404, 'PGRST202', `Could not find the function ${req.url} in the schema cache`);
      answer = await call(req, Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      const r = error instanceof Refusal ? error : new Refusal(500, 'PGRSTX00', String(error));
      const headers = { 'content-type': 'application/json; charset=utf-8' };
      if (r.status === 401)
        headers['www-authenticate'] = 'Bearer error="invalid_token"';
      answer = { status: r.status, headers,
        body: JSON.stringify({ code: r.code, details: null, hint: null, message: r.message }) };
    }
    for (const name of Object.keys(answer.headers))
      if (drop.has(name.toLowerCase()))
        delete answer.headers[name];
    log?.write(`${answer.status} ${req.headers['idempotency-key'] ?? '-'}\n`);
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(`${portFile}.tmp`, String(server.address().port));
  fs.renameSync(`${portFile}.tmp`, portFile);
});
for (const signal of ['SIGTERM', 'SIGINT'])
  process.on(signal, () => { server.close(); pool.end().finally(() => process.exit(0)); });
