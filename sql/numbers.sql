-- Metadata numbers that numeric cannot hold as written.  JSON.parse reads
-- 1e-20000 as 0 and 0.1 followed by 17 000 zeros as 0.1; numeric refuses
-- both (too many digits after the point), and so does 0e999999999999 (too
-- large an exponent).  A valid body must never fail on storage: such a
-- number is stored as JSON.parse reads it, on every front of the wire path.
-- Numbers numeric holds are stored as sent (1e-300 keeps its digits), and
-- numbers beyond a double are Infinity, stored as null.
CREATE EXTENSION IF NOT EXISTS fanfare;
SET fanfare.organization_id = '0190f5c2-7777-7000-8000-000000000009';
SET fanfare.actor = 'numbers-test';
\set SHOW_CONTEXT never
SELECT '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","metadata":{"tiny":1e-20000,"negtiny":-1e-16384,"long":0.1'
       || repeat('0', 17000) || ',"zero":0e999999999999,"small":1e-300,"huge":1e400,"list":[1e-20000,2]}}]}' AS body \gset

-- import_consumers: the response as JavaScript prints it, the row as stored
BEGIN;
SELECT c -> 'metadata' AS response FROM fanfare.import_consumers(:'body') AS c;
SELECT metadata ->> 'tiny' AS tiny, metadata ->> 'negtiny' AS negtiny, metadata ->> 'long' AS long,
       metadata ->> 'zero' AS zero, metadata -> 'small' = '1e-300'::jsonb AS small_as_sent,
       metadata -> 'huge' AS huge, metadata -> 'list' AS list
FROM fanfare.consumers WHERE organization_id = '0190f5c2-7777-7000-8000-000000000009';
ROLLBACK;

-- the gateway's function
SELECT fanfare.create_organization('Numbers') AS org \gset
SELECT fanfare.rotate_secret_key(:'org') AS sk \gset
BEGIN;
SELECT count(*) AS created FROM fanfare.api_import_consumers(:'sk', convert_to(:'body', 'UTF8'));
SELECT metadata ->> 'tiny' AS tiny, metadata ->> 'long' AS long FROM fanfare.consumers WHERE organization_id = :'org';
ROLLBACK;

-- the PostgREST front
BEGIN;
SELECT set_config('request.jwt.claims', json_build_object('organization_id', :'org')::text, true) IS NOT NULL AS claims_set;
RESET fanfare.organization_id;
SELECT json_array_length(fanfare.post_consumers_batch(:'body'::json)) AS created,
       current_setting('response.status', true) AS status;
SELECT metadata ->> 'tiny' AS tiny, metadata ->> 'zero' AS zero FROM fanfare.consumers WHERE organization_id = :'org';
ROLLBACK;
