-- The error contract: SQLSTATE 22023, a one-line message, the 400 body as
-- DETAIL, nothing written.  And "Email already exists".
CREATE EXTENSION IF NOT EXISTS fanfare;
SET fanfare.organization_id = '0190f5c2-5555-7000-8000-000000000005';
SET fanfare.actor = 'api_key:errors';

-- what a client sees
\set SHOW_CONTEXT never
SELECT fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"nope"}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.create_consumers('{"consumers":[{"status":1},{"emailVerified":true}]}');
\echo :LAST_ERROR_SQLSTATE

-- the DETAIL is the 400 body, as JSON, for clients to forward as is
DO $$
DECLARE
  body jsonb;
BEGIN
  PERFORM fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","totalOrders":-1}]}');
EXCEPTION WHEN invalid_parameter_value THEN
  GET STACKED DIAGNOSTICS body = PG_EXCEPTION_DETAIL;
  RAISE NOTICE 'keys=%, error=%, issueCount=%, first=%',
    (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(body) k),
    body->>'error', body->'issueCount', body#>>'{issues,0,message}';
END $$;

-- atomic: a batch with one bad element stores nothing
SELECT fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"ok1@example.com"},{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","aov":"-1"}]}');
SELECT count(*) FROM fanfare.consumers;

-- SQL NULL is not a body
SELECT fanfare.create_consumers(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.validate_consumers(NULL);

-- duplicate emails, case-insensitive: within the batch (second and later)
SELECT fanfare.create_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"dup@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"DUP@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"other@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"Dup@Example.com"}]}');
SELECT count(*) FROM fanfare.consumers;

-- and against the organization's stored consumers
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"taken@example.com"}]}'));
SELECT fanfare.create_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"fresh@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"TAKEN@example.com"}]}');
SELECT jsonb_pretty(fanfare.validate_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"fresh@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"TAKEN@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"fresh@EXAMPLE.com"}]}'));
SELECT email FROM fanfare.consumers ORDER BY email;

-- many stored duplicates at once (their issues outlive the lookup)
BEGIN;
SET LOCAL fanfare.max_issues = 1000;
SELECT jsonb_array_length(fanfare.create_consumers(
  (SELECT jsonb_build_object('consumers', jsonb_agg(jsonb_build_object('emailVerified', true,
     'phoneVerified', true, 'status', 'ACTIVE', 'email', 'many' || i || '@example.com')))
   FROM generate_series(1, 400) i)));
SELECT count(*), count(DISTINCT i->>'received'), min(i->>'message'), max(i->>'message')
FROM jsonb_array_elements(fanfare.validate_consumers(
  (SELECT jsonb_build_object('consumers', jsonb_agg(jsonb_build_object('emailVerified', true,
     'phoneVerified', true, 'status', 'ACTIVE', 'email', 'MANY' || i || '@example.com')))
   FROM generate_series(1, 400) i))) AS i;
ROLLBACK;

-- uniqueness is checked only once everything else passes
SELECT fanfare.validate_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"taken@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","activityRank":9}]}') @? '$[*] ? (@.type == "unique")' AS has_unique_issue;

-- another organization may use the same email
SET fanfare.organization_id = '0190f5c2-5555-7000-8000-0000000000ff';
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"taken@example.com"}]}'));
-- archived consumers do not hold their email
UPDATE fanfare.consumers SET archived = true WHERE email = 'taken@example.com';
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"taken@example.com"}]}'));

-- the internal row source cannot be used on its own
SELECT * FROM fanfare.staged_consumer_rows() AS r(x int);
TRUNCATE fanfare.consumers;

-- the HINT and the server log's summary carry no client data: a client's
-- metadata key prints as *, values never appear
DO $$
DECLARE hint text; detail text;
BEGIN
  PERFORM fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","metadata":{"customer-secret-key":{"x":1}}}]}');
EXCEPTION WHEN invalid_parameter_value THEN
  GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT, detail = PG_EXCEPTION_DETAIL;
  RAISE NOTICE 'hint: %', hint;
  RAISE NOTICE 'the key is in the body (DETAIL): %, and in the HINT: %',
    position('customer-secret-key' in detail) > 0, position('customer-secret-key' in hint) > 0;
END $$;
