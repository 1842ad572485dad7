#!/usr/bin/env bash
# The pg_regress suites (sql/, expected/) and the isolation specs
# (test/isolation/): `make installcheck` of the tree.
#
#   test/regress/run.sh                 (make check-regress) every file
#   test/regress/run.sh validation      some pg_regress files only (make
#                                       check-regress REGRESS=validation);
#                                       the isolation specs still run
#
# The files share one database, and every file after `install` expects the
# extension to exist already (its CREATE EXTENSION IF NOT EXISTS prints a
# NOTICE in the expected output), so `install` is put first when a list
# leaves it out.
# Alone, it builds and installs the tree and starts a throwaway cluster of
# its own (tools/lib.sh); with PGHOST set it uses the cluster the PG*
# variables name (tools/test.sh and test/memcheck/run.sh do).  On a failure
# prints the start of the diffs (regression.diffs, output_iso/regression.diffs,
# kept in the tree).  Exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../../tools/lib.sh
. tools/lib.sh

files=("$@")
if [ ${#files[@]} -gt 0 ] && [[ " ${files[*]} " != *" install "* ]]; then files=(install "${files[@]}"); fi

suite_cluster regress || abort "a cluster to test against"
if make -s installcheck PG_CONFIG="$PG_CONFIG" ${1:+REGRESS="${files[*]}"}; then
    ok "make installcheck${1:+ REGRESS=\"${files[*]}\"}"
else
    fail "make installcheck${1:+ REGRESS=\"${files[*]}\"}"
    head -n 200 regression.diffs 2>/dev/null
    head -n 200 output_iso/regression.diffs 2>/dev/null
fi
summary
