#!/usr/bin/env bash
# `make deb`: the Debian packages postgresql-15-fanfare and fanfare-gateway,
# built by Debian's own tooling (dpkg-buildpackage, debhelper, pg_buildext)
# from debian/, into dist/.
#
#   tools/deb.sh
#
# Installs the build dependencies that debian/control names if any is
# missing (as root, or through sudo), checks that the version agrees
# everywhere (tools/check-version.sh), copies the work tree (tracked and
# untracked files, not ignored ones: tools/copy-tree.sh) to a temporary
# directory and runs `dpkg-buildpackage -us -uc -b` there, so that neither
# the work tree's own build nor the repository's parent directory is
# touched, then moves the .deb, .buildinfo and .changes files into dist/
# (ignored by git), replacing what an earlier run left there.
#
# DEB_BUILD_OPTIONS defaults to "noautodbgsym parallel=2" (no -dbgsym
# packages, two jobs); set it to choose otherwise, e.g. "nocheck" to skip the
# regression suite that the build runs against the staged extension.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. tools/lib.sh

# the tools that read debian/ and the version files
apt_install dpkg-dev python3

tools/check-version.sh

# the build dependencies, as debian/control lists them
if ! dpkg-checkbuilddeps -B >/dev/null 2>&1; then
    echo "deb: installing the build dependencies of debian/control"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq --no-install-recommends \
        ${DEB_BUILD_PROFILES:+--build-profiles="${DEB_BUILD_PROFILES// /,}"} ./
fi

version=$(dpkg-parsechangelog -S Version)
# the build's regression suite runs a server as postgres, which must read the
# staged extension in here (else it quietly tests an installed one): the
# scratch directory is open to it
new_work_dir deb
src=$work/fanfare-${version%-*}
tools/copy-tree.sh "$src"

echo "deb: building fanfare $version in $src"
# The build's suite starts its own server (pg_virtualenv), which takes its
# port and socket from the libpq variables when they are set: a caller's
# PGPORT (make test's shared cluster) would make it bind a port in use.
# The build is a clean room: none of them reach it.
for v in $(compgen -e | grep '^PG' | grep -v '^PG_CONFIG$' || true); do
    unset "$v"
done
(cd "$src" && DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-noautodbgsym parallel=2} \
    dpkg-buildpackage -us -uc -b)

mkdir -p dist
rm -f dist/*.deb dist/*.buildinfo dist/*.changes
shopt -s nullglob
outputs=("$work"/*.deb "$work"/*.buildinfo "$work"/*.changes)
[ ${#outputs[@]} -gt 0 ] || { echo "deb: dpkg-buildpackage made no files" >&2; exit 1; }
mv "${outputs[@]}" dist/
echo "deb: in dist/:"
ls -l dist/
