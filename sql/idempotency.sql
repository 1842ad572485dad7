-- Idempotency keys: a retry with the same key and body creates nothing and
-- answers what the first request created; the same key with another body
-- is 22N04; a malformed key 22N05; a failed request stores nothing; keys
-- are per tenant and expire.  (The key in use by a concurrent request,
-- 55N01, is in test/isolation/specs/idempotency.spec.)
CREATE EXTENSION IF NOT EXISTS fanfare;
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET fanfare.organization_id = '0190f5c2-1de0-7000-8000-000000000001';
SET fanfare.actor = 'idempotency-test';

CREATE TEMP TABLE answers (attempt text, n bigint, consumer text);
CREATE TEMP VIEW stored AS
SELECT organization_id, count(*) AS consumers FROM fanfare.consumers GROUP BY 1 ORDER BY 1;

-- the first request with a key creates and stores the key in its transaction
BEGIN;
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-a';
INSERT INTO answers
SELECT 'first', n, c::text FROM fanfare.import_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"a1@example.com"},
  {"emailVerified":false,"phoneVerified":false,"status":"INACTIVE"}]}') WITH ORDINALITY AS r(c, n);
SELECT current_setting('fanfare.idempotency_outcome') AS outcome;
COMMIT;
SELECT key, created_by, cardinality(ids) AS ids, length(fingerprint) AS fingerprint_bytes,
       expires_at - created_at AS ttl
FROM fanfare.idempotency_keys;
SELECT * FROM stored;

-- the retry: the same rows, byte for byte (ids, createdAt, createdBy), and
-- nothing created, even as another actor, in another session's transaction
BEGIN;
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-a';
SET LOCAL fanfare.actor = 'someone-else';
INSERT INTO answers
SELECT 'retry', n, c::text FROM fanfare.import_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"a1@example.com"},
  {"emailVerified":false,"phoneVerified":false,"status":"INACTIVE"}]}') WITH ORDINALITY AS r(c, n);
SELECT current_setting('fanfare.idempotency_outcome') AS outcome;
COMMIT;
SELECT count(*) AS answers, count(DISTINCT consumer) AS distinct_answers,
       bool_and(consumer LIKE '%"createdBy":"idempotency-test"%') AS first_actor
FROM answers;
SELECT (SELECT array_agg(consumer ORDER BY n) FROM answers WHERE attempt = 'first') =
       (SELECT array_agg(consumer ORDER BY n) FROM answers WHERE attempt = 'retry') AS same_answer;
SELECT * FROM stored;
-- the rows answered are the stored ones
SELECT count(*) AS answered_rows_stored
FROM answers a JOIN fanfare.consumers c ON c.id = (a.consumer::json->>'id')::uuid
WHERE a.attempt = 'retry';

-- the same key with another body: 22N04, nothing created
BEGIN;
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-a';
SELECT fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"other@example.com"}]}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- the body is compared as sent: the same JSON spaced differently is another body
BEGIN;
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-a';
SELECT fanfare.import_consumers('{"consumers":[
  {"emailVerified":true, "phoneVerified":false,"status":"ACTIVE","email":"a1@example.com"},
  {"emailVerified":false,"phoneVerified":false,"status":"INACTIVE"}]}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT * FROM stored;

-- another tenant's identical key is another key
BEGIN;
SET LOCAL fanfare.organization_id = '0190f5c2-1de0-7000-8000-000000000002';
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-a';
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"a1@example.com"}]}');
SELECT current_setting('fanfare.idempotency_outcome') AS outcome;
COMMIT;
SELECT * FROM stored;

-- a request that fails stores nothing: its retry is validated afresh, and
-- may be a corrected body under the same key
BEGIN;
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-b';
SELECT fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"a1@example.com"}]}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) AS keys_b FROM fanfare.idempotency_keys WHERE key = 'import-2026-12-01-b';
BEGIN;
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-b';
SELECT fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"a1@example.com"}]}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-b';
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"b1@example.com"}]}');
COMMIT;
-- a transaction rolled back after the batch keeps neither rows nor key
BEGIN;
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-c';
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
ROLLBACK;
SELECT key FROM fanfare.idempotency_keys ORDER BY organization_id, key;
SELECT * FROM stored;

-- a call without a key after one with a key says nothing of idempotency
BEGIN;
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-b';
SELECT count(*) AS replayed FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"b1@example.com"}]}');
SELECT current_setting('fanfare.idempotency_outcome') AS outcome;
SET LOCAL fanfare.idempotency_key = '';
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
SELECT current_setting('fanfare.idempotency_outcome') = '' AS no_outcome;
ROLLBACK;

-- fanfare.idempotency_key from SQL: 1 to 255 printable ASCII characters,
-- anything else 22N05 with the 400 body as DETAIL
\set VERBOSITY default
BEGIN;
SELECT set_config('fanfare.idempotency_key', 'café', true) IS NOT NULL AS set;
SELECT fanfare.import_consumers('{"consumers":[]}');
ROLLBACK;
BEGIN;
SELECT set_config('fanfare.idempotency_key', repeat('k', 256), true) IS NOT NULL AS set;
SELECT fanfare.import_consumers('{"consumers":[]}');
ROLLBACK;
BEGIN;
SELECT set_config('fanfare.idempotency_key', repeat('k', 255), true) IS NOT NULL AS set;
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[]}');
SELECT current_setting('fanfare.idempotency_outcome') AS outcome;
ROLLBACK;
\set VERBOSITY terse

-- create_consumers(jsonb) takes the setting too: its fingerprint is of the
-- jsonb value, so key order and spacing do not make another body
BEGIN;
SET LOCAL fanfare.idempotency_key = 'jsonb-1';
CREATE TEMP TABLE jsonb_first AS
SELECT fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"j1@example.com"}]}') AS r;
COMMIT;
BEGIN;
SET LOCAL fanfare.idempotency_key = 'jsonb-1';
SELECT fanfare.create_consumers('{"consumers":[{"status":"ACTIVE", "phoneVerified":false,"emailVerified":true,"email":"j1@example.com"}]}')
       = (SELECT r FROM jsonb_first) AS same_answer,
       current_setting('fanfare.idempotency_outcome') AS outcome;
COMMIT;
SELECT count(*) AS j1_rows FROM fanfare.consumers WHERE email = 'j1@example.com';

-- the gateway's function takes the Idempotency-Key header's value: a bare
-- token (Stripe's form) or a structured-field string (the IETF draft's);
-- "k" and k are one key
SELECT fanfare.create_organization('Idempotency') AS org \gset
SELECT fanfare.rotate_secret_key(:'org') AS sk \gset
RESET fanfare.organization_id;
RESET fanfare.actor;
CREATE TEMP TABLE api_answers (attempt text, n bigint, consumer text, outcome text);
INSERT INTO api_answers
SELECT 'token', n, c::text, current_setting('fanfare.idempotency_outcome')
FROM fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'),
                                  '7f1c1c6e-1b5e-4bb2-9a51-0d3c3c1f3a10') WITH ORDINALITY AS r(c, n);
INSERT INTO api_answers
SELECT 'sf-string', n, c::text, current_setting('fanfare.idempotency_outcome')
FROM fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'),
                                  ' "7f1c1c6e-1b5e-4bb2-9a51-0d3c3c1f3a10" ') WITH ORDINALITY AS r(c, n);
SELECT attempt, outcome, consumer LIKE '%"createdBy":"api_key:sk_live_%' AS by_key FROM api_answers ORDER BY attempt;
SELECT count(DISTINCT consumer) AS distinct_answers FROM api_answers;
SELECT count(*) AS consumers FROM fanfare.consumers WHERE organization_id = :'org';
-- escapes in a string are part of the key; a NULL header is no key
SELECT count(*) AS created
FROM fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"INACTIVE"}]}', 'UTF8'), '"a \"quoted\" key\\"');
SELECT key FROM fanfare.idempotency_keys WHERE organization_id = :'org' ORDER BY key;
SELECT count(*) AS created FROM fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), NULL);
-- the same key, another body: 22N04, before the body is read
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[', 'UTF8'), '7f1c1c6e-1b5e-4bb2-9a51-0d3c3c1f3a10');
\echo :LAST_ERROR_SQLSTATE
-- malformed values: 22N05, the 400 body (openapi form) as DETAIL; the key
-- is checked after the secret key
\set VERBOSITY default
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), 'two words');
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), '"unterminated');
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), '"a" "b"');
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), '"bad \escape"');
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), '""');
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), '   ');
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), '"tab	inside"');
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), repeat('k', 256));
SELECT fanfare.api_import_consumers('sk_live_unknown', convert_to('{"consumers":[]}', 'UTF8'), 'two words');
-- and in Valibot's form when asked
SET fanfare.issue_format = 'valibot';
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), '"unterminated');
RESET fanfare.issue_format;
\set VERBOSITY terse
SELECT count(*) AS created FROM fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), repeat('k', 255));

-- PostgREST: the header from request.headers; a replay sets
-- Idempotent-Replayed through response.headers; 409, 422 and 400 are
-- answered with response.status, nothing raised
BEGIN;
SELECT set_config('request.jwt.claims', json_build_object('organization_id', :'org', 'sub', 'user-7')::text, true) IS NOT NULL AS claims_set;
SELECT set_config('request.headers', '{"user-agent":"psql","idempotency-key":"\"rest-1\""}', true) IS NOT NULL AS headers_set;
CREATE TEMP TABLE rest_first AS
SELECT fanfare.post_consumers_batch('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}')::text AS r;
SELECT current_setting('response.status', true) AS status, current_setting('response.headers', true) AS headers;
COMMIT;
BEGIN;
SELECT set_config('request.jwt.claims', json_build_object('organization_id', :'org', 'sub', 'user-7')::text, true) IS NOT NULL AS claims_set;
SELECT set_config('request.headers', '{"idempotency-key":"rest-1"}', true) IS NOT NULL AS headers_set;
SELECT fanfare.post_consumers_batch('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}')::text
       = (SELECT r FROM rest_first) AS same_answer;
SELECT current_setting('response.status', true) AS status, current_setting('response.headers', true) AS headers;
SELECT fanfare.post_consumers_batch('{"consumers":[]}') AS reused, current_setting('response.status', true) AS status;
SELECT set_config('request.headers', '{"idempotency-key":"not a token"}', true) IS NOT NULL AS headers_set;
SELECT fanfare.post_consumers_batch('{"consumers":[]}')::jsonb #>> '{issues,0,type}' AS malformed,
       current_setting('response.status', true) AS status;
COMMIT;
SELECT count(*) AS rest_rows FROM fanfare.consumers WHERE created_by = 'user-7';

-- keys expire: an expired key is a new request (new ids), and its row is
-- replaced; fanfare.prune_idempotency_keys() deletes expired keys
SET fanfare.organization_id = '0190f5c2-1de0-7000-8000-000000000001';
UPDATE fanfare.idempotency_keys SET expires_at = now() - interval '1 second'
WHERE key = 'import-2026-12-01-a' AND organization_id = current_setting('fanfare.organization_id')::uuid;
BEGIN;
SET LOCAL fanfare.idempotency_key = 'import-2026-12-01-a';
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"a2@example.com"}]}');
SELECT current_setting('fanfare.idempotency_outcome') AS outcome;
COMMIT;
SELECT cardinality(ids) AS ids, expires_at > now() AS live FROM fanfare.idempotency_keys
WHERE key = 'import-2026-12-01-a' AND organization_id = current_setting('fanfare.organization_id')::uuid;
SET fanfare.idempotency_ttl = '1h';
BEGIN;
SET LOCAL fanfare.idempotency_key = 'short-lived';
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"INACTIVE"}]}');
COMMIT;
RESET fanfare.idempotency_ttl;
SELECT expires_at - created_at AS ttl FROM fanfare.idempotency_keys WHERE key = 'short-lived';
SELECT fanfare.prune_idempotency_keys() AS pruned;
UPDATE fanfare.idempotency_keys SET expires_at = now() - interval '1 second' WHERE key LIKE 'jsonb-%' OR key = 'short-lived';
SELECT fanfare.prune_idempotency_keys() AS pruned;
SELECT count(*) AS keys_left FROM fanfare.idempotency_keys;
-- a user may not shorten the window for themselves
SET ROLE fanfare_api;
SET fanfare.idempotency_ttl = 60;
RESET ROLE;

-- lookups and pruning go through indexes
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM fanfare.idempotency_keys WHERE organization_id = '0190f5c2-1de0-7000-8000-000000000001' AND key = 'k';
EXPLAIN (COSTS OFF) DELETE FROM fanfare.idempotency_keys WHERE expires_at <= now();
RESET enable_seqscan;

-- the stored result is 16 bytes a consumer: at most about 8 kB a key at
-- the default fanfare.max_batch_size (500)
SELECT pg_column_size(array_agg(gen_random_uuid())) AS ids_bytes_500 FROM generate_series(1, 500);

-- API roles cannot read or write the keys themselves
SET ROLE fanfare_api;
SELECT count(*) FROM fanfare.idempotency_keys;
SELECT fanfare.prune_idempotency_keys();
RESET ROLE;

-- an empty batch creates nothing, so its key stores nothing: the same key
-- may then name a batch that creates (issue 17, L4)
BEGIN;
SET LOCAL fanfare.idempotency_key = 'empty-first';
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[]}');
SELECT current_setting('fanfare.idempotency_outcome') AS outcome;
COMMIT;
SELECT count(*) AS empty_keys_stored FROM fanfare.idempotency_keys WHERE key = 'empty-first';
SELECT count(*) AS created
FROM fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8'), 'empty-gateway');
SELECT count(*) AS empty_keys_stored FROM fanfare.idempotency_keys WHERE key = 'empty-gateway';
BEGIN;
SET LOCAL fanfare.idempotency_key = 'empty-first';
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"INACTIVE"}]}');
SELECT current_setting('fanfare.idempotency_outcome') AS outcome;
COMMIT;
SELECT cardinality(ids) AS ids FROM fanfare.idempotency_keys WHERE key = 'empty-first';

-- a stored row fanfare cannot have written (here: corrupted by a
-- superuser) is XX001 on replay, never NULL ids in a 200
BEGIN;
SET LOCAL fanfare.idempotency_key = 'corrupt-me';
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"INACTIVE"},{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
COMMIT;
UPDATE fanfare.idempotency_keys SET ids[2] = NULL WHERE key = 'corrupt-me';
\set VERBOSITY default
BEGIN;
SET LOCAL fanfare.idempotency_key = 'corrupt-me';
SELECT fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"INACTIVE"},{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
ROLLBACK;
\set VERBOSITY terse
UPDATE fanfare.idempotency_keys SET ids = ARRAY[NULL::uuid, NULL::uuid] WHERE key = 'corrupt-me';
BEGIN;
SET LOCAL fanfare.idempotency_key = 'corrupt-me';
SELECT count(*) FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"INACTIVE"},{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
UPDATE fanfare.idempotency_keys SET ids = '{{0190f5c2-1de0-7000-8000-000000000001},{0190f5c2-1de0-7000-8000-000000000002}}' WHERE key = 'corrupt-me';
BEGIN;
SET LOCAL fanfare.idempotency_key = 'corrupt-me';
SELECT count(*) FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"INACTIVE"},{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
DELETE FROM fanfare.idempotency_keys WHERE key IN ('empty-first', 'corrupt-me');

-- clean up
DELETE FROM fanfare.consumers;
DELETE FROM fanfare.idempotency_keys;
DELETE FROM fanfare.api_keys WHERE organization_id = :'org';
DELETE FROM fanfare.organizations WHERE id = :'org';
