#!/usr/bin/env bash
# A private PostgreSQL cluster for tests, benchmarks and `make run`.
#
#   tools/cluster.sh start DIR PORT   create (once) and start a cluster in DIR
#   tools/cluster.sh stop DIR         stop it (fast shutdown)
#   tools/cluster.sh env DIR PORT     print the libpq variables to reach it
#
# The server listens on 127.0.0.1 and on a Unix socket in DIR, with trust
# authentication for local connections, superuser "postgres".  initdb refuses
# to run as root, so as root the cluster belongs to the postgres user (DIR's
# parent must then be open to it, as /tmp is).  FANFARE_FAST_CLUSTER=1 at
# creation turns fsync off.  The work is done by tools/lib.sh (cluster_*),
# which scripts source instead of calling this.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

usage() { echo "usage: cluster.sh start|stop|env DIR [PORT]" >&2; exit 2; }
cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || usage

case "$cmd" in
start) cluster_start "$dir" "${3:?port}" ;;
stop) cluster_stop "$dir" ;;
env) cluster_env "$dir" "${3:?port}" ;;
*) usage ;;
esac
