/* fanfare--0.1.0--0.2.0.sql: upgrade script from 0.1.0 to 0.2.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION fanfare UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- The field catalogue, as a table
------------------------------------------------------------------------------

CREATE FUNCTION fanfare.consumer_fields(
        OUT name text, OUT column_name text, OUT kind text, OUT required boolean,
        OUT default_value jsonb)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'fanfare_consumer_fields'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 41;

COMMENT ON FUNCTION fanfare.consumer_fields() IS
    'The request fields of POST /consumers/batch as the extension knows them: JSON name, column of fanfare.consumers (coordinates: the prefix of two columns), kind, whether required, and the value an absent field takes (NULL: null).';

------------------------------------------------------------------------------
-- The wire path: the request text in, the created consumers out as JSON text
------------------------------------------------------------------------------

CREATE FUNCTION fanfare.import_consumers(body text) RETURNS SETOF json
    AS 'MODULE_PATHNAME', 'fanfare_import_consumers'
    LANGUAGE C VOLATILE ROWS 500;

COMMENT ON FUNCTION fanfare.import_consumers(text) IS
    'The fastest way to create consumers from SQL: reads {"consumers":[...]} as JSON text (no jsonb), validates, applies defaults, inserts all rows or none for the current tenant, and returns one created consumer per row as compact JSON, in input order. Call it in the select list to stream: SELECT fanfare.import_consumers($1). Invalid input raises SQLSTATE 22023 whose DETAIL is the 400 response body; a body that is not JSON raises 22N01, JSON PostgreSQL cannot store 22N02, too deep a nesting 22N03, each with its 400 body as DETAIL.';

-- The gateway's one statement per request: a secret key and the body's
-- bytes as received.  SECURITY DEFINER without a SET clause (a SET would
-- cost a settings round trip on every returned row): every name the C code
-- uses is schema-qualified.
CREATE FUNCTION fanfare.api_import_consumers(key text, body bytea, idempotency_key text DEFAULT NULL)
    RETURNS SETOF json
    AS 'MODULE_PATHNAME', 'fanfare_api_import_consumers'
    LANGUAGE C VOLATILE SECURITY DEFINER ROWS 500;

COMMENT ON FUNCTION fanfare.api_import_consumers(text, bytea, text) IS
    'POST /consumers/batch for the HTTP gateway: authenticates a secret key by its SHA-256 (28N01 unknown or revoked, 28N02 publishable key, 42N01 organization disabled), sets fanfare.organization_id and fanfare.actor (api_key:<prefix>) for the transaction, then reads the body (UTF-8 bytes) as import_consumers does and returns the created consumers one per row. With an idempotency_key (the Idempotency-Key header''s value), a retry of a created batch with the same body answers the same rows and creates nothing (fanfare.idempotency_outcome: replayed); the key in use by a running request raises 55N01, with another body 22N04, malformed 22N05.';

CREATE FUNCTION fanfare.post_consumers_batch(json) RETURNS json
    AS 'MODULE_PATHNAME', 'fanfare_post_consumers_batch'
    LANGUAGE C VOLATILE;

COMMENT ON FUNCTION fanfare.post_consumers_batch(json) IS
    'POST /consumers/batch behind PostgREST (POST /rpc/post_consumers_batch): the tenant from the verified JWT claims (organization_id; sub becomes createdBy). Returns the 200 array, or the contract''s 400 body with response.status 400 (nothing written, no error raised), or {"error":"Authentication required"} with response.status 401 when the claims name no organization.';

-- 0.1.0's gateway function, kept for clients of that version: the same
-- answers through the wire path, as jsonb.  SQLSTATEs are 0.2.0's.  It stays
-- SECURITY DEFINER, so that a role granted only this function keeps it.
CREATE OR REPLACE FUNCTION fanfare.api_create_consumers(key text, payload text) RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(c.consumer::pg_catalog.jsonb ORDER BY c.n), '[]'::pg_catalog.jsonb)
      FROM fanfare.api_import_consumers(api_create_consumers.key,
                                        pg_catalog.convert_to(api_create_consumers.payload, 'UTF8'))
           WITH ORDINALITY AS c(consumer, n)
$$;

COMMENT ON FUNCTION fanfare.api_create_consumers(text, text) IS
    'The gateway function of fanfare 0.1.0, kept for its clients: api_import_consumers with the body as text and the consumers as one jsonb array. SQLSTATEs as api_import_consumers.';

REVOKE ALL ON FUNCTION fanfare.consumer_fields() FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.import_consumers(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.api_import_consumers(text, bytea, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.post_consumers_batch(json) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION fanfare.consumer_fields() TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare.import_consumers(text) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare.api_import_consumers(text, bytea, text) TO fanfare_api;
GRANT EXECUTE ON FUNCTION fanfare.post_consumers_batch(json) TO fanfare_api;

-- The organization the request acts for may use the API: it exists and is
-- not disabled.  For the PostgREST front, whose JWT roles may not read
-- fanfare.organizations; it answers for the current tenant only.
CREATE FUNCTION fanfare.current_organization_is_active() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT FROM fanfare.organizations o
                    WHERE o.id = fanfare.current_organization_id() AND o.disabled_at IS NULL)
$$;

COMMENT ON FUNCTION fanfare.current_organization_is_active() IS
    'Whether the current tenant is an organization of fanfare.organizations that is not disabled (the PostgREST front answers 403 otherwise).';

-- Rows come in through fanfare's validated INSERT, or from a role with the
-- owner's privileges (restores, a DBA's COPY): an API role may not write
-- the table directly (PostgREST would serve POST /consumers otherwise).
CREATE FUNCTION fanfare.consumers_insert_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'fanfare_consumers_insert_guard'
    LANGUAGE C;

COMMENT ON FUNCTION fanfare.consumers_insert_guard() IS
    'Trigger: refuses INSERT statements into fanfare.consumers that do not come from fanfare''s functions, unless the role has the table owner''s privileges.';

CREATE TRIGGER consumers_insert_guard BEFORE INSERT ON fanfare.consumers
    FOR EACH STATEMENT EXECUTE FUNCTION fanfare.consumers_insert_guard();

COMMENT ON TRIGGER consumers_insert_guard ON fanfare.consumers IS
    'Inserts come through fanfare.create_consumers() and fanfare.import_consumers(), which validate them (table owners excepted).';

REVOKE ALL ON FUNCTION fanfare.current_organization_is_active() FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.consumers_insert_guard() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fanfare.current_organization_is_active() TO fanfare_api;

------------------------------------------------------------------------------
-- Idempotency keys: retries that never create twice
------------------------------------------------------------------------------
-- A batch sent with a key (the gateway's Idempotency-Key header,
-- fanfare.idempotency_key from SQL) stores here, in its own transaction,
-- what a retry needs to answer the same 200 body: the ids, the time and the
-- actor (16 bytes a consumer, so at most about 8 kB a key at the default
-- fanfare.max_batch_size of 500).  Keys belong to a tenant.  API roles
-- cannot read or write the table: fanfare's C code reads and writes it as
-- the table's owner, for the request's tenant only (src/idempotency.c).

CREATE TABLE fanfare.idempotency_keys (
    organization_id uuid        NOT NULL,
    key             text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint     bytea       NOT NULL CHECK (length(fingerprint) = 32),
    created_at      timestamptz NOT NULL,
    created_by      text        NOT NULL,
    ids             uuid[]      NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (organization_id, key)
);

CREATE INDEX idempotency_keys_expires_at ON fanfare.idempotency_keys (expires_at);

-- a restored database still answers retries of what it holds
SELECT pg_catalog.pg_extension_config_dump('fanfare.idempotency_keys', '');

COMMENT ON TABLE fanfare.idempotency_keys IS
    'Idempotency keys of created batches, per organization: the SHA-256 of the request body and what the 200 answer was made of (ids in input order, createdAt, createdBy). Rows expire at expires_at (fanfare.idempotency_ttl after the request); fanfare.prune_idempotency_keys() deletes expired rows.';
COMMENT ON INDEX fanfare.idempotency_keys_expires_at IS
    'For fanfare.prune_idempotency_keys().';

CREATE FUNCTION fanfare.prune_idempotency_keys() RETURNS bigint
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH pruned AS (
        DELETE FROM fanfare.idempotency_keys k WHERE k.expires_at <= statement_timestamp()
        RETURNING 1
    )
    SELECT count(*) FROM pruned
$$;

COMMENT ON FUNCTION fanfare.prune_idempotency_keys() IS
    'Deletes expired idempotency keys (of every organization) and returns how many. Expired keys are already ignored; run it from cron or pg_cron, e.g. hourly, to keep the table small.';

REVOKE ALL ON TABLE fanfare.idempotency_keys FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.prune_idempotency_keys() FROM PUBLIC;

------------------------------------------------------------------------------
-- Shard API: what a fanfare_router database calls on this one
------------------------------------------------------------------------------
-- A database behind a router (router/, the fanfare_router extension) keeps
-- the consumers of the organizations placed on it; the router keeps the
-- directory (organizations, keys) and authenticates.  The router calls the
-- functions below through PL/Proxy, each call for one organization that it
-- names, as the NOLOGIN role fanfare_router: only that role may call them.
-- The shard_* functions set the tenant and the actor for the transaction
-- and run fanfare's own code, returning what the router needs to answer as
-- a single node would (the idempotency outcome, PostgREST's status and
-- headers).  The tenant_* functions move one organization's data between
-- shards (fanfare_router.move_organization); they act with the owner's
-- rights, row-level security and the insert guard notwithstanding.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'fanfare_router') THEN
        CREATE ROLE fanfare_router NOLOGIN;
        COMMENT ON ROLE fanfare_router IS
            'Role of fanfare_router databases on a shard: may call the shard_* and tenant_* functions, for any organization.';
    END IF;
END
$$;

CREATE FUNCTION fanfare.shard_wire_import(organization_id uuid, actor text, body bytea, idempotency_key text)
    RETURNS SETOF json
    AS 'MODULE_PATHNAME', 'fanfare_shard_wire_import'
    LANGUAGE C VOLATILE ROWS 500;

COMMENT ON FUNCTION fanfare.shard_wire_import(uuid, text, bytea, text) IS
    'Internal to shard_import_consumers: api_import_consumers for a tenant and an actor given by the router instead of a key.';

-- No SET clause on the row-returning functions (a SET costs a settings
-- round trip per row): every name is schema-qualified.
CREATE FUNCTION fanfare.shard_import_consumers(organization_id uuid, actor text, body bytea,
                                               idempotency_key text)
    RETURNS TABLE (consumer json, outcome text)
    LANGUAGE sql VOLATILE SECURITY DEFINER ROWS 500
AS $$
    SELECT c.consumer, pg_catalog.current_setting('fanfare.idempotency_outcome', true)
      FROM fanfare.shard_wire_import($1, $2, $3, $4) AS c(consumer)
$$;

COMMENT ON FUNCTION fanfare.shard_import_consumers(uuid, text, bytea, text) IS
    'For the router''s api_import_consumers: the gateway''s path (body bytes, Idempotency-Key header value) for the organization and actor the router authenticated; every row carries the idempotency outcome (created, replayed, or empty without a key).';

CREATE FUNCTION fanfare.shard_import_consumers_text(organization_id uuid, actor text, body text,
                                                    idempotency_key text)
    RETURNS TABLE (consumer json, outcome text)
    LANGUAGE sql VOLATILE SECURITY DEFINER ROWS 500
AS $$
    SELECT pg_catalog.set_config('fanfare.organization_id', $1::text, true),
           pg_catalog.set_config('fanfare.actor', $2, true),
           pg_catalog.set_config('fanfare.idempotency_key', COALESCE($4, ''), true);
    SELECT c.consumer, pg_catalog.current_setting('fanfare.idempotency_outcome', true)
      FROM fanfare.import_consumers($3) AS c(consumer)
$$;

COMMENT ON FUNCTION fanfare.shard_import_consumers_text(uuid, text, text, text) IS
    'For the router''s import_consumers: the bulk path for the router''s tenant and actor, with the router''s fanfare.idempotency_key (NULL: none); every row carries the idempotency outcome.';

CREATE FUNCTION fanfare.shard_create_consumers(organization_id uuid, actor text, payload jsonb,
                                               idempotency_key text,
                                               OUT consumers jsonb, OUT outcome text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('fanfare.organization_id', shard_create_consumers.organization_id::text, true);
    PERFORM set_config('fanfare.actor', shard_create_consumers.actor, true);
    PERFORM set_config('fanfare.idempotency_key', coalesce(shard_create_consumers.idempotency_key, ''), true);
    consumers := fanfare.create_consumers(shard_create_consumers.payload);
    outcome := current_setting('fanfare.idempotency_outcome', true);
END
$$;

COMMENT ON FUNCTION fanfare.shard_create_consumers(uuid, text, jsonb, text) IS
    'For the router''s create_consumers: create_consumers for the router''s tenant, actor and idempotency key, with the idempotency outcome.';

CREATE FUNCTION fanfare.shard_validate_consumers(organization_id uuid, payload jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('fanfare.organization_id', shard_validate_consumers.organization_id::text, true);
    RETURN fanfare.validate_consumers(shard_validate_consumers.payload);
END
$$;

COMMENT ON FUNCTION fanfare.shard_validate_consumers(uuid, jsonb) IS
    'For the router''s validate_consumers: the dry run for the router''s tenant.';

CREATE FUNCTION fanfare.shard_post_consumers_batch(organization_id uuid, actor text, body json,
                                                   request_headers text, idempotency_key text,
                                                   OUT response json, OUT status text, OUT headers text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('fanfare.organization_id', shard_post_consumers_batch.organization_id::text, true);
    PERFORM set_config('fanfare.actor', shard_post_consumers_batch.actor, true);
    PERFORM set_config('fanfare.idempotency_key', coalesce(shard_post_consumers_batch.idempotency_key, ''), true);
    PERFORM set_config('request.headers', coalesce(shard_post_consumers_batch.request_headers, ''), true);
    response := fanfare.post_consumers_batch(shard_post_consumers_batch.body);
    status := current_setting('response.status', true);
    headers := current_setting('response.headers', true);
END
$$;

COMMENT ON FUNCTION fanfare.shard_post_consumers_batch(uuid, text, json, text, text) IS
    'For the router''s post_consumers_batch: the PostgREST front for the router''s tenant and actor, with PostgREST''s request.headers; returns the body with response.status and response.headers. The organization must be registered here (tenant_register).';

CREATE FUNCTION fanfare.tenant_register(organization_id uuid, name text) RETURNS void
    LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO fanfare.organizations (id, name) VALUES (tenant_register.organization_id, tenant_register.name)
    ON CONFLICT (id) DO NOTHING
$$;

COMMENT ON FUNCTION fanfare.tenant_register(uuid, text) IS
    'Records an organization placed on this shard in fanfare.organizations (the router keeps the authoritative row, its keys and whether it is disabled).';

CREATE FUNCTION fanfare.tenant_export_consumers(organization_id uuid, after_id uuid, max_rows integer)
    RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.id), '[]')
      FROM (SELECT * FROM fanfare.consumers c
             WHERE c.organization_id = tenant_export_consumers.organization_id
               AND (tenant_export_consumers.after_id IS NULL OR c.id > tenant_export_consumers.after_id)
             ORDER BY c.id
             LIMIT tenant_export_consumers.max_rows) c
$$;

COMMENT ON FUNCTION fanfare.tenant_export_consumers(uuid, uuid, integer) IS
    'One page of an organization''s consumers for a tenant move: at most max_rows rows with id after after_id (NULL: from the first), in id order, as a jsonb array of rows.';

CREATE FUNCTION fanfare.tenant_import_consumers(organization_id uuid, rows jsonb) RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF EXISTS (SELECT FROM jsonb_array_elements(tenant_import_consumers.rows) r
                WHERE r ->> 'organization_id' IS DISTINCT FROM tenant_import_consumers.organization_id::text) THEN
        RAISE EXCEPTION 'rows of another organization in a tenant import'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO fanfare.consumers
    SELECT * FROM jsonb_populate_recordset(NULL::fanfare.consumers, tenant_import_consumers.rows);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION fanfare.tenant_import_consumers(uuid, jsonb) IS
    'Inserts a page of tenant_export_consumers into this shard as it is (ids, times and actors kept); every row must belong to the organization named.';

CREATE FUNCTION fanfare.tenant_export_idempotency_keys(organization_id uuid, after_key text, max_rows integer)
    RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(k) ORDER BY k.key), '[]')
      FROM (SELECT * FROM fanfare.idempotency_keys k
             WHERE k.organization_id = tenant_export_idempotency_keys.organization_id
               AND (tenant_export_idempotency_keys.after_key IS NULL OR k.key > tenant_export_idempotency_keys.after_key)
             ORDER BY k.key
             LIMIT tenant_export_idempotency_keys.max_rows) k
$$;

COMMENT ON FUNCTION fanfare.tenant_export_idempotency_keys(uuid, text, integer) IS
    'One page of an organization''s idempotency keys for a tenant move, in key order, as a jsonb array of rows.';

CREATE FUNCTION fanfare.tenant_import_idempotency_keys(organization_id uuid, rows jsonb) RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF EXISTS (SELECT FROM jsonb_array_elements(tenant_import_idempotency_keys.rows) r
                WHERE r ->> 'organization_id' IS DISTINCT FROM tenant_import_idempotency_keys.organization_id::text) THEN
        RAISE EXCEPTION 'rows of another organization in a tenant import'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO fanfare.idempotency_keys
    SELECT * FROM jsonb_populate_recordset(NULL::fanfare.idempotency_keys, tenant_import_idempotency_keys.rows);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION fanfare.tenant_import_idempotency_keys(uuid, jsonb) IS
    'Inserts a page of tenant_export_idempotency_keys into this shard as it is; every row must belong to the organization named.';

CREATE FUNCTION fanfare.tenant_summary(organization_id uuid,
                                       OUT consumers bigint, OUT idempotency_keys bigint, OUT fingerprint text)
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT count(*) FROM fanfare.consumers c WHERE c.organization_id = tenant_summary.organization_id),
           (SELECT count(*) FROM fanfare.idempotency_keys k WHERE k.organization_id = tenant_summary.organization_id),
           (SELECT md5(coalesce(string_agg(md5(to_jsonb(c)::text), '' ORDER BY c.id), '')
                       || '/' || coalesce((SELECT string_agg(md5(to_jsonb(k)::text), '' ORDER BY k.key)
                                             FROM fanfare.idempotency_keys k
                                            WHERE k.organization_id = tenant_summary.organization_id), ''))
              FROM fanfare.consumers c WHERE c.organization_id = tenant_summary.organization_id)
$$;

COMMENT ON FUNCTION fanfare.tenant_summary(uuid) IS
    'What this shard holds of an organization: its consumers and idempotency keys, counted, and one fingerprint of all their columns (equal on two shards when both hold the same rows).';

CREATE FUNCTION fanfare.tenant_delete(organization_id uuid) RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM fanfare.idempotency_keys k WHERE k.organization_id = tenant_delete.organization_id;
    DELETE FROM fanfare.consumers c WHERE c.organization_id = tenant_delete.organization_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM fanfare.organizations o WHERE o.id = tenant_delete.organization_id;
    RETURN n;
END
$$;

COMMENT ON FUNCTION fanfare.tenant_delete(uuid) IS
    'Deletes everything this shard holds of an organization (consumers, idempotency keys, its registration) and returns how many consumers: the last step of a tenant move, on the shard it left.';

REVOKE ALL ON FUNCTION fanfare.shard_wire_import(uuid, text, bytea, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.shard_import_consumers(uuid, text, bytea, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.shard_import_consumers_text(uuid, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.shard_create_consumers(uuid, text, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.shard_validate_consumers(uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.shard_post_consumers_batch(uuid, text, json, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.tenant_register(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.tenant_export_consumers(uuid, uuid, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.tenant_import_consumers(uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.tenant_export_idempotency_keys(uuid, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.tenant_import_idempotency_keys(uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.tenant_summary(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.tenant_delete(uuid) FROM PUBLIC;

GRANT USAGE ON SCHEMA fanfare TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.shard_import_consumers(uuid, text, bytea, text) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.shard_import_consumers_text(uuid, text, text, text) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.shard_create_consumers(uuid, text, jsonb, text) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.shard_validate_consumers(uuid, jsonb) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.shard_post_consumers_batch(uuid, text, json, text, text) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.tenant_register(uuid, text) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.tenant_export_consumers(uuid, uuid, integer) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.tenant_import_consumers(uuid, jsonb) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.tenant_export_idempotency_keys(uuid, text, integer) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.tenant_import_idempotency_keys(uuid, jsonb) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.tenant_summary(uuid) TO fanfare_router;
GRANT EXECUTE ON FUNCTION fanfare.tenant_delete(uuid) TO fanfare_router;
