/* fanfare--0.2.1--0.3.0.sql: upgrade script for the fanfare extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION fanfare UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0's library replaces 0.2.1's (install it before the update); the SQL
-- objects that change are below, one section per change.

------------------------------------------------------------------------------
-- Dry run of POST /consumers/batch (fanfare-import --dry-run, the gateway's
-- Prefer: tx=rollback)
------------------------------------------------------------------------------
-- The real call runs in a subtransaction that is always rolled back: the
-- answer is the one the real call would give (its rows, or its error, with
-- duplicates against stored rows found), and nothing it wrote stays.  The
-- rollback is a private exception (SQLSTATE FFD01) raised after the rows
-- are kept and caught by this block alone; every other error passes
-- through unchanged.  No idempotency key: a dry run neither records nor
-- replays one.

CREATE FUNCTION fanfare.api_import_consumers_dry_run(secret_key text, body bytea)
    RETURNS SETOF json
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kept pg_catalog.json[];
BEGIN
    BEGIN
        SELECT pg_catalog.array_agg(c.consumer ORDER BY c.n) INTO kept
          FROM fanfare.api_import_consumers(api_import_consumers_dry_run.secret_key,
                                            api_import_consumers_dry_run.body, NULL)
               WITH ORDINALITY AS c(consumer, n);
        RAISE EXCEPTION 'dry run rolled back' USING ERRCODE = 'FFD01';
    EXCEPTION WHEN SQLSTATE 'FFD01' THEN
        NULL;
    END;
    RETURN QUERY SELECT k.consumer FROM pg_catalog.unnest(kept) WITH ORDINALITY AS k(consumer, n) ORDER BY k.n;
END
$$;

COMMENT ON FUNCTION fanfare.api_import_consumers_dry_run(text, bytea) IS
    'POST /consumers/batch with Prefer: tx=rollback: runs api_import_consumers(secret_key, body) without an idempotency key and rolls it back. Returns the rows, or raises the error (same SQLSTATE, message and DETAIL), that the real call would; stores nothing (no consumer, no idempotency key).';

-- For a router: the same, for the organization and actor it authenticated.
CREATE FUNCTION fanfare.shard_import_consumers_dry_run(organization_id uuid, actor text, body bytea)
    RETURNS SETOF json
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kept pg_catalog.json[];
BEGIN
    BEGIN
        SELECT pg_catalog.array_agg(c.consumer ORDER BY c.n) INTO kept
          FROM fanfare.shard_wire_import(shard_import_consumers_dry_run.organization_id,
                                         shard_import_consumers_dry_run.actor,
                                         shard_import_consumers_dry_run.body, NULL)
               WITH ORDINALITY AS c(consumer, n);
        RAISE EXCEPTION 'dry run rolled back' USING ERRCODE = 'FFD01';
    EXCEPTION WHEN SQLSTATE 'FFD01' THEN
        NULL;
    END;
    RETURN QUERY SELECT k.consumer FROM pg_catalog.unnest(kept) WITH ORDINALITY AS k(consumer, n) ORDER BY k.n;
END
$$;

COMMENT ON FUNCTION fanfare.shard_import_consumers_dry_run(uuid, text, bytea) IS
    'For the router''s api_import_consumers_dry_run: shard_import_consumers without an idempotency key, rolled back; the rows or the error the real call would give, nothing stored.';

REVOKE ALL ON FUNCTION fanfare.api_import_consumers_dry_run(text, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.shard_import_consumers_dry_run(uuid, text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fanfare.api_import_consumers_dry_run(text, bytea) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare.shard_import_consumers_dry_run(uuid, text, bytea) TO fanfare_router;
