/* fanfare--0.2.0--0.2.1.sql: upgrade script for the fanfare extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION fanfare UPDATE TO '0.2.1'" to load this file. \quit

------------------------------------------------------------------------------
-- Every SECURITY DEFINER function pins search_path
------------------------------------------------------------------------------
-- 0.2.0 left the SET clause off api_import_consumers, shard_import_consumers
-- and shard_import_consumers_text.  Without it, a caller's own pg_temp.text
-- (a domain whose CHECK runs the caller's function) was used by a cast in
-- the owner's rights: the router's role could make itself superuser.  The
-- functions below are 0.2.1's, each with SET search_path = pg_catalog,
-- pg_temp and the functions and types it names schema-qualified; CREATE OR
-- REPLACE keeps their owner, privileges and comments.

ALTER FUNCTION fanfare.api_import_consumers(text, bytea, text)
    SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION fanfare.shard_import_consumers(organization_id uuid, actor text, body bytea,
                                               idempotency_key text)
    RETURNS TABLE (consumer json, outcome text)
    LANGUAGE sql VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.consumer, pg_catalog.current_setting('fanfare.idempotency_outcome', true)
      FROM fanfare.shard_wire_import($1, $2, $3, $4) AS c(consumer)
$$;

CREATE OR REPLACE FUNCTION fanfare.shard_import_consumers_text(organization_id uuid, actor text, body text,
                                                    idempotency_key text)
    RETURNS TABLE (consumer json, outcome text)
    LANGUAGE sql VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.set_config('fanfare.organization_id', $1::pg_catalog.text, true),
           pg_catalog.set_config('fanfare.actor', $2, true),
           pg_catalog.set_config('fanfare.idempotency_key', COALESCE($4, ''), true);
    SELECT c.consumer, pg_catalog.current_setting('fanfare.idempotency_outcome', true)
      FROM fanfare.import_consumers($3) AS c(consumer)
$$;

CREATE OR REPLACE FUNCTION fanfare.shard_create_consumers(organization_id uuid, actor text, payload jsonb,
                                               idempotency_key text,
                                               OUT consumers jsonb, OUT outcome text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.set_config('fanfare.organization_id', shard_create_consumers.organization_id::pg_catalog.text, true);
    PERFORM pg_catalog.set_config('fanfare.actor', shard_create_consumers.actor, true);
    PERFORM pg_catalog.set_config('fanfare.idempotency_key', coalesce(shard_create_consumers.idempotency_key, ''), true);
    consumers := fanfare.create_consumers(shard_create_consumers.payload);
    outcome := pg_catalog.current_setting('fanfare.idempotency_outcome', true);
END
$$;

CREATE OR REPLACE FUNCTION fanfare.shard_validate_consumers(organization_id uuid, payload jsonb) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.set_config('fanfare.organization_id', shard_validate_consumers.organization_id::pg_catalog.text, true);
    RETURN fanfare.validate_consumers(shard_validate_consumers.payload);
END
$$;

CREATE OR REPLACE FUNCTION fanfare.shard_post_consumers_batch(organization_id uuid, actor text, body json,
                                                   request_headers text, idempotency_key text,
                                                   OUT response json, OUT status text, OUT headers text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.set_config('fanfare.organization_id', shard_post_consumers_batch.organization_id::pg_catalog.text, true);
    PERFORM pg_catalog.set_config('fanfare.actor', shard_post_consumers_batch.actor, true);
    PERFORM pg_catalog.set_config('fanfare.idempotency_key', coalesce(shard_post_consumers_batch.idempotency_key, ''), true);
    PERFORM pg_catalog.set_config('request.headers', coalesce(shard_post_consumers_batch.request_headers, ''), true);
    response := fanfare.post_consumers_batch(shard_post_consumers_batch.body);
    status := pg_catalog.current_setting('response.status', true);
    headers := pg_catalog.current_setting('response.headers', true);
END
$$;

CREATE OR REPLACE FUNCTION fanfare.tenant_export_consumers(organization_id uuid, after_id uuid, max_rows integer)
    RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(c) ORDER BY c.id), '[]')
      FROM (SELECT * FROM fanfare.consumers c
             WHERE c.organization_id = tenant_export_consumers.organization_id
               AND (tenant_export_consumers.after_id IS NULL OR c.id > tenant_export_consumers.after_id)
             ORDER BY c.id
             LIMIT tenant_export_consumers.max_rows) c
$$;

CREATE OR REPLACE FUNCTION fanfare.tenant_import_consumers(organization_id uuid, rows jsonb) RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(tenant_import_consumers.rows) r
                WHERE r ->> 'organization_id' IS DISTINCT FROM tenant_import_consumers.organization_id::pg_catalog.text) THEN
        RAISE EXCEPTION 'rows of another organization in a tenant import'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO fanfare.consumers
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::fanfare.consumers, tenant_import_consumers.rows);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION fanfare.tenant_export_idempotency_keys(organization_id uuid, after_key text, max_rows integer)
    RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(k) ORDER BY k.key), '[]')
      FROM (SELECT * FROM fanfare.idempotency_keys k
             WHERE k.organization_id = tenant_export_idempotency_keys.organization_id
               AND (tenant_export_idempotency_keys.after_key IS NULL OR k.key > tenant_export_idempotency_keys.after_key)
             ORDER BY k.key
             LIMIT tenant_export_idempotency_keys.max_rows) k
$$;

CREATE OR REPLACE FUNCTION fanfare.tenant_import_idempotency_keys(organization_id uuid, rows jsonb) RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(tenant_import_idempotency_keys.rows) r
                WHERE r ->> 'organization_id' IS DISTINCT FROM tenant_import_idempotency_keys.organization_id::pg_catalog.text) THEN
        RAISE EXCEPTION 'rows of another organization in a tenant import'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO fanfare.idempotency_keys
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::fanfare.idempotency_keys, tenant_import_idempotency_keys.rows);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION fanfare.tenant_summary(organization_id uuid,
                                       OUT consumers bigint, OUT idempotency_keys bigint, OUT fingerprint text)
    LANGUAGE sql STABLE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT pg_catalog.count(*) FROM fanfare.consumers c WHERE c.organization_id = tenant_summary.organization_id),
           (SELECT pg_catalog.count(*) FROM fanfare.idempotency_keys k WHERE k.organization_id = tenant_summary.organization_id),
           (SELECT pg_catalog.md5(coalesce(pg_catalog.string_agg(pg_catalog.md5(pg_catalog.to_jsonb(c)::pg_catalog.text), '' ORDER BY c.id), '')
                       || '/' || coalesce((SELECT pg_catalog.string_agg(pg_catalog.md5(pg_catalog.to_jsonb(k)::pg_catalog.text), '' ORDER BY k.key)
                                             FROM fanfare.idempotency_keys k
                                            WHERE k.organization_id = tenant_summary.organization_id), ''))
              FROM fanfare.consumers c WHERE c.organization_id = tenant_summary.organization_id)
$$;
