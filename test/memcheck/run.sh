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
# Under `make test` (tools/test.sh sets FANFARE_TEST_DATADIR) it only says
# that it is skipped, unless FANFARE_MEMCHECK=1: it is too slow for every run.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

if [ -n "${FANFARE_TEST_DATADIR:-}" ] && [ "${FANFARE_MEMCHECK:-0}" != 1 ]; then
    echo "memcheck: skipped under make test (slow); run make check-memory, or FANFARE_MEMCHECK=1"
    echo "0 passed, 0 failed"
    exit 0
fi

set -e
tools/deps.sh
export PG_CONFIG=${PG_CONFIG:-$(ls -d /usr/lib/postgresql/15/bin/pg_config 2>/dev/null || command -v pg_config)}
make -s PG_CONFIG="$PG_CONFIG"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
(cd test/conformance && { [ -d node_modules ] || npm ci --silent --no-audit --no-fund >/dev/null; })
set +e

bindir=$("$PG_CONFIG" --bindir)
work=$(mktemp -d /tmp/fanfare-memcheck.XXXXXX)
chmod 755 "$work"
mkdir "$work/vg"
chmod 777 "$work/vg"
port=${FANFARE_MEMCHECK_PORT:-$((55000 + RANDOM % 5000))}
data="$work/data"
export FANFARE_FAST_CLUSTER=1

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

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

cleanup() {
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 300 stop >/dev/null 2>&1 || true
    if [ "${FANFARE_MEMCHECK_KEEP:-0}" = 1 ]; then echo "memcheck: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# initdb (and a first start/stop) the usual way, then restart under valgrind
tools/cluster.sh start "$data" "$port"
tools/cluster.sh stop "$data"
echo "memcheck: starting the postmaster under valgrind (port $port)"
as_owner "$bindir/pg_ctl" -D "$data" -p "$work/postgres" \
    -o "-p $port -c autovacuum=off -c jit=off -c max_parallel_workers_per_gather=0" \
    -l "$data/server.log" -w -t 600 start >/dev/null || { echo "memcheck: the postmaster did not start"; tail -20 "$data/server.log"; echo "0 passed, 1 failed"; exit 1; }
eval "$(tools/cluster.sh env "$data" "$port")"

status=0
t0=$(date +%s)
echo "== pg_regress + isolation under valgrind"
if make -s installcheck PG_CONFIG="$PG_CONFIG"; then echo "-- regress: ok"; else
    echo "-- regress: FAILED"; status=1
    head -100 regression.diffs 2>/dev/null; head -100 output_iso/regression.diffs 2>/dev/null
fi
echo "== conformance under valgrind"
if test/conformance/run.sh | tail -n 5; then echo "-- conformance: ok"; else echo "-- conformance: FAILED"; status=1; fi
echo "memcheck: suites took $(( $(date +%s) - t0 )) s"

as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 300 stop >/dev/null 2>&1
crashed=$(grep -cE 'terminated by signal|was terminated by|all server processes terminated' "$data/server.log")

# the reports with a frame in the extension, printed in full (scan.mjs)
node test/memcheck/scan.mjs "$work/vg" "$work/ours"
ours=$(cat "$work/ours" 2>/dev/null || echo 1)
echo "memcheck: server log: $crashed crash lines"
[ "$crashed" -eq 0 ] || status=1
[ "$ours" -eq 0 ] || status=1
if [ "$status" -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit "$status"
