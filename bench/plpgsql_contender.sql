-- Contender (b): what a competent DBA writes instead of C.
--
-- fanfare_bench.plpgsql_create_consumers(payload jsonb) RETURNS jsonb does
-- what fanfare.create_consumers does, in PL/pgSQL: the strict validation of
-- test/conformance/FORMAT-STRICT.md (types, required keys, the status enum,
-- the email regex, ranks, counts, finite scores, aov/ltv, ISO timestamps with
-- the calendar check, coordinates, metadata values), duplicate emails within
-- the batch and against the tenant's live consumers, defaults, one set-based
-- INSERT for the tenant of fanfare.current_organization_id(), and the
-- camelCase response built with jsonb_build_object.
--
-- Simplifications, all on the error path or at the edges of IEEE doubles:
-- it raises SQLSTATE 22023 on the FIRST invalid element (fanfare reports
-- every issue in Valibot's shape), and checks the batch size (the
-- fanfare.max_batch_size setting, else 500) before the elements; numbers are
-- converted with float8, so a value that underflows to 0 (1e-400) or
-- overflows is rejected by the cast's own error; timestamps with offsets
-- beyond +-15:59 (valid in the contract) are rejected by timestamptz input.
--
-- Installed by bench/run.sh into the bench's throwaway database only.

CREATE SCHEMA IF NOT EXISTS fanfare_bench;

-- Raise the validation error for element i (0-based), field, and reason.
CREATE OR REPLACE FUNCTION fanfare_bench.reject(i int, field text, reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invalid consumers batch'
        USING ERRCODE = '22023',
              DETAIL = format('consumers.%s%s: %s', i, coalesce('.' || field, ''), reason);
END
$$;

-- RFC 3339 in UTC with milliseconds and Z, as JavaScript's toISOString prints it.
CREATE OR REPLACE FUNCTION fanfare_bench.iso(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE OR REPLACE FUNCTION fanfare_bench.plpgsql_create_consumers(payload jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    nullable_strings CONSTANT text[] := ARRAY['fullName', 'lastGeoCity', 'lastGeoCountry',
        'lastGeoPostalCode', 'lastGeoRegion', 'lastGeoSource', 'lastGeoTimezone', 'phone',
        'verificationCode'];
    ranks CONSTANT text[] := ARRAY['activityRank', 'monetaryRank', 'purchaseFrequencyRank'];
    finite_numbers CONSTANT text[] := ARRAY['activityScore', 'loyaltyBalance',
        'loyaltyLifetimePoints', 'monetaryScore', 'purchaseFrequencyScore'];
    counts CONSTANT text[] := ARRAY['engagedCount', 'totalEngagements', 'totalMessages',
        'totalOrders', 'totalReturns'];
    decimals CONSTANT text[] := ARRAY['aov', 'ltv'];
    timestamps CONSTANT text[] := ARRAY['activityScoreUpdatedAt', 'lastEngagedAt', 'lastGeoAt',
        'lastLoginAt', 'lastOrderAt', 'lastReturnAt', 'loyaltyLastActivityAt',
        'monetaryScoreUpdatedAt', 'purchaseFrequencyScoreUpdatedAt', 'verificationCodeExpiresAt'];
    email_re CONSTANT text :=
        '^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@[0-9A-Za-z]+([.-][0-9A-Za-z]+)*\.[A-Za-z]{2,}$';
    decimal_re CONSTANT text := '^[0-9]{1,12}(\.[0-9]{1,8})?$';
    timestamp_re CONSTANT text :=
        '^[0-9]{4}-(0[1-9]|1[0-2])-([12][0-9]|0[1-9]|3[01])[T ]([01][0-9]|2[0-3])(:[0-5][0-9]){2}'
        '(\.[0-9]{1,9})?(Z| ?[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)$';

    org uuid := fanfare.current_organization_id();
    max_batch CONSTANT int := coalesce(nullif(current_setting('fanfare.max_batch_size', true), '')::int, 500);
    consumers jsonb;
    c jsonb;
    v jsonb;
    k text;
    s text;
    d float8;
    n int;
    y int;
    m int;
    dd int;
    last_day int;
    offset_minutes int;
    emails text[] := '{}';
    dup text;
    result jsonb;
BEGIN
    IF org IS NULL THEN
        RAISE EXCEPTION 'no current organization' USING ERRCODE = '28000';
    END IF;
    IF jsonb_typeof(payload) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'invalid consumers batch' USING ERRCODE = '22023',
            DETAIL = 'The body must be an object.';
    END IF;
    consumers := payload -> 'consumers';
    IF jsonb_typeof(consumers) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'invalid consumers batch' USING ERRCODE = '22023',
            DETAIL = 'consumers: expected an array.';
    END IF;
    n := jsonb_array_length(consumers);
    IF n > max_batch THEN
        RAISE EXCEPTION 'invalid consumers batch' USING ERRCODE = '22023',
            DETAIL = format('consumers: at most %s elements, received %s.', max_batch, n);
    END IF;

    FOR i IN 0 .. n - 1 LOOP
        c := consumers -> i;
        IF jsonb_typeof(c) <> 'object' THEN
            PERFORM fanfare_bench.reject(i, NULL, 'expected an object');
        END IF;

        -- required keys
        FOREACH k IN ARRAY ARRAY['emailVerified', 'phoneVerified'] LOOP
            v := c -> k;
            IF v IS NULL THEN
                PERFORM fanfare_bench.reject(i, k, 'missing');
            ELSIF jsonb_typeof(v) <> 'boolean' THEN
                PERFORM fanfare_bench.reject(i, k, 'expected boolean');
            END IF;
        END LOOP;
        v := c -> 'status';
        IF v IS NULL THEN
            PERFORM fanfare_bench.reject(i, 'status', 'missing');
        ELSIF v <> '"ACTIVE"' AND v <> '"INACTIVE"' THEN
            PERFORM fanfare_bench.reject(i, 'status', 'expected "ACTIVE" or "INACTIVE"');
        END IF;

        -- optional boolean (null is not allowed)
        v := c -> 'smsOptOut';
        IF v IS NOT NULL AND jsonb_typeof(v) <> 'boolean' THEN
            PERFORM fanfare_bench.reject(i, 'smsOptOut', 'expected boolean');
        END IF;

        -- email: null, or a string matching Valibot's email regex
        v := c -> 'email';
        IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
            IF jsonb_typeof(v) <> 'string' THEN
                PERFORM fanfare_bench.reject(i, 'email', 'expected string');
            END IF;
            s := v #>> '{}';
            IF s !~ email_re THEN
                PERFORM fanfare_bench.reject(i, 'email', 'invalid email');
            END IF;
            emails := emails || lower(s);
        END IF;

        FOREACH k IN ARRAY nullable_strings LOOP
            v := c -> k;
            IF v IS NOT NULL AND jsonb_typeof(v) NOT IN ('string', 'null') THEN
                PERFORM fanfare_bench.reject(i, k, 'expected string');
            END IF;
        END LOOP;

        -- numbers: optional, never null
        FOREACH k IN ARRAY ranks LOOP
            v := c -> k;
            IF v IS NOT NULL THEN
                IF jsonb_typeof(v) <> 'number' THEN
                    PERFORM fanfare_bench.reject(i, k, 'expected number');
                END IF;
                d := v::float8;
                IF d <> trunc(d) OR d < 0 OR d > 5 THEN
                    PERFORM fanfare_bench.reject(i, k, 'expected an integer from 0 to 5');
                END IF;
            END IF;
        END LOOP;
        FOREACH k IN ARRAY finite_numbers LOOP
            v := c -> k;
            IF v IS NOT NULL THEN
                IF jsonb_typeof(v) <> 'number' THEN
                    PERFORM fanfare_bench.reject(i, k, 'expected number');
                END IF;
                d := v::float8;     -- raises for a value beyond the double range
            END IF;
        END LOOP;
        FOREACH k IN ARRAY counts LOOP
            v := c -> k;
            IF v IS NOT NULL THEN
                IF jsonb_typeof(v) <> 'number' THEN
                    PERFORM fanfare_bench.reject(i, k, 'expected number');
                END IF;
                d := v::float8;
                IF d <> trunc(d) OR d > 9007199254740991 OR d < 0 THEN
                    PERFORM fanfare_bench.reject(i, k, 'expected a safe integer >= 0');
                END IF;
            END IF;
        END LOOP;

        FOREACH k IN ARRAY decimals LOOP
            v := c -> k;
            IF v IS NOT NULL THEN
                IF jsonb_typeof(v) <> 'string' THEN
                    PERFORM fanfare_bench.reject(i, k, 'expected string');
                ELSIF (v #>> '{}') !~ decimal_re THEN
                    PERFORM fanfare_bench.reject(i, k, 'invalid format');
                END IF;
            END IF;
        END LOOP;

        -- timestamps: null, or ISO with offset naming a real day in years 1..9999 UTC
        FOREACH k IN ARRAY timestamps LOOP
            v := c -> k;
            IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
                IF jsonb_typeof(v) <> 'string' THEN
                    PERFORM fanfare_bench.reject(i, k, 'expected string');
                END IF;
                s := v #>> '{}';
                IF s !~ timestamp_re THEN
                    PERFORM fanfare_bench.reject(i, k, 'invalid timestamp');
                END IF;
                y := substr(s, 1, 4)::int;
                m := substr(s, 6, 2)::int;
                dd := substr(s, 9, 2)::int;
                last_day := CASE
                    WHEN m = 2 THEN CASE WHEN y % 4 = 0 AND (y % 100 <> 0 OR y % 400 = 0)
                                         THEN 29 ELSE 28 END
                    WHEN m IN (4, 6, 9, 11) THEN 30
                    ELSE 31 END;
                IF y = 0 OR dd > last_day THEN
                    PERFORM fanfare_bench.reject(i, k, 'invalid timestamp');
                END IF;
                -- only the first and the last day can leave years 1..9999 by their offset
                IF (y = 1 AND m = 1 AND dd = 1) OR (y = 9999 AND m = 12 AND dd = 31) THEN
                    offset_minutes := coalesce((SELECT (CASE WHEN g[1] = '-' THEN -1 ELSE 1 END)
                                                       * (g[2]::int * 60 + coalesce(g[3], '0')::int)
                                                FROM regexp_match(s, '([+-])([0-9]{2}):?([0-9]{2})?$') g), 0);
                    IF (y = 1 AND substr(s, 12, 2)::int * 60 + substr(s, 15, 2)::int < offset_minutes)
                       OR (y = 9999 AND substr(s, 12, 2)::int * 60 + substr(s, 15, 2)::int
                                        - offset_minutes >= 1440) THEN
                        PERFORM fanfare_bench.reject(i, k, 'invalid timestamp');
                    END IF;
                END IF;
            END IF;
        END LOOP;

        v := c -> 'lastGeoCoordinates';
        IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
            IF jsonb_typeof(v) <> 'object' THEN
                PERFORM fanfare_bench.reject(i, 'lastGeoCoordinates', 'expected an object');
            END IF;
            IF jsonb_typeof(v -> 'latitude') IS DISTINCT FROM 'number'
               OR jsonb_typeof(v -> 'longitude') IS DISTINCT FROM 'number' THEN
                PERFORM fanfare_bench.reject(i, 'lastGeoCoordinates', 'latitude and longitude must be numbers');
            END IF;
            d := (v -> 'latitude')::float8;
            IF d < -90 OR d > 90 THEN
                PERFORM fanfare_bench.reject(i, 'lastGeoCoordinates.latitude', 'out of range');
            END IF;
            d := (v -> 'longitude')::float8;
            IF d < -180 OR d > 180 THEN
                PERFORM fanfare_bench.reject(i, 'lastGeoCoordinates.longitude', 'out of range');
            END IF;
        END IF;

        -- metadata: null, or an object whose values are scalars or arrays of scalars
        v := c -> 'metadata';
        IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' THEN
            IF jsonb_typeof(v) <> 'object' THEN
                PERFORM fanfare_bench.reject(i, 'metadata', 'expected an object');
            END IF;
            -- (Valibot's record skips the keys __proto__, constructor and prototype)
            IF EXISTS (SELECT FROM jsonb_each(v) e
                       WHERE e.key NOT IN ('__proto__', 'constructor', 'prototype')
                         AND (jsonb_typeof(e.value) = 'object'
                              OR jsonb_typeof(e.value) = 'array'
                                 AND EXISTS (SELECT FROM jsonb_array_elements(e.value) x
                                             WHERE jsonb_typeof(x) IN ('object', 'array')))) THEN
                PERFORM fanfare_bench.reject(i, 'metadata', 'values must be scalars or arrays of scalars');
            END IF;
        END IF;
    END LOOP;

    -- "Email already exists": within the batch, then among the tenant's live consumers
    SELECT e INTO dup FROM unnest(emails) e GROUP BY e HAVING count(*) > 1 LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'invalid consumers batch' USING ERRCODE = '22023',
            DETAIL = format('Email already exists: %s', dup);
    END IF;
    SELECT t.email INTO dup FROM fanfare.consumers t
    WHERE t.organization_id = org AND lower(t.email) = ANY (emails)
      AND t.email IS NOT NULL AND NOT t.archived
    LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'invalid consumers batch' USING ERRCODE = '22023',
            DETAIL = format('Email already exists: %s', dup);
    END IF;

    WITH created AS (
        INSERT INTO fanfare.consumers (
            organization_id, id, created_by,
            email, email_verified, phone, phone_verified, full_name, status, sms_opt_out,
            activity_rank, activity_score, activity_score_updated_at,
            monetary_rank, monetary_score, monetary_score_updated_at,
            purchase_frequency_rank, purchase_frequency_score, purchase_frequency_score_updated_at,
            aov, ltv,
            engaged_count, last_engaged_at, total_engagements, total_messages, total_orders, total_returns,
            last_login_at, last_order_at, last_return_at,
            last_geo_at, last_geo_city, last_geo_latitude, last_geo_longitude, last_geo_country,
            last_geo_postal_code, last_geo_region, last_geo_source, last_geo_timezone,
            loyalty_balance, loyalty_last_activity_at, loyalty_lifetime_points,
            metadata, verification_code, verification_code_expires_at)
        SELECT org, gen_random_uuid(), fanfare.current_actor(),
               r.email, r."emailVerified", r.phone, r."phoneVerified", r."fullName", r.status,
               coalesce(r."smsOptOut", false),
               coalesce(r."activityRank", 0), coalesce(r."activityScore", 0), r."activityScoreUpdatedAt",
               coalesce(r."monetaryRank", 0), coalesce(r."monetaryScore", 0), r."monetaryScoreUpdatedAt",
               coalesce(r."purchaseFrequencyRank", 0), coalesce(r."purchaseFrequencyScore", 0),
               r."purchaseFrequencyScoreUpdatedAt",
               coalesce(r.aov, 0), coalesce(r.ltv, 0),
               coalesce(r."engagedCount", 0), r."lastEngagedAt", coalesce(r."totalEngagements", 0),
               coalesce(r."totalMessages", 0), coalesce(r."totalOrders", 0), coalesce(r."totalReturns", 0),
               r."lastLoginAt", r."lastOrderAt", r."lastReturnAt",
               r."lastGeoAt", r."lastGeoCity",
               (r."lastGeoCoordinates" ->> 'latitude')::float8, (r."lastGeoCoordinates" ->> 'longitude')::float8,
               r."lastGeoCountry", r."lastGeoPostalCode", r."lastGeoRegion", r."lastGeoSource",
               r."lastGeoTimezone",
               coalesce(r."loyaltyBalance", 0), r."loyaltyLastActivityAt", coalesce(r."loyaltyLifetimePoints", 0),
               r.metadata,
               r."verificationCode", r."verificationCodeExpiresAt"
        FROM jsonb_to_recordset(consumers) AS r(
            email text, "emailVerified" boolean, phone text, "phoneVerified" boolean, "fullName" text,
            status fanfare.consumer_status, "smsOptOut" boolean,
            "activityRank" numeric, "activityScore" float8, "activityScoreUpdatedAt" timestamptz,
            "monetaryRank" numeric, "monetaryScore" float8, "monetaryScoreUpdatedAt" timestamptz,
            "purchaseFrequencyRank" numeric, "purchaseFrequencyScore" float8,
            "purchaseFrequencyScoreUpdatedAt" timestamptz,
            aov numeric, ltv numeric,
            "engagedCount" numeric, "lastEngagedAt" timestamptz, "totalEngagements" numeric,
            "totalMessages" numeric, "totalOrders" numeric, "totalReturns" numeric,
            "lastLoginAt" timestamptz, "lastOrderAt" timestamptz, "lastReturnAt" timestamptz,
            "lastGeoAt" timestamptz, "lastGeoCity" text, "lastGeoCoordinates" jsonb,
            "lastGeoCountry" text, "lastGeoPostalCode" text, "lastGeoRegion" text,
            "lastGeoSource" text, "lastGeoTimezone" text,
            "loyaltyBalance" float8, "loyaltyLastActivityAt" timestamptz, "loyaltyLifetimePoints" float8,
            metadata jsonb, "verificationCode" text, "verificationCodeExpiresAt" timestamptz)
        RETURNING *
    )
    SELECT coalesce(jsonb_agg(
        jsonb_build_object(
            'activityRank', t.activity_rank,
            'activityScore', t.activity_score,
            'activityScoreUpdatedAt', fanfare_bench.iso(t.activity_score_updated_at),
            'aov', t.aov::text,
            'archived', t.archived,
            'createdAt', fanfare_bench.iso(t.created_at),
            'createdBy', t.created_by,
            'email', t.email,
            'emailVerified', t.email_verified,
            'engagedCount', t.engaged_count,
            'fullName', t.full_name,
            'id', t.id,
            'lastEngagedAt', fanfare_bench.iso(t.last_engaged_at),
            'lastGeoAt', fanfare_bench.iso(t.last_geo_at),
            'lastGeoCity', t.last_geo_city,
            'lastGeoCoordinates', CASE WHEN t.last_geo_latitude IS NOT NULL THEN
                jsonb_build_object('latitude', t.last_geo_latitude, 'longitude', t.last_geo_longitude) END,
            'lastGeoCountry', t.last_geo_country,
            'lastGeoPostalCode', t.last_geo_postal_code,
            'lastGeoRegion', t.last_geo_region,
            'lastGeoSource', t.last_geo_source,
            'lastGeoTimezone', t.last_geo_timezone,
            'lastLoginAt', fanfare_bench.iso(t.last_login_at),
            'lastOrderAt', fanfare_bench.iso(t.last_order_at),
            'lastReturnAt', fanfare_bench.iso(t.last_return_at),
            'loyaltyBalance', t.loyalty_balance,
            'loyaltyLastActivityAt', fanfare_bench.iso(t.loyalty_last_activity_at))
        || jsonb_build_object(
            'loyaltyLifetimePoints', t.loyalty_lifetime_points,
            'ltv', t.ltv::text,
            'metadata', t.metadata,
            'monetaryRank', t.monetary_rank,
            'monetaryScore', t.monetary_score,
            'monetaryScoreUpdatedAt', fanfare_bench.iso(t.monetary_score_updated_at),
            'organizationId', t.organization_id,
            'phone', t.phone,
            'phoneVerified', t.phone_verified,
            'primaryExternalId', t.primary_external_id,
            'primaryLastSyncedAt', fanfare_bench.iso(t.primary_last_synced_at),
            'primarySourceVendor', t.primary_source_vendor,
            'primarySyncSourceId', t.primary_sync_source_id,
            'purchaseFrequencyRank', t.purchase_frequency_rank,
            'purchaseFrequencyScore', t.purchase_frequency_score,
            'purchaseFrequencyScoreUpdatedAt', fanfare_bench.iso(t.purchase_frequency_score_updated_at),
            'smsOptOut', t.sms_opt_out,
            'status', t.status,
            'totalEngagements', t.total_engagements,
            'totalMessages', t.total_messages,
            'totalOrders', t.total_orders,
            'totalReturns', t.total_returns,
            'updatedAt', fanfare_bench.iso(t.updated_at),
            'updatedBy', t.updated_by,
            'verificationCode', t.verification_code,
            'verificationCodeExpiresAt', fanfare_bench.iso(t.verification_code_expires_at))), '[]')
    INTO result
    FROM created t;
    RETURN result;
END
$$;

COMMENT ON FUNCTION fanfare_bench.plpgsql_create_consumers(jsonb) IS
    'Benchmark contender (b): create_consumers written in PL/pgSQL with the same strict validation; raises on the first invalid element.';
