/* fanfare_router--0.2.0--0.2.1.sql: upgrade script of the fanfare_router extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION fanfare_router UPDATE TO '0.2.1'" to load this file. \quit

------------------------------------------------------------------------------
-- Every SECURITY DEFINER function pins search_path
------------------------------------------------------------------------------
-- 0.2.0's routed calls (PL/Proxy) were SECURITY DEFINER without a SET
-- clause; fanfare.api_import_consumers and fanfare_router.route name the
-- functions and types they use with their schema now.

ALTER FUNCTION fanfare_router.shard_import_consumers(uuid, text, bytea, text)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION fanfare_router.shard_import_consumers_text(uuid, text, text, text)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION fanfare_router.shard_create_consumers(uuid, text, jsonb, text)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION fanfare_router.shard_validate_consumers(uuid, jsonb)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION fanfare_router.shard_post_consumers_batch(uuid, text, json, text, text)
    SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION fanfare.api_import_consumers(key text, body bytea, idempotency_key text DEFAULT NULL)
    RETURNS SETOF json
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
    SET client_min_messages = warning
AS $$
DECLARE
    tenant record;
    r record;
    first boolean := true;
    s text; m text; d text; h text;
BEGIN
    -- the key first, on the router: nothing is sent to a shard for an unknown key
    SELECT * INTO tenant FROM fanfare_router.authenticate_key(api_import_consumers.key);
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
        PERFORM fanfare_router.raise_shard_error(s, m, d, h);
    END;
END
$$;

CREATE OR REPLACE FUNCTION fanfare_router.route(organization_id uuid) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p integer;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(fanfare_router.lock_key(route.organization_id));
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

------------------------------------------------------------------------------
-- Tenant moves: the placement read under the lock, the live copy never
-- cleared, the lock released on error
------------------------------------------------------------------------------
-- 0.2.0 read the placement before it waited for the tenant's lock: a
-- second or retried call that waited for a first one then cleared the new,
-- live copy and copied the emptied source over it.  An error in the copy
-- left the session lock held.

CREATE OR REPLACE PROCEDURE fanfare_router.copy_organization(organization_id uuid, source integer, target integer,
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

CREATE OR REPLACE PROCEDURE fanfare_router.move_organization(organization_id uuid, target integer,
                                                  page_rows integer DEFAULT 1000)
    LANGUAGE plpgsql
AS $$
DECLARE
    org uuid := move_organization.organization_id;
    lock_id bigint := fanfare_router.lock_key(move_organization.organization_id);
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
    PERFORM pg_advisory_lock(lock_id);
    COMMIT;

    BEGIN
        SELECT p.partition INTO placed FROM fanfare_router.placements p WHERE p.organization_id = org;
        SELECT * INTO mv FROM fanfare_router.moves m WHERE m.organization_id = org;
        IF NOT FOUND THEN
            IF placed = target THEN
                -- already there (a retried or second call whose move is done)
                PERFORM pg_advisory_unlock(lock_id);
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
        PERFORM pg_advisory_unlock(lock_id);
        RAISE;
    END;
    COMMIT;

    IF mv.state = 'copying' THEN
        BEGIN
            CALL fanfare_router.copy_organization(org, mv.source, mv.target, page_rows);
            UPDATE fanfare_router.placements p SET partition = mv.target, placed_at = now() WHERE p.organization_id = org;
            UPDATE fanfare_router.moves m SET state = 'deleting' WHERE m.organization_id = org;
        EXCEPTION WHEN query_canceled OR OTHERS THEN
            PERFORM pg_advisory_unlock(lock_id);
            RAISE;
        END;
        COMMIT;
    END IF;

    BEGIN
        PERFORM fanfare_router.tenant_delete(mv.source, org);
        DELETE FROM fanfare_router.moves m WHERE m.organization_id = org;
    EXCEPTION WHEN query_canceled OR OTHERS THEN
        PERFORM pg_advisory_unlock(lock_id);
        RAISE;
    END;
    COMMIT;
    PERFORM pg_advisory_unlock(lock_id);
END
$$;

COMMENT ON PROCEDURE fanfare_router.move_organization(uuid, integer, integer) IS
    'Moves an organization to another partition (copying page_rows rows per remote call): its calls wait (its advisory lock, exclusively), its consumers and idempotency keys are copied and checked, the placement flips, the old rows are deleted, its calls resume. Other organizations are not held. Resumable: after a crash or an error, call it again with the same target; a call that waited for another move of the same organization acts on what that move left. The lock is released on error. Run it with CALL, outside a transaction block.';
