-- ALTER EXTENSION fanfare UPDATE from 0.1.0, with a 0.1.0 user's data in
-- place: organizations, keys (one revoked, one publishable, one of a
-- disabled organization) and consumers of several tenants, created through
-- 0.1.0's own functions.  After the update every row is unchanged, the old
-- keys still authenticate through the old and the new gateway function,
-- refusals still refuse, emails stay unique against the old rows, the new
-- functions work on the old data, and a role of fanfare_api still sees only
-- its tenant.  Runs on its own: it starts from no extension at all.
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS fanfare CASCADE;
DROP ROLE IF EXISTS fanfare_upgrade_tenant;
RESET client_min_messages;

------------------------------------------------------------------------------
-- 0.1.0, as its users had it
------------------------------------------------------------------------------
CREATE EXTENSION fanfare VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'fanfare';
-- 0.1.0 has no wire path, and its gateway function is PL/pgSQL, SECURITY DEFINER
SELECT to_regprocedure('fanfare.import_consumers(text)') IS NULL AS no_import_consumers,
       to_regprocedure('fanfare.api_import_consumers(text,bytea,text)') IS NULL AS no_api_import_consumers,
       to_regprocedure('fanfare.consumer_fields()') IS NULL AS no_consumer_fields,
       to_regprocedure('fanfare.post_consumers_batch(json)') IS NULL AS no_post_consumers_batch;
SELECT l.lanname, p.prosecdef FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.oid = 'fanfare.api_create_consumers(text,text)'::regprocedure;

-- three organizations; A's first secret key is rotated away (revoked)
SELECT fanfare.create_organization('Acme') AS org_a \gset
SELECT fanfare.create_organization('Globex') AS org_b \gset
SELECT fanfare.create_organization('Initech') AS org_c \gset
SELECT fanfare.rotate_secret_key(:'org_a') AS revoked_sk_a \gset
SELECT fanfare.rotate_secret_key(:'org_a') AS sk_a \gset
SELECT fanfare.rotate_secret_key(:'org_a', 'test') AS sk_a_test \gset
SELECT fanfare.rotate_publishable_key(:'org_a') AS pk_a \gset
SELECT fanfare.rotate_secret_key(:'org_b') AS sk_b \gset
SELECT fanfare.rotate_secret_key(:'org_c') AS sk_c \gset
-- keys, masked: their prefixes and lengths, never the random part
SELECT left(k, 8) AS prefix, length(k) AS length
FROM unnest(ARRAY[:'revoked_sk_a', :'sk_a', :'sk_a_test', :'pk_a', :'sk_b', :'sk_c']) WITH ORDINALITY AS u(k, n)
ORDER BY n;
SELECT o.name, k.kind, k.mode, left(k.display_prefix, 8) AS display_prefix,
       length(k.display_prefix) AS prefix_length, k.revoked_at IS NOT NULL AS revoked
FROM fanfare.api_keys k JOIN fanfare.organizations o ON o.id = k.organization_id
ORDER BY o.name, k.kind, k.mode, k.revoked_at NULLS FIRST;

-- consumers of A and B through create_consumers, with the tenant set
SET fanfare.organization_id = :'org_a';
SET fanfare.actor = 'upgrade-test';
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"Ana@Example.com","fullName":"Ana",
   "aov":"12.50","ltv":"0099.12345678","activityRank":3,"activityScore":0.25,"totalOrders":7,
   "lastOrderAt":"2024-05-01T12:00:00.123+02:00","lastGeoCoordinates":{"latitude":38.75,"longitude":-9.5},
   "lastGeoCity":"Lisbon","metadata":{"tier":"gold","tags":["a","b"],"n":1.5,"ok":true}},
  {"emailVerified":false,"phoneVerified":true,"status":"INACTIVE","email":"bob@example.com","phone":"+351900000000","smsOptOut":true},
  {"emailVerified":false,"phoneVerified":false,"status":"ACTIVE"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"old@example.com"}]}')) AS created_a;
SET fanfare.organization_id = :'org_b';
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"ana@example.com","fullName":"Another Ana"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"eve@example.com","metadata":{"k":[1,null,"x"]}}]}')) AS created_b;
RESET fanfare.organization_id;
RESET fanfare.actor;
-- an archived consumer does not hold its email (checked after the update)
UPDATE fanfare.consumers SET archived = true, updated_at = '2025-01-01 00:00:00+00', updated_by = 'dba'
WHERE email = 'old@example.com';

-- and through 0.1.0's gateway function, by key: A, A's test key, B and C
CREATE TEMP TABLE response_010 AS
SELECT fanfare.api_create_consumers(:'sk_a', '{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"carla@example.com","aov":"3"}]}') AS r;
SELECT jsonb_array_length(r) AS created, r->0->>'email' AS email,
       r->0->>'organizationId' = :'org_a' AS org_is_a,
       r->0->>'createdBy' LIKE 'api_key:sk_live_%' AS created_by_key
FROM response_010;
SELECT jsonb_array_length(fanfare.api_create_consumers(:'sk_a_test',
  '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"test-mode@example.com"}]}')) AS created;
SELECT jsonb_array_length(fanfare.api_create_consumers(:'sk_b',
  '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"dan@example.com"}]}')) AS created;
SELECT jsonb_array_length(fanfare.api_create_consumers(:'sk_c',
  '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"ivy@example.com"}]}')) AS created;
-- C is disabled from now on
UPDATE fanfare.organizations SET disabled_at = '2025-06-01 00:00:00+00' WHERE id = :'org_c';

-- 0.1.0's refusals and their 0.1.0 SQLSTATEs
SELECT fanfare.api_create_consumers(:'revoked_sk_a', '{"consumers":[]}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_create_consumers(:'pk_a', '{"consumers":[]}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_create_consumers(:'sk_c', '{"consumers":[]}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_create_consumers(:'sk_a', '{"consumers":[');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_create_consumers('sk_live_unknown', '{"consumers":[]}');
\echo :LAST_ERROR_SQLSTATE

-- what the update must not change: every row of the three tables
SELECT o.name, c.email, c.created_by LIKE 'api_key:sk_%' AS by_key, c.archived
FROM fanfare.consumers c JOIN fanfare.organizations o ON o.id = c.organization_id
ORDER BY o.name, c.email COLLATE "C" NULLS FIRST;
CREATE TEMP TABLE before_update AS
SELECT 'consumers' AS tab, count(*) AS n,
       md5(string_agg(c::text, ',' ORDER BY c.organization_id, c.id)) AS checksum
FROM fanfare.consumers c
UNION ALL
SELECT 'organizations', count(*), md5(string_agg(o::text, ',' ORDER BY o.id)) FROM fanfare.organizations o
UNION ALL
SELECT 'api_keys', count(*), md5(string_agg(k::text, ',' ORDER BY k.id)) FROM fanfare.api_keys k;
SELECT tab, n FROM before_update ORDER BY tab;

------------------------------------------------------------------------------
-- The update
------------------------------------------------------------------------------
ALTER EXTENSION fanfare UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'fanfare';
-- the extension's objects now: 0.2.0's (test/upgrade compares them in full)
SELECT pg_describe_object(classid, objid, objsubid) AS object
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'fanfare')
  AND deptype = 'e'
ORDER BY 1;

-- every row, organization and key is still there, unchanged
WITH after_update AS (
  SELECT 'consumers' AS tab, count(*) AS n,
         md5(string_agg(c::text, ',' ORDER BY c.organization_id, c.id)) AS checksum
  FROM fanfare.consumers c
  UNION ALL
  SELECT 'organizations', count(*), md5(string_agg(o::text, ',' ORDER BY o.id)) FROM fanfare.organizations o
  UNION ALL
  SELECT 'api_keys', count(*), md5(string_agg(k::text, ',' ORDER BY k.id)) FROM fanfare.api_keys k)
SELECT b.tab, a.n, a.n = b.n AS same_count, a.checksum = b.checksum AS same_rows
FROM before_update b JOIN after_update a USING (tab) ORDER BY b.tab;

-- the new functions exist; the old gateway function is now SQL over the new one
SELECT to_regprocedure('fanfare.import_consumers(text)') IS NOT NULL AS import_consumers,
       to_regprocedure('fanfare.api_import_consumers(text,bytea,text)') IS NOT NULL AS api_import_consumers,
       to_regprocedure('fanfare.consumer_fields()') IS NOT NULL AS consumer_fields,
       to_regprocedure('fanfare.post_consumers_batch(json)') IS NOT NULL AS post_consumers_batch;
SELECT l.lanname, p.prosecdef FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.oid = 'fanfare.api_create_consumers(text,text)'::regprocedure;

------------------------------------------------------------------------------
-- Keys issued by 0.1.0
------------------------------------------------------------------------------
-- still authenticate through the old function: same organization, same
-- actor, a response of the same shape as 0.1.0 gave
CREATE TEMP TABLE response_020 AS
SELECT fanfare.api_create_consumers(:'sk_a', '{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"erin@example.com","aov":"3"}]}') AS r;
SELECT jsonb_array_length(n.r) AS created, n.r->0->>'email' AS email,
       n.r->0->>'organizationId' = :'org_a' AS org_is_a,
       n.r->0->>'createdBy' = o.r->0->>'createdBy' AS same_created_by
FROM response_020 n, response_010 o;
SELECT (SELECT string_agg(key || ':' || jsonb_typeof(value), ',' ORDER BY key)
        FROM response_010, jsonb_each(r->0))
     = (SELECT string_agg(key || ':' || jsonb_typeof(value), ',' ORDER BY key)
        FROM response_020, jsonb_each(r->0)) AS same_response_shape,
       (SELECT count(*) FROM response_020, jsonb_object_keys(r->0)) AS properties;
-- and through the new one, with the body as bytes
SELECT c->>'email' AS email, c->>'organizationId' = :'org_b' AS org_is_b,
       c->>'createdBy' LIKE 'api_key:sk_live_%' AS created_by_key
FROM fanfare.api_import_consumers(:'sk_b', convert_to('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"fred@example.com"}]}', 'UTF8')) AS c;
SELECT c->>'email' AS email, c->>'organizationId' = :'org_a' AS org_is_a,
       c->>'createdBy' LIKE 'api_key:sk_test_%' AS created_by_test_key
FROM fanfare.api_import_consumers(:'sk_a_test', convert_to('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"test-mode-2@example.com"}]}', 'UTF8')) AS c;

-- the revoked key, the publishable key, the disabled organization and an
-- unknown key are still refused, by both functions (SQLSTATEs of 0.2.0);
-- the key is checked before the body is read
SELECT fanfare.api_create_consumers(:'revoked_sk_a', '{"consumers":[]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fanfare.api_import_consumers(:'revoked_sk_a', convert_to('{"consumers":[', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_create_consumers(:'pk_a', '{"consumers":[]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fanfare.api_import_consumers(:'pk_a', convert_to('{"consumers":[]}', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_create_consumers(:'sk_c', '{"consumers":[]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fanfare.api_import_consumers(:'sk_c', convert_to('{"consumers":[]}', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fanfare.api_import_consumers('sk_live_unknown', convert_to('{"consumers":[]}', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE
-- a good key with a body that is not JSON
SELECT fanfare.api_create_consumers(:'sk_a', '{"consumers":[');
\echo :LAST_ERROR_SQLSTATE
-- C still has only the consumer it had before it was disabled
SELECT count(*) AS c_consumers FROM fanfare.consumers WHERE organization_id = :'org_c';

-- rotating a 0.1.0 key after the update revokes it at once
SELECT fanfare.rotate_secret_key(:'org_b') AS new_sk_b \gset
SELECT count(*) AS created FROM fanfare.api_import_consumers(:'new_sk_b', convert_to('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"gil@example.com"}]}', 'UTF8'));
SELECT * FROM fanfare.api_import_consumers(:'sk_b', convert_to('{"consumers":[]}', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE
SELECT kind, mode, count(*) AS keys, count(*) FILTER (WHERE revoked_at IS NULL) AS usable
FROM fanfare.api_keys WHERE organization_id = :'org_b' GROUP BY kind, mode ORDER BY kind, mode;

------------------------------------------------------------------------------
-- Emails stay unique against the rows stored before the update
------------------------------------------------------------------------------
SET fanfare.organization_id = :'org_a';
SET fanfare.actor = 'upgrade-test';
-- Ana@Example.com was stored by 0.1.0's create_consumers
SELECT fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"ana@EXAMPLE.com"}]}');
\echo :LAST_ERROR_SQLSTATE
DO $$
DECLARE
  body jsonb;
BEGIN
  PERFORM fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"ana@EXAMPLE.com"}]}');
EXCEPTION WHEN invalid_parameter_value THEN
  GET STACKED DIAGNOSTICS body = PG_EXCEPTION_DETAIL;
  RAISE NOTICE 'issueCount=%, type=%, path=%, message=%', body->'issueCount',
    body#>>'{issues,0,type}',
    (SELECT string_agg(p->>'key', '.') FROM jsonb_array_elements(body#>'{issues,0,path}') p),
    body#>>'{issues,0,message}';
END $$;
-- carla@example.com was stored by 0.1.0's api_create_consumers
SELECT * FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"CARLA@example.com"}]}');
\echo :LAST_ERROR_SQLSTATE
-- dan@example.com is B's, from 0.1.0's gateway function
SELECT * FROM fanfare.api_import_consumers(:'new_sk_b', convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"Dan@example.com"}]}', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.api_create_consumers(:'new_sk_b', '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"dan@example.COM"}]}');
\echo :LAST_ERROR_SQLSTATE
-- the archived consumer's email is free; B's emails are free for A
SELECT c->>'email' AS email FROM fanfare.import_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"OLD@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"eve@example.com"}]}') AS c;
SELECT count(*) AS live_old FROM fanfare.consumers
WHERE organization_id = :'org_a' AND lower(email) = 'old@example.com' AND NOT archived;

------------------------------------------------------------------------------
-- The new functions on the old data
------------------------------------------------------------------------------
-- import_consumers: created for A, in input order, with 0.1.0's defaults
SELECT c->>'email' AS email, c->>'aov' AS aov, c->>'smsOptOut' AS sms_opt_out,
       c->>'createdBy' AS created_by, c->>'organizationId' = :'org_a' AS org_is_a
FROM fanfare.import_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"hana@example.com"},
  {"emailVerified":false,"phoneVerified":false,"status":"INACTIVE","email":"ian@example.com","aov":"5.5"}]}') AS c;
-- validate_consumers sees the emails stored before the update
SELECT i->>'type' AS type, i->>'input' AS input, i->>'message' AS message,
       (SELECT string_agg(p->>'key', '.') FROM jsonb_array_elements(i->'path') p) AS path
FROM jsonb_array_elements(fanfare.validate_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"BOB@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"dan@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"ana@example.com"}]}')) AS i;
-- the field catalogue
SELECT count(*) AS fields, count(*) FILTER (WHERE required) AS required,
       string_agg(name, ',' ORDER BY name) FILTER (WHERE required) AS required_fields
FROM fanfare.consumer_fields();
-- every column the catalogue names is a column of the 0.1.0 table
SELECT f.name, f.column_name FROM fanfare.consumer_fields() f
WHERE f.kind <> 'coordinates'
  AND NOT EXISTS (SELECT FROM pg_attribute a
                  WHERE a.attrelid = 'fanfare.consumers'::regclass AND a.attname = f.column_name
                    AND NOT a.attisdropped);
-- post_consumers_batch, with the tenant and the actor from PostgREST's claims
RESET fanfare.organization_id;
RESET fanfare.actor;
BEGIN;
SELECT set_config('request.jwt.claims', json_build_object('organization_id', :'org_b', 'sub', 'user-7')::text, true) IS NOT NULL AS claims_set;
SELECT json_array_length(fanfare.post_consumers_batch('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"jo@example.com"}]}')) AS created;
-- eve@example.com is B's since 0.1.0: a 400 body, not an error
SELECT fanfare.post_consumers_batch('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"EVE@example.com"}]}')::jsonb #>> '{issues,0,type}' AS issue,
       current_setting('response.status', true) AS status;
COMMIT;
SELECT email, created_by FROM fanfare.consumers WHERE email = 'jo@example.com';

------------------------------------------------------------------------------
-- Row-level security and grants, for a role of fanfare_api
------------------------------------------------------------------------------
SELECT count(*) AS a_rows FROM fanfare.consumers WHERE organization_id = :'org_a' \gset
CREATE ROLE fanfare_upgrade_tenant NOLOGIN IN ROLE fanfare_api;
SET ROLE fanfare_upgrade_tenant;
SET fanfare.organization_id = :'org_a';
SET fanfare.actor = 'api_key:upgrade';
-- it sees A's rows, old and new, and nothing else
SELECT count(*) = :a_rows AS sees_all_of_a,
       count(*) FILTER (WHERE organization_id <> :'org_a') AS other_rows
FROM fanfare.consumers;
-- it creates consumers for A through the old and the new functions
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"kim@example.com"}]}')) AS created;
SELECT count(*) AS created FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"lee@example.com"}]}');
-- and still meets the old rows' emails
SELECT jsonb_array_length(fanfare.validate_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"bob@EXAMPLE.com"}]}')) AS issues;
-- the gateway functions work for it with a 0.1.0 key; the key chooses the tenant
SELECT jsonb_array_length(fanfare.api_create_consumers(:'sk_a', '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"mia@example.com"}]}')) AS created;
SELECT c->>'organizationId' = :'org_a' AS org_is_a
FROM fanfare.api_import_consumers(:'sk_a_test', convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"ned@example.com"}]}', 'UTF8')) AS c;
-- B's rows stay out of reach
SET fanfare.organization_id = :'org_a';
INSERT INTO fanfare.consumers (organization_id, id, created_by, email_verified, phone_verified, status)
VALUES (:'org_b', gen_random_uuid(), 'mallory', true, true, 'ACTIVE');
\echo :LAST_ERROR_SQLSTATE
-- and the API role may not update at all
UPDATE fanfare.consumers SET full_name = 'x';
\echo :LAST_ERROR_SQLSTATE
-- keys, organizations and key management are the owner's
SELECT count(*) FROM fanfare.api_keys;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM fanfare.organizations;
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.create_organization('Mallory Inc');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.rotate_secret_key(:'org_b');
\echo :LAST_ERROR_SQLSTATE
-- without a tenant it sees nothing
RESET fanfare.organization_id;
SELECT count(*) AS visible FROM fanfare.consumers;
RESET ROLE;
RESET fanfare.actor;

-- no function is executable by PUBLIC; fanfare_api has the API, old and new
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
       has_function_privilege('fanfare_api', p.oid, 'EXECUTE') AS api_execute
FROM pg_proc p WHERE p.pronamespace = 'fanfare'::regnamespace ORDER BY p.proname;
SELECT privilege_type FROM information_schema.role_table_grants
WHERE grantee = 'fanfare_api' AND table_schema = 'fanfare' AND table_name = 'consumers' ORDER BY 1;
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       has_table_privilege('fanfare_api', c.oid, 'SELECT') AS api_select
FROM pg_class c WHERE c.relnamespace = 'fanfare'::regnamespace AND c.relkind = 'r' ORDER BY 1;

------------------------------------------------------------------------------
-- pg_dump still dumps the three tables of 0.1.0, and the keys of 0.2.0
------------------------------------------------------------------------------
SELECT u.dumped_table::regclass AS dumped_table, u.condition
FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(dumped_table, condition)
WHERE e.extname = 'fanfare' ORDER BY u.dumped_table::regclass::text;

-- what is stored now, per organization: nothing from before was lost
SELECT o.name, o.disabled_at IS NOT NULL AS disabled, count(c.id) AS consumers,
       count(c.id) FILTER (WHERE c.archived) AS archived
FROM fanfare.organizations o LEFT JOIN fanfare.consumers c ON c.organization_id = o.id
GROUP BY o.name, o.disabled_at ORDER BY o.name;

------------------------------------------------------------------------------
-- Then 0.2.0 to 0.2.1, with 0.2.0's data in place: an idempotency key too
------------------------------------------------------------------------------
CREATE TEMP TABLE keyed_first AS
SELECT n, c::text AS consumer
FROM fanfare.api_import_consumers(:'sk_a', convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"olga@example.com"}]}', 'UTF8'),
                                  'upgrade-0.2.1') WITH ORDINALITY AS r(c, n);
CREATE TEMP TABLE before_021 AS
  SELECT 'consumers' AS tab, count(*) AS n,
         md5(string_agg(c::text, ',' ORDER BY c.organization_id, c.id)) AS checksum
  FROM fanfare.consumers c
  UNION ALL
  SELECT 'organizations', count(*), md5(string_agg(o::text, ',' ORDER BY o.id)) FROM fanfare.organizations o
  UNION ALL
  SELECT 'api_keys', count(*), md5(string_agg(k::text, ',' ORDER BY k.id)) FROM fanfare.api_keys k
  UNION ALL
  SELECT 'idempotency_keys', count(*), md5(string_agg(k::text, ',' ORDER BY k.organization_id, k.key))
  FROM fanfare.idempotency_keys k;
ALTER EXTENSION fanfare UPDATE TO '0.2.1';
SELECT extversion FROM pg_extension WHERE extname = 'fanfare';
WITH after_update AS (
  SELECT 'consumers' AS tab, count(*) AS n,
         md5(string_agg(c::text, ',' ORDER BY c.organization_id, c.id)) AS checksum
  FROM fanfare.consumers c
  UNION ALL
  SELECT 'organizations', count(*), md5(string_agg(o::text, ',' ORDER BY o.id)) FROM fanfare.organizations o
  UNION ALL
  SELECT 'api_keys', count(*), md5(string_agg(k::text, ',' ORDER BY k.id)) FROM fanfare.api_keys k
  UNION ALL
  SELECT 'idempotency_keys', count(*), md5(string_agg(k::text, ',' ORDER BY k.organization_id, k.key))
  FROM fanfare.idempotency_keys k)
SELECT b.tab, a.n, a.n = b.n AS same_count, a.checksum = b.checksum AS same_rows
FROM before_021 b JOIN after_update a USING (tab) ORDER BY b.tab;
-- the three functions 0.2.0 left without a pinned search_path have it now
SELECT p.oid::regprocedure AS function, p.proconfig
FROM pg_proc p
WHERE p.oid IN ('fanfare.api_import_consumers(text,bytea,text)'::regprocedure,
                'fanfare.shard_import_consumers(uuid,text,bytea,text)'::regprocedure,
                'fanfare.shard_import_consumers_text(uuid,text,text,text)'::regprocedure)
ORDER BY 1::text;
-- 0.2.0's key replays after the update: the same answer, nothing created
SELECT (SELECT array_agg(consumer ORDER BY n) FROM keyed_first) =
       (SELECT array_agg(c::text ORDER BY n)
          FROM fanfare.api_import_consumers(:'sk_a', convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"olga@example.com"}]}', 'UTF8'),
                                            'upgrade-0.2.1') WITH ORDINALITY AS r(c, n)) AS same_answer,
       current_setting('fanfare.idempotency_outcome') AS outcome;
SELECT count(*) AS olga_rows FROM fanfare.consumers WHERE email = 'olga@example.com';

DROP ROLE fanfare_upgrade_tenant;
TRUNCATE fanfare.consumers, fanfare.api_keys, fanfare.organizations, fanfare.idempotency_keys;
