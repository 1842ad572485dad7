-- A canonical description of the fanfare extension in the current database:
-- every object that belongs to it (pg_depend deptype 'e'), the schema
-- fanfare, and the parts of its tables (columns, constraints, indexes,
-- policies, triggers).  One line per fact, "object<TAB>fact", sorted, with
-- no oid, no timestamp and nothing that depends on the order in which the
-- objects were made, so that two databases with the same extension print
-- the same text.  Newlines inside a fact are printed as \n.
--
--   psql -X -At -v ON_ERROR_STOP=1 -f test/upgrade/objects.sql
--
-- Privileges are compared as sets (aclitems sorted), since the order of the
-- items of an ACL has no meaning.  The psql variable ext names another
-- extension whose schema is fanfare (-v ext=fanfare_router); its members
-- in other schemas are described too, the schema itself only for fanfare.
\if :{?ext}
\else
\set ext fanfare
\endif
WITH ext AS (
    SELECT e.* FROM pg_extension e WHERE e.extname = :'ext'
),
member AS (
    SELECT d.classid, d.objid
    FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
      AND d.deptype = 'e' AND d.objsubid = 0
),
fn AS (
    SELECT p.* FROM pg_proc p
    WHERE p.oid IN (SELECT objid FROM member WHERE classid = 'pg_proc'::regclass)
),
rel AS (
    SELECT c.* FROM pg_class c
    WHERE c.oid IN (SELECT objid FROM member WHERE classid = 'pg_class'::regclass)
),
typ AS (
    SELECT t.* FROM pg_type t
    WHERE t.oid IN (SELECT objid FROM member WHERE classid = 'pg_type'::regclass)
),
-- the indexes of the extension's tables (members themselves or not)
idx AS (
    SELECT i.indexrelid, i.indrelid, c.relname
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid IN (SELECT oid FROM rel)
),
facts(obj, fact) AS (
    -- the list of objects itself: one "member" line each
    SELECT pg_describe_object(m.classid, m.objid, 0), 'member of extension ' || :'ext'
    FROM member m
    UNION ALL
    -- a member of a kind this file does not describe in detail is at least named
    SELECT pg_describe_object(m.classid, m.objid, 0),
           'kind=' || (pg_identify_object(m.classid, m.objid, 0)).type
    FROM member m
    WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass)

    -- the extension
    UNION ALL SELECT pg_describe_object('pg_extension'::regclass, e.oid, 0), 'version=' || e.extversion FROM ext e
    UNION ALL SELECT pg_describe_object('pg_extension'::regclass, e.oid, 0), 'schema=' || e.extnamespace::regnamespace::text FROM ext e
    UNION ALL SELECT pg_describe_object('pg_extension'::regclass, e.oid, 0), 'relocatable=' || e.extrelocatable FROM ext e
    UNION ALL SELECT pg_describe_object('pg_extension'::regclass, e.oid, 0), 'owner=' || pg_get_userbyid(e.extowner) FROM ext e
    UNION ALL SELECT pg_describe_object('pg_extension'::regclass, e.oid, 0), 'comment=' || coalesce(obj_description(e.oid, 'pg_extension'), '(none)') FROM ext e
    UNION ALL
    SELECT pg_describe_object('pg_extension'::regclass, e.oid, 0), 'dumped table=' || u.tab::regclass::text || ' condition=' || quote_literal(u.cond)
    FROM ext e, unnest(e.extconfig, e.extcondition) AS u(tab, cond)
    UNION ALL
    SELECT pg_describe_object('pg_extension'::regclass, e.oid, 0), 'dumped tables=' || coalesce(array_length(e.extconfig, 1), 0)
           || ' conditions=' || coalesce(array_length(e.extcondition, 1), 0)
    FROM ext e

    -- the schema
    UNION ALL
    SELECT pg_describe_object('pg_namespace'::regclass, n.oid, 0), f.fact
    FROM pg_namespace n,
         LATERAL (VALUES
            ('owner=' || pg_get_userbyid(n.nspowner)),
            ('acl=' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a), '(default)')),
            ('comment=' || coalesce(obj_description(n.oid, 'pg_namespace'), '(none)')),
            ('extension member=' || EXISTS (SELECT FROM member WHERE classid = 'pg_namespace'::regclass AND objid = n.oid))
         ) AS f(fact)
    WHERE n.nspname = 'fanfare'

    -- anything in the schema that is not the extension's (nothing, normally)
    UNION ALL
    SELECT 'schema fanfare', 'not a member: ' || pg_describe_object(o.classid, o.objid, 0)
    FROM (SELECT 'pg_proc'::regclass AS classid, p.oid AS objid FROM pg_proc p
          WHERE p.pronamespace = 'fanfare'::regnamespace
          UNION ALL
          SELECT 'pg_class'::regclass, c.oid FROM pg_class c
          WHERE c.relnamespace = 'fanfare'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          UNION ALL
          SELECT 'pg_type'::regclass, t.oid FROM pg_type t
          WHERE t.typnamespace = 'fanfare'::regnamespace AND t.typtype IN ('b', 'd', 'e', 'r', 'm')
            AND t.typelem = 0) AS o
    WHERE (o.classid, o.objid) NOT IN (SELECT classid, objid FROM member)

    -- functions and procedures
    UNION ALL
    SELECT pg_describe_object('pg_proc'::regclass, p.oid, 0), f.fact
    FROM fn p,
         LATERAL (VALUES
            ('definition=' || CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE '(aggregate or window)' END),
            ('kind=' || p.prokind::text),
            ('language=' || (SELECT lanname FROM pg_language WHERE oid = p.prolang)),
            ('arguments=' || pg_get_function_arguments(p.oid)),
            ('result=' || pg_get_function_result(p.oid)),
            ('volatility=' || p.provolatile::text),
            ('security definer=' || p.prosecdef),
            ('parallel=' || p.proparallel::text),
            ('strict=' || p.proisstrict),
            ('leakproof=' || p.proleakproof),
            ('returns set=' || p.proretset),
            ('rows=' || p.prorows),
            ('cost=' || p.procost),
            ('config=' || coalesce(array_to_string(p.proconfig, ','), '(none)')),
            ('owner=' || pg_get_userbyid(p.proowner)),
            ('acl=' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(p.proacl) a), '(default)')),
            ('comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '(none)'))
         ) AS f(fact)

    -- tables, views, sequences
    UNION ALL
    SELECT pg_describe_object('pg_class'::regclass, c.oid, 0), f.fact
    FROM rel c,
         LATERAL (VALUES
            ('kind=' || c.relkind::text),
            ('persistence=' || c.relpersistence::text),
            ('owner=' || pg_get_userbyid(c.relowner)),
            ('acl=' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a), '(default)')),
            ('row level security=' || c.relrowsecurity),
            ('force row level security=' || c.relforcerowsecurity),
            ('options=' || coalesce(array_to_string(c.reloptions, ','), '(none)')),
            ('replica identity=' || c.relreplident::text),
            ('columns=' || (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)),
            ('comment=' || coalesce(obj_description(c.oid, 'pg_class'), '(none)')),
            ('view=' || CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) ELSE '(not a view)' END)
         ) AS f(fact)

    -- columns, in order (position among the columns that are not dropped)
    UNION ALL
    SELECT pg_describe_object('pg_class'::regclass, a.attrelid, a.attnum), f.fact
    FROM (SELECT a.*, row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS position
          FROM pg_attribute a
          WHERE a.attrelid IN (SELECT oid FROM rel) AND a.attnum > 0 AND NOT a.attisdropped) a
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum,
         LATERAL (VALUES
            ('position=' || lpad(a.position::text, 3, '0')),
            ('type=' || format_type(a.atttypid, a.atttypmod)),
            ('not null=' || a.attnotnull),
            ('default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '(none)')),
            ('identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text),
            ('collation=' || coalesce((SELECT collname FROM pg_collation WHERE oid = a.attcollation), '(none)')),
            ('acl=' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), '(default)')),
            ('comment=' || coalesce(col_description(a.attrelid, a.attnum), '(none)'))
         ) AS f(fact)

    -- constraints of the tables
    UNION ALL
    SELECT pg_describe_object('pg_constraint'::regclass, k.oid, 0), f.fact
    FROM pg_constraint k,
         LATERAL (VALUES
            ('definition=' || pg_get_constraintdef(k.oid)),
            ('type=' || k.contype::text),
            ('comment=' || coalesce(obj_description(k.oid, 'pg_constraint'), '(none)'))
         ) AS f(fact)
    WHERE k.conrelid IN (SELECT oid FROM rel)

    -- indexes of the tables
    UNION ALL
    SELECT pg_describe_object('pg_class'::regclass, i.indexrelid, 0), f.fact
    FROM idx i,
         LATERAL (VALUES
            ('definition=' || pg_get_indexdef(i.indexrelid)),
            ('constraint=' || coalesce((SELECT conname FROM pg_constraint WHERE conindid = i.indexrelid AND conrelid = i.indrelid), '(none)')),
            ('comment=' || coalesce(obj_description(i.indexrelid, 'pg_class'), '(none)'))
         ) AS f(fact)

    -- row-level security policies
    UNION ALL
    SELECT pg_describe_object('pg_policy'::regclass, po.oid, 0), f.fact
    FROM pg_policies pp
         JOIN pg_policy po ON po.polname = pp.policyname
                          AND po.polrelid = (quote_ident(pp.schemaname) || '.' || quote_ident(pp.tablename))::regclass,
         LATERAL (VALUES
            ('permissive=' || pp.permissive),
            ('roles=' || (SELECT string_agg(r, ',' ORDER BY r) FROM unnest(pp.roles) r)),
            ('command=' || pp.cmd),
            ('using=' || coalesce(pp.qual, '(none)')),
            ('with check=' || coalesce(pp.with_check, '(none)')),
            ('comment=' || coalesce(obj_description(po.oid, 'pg_policy'), '(none)'))
         ) AS f(fact)
    WHERE po.polrelid IN (SELECT oid FROM rel)

    -- triggers a script made (the internal ones of foreign keys are named by oid)
    UNION ALL
    SELECT pg_describe_object('pg_trigger'::regclass, t.oid, 0), f.fact
    FROM pg_trigger t,
         LATERAL (VALUES
            ('definition=' || pg_get_triggerdef(t.oid)),
            ('enabled=' || t.tgenabled::text),
            ('comment=' || coalesce(obj_description(t.oid, 'pg_trigger'), '(none)'))
         ) AS f(fact)
    WHERE t.tgrelid IN (SELECT oid FROM rel) AND NOT t.tgisinternal

    -- types: enum labels in order; domains' base type and checks
    UNION ALL
    SELECT pg_describe_object('pg_type'::regclass, t.oid, 0), f.fact
    FROM typ t,
         LATERAL (VALUES
            ('kind=' || t.typtype::text),
            ('owner=' || pg_get_userbyid(t.typowner)),
            ('acl=' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(t.typacl) a), '(default)')),
            ('labels=' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder)
                                   FROM pg_enum e WHERE e.enumtypid = t.oid), '(not an enum)')),
            ('base type=' || CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) ELSE '(not a domain)' END),
            ('not null=' || t.typnotnull),
            ('default=' || coalesce(t.typdefault, '(none)')),
            ('checks=' || coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), ' AND ' ORDER BY k.conname)
                                   FROM pg_constraint k WHERE k.contypid = t.oid), '(none)')),
            ('comment=' || coalesce(obj_description(t.oid, 'pg_type'), '(none)'))
         ) AS f(fact)

    -- initial privileges, which pg_dump compares the current ones with
    UNION ALL
    SELECT pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
           'initial privileges (' || ip.privtype::text || ')='
           || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(ip.initprivs) a), '(none)')
    FROM pg_init_privs ip
    WHERE (ip.classoid, ip.objoid) IN (SELECT classid, objid FROM member)
       OR (ip.classoid = 'pg_namespace'::regclass AND ip.objoid = 'fanfare'::regnamespace)
)
SELECT line
FROM (SELECT obj || E'\t' || replace(replace(fact, E'\\', E'\\\\'), E'\n', E'\\n') AS line FROM facts) AS described
ORDER BY line COLLATE "C";
