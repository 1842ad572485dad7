------------------------------------------------------------------------------
-- The router: placement, routing with PL/Proxy, the API, tenant moves
------------------------------------------------------------------------------
-- Above this line, fanfare's keys section (the directory: organizations,
-- API keys, their functions), taken from fanfare--EXTVERSION.sql at build time.
-- MODULE_PATHNAME is fanfare's library ($libdir/fanfare, see the control
-- file): key hashing, the tenant settings and the claims are fanfare's own
-- code.  The consumers live on the shards, ordinary fanfare databases that
-- the router reaches as the role fanfare_router through PL/Proxy's cluster
-- 'fanfare' (a SQL/MED server of that name, made by the administrator:
-- see the README, "Scaling out").

CREATE SCHEMA fanfare_router;

COMMENT ON SCHEMA fanfare_router IS
    'Internals of the router: placements, moves, the PL/Proxy functions. Nothing here is for API callers except the five routed shard_* functions that the fanfare.* API functions call.';

------------------------------------------------------------------------------
-- The tenant and the actor: fanfare's rules, fanfare's code
------------------------------------------------------------------------------

CREATE FUNCTION fanfare_router.require_organization_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'fanfare_require_organization_id'
    LANGUAGE C STABLE;

COMMENT ON FUNCTION fanfare_router.require_organization_id() IS
    'The current tenant, or fanfare''s 28000 error when the request names none (or a malformed one).';

CREATE FUNCTION fanfare_router.authenticate_key(key text, OUT organization_id uuid, OUT actor text)
    AS 'MODULE_PATHNAME', 'fanfare_authenticate_key'
    LANGUAGE C VOLATILE;

COMMENT ON FUNCTION fanfare_router.authenticate_key(text) IS
    'The organization and the actor (api_key:<prefix>) of a secret key, by its SHA-256, or fanfare''s errors: 28N01 unknown or revoked key, 28N02 publishable key, 42N01 organization disabled.';

------------------------------------------------------------------------------
-- Placement: which partition of the cluster holds an organization
------------------------------------------------------------------------------

CREATE TABLE fanfare_router.placements (
    organization_id uuid        NOT NULL PRIMARY KEY REFERENCES fanfare.organizations (id),
    partition       integer     NOT NULL CHECK (partition >= 0),
    placed_at       timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE fanfare_router.placements IS
    'The partition (p0, p1, ... of the SQL/MED server fanfare) that holds each organization''s consumers and idempotency keys. Written when an organization is created (by the rule of partition_for_new) and by move_organization.';

-- A tenant move in progress: where it comes from, where it goes, how far it
-- got.  The row survives a crash of the moving session; calling
-- move_organization again resumes from it.
CREATE TABLE fanfare_router.moves (
    organization_id uuid        NOT NULL PRIMARY KEY REFERENCES fanfare_router.placements (organization_id),
    source          integer     NOT NULL,
    target          integer     NOT NULL,
    state           text        NOT NULL CHECK (state IN ('copying', 'deleting')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (source <> target)
);

COMMENT ON TABLE fanfare_router.moves IS
    'Unfinished tenant moves: copying (the placement still names source; the target''s copy is not used yet) or deleting (the placement names target; the source''s copy is left to delete). move_organization resumes them.';

SELECT pg_catalog.pg_extension_config_dump('fanfare_router.placements', '');
SELECT pg_catalog.pg_extension_config_dump('fanfare_router.moves', '');

-- The partitions of the cluster: the p<N> options of the server fanfare.
CREATE FUNCTION fanfare_router.partitions(OUT partition integer, OUT connstr text)
    RETURNS SETOF record
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT substr(o.option_name, 2)::integer, o.option_value
      FROM pg_foreign_server s, pg_options_to_table(s.srvoptions) o
     WHERE s.srvname = 'fanfare' AND o.option_name ~ '^p[0-9]+$'
     ORDER BY 1
$$;

COMMENT ON FUNCTION fanfare_router.partitions() IS
    'The partitions of the PL/Proxy cluster fanfare (the p0, p1, ... options of its SQL/MED server) and their connection strings.';

-- The rule for a new organization: a hash of its id over the partitions
-- (PL/Proxy's own mapping: hash & (count - 1), count a power of two).
CREATE FUNCTION fanfare_router.partition_for_new(organization_id uuid) RETURNS integer
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := (SELECT count(*) FROM fanfare_router.partitions());
BEGIN
    IF n = 0 OR n & (n - 1) <> 0 THEN
        RAISE EXCEPTION 'the cluster fanfare has % partitions', n
            USING ERRCODE = '55000',
                  DETAIL = 'PL/Proxy needs a power of two: options p0 .. p<2^k - 1> of the SQL/MED server fanfare.',
                  HINT = 'See "Scaling out" in the README.';
    END IF;
    RETURN (hashtext(partition_for_new.organization_id::text) & (n - 1));
END
$$;

COMMENT ON FUNCTION fanfare_router.partition_for_new(uuid) IS
    'The partition a new organization is placed on: hashtext of its id, masked by the partition count (a power of two). Only new placements use it; recorded placements never change by themselves.';

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
CREATE FUNCTION fanfare_router.route(organization_id uuid) RETURNS integer
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

------------------------------------------------------------------------------
-- The calls to the shards (PL/Proxy, cluster fanfare)
------------------------------------------------------------------------------
-- One shard per call, by the organization's placement.  SECURITY DEFINER:
-- the calls connect with the user mapping of the extension's owner (or
-- PUBLIC's); search_path pinned, as for every SECURITY DEFINER function
-- (PL/Proxy's RUN ON and TARGET names are schema-qualified).  PL/Proxy rewrites a shard's errors; the fanfare.* functions
-- below undo that (raise_shard_error).

CREATE FUNCTION fanfare_router.shard_import_consumers(organization_id uuid, actor text, body bytea,
                                                      idempotency_key text)
    RETURNS TABLE (consumer json, outcome text)
    LANGUAGE plproxy VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
AS $$
    CLUSTER 'fanfare';
    RUN ON fanfare_router.route(organization_id);
    TARGET fanfare.shard_import_consumers;
$$;

CREATE FUNCTION fanfare_router.shard_import_consumers_text(organization_id uuid, actor text, body text,
                                                           idempotency_key text)
    RETURNS TABLE (consumer json, outcome text)
    LANGUAGE plproxy VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
AS $$
    CLUSTER 'fanfare';
    RUN ON fanfare_router.route(organization_id);
    TARGET fanfare.shard_import_consumers_text;
$$;

CREATE FUNCTION fanfare_router.shard_create_consumers(organization_id uuid, actor text, payload jsonb,
                                                      idempotency_key text,
                                                      OUT consumers jsonb, OUT outcome text)
    LANGUAGE plproxy VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    CLUSTER 'fanfare';
    RUN ON fanfare_router.route(organization_id);
    TARGET fanfare.shard_create_consumers;
$$;

CREATE FUNCTION fanfare_router.shard_validate_consumers(organization_id uuid, payload jsonb) RETURNS jsonb
    LANGUAGE plproxy VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    CLUSTER 'fanfare';
    RUN ON fanfare_router.route(organization_id);
    TARGET fanfare.shard_validate_consumers;
$$;

CREATE FUNCTION fanfare_router.shard_post_consumers_batch(organization_id uuid, actor text, body json,
                                                          request_headers text, idempotency_key text,
                                                          OUT response json, OUT status text, OUT headers text)
    LANGUAGE plproxy VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    CLUSTER 'fanfare';
    RUN ON fanfare_router.route(organization_id);
    TARGET fanfare.shard_post_consumers_batch;
$$;

COMMENT ON FUNCTION fanfare_router.shard_import_consumers(uuid, text, bytea, text) IS
    'Routed: fanfare.shard_import_consumers on the organization''s shard.';
COMMENT ON FUNCTION fanfare_router.shard_import_consumers_text(uuid, text, text, text) IS
    'Routed: fanfare.shard_import_consumers_text on the organization''s shard.';
COMMENT ON FUNCTION fanfare_router.shard_create_consumers(uuid, text, jsonb, text) IS
    'Routed: fanfare.shard_create_consumers on the organization''s shard.';
COMMENT ON FUNCTION fanfare_router.shard_validate_consumers(uuid, jsonb) IS
    'Routed: fanfare.shard_validate_consumers on the organization''s shard.';
COMMENT ON FUNCTION fanfare_router.shard_post_consumers_batch(uuid, text, json, text, text) IS
    'Routed: fanfare.shard_post_consumers_batch on the organization''s shard.';

-- The same shard functions on a partition named by number, for moves and
-- placement (no lock, no placement: the caller holds the tenant's lock).
CREATE FUNCTION fanfare_router.tenant_register(partition integer, organization_id uuid, name text) RETURNS void
    LANGUAGE plproxy VOLATILE
AS $$
    CLUSTER 'fanfare';
    RUN ON partition;
    SELECT fanfare.tenant_register(organization_id, name);
$$;

CREATE FUNCTION fanfare_router.tenant_export_consumers(partition integer, organization_id uuid,
                                                       after_id uuid, max_rows integer) RETURNS jsonb
    LANGUAGE plproxy VOLATILE
AS $$
    CLUSTER 'fanfare';
    RUN ON partition;
    SELECT fanfare.tenant_export_consumers(organization_id, after_id, max_rows);
$$;

CREATE FUNCTION fanfare_router.tenant_import_consumers(partition integer, organization_id uuid, rows jsonb)
    RETURNS bigint
    LANGUAGE plproxy VOLATILE
AS $$
    CLUSTER 'fanfare';
    RUN ON partition;
    SELECT fanfare.tenant_import_consumers(organization_id, rows);
$$;

CREATE FUNCTION fanfare_router.tenant_export_idempotency_keys(partition integer, organization_id uuid,
                                                              after_key text, max_rows integer) RETURNS jsonb
    LANGUAGE plproxy VOLATILE
AS $$
    CLUSTER 'fanfare';
    RUN ON partition;
    SELECT fanfare.tenant_export_idempotency_keys(organization_id, after_key, max_rows);
$$;

CREATE FUNCTION fanfare_router.tenant_import_idempotency_keys(partition integer, organization_id uuid, rows jsonb)
    RETURNS bigint
    LANGUAGE plproxy VOLATILE
AS $$
    CLUSTER 'fanfare';
    RUN ON partition;
    SELECT fanfare.tenant_import_idempotency_keys(organization_id, rows);
$$;

CREATE FUNCTION fanfare_router.tenant_summary(partition integer, organization_id uuid,
                                              OUT consumers bigint, OUT idempotency_keys bigint,
                                              OUT fingerprint text)
    LANGUAGE plproxy VOLATILE
AS $$
    CLUSTER 'fanfare';
    RUN ON partition;
    SELECT * FROM fanfare.tenant_summary(organization_id);
$$;

CREATE FUNCTION fanfare_router.tenant_delete(partition integer, organization_id uuid) RETURNS bigint
    LANGUAGE plproxy VOLATILE
AS $$
    CLUSTER 'fanfare';
    RUN ON partition;
    SELECT fanfare.tenant_delete(organization_id);
$$;

COMMENT ON FUNCTION fanfare_router.tenant_register(integer, uuid, text) IS
    'fanfare.tenant_register on a partition.';
COMMENT ON FUNCTION fanfare_router.tenant_export_consumers(integer, uuid, uuid, integer) IS
    'fanfare.tenant_export_consumers on a partition.';
COMMENT ON FUNCTION fanfare_router.tenant_import_consumers(integer, uuid, jsonb) IS
    'fanfare.tenant_import_consumers on a partition.';
COMMENT ON FUNCTION fanfare_router.tenant_export_idempotency_keys(integer, uuid, text, integer) IS
    'fanfare.tenant_export_idempotency_keys on a partition.';
COMMENT ON FUNCTION fanfare_router.tenant_import_idempotency_keys(integer, uuid, jsonb) IS
    'fanfare.tenant_import_idempotency_keys on a partition.';
COMMENT ON FUNCTION fanfare_router.tenant_summary(integer, uuid) IS
    'fanfare.tenant_summary on a partition.';
COMMENT ON FUNCTION fanfare_router.tenant_delete(integer, uuid) IS
    'fanfare.tenant_delete on a partition.';

CREATE FUNCTION fanfare_router.raise_shard_error(sqlstate text, message text, detail text, hint text)
    RETURNS void
    AS '$libdir/fanfare_router', 'fanfare_router_raise_shard_error'
    LANGUAGE C VOLATILE;

COMMENT ON FUNCTION fanfare_router.raise_shard_error(text, text, text, text) IS
    'Raises a shard''s error as the shard raised it: PL/Proxy''s "REMOTE ERROR" wrapping of message, detail and hint removed, SQLSTATE kept; a partition that cannot be reached is 08006.';

------------------------------------------------------------------------------
-- New organizations are placed, and registered on their shard
------------------------------------------------------------------------------

CREATE FUNCTION fanfare_router.place_organization() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p integer := fanfare_router.partition_for_new(NEW.id);
    s text; m text; d text; h text;
BEGIN
    INSERT INTO fanfare_router.placements (organization_id, partition) VALUES (NEW.id, p);
    BEGIN
        PERFORM fanfare_router.tenant_register(p, NEW.id, NEW.name);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
        PERFORM fanfare_router.raise_shard_error(s, m, d, h);
    END;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION fanfare_router.place_organization() IS
    'Trigger: places a new organization by the rule of partition_for_new and registers it on that shard, in the creating transaction (the shard must be up).';

CREATE TRIGGER place_organization AFTER INSERT ON fanfare.organizations
    FOR EACH ROW EXECUTE FUNCTION fanfare_router.place_organization();

COMMENT ON TRIGGER place_organization ON fanfare.organizations IS
    'Every organization of the directory has a placement.';

------------------------------------------------------------------------------
-- The API: the single node's functions, each call on its tenant's shard
------------------------------------------------------------------------------
-- The same names, arguments, results and SQLSTATEs as fanfare's.  The
-- tenant and the actor are read here, by fanfare's rules (the caller's
-- settings and claims; these functions run as the caller), and handed to
-- the shard, where fanfare's own code validates, inserts and answers.  The
-- shard's errors are raised again unwrapped; one that cannot be reached is
-- 08006.  fanfare.import_consumers, api_import_consumers and
-- post_consumers_batch were declared (as fanfare's C functions) by the keys
-- section above, with their privileges; they are replaced here by the
-- router's versions, which keep those privileges.  client_min_messages:
-- PL/Proxy tells the client with a NOTICE when it replaces a connection
-- that an error left unusable; a single node sends no such notice.

-- The idempotency key a call takes from the settings (NULL: none).
CREATE FUNCTION fanfare_router.idempotency_key_setting() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT nullif(current_setting('fanfare.idempotency_key', true), '')
$$;

COMMENT ON FUNCTION fanfare_router.idempotency_key_setting() IS
    'The fanfare.idempotency_key setting, NULL when empty: what the router hands to the shard (which checks it).';

-- What the shard's keyed call did, for the caller to read as on a single node.
CREATE FUNCTION fanfare_router.set_idempotency_outcome(outcome text) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN coalesce(set_idempotency_outcome.outcome, '') <> ''
                THEN set_config('fanfare.idempotency_outcome', set_idempotency_outcome.outcome, true) END;
$$;

COMMENT ON FUNCTION fanfare_router.set_idempotency_outcome(text) IS
    'Sets fanfare.idempotency_outcome for the transaction to what the shard reported (nothing for an unkeyed call).';

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

CREATE OR REPLACE FUNCTION fanfare.import_consumers(body text) RETURNS SETOF json
    LANGUAGE plpgsql VOLATILE ROWS 500
    SET search_path = pg_catalog, pg_temp
    SET client_min_messages = warning
AS $$
DECLARE
    org uuid := fanfare_router.require_organization_id();
    r record;
    first boolean := true;
    s text; m text; d text; h text;
BEGIN
    BEGIN
        FOR r IN SELECT * FROM fanfare_router.shard_import_consumers_text(org, fanfare.current_actor(),
                                                                           import_consumers.body,
                                                                           fanfare_router.idempotency_key_setting()) LOOP
            IF first THEN
                PERFORM fanfare_router.set_idempotency_outcome(r.outcome);
                first := false;
            END IF;
            RETURN NEXT r.consumer;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
        PERFORM fanfare_router.raise_shard_error(s, m, d, h);
    END;
END
$$;

COMMENT ON FUNCTION fanfare.import_consumers(text) IS
    'The bulk path, on a router: the tenant and actor of the current request (settings, else JWT claims, as on a single node) and fanfare.idempotency_key, handed to the organization''s shard, whose import_consumers returns one created consumer per row. The shard''s errors come back unchanged; an organization the directory does not place is 28000.';

CREATE FUNCTION fanfare.create_consumers(payload jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET client_min_messages = warning
AS $$
DECLARE
    org uuid := fanfare_router.require_organization_id();
    r record;
    s text; m text; d text; h text;
BEGIN
    SELECT * INTO r FROM fanfare_router.shard_create_consumers(org, fanfare.current_actor(), create_consumers.payload,
                                                               fanfare_router.idempotency_key_setting());
    PERFORM fanfare_router.set_idempotency_outcome(r.outcome);
    RETURN r.consumers;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM fanfare_router.raise_shard_error(s, m, d, h);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION fanfare.create_consumers(jsonb) IS
    'POST /consumers/batch from SQL on a router: create_consumers on the current tenant''s shard (tenant, actor and idempotency key of the current request). Invalid input raises the shard''s 22023 whose DETAIL is the 400 body.';

CREATE FUNCTION fanfare.validate_consumers(payload jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET client_min_messages = warning
AS $$
DECLARE
    org uuid := fanfare_router.require_organization_id();
    s text; m text; d text; h text;
BEGIN
    RETURN fanfare_router.shard_validate_consumers(org, validate_consumers.payload);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    PERFORM fanfare_router.raise_shard_error(s, m, d, h);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION fanfare.validate_consumers(jsonb) IS
    'Dry run of create_consumers on the current tenant''s shard (duplicate emails are checked there): the issues array, [] when the batch is valid.';

CREATE OR REPLACE FUNCTION fanfare.post_consumers_batch(json) RETURNS json
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET client_min_messages = warning
AS $$
DECLARE
    org uuid;
    r record;
    s text; m text; d text; h text;
BEGIN
    BEGIN
        org := fanfare.current_organization_id();
    EXCEPTION WHEN invalid_authorization_specification THEN
        org := NULL;            -- malformed: no organization, as on a single node
    END;
    IF org IS NULL THEN
        PERFORM set_config('response.status', '401', true);
        RETURN '{"error":"Authentication required"}';
    END IF;
    IF NOT fanfare.current_organization_is_active() THEN
        PERFORM set_config('response.status', '403', true);
        RETURN '{"error":"Forbidden"}';
    END IF;
    BEGIN
        SELECT * INTO r FROM fanfare_router.shard_post_consumers_batch(org, fanfare.current_actor(), $1,
                                                                       current_setting('request.headers', true),
                                                                       fanfare_router.idempotency_key_setting());
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
        PERFORM fanfare_router.raise_shard_error(s, m, d, h);
    END;
    IF coalesce(r.status, '') <> '' THEN
        PERFORM set_config('response.status', r.status, true);
    END IF;
    IF coalesce(r.headers, '') <> '' THEN
        PERFORM set_config('response.headers', r.headers, true);
    END IF;
    RETURN r.response;
END
$$;

COMMENT ON FUNCTION fanfare.post_consumers_batch(json) IS
    'POST /consumers/batch behind PostgREST, on a router: 401 and 403 answered from the directory as on a single node, everything else by the PostgREST front of the organization''s shard, whose body, response.status and response.headers are passed on.';

REVOKE ALL ON FUNCTION fanfare.current_organization_id() FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.current_actor() FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.current_organization_is_active() FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.create_consumers(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.validate_consumers(jsonb) FROM PUBLIC;
GRANT USAGE ON SCHEMA fanfare TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare.current_organization_id() TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare.current_actor() TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare.current_organization_is_active() TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare.create_consumers(jsonb) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare.validate_consumers(jsonb) TO fanfare_api;

------------------------------------------------------------------------------
-- Moving a tenant to another partition
------------------------------------------------------------------------------

-- No SET clause on the procedures (a procedure with one cannot commit):
-- every name is schema-qualified, and pg_catalog comes first anyway.

-- Copies an organization's rows from the move's source to its target,
-- starting afresh (whatever an earlier, interrupted copy left on the
-- target is deleted first: the placement never named it), and checks that
-- the target now holds exactly what the source holds.
CREATE PROCEDURE fanfare_router.copy_organization(organization_id uuid, source integer, target integer,
                                                  page_rows integer DEFAULT 1000)
    LANGUAGE plpgsql
AS $$
DECLARE
    org uuid := copy_organization.organization_id;
    page jsonb;
    after_id uuid;
    after_key text;
    src record;
    dst record;
BEGIN
    -- the target is cleared first: never the partition the tenant's calls use
    IF target = (SELECT p.partition FROM fanfare_router.placements p WHERE p.organization_id = org) THEN
        RAISE EXCEPTION 'partition % holds the live copy of organization %', target, org
            USING ERRCODE = '55000',
                  DETAIL = 'Its placement names that partition: a copy into it would delete the rows its calls use.';
    END IF;
    PERFORM fanfare_router.tenant_delete(target, org);
    PERFORM fanfare_router.tenant_register(target, org, (SELECT o.name FROM fanfare.organizations o WHERE o.id = org));
    LOOP
        page := fanfare_router.tenant_export_consumers(source, org, after_id, page_rows);
        EXIT WHEN jsonb_array_length(page) = 0;
        PERFORM fanfare_router.tenant_import_consumers(target, org, page);
        after_id := (page -> -1 ->> 'id')::uuid;
    END LOOP;
    LOOP
        page := fanfare_router.tenant_export_idempotency_keys(source, org, after_key, page_rows);
        EXIT WHEN jsonb_array_length(page) = 0;
        PERFORM fanfare_router.tenant_import_idempotency_keys(target, org, page);
        after_key := page -> -1 ->> 'key';
    END LOOP;
    SELECT * INTO src FROM fanfare_router.tenant_summary(source, org);
    SELECT * INTO dst FROM fanfare_router.tenant_summary(target, org);
    IF (src.consumers, src.idempotency_keys, src.fingerprint) IS DISTINCT FROM
       (dst.consumers, dst.idempotency_keys, dst.fingerprint) THEN
        RAISE EXCEPTION 'the copy of organization % on partition % differs from partition %', org, target, source
            USING ERRCODE = 'XX001',
                  DETAIL = format('Source: %s consumers, %s keys; target: %s consumers, %s keys.',
                                  src.consumers, src.idempotency_keys, dst.consumers, dst.idempotency_keys),
                  HINT = 'The placement still names the source. Call move_organization again to copy afresh.';
    END IF;
END
$$;

COMMENT ON PROCEDURE fanfare_router.copy_organization(uuid, integer, integer, integer) IS
    'Step of move_organization: copies an organization''s consumers and idempotency keys from one partition to another, page by page, after clearing the target, and fails unless both then hold the same rows (counts and a fingerprint of every column). Refuses a target that the organization''s placement names (55000).';

-- The tenant's lock is a session lock: it outlives the COMMITs that make
-- each step durable.  A handler cannot surround a COMMIT, so each step
-- between two COMMITs is a block of its own whose handler releases the lock
-- and raises the error again.  Everything the move acts on (the placement,
-- an unfinished move) is read once the lock is held, in a transaction begun
-- after it was granted: a second call that waited for a first one sees
-- what the first one did.
CREATE PROCEDURE fanfare_router.move_organization(organization_id uuid, target integer,
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

------------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------------

-- The API functions run as their caller (the tenant and actor are the
-- caller's); what they reach of the router is granted to fanfare_api: the
-- five routed calls, which act for the organization they are given, as
-- fanfare.import_consumers acts for the one in the caller's settings.
-- Nothing else of fanfare_router is granted: not the placements, not the
-- tenant_* calls.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'fanfare_router'::regnamespace LOOP
        EXECUTE format('REVOKE ALL ON ROUTINE %s FROM PUBLIC', f);
    END LOOP;
END
$$;
GRANT USAGE ON SCHEMA fanfare_router TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare_router.require_organization_id() TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare_router.idempotency_key_setting() TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare_router.set_idempotency_outcome(text) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare_router.raise_shard_error(text, text, text, text) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare_router.shard_import_consumers(uuid, text, bytea, text) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare_router.shard_import_consumers_text(uuid, text, text, text) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare_router.shard_create_consumers(uuid, text, jsonb, text) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare_router.shard_validate_consumers(uuid, jsonb) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare_router.shard_post_consumers_batch(uuid, text, json, text, text) TO fanfare_api;


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
