/* fanfare--0.2.1--0.3.0.sql: upgrade script for the fanfare extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION fanfare UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0's library replaces 0.2.1's (install it before the update); the SQL
-- objects that change are below, one section per change.

------------------------------------------------------------------------------
-- Rate limits (issue 20): requests per minute per organization
------------------------------------------------------------------------------
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

-- END rate limits section
