-- Webhooks (issue 19): the outbox trigger, the endpoint functions, replay,
-- prune.  The relay's side is test/webhooks/run.sh.
CREATE EXTENSION IF NOT EXISTS fanfare;

SELECT fanfare.create_organization('Hooks') AS org \gset
SELECT fanfare.create_organization('No hooks') AS quiet \gset
SELECT id AS ep, secret FROM fanfare.create_webhook_endpoint(:'org', 'https://hooks.example.com/in') \gset
SELECT :'ep' ~ '^whe_[0-9a-f]{32}$' AS id_ok, :'secret' ~ '^whsec_[A-Za-z0-9_-]{43}$' AS secret_ok;
SELECT url, events, enabled FROM fanfare.webhook_endpoints(:'org');

-- one event and one delivery per created consumer, in the same transaction
SET fanfare.organization_id = :'org';
SELECT count(*) AS created FROM fanfare.import_consumers(
    '{"consumers":[{"email":"w1@example.com","fullName":"W One","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"},
                   {"phone":"+15005550006","emailVerified":false,"phoneVerified":true,"status":"ACTIVE"}]}');
SELECT count(*) AS events,
       count(*) FILTER (WHERE v.id IN (SELECT c.id FROM fanfare.consumers c WHERE c.organization_id = :'org')) AS of_consumers
FROM fanfare.webhook_events v WHERE v.organization_id = :'org';
-- the insert wrote the events and one batch row; the deliveries come from the batch
SELECT count(*) AS deliveries FROM fanfare.webhook_deliveries WHERE endpoint_id = :'ep';
SELECT organization_id = :'org' AS org_ok, endpoint_ids = ARRAY[:'ep'] AS endpoints_ok, cardinality(event_ids) AS events FROM fanfare.webhook_event_batches;
SELECT fanfare.expand_webhook_events() AS expanded;
SELECT count(*) AS batches FROM fanfare.webhook_event_batches;
SELECT count(*) AS deliveries, count(DISTINCT event_id) AS events FROM fanfare.webhook_deliveries WHERE endpoint_id = :'ep';
SELECT email, phone, full_name FROM fanfare.webhook_events WHERE organization_id = :'org' ORDER BY email NULLS LAST;

-- a rolled-back batch leaves nothing; an invalid one writes nothing
BEGIN;
SELECT count(*) AS created FROM fanfare.import_consumers(
    '{"consumers":[{"email":"w2@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
ROLLBACK;
SELECT count(*) FROM fanfare.import_consumers('{"consumers":[{"email":"w3@example.com"}]}');
SELECT count(*) AS events FROM fanfare.webhook_events WHERE organization_id = :'org';

-- an idempotent replay creates no new event
SET fanfare.idempotency_key = 'hooks-1';
SELECT count(*) AS created FROM fanfare.import_consumers(
    '{"consumers":[{"email":"w4@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
SELECT count(*) AS created FROM fanfare.import_consumers(
    '{"consumers":[{"email":"w4@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
RESET fanfare.idempotency_key;
SELECT count(*) AS events FROM fanfare.webhook_events WHERE organization_id = :'org';

-- an organization without an endpoint: no rows at all
SET fanfare.organization_id = :'quiet';
SELECT count(*) AS created FROM fanfare.import_consumers(
    '{"consumers":[{"email":"q1@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
SELECT count(*) AS events FROM fanfare.webhook_events WHERE organization_id = :'quiet';
-- nor while the endpoint is disabled, nor for another event type
SET fanfare.organization_id = :'org';
SELECT fanfare.disable_webhook_endpoint(:'ep');
SELECT count(*) AS created FROM fanfare.import_consumers(
    '{"consumers":[{"email":"w5@example.com","emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
SELECT count(*) AS events FROM fanfare.webhook_events WHERE organization_id = :'org';
SELECT fanfare.enable_webhook_endpoint(:'ep');
RESET fanfare.organization_id;

-- the listing: pending, no attempt yet
SELECT event_type, status, attempts, last_status FROM fanfare.webhook_deliveries(:'ep') ORDER BY id LIMIT 1;

-- a rotation replaces the secret at once
SELECT fanfare.rotate_webhook_secret(:'ep') <> :'secret' AS rotated;

-- replay: what the window held, as new deliveries
SELECT fanfare.replay_webhook_events(:'ep', now() - interval '1 hour', now() + interval '1 hour') AS replayed;
SELECT fanfare.replay_webhook_events(:'ep', now() - interval '2 hours', now() - interval '1 hour') AS replayed;
SELECT count(*) AS deliveries FROM fanfare.webhook_deliveries WHERE endpoint_id = :'ep';

-- prune keeps pending deliveries and the events they need
SELECT fanfare.prune_webhook_events('0 seconds') AS pruned;
UPDATE fanfare.webhook_deliveries SET status = 'delivered', finished_at = now() - interval '31 days' WHERE endpoint_id = :'ep';
UPDATE fanfare.webhook_events SET occurred_at = now() - interval '31 days' WHERE organization_id = :'org';
SELECT fanfare.prune_webhook_events() AS pruned;
SELECT count(*) AS deliveries FROM fanfare.webhook_deliveries WHERE endpoint_id = :'ep';

-- unknown endpoints and event types are refused
SELECT fanfare.rotate_webhook_secret('whe_00000000000000000000000000000000');
SELECT * FROM fanfare.create_webhook_endpoint(:'org', 'https://hooks.example.com/in', '{order.created}');
SELECT * FROM fanfare.create_webhook_endpoint(:'org', 'http://hooks.example.com/in');

SELECT fanfare.delete_webhook_endpoint(:'ep');
SELECT count(*) AS endpoints FROM fanfare.webhook_endpoints(:'org');
