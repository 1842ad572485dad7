-- The dry run of POST /consumers/batch, fanfare.api_import_consumers_dry_run:
-- the rows or the error the real call gives, and nothing stored.
CREATE EXTENSION IF NOT EXISTS fanfare;
\set SHOW_CONTEXT never

SELECT fanfare.create_organization('Dry run') AS org \gset
SELECT fanfare.rotate_secret_key(:'org') AS sk \gset
CREATE TEMP VIEW stored AS
SELECT (SELECT count(*) FROM fanfare.consumers WHERE organization_id = :'org') AS consumers,
       (SELECT count(*) FROM fanfare.idempotency_keys WHERE organization_id = :'org') AS idempotency_keys;

\set good '{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"dry1@example.com"},{"emailVerified":false,"phoneVerified":false,"status":"INACTIVE","email":"dry2@example.com"}]}'
\set bad '{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"dry3@example.com"},{"emailVerified":"yes","phoneVerified":false,"status":"GONE"}]}'
\set dup '{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"DRY1@example.com"}]}'

-- a valid batch: its rows, in input order, and nothing stored
SELECT n, c->>'email' AS email, c->>'status' AS status, c->>'organizationId' = :'org' AS tenant,
       c->>'createdBy' LIKE 'api_key:%' AS created_by
FROM fanfare.api_import_consumers_dry_run(:'sk', convert_to(:'good', 'UTF8')) WITH ORDINALITY AS r(c, n);
SELECT * FROM stored;
-- an empty batch: no row
SELECT count(*) AS rows FROM fanfare.api_import_consumers_dry_run(:'sk', convert_to('{"consumers":[]}', 'UTF8'));

-- an invalid batch: the real call's error: SQLSTATE, message, 400 body (DETAIL)
SELECT * FROM fanfare.api_import_consumers_dry_run(:'sk', convert_to(:'bad', 'UTF8'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM fanfare.api_import_consumers(:'sk', convert_to(:'bad', 'UTF8'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- a bad key: the real call's 28N01, nothing sent further
SELECT * FROM fanfare.api_import_consumers_dry_run('sk_live_unknown', convert_to(:'good', 'UTF8'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM fanfare.api_import_consumers('sk_live_unknown', convert_to(:'good', 'UTF8'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM stored;

-- the real call afterwards creates the consumers the dry run showed
SELECT count(*) AS created FROM fanfare.api_import_consumers(:'sk', convert_to(:'good', 'UTF8'));
SELECT * FROM stored;

-- a duplicate of a stored row: the real call's error
SELECT * FROM fanfare.api_import_consumers_dry_run(:'sk', convert_to(:'dup', 'UTF8'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM fanfare.api_import_consumers(:'sk', convert_to(:'dup', 'UTF8'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- inside a caller's transaction the dry run leaves the transaction usable,
-- its settings as they were, and nothing stored
BEGIN;
SELECT count(*) AS rows FROM fanfare.api_import_consumers_dry_run(:'sk',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"dry4@example.com"}]}', 'UTF8'));
SELECT coalesce(current_setting('fanfare.organization_id', true), '') AS organization_id_setting;
SELECT * FROM stored;
COMMIT;

-- the shard's dry run, as a router calls it
SELECT count(*) AS rows FROM fanfare.shard_import_consumers_dry_run(:'org', 'router-test',
    convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"dry5@example.com"}]}', 'UTF8'));
SELECT * FROM fanfare.shard_import_consumers_dry_run(:'org', 'router-test', convert_to(:'dup', 'UTF8'));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM stored;

-- granted as api_import_consumers is
SELECT has_function_privilege('fanfare_api', 'fanfare.api_import_consumers_dry_run(text, bytea)', 'EXECUTE') AS api,
       has_function_privilege('public', 'fanfare.api_import_consumers_dry_run(text, bytea)', 'EXECUTE') AS public,
       has_function_privilege('fanfare_router', 'fanfare.shard_import_consumers_dry_run(uuid, text, bytea)', 'EXECUTE') AS router;
