#!/usr/bin/env bash
# PostgREST replay suite: replays, as PostgREST 12's roles, the statements
# PostgREST sends for POST /rpc/post_consumers_batch (replay.mjs says which),
# and checks bodies, statuses and stored rows against the contract.
#
#   test/postgrest/run.sh            (make check-postgrest)
#
# With PGHOST/PGPORT/PGUSER naming a running cluster (a superuser, the
# extension installed), the suite uses it, as the other suites do.  Without
# PGHOST it builds and installs the tree and starts a throwaway cluster of
# its own (tools/lib.sh), stopped and removed at exit, so that this script
# works alone.  FANFARE_REPLAY_INJECT=1 makes some expectations wrong on
# purpose (they must FAIL).  The last line is "N passed, M failed"; the exit
# status is non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"
# shellcheck source=../../tools/lib.sh
. ../../tools/lib.sh

suite_cluster postgrest || abort "a cluster to test against"
node_deps || abort "npm ci in test/conformance"
node replay.mjs
