-- The two wire forms of an issue (fanfare.issue_format).  openapi, the
-- default, is the published document's 400 schema: every issue has a path
-- ([] for an issue about the body itself), path keys are strings, expected
-- is always a string (the issue's type where Valibot has null).  valibot is
-- Valibot's raw form.  Nothing else differs: order, messages, received,
-- inputs, nested issues.
CREATE EXTENSION IF NOT EXISTS fanfare;
SET fanfare.organization_id = '0190f5c2-8888-7000-8000-000000000008';

CREATE FUNCTION pg_temp.issues(body text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
  PERFORM fanfare.import_consumers(body);
  RETURN NULL;
EXCEPTION WHEN invalid_parameter_value THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  RETURN d;
END $$;

-- (the settings exist once the library is loaded)
SELECT fanfare.current_actor() IS NOT NULL AS loaded;
SHOW fanfare.issue_format;
-- an issue about the body itself: path [] only in the openapi form
SELECT pg_temp.issues('5');
SET fanfare.issue_format = valibot;
SELECT pg_temp.issues('5');

-- an array index as key, and an expected that Valibot leaves null
SET fanfare.issue_format = openapi;
SELECT jsonb_pretty(i - 'input') FROM jsonb_array_elements(pg_temp.issues(
  '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"x"}]}')::jsonb->'issues') AS i;
SET fanfare.issue_format = valibot;
SELECT jsonb_pretty(i - 'input') FROM jsonb_array_elements(pg_temp.issues(
  '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","email":"x"}]}')::jsonb->'issues') AS i;

-- nested union issues follow the form too
SET fanfare.issue_format = openapi;
SELECT i->'path' AS path, i->'expected' AS expected, jsonb_path_query_array(i, '$.issues[*].path') AS nested_paths
FROM jsonb_array_elements(pg_temp.issues(
  '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","metadata":{"a":[1,{}]}}]}')::jsonb #> '{issues,0,issues}') AS i;
SET fanfare.issue_format = valibot;
SELECT i->'path' AS path, i->'expected' AS expected, jsonb_path_query_array(i, '$.issues[*].path') AS nested_paths
FROM jsonb_array_elements(pg_temp.issues(
  '{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","metadata":{"a":[1,{}]}}]}')::jsonb #> '{issues,0,issues}') AS i;

-- the same setting governs every printer: validate_consumers, the
-- create_consumers DETAIL and the bodies for text that is not JSON
SET fanfare.issue_format = openapi;
SELECT fanfare.validate_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","activityRank":1.5}]}') #> '{0,expected}' AS expected,
       fanfare.validate_consumers('{"consumers":[{"emailVerified":true,"phoneVerified":true,"status":"ACTIVE","activityRank":1.5}]}') #> '{0,path,1,key}' AS key;
\set SHOW_CONTEXT never
SELECT fanfare.import_consumers('{');
SET fanfare.issue_format = valibot;
SELECT fanfare.import_consumers('{');
RESET fanfare.issue_format;

-- only the two names
SET fanfare.issue_format = 'json';
