#!/usr/bin/env bash
# `make fuzz`: a long differential fuzzing run on its own throwaway cluster.
#
#   SEED=1 N=1000000 JOBS=2 CHUNK=100000 test/fuzz/long.sh
#
# Installs what is missing, builds and installs the extension, starts a
# private cluster (stopped again on exit), runs fuzz.mjs for cases 0..N-1 of
# SEED in chunks of CHUNK cases (each chunk's summary is complete on its own,
# so a run cut short still has exact figures) with a progress line every
# PROGRESS seconds, then checks the server log for crashed backends.  Each
# chunk passes when fuzz.mjs exits 0 (its own summary line gives the
# counts); the last line counts the chunks, and the exit status is non-zero
# on any mismatch or crash.  Then HOSTILE_N random deep and wide bodies
# (test/hostile) must each stay within their CPU and memory bounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../../tools/lib.sh
. tools/lib.sh

SEED=${SEED:-1}
N=${N:-1000000}
JOBS=${JOBS:-2}
PROGRESS=${PROGRESS:-60}
CHUNK=${CHUNK:-100000}
HOSTILE_N=${HOSTILE_N:-60}

build_and_install
node_deps
throwaway_cluster fuzz-long

# the library every backend maps: replacing it in place (make install) while
# the run is going would crash backends for reasons of its own
lib="$("$PG_CONFIG" --pkglibdir)/fanfare.so"
lib_before=$(md5sum "$lib" | cut -d' ' -f1)

set +e
echo "fuzz: seed $SEED, $N cases in chunks of $CHUNK, $JOBS connections, cluster on port $PGPORT"
start=0 chunk=0 t0=$(date +%s)
while [ "$start" -lt "$N" ]; do
    n=$(( N - start < CHUNK ? N - start : CHUNK ))
    chunk=$((chunk + 1))
    step "chunk $chunk: cases $start..$((start + n - 1))" \
        node test/fuzz/fuzz.mjs --seed "$SEED" --start "$start" --n "$n" --jobs "$JOBS" --progress "$PROGRESS" --list-limit 50
    start=$((start + n))
    echo "fuzz: progress: $start of $N cases done in $(( $(date +%s) - t0 )) s; chunks so far: $passed passed, $failed failed"
done
# deep and wide bodies from the same seed, each with its CPU and memory bound
# (test/hostile/hostile.mjs); HOSTILE_N of them, at 1, 4 and 16 MB
step "hostile deep and wide bodies: $HOSTILE_N from seed $SEED" \
    node test/hostile/hostile.mjs --shapes random --random "$HOSTILE_N" --mb 1,4,16 --seed "$SEED"
if [ "$(md5sum "$lib" | cut -d' ' -f1)" != "$lib_before" ]; then
    note "WARNING: $lib was replaced during the run; a crash may come from that, not from a case"
fi
server_log=$FANFARE_TEST_DATADIR/server.log
crash_pattern='terminated by signal|server process .* was terminated|all server processes terminated'
crashes=$(grep -cE "$crash_pattern" "$server_log")
if [ "$crashes" -eq 0 ]; then
    ok "server log: no crash line"
else
    fail "server log: no crash line" "$crashes crash lines"
    grep -E "$crash_pattern" "$server_log" | head -20
fi
summary steps
