#!/usr/bin/env bash
# Install what fanfare needs to build, run and test, on Debian 12, if missing.
# Runs apt-get as root (directly, or through sudo).  Safe to run repeatedly:
# it only touches apt when a package is missing.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
packages=(
    build-essential pkg-config curl ca-certificates procps
    "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" postgresql-contrib libpq-dev
    libmicrohttpd-dev
    libipc-run-perl valgrind wrk python3-yaml
)
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
[ "${FANFARE_BENCH_DEPS:-}" = 1 ] && packages+=(gnuplot-nox)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
