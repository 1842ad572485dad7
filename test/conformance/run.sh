#!/usr/bin/env bash
# Conformance suite: the cases runner (run.mjs) and the response-schema check
# (response-schema.mjs) against the fanfare extension.
#
#   test/conformance/run.sh [run.mjs arguments]     (make check-conformance)
#   test/conformance/run.sh --only timestamp/       one category of cases
#
# Alone, it builds and installs the tree and starts a throwaway cluster of
# its own (tools/lib.sh); with PGHOST set it uses the cluster the PG*
# variables name.  Arguments go to run.mjs (e.g. another cases file).  Each
# runner prints its own "N passed, M failed"; a step passes when its runner
# exits 0, and the suite's last line counts the steps.
set -uo pipefail
cd "$(dirname "$0")"
# shellcheck source=../../tools/lib.sh
. ../../tools/lib.sh

suite_cluster conformance || abort "a cluster to test against"
node_deps || abort "npm ci in test/conformance"

step "cases (node run.mjs${*:+ $*})" node run.mjs "$@"
step "response schema (node response-schema.mjs)" node response-schema.mjs
summary steps
