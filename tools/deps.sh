#!/usr/bin/env bash
# Install what fanfare needs to build, run and test, on Debian 12, if missing.
# Runs apt-get as root (directly, or through sudo).  Safe to run repeatedly:
# it only touches apt when a package is missing.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

PG_MAJOR=${PG_MAJOR:-15}
packages=(
    build-essential pkg-config curl ca-certificates procps
    "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" postgresql-contrib libpq-dev
    "postgresql-$PG_MAJOR-plproxy"
    libmicrohttpd-dev
    libcurl4-openssl-dev libjansson-dev libcsv-dev libssl-dev
    libipc-run-perl valgrind wrk python3-yaml
    python3-prometheus-client
    pgbouncer
)
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
[ "${FANFARE_BENCH_DEPS:-}" = 1 ] && packages+=(gnuplot-nox)

apt_install "${packages[@]}"
