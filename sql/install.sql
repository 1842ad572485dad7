-- Installation: objects, comments and privileges.
CREATE EXTENSION fanfare;

-- the extension's objects
SELECT pg_describe_object(classid, objid, objsubid) AS object
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'fanfare')
  AND deptype = 'e'
ORDER BY 1;

-- the table keeps the storage contract's columns, types and nullability
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
FROM pg_attribute
WHERE attrelid = 'fanfare.consumers'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum;

-- keys and checks
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'fanfare.consumers'::regclass ORDER BY conname;
SELECT indexdef FROM pg_indexes WHERE schemaname = 'fanfare' AND tablename = 'consumers' ORDER BY 1;

-- row-level security is on, with the tenant policy
SELECT relrowsecurity FROM pg_class WHERE oid = 'fanfare.consumers'::regclass;
SELECT polname, pg_get_expr(polqual, polrelid) AS using_expr FROM pg_policy
WHERE polrelid = 'fanfare.consumers'::regclass;

-- every function has a comment; none is executable by PUBLIC
SELECT p.proname, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
       has_function_privilege('fanfare_api', p.oid, 'EXECUTE') AS api_execute
FROM pg_proc p WHERE p.pronamespace = 'fanfare'::regnamespace ORDER BY 1;

-- the API role cannot log in and gets no more than it needs on the table
SELECT rolcanlogin FROM pg_roles WHERE rolname = 'fanfare_api';
SELECT privilege_type FROM information_schema.role_table_grants
WHERE grantee = 'fanfare_api' AND table_schema = 'fanfare' AND table_name = 'consumers' ORDER BY 1;
SELECT has_table_privilege('public', 'fanfare.consumers', 'SELECT') AS public_select;

-- the tables hold user data: pg_dump dumps their rows
SELECT unnest(extconfig)::regclass AS dumped_table FROM pg_extension WHERE extname = 'fanfare' ORDER BY 1;

-- the fanfare. prefix is reserved: a misspelt setting is an error
SET fanfare.organisation_id = 'x';

-- settings and their defaults
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'fanfare.%' ORDER BY 1;

-- the shard API (what a fanfare_router database calls): for fanfare_router
-- only, which cannot log in
SELECT p.proname, has_function_privilege('fanfare_router', p.oid, 'EXECUTE') AS router_execute,
       has_function_privilege('fanfare_api', p.oid, 'EXECUTE') AS api_execute,
       p.prosecdef AS security_definer
FROM pg_proc p
WHERE p.pronamespace = 'fanfare'::regnamespace AND (p.proname LIKE 'shard\_%' OR p.proname LIKE 'tenant\_%')
ORDER BY 1;
SELECT rolcanlogin FROM pg_roles WHERE rolname = 'fanfare_router';
