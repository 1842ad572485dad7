-- Defaults: what the response and the table hold for a minimal consumer.
CREATE EXTENSION IF NOT EXISTS fanfare;
SET fanfare.organization_id = '0190f5c2-1111-7000-8000-000000000001';
SET fanfare.actor = 'api_key:defaults';

BEGIN;
CREATE TEMP TABLE created AS
SELECT fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"INACTIVE"}]}') AS r;

-- every response property is present; server values masked
SELECT key, CASE WHEN key IN ('id', 'createdAt') THEN '<generated>' ELSE val::text END AS value
FROM created, jsonb_array_elements(r) AS c, jsonb_each(c) AS e(key, val)
ORDER BY key;

-- id is a version 7 uuid; createdAt is the stored created_at (the
-- statement's time) in ms with Z
SELECT (c->>'id') ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS uuid_v7,
       (c->>'createdAt') ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$' AS iso_ms,
       (c->>'createdAt')::timestamptz = date_trunc('milliseconds', s.created_at) AS same_as_stored,
       s.created_at BETWEEN transaction_timestamp() AND clock_timestamp() AS in_this_transaction
FROM created, jsonb_array_elements(r) AS c, fanfare.consumers s;

-- the stored row equals the response
SELECT c.organization_id, c.created_by, c.archived, c.email, c.email_verified, c.phone_verified,
       c.status, c.sms_opt_out, c.activity_rank, c.activity_score, c.aov, c.ltv, c.engaged_count,
       c.total_orders, c.loyalty_balance, c.metadata, c.last_geo_latitude, c.updated_at,
       c.primary_external_id, c.id = (r->0->>'id')::uuid AS same_id
FROM fanfare.consumers c, created;
ROLLBACK;

-- explicit nulls are accepted for nullable fields and returned as null
BEGIN;
SELECT c->'fullName' AS full_name, c->'lastLoginAt' AS last_login, c->'metadata' AS metadata,
       c->'lastGeoCoordinates' AS geo, c->'email' AS email
FROM jsonb_array_elements(fanfare.create_consumers(
  '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","fullName":null,"lastLoginAt":null,"metadata":null,"lastGeoCoordinates":null,"email":null}]}')) AS c;
ROLLBACK;

-- an empty batch creates nothing and returns []
SELECT fanfare.create_consumers('{"consumers":[]}');

-- the defaults are the field catalogue's (fanfare.consumer_fields()), and
-- the table's column DEFAULTs say the same: no field may disagree
SELECT f.name, f.default_value, c.column_name, c.column_default
FROM fanfare.consumer_fields() f
JOIN information_schema.columns c
  ON c.table_schema = 'fanfare' AND c.table_name = 'consumers'
 AND c.column_name IN (f.column_name, f.column_name || '_latitude', f.column_name || '_longitude')
WHERE (f.default_value #>> '{}') IS DISTINCT FROM c.column_default;
SELECT count(*) AS fields, count(default_value) AS with_default, count(*) FILTER (WHERE required) AS required
FROM fanfare.consumer_fields();
-- both responses apply them
BEGIN;
SELECT (SELECT jsonb_object_agg(f.name, c->f.name) FROM fanfare.consumer_fields() f WHERE f.default_value IS NOT NULL)
       = (SELECT jsonb_object_agg(name, default_value) FROM fanfare.consumer_fields() WHERE default_value IS NOT NULL) AS jsonb_path
FROM jsonb_array_elements(fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}')) AS c;
SELECT (SELECT jsonb_object_agg(f.name, c::jsonb->f.name) FROM fanfare.consumer_fields() f WHERE f.default_value IS NOT NULL)
       = (SELECT jsonb_object_agg(name, default_value) FROM fanfare.consumer_fields() WHERE default_value IS NOT NULL) AS wire_path
FROM fanfare.import_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}') AS c;
ROLLBACK;
