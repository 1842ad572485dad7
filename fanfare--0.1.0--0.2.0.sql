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
