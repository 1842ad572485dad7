#!/usr/bin/env bash
# A fresh install of fanfare and one upgraded from 0.1.0 must end up with the
# same objects.  Creates the databases fanfare_fresh (CREATE EXTENSION, the
# default version) and fanfare_upgraded (CREATE EXTENSION ... VERSION
# '0.1.0', then ALTER EXTENSION ... UPDATE, through every version), describes
# every object of the extension in each with objects.sql, and diffs the two
# descriptions.  The same for one upgraded from 0.2.0 (fanfare_from_020),
# and for the router extension: fanfare_router 0.2.0 updated against a
# fresh one (fanfare_router_fresh, fanfare_router_upgraded).  A
# self-test then proves the comparison can fail: in a third database each of
# a dozen small changes (a comment, a grant, a function body, a column
# default, an enum label, a policy, ...), made in a transaction that is rolled
# back, must show up in the diff.
#
#   test/upgrade/run.sh              (make check-upgrade)
#
# The cluster is the one the PG* variables name (a superuser); without
# PGHOST the suite builds and installs the tree and starts a throwaway
# cluster of its own (tools/lib.sh), stopped at exit.  Prints ok/FAIL lines and "N passed, M failed";
# exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=../../tools/lib.sh
. tools/lib.sh
objects_sql=$PWD/test/upgrade/objects.sql

# fewer objects than this means the description query found (almost) nothing
min_objects=25
databases="fanfare_fresh fanfare_upgraded fanfare_tampered fanfare_from_020 fanfare_router_fresh fanfare_router_upgraded"

suite_cluster upgrade || abort "a cluster to test against"
new_work_dir upgrade
# a shared cluster gets its databases back; a throwaway one goes as a whole
drop_databases() {
    local db
    for db in $databases; do psql_q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; done
}
on_exit drop_databases

if [ "$(psql_q -d postgres -c 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user' 2>&1)" != t ]; then
    abort "the PG* variables name a superuser (CREATE EXTENSION fanfare needs one)"
fi
for db in $databases; do
    psql_q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null ||
        abort "database $db created"
done

# describe DB FILE [SQL...]: objects.sql's lines for DB into FILE; each SQL
# runs first in the same transaction, which is rolled back
describe() {
    local db=$1 out=$2 args=() s
    shift 2
    for s in "$@"; do args+=(-c "$s"); done
    psql_q -d "$db" -v ext="${describe_ext:-fanfare}" -c BEGIN "${args[@]}" -f "$objects_sql" -c ROLLBACK >"$out" 2>"$out.err"
}
version_is() { [ "$(psql_q -d "$1" -c "SELECT extversion FROM pg_extension WHERE extname = 'fanfare'")" = "$2" ]; }

# --- the two installs -------------------------------------------------------------
default_version=$(psql_q -d fanfare_fresh -c "SELECT default_version FROM pg_available_extensions WHERE name = 'fanfare'")
if psql_q -d fanfare_fresh -c "CREATE EXTENSION fanfare"; then
    check "fresh: CREATE EXTENSION fanfare installs $default_version" version_is fanfare_fresh "$default_version"
else
    fail "fresh: CREATE EXTENSION fanfare"
fi

if psql_q -d fanfare_upgraded -c "CREATE EXTENSION fanfare VERSION '0.1.0'"; then
    check "upgraded: CREATE EXTENSION fanfare VERSION '0.1.0'" version_is fanfare_upgraded 0.1.0
else
    fail "upgraded: CREATE EXTENSION fanfare VERSION '0.1.0'"
fi
describe fanfare_upgraded "$work/before-update.txt" || fail "objects.sql runs on 0.1.0" "$(cat "$work/before-update.txt.err")"
if psql_q -d fanfare_upgraded -c "ALTER EXTENSION fanfare UPDATE"; then
    check "upgraded: ALTER EXTENSION fanfare UPDATE reaches $default_version" version_is fanfare_upgraded "$default_version"
else
    fail "upgraded: ALTER EXTENSION fanfare UPDATE"
fi

# --- describe and compare ---------------------------------------------------------
if describe fanfare_fresh "$work/fresh.txt" && describe fanfare_upgraded "$work/upgraded.txt"; then
    ok "objects.sql describes both databases"
else
    fail "objects.sql describes both databases" "$(cat "$work"/*.err)"
fi

# objects: distinct first fields (extension members, the schema, and the
# columns, constraints, indexes and policies of the tables)
count_objects() { cut -f1 "$1" | sort -u | grep -c .; }
count_kind() { cut -f1 "$1" | sort -u | grep -c "^$2 "; }
objects=$(count_objects "$work/fresh.txt")
members=$(grep -c $'\tmember of extension fanfare$' "$work/fresh.txt")
facts=$(grep -c . "$work/fresh.txt")
echo "# compared $objects objects ($members extension members), $facts facts"
if [ "$objects" -ge "$min_objects" ]; then
    ok "the description names $objects objects (at least $min_objects)"
else
    fail "the description names $objects objects (at least $min_objects)"
fi
for kind in extension schema function table column constraint index policy type; do
    n=$(count_kind "$work/fresh.txt" "$kind")
    if [ "$n" -gt 0 ]; then ok "the description has $n of kind '$kind'"; else fail "the description has objects of kind '$kind'"; fi
done
upgraded_objects=$(count_objects "$work/upgraded.txt")
echo "# upgraded database: $upgraded_objects objects"

if diff -u --label fanfare_fresh --label fanfare_upgraded "$work/fresh.txt" "$work/upgraded.txt" >"$work/upgrade.diff"; then
    ok "fresh $default_version and 0.1.0 upgraded to $default_version have the same objects ($objects objects, $facts facts)"
else
    fail "fresh $default_version and 0.1.0 upgraded to $default_version have the same objects" \
        "$(grep -c '^[-+][^-+]' "$work/upgrade.diff") lines differ"
    cat "$work/upgrade.diff"
fi

# the update did change something: 0.1.0's description is not 0.2.0's
if diff -q "$work/fresh.txt" "$work/before-update.txt" >/dev/null; then
    fail "before the update, the 0.1.0 objects differ from $default_version's"
else
    ok "before the update, the 0.1.0 objects differ from $default_version's ($(diff "$work/fresh.txt" "$work/before-update.txt" | grep -c '^[<>]') lines)"
fi

# --- from 0.2.0: the last release's users ------------------------------------------
if psql_q -d fanfare_from_020 -c "CREATE EXTENSION fanfare VERSION '0.2.0'" &&
    psql_q -d fanfare_from_020 -c "ALTER EXTENSION fanfare UPDATE"; then
    check "from 0.2.0: ALTER EXTENSION fanfare UPDATE reaches $default_version" version_is fanfare_from_020 "$default_version"
else
    fail "from 0.2.0: CREATE EXTENSION fanfare VERSION '0.2.0', then ALTER EXTENSION fanfare UPDATE"
fi
if describe fanfare_from_020 "$work/from-020.txt" &&
    diff -u --label fanfare_fresh --label fanfare_from_020 "$work/fresh.txt" "$work/from-020.txt" >"$work/from-020.diff"; then
    ok "fresh $default_version and 0.2.0 upgraded to $default_version have the same objects"
else
    fail "fresh $default_version and 0.2.0 upgraded to $default_version have the same objects" "$(cat "$work/from-020.txt.err")"
    cat "$work/from-020.diff"
fi

# --- the router extension: 0.2.0 updated, and fresh ----------------------------------
router_version() { [ "$(psql_q -d "$1" -c "SELECT extversion FROM pg_extension WHERE extname = 'fanfare_router'")" = "$2" ]; }
if psql_q -d fanfare_router_fresh -c "SET client_min_messages = warning" -c "CREATE EXTENSION fanfare_router CASCADE" &&
    psql_q -d fanfare_router_upgraded -c "SET client_min_messages = warning" -c "CREATE EXTENSION fanfare_router VERSION '0.2.0' CASCADE"; then
    describe_ext=fanfare_router describe fanfare_router_upgraded "$work/router-020.txt" ||
        fail "objects.sql describes fanfare_router 0.2.0" "$(cat "$work/router-020.txt.err")"
    psql_q -d fanfare_router_upgraded -c "ALTER EXTENSION fanfare_router UPDATE" ||
        fail "router: ALTER EXTENSION fanfare_router UPDATE"
    check "router: ALTER EXTENSION fanfare_router UPDATE reaches $default_version" \
        router_version fanfare_router_upgraded "$default_version"
    if describe_ext=fanfare_router describe fanfare_router_fresh "$work/router-fresh.txt" &&
        describe_ext=fanfare_router describe fanfare_router_upgraded "$work/router-upgraded.txt" &&
        diff -u --label fanfare_router_fresh --label fanfare_router_upgraded \
            "$work/router-fresh.txt" "$work/router-upgraded.txt" >"$work/router.diff"; then
        ok "fresh fanfare_router $default_version and 0.2.0 upgraded have the same objects ($(count_objects "$work/router-fresh.txt") objects, $(grep -c . "$work/router-fresh.txt") facts)"
    else
        fail "fresh fanfare_router $default_version and 0.2.0 upgraded have the same objects" "$(cat "$work"/router-*.err)"
        cat "$work/router.diff"
    fi
    if diff -q "$work/router-fresh.txt" "$work/router-020.txt" >/dev/null; then
        fail "before the update, fanfare_router 0.2.0's objects differ from $default_version's"
    else
        ok "before the update, fanfare_router 0.2.0's objects differ from $default_version's ($(diff "$work/router-fresh.txt" "$work/router-020.txt" | grep -c '^[<>]') lines)"
    fi
else
    fail "router: CREATE EXTENSION fanfare_router (PL/Proxy installed?)"
fi

# --- self-test: the comparison sees a change ---------------------------------------
psql_q -d fanfare_tampered -c "CREATE EXTENSION fanfare" || fail "self-test: CREATE EXTENSION fanfare"
if describe fanfare_tampered "$work/baseline.txt" && diff -q "$work/fresh.txt" "$work/baseline.txt" >/dev/null; then
    ok "self-test: an untouched third install matches the fresh one"
else
    fail "self-test: an untouched third install matches the fresh one"
    diff -u "$work/fresh.txt" "$work/baseline.txt"
fi

# tampered NAME PATTERN SQL...: after SQL, the diff against the fresh install
# must have a line matching PATTERN (an extended regexp over "+obj<TAB>fact"
# or "-obj<TAB>fact")
tampered() {
    local name=$1 pattern=$2
    shift 2
    if ! describe fanfare_tampered "$work/tampered.txt" "$@"; then
        fail "self-test: $name" "$(cat "$work/tampered.txt.err")"
        return
    fi
    diff -u "$work/fresh.txt" "$work/tampered.txt" | grep '^[-+][^-+]' >"$work/tampered.diff"
    if grep -Eq -- "$pattern" "$work/tampered.diff"; then
        ok "self-test: $name is reported ($(grep -c . "$work/tampered.diff") lines, e.g. $(grep -E -m1 -- "$pattern" "$work/tampered.diff" | cut -c1-110))"
    else
        fail "self-test: $name is reported" "diff: $(head -n 5 "$work/tampered.diff")"
    fi
}
T=$'\t'
tampered "a function's comment changed" \
    "^\+function fanfare\.validate_consumers\(jsonb\)${T}comment=changed$" \
    "COMMENT ON FUNCTION fanfare.validate_consumers(jsonb) IS 'changed'"
tampered "a grant revoked" \
    "^\+function fanfare\.consumer_fields\(\)${T}acl=postgres=X/postgres$" \
    "REVOKE EXECUTE ON FUNCTION fanfare.consumer_fields() FROM fanfare_api"
tampered "a function replaced with another body" \
    "^\+function fanfare\.create_organization\(text\)${T}definition=.*btrim" \
    "CREATE OR REPLACE FUNCTION fanfare.create_organization(name text) RETURNS uuid
        LANGUAGE sql VOLATILE STRICT SET search_path = pg_catalog, pg_temp
        AS \$\$ INSERT INTO fanfare.organizations (id, name)
               VALUES (pg_catalog.gen_random_uuid(), btrim(create_organization.name)) RETURNING id \$\$"
tampered "a function made SECURITY DEFINER" \
    "^\+function fanfare\.import_consumers\(text\)${T}security definer=true$" \
    "ALTER FUNCTION fanfare.import_consumers(text) SECURITY DEFINER"
tampered "a function's owner changed" \
    "^\+function fanfare\.current_actor\(\)${T}owner=fanfare_api$" \
    "ALTER FUNCTION fanfare.current_actor() OWNER TO fanfare_api"
tampered "a column default changed" \
    "^\+column sms_opt_out of table fanfare\.consumers${T}default=true$" \
    "ALTER TABLE fanfare.consumers ALTER COLUMN sms_opt_out SET DEFAULT true"
tampered "the column order changed" \
    "^\+column name of table fanfare\.organizations${T}position=004$" \
    "ALTER TABLE fanfare.organizations DROP COLUMN name" \
    "ALTER TABLE fanfare.organizations ADD COLUMN name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200)"
tampered "a check constraint changed" \
    "^\+constraint consumers_activity_rank_check on table fanfare\.consumers${T}definition=.*<= 9" \
    "ALTER TABLE fanfare.consumers DROP CONSTRAINT consumers_activity_rank_check" \
    "ALTER TABLE fanfare.consumers ADD CONSTRAINT consumers_activity_rank_check CHECK (activity_rank BETWEEN 0 AND 9)"
tampered "an index's comment removed" \
    "^\+index fanfare\.consumers_org_email_key${T}comment=\(none\)$" \
    "COMMENT ON INDEX fanfare.consumers_org_email_key IS NULL"
tampered "a policy's roles changed" \
    "^\+policy consumers_tenant_isolation on table fanfare\.consumers${T}roles=fanfare_api$" \
    "ALTER POLICY consumers_tenant_isolation ON fanfare.consumers TO fanfare_api"
tampered "row-level security enabled on another table" \
    "^\+table fanfare\.api_keys${T}row level security=true$" \
    "ALTER TABLE fanfare.api_keys ENABLE ROW LEVEL SECURITY"
tampered "an enum label added" \
    "^\+type fanfare\.consumer_status${T}labels='ACTIVE','INACTIVE','ARCHIVED'$" \
    "ALTER TYPE fanfare.consumer_status ADD VALUE 'ARCHIVED'"
tampered "a table left out of pg_dump's configuration" \
    "^\+extension fanfare${T}dumped tables=2 conditions=2$" \
    "UPDATE pg_extension SET extconfig = extconfig[1:2], extcondition = extcondition[1:2] WHERE extname = 'fanfare'"
tampered "a function no longer a member of the extension" \
    "^-function fanfare\.post_consumers_batch\(json\)${T}member of extension fanfare$" \
    "ALTER EXTENSION fanfare DROP FUNCTION fanfare.post_consumers_batch(json)"
tampered "a function left in the schema, outside the extension" \
    "^\+schema fanfare${T}not a member: function fanfare\.leftover\(\)$" \
    "CREATE FUNCTION fanfare.leftover() RETURNS int LANGUAGE sql AS 'SELECT 1'"
tampered "a comment on the schema" \
    "^\+schema fanfare${T}comment=changed$" \
    "COMMENT ON SCHEMA fanfare IS 'changed'"

# ...and data is not part of the description
if describe fanfare_tampered "$work/with-data.txt" "DO \$\$
        BEGIN
            PERFORM fanfare.rotate_secret_key(fanfare.create_organization('Acme'));
            PERFORM set_config('fanfare.organization_id', '0190f5c2-0000-7000-8000-000000000001', true);
            PERFORM fanfare.create_consumers('{\"consumers\":[{\"emailVerified\":true,\"phoneVerified\":true,\"status\":\"ACTIVE\"}]}');
        END \$\$" &&
    diff -q "$work/fresh.txt" "$work/with-data.txt" >/dev/null; then
    ok "self-test: rows in the tables change nothing in the description"
else
    fail "self-test: rows in the tables change nothing in the description" "$(cat "$work/with-data.txt.err")"
    diff -u "$work/fresh.txt" "$work/with-data.txt" | head -n 20
fi

summary
