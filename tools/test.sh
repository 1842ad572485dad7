#!/usr/bin/env bash
# `make test`: everything, from a fresh Debian 12 machine.
#
# Installs missing packages, builds and installs the extension and the
# gateway, starts a throwaway cluster, runs the pg_regress and isolation
# suites, the conformance runner and response-schema check, the gateway's
# integration tests (with a valgrind pass), differential fuzzing with a
# fixed seed and the crash-resistance cases, the hostile-tenant bounds (CPU,
# memory and cancel per hostile body), the short load/fault/security
# suite (with its fault audit behind PgBouncer), the extension's memory check (its own cluster under valgrind), the
# upgrade comparison, the PostgREST replay, the router over two shard
# clusters of its own (test/router), a failover of a primary with a
# synchronous standby and back (test/failover), the regression suite against an
# assert-enabled build (its own cluster), the clang static analyzer, the
# Debian packages (built, installed, used and purged) and the benchmark's
# quick mode (its own cluster; no timing asserted), stops the cluster, and
# prints one summary line.  Each suite is test/NAME/run.sh, run here against the shared
# cluster (PGHOST and FANFARE_TEST_DATADIR set); each also runs alone, on a
# cluster of its own: make check-NAME (see CONTRIBUTING.md).  A suite passes
# when its script exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. tools/lib.sh

build_and_install
# throwaway cluster, reachable by every suite through the libpq variables
throwaway_cluster test
node_deps --fresh

set +e
step "regress" test/regress/run.sh
# the short suites; the long ones (make fuzz, make soak) have their own targets
for name in conformance gateway fuzz hostile reliability memcheck upgrade postgrest router failover import webhooks ratelimit version assert static package bench; do
    t=test/$name/run.sh
    if [ ! -x "$t" ]; then
        fail "$name" "$t is missing"
        continue
    fi
    # the memory check is slow, but CI should run it: ask for it here
    FANFARE_MEMCHECK=1 step "$name" "$t"
done

summary suites
