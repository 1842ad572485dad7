#!/usr/bin/env bash
# `make check-assert`: the pg_regress and isolation suites against an
# assert-enabled build of the extension (-DUSE_ASSERT_CHECKING), loaded into
# the ordinary, non-assert PostgreSQL server.
#
#   test/assert/run.sh
#
# Builds in a copy of the work tree (tools/copy-tree.sh), so the tree's own
# objects are untouched, checks that the library really calls Assert's
# ExceptionalCondition, installs it and runs `make installcheck` on a
# throwaway cluster of its own, then checks that the backend had loaded the
# assert build and that no assertion failed (no TRAP in the server log).
#
# Where it is installed: Debian's PostgreSQL has extension_destdir, so the
# build goes to a staging directory that only this cluster reads
# (extension_destdir and dynamic_library_path), and the system's PostgreSQL
# directories are not touched at all.  A server without it gets the build in
# its directories (as root, or through sudo), and the normal build of the
# work tree is installed again afterwards (FANFARE_ASSERT_INSTALL=system
# asks for that way on Debian too).
#
# Why an assert build loads into a non-assert server: in PostgreSQL 15's
# headers, USE_ASSERT_CHECKING turns on Assert(), which calls
# ExceptionalCondition (exported by every server), and, through
# pg_config_manual.h, CLOBBER_FREED_MEMORY, MEMORY_CONTEXT_CHECKING and
# DISCARD_CACHES_ENABLED.  Those three act inside the server's own code
# (aset.c, inval.c), so here they change nothing; the one layout they touch
# is the last member of MemoryContextMethods (check), which only a module
# defining its own memory context type would see.  A few functions exist only
# in assert-enabled servers (MemoryContextCheck, AssertCouldGetRelation,
# AssertTransactionIdInAllowableRange, ...): a module calling one of them
# would fail to load here with an undefined symbol, which this test shows.
# Prints ok/FAIL lines and "N passed, M failed"; exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
# shellcheck source=../../tools/lib.sh
. tools/lib.sh

tools/deps.sh || abort "tools/deps.sh"
sharedir=$("$PG_CONFIG" --sharedir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)

new_work_dir assert
src=$work/src
system_install=0
# after a system install, the normal build of the work tree goes back
reinstall_normal_build() {
    [ "$system_install" = 1 ] || return 0
    make -s PG_CONFIG="$PG_CONFIG" >/dev/null && as_root make -s install PG_CONFIG="$PG_CONFIG" >/dev/null &&
        note "reinstalled the normal build of $root"
}
on_exit reinstall_normal_build

# --- the assert-enabled build, in a copy ------------------------------------------
tools/copy-tree.sh "$src"
# PG_CPPFLAGS reaches the objects and the JIT bitcode alike
if make -C "$src" -s -j2 PG_CONFIG="$PG_CONFIG" PG_CPPFLAGS=-DUSE_ASSERT_CHECKING >"$work/build.log" 2>&1; then
    ok "the extension builds with -DUSE_ASSERT_CHECKING"
else
    tail -n 30 "$work/build.log"
    abort "the extension builds with -DUSE_ASSERT_CHECKING"
fi
check "the assert build calls ExceptionalCondition (its asserts are compiled in)" \
    bash -c 'nm -D --undefined-only "$1" | grep -qw ExceptionalCondition' _ "$src/fanfare.so"

# --- installed where only this cluster looks, or else in the server's directories ---
stage=$work/stage
if [ "${FANFARE_ASSERT_INSTALL:-}" != system ] &&
    grep -q '^#extension_destdir' "$sharedir/postgresql.conf.sample" 2>/dev/null; then
    if make -C "$src" -s install DESTDIR="$stage" PG_CONFIG="$PG_CONFIG" >"$work/install.log" 2>&1; then
        ok "installed into a staging directory (extension_destdir)"
    else
        fail "installed into a staging directory (extension_destdir)"
        tail -n 20 "$work/install.log"
    fi
    loaded_from=$stage$pkglibdir/fanfare.so
else
    note "this server has no extension_destdir: installing into $pkglibdir"
    system_install=1
    if as_root make -C "$src" -s install PG_CONFIG="$PG_CONFIG" >"$work/install.log" 2>&1; then
        ok "installed into the server's directories"
    else
        fail "installed into the server's directories"
        tail -n 20 "$work/install.log"
    fi
    loaded_from=$pkglibdir/fanfare.so
fi

throwaway_cluster assert || abort "throwaway cluster started"
if [ "$system_install" = 0 ]; then
    psql_q -d postgres -c "ALTER SYSTEM SET extension_destdir = '$stage'" \
        -c "ALTER SYSTEM SET dynamic_library_path = '$stage$pkglibdir:\$libdir'" \
        -c "SELECT pg_reload_conf()" >/dev/null
    # fanfare is preloaded (its rate limit's shared memory): a restart
    # preloads the assert build, found first on dynamic_library_path
    cluster_stop "$FANFARE_TEST_DATADIR" && suite_cluster_restart || abort "the cluster restarts with the assert build preloaded"
fi
ok "throwaway cluster started (port $PGPORT)"

# --- the suites ------------------------------------------------------------------
if make -C "$src" -s installcheck PG_CONFIG="$PG_CONFIG" >"$work/regress.log" 2>&1; then
    ok "pg_regress and isolation suites pass against the assert build"
else
    fail "pg_regress and isolation suites pass against the assert build"
    cat "$src/regression.diffs" "$src/output_iso/regression.diffs" 2>/dev/null | head -n 150
fi
grep -E '^(ok|not ok|test) ' "$work/regress.log" | sed 's/^/#   /'

# the library a backend maps is the assert build, not a system install
psql_q -d postgres -c "CREATE DATABASE fanfare_assert_probe" >/dev/null
maps=$(psql_q -d fanfare_assert_probe -c "CREATE EXTENSION fanfare" \
    -c "SET fanfare.organization_id = '0190f5c2-8d2e-7a51-9c40-6f1d2b3a4c5e'" \
    -c "SELECT fanfare.validate_consumers('{\"consumers\":[]}')" \
    -c "SELECT pg_read_file('/proc/self/maps')" 2>&1 | grep 'fanfare\.so' | awk '{print $NF}' | sort -u)
check "the backend loaded $loaded_from" test "$maps" = "$loaded_from" || note "loaded: ${maps:-nothing}"

trap_lines=$(grep -c 'TRAP:' "$FANFARE_TEST_DATADIR/server.log")
check "no assertion failed (no TRAP in the server log)" test "$trap_lines" = 0 ||
    grep -A3 'TRAP:' "$FANFARE_TEST_DATADIR/server.log" | head -n 20
crashes=$(grep -c 'terminated by signal' "$FANFARE_TEST_DATADIR/server.log")
check "no backend crashed" test "$crashes" = 0

summary
