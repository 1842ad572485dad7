#!/usr/bin/env bash
# `make fuzz`: a long differential fuzzing run on its own throwaway cluster.
#
#   SEED=1 N=1000000 JOBS=2 CHUNK=100000 test/fuzz/long.sh
#
# Installs what is missing, builds and installs the extension, starts a
# private cluster (stopped again on exit), runs fuzz.mjs for cases 0..N-1 of
# SEED in chunks of CHUNK cases (each chunk's summary is complete on its own,
# so a run cut short still has exact figures) with a progress line every
# PROGRESS seconds, then checks the server log for crashed backends.  The last
# line is "N passed, M failed"; the exit status is non-zero on any mismatch or
# crash.
set -euo pipefail
cd "$(dirname "$0")/../.."

SEED=${SEED:-1}
N=${N:-1000000}
JOBS=${JOBS:-2}
PROGRESS=${PROGRESS:-60}
CHUNK=${CHUNK:-100000}

tools/deps.sh
export PG_CONFIG=${PG_CONFIG:-$(ls -d /usr/lib/postgresql/15/bin/pg_config 2>/dev/null || command -v pg_config)}
make -s PG_CONFIG="$PG_CONFIG"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
(cd test/conformance && { [ -d node_modules ] || npm ci --silent --no-audit --no-fund >/dev/null; })

work=$(mktemp -d /tmp/fanfare-fuzz.XXXXXX)
chmod 755 "$work"
port=${FANFARE_TEST_PORT:-$((55000 + RANDOM % 5000))}
export FANFARE_FAST_CLUSTER=1
cleanup() { tools/cluster.sh stop "$work/data" || true; rm -rf "$work"; }
trap cleanup EXIT
tools/cluster.sh start "$work/data" "$port"
eval "$(tools/cluster.sh env "$work/data" "$port")"

# the library every backend maps: replacing it in place (make install) while
# the run is going would crash backends for reasons of its own
lib="$("$PG_CONFIG" --pkglibdir)/fanfare.so"
lib_before=$(md5sum "$lib" | cut -d' ' -f1)

echo "fuzz: seed $SEED, $N cases in chunks of $CHUNK, $JOBS connections, cluster on port $port"
status=0 passed=0 failed=0 start=0 t0=$(date +%s)
while [ "$start" -lt "$N" ]; do
    n=$(( N - start < CHUNK ? N - start : CHUNK ))
    out=$(mktemp)
    node test/fuzz/fuzz.mjs --seed "$SEED" --start "$start" --n "$n" --jobs "$JOBS" --progress "$PROGRESS" --list-limit 50 2>&1 | tee "$out" || true
    last=$(tail -n 1 "$out")
    rm -f "$out"
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
    else
        failed=$((failed + 1)); status=1
    fi
    start=$((start + n))
    echo "fuzz: progress: $start of $N cases done in $(( $(date +%s) - t0 )) s; so far $passed passed, $failed failed"
done
[ "$failed" -eq 0 ] || status=1
if [ "$(md5sum "$lib" | cut -d' ' -f1)" != "$lib_before" ]; then
    echo "WARNING: $lib was replaced during the run; a crash may come from that, not from a case"
fi
crashes=$(grep -cE 'terminated by signal|server process .* was terminated|all server processes terminated' "$work/data/server.log" || true)
echo "server log: $crashes crash lines"
if [ "$crashes" -ne 0 ]; then
    grep -E 'terminated by signal|was terminated|all server processes terminated' "$work/data/server.log" | head -20
    status=1
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
exit "$status"
