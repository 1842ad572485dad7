/* fanfare_router--0.2.1--0.3.0.sql: upgrade script for the router extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION fanfare_router UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0's library replaces 0.2.1's; the SQL objects that change are below.


------------------------------------------------------------------------------
-- Rate limits (issue 20), kept on the router
------------------------------------------------------------------------------
-- Several gateways in front of one router share one budget per
-- organization: the router counts (fanfare's library, in shared memory:
-- preload fanfare on the router's server), before a request reaches a
-- shard.  The limits are the router's fanfare.rate_limit and its own
-- fanfare.rate_limits, as on a single node.
-- The counters are in shared memory (fanfare in shared_preload_libraries);
-- the limits are fanfare.rate_limit, or an organization's row here, set by
-- fanfare.set_rate_limit().  Backends cache the rows; the trigger tells
-- them, at commit, that the table changed.
CREATE TABLE fanfare.rate_limits (
    organization_id     uuid    NOT NULL PRIMARY KEY
                                REFERENCES fanfare.organizations (id) ON DELETE CASCADE,
    requests_per_minute integer NOT NULL CHECK (requests_per_minute >= 0)
);

COMMENT ON TABLE fanfare.rate_limits IS
    'Organizations whose rate limit is not fanfare.rate_limit: requests per minute (0: no limit). Set with fanfare.set_rate_limit().';

SELECT pg_catalog.pg_extension_config_dump('fanfare.rate_limits', '');

CREATE FUNCTION fanfare.rate_limits_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'fanfare_rate_limits_changed'
    LANGUAGE C;

COMMENT ON FUNCTION fanfare.rate_limits_changed() IS
    'Trigger: once the transaction commits, every backend reloads the rate limits it has cached.';

CREATE TRIGGER rate_limits_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fanfare.rate_limits
    FOR EACH STATEMENT EXECUTE FUNCTION fanfare.rate_limits_changed();

COMMENT ON TRIGGER rate_limits_changed ON fanfare.rate_limits IS
    'Invalidates the rate limits cached by the backends (at commit).';

-- The limit of one organization, NULL for fanfare.rate_limit: for the
-- extension's own lookup, which runs as the caller (PostgREST's JWT role
-- may not read the table).
CREATE FUNCTION fanfare.organization_rate_limit(organization_id uuid) RETURNS integer
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.requests_per_minute FROM fanfare.rate_limits r
     WHERE r.organization_id = organization_rate_limit.organization_id
$$;

COMMENT ON FUNCTION fanfare.organization_rate_limit(uuid) IS
    'The requests per minute set for an organization by fanfare.set_rate_limit(), NULL when fanfare.rate_limit applies.';

-- For the database owner: an organization's own limit, NULL restores the
-- default.
CREATE FUNCTION fanfare.set_rate_limit(organization_id uuid, requests_per_minute integer) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF set_rate_limit.organization_id IS NULL THEN
        RAISE EXCEPTION 'organization_id must not be null' USING ERRCODE = '22004';
    END IF;
    IF set_rate_limit.requests_per_minute IS NULL THEN
        DELETE FROM fanfare.rate_limits r WHERE r.organization_id = set_rate_limit.organization_id;
    ELSE
        INSERT INTO fanfare.rate_limits AS r (organization_id, requests_per_minute)
        VALUES (set_rate_limit.organization_id, set_rate_limit.requests_per_minute)
        ON CONFLICT ON CONSTRAINT rate_limits_pkey
        DO UPDATE SET requests_per_minute = EXCLUDED.requests_per_minute;
    END IF;
END
$$;

COMMENT ON FUNCTION fanfare.set_rate_limit(uuid, integer) IS
    'Sets an organization''s rate limit in requests per minute (0: none); NULL restores fanfare.rate_limit. Every front of the database applies it from the next request on.';

REVOKE ALL ON FUNCTION fanfare.rate_limits_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.organization_rate_limit(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.set_rate_limit(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fanfare.organization_rate_limit(uuid) TO fanfare_api;


CREATE FUNCTION fanfare_router.rate_limit_enforce(organization_id uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'fanfare_rate_limit_enforce'
    LANGUAGE C VOLATILE;

COMMENT ON FUNCTION fanfare_router.rate_limit_enforce(uuid) IS
    'Charges one request of the organization to its rate limit window (fanfare''s, in shared memory); 54N01 with the 429 body when the window is used up.';

REVOKE ALL ON FUNCTION fanfare_router.rate_limit_enforce(uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION fanfare.api_import_consumers(key text, body bytea, idempotency_key text DEFAULT NULL)
    RETURNS SETOF json
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant record;
    r record;
    first boolean := true;
    s text; m text; d text; h text;
    messages text := current_setting('client_min_messages');
BEGIN
    -- the key first, on the router: nothing is sent to a shard for an unknown key
    SELECT * INTO tenant FROM fanfare_router.authenticate_key(api_import_consumers.key);
    -- the organization's rate limit, kept here for all the router's gateways
    -- (54N01 when used up; its notice reaches the caller, hence no SET
    -- client_min_messages on the function: PL/Proxy's notices are muted below)
    PERFORM fanfare_router.rate_limit_enforce(tenant.organization_id);
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
    PERFORM pg_catalog.set_config('fanfare.organization_id', tenant.organization_id::pg_catalog.text, true);
    PERFORM pg_catalog.set_config('fanfare.actor', tenant.actor, true);
    BEGIN
        FOR r IN SELECT * FROM fanfare_router.shard_import_consumers(tenant.organization_id, tenant.actor,
                                                                      api_import_consumers.body,
                                                                      api_import_consumers.idempotency_key) LOOP
            IF first THEN
                PERFORM fanfare_router.set_idempotency_outcome(r.outcome);
                first := false;
            END IF;
            RETURN NEXT r.consumer;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
        PERFORM pg_catalog.set_config('client_min_messages', messages, true);
        PERFORM fanfare_router.raise_shard_error(s, m, d, h);
    END;
    PERFORM pg_catalog.set_config('client_min_messages', messages, true);
END
$$;


COMMENT ON FUNCTION fanfare.api_import_consumers(text, bytea, text) IS
    'POST /consumers/batch for the HTTP gateway, on a router: authenticates the secret key against the directory (28N01, 28N02, 42N01 as on a single node), charges the organization''s rate limit (54N01), sets fanfare.organization_id and fanfare.actor for the transaction, runs the batch on the organization''s shard and returns its consumers one per row; sets fanfare.idempotency_outcome as the shard reports it. A shard that cannot be reached is 08006.';

-- END rate limits section


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


------------------------------------------------------------------------------
-- Rate limit report without a notice per call (issue 20), on the router
------------------------------------------------------------------------------
-- The router's charge (rate_limit_enforce) reports the limit in
-- fanfare.rate_limit_status, which the gateway reads as a column; a call
-- that answers no row (the shard's error, an empty batch) sends the charge
-- as the 01N01 notice instead (rate_limit_notice), as on a single node.

CREATE FUNCTION fanfare_router.rate_limit_notice() RETURNS void
    AS 'MODULE_PATHNAME', 'fanfare_rate_limit_notice'
    LANGUAGE C VOLATILE;

COMMENT ON FUNCTION fanfare_router.rate_limit_notice() IS
    'Sends this transaction''s rate limit charge (rate_limit_enforce) as the 01N01 notice when fanfare.rate_limit_report is on; nothing without a charge.';

REVOKE ALL ON FUNCTION fanfare_router.rate_limit_notice() FROM PUBLIC;

CREATE OR REPLACE FUNCTION fanfare.api_import_consumers(key text, body bytea, idempotency_key text DEFAULT NULL)
    RETURNS SETOF json
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant record;
    r record;
    first boolean := true;
    s text; m text; d text; h text;
    messages text := current_setting('client_min_messages');
BEGIN
    -- the key first, on the router: nothing is sent to a shard for an unknown key
    SELECT * INTO tenant FROM fanfare_router.authenticate_key(api_import_consumers.key);
    -- the organization's rate limit, kept here for all the router's gateways
    -- (54N01 when used up; its notice reaches the caller, hence no SET
    -- client_min_messages on the function: PL/Proxy's notices are muted below)
    PERFORM fanfare_router.rate_limit_enforce(tenant.organization_id);
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
    PERFORM pg_catalog.set_config('fanfare.organization_id', tenant.organization_id::pg_catalog.text, true);
    PERFORM pg_catalog.set_config('fanfare.actor', tenant.actor, true);
    BEGIN
        FOR r IN SELECT * FROM fanfare_router.shard_import_consumers(tenant.organization_id, tenant.actor,
                                                                      api_import_consumers.body,
                                                                      api_import_consumers.idempotency_key) LOOP
            IF first THEN
                PERFORM fanfare_router.set_idempotency_outcome(r.outcome);
                first := false;
            END IF;
            RETURN NEXT r.consumer;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
        PERFORM pg_catalog.set_config('client_min_messages', messages, true);
        -- no row carries the rate limit: the notice does
        PERFORM fanfare_router.rate_limit_notice();
        PERFORM fanfare_router.raise_shard_error(s, m, d, h);
    END;
    PERFORM pg_catalog.set_config('client_min_messages', messages, true);
    IF first THEN
        PERFORM fanfare_router.rate_limit_notice();
    END IF;
END
$$;

-- END rate limit report section
