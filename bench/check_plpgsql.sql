-- check_plpgsql.sql: does contender (b) accept and reject what the oracle does?
--
--   psql -f bench/check_plpgsql.sql < test/conformance/cases.jsonl
--
-- Runs every "strict" record of a conformance cases file through
-- fanfare_bench.plpgsql_create_consumers (each call rolled back) and compares
-- only the verdict, valid or not: the contender raises on the first invalid
-- element and does not build Valibot's issues.  Prints the agreement count
-- and the names of the cases where the verdicts differ.  Not timed.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET fanfare.organization_id = '0190f5c2-0000-7000-8000-00000000c4ec';
SET fanfare.actor = 'check';
SET fanfare.max_batch_size = 500;

CREATE TEMP TABLE conformance_case (line text);
\copy conformance_case FROM pstdin WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')

-- the fields are read with patterns: a line may hold \u0000, which json's
-- operators refuse to de-escape (the record starts {"name":..,"schema":..})
CREATE TEMP TABLE verdict AS
SELECT substring(c.line FROM '^\{"name":"((?:[^"\\]|\\.)*)"') AS name,
       c.line ~ ',"valid":true,' AS expected,
       NULL::boolean AS got,
       NULL::text AS error,
       c.line
FROM conformance_case c
WHERE c.line ~ '^\{"name":"(?:[^"\\]|\\.)*","schema":"strict"';

DO $$
DECLARE
    r record;
    body jsonb;
    accepted boolean;
    message text;
BEGIN
    FOR r IN SELECT v.name, v.line FROM verdict v LOOP
        message := NULL;
        BEGIN
            body := CASE WHEN r.line ~ '^\{"name":"(?:[^"\\]|\\.)*","schema":"[a-z]*","body":'
                         THEN (r.line::json ->> 'body')::jsonb
                         ELSE (r.line::json -> 'input')::jsonb END;
            PERFORM fanfare_bench.plpgsql_create_consumers(body);
            RAISE EXCEPTION USING ERRCODE = 'P0100', MESSAGE = 'accepted';   -- undo the insert
        EXCEPTION
            WHEN SQLSTATE 'P0100' THEN accepted := true;
            WHEN OTHERS THEN accepted := false; message := SQLERRM;
        END;
        UPDATE verdict SET got = accepted, error = message WHERE name = r.name;
    END LOOP;
END
$$;

SELECT format('(b) PL/pgSQL agrees with the oracle on %s of %s conformance verdicts',
              count(*) FILTER (WHERE got = expected), count(*)) AS summary
FROM verdict;
SELECT name, expected AS oracle_valid, got AS plpgsql_valid, left(error, 80) AS plpgsql_error
FROM verdict WHERE got IS DISTINCT FROM expected ORDER BY name;
