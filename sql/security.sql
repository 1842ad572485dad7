-- SECURITY DEFINER functions pin search_path (H3 of issue 17): a catalog
-- scan of the extension's functions, then the escalation it prevents, as a
-- login granted fanfare_router and fanfare_api.
CREATE EXTENSION IF NOT EXISTS fanfare;

-- every SECURITY DEFINER function of the extension has search_path pinned
-- to pg_catalog, pg_temp in its own SET clause; the count shows the scan
-- looked at them (it fails on any without)
SELECT count(*) AS security_definer_functions
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'fanfare'
WHERE p.prosecdef;
SELECT p.oid::regprocedure AS unpinned, p.proconfig
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'fanfare'
WHERE p.prosecdef
  AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
ORDER BY 1::text;

-- the escalation: a caller's pg_temp.text, a domain whose CHECK runs the
-- caller's function, must never be used in the owner's rights
CREATE ROLE fanfare_h3_caller LOGIN IN ROLE fanfare_router, fanfare_api;
SELECT fanfare.create_organization('Security') AS org \gset
SELECT fanfare.rotate_secret_key(:'org') AS sk \gset
SET ROLE fanfare_h3_caller;
CREATE FUNCTION pg_temp.escalate(t pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF current_user <> 'fanfare_h3_caller' THEN
        ALTER ROLE fanfare_h3_caller SUPERUSER;
    END IF;
    RETURN true;
END
$$;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.escalate(VALUE));
CREATE DOMAIN pg_temp.bytea AS pg_catalog.bytea CHECK (pg_temp.escalate(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.json AS pg_catalog.json CHECK (pg_temp.escalate(VALUE::pg_catalog.text));
SELECT count(*) AS created
FROM fanfare.shard_import_consumers_text(:'org', 'h3', '{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', NULL);
SELECT count(*) AS created
FROM fanfare.shard_import_consumers(:'org', 'h3', convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'), NULL);
SELECT count(*) AS created
FROM fanfare.api_import_consumers(:'sk', convert_to('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', 'UTF8'), 'h3-key');
SELECT count(*) AS created
FROM fanfare.shard_create_consumers(:'org', 'h3', '{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}', NULL);
RESET ROLE;
SELECT rolsuper AS caller_is_superuser FROM pg_roles WHERE rolname = 'fanfare_h3_caller';
SELECT count(*) AS rows_created FROM fanfare.consumers WHERE organization_id = :'org';
DISCARD TEMP;
DROP ROLE fanfare_h3_caller;
