/* fanfare_router--0.2.1--0.3.0.sql: upgrade script for the router extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION fanfare_router UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0's library replaces 0.2.1's; the SQL objects that change are below.
