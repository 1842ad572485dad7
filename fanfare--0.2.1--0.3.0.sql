/* fanfare--0.2.1--0.3.0.sql: upgrade script for the fanfare extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION fanfare UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0's library replaces 0.2.1's (install it before the update); the SQL
-- objects that change are below, one section per change.

------------------------------------------------------------------------------
-- BEGIN webhooks section (issue 19): consumer.created webhooks
------------------------------------------------------------------------------
-- A transactional outbox: an AFTER INSERT statement trigger on
-- fanfare.consumers writes one event per created consumer, and one row per
-- statement in fanfare.webhook_event_batches naming those events and the
-- endpoints subscribed at that moment, in the inserting transaction.  The
-- relay's claim (fanfare.expand_webhook_events) turns each batch into one
-- delivery per (event, subscribed endpoint) in its own transaction, so the
-- inserting transaction writes no delivery rows.  So every
-- path that creates consumers (the wire path, the jsonb functions, PostgREST,
-- a shard behind the router) is covered, and a batch that rolls back leaves
-- nothing.  An organization without an enabled endpoint subscribed to
-- consumer.created gets no event rows at all.  fanfare-relay (src/relay)
-- claims due deliveries, signs and sends them, and records each attempt,
-- through the SECURITY DEFINER functions granted to fanfare_relay; no API
-- role can read a secret or register an endpoint.

CREATE TABLE fanfare.webhook_endpoints (
    organization_id      uuid        NOT NULL,
    id                   text        NOT NULL CHECK (id ~ '^whe_[0-9a-f]{32}$'),
    url                  text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events               text[]      NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 32),
    secret               text        NOT NULL CHECK (secret ~ '^whsec_'),
    enabled              boolean     NOT NULL DEFAULT true,
    disabled_reason      text,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    first_failure_at     timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id)
);

CREATE INDEX webhook_endpoints_id ON fanfare.webhook_endpoints (id);

COMMENT ON TABLE fanfare.webhook_endpoints IS
    'Webhook endpoints of organizations: URL, subscribed event types, signing secret (whsec_..., readable by the owner and fanfare-relay only), whether enabled, and the current streak of failed attempts.';

CREATE TABLE fanfare.webhook_events (
    organization_id uuid        NOT NULL,
    id              uuid        NOT NULL,
    type            text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    email           text,
    phone           text,
    full_name       text,
    data            json,
    PRIMARY KEY (organization_id, id)
);

COMMENT ON TABLE fanfare.webhook_events IS
    'The outbox: one row per event, written in the transaction that caused it. consumer.created: id is the consumer''s id (so a consumer has one event at most), occurred_at its createdAt, and email, phone and full_name what the envelope''s data needs, nothing more of the consumer. Other types (webhook.delivery.failed) keep their data object in data.';

CREATE TABLE fanfare.webhook_deliveries (
    organization_id uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    event_id        uuid        NOT NULL,
    endpoint_id     text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (organization_id, id)
);

CREATE INDEX webhook_deliveries_due ON fanfare.webhook_deliveries (organization_id, endpoint_id, next_attempt_at)
    WHERE status = 'pending';

COMMENT ON TABLE fanfare.webhook_deliveries IS
    'One row per (event, endpoint): the envelope''s id is whk_ and id''s 32 hex digits, the same on every retry. pending rows are due at next_attempt_at; a relay that claims one moves next_attempt_at past its timeout (a lease), so a killed relay''s claims come due again.';

CREATE TABLE fanfare.webhook_attempts (
    organization_id uuid        NOT NULL,
    delivery_id     uuid        NOT NULL,
    attempt         integer     NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     integer     NOT NULL,
    http_status     integer,
    error           text,
    PRIMARY KEY (organization_id, delivery_id, attempt)
);

COMMENT ON TABLE fanfare.webhook_attempts IS
    'Every attempt of every delivery, as fanfare-relay recorded it: HTTP status (NULL when none came back) and error.';

CREATE TABLE fanfare.webhook_event_batches (
    organization_id uuid        NOT NULL,
    endpoint_ids    text[]      NOT NULL,
    event_ids       uuid[]      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE fanfare.webhook_event_batches IS
    'Events not yet expanded into deliveries: one row per inserting statement and organization, with the endpoints subscribed to the events when they were written. fanfare.expand_webhook_events (called by each claim) deletes a row and writes its deliveries in one transaction.';

SELECT pg_catalog.pg_extension_config_dump('fanfare.webhook_endpoints', '');
SELECT pg_catalog.pg_extension_config_dump('fanfare.webhook_events', '');
SELECT pg_catalog.pg_extension_config_dump('fanfare.webhook_deliveries', '');
SELECT pg_catalog.pg_extension_config_dump('fanfare.webhook_attempts', '');
SELECT pg_catalog.pg_extension_config_dump('fanfare.webhook_event_batches', '');

-- The trigger function, in C (src/outbox.c).  A look-up of the inserted
-- rows' organizations in the endpoints table's primary key (nothing while
-- that table has no block) is all an insert costs unless an organization
-- of its rows has an endpoint subscribed to consumer.created; the setting
-- fanfare_webhook.outbox = off skips even that for a transaction (a tenant
-- move copies consumers that exist already).  Otherwise it writes the events
-- (one INSERT ... SELECT from the transition table) and one batch row per
-- organization; deliveries come later, from fanfare.expand_webhook_events,
-- so an endpoint costs the insert nothing more.  Not SECURITY DEFINER: it
-- switches to the table's owner around its own write only, whose every name
-- is qualified, so the inserting role needs no rights on the webhook tables
-- and its search_path does not matter, without the cost of a SECURITY
-- DEFINER call.
CREATE FUNCTION fanfare.consumers_outbox() RETURNS trigger
    AS 'MODULE_PATHNAME', 'fanfare_consumers_outbox'
    LANGUAGE C;

COMMENT ON FUNCTION fanfare.consumers_outbox() IS
    'Trigger: writes a consumer.created event per inserted consumer of an organization with an enabled endpoint subscribed to it, and a row in webhook_event_batches naming the events and those endpoints (expanded into deliveries by expand_webhook_events), in the same transaction; then notifies fanfare_webhooks (sent at commit).';

-- Turns up to max_batches rows of webhook_event_batches (FOR UPDATE SKIP
-- LOCKED, so concurrent relays take different ones) into one pending
-- delivery per (event, endpoint named in the row that still exists), and
-- deletes them, in the caller's transaction.  Returns how many deliveries.
CREATE FUNCTION fanfare.expand_webhook_events(max_batches integer DEFAULT NULL) RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH taken AS (
        DELETE FROM fanfare.webhook_event_batches q
         WHERE q.ctid = ANY (ARRAY(SELECT t.ctid FROM fanfare.webhook_event_batches t
                                    LIMIT expand_webhook_events.max_batches
                                      FOR UPDATE SKIP LOCKED))
        RETURNING q.organization_id, q.endpoint_ids, q.event_ids, q.created_at
    ), written AS (
        INSERT INTO fanfare.webhook_deliveries (organization_id, event_id, endpoint_id, created_at)
        SELECT t.organization_id, v.id, e.id, t.created_at
          FROM taken t
         CROSS JOIN LATERAL pg_catalog.unnest(t.endpoint_ids) AS e(id)
         CROSS JOIN LATERAL pg_catalog.unnest(t.event_ids) AS v(id)
         WHERE EXISTS (SELECT FROM fanfare.webhook_endpoints x
                        WHERE x.organization_id = t.organization_id AND x.id = e.id)
        RETURNING 1
    )
    SELECT pg_catalog.count(*) FROM written
$$;

COMMENT ON FUNCTION fanfare.expand_webhook_events(integer) IS
    'Writes the pending deliveries of events queued in webhook_event_batches (up to max_batches rows, all when NULL): one per (event, endpoint subscribed when the event was written, if it still exists). Each claim_webhook_deliveries calls it first; an owner may call it to see every delivery in webhook_deliveries at once. Returns how many deliveries.';

CREATE TRIGGER consumers_outbox AFTER INSERT ON fanfare.consumers
    REFERENCING NEW TABLE AS new_consumers
    FOR EACH STATEMENT EXECUTE FUNCTION fanfare.consumers_outbox();

COMMENT ON TRIGGER consumers_outbox ON fanfare.consumers IS
    'The webhook outbox: consumer.created events and their deliveries, in the transaction that creates the consumers.';

-- Raises 22023 unless url is one fanfare-relay may send to: https://, or
-- http:// to a loopback host; no literal private, link-local, metadata or
-- unspecified address, nor a numeric host in a non-canonical form (which
-- resolvers read as an address), unless fanfare_webhook.allow_private_urls
-- is on in the server's configuration files (postgresql.conf, read through
-- pg_file_settings: a superuser's setting; a session's SET does not count).
CREATE FUNCTION fanfare.webhook_url_check(url text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m        text[];
    scheme   text;
    host     text;
    addr     inet;
    loopback boolean := false;
    private  boolean := false;
    allowed  boolean;
BEGIN
    m := pg_catalog.regexp_match(url, '^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^/?#@]*@)?(\[[0-9A-Fa-f:.]+\]|[^/?#:\[\]\s@]+)(?::([0-9]{1,5}))?([/?#][^\s]*)?$');
    IF m IS NULL THEN
        RAISE EXCEPTION 'invalid webhook url'
            USING ERRCODE = '22023', DETAIL = 'A webhook URL is https://host[:port]/path, without spaces.';
    END IF;
    scheme := pg_catalog.lower(m[1]);
    host := pg_catalog.lower(pg_catalog.btrim(m[2], '[]'));
    IF scheme NOT IN ('https', 'http') THEN
        RAISE EXCEPTION 'webhook url must be https'
            USING ERRCODE = '22023', DETAIL = pg_catalog.format('The scheme %s is not supported.', scheme);
    END IF;
    IF m[3] IS NOT NULL AND (m[3]::integer < 1 OR m[3]::integer > 65535) THEN
        RAISE EXCEPTION 'invalid webhook url'
            USING ERRCODE = '22023', DETAIL = 'The port is out of range.';
    END IF;
    IF host ~ '^[0-9a-fx.]+$' AND host !~ '[g-wyz]' AND host ~ '^[0-9.x]' AND host ~ '[0-9]' THEN
        IF host !~ '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$' THEN
            RAISE EXCEPTION 'invalid webhook url'
                USING ERRCODE = '22023', DETAIL = 'A numeric host must be a dotted quad in canonical form.';
        END IF;
    END IF;
    BEGIN
        addr := host::inet;
    EXCEPTION WHEN invalid_text_representation THEN
        addr := NULL;
    END;
    IF addr IS NOT NULL THEN
        loopback := addr << '127.0.0.0/8'::inet OR addr = '::1'::inet;
        private := addr << '10.0.0.0/8'::inet OR addr << '172.16.0.0/12'::inet
                OR addr << '192.168.0.0/16'::inet OR addr << '169.254.0.0/16'::inet
                OR addr << '100.64.0.0/10'::inet OR addr << '0.0.0.0/8'::inet
                OR addr << 'fc00::/7'::inet OR addr << 'fe80::/10'::inet
                OR addr = '::'::inet OR addr << '::ffff:0:0/96'::inet;
    ELSE
        loopback := host = 'localhost' OR host LIKE '%.localhost';
        private := host IN ('metadata', 'metadata.google.internal', 'instance-data', 'instance-data.ec2.internal');
    END IF;
    -- the configuration files, which only a superuser reads (and writes)
    BEGIN
        allowed := coalesce((SELECT f.setting IN ('on', 'true', 'yes', '1')
                               FROM pg_catalog.pg_file_settings f
                              WHERE f.name = 'fanfare_webhook.allow_private_urls' AND f.error IS NULL
                              ORDER BY f.seqno DESC LIMIT 1), false);
    EXCEPTION WHEN insufficient_privilege THEN
        allowed := false;
    END;
    IF private AND NOT allowed THEN
        RAISE EXCEPTION 'webhook url names a private address'
            USING ERRCODE = '22023',
                  DETAIL = pg_catalog.format('The host %s is a private, link-local or metadata address.', host),
                  HINT = 'A superuser can allow such hosts with fanfare_webhook.allow_private_urls = on in postgresql.conf.';
    END IF;
    IF scheme = 'http' AND NOT loopback AND NOT allowed THEN
        RAISE EXCEPTION 'webhook url must be https'
            USING ERRCODE = '22023',
                  DETAIL = 'http:// is allowed to loopback hosts only.',
                  HINT = 'A superuser can allow http:// with fanfare_webhook.allow_private_urls = on in postgresql.conf.';
    END IF;
END
$$;

COMMENT ON FUNCTION fanfare.webhook_url_check(text) IS
    'Raises 22023 unless the URL may be a webhook endpoint: https://, or http:// to loopback; never a literal private, link-local or metadata address (nor a non-canonical numeric host), unless fanfare_webhook.allow_private_urls is on in the server configuration.';

-- whsec_ and 32 random bytes, base64url
CREATE FUNCTION fanfare.new_webhook_secret() RETURNS text
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'whsec_' || pg_catalog.translate(pg_catalog.rtrim(pg_catalog.encode(fanfare.random_key_bytes(32), 'base64'), '='), '+/', '-_')
$$;

COMMENT ON FUNCTION fanfare.new_webhook_secret() IS
    'A new webhook signing secret: whsec_ and 32 bytes of the operating system''s CSPRNG, base64url.';

CREATE FUNCTION fanfare.create_webhook_endpoint(organization_id uuid, url text,
        events text[] DEFAULT '{consumer.created}', OUT id text, OUT secret text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF organization_id IS NULL OR url IS NULL OR events IS NULL THEN
        RAISE EXCEPTION 'organization_id, url and events are required' USING ERRCODE = '22004';
    END IF;
    IF cardinality(events) = 0
       OR EXISTS (SELECT FROM unnest(events) t WHERE t IS NULL OR t NOT IN ('consumer.created', 'webhook.delivery.failed')) THEN
        RAISE EXCEPTION 'unsupported webhook event type'
            USING ERRCODE = '22023', DETAIL = 'The event types fanfare sends are consumer.created and webhook.delivery.failed.';
    END IF;
    PERFORM fanfare.webhook_url_check(url);
    id := 'whe_' || replace(gen_random_uuid()::text, '-', '');
    secret := fanfare.new_webhook_secret();
    INSERT INTO fanfare.webhook_endpoints (organization_id, id, url, events, secret)
    VALUES (create_webhook_endpoint.organization_id, create_webhook_endpoint.id, create_webhook_endpoint.url,
            ARRAY(SELECT DISTINCT t FROM unnest(create_webhook_endpoint.events) t ORDER BY 1),
            create_webhook_endpoint.secret);
END
$$;

COMMENT ON FUNCTION fanfare.create_webhook_endpoint(uuid, text, text[]) IS
    'Registers a webhook endpoint of an organization (URL rules: fanfare.webhook_url_check) for the event types given (consumer.created, webhook.delivery.failed) and returns its id (whe_...) and signing secret (whsec_...). The secret is stored, so that fanfare-relay can sign; show it to the receiver''s owner once.';

CREATE FUNCTION fanfare.rotate_webhook_secret(id text) RETURNS text
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := fanfare.new_webhook_secret();
BEGIN
    UPDATE fanfare.webhook_endpoints e SET secret = s WHERE e.id = rotate_webhook_secret.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook endpoint % does not exist', rotate_webhook_secret.id USING ERRCODE = '22023';
    END IF;
    RETURN s;
END
$$;

COMMENT ON FUNCTION fanfare.rotate_webhook_secret(text) IS
    'Replaces the endpoint''s signing secret at once and returns the new one. Attempts claimed before the rotation may still arrive signed with the old secret: the receiver accepts both until it has seen the new one work.';

CREATE FUNCTION fanfare.disable_webhook_endpoint(id text) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE fanfare.webhook_endpoints e SET enabled = false, disabled_reason = 'disabled by the owner'
     WHERE e.id = disable_webhook_endpoint.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook endpoint % does not exist', disable_webhook_endpoint.id USING ERRCODE = '22023';
    END IF;
END
$$;

COMMENT ON FUNCTION fanfare.disable_webhook_endpoint(text) IS
    'Stops deliveries to the endpoint; its pending deliveries wait (and new events are not queued for it) until enable_webhook_endpoint.';

CREATE FUNCTION fanfare.enable_webhook_endpoint(id text) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE fanfare.webhook_endpoints e
       SET enabled = true, disabled_reason = NULL, consecutive_failures = 0, first_failure_at = NULL
     WHERE e.id = enable_webhook_endpoint.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook endpoint % does not exist', enable_webhook_endpoint.id USING ERRCODE = '22023';
    END IF;
    PERFORM pg_notify('fanfare_webhooks', '');
END
$$;

COMMENT ON FUNCTION fanfare.enable_webhook_endpoint(text) IS
    'Enables the endpoint again (after disable_webhook_endpoint, a 410 or the consecutive-failure rule) and clears its failure streak; its pending deliveries resume.';

CREATE FUNCTION fanfare.delete_webhook_endpoint(id text) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org uuid;
BEGIN
    DELETE FROM fanfare.webhook_endpoints e WHERE e.id = delete_webhook_endpoint.id
    RETURNING e.organization_id INTO org;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook endpoint % does not exist', delete_webhook_endpoint.id USING ERRCODE = '22023';
    END IF;
    DELETE FROM fanfare.webhook_attempts a
     USING fanfare.webhook_deliveries d
     WHERE d.organization_id = org AND d.endpoint_id = delete_webhook_endpoint.id
       AND a.organization_id = d.organization_id AND a.delivery_id = d.id;
    DELETE FROM fanfare.webhook_deliveries d
     WHERE d.organization_id = org AND d.endpoint_id = delete_webhook_endpoint.id;
END
$$;

COMMENT ON FUNCTION fanfare.delete_webhook_endpoint(text) IS
    'Deletes the endpoint with its deliveries and their attempts (events stay until prune_webhook_events).';

CREATE FUNCTION fanfare.webhook_endpoints(organization_id uuid DEFAULT NULL)
    RETURNS TABLE (organization_id uuid, id text, url text, events text[], enabled boolean,
                   disabled_reason text, consecutive_failures integer, created_at timestamptz)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.organization_id, e.id, e.url, e.events, e.enabled, e.disabled_reason, e.consecutive_failures, e.created_at
      FROM fanfare.webhook_endpoints e
     WHERE webhook_endpoints.organization_id IS NULL OR e.organization_id = webhook_endpoints.organization_id
     ORDER BY e.created_at, e.id
$$;

COMMENT ON FUNCTION fanfare.webhook_endpoints(uuid) IS
    'The webhook endpoints (of one organization, or all), without their secrets.';

CREATE FUNCTION fanfare.webhook_deliveries(endpoint_id text, max_rows integer DEFAULT 100)
    RETURNS TABLE (id text, event_id uuid, event_type text, status text, attempts integer,
                   last_attempt_at timestamptz, last_status integer, last_error text,
                   next_attempt_at timestamptz, created_at timestamptz)
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT fanfare.expand_webhook_events();
    SELECT 'whk_' || replace(d.id::text, '-', ''), d.event_id, v.type, d.status, d.attempts, d.last_attempt_at, d.last_status, d.last_error,
           CASE WHEN d.status = 'pending' THEN d.next_attempt_at END, d.created_at
      FROM fanfare.webhook_endpoints e
      JOIN fanfare.webhook_deliveries d ON d.organization_id = e.organization_id AND d.endpoint_id = e.id
      JOIN fanfare.webhook_events v ON v.organization_id = d.organization_id AND v.id = d.event_id
     WHERE e.id = webhook_deliveries.endpoint_id
     ORDER BY d.created_at DESC, d.id
     LIMIT webhook_deliveries.max_rows
$$;

COMMENT ON FUNCTION fanfare.webhook_deliveries(text, integer) IS
    'The newest deliveries of an endpoint (after expand_webhook_events): status (pending, delivered, failed), attempts made, the last attempt''s time, HTTP status and error. Every attempt is in fanfare.webhook_attempts.';

CREATE FUNCTION fanfare.replay_webhook_events(endpoint text, "from" timestamptz, "to" timestamptz) RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO fanfare.webhook_deliveries (organization_id, event_id, endpoint_id)
    SELECT v.organization_id, v.id, e.id
      FROM fanfare.webhook_endpoints e
      JOIN fanfare.webhook_events v ON v.organization_id = e.organization_id
     WHERE e.id = replay_webhook_events.endpoint
       AND v.occurred_at >= replay_webhook_events."from" AND v.occurred_at < replay_webhook_events."to"
       AND v.type = ANY (e.events);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 AND NOT EXISTS (SELECT FROM fanfare.webhook_endpoints e WHERE e.id = replay_webhook_events.endpoint) THEN
        RAISE EXCEPTION 'webhook endpoint % does not exist', replay_webhook_events.endpoint USING ERRCODE = '22023';
    END IF;
    PERFORM pg_notify('fanfare_webhooks', '');
    RETURN n;
END
$$;

COMMENT ON FUNCTION fanfare.replay_webhook_events(text, timestamptz, timestamptz) IS
    'Queues again, as new deliveries (new ids), every event of the endpoint''s organization and subscribed types that occurred in [from, to) and is still kept (see prune_webhook_events); returns how many.';

CREATE FUNCTION fanfare.prune_webhook_events(keep interval DEFAULT '30 days') RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM fanfare.expand_webhook_events();
    WITH gone AS (
        DELETE FROM fanfare.webhook_deliveries d
         WHERE d.status <> 'pending' AND d.finished_at < now() - keep
        RETURNING d.organization_id, d.id
    )
    DELETE FROM fanfare.webhook_attempts a USING gone g
     WHERE a.organization_id = g.organization_id AND a.delivery_id = g.id;
    DELETE FROM fanfare.webhook_events v
     WHERE v.occurred_at < now() - keep
       AND NOT EXISTS (SELECT FROM fanfare.webhook_deliveries d
                        WHERE d.organization_id = v.organization_id AND d.event_id = v.id);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION fanfare.prune_webhook_events(interval) IS
    'Deletes delivered and failed deliveries (with their attempts) finished longer ago than keep (30 days by default), then the events older than keep that no delivery needs; returns how many events. Run it from cron or pg_cron, e.g. daily. Pending deliveries are never pruned.';

-- fanfare-relay's claim: up to max_rows due deliveries of enabled endpoints,
-- at most per_endpoint of each endpoint less what the caller has in flight
-- there (busy_ids, busy_counts), each leased for lease_seconds (next_attempt_at
-- moves past the lease; record_webhook_attempt settles it).  Returns what
-- the request needs: the endpoint, its secret, the body and the attempt.
CREATE FUNCTION fanfare.claim_webhook_deliveries(max_rows integer, lease_seconds integer,
        per_endpoint integer, busy_ids text[], busy_counts integer[])
    RETURNS TABLE (organization_id uuid, delivery_id text, endpoint_id text, url text, secret text,
                   event_type text, attempt integer, original_time text, body text)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT fanfare.expand_webhook_events(64);
    WITH busy AS (
        SELECT b.id, b.n
          FROM ROWS FROM (pg_catalog.unnest(claim_webhook_deliveries.busy_ids),
                          pg_catalog.unnest(claim_webhook_deliveries.busy_counts)) AS b(id, n)
    ), chosen AS (
        -- endpoint by endpoint, so that one endpoint's backlog never hides another's
        SELECT c.organization_id, c.id
          FROM fanfare.webhook_endpoints e
          CROSS JOIN LATERAL (
                SELECT d.organization_id, d.id, d.next_attempt_at
                  FROM fanfare.webhook_deliveries d
                 WHERE d.organization_id = e.organization_id AND d.endpoint_id = e.id
                   AND d.status = 'pending' AND d.next_attempt_at <= pg_catalog.now()
                 ORDER BY d.next_attempt_at
                 LIMIT greatest(claim_webhook_deliveries.per_endpoint
                                           - coalesce((SELECT b.n FROM busy b WHERE b.id = e.id), 0), 0)
                   FOR UPDATE OF d SKIP LOCKED) c
         WHERE e.enabled
         ORDER BY c.next_attempt_at
         LIMIT claim_webhook_deliveries.max_rows
    ), leased AS (
        UPDATE fanfare.webhook_deliveries d
           SET next_attempt_at = pg_catalog.now() + pg_catalog.make_interval(secs => claim_webhook_deliveries.lease_seconds),
               attempts = d.attempts + 1
          FROM chosen c
         WHERE d.organization_id = c.organization_id AND d.id = c.id
        RETURNING d.organization_id, d.id, d.endpoint_id, d.event_id, d.attempts
    )
    SELECT l.organization_id, 'whk_' || pg_catalog.replace(l.id::text, '-', ''), l.endpoint_id, e.url, e.secret,
           v.type, l.attempts, t.iso,
           '{"id":"whk_' || pg_catalog.replace(l.id::text, '-', '') || '","type":' || pg_catalog.to_json(v.type)::text
           || ',"timestamp":"' || t.iso || '","organizationId":"' || l.organization_id::text || '","data":'
           || CASE WHEN v.type = 'consumer.created'
                   THEN '{"consumerId":"' || v.id::text
                        || '","email":' || coalesce(pg_catalog.to_json(v.email)::text, 'null')
                        || ',"phone":' || coalesce(pg_catalog.to_json(v.phone)::text, 'null')
                        || ',"fullName":' || coalesce(pg_catalog.to_json(v.full_name)::text, 'null')
                        || ',"createdAt":"' || t.iso || '","source":"api"}'
                   ELSE v.data::text END
           || '}'
      FROM leased l
      JOIN fanfare.webhook_endpoints e ON e.organization_id = l.organization_id AND e.id = l.endpoint_id
      JOIN fanfare.webhook_events v ON v.organization_id = l.organization_id AND v.id = l.event_id
      CROSS JOIN LATERAL (SELECT pg_catalog.to_char(v.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS iso) t
$$;

COMMENT ON FUNCTION fanfare.claim_webhook_deliveries(integer, integer, integer, text[], integer[]) IS
    'For fanfare-relay: expands queued events into deliveries (expand_webhook_events, 64 batches at most), then claims due deliveries (FOR UPDATE SKIP LOCKED, so relays share the work), leases them for lease_seconds and returns, for each, the endpoint''s URL and secret, the attempt number and the envelope to send.';

-- fanfare-relay's record of one attempt (http_status NULL: no response).
-- 2xx: delivered.  410: failed, and the endpoint is disabled.  Else a retry
-- after retry_schedule[attempt] seconds, or, past the schedule, failed and
-- a webhook.delivery.failed event for the organization's other endpoints
-- subscribed to it.  The endpoint's failure streak: reset by a success;
-- disable_after failures in a row within disable_window disable it.
CREATE FUNCTION fanfare.record_webhook_attempt(organization_id uuid, delivery_id text, attempt integer,
        started_at timestamptz, duration_ms integer, http_status integer, error text,
        retry_schedule integer[], disable_after integer, disable_window interval)
    RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d       fanfare.webhook_deliveries%ROWTYPE;
    ep      fanfare.webhook_endpoints%ROWTYPE;
    outcome text;
    err     text := pg_catalog.left(record_webhook_attempt.error, 500);
    ev      uuid;
BEGIN
    IF delivery_id !~ '^whk_[0-9a-f]{32}$' THEN
        RAISE EXCEPTION 'invalid webhook delivery id' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO d FROM fanfare.webhook_deliveries x
     WHERE x.organization_id = record_webhook_attempt.organization_id
       AND x.id = pg_catalog.substr(record_webhook_attempt.delivery_id, 5)::uuid
       FOR UPDATE;
    -- gone (endpoint deleted), settled, or claimed again after the lease ran out
    IF NOT FOUND OR d.status <> 'pending' OR d.attempts <> record_webhook_attempt.attempt THEN
        RETURN 'stale';
    END IF;
    INSERT INTO fanfare.webhook_attempts (organization_id, delivery_id, attempt, started_at, duration_ms, http_status, error)
    VALUES (d.organization_id, d.id, d.attempts, record_webhook_attempt.started_at,
            record_webhook_attempt.duration_ms, record_webhook_attempt.http_status, err)
    ON CONFLICT DO NOTHING;

    -- the endpoint's row is locked (and written) only when its streak changes
    IF http_status BETWEEN 200 AND 299 THEN
        outcome := 'delivered';
        UPDATE fanfare.webhook_endpoints e SET consecutive_failures = 0, first_failure_at = NULL
         WHERE e.organization_id = d.organization_id AND e.id = d.endpoint_id AND e.consecutive_failures <> 0;
    ELSIF http_status = 410 THEN
        outcome := 'gone';
        UPDATE fanfare.webhook_endpoints e SET enabled = false, disabled_reason = '410 Gone'
         WHERE e.organization_id = d.organization_id AND e.id = d.endpoint_id;
    ELSE
        SELECT * INTO ep FROM fanfare.webhook_endpoints e
         WHERE e.organization_id = d.organization_id AND e.id = d.endpoint_id FOR UPDATE;
        outcome := CASE WHEN d.attempts > coalesce(cardinality(retry_schedule), 0) THEN 'failed' ELSE 'retry' END;
        IF ep.first_failure_at IS NULL OR ep.first_failure_at < now() - disable_window THEN
            ep.consecutive_failures := 1;
            ep.first_failure_at := now();
        ELSE
            ep.consecutive_failures := ep.consecutive_failures + 1;
        END IF;
        UPDATE fanfare.webhook_endpoints e
           SET consecutive_failures = ep.consecutive_failures, first_failure_at = ep.first_failure_at,
               enabled = CASE WHEN ep.consecutive_failures >= disable_after THEN false ELSE e.enabled END,
               disabled_reason = CASE WHEN ep.consecutive_failures >= disable_after AND e.enabled
                                      THEN pg_catalog.format('%s consecutive failures', ep.consecutive_failures)
                                      ELSE e.disabled_reason END
         WHERE e.organization_id = ep.organization_id AND e.id = ep.id;
    END IF;

    UPDATE fanfare.webhook_deliveries x
       SET status = CASE outcome WHEN 'delivered' THEN 'delivered' WHEN 'retry' THEN 'pending' ELSE 'failed' END,
           next_attempt_at = CASE WHEN outcome = 'retry'
                                  THEN now() + make_interval(secs => retry_schedule[d.attempts])
                                  ELSE x.next_attempt_at END,
           finished_at = CASE WHEN outcome = 'retry' THEN NULL ELSE now() END,
           last_attempt_at = record_webhook_attempt.started_at,
           last_status = record_webhook_attempt.http_status,
           last_error = err
     WHERE x.organization_id = d.organization_id AND x.id = d.id;

    IF outcome = 'failed' AND EXISTS (SELECT FROM fanfare.webhook_endpoints e
                                       WHERE e.organization_id = d.organization_id AND e.id <> d.endpoint_id
                                         AND e.enabled AND e.events @> '{webhook.delivery.failed}') THEN
        ev := gen_random_uuid();
        INSERT INTO fanfare.webhook_events (organization_id, id, type, occurred_at, data)
        SELECT d.organization_id, ev, 'webhook.delivery.failed', now(),
               ('{"endpointId":' || to_json(ep.id)::text || ',"endpointUrl":' || to_json(ep.url)::text
                || ',"eventId":"' || d.event_id::text || '","eventType":' || to_json(v.type)::text
                || ',"retryCount":' || d.attempts
                || ',"lastError":' || to_json(coalesce(err, 'HTTP ' || record_webhook_attempt.http_status))::text
                || ',"willRetry":false}')::json
          FROM fanfare.webhook_events v WHERE v.organization_id = d.organization_id AND v.id = d.event_id;
        INSERT INTO fanfare.webhook_deliveries (organization_id, event_id, endpoint_id)
        SELECT e.organization_id, ev, e.id
          FROM fanfare.webhook_endpoints e
         WHERE e.organization_id = d.organization_id AND e.id <> d.endpoint_id
           AND e.enabled AND e.events @> '{webhook.delivery.failed}';
    END IF;
    RETURN outcome;
END
$$;

COMMENT ON FUNCTION fanfare.record_webhook_attempt(uuid, text, integer, timestamptz, integer, integer, text, integer[], integer, interval) IS
    'For fanfare-relay: records one attempt of a claimed delivery and settles it (delivered on 2xx; failed, endpoint disabled, on 410; else retried per retry_schedule or, past it, failed with a webhook.delivery.failed event). Returns delivered, gone, retry, failed, or stale when the claim was lost.';

-- the relay's role: the two functions above, nothing else
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'fanfare_relay') THEN
        CREATE ROLE fanfare_relay NOLOGIN;
        COMMENT ON ROLE fanfare_relay IS
            'Role of fanfare-relay: may claim webhook deliveries (with their endpoints'' secrets) and record attempts.';
    END IF;
END
$$;

REVOKE ALL ON TABLE fanfare.webhook_endpoints FROM PUBLIC;
REVOKE ALL ON TABLE fanfare.webhook_events FROM PUBLIC;
REVOKE ALL ON TABLE fanfare.webhook_deliveries FROM PUBLIC;
REVOKE ALL ON TABLE fanfare.webhook_attempts FROM PUBLIC;
REVOKE ALL ON TABLE fanfare.webhook_event_batches FROM PUBLIC;
-- A tenant move (fanfare_router.copy_organization) copies consumers that
-- exist already: they are not created, so they write no consumer.created
-- event on the target (fanfare_webhook.outbox = off for the insert, set
-- back after it).  The organization's endpoints, events and deliveries stay
-- on the source (whose relay drains what is pending there): register the
-- endpoints on the target before the move (README, "Webhooks").
CREATE OR REPLACE FUNCTION fanfare.tenant_import_consumers(organization_id uuid, rows jsonb) RETURNS bigint
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
    outbox text := pg_catalog.current_setting('fanfare_webhook.outbox', true);
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(tenant_import_consumers.rows) r
                WHERE r ->> 'organization_id' IS DISTINCT FROM tenant_import_consumers.organization_id::pg_catalog.text) THEN
        RAISE EXCEPTION 'rows of another organization in a tenant import'
            USING ERRCODE = '22023';
    END IF;
    PERFORM pg_catalog.set_config('fanfare_webhook.outbox', 'off', true);
    INSERT INTO fanfare.consumers
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::fanfare.consumers, tenant_import_consumers.rows);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_catalog.set_config('fanfare_webhook.outbox', coalesce(outbox, ''), true);
    RETURN n;
END
$$;

COMMENT ON FUNCTION fanfare.tenant_import_consumers(uuid, jsonb) IS
    'Inserts a page of tenant_export_consumers into this shard as it is (ids, times and actors kept), with fanfare_webhook.outbox off: copied consumers write no consumer.created event; every row must belong to the organization named.';

REVOKE ALL ON FUNCTION fanfare.consumers_outbox() FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.expand_webhook_events(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.webhook_url_check(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.new_webhook_secret() FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.create_webhook_endpoint(uuid, text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.rotate_webhook_secret(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.disable_webhook_endpoint(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.enable_webhook_endpoint(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.delete_webhook_endpoint(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.webhook_endpoints(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.webhook_deliveries(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.replay_webhook_events(text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.prune_webhook_events(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.claim_webhook_deliveries(integer, integer, integer, text[], integer[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION fanfare.record_webhook_attempt(uuid, text, integer, timestamptz, integer, integer, text, integer[], integer, interval) FROM PUBLIC;

GRANT USAGE ON SCHEMA fanfare TO fanfare_relay;
GRANT EXECUTE ON FUNCTION fanfare.claim_webhook_deliveries(integer, integer, integer, text[], integer[]) TO fanfare_relay;
GRANT EXECUTE ON FUNCTION fanfare.record_webhook_attempt(uuid, text, integer, timestamptz, integer, integer, text, integer[], integer, interval) TO fanfare_relay;

-- END webhooks section


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
-- replays one.  The rollback undoes the call's rate limit report
-- (fanfare.rate_limit_status) but not its charge, so the report is set
-- again after it.

CREATE FUNCTION fanfare.api_import_consumers_dry_run(secret_key text, body bytea)
    RETURNS SETOF json
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER ROWS 500
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kept pg_catalog.json[];
    limit_status text;
BEGIN
    BEGIN
        SELECT pg_catalog.array_agg(c.consumer ORDER BY c.n) INTO kept
          FROM fanfare.api_import_consumers(api_import_consumers_dry_run.secret_key,
                                            api_import_consumers_dry_run.body, NULL)
               WITH ORDINALITY AS c(consumer, n);
        limit_status := pg_catalog.current_setting('fanfare.rate_limit_status', true);
        RAISE EXCEPTION 'dry run rolled back' USING ERRCODE = 'FFD01';
    EXCEPTION WHEN SQLSTATE 'FFD01' THEN
        NULL;
    END;
    IF limit_status <> '' THEN
        PERFORM pg_catalog.set_config('fanfare.rate_limit_status', limit_status, true);
    END IF;
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
