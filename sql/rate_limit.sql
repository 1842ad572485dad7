-- Rate limits (issue 20): requests per organization and window, counted in
-- shared memory (the test clusters preload fanfare), whatever the answer;
-- a refused call raises 54N01 with the 429 body and creates nothing.
CREATE EXTENSION IF NOT EXISTS fanfare;

-- an hour's window: the counts below cannot straddle two windows in practice
SET fanfare.rate_limit_window = 3600;
SET fanfare.rate_limit = 0;
SELECT fanfare.create_organization('Limited') AS org \gset
SELECT fanfare.rotate_secret_key(:'org') AS sk \gset
SELECT fanfare.create_organization('Other') AS other \gset
SELECT fanfare.rotate_secret_key(:'other') AS sk2 \gset
SELECT fanfare.set_rate_limit(:'org', 3);
SELECT requests_per_minute FROM fanfare.rate_limits WHERE organization_id = :'org';

-- the report the gateway turns on: one notice per call, 01N01
SET fanfare.rate_limit_report = on;
\set VERBOSITY terse
SELECT count(*) FROM fanfare.api_import_consumers(:'sk',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'));
-- a 400 counts too
SELECT count(*) FROM fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[{}]}', 'UTF8'));
SET fanfare.rate_limit_report = off;
SELECT count(*) FROM fanfare.api_import_consumers(:'sk',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'), 'key-3');
\set VERBOSITY default

SELECT set_config('test.sk', :'sk', false) IS NOT NULL AS set;
-- the fourth: 54N01, the 429 body as DETAIL, the seconds in the HINT;
-- no row and no idempotency key
DO $$
DECLARE
    state text; detail text; hint text;
BEGIN
    PERFORM fanfare.api_import_consumers(current_setting('test.sk'),
        convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'), 'key-4');
    RAISE NOTICE 'not limited';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RAISE NOTICE 'sqlstate %, body %, hint %', state,
        regexp_replace(detail, '"retryAfter":[0-9]+', '"retryAfter":N'),
        regexp_replace(hint, '[0-9]+', 'N');
    RAISE NOTICE 'retryAfter agrees with the hint: %',
        (detail::json->>'retryAfter') = substring(hint from '[0-9]+');
    RAISE NOTICE 'retryAfter within the window: %',
        (detail::json->>'retryAfter')::int BETWEEN 1 AND 3600;
END
$$;
SELECT count(*) AS consumers FROM fanfare.consumers WHERE organization_id = :'org';
SELECT count(*) AS keys FROM fanfare.idempotency_keys WHERE organization_id = :'org';

-- another organization is not affected
SELECT count(*) FROM fanfare.api_import_consumers(:'sk2',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'));

-- a higher limit applies at once (the cache is told at commit)
SELECT fanfare.set_rate_limit(:'org', 4);
SELECT count(*) FROM fanfare.api_import_consumers(:'sk',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'));
-- 0: no limit
SELECT fanfare.set_rate_limit(:'org', 0);
SELECT count(*) FROM fanfare.api_import_consumers(:'sk',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'));
-- NULL restores fanfare.rate_limit (here 0: off)
SELECT fanfare.set_rate_limit(:'org', NULL);
SELECT count(*) AS rows_left FROM fanfare.rate_limits WHERE organization_id = :'org';
-- fanfare.rate_limit applies to an organization without a row
-- (its request above was not counted: no limit applied then)
SET fanfare.rate_limit = 1;
\set VERBOSITY terse
SELECT count(*) FROM fanfare.api_import_consumers(:'sk2',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'));
SELECT count(*) FROM fanfare.api_import_consumers(:'sk2',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'));
\set VERBOSITY default
RESET fanfare.rate_limit;

-- the database owner's: not granted to anyone else
SELECT has_function_privilege('fanfare_api', 'fanfare.set_rate_limit(uuid,integer)', 'EXECUTE') AS api_may_set,
       has_table_privilege('fanfare_api', 'fanfare.rate_limits', 'SELECT') AS api_may_read;
-- only a superuser sets the default and the window
SHOW fanfare.rate_limit;
SELECT context FROM pg_settings WHERE name IN ('fanfare.rate_limit', 'fanfare.rate_limit_window') ORDER BY name;
RESET fanfare.rate_limit_window;
