/* fanfare_router--0.2.1--0.3.0.sql: upgrade script for the router extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION fanfare_router UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0's library replaces 0.2.1's; the SQL objects that change are below.

------------------------------------------------------------------------------
-- Dry run of POST /consumers/batch (Prefer: tx=rollback, fanfare-import
-- --dry-run)
------------------------------------------------------------------------------
-- A rollback here would not undo a shard's insert: the shard runs the dry
-- run itself (fanfare.shard_import_consumers_dry_run rolls back its own
-- call), for the tenant and actor the router authenticated.  No
-- idempotency key goes to the shard.

CREATE FUNCTION fanfare_router.shard_import_consumers_dry_run(organization_id uuid, actor text, body bytea)
    RETURNS SETOF json
    LANGUAGE plproxy VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
AS $$
    CLUSTER 'fanfare';
    RUN ON fanfare_router.route(organization_id);
    TARGET fanfare.shard_import_consumers_dry_run;
$$;

COMMENT ON FUNCTION fanfare_router.shard_import_consumers_dry_run(uuid, text, bytea) IS
    'Routed: fanfare.shard_import_consumers_dry_run on the organization''s shard.';

CREATE FUNCTION fanfare.api_import_consumers_dry_run(secret_key text, body bytea)
    RETURNS SETOF json
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
    SET client_min_messages = warning
AS $$
DECLARE
    tenant record;
    c pg_catalog.json;
    s text; m text; d text; h text;
BEGIN
    -- the key first, on the router: nothing is sent to a shard for an unknown key
    SELECT * INTO tenant FROM fanfare_router.authenticate_key(api_import_consumers_dry_run.secret_key);
    BEGIN
        FOR c IN SELECT * FROM fanfare_router.shard_import_consumers_dry_run(tenant.organization_id, tenant.actor,
                                                                              api_import_consumers_dry_run.body) LOOP
            RETURN NEXT c;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
        PERFORM fanfare_router.raise_shard_error(s, m, d, h);
    END;
END
$$;

COMMENT ON FUNCTION fanfare.api_import_consumers_dry_run(text, bytea) IS
    'POST /consumers/batch with Prefer: tx=rollback, on a router: authenticates the secret key against the directory (28N01, 28N02, 42N01 as on a single node), then runs the organization''s shard''s dry run, which answers the rows or the error the real call would and stores nothing. A shard that cannot be reached is 08006.';

REVOKE ALL ON FUNCTION fanfare_router.shard_import_consumers_dry_run(uuid, text, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.api_import_consumers_dry_run(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fanfare_router.shard_import_consumers_dry_run(uuid, text, bytea) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare.api_import_consumers_dry_run(text, bytea) TO fanfare_api;
