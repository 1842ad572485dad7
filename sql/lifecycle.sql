-- The INSERT is an ordinary one: triggers and constraints a DBA adds apply,
-- and the cached plan survives the extension being dropped and re-created.
CREATE EXTENSION IF NOT EXISTS fanfare;
SET fanfare.organization_id = '0190f5c2-8888-7000-8000-000000000008';
SET fanfare.actor = 'api_key:lifecycle';
\set SHOW_CONTEXT never

-- a row trigger sees every row; a statement trigger may itself create
-- consumers (the nested batch does not take the outer batch's rows)
CREATE TABLE consumer_audit (email text, created_by text);
CREATE FUNCTION audit_consumer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO consumer_audit VALUES (NEW.email, NEW.created_by);
  RETURN NEW;
END $$;
CREATE FUNCTION nested_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('fanfare.actor') <> 'nested' THEN
    PERFORM set_config('fanfare.actor', 'nested', true);
    PERFORM fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"nested@example.com"}]}');
    PERFORM set_config('fanfare.actor', 'api_key:lifecycle', true);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER audit BEFORE INSERT ON fanfare.consumers FOR EACH ROW EXECUTE FUNCTION audit_consumer();
CREATE TRIGGER nested BEFORE INSERT ON fanfare.consumers FOR EACH STATEMENT EXECUTE FUNCTION nested_batch();

BEGIN;
SELECT c->>'email' AS email, c->>'createdBy' AS created_by
FROM jsonb_array_elements(fanfare.create_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"one@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"two@example.com"}]}')) AS c;
SELECT * FROM consumer_audit ORDER BY email;
SELECT email, created_by FROM fanfare.consumers ORDER BY email;
ROLLBACK;
DROP TRIGGER nested ON fanfare.consumers;
DROP TRIGGER audit ON fanfare.consumers;
DROP FUNCTION nested_batch();
DROP FUNCTION audit_consumer();
DROP TABLE consumer_audit;

-- a constraint the DBA adds rejects the whole batch
ALTER TABLE fanfare.consumers ADD CONSTRAINT no_test_domains CHECK (email NOT LIKE '%@test.invalid');
\set VERBOSITY terse
SELECT fanfare.create_consumers('{"consumers":[
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"fine@example.com"},
  {"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"x@test.invalid"}]}');
\set VERBOSITY default
SELECT count(*) FROM fanfare.consumers;
ALTER TABLE fanfare.consumers DROP CONSTRAINT no_test_domains;

-- drop and re-create the extension within one session
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE"}]}'));
DROP EXTENSION fanfare;
CREATE EXTENSION fanfare;
SELECT jsonb_array_length(fanfare.create_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"INACTIVE"}]}'));
SELECT status, count(*) FROM fanfare.consumers GROUP BY status;
TRUNCATE fanfare.consumers;
