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

-- The charge is reported in fanfare.rate_limit_status, which the gateway
-- reads as a column; a call that answers no row (the shard's error, an
-- empty batch) sends it as the 01N01 notice instead, as on a single node.
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
-- The organization's lock, out of reach of pg_advisory_* (0.3.0)
------------------------------------------------------------------------------
-- 0.2.1 locked an organization with pg_advisory_xact_lock_shared and
-- pg_advisory_lock on fanfare_router.lock_key(organization_id), a public
-- hash: any login on the router could take that key and stall the tenant's
-- calls.  The lock now has a tag of its own (tenant_lock.c), which only the
-- owner's functions build.

-- The lock of an organization (tenant_lock.c): in the advisory lock method,
-- under a tag that pg_advisory_* cannot build, so that no login on the
-- router can take it and stall a tenant's calls.  Only the owner may call
-- these (privileges below).
CREATE FUNCTION fanfare_router.tenant_lock_shared(organization_id uuid) RETURNS void
    AS '$libdir/fanfare_router', 'fanfare_router_tenant_lock_shared'
    LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION fanfare_router.tenant_lock_shared(uuid) IS
    'Takes the organization''s lock in share mode until the transaction ends: every routed call does (route).';

CREATE FUNCTION fanfare_router.tenant_lock(organization_id uuid) RETURNS void
    AS '$libdir/fanfare_router', 'fanfare_router_tenant_lock'
    LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION fanfare_router.tenant_lock(uuid) IS
    'Takes the organization''s lock exclusively for the session, across COMMITs, waiting for the routed calls in flight: move_organization does. Released by tenant_unlock or when the session ends.';

CREATE FUNCTION fanfare_router.tenant_unlock(organization_id uuid) RETURNS boolean
    AS '$libdir/fanfare_router', 'fanfare_router_tenant_unlock'
    LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION fanfare_router.tenant_unlock(uuid) IS
    'Releases the exclusive lock tenant_lock took; false if this session did not hold it.';

REVOKE ALL ON FUNCTION fanfare_router.tenant_lock_shared(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare_router.tenant_lock(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare_router.tenant_unlock(uuid) FROM PUBLIC;

-- PL/Proxy's RUN ON function: the partition of an organization, with its
-- lock.  A routed call holds the organization's lock in share mode until
-- its transaction ends; a tenant move takes it exclusively, so it waits
-- for the calls in flight and holds back new ones (of that tenant only).
-- A lock of the advisory method, not a row lock, so that a routed call writes
-- nothing on the router (no transaction id, no WAL).  The placement is
-- read after the lock is granted, in a new snapshot under READ COMMITTED;
-- under REPEATABLE READ and SERIALIZABLE the row is also locked in share
-- mode, so that a placement flipped after the snapshot was taken is a
-- serialization failure (40001), not a call to the old partition.
CREATE OR REPLACE FUNCTION fanfare_router.route(organization_id uuid) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p integer;
BEGIN
    PERFORM fanfare_router.tenant_lock_shared(route.organization_id);
    IF pg_catalog.current_setting('transaction_isolation') = 'read committed' THEN
        SELECT pl.partition INTO p FROM fanfare_router.placements pl
         WHERE pl.organization_id = route.organization_id;
    ELSE
        SELECT pl.partition INTO p FROM fanfare_router.placements pl
         WHERE pl.organization_id = route.organization_id FOR SHARE;
    END IF;
    IF p IS NULL THEN
        RAISE EXCEPTION 'organization % has no placement', route.organization_id
            USING ERRCODE = '28000',
                  DETAIL = 'A router serves the organizations of its directory, fanfare.organizations.',
                  HINT = 'Create organizations on the router with fanfare.create_organization.';
    END IF;
    RETURN p;
END
$$;

COMMENT ON FUNCTION fanfare_router.route(uuid) IS
    'PL/Proxy RUN ON function: the partition of an organization, with its lock (tenant_lock_shared) held in share mode until the transaction ends. 28000 for an organization the directory does not place.';

CREATE OR REPLACE PROCEDURE fanfare_router.move_organization(organization_id uuid, target integer,
                                                  page_rows integer DEFAULT 1000)
    LANGUAGE plpgsql
AS $$
DECLARE
    org uuid := move_organization.organization_id;
    mv fanfare_router.moves;
    placed integer;
BEGIN
    IF page_rows IS NULL OR page_rows < 1 THEN
        RAISE EXCEPTION 'page_rows must be at least 1' USING ERRCODE = '22023';
    END IF;
    IF target IS NULL OR target < 0 OR target >= (SELECT count(*) FROM fanfare_router.partitions()) THEN
        RAISE EXCEPTION 'partition % is not a partition of the cluster fanfare', target
            USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT FROM fanfare_router.placements p WHERE p.organization_id = org) THEN
        RAISE EXCEPTION 'organization % has no placement', org USING ERRCODE = '28000';
    END IF;

    -- Each handler below releases the lock and raises the error again (a
    -- cancel or statement_timeout too, which OTHERS alone does not catch).
    -- Inside a transaction block a COMMIT fails: fail here, before the lock
    -- is taken, rather than with the lock held.
    COMMIT;
    -- From here on the tenant's calls wait; a new transaction, so that what
    -- follows reads what committed before the lock was granted, whatever
    -- the isolation level.
    PERFORM fanfare_router.tenant_lock(org);
    COMMIT;

    BEGIN
        SELECT p.partition INTO placed FROM fanfare_router.placements p WHERE p.organization_id = org;
        SELECT * INTO mv FROM fanfare_router.moves m WHERE m.organization_id = org;
        IF NOT FOUND THEN
            IF placed = target THEN
                -- already there (a retried or second call whose move is done)
                PERFORM fanfare_router.tenant_unlock(org);
                RETURN;
            END IF;
            INSERT INTO fanfare_router.moves (organization_id, source, target, state)
            VALUES (org, placed, target, 'copying')
            RETURNING * INTO mv;
        ELSIF mv.target <> target THEN
            RAISE EXCEPTION 'organization % has an unfinished move to partition %', org, mv.target
                USING ERRCODE = '55000', HINT = 'Finish it first: CALL fanfare_router.move_organization(organization_id, that partition).';
        ELSIF placed <> (CASE mv.state WHEN 'copying' THEN mv.source ELSE mv.target END) THEN
            RAISE EXCEPTION 'the unfinished move of organization % does not match its placement', org
                USING ERRCODE = '55000',
                      DETAIL = format('The move is %s from partition %s to %s; the placement names partition %s.',
                                      mv.state, mv.source, mv.target, placed),
                      HINT = 'Nothing was copied or deleted. Check both partitions, then correct fanfare_router.moves.';
        END IF;
    EXCEPTION WHEN query_canceled OR OTHERS THEN
        PERFORM fanfare_router.tenant_unlock(org);
        RAISE;
    END;
    COMMIT;

    IF mv.state = 'copying' THEN
        BEGIN
            CALL fanfare_router.copy_organization(org, mv.source, mv.target, page_rows);
            UPDATE fanfare_router.placements p SET partition = mv.target, placed_at = now() WHERE p.organization_id = org;
            UPDATE fanfare_router.moves m SET state = 'deleting' WHERE m.organization_id = org;
        EXCEPTION WHEN query_canceled OR OTHERS THEN
            PERFORM fanfare_router.tenant_unlock(org);
            RAISE;
        END;
        COMMIT;
    END IF;

    BEGIN
        PERFORM fanfare_router.tenant_delete(mv.source, org);
        DELETE FROM fanfare_router.moves m WHERE m.organization_id = org;
    EXCEPTION WHEN query_canceled OR OTHERS THEN
        PERFORM fanfare_router.tenant_unlock(org);
        RAISE;
    END;
    COMMIT;
    PERFORM fanfare_router.tenant_unlock(org);
END
$$;

COMMENT ON PROCEDURE fanfare_router.move_organization(uuid, integer, integer) IS
    'Moves an organization to another partition (copying page_rows rows per remote call): its calls wait (its lock, tenant_lock, exclusively), its consumers and idempotency keys are copied and checked, the placement flips, the old rows are deleted, its calls resume. Other organizations are not held. Resumable: after a crash or an error, call it again with the same target; a call that waited for another move of the same organization acts on what that move left. The lock is released on error. Run it with CALL, outside a transaction block.';

DROP FUNCTION fanfare_router.lock_key(uuid);

-- END tenant lock section
