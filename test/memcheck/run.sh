#!/usr/bin/env bash
# `make check-memory`: the extension's regression and conformance suites
# with every PostgreSQL backend running under valgrind memcheck.
#
#   test/memcheck/run.sh
#
# Why valgrind rather than AddressSanitizer: it needs no second build of the
# extension and no sanitizer runtime preloaded into the postmaster (an
# ASan-built fanfare.so in the shared library directory would break every
# other cluster that loads it), and it also reports reads of uninitialised
# memory, which ASan does not.  Its limit, shared with ASan on a stock
# PostgreSQL: without USE_VALGRIND, PostgreSQL's own allocator (palloc) is
# opaque, so an overrun that stays inside a memory-context block or a read
# of a pfree'd chunk whose block is still allocated goes unseen; freed
# context blocks (SPI's, a deleted context's) do go back to malloc and are
# caught.
#
# Steps: install deps, build and install the extension, create a throwaway
# cluster, restart its postmaster under valgrind (--trace-children=yes, one
# log per process), run `make installcheck` (pg_regress + isolation) and
# test/conformance/run.sh against it, stop it, then count the valgrind error
# reports that have a frame in fanfare.so.  Zero to pass; those reports are
# printed in full.  Reports without a fanfare frame (PostgreSQL's own) are
# counted and listed by kind, not failed.  Takes several minutes.
#
# Its cluster is always its own, and it always builds and installs the tree
# first.  Under a runner that shares a cluster (FANFARE_TEST_DATADIR set, as
# tools/test.sh does) it only says that it is skipped, unless
# FANFARE_MEMCHECK=1 (tools/test.sh sets it): it is slow.  FANFARE_KEEP_WORK=1 keeps the valgrind
# logs.  The last line counts the steps (pg_regress + isolation,
# conformance, the valgrind reports); the exit status is non-zero when one
# fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../../tools/lib.sh
. tools/lib.sh

if [ -n "${FANFARE_TEST_DATADIR:-}" ] && [ "${FANFARE_MEMCHECK:-0}" != 1 ]; then
    note "memcheck: skipped in a shared run (slow); run make check-memory, or FANFARE_MEMCHECK=1"
    summary steps
    exit 0
fi

build_and_install || abort "the build"
node_deps || abort "npm ci in test/conformance"

bindir=$("$PG_CONFIG" --bindir)
new_work_dir memcheck
mkdir "$work/vg"
chmod 777 "$work/vg"
port=$(free_port) || abort "a free port"
data="$work/data"

# the postmaster, wrapped: pg_ctl -p runs this instead of postgres
cp test/memcheck/postgresql.supp "$work/postgresql.supp"
cat >"$work/postgres" <<WRAP
#!/bin/sh
exec valgrind --quiet --tool=memcheck --trace-children=yes --leak-check=no \\
    --track-origins=yes --read-var-info=no --num-callers=30 \\
    --suppressions=$work/postgresql.supp \\
    --log-file=$work/vg/pg.%p.log \\
    $bindir/postgres "\$@"
WRAP
chmod 755 "$work/postgres"
on_exit cluster_stop "$data" -t 300

# initdb (and a first start/stop) the usual way, then restart under valgrind
FANFARE_FAST_CLUSTER=1 cluster_start "$data" "$port" || abort "the cluster starts"
cluster_stop "$data"
echo "memcheck: starting the postmaster under valgrind (port $port)"
cluster_start "$data" "$port" -p "$work/postgres" \
    -o "-c autovacuum=off -c jit=off -c max_parallel_workers_per_gather=0" -t 600 ||
    abort "the postmaster starts under valgrind"
cluster_use "$data" "$port"
export FANFARE_TEST_DATADIR=$data FANFARE_TEST_PORT=$port

t0=$(date +%s)
step "pg_regress + isolation under valgrind" test/regress/run.sh
step "conformance under valgrind" test/conformance/run.sh
echo "memcheck: suites took $(( $(date +%s) - t0 )) s"

cluster_stop "$data" -t 300
crashed=$(grep -cE 'terminated by signal|was terminated by|all server processes terminated' "$data/server.log")
check "server log: no crash line ($crashed)" [ "$crashed" -eq 0 ]

# the reports with a frame in the extension, printed in full (scan.mjs)
node test/memcheck/scan.mjs "$work/vg" "$work/ours"
ours=$(cat "$work/ours" 2>/dev/null || echo 1)
check "no valgrind report with a frame in fanfare.so ($ours)" [ "$ours" -eq 0 ]
summary steps
