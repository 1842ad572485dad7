-- Stand-in for the extension, used only by `bench/run.sh --without-fanfare`:
-- the contract's table plus SQL versions of the two tenant-context functions,
-- the row-level security policy and the API role, so that contenders (a),
-- (b) and (c) can be measured before the extension builds.  fanfare itself
-- is then reported as "not measured".

\i contract/consumers.sql

CREATE FUNCTION fanfare.current_organization_id() RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('fanfare.organization_id', true), '')::uuid
$$;

CREATE FUNCTION fanfare.current_actor() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('fanfare.actor', true), ''), current_user)
$$;

ALTER TABLE fanfare.consumers ENABLE ROW LEVEL SECURITY;
CREATE POLICY consumers_tenant_isolation ON fanfare.consumers
    USING (organization_id = fanfare.current_organization_id())
    WITH CHECK (organization_id = fanfare.current_organization_id());

CREATE ROLE fanfare_api NOLOGIN;
GRANT USAGE ON SCHEMA fanfare TO fanfare_api;
GRANT SELECT, INSERT ON fanfare.consumers TO fanfare_api;
