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

-- the report the gateway turns on: a call that answers rows sets
-- fanfare.rate_limit_status (read in the same statement) and sends no
-- notice; a call that fails sends the notice, 01N01, before its error
SET fanfare.rate_limit_report = on;
\set VERBOSITY terse
SELECT c IS NOT NULL AS row,
       regexp_replace(current_setting('fanfare.rate_limit_status'), 'reset=[0-9]+ retry=[0-9]+$', 'reset=T retry=S') AS status,
       substring(current_setting('fanfare.rate_limit_status') from 'reset=([0-9]+)')::bigint
         - substring(current_setting('fanfare.rate_limit_status') from 'retry=([0-9]+)')::bigint
         BETWEEN extract(epoch FROM clock_timestamp())::bigint - 30 AND extract(epoch FROM clock_timestamp())::bigint AS reset_is_now_plus_retry
FROM fanfare.api_import_consumers(:'sk',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8')) AS c;
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

-- a higher limit applies at once (the cache is told at commit); a dry run
-- is charged (the charge is not rolled back) and reports it, after its
-- rollback, in fanfare.rate_limit_status
SELECT fanfare.set_rate_limit(:'org', 4);
SET fanfare.rate_limit_report = on;
SELECT c IS NOT NULL AS row,
       regexp_replace(current_setting('fanfare.rate_limit_status'), 'reset=[0-9]+ retry=[0-9]+$', 'reset=T retry=S') AS status
FROM fanfare.api_import_consumers_dry_run(:'sk',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8')) AS c;
SET fanfare.rate_limit_report = off;
-- 0: no limit
SELECT fanfare.set_rate_limit(:'org', 0);
SELECT count(*) FROM fanfare.api_import_consumers(:'sk',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'));
-- NULL restores fanfare.rate_limit (here 0: off)
SELECT fanfare.set_rate_limit(:'org', NULL);
SELECT count(*) AS rows_left FROM fanfare.rate_limits WHERE organization_id = :'org';
-- fanfare.rate_limit applies to an organization without a row
-- (its request above was not counted: no limit applied then)
-- (reported: an empty batch answers no row, so it sends the notice; a
-- later call without a limit clears the transaction's report)
SET fanfare.rate_limit = 1;
SET fanfare.rate_limit_report = on;
\set VERBOSITY terse
BEGIN;
SELECT count(*) FROM fanfare.api_import_consumers(:'sk2', convert_to('{"consumers":[]}', 'UTF8'));
SELECT current_setting('fanfare.rate_limit_status') LIKE 'limit=1 remaining=0 %' AS reported;
SET LOCAL fanfare.rate_limit = 0;
SELECT count(*) FROM fanfare.api_import_consumers(:'sk2',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'));
SELECT current_setting('fanfare.rate_limit_status') AS status_after_unlimited_call;
COMMIT;
SELECT count(*) FROM fanfare.api_import_consumers(:'sk2',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'));
\set VERBOSITY default
SET fanfare.rate_limit_report = off;
RESET fanfare.rate_limit;

-- the database owner's: not granted to anyone else
SELECT has_function_privilege('fanfare_api', 'fanfare.set_rate_limit(uuid,integer)', 'EXECUTE') AS api_may_set,
       has_table_privilege('fanfare_api', 'fanfare.rate_limits', 'SELECT') AS api_may_read;
-- only a superuser sets the default and the window
SHOW fanfare.rate_limit;
SELECT context FROM pg_settings WHERE name IN ('fanfare.rate_limit', 'fanfare.rate_limit_window') ORDER BY name;
RESET fanfare.rate_limit_window;
