-- Limits: fanfare.max_batch_size feeds max_length; fanfare.max_issues caps
-- the listed issues while issueCount counts them all.
CREATE EXTENSION IF NOT EXISTS fanfare;
SET fanfare.organization_id = '0190f5c2-4444-7000-8000-000000000004';

CREATE FUNCTION pg_temp.batch(n int, bad jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('consumers', jsonb_agg(
           jsonb_build_object('emailVerified', true, 'phoneVerified', false, 'status', 'ACTIVE')
           || CASE WHEN i = 1 THEN bad ELSE '{}' END ORDER BY i))
  FROM generate_series(1, n) i
$$;
CREATE FUNCTION pg_temp.types(body jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(i->>'type' || ' ' || (i->>'received'), ', ' ORDER BY o)
  FROM jsonb_array_elements(fanfare.validate_consumers(body)) WITH ORDINALITY AS t(i, o)
$$;

-- settings exist once the library is loaded (any fanfare function loads it)
SELECT fanfare.validate_consumers('{"consumers":[]}');
SHOW fanfare.max_batch_size;
SELECT pg_temp.types(pg_temp.batch(500));
SELECT pg_temp.types(pg_temp.batch(501));
-- validation issues keep the array typed: max_length comes after them
SELECT pg_temp.types(pg_temp.batch(501, '{"activityRank":7,"email":"x"}'));
-- a schema issue makes it untyped: no max_length
SELECT pg_temp.types(pg_temp.batch(501, '{"status":"x"}'));
SELECT pg_temp.types(pg_temp.batch(501, '{"lastGeoCoordinates":{"latitude":91}}'));

-- the limit is a setting (superuser, or per role / database)
SET fanfare.max_batch_size = 3;
SELECT jsonb_pretty(fanfare.validate_consumers(pg_temp.batch(4)));
BEGIN;
SELECT jsonb_array_length(fanfare.create_consumers(pg_temp.batch(3)));
ROLLBACK;
RESET fanfare.max_batch_size;

-- more than max_issues issues: the list is capped, issueCount is not
SET fanfare.max_issues = 2;
SELECT jsonb_array_length(fanfare.validate_consumers(pg_temp.batch(5, '{"activityRank":"x","aov":1,"ltv":2}')));
\set VERBOSITY terse
SELECT fanfare.create_consumers(pg_temp.batch(5, '{"activityRank":"x","aov":1,"ltv":2}'));
\set VERBOSITY default
DO $$
BEGIN
  PERFORM fanfare.create_consumers(pg_temp.batch(5, '{"activityRank":"x","aov":1,"ltv":2}'));
EXCEPTION WHEN invalid_parameter_value THEN
  DECLARE body jsonb;
  BEGIN
    GET STACKED DIAGNOSTICS body = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'error=%, listed=%, issueCount=%', body->>'error',
      jsonb_array_length(body->'issues'), body->'issueCount';
  END;
END $$;
RESET fanfare.max_issues;

-- fanfare.max_error_size bounds the printed issues: past it, issues are
-- left out (issueCount counts them all)
SET fanfare.max_error_size = '64kB';
DO $$
DECLARE
  body jsonb;
BEGIN
  PERFORM fanfare.create_consumers((SELECT jsonb_build_object('consumers', jsonb_agg(jsonb_build_object(
    'emailVerified', true, 'phoneVerified', true, 'status', 'ACTIVE', 'activityRank', 'x', 'fullName', repeat('n', 2000))))
    FROM generate_series(1, 50)));
EXCEPTION WHEN invalid_parameter_value THEN
  GET STACKED DIAGNOSTICS body = PG_EXCEPTION_DETAIL;
  RAISE NOTICE 'listed=%, issueCount=%, under 64kB: %', jsonb_array_length(body->'issues'),
    body->'issueCount', length(body::text) < 64 * 1024 + 200;
END $$;
RESET fanfare.max_error_size;
-- one issue that repeats a large array in every nested path (Valibot's
-- form is quadratic in the body) is printed in compact form: repeated
-- inputs as null, and only the nested issues that fit
-- (jsonb prints a space after every comma and colon: hence the margin)
SELECT n, length(v::text) < 5 * 1024 * 1024 AS bounded, jsonb_array_length(v) AS listed,
       jsonb_array_length(v->0->'issues') AS nested, v->0->'path'->3->'input' = 'null' AS compact
FROM (VALUES (100), (1600), (20000)) AS t(n),
     LATERAL fanfare.validate_consumers(jsonb_build_object('consumers', jsonb_build_array(jsonb_build_object(
       'emailVerified', true, 'phoneVerified', true, 'status', 'ACTIVE',
       'metadata', jsonb_build_object('k', (SELECT jsonb_agg('{}'::jsonb) FROM generate_series(1, n))))))) AS v
ORDER BY n;

-- a big batch is fine once the limit is raised
SET fanfare.max_batch_size = 20000;
BEGIN;
SELECT jsonb_array_length(fanfare.create_consumers(pg_temp.batch(10000)));
SELECT count(*) FROM fanfare.consumers;
ROLLBACK;
RESET fanfare.max_batch_size;

-- settings a normal role cannot raise
CREATE ROLE fanfare_limits_user;
SET ROLE fanfare_limits_user;
SET fanfare.max_batch_size = 100000;
RESET ROLE;
DROP ROLE fanfare_limits_user;

-- fanfare.max_error_size is bounded by the largest allocation (1GB - 1):
-- a larger value is refused, and the largest one still lists every issue
-- (it used to overflow an int and print "issues":[] with "issueCount":4)
SET fanfare.max_error_size = '2GB';
SET fanfare.max_error_size = '1048576kB';
SET fanfare.max_error_size = '1048575kB';
SELECT jsonb_array_length(fanfare.validate_consumers(pg_temp.batch(1, '{"activityRank":"x","aov":1,"ltv":2,"email":3}'))) AS listed;
DO $$
DECLARE body jsonb;
BEGIN
  PERFORM fanfare.create_consumers(pg_temp.batch(1, '{"activityRank":"x","aov":1,"ltv":2,"email":3}'));
EXCEPTION WHEN invalid_parameter_value THEN
  GET STACKED DIAGNOSTICS body = PG_EXCEPTION_DETAIL;
  RAISE NOTICE 'listed=%, issueCount=%', jsonb_array_length(body->'issues'), body->'issueCount';
END $$;
RESET fanfare.max_error_size;
