-- Validation: the issues StrictBodySchema reports, in its order and shape.
-- The conformance suite (test/conformance) checks hundreds more cases
-- against the oracle; these pin the behaviours a reader should see here.
CREATE EXTENSION IF NOT EXISTS fanfare;
SET fanfare.organization_id = '0190f5c2-3333-7000-8000-000000000003';

-- one line per issue: the reduced form, path as dotted keys
CREATE FUNCTION pg_temp.issues(body jsonb)
RETURNS TABLE (n bigint, kind text, type text, path text, expected text, received text, message text)
LANGUAGE sql AS $$
  SELECT ord, i->>'kind', i->>'type',
         (SELECT string_agg(p->>'key', '.' ORDER BY k) FROM jsonb_array_elements(i->'path') WITH ORDINALITY AS q(p, k)),
         i->>'expected', i->>'received', i->>'message'
  FROM jsonb_array_elements(fanfare.validate_consumers(body)) WITH ORDINALITY AS t(i, ord)
$$;

-- valid bodies have no issues
SELECT fanfare.validate_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE"}]}');
SELECT fanfare.validate_consumers('{"consumers":[]}');

-- the body
SELECT * FROM pg_temp.issues('null');
SELECT * FROM pg_temp.issues('"consumers"');
SELECT * FROM pg_temp.issues('[]');
SELECT * FROM pg_temp.issues('{}');
SELECT * FROM pg_temp.issues('{"consumers":{}}');
SELECT * FROM pg_temp.issues('{"consumers":null}');

-- elements: not objects; arrays pass the object check and lack every key
SELECT * FROM pg_temp.issues('{"consumers":[null, 1, "x", true, []]}');

-- required keys: missing vs null
SELECT * FROM pg_temp.issues('{"consumers":[{"emailVerified":null,"status":"active"}]}');

-- types, in schema (alphabetical) order whatever the input order
SELECT * FROM pg_temp.issues('{"consumers":[{"status":"ACTIVE","phoneVerified":true,"emailVerified":true,
  "verificationCode":1,"totalOrders":"1","smsOptOut":null,"metadata":"x","lastGeoCoordinates":5,
  "fullName":false,"email":7,"aov":1.5,"activityRank":null}]}');

-- ranks: integer, then bounds; both can fail
SELECT * FROM pg_temp.issues('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE",
  "activityRank":7.5,"monetaryRank":-1,"purchaseFrequencyRank":1e309}]}');

-- counts: safe integers >= 0
SELECT * FROM pg_temp.issues('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE",
  "engagedCount":-1.5,"totalEngagements":9007199254740992,"totalMessages":9007199254740993,
  "totalOrders":1e20,"totalReturns":-9007199254740991}]}');

-- scores: finite; numbers print as JavaScript prints them
SELECT * FROM pg_temp.issues('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE",
  "activityScore":1e309,"monetaryScore":-1e400,"loyaltyBalance":1.7976931348623159e308}]}');

-- numbers at the end of a double's rounding interval print as JavaScript
-- prints them (shorter than the strictly-inside shortest digits)
SELECT received FROM pg_temp.issues('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE",
  "engagedCount":58003624577995136,"totalEngagements":65207108211218899,"totalMessages":1e23,"totalOrders":-1e23}]}');

-- aov / ltv: ^\d{1,12}(\.\d{1,8})?$
SELECT * FROM pg_temp.issues('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE",
  "aov":"1.","ltv":"1000000000000"}]}');

-- timestamps: the regex, the calendar and the instant's range give one issue each
SELECT * FROM pg_temp.issues('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE",
  "activityScoreUpdatedAt":"2023-02-29T00:00:00Z","lastEngagedAt":"2024-05-01T24:00:00Z",
  "lastGeoAt":"0001-01-01T00:00:00+01:00","lastLoginAt":"2024-05-01T12:00:00","lastOrderAt":"2024-05-01t12:00:00z",
  "lastReturnAt":"2024-05-01T12:00:00.1234567890Z","loyaltyLastActivityAt":"2024-05-01T12:00:00+24:00",
  "monetaryScoreUpdatedAt":"0000-01-01T00:00:00Z","verificationCodeExpiresAt":" 2024-05-01T12:00:00Z"}]}');
SELECT fanfare.validate_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE",
  "activityScoreUpdatedAt":"2024-02-29T00:00:00+23:59","lastEngagedAt":"2024-05-01 12:00:00 -0800",
  "lastGeoAt":"9999-12-31T23:59:59+01:00","lastLoginAt":"0001-01-01T00:00:00-01:00","lastOrderAt":"1600-02-29T00:00:00.123456789Z"}]}');

-- emails: Valibot 1.5.0's rule (ASCII, TLD of two or more letters)
SELECT * FROM pg_temp.issues('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"a@b.c"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"o''brien@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"a@b--c.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"a@xn--bcher-kva.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"user@127.0.0.1"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"a@b.co\n"}]}');
SELECT fanfare.validate_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"USER@EXAMPLE.COM"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"+@a-b.c-d.museum"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"a@123.456.com"}]}');

-- coordinates: required numbers within bounds; arrays lack both keys
SELECT * FROM pg_temp.issues('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","lastGeoCoordinates":{"latitude":91}},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","lastGeoCoordinates":{"latitude":"1","longitude":-180.5}},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","lastGeoCoordinates":[]}]}');

-- metadata: one union issue per bad value, array-index keys first
SELECT * FROM pg_temp.issues('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE",
  "metadata":{"b":{"x":1},"10":[1,{}],"2":[[2]],"ok":[1,"a",null,true],"constructor":{"deep":{}}}}]}');
-- the nested issues of a union, in full
SELECT jsonb_pretty(fanfare.validate_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","metadata":{"a":[1,{}]}}]}'));
-- an array is a record keyed "0", "1", ...
SELECT * FROM pg_temp.issues('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","metadata":[[1],[{}]]}]}');

-- several elements: element order, then field order
SELECT * FROM pg_temp.issues('{"consumers":[{"status":"ACTIVE"},{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"},{"emailVerified":0,"phoneVerified":true,"status":"ACTIVE","activityRank":6}]}');

-- the wire form of one issue: input, requirement, and the two outer path
-- items printed with "input": null (the deliberate difference)
SELECT jsonb_pretty(fanfare.validate_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","activityRank":6}]}'));
SELECT jsonb_pretty(fanfare.validate_consumers('{"consumers":[{"emailVerified":true,"status":"ACTIVE"}]}'));
