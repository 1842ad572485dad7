-- The webhook outbox's trigger, fanfare.consumers_outbox() (src/outbox.c):
-- called any other way than as its trigger it refuses; it writes events for
-- a role that has no rights on the webhook tables; a hostile search_path
-- diverts none of its names.  What it writes is sql/webhooks.sql's.  Runs
-- after sql/upgrade.sql, which leaves 0.2.1: starts from a fresh install.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS fanfare CASCADE;
CREATE EXTENSION fanfare;
RESET client_min_messages;

SELECT fanfare.create_organization('Outbox') AS org \gset
SELECT id AS ep FROM fanfare.create_webhook_endpoint(:'org', 'https://hooks.example.com/outbox') \gset

-- not a trigger, or not fired AFTER INSERT FOR EACH STATEMENT with the
-- transition table new_consumers: refused, nothing written
SELECT fanfare.consumers_outbox();
CREATE TABLE outbox_scratch (LIKE fanfare.consumers INCLUDING DEFAULTS);
INSERT INTO outbox_scratch (organization_id, id, created_at, created_by, email_verified, phone_verified, status)
VALUES (:'org', gen_random_uuid(), now(), 'x', true, false, 'ACTIVE');
CREATE TRIGGER t BEFORE INSERT ON outbox_scratch
    FOR EACH STATEMENT EXECUTE FUNCTION fanfare.consumers_outbox();
INSERT INTO outbox_scratch SELECT * FROM outbox_scratch;
DROP TRIGGER t ON outbox_scratch;
CREATE TRIGGER t AFTER INSERT ON outbox_scratch
    REFERENCING NEW TABLE AS new_consumers
    FOR EACH ROW EXECUTE FUNCTION fanfare.consumers_outbox();
INSERT INTO outbox_scratch SELECT * FROM outbox_scratch;
DROP TRIGGER t ON outbox_scratch;
CREATE TRIGGER t AFTER UPDATE ON outbox_scratch
    REFERENCING NEW TABLE AS new_consumers
    FOR EACH STATEMENT EXECUTE FUNCTION fanfare.consumers_outbox();
UPDATE outbox_scratch SET created_by = 'y';
DROP TRIGGER t ON outbox_scratch;
CREATE TRIGGER t AFTER INSERT ON outbox_scratch
    FOR EACH STATEMENT EXECUTE FUNCTION fanfare.consumers_outbox();
INSERT INTO outbox_scratch SELECT * FROM outbox_scratch;
DROP TRIGGER t ON outbox_scratch;
CREATE TRIGGER t AFTER INSERT ON outbox_scratch
    REFERENCING NEW TABLE AS rows_in
    FOR EACH STATEMENT EXECUTE FUNCTION fanfare.consumers_outbox();
INSERT INTO outbox_scratch SELECT * FROM outbox_scratch;
SELECT count(*) AS scratch_rows FROM outbox_scratch;
DROP TABLE outbox_scratch;
SELECT count(*) AS events FROM fanfare.webhook_events;

-- an API role with no rights on the webhook tables still gets its events
-- written (the trigger acts as the table's owner), and afterwards is still
-- itself
CREATE ROLE fanfare_outbox_api NOLOGIN IN ROLE fanfare_api;
SET ROLE fanfare_outbox_api;
SELECT has_table_privilege('fanfare.webhook_endpoints', 'SELECT') AS endpoints_readable,
       has_table_privilege('fanfare.webhook_events', 'INSERT') AS events_writable,
       has_table_privilege('fanfare.webhook_event_batches', 'INSERT') AS batches_writable;
SET fanfare.organization_id = :'org';
SELECT count(*) AS created FROM fanfare.import_consumers(
    '{"consumers":[{"email":"o1@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"},
                   {"email":"o2@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
SELECT current_user, session_user = current_user AS session_is_current;
SELECT count(*) FROM fanfare.webhook_events;
RESET ROLE;
SELECT count(*) AS events, count(*) FILTER (WHERE v.id IN (SELECT c.id FROM fanfare.consumers c)) AS of_consumers
FROM fanfare.webhook_events v WHERE v.organization_id = :'org';
SELECT endpoint_ids = ARRAY[:'ep'] AS endpoints_ok, cardinality(event_ids) AS events FROM fanfare.webhook_event_batches;

-- an error in the trigger's own work (here: a table it writes is gone)
-- leaves the caller's role as it was once rolled back to a savepoint
BEGIN;
ALTER TABLE fanfare.webhook_event_batches RENAME TO webhook_event_batches_away;
SET LOCAL ROLE fanfare_outbox_api;
SAVEPOINT s;
\set VERBOSITY terse
SELECT count(*) FROM fanfare.import_consumers(
    '{"consumers":[{"email":"o3@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
\set VERBOSITY default
ROLLBACK TO SAVEPOINT s;
SELECT current_user;
ROLLBACK;

-- a hostile search_path: the API role's own schema first, with operators
-- and functions named as the trigger's, which would run as the owner if
-- the trigger used them; nothing of it is used
CREATE SCHEMA outbox_evil AUTHORIZATION fanfare_outbox_api;
SET ROLE fanfare_outbox_api;
CREATE FUNCTION outbox_evil.divert(text[], text[]) RETURNS boolean
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'diverted as %', current_user;
END
$$;
CREATE FUNCTION outbox_evil.divert(uuid, uuid) RETURNS boolean
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'diverted as %', current_user;
END
$$;
CREATE OPERATOR outbox_evil.@> (LEFTARG = text[], RIGHTARG = text[], FUNCTION = outbox_evil.divert);
CREATE OPERATOR outbox_evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = outbox_evil.divert);
CREATE FUNCTION outbox_evil.array_agg(text) RETURNS text[]
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'diverted as %', current_user;
END
$$;
CREATE TEMP TABLE new_consumers (LIKE fanfare.consumers);
SET search_path = outbox_evil, pg_catalog, pg_temp;
-- the operators are live in this session
SELECT '{a}'::text[] @> '{a}'::text[];
SELECT '00000000-0000-0000-0000-000000000000'::uuid = '00000000-0000-0000-0000-000000000000'::uuid;
SELECT count(*) AS created FROM fanfare.import_consumers(
    '{"consumers":[{"email":"o4@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
SELECT count(*) AS created FROM fanfare.create_consumers(
    '{"consumers":[{"email":"o5@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
RESET search_path;
RESET ROLE;
SELECT count(*) AS events FROM fanfare.webhook_events
 WHERE organization_id = :'org' AND email IN ('o4@example.com', 'o5@example.com');
DROP TABLE pg_temp.new_consumers;
DROP SCHEMA outbox_evil CASCADE;

-- the check reads the organizations of the statement's rows once an
-- endpoint is subscribed: an owner's statement of several organizations
-- writes the events of the subscribed one, wherever its rows are, and of
-- no other (the second of three; the last of 17, past the 16 it tells
-- apart, with no other subscribed)
SELECT array_agg(fanfare.create_organization('Many ' || i) ORDER BY i) AS many FROM generate_series(1, 19) i \gset
SELECT count(*) AS endpoints FROM (
    SELECT fanfare.create_webhook_endpoint((:'many'::uuid[])[2], 'https://hooks.example.com/second')
    UNION ALL
    SELECT fanfare.create_webhook_endpoint((:'many'::uuid[])[19], 'https://hooks.example.com/last')) e;
INSERT INTO fanfare.consumers (organization_id, id, created_at, created_by, email, email_verified, phone_verified, status)
SELECT o, gen_random_uuid(), now(), 'owner', 'm' || n || '@example.com', true, false, 'ACTIVE'
  FROM unnest((:'many'::uuid[])[1:3]) WITH ORDINALITY AS t(o, n);
INSERT INTO fanfare.consumers (organization_id, id, created_at, created_by, email, email_verified, phone_verified, status)
SELECT o, gen_random_uuid(), now(), 'owner', 'n' || n || '@example.com', true, false, 'ACTIVE'
  FROM unnest((:'many'::uuid[])[3:19]) WITH ORDINALITY AS t(o, n);
SELECT array_position(:'many'::uuid[], v.organization_id) AS organization, count(*) AS events
  FROM fanfare.webhook_events v WHERE v.organization_id = ANY (:'many'::uuid[])
 GROUP BY 1 ORDER BY 1;

-- fanfare_webhook.outbox = off: nothing written, as before
SET fanfare_webhook.outbox = off;
SELECT count(*) AS created FROM fanfare.import_consumers(
    '{"consumers":[{"email":"o6@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
RESET fanfare_webhook.outbox;
SELECT count(*) AS events FROM fanfare.webhook_events WHERE email = 'o6@example.com';

-- the check looks the statement's organizations up in the primary key of
-- fanfare.webhook_endpoints: subscribed endpoints of other organizations
-- (150, on several pages), or its own organization's disabled one and
-- unsubscribed one, do not make it run the write (here the write would
-- fail: a table it writes is renamed away); its own subscribed one, found
-- between those two, does
SELECT array_agg(fanfare.create_organization('Probe ' || i) ORDER BY i) AS probe FROM generate_series(1, 4) i \gset
INSERT INTO fanfare.webhook_endpoints (organization_id, id, url, events, secret)
SELECT (:'probe'::uuid[])[o], 'whe_' || md5(o || '/' || n), 'https://hooks.example.com/probe', '{consumer.created}', 'whsec_probe'
  FROM unnest('{1,2,4}'::int[]) o, generate_series(1, 50) n;
SELECT pg_relation_size('fanfare.webhook_endpoints') > 8192 AS several_pages;
BEGIN;
ALTER TABLE fanfare.webhook_event_batches RENAME TO webhook_event_batches_away;
INSERT INTO fanfare.consumers (organization_id, id, created_at, created_by, email, email_verified, phone_verified, status)
VALUES ((:'probe'::uuid[])[3], gen_random_uuid(), now(), 'owner', 'p1@example.com', true, false, 'ACTIVE');
ROLLBACK;
INSERT INTO fanfare.webhook_endpoints (organization_id, id, url, events, secret, enabled)
VALUES ((:'probe'::uuid[])[3], 'whe_' || repeat('1', 32), 'https://hooks.example.com/disabled', '{consumer.created}', 'whsec_probe', false),
       ((:'probe'::uuid[])[3], 'whe_' || repeat('3', 32), 'https://hooks.example.com/other-event', '{consumer.updated}', 'whsec_probe', true);
BEGIN;
ALTER TABLE fanfare.webhook_event_batches RENAME TO webhook_event_batches_away;
INSERT INTO fanfare.consumers (organization_id, id, created_at, created_by, email, email_verified, phone_verified, status)
VALUES ((:'probe'::uuid[])[3], gen_random_uuid(), now(), 'owner', 'p2@example.com', true, false, 'ACTIVE');
ROLLBACK;
INSERT INTO fanfare.webhook_endpoints (organization_id, id, url, events, secret)
VALUES ((:'probe'::uuid[])[3], 'whe_' || repeat('2', 32), 'https://hooks.example.com/subscribed', '{consumer.created}', 'whsec_probe');
INSERT INTO fanfare.consumers (organization_id, id, created_at, created_by, email, email_verified, phone_verified, status)
VALUES ((:'probe'::uuid[])[3], gen_random_uuid(), now(), 'owner', 'p3@example.com', true, false, 'ACTIVE');
SELECT b.endpoint_ids = ARRAY['whe_' || repeat('2', 32)] AS endpoints_ok, cardinality(b.event_ids) AS events
  FROM fanfare.webhook_event_batches b WHERE b.organization_id = (:'probe'::uuid[])[3];

-- an emptied endpoints table: deleted rows (its pages remain) are not
-- seen; truncated (no page), an endpoint registered earlier in the same
-- transaction is
DELETE FROM fanfare.webhook_endpoints;
BEGIN;
ALTER TABLE fanfare.webhook_event_batches RENAME TO webhook_event_batches_away;
INSERT INTO fanfare.consumers (organization_id, id, created_at, created_by, email, email_verified, phone_verified, status)
VALUES ((:'probe'::uuid[])[3], gen_random_uuid(), now(), 'owner', 'p4@example.com', true, false, 'ACTIVE');
ROLLBACK;
TRUNCATE fanfare.webhook_endpoints;
SELECT pg_relation_size('fanfare.webhook_endpoints') AS truncated_size;
-- truncated, nothing is written and nothing is read: the write's table
-- gone, the insert still succeeds
BEGIN;
ALTER TABLE fanfare.webhook_event_batches RENAME TO webhook_event_batches_away;
INSERT INTO fanfare.consumers (organization_id, id, created_at, created_by, email, email_verified, phone_verified, status)
VALUES ((:'probe'::uuid[])[3], gen_random_uuid(), now(), 'owner', 'p4b@example.com', true, false, 'ACTIVE');
ROLLBACK;
BEGIN;
INSERT INTO fanfare.webhook_endpoints (organization_id, id, url, events, secret)
VALUES ((:'probe'::uuid[])[3], 'whe_' || repeat('4', 32), 'https://hooks.example.com/again', '{consumer.created}', 'whsec_probe');
INSERT INTO fanfare.consumers (organization_id, id, created_at, created_by, email, email_verified, phone_verified, status)
VALUES ((:'probe'::uuid[])[3], gen_random_uuid(), now(), 'owner', 'p5@example.com', true, false, 'ACTIVE');
SELECT count(*) AS events FROM fanfare.webhook_events WHERE email = 'p5@example.com';
COMMIT;

RESET fanfare.organization_id;

DROP ROLE fanfare_outbox_api;
TRUNCATE fanfare.consumers, fanfare.webhook_events, fanfare.webhook_event_batches, fanfare.webhook_deliveries,
         fanfare.webhook_endpoints, fanfare.api_keys, fanfare.organizations, fanfare.rate_limits;
