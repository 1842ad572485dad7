-- Tenant context and row-level security.
CREATE EXTENSION IF NOT EXISTS fanfare;
\set SHOW_CONTEXT never
RESET fanfare.organization_id;
RESET fanfare.actor;

-- no organization: 28000, nothing written
SELECT fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.validate_consumers('{"consumers":[]}');
\echo :LAST_ERROR_SQLSTATE
-- a malformed one: 28000 too
SET fanfare.organization_id = 'tenant-a';
SELECT fanfare.create_consumers('{"consumers":[]}');
\echo :LAST_ERROR_SQLSTATE
SELECT fanfare.current_organization_id();
RESET fanfare.organization_id;

-- PostgREST's convention: the claims of the JWT
SET request.jwt.claims = '{"sub":"user-42","organization_id":"0190f5c2-6666-7000-8000-00000000000a","role":"fanfare_api"}';
SELECT fanfare.current_organization_id(), fanfare.current_actor();
SELECT r->0->>'organizationId' AS org, r->0->>'createdBy' AS created_by
FROM fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","organizationId":"0190f5c2-6666-7000-8000-00000000000b","createdBy":"mallory"}]}') AS r;
-- the setting wins over the claims; broken claims are ignored
SET fanfare.organization_id = '0190F5C2-6666-7000-8000-00000000000B';
SET fanfare.actor = 'api_key:sk_test_abc';
SELECT fanfare.current_organization_id(), fanfare.current_actor();
SET request.jwt.claims = '{not json';
RESET fanfare.organization_id;
SELECT fanfare.current_organization_id();
RESET request.jwt.claims;
-- without a setting or a claim, the actor is the role
RESET fanfare.actor;
SELECT fanfare.current_actor() = current_user AS actor_is_role;

-- row-level security: a role acting for tenant A sees and writes only A
CREATE ROLE fanfare_tenant_test LOGIN IN ROLE fanfare_api;
SET fanfare.organization_id = '0190f5c2-6666-7000-8000-00000000000b';
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"b@example.com"}]}'));
SET ROLE fanfare_tenant_test;
SET fanfare.organization_id = '0190f5c2-6666-7000-8000-00000000000a';
SET fanfare.actor = 'api_key:a';
SELECT organization_id, email FROM fanfare.consumers ORDER BY organization_id;
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"a@example.com"}]}'));
SELECT organization_id, email, created_by FROM fanfare.consumers ORDER BY organization_id, email;
-- writing B's rows directly is refused, and so is writing A's own: rows
-- come in through the functions, which validate them
INSERT INTO fanfare.consumers (organization_id, id, created_by, email_verified, phone_verified, status)
VALUES ('0190f5c2-6666-7000-8000-00000000000b', gen_random_uuid(), 'mallory', true, true, 'ACTIVE');
INSERT INTO fanfare.consumers (organization_id, id, created_by, email_verified, phone_verified, status, archived, email)
VALUES ('0190f5c2-6666-7000-8000-00000000000a', gen_random_uuid(), 'forged', true, true, 'ACTIVE', true, 'not an email');
UPDATE fanfare.consumers SET full_name = 'x';
DELETE FROM fanfare.consumers;
-- even with UPDATE and DELETE granted, the policy hides B's rows
RESET ROLE;
GRANT UPDATE, DELETE ON fanfare.consumers TO fanfare_tenant_test;
SET ROLE fanfare_tenant_test;
WITH u AS (UPDATE fanfare.consumers SET full_name = 'x' WHERE organization_id = '0190f5c2-6666-7000-8000-00000000000b' RETURNING 1)
SELECT count(*) AS b_rows_updated FROM u;
WITH d AS (DELETE FROM fanfare.consumers WHERE organization_id = '0190f5c2-6666-7000-8000-00000000000b' RETURNING 1)
SELECT count(*) AS b_rows_deleted FROM d;
UPDATE fanfare.consumers SET organization_id = '0190f5c2-6666-7000-8000-00000000000b' WHERE email = 'a@example.com';
RESET ROLE;
REVOKE UPDATE, DELETE ON fanfare.consumers FROM fanfare_tenant_test;
SET ROLE fanfare_tenant_test;
SET fanfare.organization_id = '0190f5c2-6666-7000-8000-00000000000a';
-- the same email as B's consumer is fine: uniqueness is per organization
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"B@example.com"}]}'));
-- without a tenant the role sees nothing
RESET fanfare.organization_id;
SELECT count(*) FROM fanfare.consumers;
RESET ROLE;
SELECT organization_id, email FROM fanfare.consumers ORDER BY organization_id, email;
TRUNCATE fanfare.consumers;
DROP ROLE fanfare_tenant_test;
