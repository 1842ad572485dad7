-- A taken email, whichever way a batch goes in.  A batch's INSERT runs in
-- a subtransaction, until its transaction has taken 8 of them; then a batch
-- whose caller raises its issues goes in without one (ON CONFLICT DO
-- NOTHING, READ COMMITTED), and the raised error undoes its other rows.
-- REPEATABLE READ and the PostgREST front (which answers the 400 without
-- raising) always take the subtransaction.  Each way reports "Email already
-- exists" for the taken email only and stores nothing.  Runs after
-- sql/upgrade.sql: a fresh install.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS fanfare CASCADE;
CREATE EXTENSION fanfare;
RESET client_min_messages;

-- The unique index that decides which batch gets an email.  Its predicate
-- is written again in the C code (EMAIL_INDEX_PREDICATE: the stored-email
-- lookup and the INSERT's ON CONFLICT); change both together.
SELECT pg_catalog.pg_get_expr(indpred, indrelid) AS email_index_predicate
FROM pg_catalog.pg_index WHERE indexrelid = 'fanfare.consumers_org_email_key'::regclass;

SELECT fanfare.create_organization('Taken') AS org \gset
SET fanfare.organization_id = :'org';
SELECT jsonb_array_length(fanfare.create_consumers(
    '{"consumers":[{"email":"taken@example.com","emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}')) AS stored;

-- n consumers, the one at taken_at (1-based) with the taken email
CREATE FUNCTION try_batch(n int, taken_at int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
    body jsonb;
BEGIN
    PERFORM fanfare.create_consumers(jsonb_build_object('consumers',
        (SELECT jsonb_agg(jsonb_build_object('emailVerified', true, 'phoneVerified', true, 'status', 'ACTIVE',
                'email', CASE WHEN i = taken_at THEN 'Taken@Example.com'
                              ELSE 'n' || n || '-' || i || '@example.com' END) ORDER BY i)
           FROM generate_series(1, n) i)));
    RETURN 'created';
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    body := detail::jsonb;
    RETURN jsonb_array_length(body->'issues') || ' issue: ' || (body->'issues'->0->>'message')
        || ' at consumers.' || (body->'issues'->0->'path'->1->>'key');
END
$$;

-- eight new consumers, in the caller's transaction: its subtransactions' worth
CREATE FUNCTION eight_more(tag text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(fanfare.create_consumers(jsonb_build_object('consumers', jsonb_build_array(
               jsonb_build_object('email', tag || i || '@example.com', 'emailVerified', true,
                                  'phoneVerified', true, 'status', 'ACTIVE')))))
      FROM generate_series(1, 8) i
$$;

-- in subtransactions: the taken email last, then first
SELECT n, taken_at, try_batch(n, taken_at)
  FROM (VALUES (2, 2), (2, 1), (17, 17), (17, 1)) v(n, taken_at);
-- without: after eight batches in the same transaction
BEGIN;
SELECT eight_more('rc') AS created;
SELECT n, taken_at, try_batch(n, taken_at)
  FROM (VALUES (2, 2), (2, 1), (16, 16), (16, 1), (17, 1)) v(n, taken_at);
COMMIT;
-- REPEATABLE READ: in a subtransaction even after eight
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT eight_more('rr') AS created;
SELECT try_batch(2, 2) AS repeatable_read;
ROLLBACK;
-- none of those batches' other consumers is stored: the taken one and rc1..rc8
SELECT count(*) AS stored FROM fanfare.consumers;

-- PostgREST answers the 400 itself (nothing raised): a subtransaction even
-- after eight, and the other consumer is not stored either
BEGIN;
SELECT eight_more('rest') AS created;
SELECT set_config('request.jwt.claims', json_build_object('organization_id', :'org', 'sub', 'user-1')::text, true) IS NOT NULL AS claims_set;
SELECT fanfare.post_consumers_batch('{"consumers":[{"email":"rest-new@example.com","emailVerified":true,"phoneVerified":true,"status":"ACTIVE"},{"email":"TAKEN@example.com","emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}')->'issues'->0->>'message' AS issue,
       current_setting('response.status', true) AS status;
SELECT count(*) AS stored FROM fanfare.consumers;
COMMIT;

-- twenty one-row calls in one READ COMMITTED transaction leave eight
-- subtransactions behind at most (each used to keep its 8 kB context, and
-- its id, until the end)
BEGIN;
SELECT count(*) AS created
  FROM (SELECT fanfare.create_consumers(jsonb_build_object('consumers', jsonb_build_array(
            jsonb_build_object('email', 'loop' || i || '@example.com', 'emailVerified', true,
                               'phoneVerified', true, 'status', 'ACTIVE'))))
          FROM generate_series(1, 20) i) c;
SELECT count(*) <= 8 AS eight_subtransactions_at_most
  FROM pg_backend_memory_contexts WHERE name = 'CurTransactionContext';
COMMIT;
SELECT count(*) AS stored FROM fanfare.consumers;

DROP FUNCTION try_batch(int, int);
DROP FUNCTION eight_more(text);
