/* fanfare--0.2.1--0.3.0.sql: upgrade script for the fanfare extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION fanfare UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0's library replaces 0.2.1's (install it before the update); the SQL
-- objects that change are below, one section per change.
