#!/usr/bin/env bash
# `make check-static`: the clang static analyzer (scan-build) over the
# extension and the gateway, then tools/check-modules.sh over the objects it
# built (one header and one prefix per module, no two modules using each
# other).
#
#   test/static/run.sh
#
# Installs clang-tools if scan-build is missing (as root, or through sudo),
# copies the work tree (tools/copy-tree.sh) so that the build is clean and
# the tree's own objects are untouched, and builds the extension and the
# gateway there under `scan-build --status-bugs`: every file is compiled by
# the usual compiler with the usual flags and analyzed by clang.  Prints each
# finding (file:line: message [checker]) and exits non-zero if there is any;
# the HTML report is then kept and its directory printed.
# SCAN_BUILD_ARGS adds options (e.g. "-enable-checker alpha.unix.cstring").
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../../tools/lib.sh
. tools/lib.sh

command -v scan-build >/dev/null 2>&1 || apt_install clang-tools
tools/deps.sh

# kept when the analysis fails (the report is in it)
new_work_dir static
tools/copy-tree.sh "$work/src"

# PGXS sets CC in its Makefile.global, which beats the CC that scan-build
# puts in the environment; so CC goes on make's command line (it reaches the
# gateway's Makefile from there), pointing at scan-build's compiler wrapper,
# which runs the real compiler (--use-cc) and then the analyzer.
scan_build=$(readlink -f "$(command -v scan-build)")
ccc=$(dirname "$scan_build")/../libexec/ccc-analyzer
[ -x "$ccc" ] || { echo "static: $ccc not found (scan-build's compiler wrapper)" >&2; exit 1; }
real_cc=$(make -s --no-print-directory -C "$work/src" -f Makefile -f - print-cc <<<'print-cc: ; @echo $(CC)')

status=0
# shellcheck disable=SC2086  # SCAN_BUILD_ARGS is words
scan-build --status-bugs -o "$work/report" --use-cc="$real_cc" \
    -enable-checker optin.portability.UnixAPI -enable-checker security.FloatLoopCounter \
    ${SCAN_BUILD_ARGS:-} \
    make -C "$work/src" -j2 CC="$ccc" PG_CONFIG="$PG_CONFIG" with_llvm=no \
    >"$work/build.log" 2>&1 || status=$?

# the analyzer's findings are diagnostics with the checker's name in
# brackets; paths are relative to the directory make ran in (src/gateway for
# the gateway), made relative to the tree here
findings=$(grep -E '^[^ ]+:[0-9]+:[0-9]+: warning: .* \[(core|deadcode|unix|security|nullability|optin|alpha|cplusplus|valist|apiModeling)\.[A-Za-z0-9.]*\]$' \
    "$work/build.log" | sed "s|^$work/src/||" | sort -u |
    while IFS= read -r line; do
        path=${line%%:*}
        if [ ! -f "$work/src/$path" ] && [ -f "$work/src/src/gateway/$path" ]; then
            line="src/gateway/$line"
        fi
        echo "$line"
    done || true)   # no finding: grep exits 1, which is not an error here
grep -E '^scan-build: ' "$work/build.log" || true

# the modules' borders (issue 18), from nm of the objects just built
modules=0
tools/check-modules.sh "$work/src" || modules=1
if [ -n "$findings" ]; then
    echo "static: findings:"
    echo "$findings" | sed 's/^/  /'
fi

if [ "$status" -ne 0 ]; then
    FANFARE_KEEP_WORK=1
    if [ -z "$findings" ] && ! grep -q 'bugs\? found' "$work/build.log"; then
        echo "static: the build failed:" >&2
        tail -n 30 "$work/build.log" >&2
    fi
    echo "static: FAILED; HTML report and build log kept in $work" >&2
    exit 1
fi
if [ "$modules" -ne 0 ]; then
    echo "static: FAILED: tools/check-modules.sh (above)" >&2
    exit 1
fi
echo "static: no findings"
