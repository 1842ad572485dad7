-- The 200 body: every field converted as the contract says.
CREATE EXTENSION IF NOT EXISTS fanfare;
SET fanfare.organization_id = '0190f5c2-2222-7000-8000-000000000002';
SET fanfare.actor = 'api_key:response';

BEGIN;
CREATE TEMP TABLE created AS
SELECT fanfare.create_consumers($${"consumers":[{
  "activityRank":3,"activityScore":0.75,"activityScoreUpdatedAt":"2024-05-01T12:00:00.000Z",
  "aov":"0042.50","email":"Jane.Doe+promo@Example.com","emailVerified":true,"engagedCount":12,
  "fullName":"Jane O'Doe; DROP TABLE x; <b>&amp;</b> $(rm -rf)","lastEngagedAt":"2024-05-02T08:30:00+02",
  "lastGeoAt":"2024-05-03 09:00:00 -0800","lastGeoCity":"Lisbon",
  "lastGeoCoordinates":{"latitude":38.7223,"longitude":-9.1393,"altitude":5},
  "lastLoginAt":"2024-05-04T10:00:00.123456789+23:59","lastOrderAt":"0001-01-01T00:00:00-01:00",
  "lastReturnAt":"9999-12-31T23:59:59.999999999+01:00",
  "loyaltyBalance":1e21,"loyaltyLifetimePoints":-0,"ltv":"000000000000.00000000",
  "metadata":{"tier":"gold","visits":7,"vip":true,"note":null,"tags":["a",1,false,null],"__proto__":{"x":1},"inf":1e400},
  "monetaryRank":5e0,"monetaryScore":0.1,"phone":"+15555550123","phoneVerified":true,
  "purchaseFrequencyRank":1.0,"purchaseFrequencyScore":5e-324,"smsOptOut":true,"status":"INACTIVE",
  "totalEngagements":9007199254740991,"totalMessages":44,"totalOrders":1e2,"totalReturns":-0,
  "verificationCode":"123456","verificationCodeExpiresAt":"2024-06-01T00:00:00Z",
  "id":"00000000-0000-0000-0000-000000000000","organizationId":"00000000-0000-0000-0000-000000000000",
  "createdAt":"2000-01-01T00:00:00Z","createdBy":"mallory","archived":true,"updatedAt":"2000-01-01T00:00:00Z",
  "primaryExternalId":"x","unknownKey":1}]}$$) AS r;

SELECT key, CASE WHEN key IN ('id', 'createdAt') THEN '<generated>' ELSE val::text END AS value
FROM created, jsonb_array_elements(r) AS c, jsonb_each(c) AS e(key, val)
ORDER BY key;

-- what was stored: payload values never override the server's
SELECT organization_id, created_by, archived, updated_at, primary_external_id,
       id <> '00000000-0000-0000-0000-000000000000' AS fresh_id,
       email, full_name, activity_rank, activity_score, aov, ltv, scale(ltv) AS ltv_scale,
       engaged_count, total_engagements, total_orders, total_returns,
       loyalty_balance, loyalty_lifetime_points, monetary_score, purchase_frequency_score,
       last_geo_latitude, last_geo_longitude, metadata, status, sms_opt_out
FROM fanfare.consumers;
SET TIME ZONE 'UTC';
SELECT last_engaged_at, last_geo_at, last_login_at, last_order_at, last_return_at
FROM fanfare.consumers;
RESET TIME ZONE;
ROLLBACK;

-- ids are time-ordered and returned in input order
BEGIN;
SELECT bool_and(ok) AS ids_increasing FROM (
  SELECT (c->>'id') > lag(c->>'id') OVER (ORDER BY n) AS ok
  FROM jsonb_array_elements(fanfare.create_consumers(
    (SELECT jsonb_build_object('consumers', jsonb_agg(jsonb_build_object(
       'emailVerified', true, 'phoneVerified', false, 'status', 'ACTIVE', 'fullName', 'n' || i)))
     FROM generate_series(1, 300) i))) WITH ORDINALITY AS t(c, n)
) s WHERE ok IS NOT NULL;
SELECT count(*), min(full_name), max(full_name) FROM fanfare.consumers;
ROLLBACK;
