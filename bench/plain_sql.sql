-- Contender (a), plain SQL: one INSERT ... SELECT FROM jsonb_to_recordset,
-- RETURNING, jsonb_agg.  No validation beyond what the casts and the table's
-- constraints do; defaults by coalesce because jsonb_to_recordset yields
-- NULL for an absent key.  The response is each stored row as to_jsonb
-- makes it (snake_case), the floor a DBA gets for free.
-- bench/run.sh sends this statement with the request body as $1.
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
    SELECT (SELECT fanfare.current_organization_id()), gen_random_uuid(), (SELECT fanfare.current_actor()),
           c.email, c."emailVerified", c.phone, c."phoneVerified", c."fullName", c.status,
           coalesce(c."smsOptOut", false),
           coalesce(c."activityRank", 0), coalesce(c."activityScore", 0), c."activityScoreUpdatedAt",
           coalesce(c."monetaryRank", 0), coalesce(c."monetaryScore", 0), c."monetaryScoreUpdatedAt",
           coalesce(c."purchaseFrequencyRank", 0), coalesce(c."purchaseFrequencyScore", 0),
           c."purchaseFrequencyScoreUpdatedAt",
           coalesce(c.aov, 0), coalesce(c.ltv, 0),
           coalesce(c."engagedCount", 0), c."lastEngagedAt", coalesce(c."totalEngagements", 0),
           coalesce(c."totalMessages", 0), coalesce(c."totalOrders", 0), coalesce(c."totalReturns", 0),
           c."lastLoginAt", c."lastOrderAt", c."lastReturnAt",
           c."lastGeoAt", c."lastGeoCity",
           (c."lastGeoCoordinates" ->> 'latitude')::float8, (c."lastGeoCoordinates" ->> 'longitude')::float8,
           c."lastGeoCountry", c."lastGeoPostalCode", c."lastGeoRegion", c."lastGeoSource", c."lastGeoTimezone",
           coalesce(c."loyaltyBalance", 0), c."loyaltyLastActivityAt", coalesce(c."loyaltyLifetimePoints", 0),
           c.metadata, c."verificationCode", c."verificationCodeExpiresAt"
    FROM jsonb_to_recordset($1::jsonb -> 'consumers') AS c(
        email text, "emailVerified" boolean, phone text, "phoneVerified" boolean, "fullName" text,
        status fanfare.consumer_status, "smsOptOut" boolean,
        "activityRank" smallint, "activityScore" float8, "activityScoreUpdatedAt" timestamptz,
        "monetaryRank" smallint, "monetaryScore" float8, "monetaryScoreUpdatedAt" timestamptz,
        "purchaseFrequencyRank" smallint, "purchaseFrequencyScore" float8,
        "purchaseFrequencyScoreUpdatedAt" timestamptz,
        aov numeric, ltv numeric,
        "engagedCount" bigint, "lastEngagedAt" timestamptz, "totalEngagements" bigint,
        "totalMessages" bigint, "totalOrders" bigint, "totalReturns" bigint,
        "lastLoginAt" timestamptz, "lastOrderAt" timestamptz, "lastReturnAt" timestamptz,
        "lastGeoAt" timestamptz, "lastGeoCity" text, "lastGeoCoordinates" jsonb,
        "lastGeoCountry" text, "lastGeoPostalCode" text, "lastGeoRegion" text,
        "lastGeoSource" text, "lastGeoTimezone" text,
        "loyaltyBalance" float8, "loyaltyLastActivityAt" timestamptz, "loyaltyLifetimePoints" float8,
        metadata jsonb, "verificationCode" text, "verificationCodeExpiresAt" timestamptz)
    RETURNING *
)
SELECT jsonb_agg(to_jsonb(created)) FROM created
