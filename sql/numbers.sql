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

-- The jsonb path writes each number of its response as a numeric directly.
-- It must be the numeric that the wire path's text (JavaScript's printing)
-- reads back as: the same digits and the same scale, so that both responses
-- print alike.  Chosen numbers first (a fraction, exponent forms both ways,
-- the extremes of a double, integers with trailing zeros, one past 2^53
-- that JavaScript shortens), then 3,000 random ones of every magnitude.
SET fanfare.organization_id = '0190f5c2-7777-7000-8000-000000000009';
SET fanfare.max_batch_size = 3000;
CREATE TEMP TABLE chosen (i int, x float8);
INSERT INTO chosen VALUES
    (1, 0.1), (2, 1.5e-7), (3, 1e21), (4, 1e-7), (5, 123456789.125), (6, 5e-324),
    (7, 1.7976931348623157e308), (8, -0.001), (9, 100), (10, 10000), (11, 12345678.9),
    (12, 0.000001), (13, 58003624577995136), (14, -123e-20), (15, 1e-100), (16, 4.35e+30);
SELECT jsonb_build_object('consumers', jsonb_agg(jsonb_build_object(
           'emailVerified', true, 'phoneVerified', false, 'status', 'ACTIVE',
           'activityScore', x, 'loyaltyBalance', -x) ORDER BY i)) AS chosen_body
FROM chosen \gset
BEGIN;
WITH by_jsonb AS (
    SELECT e, n FROM jsonb_array_elements(fanfare.create_consumers(:'chosen_body')) WITH ORDINALITY AS a(e, n)),
by_text AS (
    SELECT c, n FROM fanfare.import_consumers(:'chosen_body'::text) WITH ORDINALITY AS a(c, n))
SELECT n, t.c -> 'activityScore' AS javascript, t.c -> 'loyaltyBalance' AS negated,
       (j.e -> 'activityScore')::text = (t.c::jsonb -> 'activityScore')::text
       AND (j.e -> 'loyaltyBalance')::text = (t.c::jsonb -> 'loyaltyBalance')::text AS same,
       scale((j.e ->> 'activityScore')::numeric) AS scale
FROM by_jsonb j JOIN by_text t USING (n) ORDER BY n;
ROLLBACK;
SELECT setseed(0.25);
CREATE TEMP TABLE drawn AS
SELECT i, (random() - 0.5) * power(10::float8, floor(random() * 600) - 300) AS x,
       (random() - 0.5) * power(10::float8, floor(random() * 12) - 4) AS y,
       floor(random() * power(10::float8, floor(random() * 16)))::bigint AS c,
       (random() - 0.5) * 180 AS lat, (random() - 0.5) * 360 AS lon
FROM generate_series(1, 3000) AS i;
SELECT jsonb_build_object('consumers', jsonb_agg(jsonb_build_object(
           'emailVerified', true, 'phoneVerified', false, 'status', 'ACTIVE',
           'activityScore', x, 'monetaryScore', y, 'engagedCount', c,
           'lastGeoCoordinates', jsonb_build_object('latitude', lat, 'longitude', lon)) ORDER BY i)) AS drawn_body
FROM drawn \gset
BEGIN;
WITH by_jsonb AS (
    SELECT e, n FROM jsonb_array_elements(fanfare.create_consumers(:'drawn_body')) WITH ORDINALITY AS a(e, n)),
by_text AS (
    SELECT c::jsonb AS e, n FROM fanfare.import_consumers(:'drawn_body'::text) WITH ORDINALITY AS a(c, n))
SELECT count(*) AS compared,
       count(*) FILTER (WHERE (j.e -> 'activityScore')::text <> (t.e -> 'activityScore')::text
                           OR (j.e -> 'monetaryScore')::text <> (t.e -> 'monetaryScore')::text
                           OR (j.e -> 'engagedCount')::text <> (t.e -> 'engagedCount')::text
                           OR (j.e -> 'lastGeoCoordinates')::text <> (t.e -> 'lastGeoCoordinates')::text) AS differ,
       count(*) FILTER (WHERE (j.e -> 'activityScore')::text ~ '\.\d*0$') AS trailing_zero
FROM by_jsonb j JOIN by_text t USING (n);
ROLLBACK;
