-- The wire path: fanfare.import_consumers(text), the gateway's
-- fanfare.api_import_consumers(key, bytea) and the PostgREST front
-- fanfare.post_consumers_batch(json).  The request is read as JSON text:
-- its key order and duplicate keys reach validation as JSON.parse sees
-- them, and each created consumer comes back as compact JSON text.
CREATE EXTENSION IF NOT EXISTS fanfare;
SET fanfare.organization_id = '0190f5c2-7777-7000-8000-000000000007';
SET fanfare.actor = 'wire-test';
\set SHOW_CONTEXT never

-- one row per consumer, in input order, streamed from the select list
BEGIN;
SELECT c->>'email' AS email, c->>'fullName' AS full_name, c->>'createdBy' AS created_by
FROM (SELECT fanfare.import_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"one@example.com","fullName":"One"},
  {"emailVerified":false,"phoneVerified":true,"status":"INACTIVE","email":"two@example.com","fullName":"Two"}]}') AS c) s;
SELECT count(*) FROM fanfare.consumers;
ROLLBACK;

-- the text is compact, keys in the document's order, every property present
BEGIN;
SELECT regexp_replace(regexp_replace(c::text,
         '"(id|createdAt)":"[^"]*"', '"\1":"…"', 'g'), '(.{100})', E'\\1\n', 'g') AS consumer
FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE",
  "aov":"007.50","activityScore":-0,"totalOrders":1e3,"lastLoginAt":"2024-05-01T12:00:00.123456+02:00",
  "lastGeoCoordinates":{"longitude":-9.5,"latitude":38.75,"extra":1},"unknown":true}]}') AS c;
ROLLBACK;

-- -0 is printed 0 in every number of the response, as JSON.stringify
-- prints it: a score, a rank, a count, the coordinates
BEGIN;
SELECT c->'activityScore' AS score, c->'activityRank' AS rank, c->'engagedCount' AS count,
       c->'lastGeoCoordinates' AS geo
FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE",
  "activityScore":-0,"activityRank":-0,"engagedCount":-0,"lastGeoCoordinates":{"latitude":-0,"longitude":-0.0}}]}') AS c;
ROLLBACK;

-- metadata in JavaScript's property order: array-index keys first, then
-- the others as written; of a key given twice the last value wins at the
-- first one's place; __proto__ is skipped; 1e400 is Infinity, stored null
BEGIN;
SELECT c->'metadata' AS metadata
FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE",
  "metadata":{"b":1,"10":"ten","a":[1e400,"x"],"2":"two","b":"again","__proto__":"skip"}}]}') AS c;
SELECT metadata FROM fanfare.consumers;
ROLLBACK;

-- a field given twice: the last one counts, as in JSON.parse
BEGIN;
SELECT c->>'status' AS status, c->>'email' AS email
FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,
  "status":"nope","status":"ACTIVE","email":"x","email":"last@example.com"}]}') AS c;
ROLLBACK;

-- the same rows as the jsonb path stores
BEGIN;
CREATE TEMP TABLE body AS SELECT '{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE",
  "email":"Same@Example.com","aov":"0012.3400","monetaryScore":1.5e-7,"engagedCount":42,
  "lastOrderAt":"2024-05-01 08:30:00-0330","metadata":{"k":[1.50,true,null],"n":-0}}]}'::text AS t;
SELECT count(*) FROM body, LATERAL fanfare.create_consumers(t::jsonb);
CREATE TEMP TABLE via_jsonb AS SELECT to_jsonb(c) - 'id' - 'created_at' AS r FROM fanfare.consumers c;
DELETE FROM fanfare.consumers;
SELECT count(*) FROM body, LATERAL fanfare.import_consumers(t);
SELECT (SELECT r FROM via_jsonb) = (SELECT to_jsonb(c) - 'id' - 'created_at' FROM fanfare.consumers c) AS same_row;
ROLLBACK;

-- issues raise before any row: 22023, the 400 body as DETAIL, nothing stored
SELECT fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"},{"status":"GONE"}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM fanfare.consumers;

-- bodies that are not JSON, or JSON PostgreSQL cannot store, each with a
-- SQLSTATE of its own and a contract 400 body
SELECT fanfare.import_consumers('');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.import_consumers('{"consumers":[');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.import_consumers('{"consumers":[] oops');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.import_consumers('{"consumers":[{"fullName":"\u0000"}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.import_consumers('{"consumers":[{"fullName":"\udc00"}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.import_consumers('{"consumers":[{"fullName":"tab	inside"}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.import_consumers(repeat('[', 4097) || repeat(']', 4097));
\echo :LAST_ERROR_SQLSTATE
-- 4096 levels are read (and this body has no consumers)
SELECT fanfare.import_consumers(repeat('[', 4096) || repeat(']', 4096));
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.import_consumers(NULL);
\echo :LAST_ERROR_SQLSTATE
RESET fanfare.organization_id;
SELECT fanfare.import_consumers('{"consumers":[]}');
\echo :LAST_ERROR_SQLSTATE
SET fanfare.organization_id = '0190f5c2-7777-7000-8000-000000000007';

-- in FROM it works too (the executor collects the rows first)
BEGIN;
SELECT count(*) FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}');
ROLLBACK;

-- the gateway's function: the key first, then the body's bytes
SELECT fanfare.create_organization('Wire') AS org \gset
SELECT fanfare.rotate_secret_key(:'org') AS sk, fanfare.rotate_publishable_key(:'org') AS pk \gset
BEGIN;
SELECT c->>'organizationId' = :'org' AS key_tenant, c->>'createdBy' LIKE 'api_key:sk_live_%' AS key_actor
FROM fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","organizationId":"0190f5c2-7777-7000-8000-000000000007"}]}', 'UTF8')) AS c;
SELECT current_setting('fanfare.organization_id') = :'org' AS tenant_set_for_the_transaction;
ROLLBACK;
SELECT fanfare.api_import_consumers('sk_live_unknown', 'not json');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_import_consumers(:'pk', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_import_consumers(NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_import_consumers(:'sk', '\xfffe'::bytea);
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[]}', 'UTF8') || '\x00'::bytea);
\echo :LAST_ERROR_SQLSTATE
UPDATE fanfare.organizations SET disabled_at = now() WHERE id = :'org';
SELECT fanfare.api_import_consumers(:'sk', '{}');
\echo :LAST_ERROR_SQLSTATE
UPDATE fanfare.organizations SET disabled_at = NULL WHERE id = :'org';
-- 0.1.0's gateway function still answers, through the wire path
BEGIN;
SELECT jsonb_array_length(fanfare.api_create_consumers(:'sk', '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"},{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}'));
ROLLBACK;

-- the PostgREST front: the contract's bodies and response.status, never an error
BEGIN;
SELECT set_config('request.jwt.claims', json_build_object('organization_id', :'org', 'sub', 'user-42')::text, true) IS NOT NULL AS claims_set;
RESET fanfare.organization_id;
RESET fanfare.actor;
SELECT json_array_length(fanfare.post_consumers_batch('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"rest@example.com"}]}')) AS created,
       current_setting('response.status', true) AS status;
SELECT fanfare.post_consumers_batch('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"REST@example.com"}]}')::jsonb #>> '{issues,0,message}' AS message,
       current_setting('response.status', true) AS status;
SELECT count(*) AS stored, min(created_by) AS created_by FROM fanfare.consumers WHERE organization_id = :'org';
SELECT set_config('request.jwt.claims', '{"sub":"nobody"}', true);
SELECT fanfare.post_consumers_batch('{"consumers":[]}'), current_setting('response.status', true) AS status;
SELECT set_config('request.jwt.claims', '{"organization_id":"not-a-uuid"}', true);
SELECT fanfare.post_consumers_batch('{"consumers":[]}'), current_setting('response.status', true) AS status;
-- a token naming several organizations names none
SELECT set_config('request.jwt.claims', json_build_object('organization_id', json_build_array(:'org', :'org'))::text, true) IS NOT NULL AS claims_set;
SELECT fanfare.current_organization_id() IS NULL AS no_tenant,
       fanfare.post_consumers_batch('{"consumers":[]}'), current_setting('response.status', true) AS status;
-- an organization that does not exist, or is disabled: 403, as the gateway
SELECT set_config('request.jwt.claims', '{"organization_id":"0190f5c2-7777-7000-8000-0000000000ff"}', true);
SELECT fanfare.post_consumers_batch('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}'),
       current_setting('response.status', true) AS status;
UPDATE fanfare.organizations SET disabled_at = now() WHERE id = :'org';
SELECT set_config('request.jwt.claims', json_build_object('organization_id', :'org')::text, true) IS NOT NULL AS claims_set;
SELECT fanfare.post_consumers_batch('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}'),
       current_setting('response.status', true) AS status;
SELECT count(*) AS stored FROM fanfare.consumers WHERE organization_id IN (:'org', '0190f5c2-7777-7000-8000-0000000000ff');
ROLLBACK;

-- 0.1.0's function stays SECURITY DEFINER: a role granted only it keeps it
CREATE ROLE wire_legacy_caller;
GRANT USAGE ON SCHEMA fanfare TO wire_legacy_caller;
GRANT EXECUTE ON FUNCTION fanfare.api_create_consumers(text, text) TO wire_legacy_caller;
BEGIN;
SET LOCAL ROLE wire_legacy_caller;
SELECT jsonb_array_length(fanfare.api_create_consumers(:'sk', '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}')) AS created;
ROLLBACK;
DROP OWNED BY wire_legacy_caller;
DROP ROLE wire_legacy_caller;

-- a batch whose kept records pass work_mem: they go to a temporary file and
-- come back whole (escaped strings, numbers, instants, metadata), the same
-- consumers as the jsonb path creates; a query that stops reading early
-- leaves no temporary file behind
BEGIN;
SET LOCAL work_mem = '64kB';
SET LOCAL fanfare.max_batch_size = 2000;
SELECT json_build_object('consumers', json_agg(json_build_object(
         'emailVerified', true, 'phoneVerified', i % 2 = 0, 'status', 'ACTIVE',
         'email', 'spill' || i || '@example.com', 'fullName', 'Né "' || i || E'"\t',
         'activityScore', i / 7.0, 'totalOrders', i, 'aov', '0' || i || '.5',
         'lastLoginAt', '2024-05-01T12:00:00.5+02:00',
         'lastGeoCoordinates', json_build_object('latitude', i % 90, 'longitude', -i % 180),
         'metadata', json_build_object('n', i, 'tags', json_build_array('a', i))) ORDER BY i))::text AS spill_body
FROM generate_series(1, 1500) i \gset
SELECT count(*) AS created,
       md5(string_agg((c::jsonb - 'id' - 'createdAt')::text, ',' ORDER BY n)) AS wire_md5
FROM fanfare.import_consumers(:'spill_body') WITH ORDINALITY AS t(c, n) \gset
SELECT :created AS created;
ROLLBACK;
BEGIN;
SET LOCAL fanfare.max_batch_size = 2000;
SELECT md5(string_agg((e - 'id' - 'createdAt')::text, ',' ORDER BY n)) = :'wire_md5' AS same_as_jsonb_path
FROM jsonb_array_elements(fanfare.create_consumers(:'spill_body'::jsonb)) WITH ORDINALITY AS t(e, n);
ROLLBACK;
BEGIN;
SET LOCAL work_mem = '64kB';
SET LOCAL fanfare.max_batch_size = 2000;
SELECT c->>'email' AS email FROM (SELECT fanfare.import_consumers(:'spill_body') AS c LIMIT 2) s;
ROLLBACK;
BEGIN;
SET LOCAL work_mem = '64kB';
SET LOCAL fanfare.max_batch_size = 2000;
SELECT c->>'email' AS email FROM fanfare.import_consumers(:'spill_body') AS c LIMIT 1;
ROLLBACK;
