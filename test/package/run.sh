#!/usr/bin/env bash
# `make check-package`: the Debian packages, built, installed, used and
# purged, as a user of them would.
#
#   test/package/run.sh
#
# 1. builds postgresql-15-fanfare and fanfare-gateway (`make deb`) and lists
#    each .deb's contents;
# 2. installs them with apt-get and checks the installed files: the
#    extension in PostgreSQL's directories, the gateway binary, its systemd
#    unit (systemd-analyze verify), its environment file (a conffile, mode
#    0600, naming every variable of --help) and its man page (every flag);
#    the same for the webhook relay (fanfare-relay, fanfare-relay.service,
#    /etc/default/fanfare-relay, fanfare-relay(1));
# 3. starts a throwaway cluster (tools/lib.sh) and runs CREATE EXTENSION
#    fanfare and the project's pg_regress suite (REGRESS of the Makefile)
#    against the installed extension, with PGXS's installed pg_regress;
# 4. starts the gateway exactly as the unit does: its ExecStart= line, the
#    variables of its EnvironmentFile= (plus the listen address and the
#    database URL of the throwaway cluster), as an unprivileged user; makes
#    an organization and a secret key, POSTs one consumer to
#    /consumers/batch and expects 200; stops the gateway and the cluster;
# 5. purges both packages and checks that nothing is left: no path the
#    packages installed (dpkg -L, less directories other packages share),
#    not the conffile, no new file named *fanfare* in the system directories.
#
# Runs as root (or through sudo).  It does not need `make install` and can
# run before it (CI: deps, build, this suite, make install, the others).
# Files that an earlier `make install` left in PostgreSQL's directories are
# taken over by dpkg when the package is installed and deleted by the purge;
# this suite copies them aside first and puts them back at the end, and the
# callers (tools/test.sh, make run) reinstall the extension anyway.
# Prints ok/FAIL lines and "N passed, M failed"; exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
# shellcheck source=../../tools/lib.sh
. tools/lib.sh
export DEBIAN_FRONTEND=noninteractive

packages=(postgresql-15-fanfare fanfare-gateway)
new_work_dir package-test
gw_pid=
installed=0
restored=0

# puts back what a `make install` had left before the package took it over
restore_previous_files() {
    [ "$restored" = 0 ] || return 0
    restored=1
    if [ -s "$work/previous.tar" ]; then
        as_root tar -C / -xpf "$work/previous.tar" &&
            note "put back $(tar -tf "$work/previous.tar" | wc -l) file(s) of an earlier make install"
    fi
}
# what a failed check leaves: the gateway, the packages, the files aside
undo_package_test() {
    [ -n "$gw_pid" ] && kill -KILL "$gw_pid" 2>/dev/null
    if [ "$installed" = 1 ]; then
        as_root apt-get purge -y -qq "${packages[@]}" >/dev/null 2>&1
    fi
    restore_previous_files
}
on_exit undo_package_test

# --- 1. build ------------------------------------------------------------------
tools/deps.sh || abort "tools/deps.sh"
bindir=$("$PG_CONFIG" --bindir)
version=$(sed -n 's/^EXTVERSION[[:space:]]*=[[:space:]]*//p' Makefile)

for p in "${packages[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        abort "$p is not installed before the test" "purge it first: apt-get purge ${packages[*]}"
    fi
done

if make -s deb >"$work/deb.log" 2>&1; then
    ok "make deb builds the packages"
else
    tail -n 40 "$work/deb.log"
    abort "make deb builds the packages"
fi
debs=()
for p in "${packages[@]}"; do
    f=$(ls dist/"${p}"_*.deb 2>/dev/null | head -1)
    if [ -n "$f" ]; then
        ok "dist/ has $(basename "$f")"
        debs+=("$root/$f")
    else
        fail "dist/ has a $p package"
    fi
done
[ ${#debs[@]} -eq ${#packages[@]} ] || { summary; exit 1; }
for f in "${debs[@]}"; do
    echo "# contents of $(basename "$f"):"
    dpkg -c "$f" | sed 's/^/#   /'
    deb_version=$(dpkg-deb -f "$f" Version)
    check "$(basename "$f") is version $version-N" test "${deb_version%-*}" = "$version"
done
check "postgresql-15-fanfare depends on postgresql-15" \
    bash -c 'dpkg-deb -f "$1" Depends | grep -Eq "(^|, )postgresql-15( |,|$)"' _ "${debs[0]}"

# --- 2. install ------------------------------------------------------------------
# what exists before: files a `make install` left (copied aside, see above)
# and every *fanfare* name in the system directories (compared after purge)
system_dirs=(/etc /lib/systemd /usr/lib/systemd /var/lib/systemd /usr/bin /usr/sbin
    /usr/lib/postgresql /usr/share/postgresql /usr/share/doc /usr/share/man)
find_fanfare_names() {
    find "${system_dirs[@]}" -name '*fanfare*' 2>/dev/null | sort
}
find_fanfare_names >"$work/names.before"
for f in "${debs[@]}"; do
    dpkg-deb --fsys-tarfile "$f" | tar -t | sed -e 's|^\./|/|' -e 's|/$||'
done | sort -u >"$work/deb.paths"
while read -r path; do
    if [ -f "$path" ] || [ -L "$path" ]; then
        dpkg -S "$path" >/dev/null 2>&1 || echo "${path#/}"
    fi
done <"$work/deb.paths" >"$work/previous.list"
# directories of the packages that exist already (a make install's) stay
while read -r path; do [ -d "$path" ] && echo "$path"; done <"$work/deb.paths" >"$work/dirs.before"
if [ -s "$work/previous.list" ]; then
    note "$(wc -l <"$work/previous.list") file(s) of an earlier make install will be taken over by the package; copied aside"
    as_root tar -C / -cpf "$work/previous.tar" -T "$work/previous.list"
fi

installed=1
if as_root apt-get install -y -qq "${debs[@]}" >"$work/install.log" 2>&1; then
    ok "apt-get install ./dist/*.deb"
else
    tail -n 20 "$work/install.log"
    abort "apt-get install ./dist/*.deb"
fi

# every path the packages own, for the check after the purge; directories
# that other packages also own are shared and stay
: >"$work/owned.files"
: >"$work/owned.dirs"
for p in "${packages[@]}"; do
    dpkg -L "$p" | while read -r path; do
        if [ -d "$path" ]; then  # a directory, or a link to one (/lib on merged /usr)
            owners=$(dpkg -S "$path" 2>/dev/null | sed 's/: .*//' | tr ', ' '\n\n' | grep -v '^$' | sort -u)
            [ "$owners" = "$p" ] && echo "$path" >>"$work/owned.dirs"
        else
            echo "$path" >>"$work/owned.files"
        fi
    done
done
dpkg-query -W -f='${Conffiles}\n' fanfare-gateway | awk 'NF {print $1}' >"$work/conffiles"
note "the packages own $(wc -l <"$work/owned.files") files and $(wc -l <"$work/owned.dirs") directories of their own"

sharedir=$("$PG_CONFIG" --sharedir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
owned_by() { dpkg -S "$2" 2>/dev/null | grep -q "^$1: "; }
check "fanfare.so is the package's, in $pkglibdir" owned_by postgresql-15-fanfare "$pkglibdir/fanfare.so"
check "fanfare.control is the package's" owned_by postgresql-15-fanfare "$sharedir/extension/fanfare.control"
check "fanfare_router.so is the package's" owned_by postgresql-15-fanfare "$pkglibdir/fanfare_router.so"
check "fanfare_router.control is the package's" owned_by postgresql-15-fanfare "$sharedir/extension/fanfare_router.control"
check "fanfare_router--$version.sql is the package's" owned_by postgresql-15-fanfare "$sharedir/extension/fanfare_router--$version.sql"
for sql in fanfare--*.sql; do
    check "$sql is installed by the package" owned_by postgresql-15-fanfare "$sharedir/extension/$sql"
done
check "/usr/bin/fanfare-gateway is installed and executable" test -x /usr/bin/fanfare-gateway
check "fanfare-gateway --version says $version" \
    bash -c '[ "$(/usr/bin/fanfare-gateway --version)" = "fanfare-gateway $1" ]' _ "$version"

unit=$(dpkg -L fanfare-gateway | grep '/systemd/system/fanfare-gateway\.service$' | head -1)
check "the systemd unit fanfare-gateway.service is installed" test -n "$unit" -a -f "$unit"
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -1; }
check "the unit runs as an unprivileged dynamic user" test "$(unit_value DynamicUser)" = yes
envfile=$(unit_value EnvironmentFile)
envfile=${envfile#-}
check "the unit's EnvironmentFile ($envfile) is a conffile" grep -qx "$envfile" "$work/conffiles"
check "the environment file is mode 0600 (it may hold a password)" \
    test "$(stat -c %a "$envfile" 2>/dev/null)" = 600
if command -v systemd-analyze >/dev/null 2>&1; then
    if systemd-analyze verify "$unit" >"$work/verify.log" 2>&1; then
        ok "systemd-analyze verify accepts the unit"
    else
        fail "systemd-analyze verify accepts the unit" "$(head -3 "$work/verify.log" | tr '\n' ' ')"
    fi
fi

# the environment file and the man page follow the gateway's --help
/usr/bin/fanfare-gateway --help >"$work/help.txt"
missing_vars=$(grep -o 'env FANFARE_[A-Z_]*' "$work/help.txt" | cut -c5- |
    while read -r v; do grep -q "^#\{0,1\}$v=" "$envfile" || echo "$v"; done)
check "the environment file names every variable of --help" test -z "$missing_vars"
[ -z "$missing_vars" ] || note "missing: $missing_vars"
man=$(dpkg -L fanfare-gateway | grep '/man1/fanfare-gateway\.1\.gz$' | head -1)
check "the man page fanfare-gateway(1) is installed" test -n "$man" -a -f "$man"
if [ -n "$man" ] && [ -f "$man" ]; then
    zcat "$man" | sed 's/\\-/-/g' >"$work/man.txt"
    missing_flags=$(grep -o '^  --[a-z-]*' "$work/help.txt" | sed 's/^ *//' |
        while read -r f; do grep -qE -- "$f([^a-z-]|$)" "$work/man.txt" || echo "$f"; done)
    check "the man page names every flag of --help" test -z "$missing_flags"
    [ -z "$missing_flags" ] || note "missing: $missing_flags"
fi
check "the gateway's README is installed as documentation" \
    bash -c 'dpkg -L fanfare-gateway | grep -q "^/usr/share/doc/fanfare-gateway/README.md"'

# the webhook relay: binary, unit, environment file and man page, as the gateway's
check "/usr/bin/fanfare-relay is installed and executable" test -x /usr/bin/fanfare-relay
check "fanfare-relay --version says $version" \
    bash -c '[ "$(/usr/bin/fanfare-relay --version)" = "fanfare-relay $1" ]' _ "$version"
runit=$(dpkg -L fanfare-gateway | grep '/systemd/system/fanfare-relay\.service$' | head -1)
check "the systemd unit fanfare-relay.service is installed" test -n "$runit" -a -f "$runit"
runit_value() { sed -n "s/^$1=//p" "$runit" | tail -1; }
check "the relay's unit runs /usr/bin/fanfare-relay as an unprivileged dynamic user" \
    test "$(runit_value DynamicUser)/$(runit_value ExecStart)" = yes//usr/bin/fanfare-relay
renvfile=$(runit_value EnvironmentFile)
renvfile=${renvfile#-}
check "the relay's EnvironmentFile ($renvfile) is a conffile, not the gateway's" \
    bash -c 'grep -qx "$1" "$2" && [ "$1" != "$3" ]' _ "$renvfile" "$work/conffiles" "$envfile"
check "the relay's environment file is mode 0600 (it may hold a password)" \
    test "$(stat -c %a "$renvfile" 2>/dev/null)" = 600
if command -v systemd-analyze >/dev/null 2>&1; then
    if systemd-analyze verify "$runit" >"$work/verify-relay.log" 2>&1; then
        ok "systemd-analyze verify accepts the relay's unit"
    else
        fail "systemd-analyze verify accepts the relay's unit" "$(head -3 "$work/verify-relay.log" | tr '\n' ' ')"
    fi
fi
/usr/bin/fanfare-relay --help >"$work/relay-help.txt"
missing_vars=$(grep -o 'env FANFARE_[A-Z_]*' "$work/relay-help.txt" | cut -c5- |
    while read -r v; do grep -q "^#\{0,1\}$v=" "$renvfile" || echo "$v"; done)
check "the relay's environment file names every variable of its --help" test -z "$missing_vars"
[ -z "$missing_vars" ] || note "missing: $missing_vars"
rman=$(dpkg -L fanfare-gateway | grep '/man1/fanfare-relay\.1\.gz$' | head -1)
check "the man page fanfare-relay(1) is installed" test -n "$rman" -a -f "$rman"
if [ -n "$rman" ] && [ -f "$rman" ]; then
    zcat "$rman" | sed 's/\\-/-/g' >"$work/relay-man.txt"
    missing_flags=$(grep -o '^  --[a-z-]*' "$work/relay-help.txt" | sed 's/^ *//' |
        while read -r f; do grep -qE -- "$f([^a-z-]|$)" "$work/relay-man.txt" || echo "$f"; done)
    check "the relay's man page names every flag of its --help" test -z "$missing_flags"
    [ -z "$missing_flags" ] || note "missing: $missing_flags"
fi

# --- 3. the installed extension in a throwaway cluster -------------------------
throwaway_cluster package-test || abort "throwaway cluster started"
ok "throwaway cluster started (port $PGPORT)"

db=fanfare_package_test
psql_q -d postgres -c "CREATE DATABASE $db" >/dev/null
if out=$(psql_q -d "$db" -c "CREATE EXTENSION fanfare" -c \
    "SELECT extversion FROM pg_extension WHERE extname = 'fanfare'" 2>&1); then
    check "CREATE EXTENSION fanfare installs version $version" test "$out" = "$version"
else
    fail "CREATE EXTENSION fanfare" "$out"
fi

# the router extension, on PL/Proxy (a Suggests: of the package)
if [ -f "$sharedir/extension/plproxy.control" ]; then
    psql_q -d postgres -c "CREATE DATABASE ${db}_router" >/dev/null
    if out=$(psql_q -d "${db}_router" -c "SET client_min_messages = warning" -c "CREATE EXTENSION fanfare_router CASCADE" -c \
        "SELECT extversion FROM pg_extension WHERE extname = 'fanfare_router'" 2>&1); then
        check "CREATE EXTENSION fanfare_router installs version $version" test "$out" = "$version"
    else
        fail "CREATE EXTENSION fanfare_router" "$out"
    fi
    psql_q -d postgres -c "DROP DATABASE ${db}_router" >/dev/null
else
    note "PL/Proxy is not installed: CREATE EXTENSION fanfare_router not tried"
fi

# pg_regress as PGXS installs it, not the source tree's build
pg_regress=$(dirname "$("$PG_CONFIG" --pgxs)")/../../src/test/regress/pg_regress
regress=$(make -s --no-print-directory -f Makefile -f - print-regress <<<'print-regress: ; @echo $(REGRESS)')
psql_q -d postgres -c "CREATE DATABASE contrib_regression" >/dev/null
mkdir -p "$work/regress"
# shellcheck disable=SC2086  # the REGRESS list is words
if "$pg_regress" --use-existing --host="$PGHOST" --port="$PGPORT" --user=postgres \
    --bindir="$bindir" --inputdir="$root" --outputdir="$work/regress" \
    --dbname=contrib_regression $regress >"$work/regress.log" 2>&1; then
    ok "pg_regress ($regress) passes against the installed extension"
else
    fail "pg_regress ($regress) passes against the installed extension"
    sed -n '/running regression test queries/,$p' "$work/regress.log"
    head -n 100 "$work/regress/regression.diffs" 2>/dev/null
fi
grep -E '^(ok|not ok|test) ' "$work/regress.log" | sed 's/^/#   /'

# --- 4. the gateway, as the unit starts it ---------------------------------------
# the login the README's "Packages" setup makes: api_import_consumers only
gateway_login_sql fanfare_package_gateway | psql_q -d "$db" >/dev/null
org=$(psql_q -d "$db" -c "SELECT fanfare.create_organization('Package test')")
key=$(echo "SELECT fanfare.rotate_secret_key(:'org'::uuid, 'test')" | psql_q -d "$db" -v org="$org")
check "an organization and a secret key are created" \
    bash -c '[[ $1 =~ ^[0-9a-f-]{36}$ && $2 == sk_test_* ]]' _ "$org" "$key"

# the unit's environment: EnvironmentFile's VAR=value lines as systemd reads
# them (comments skipped, one pair of surrounding quotes removed), then the
# overrides that point the gateway at this cluster on a free port
env_args=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
while IFS= read -r line || [ -n "$line" ]; do
    line=${line#"${line%%[![:space:]]*}"}
    case $line in '' | '#'* | ';'*) continue ;; esac
    name=${line%%=*}
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    value=${line#*=}
    value=${value#"${value%%[![:space:]]*}"}
    value=${value%"${value##*[![:space:]]}"}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
    env_args+=("$name=$value")
done <"$envfile"
note "from $envfile: $((${#env_args[@]} - 2)) variable(s) set"
env_args+=(FANFARE_LISTEN=127.0.0.1:0
    "FANFARE_DATABASE_URL=host=127.0.0.1 port=$PGPORT dbname=$db user=fanfare_package_gateway")

# ExecStart=, less systemd's prefixes (-@:+!), split into words, ${VAR} expanded
exec_start=$(unit_value ExecStart)
while [[ $exec_start == [-@:+!]* ]]; do exec_start=${exec_start:1}; done
read -r -a exec_words <<<"$exec_start"
command=()
for w in "${exec_words[@]}"; do
    if [[ $w =~ ^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$ || $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
        for a in "${env_args[@]}"; do [ "${a%%=*}" = "${BASH_REMATCH[1]}" ] && w=${a#*=}; done
    fi
    command+=("$w")
done
note "ExecStart: ${command[*]}"
check "ExecStart runs the packaged binary" test "${command[0]:-}" = /usr/bin/fanfare-gateway

# DynamicUser: an unprivileged user of its own; nobody stands in for it here
# (setpriv and env exec, so $! is the gateway's pid)
$SUDO setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs \
    env -i "${env_args[@]}" "${command[@]}" \
    >"$work/gateway.out" 2>"$work/gateway.err" &
gw_pid=$!
gw_port=
for _ in $(seq 1 100); do
    gw_port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$work/gateway.err")
    [ -n "$gw_port" ] && break
    kill -0 "$gw_pid" 2>/dev/null || break
    sleep 0.1
done
if check "the gateway starts as the unit starts it, as an unprivileged user" test -n "$gw_port"; then
    status=$(curl -sS -o "$work/health.body" -w '%{http_code}' "http://127.0.0.1:$gw_port/healthz")
    check "GET /healthz is 200" test "$status" = 200
    body='{"consumers":[{"emailVerified":true,"phoneVerified":false,"status":"ACTIVE","email":"pkg@example.com"}]}'
    status=$(curl -sS -o "$work/batch.body" -w '%{http_code}' -X POST \
        "http://127.0.0.1:$gw_port/consumers/batch" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$body")
    check "POST /consumers/batch with one valid consumer is 200" test "$status" = 200 ||
        note "status $status: $(head -c 300 "$work/batch.body")"
    check "the 200 body is the created consumer" grep -q '"email": *"pkg@example.com"' "$work/batch.body"
    stored=$(psql_q -d "$db" -c "SELECT count(*) FROM fanfare.consumers WHERE organization_id = '$org' AND email = 'pkg@example.com'")
    check "the consumer is stored for the key's organization" test "$stored" = 1
    kill -TERM "$gw_pid"
    wait "$gw_pid"
    rc=$?
    gw_pid=
    check "the gateway stops on SIGTERM with status 0" test "$rc" = 0
else
    sed 's/^/#   /' "$work/gateway.err"
fi
cluster_stop "$FANFARE_TEST_DATADIR"
check "the cluster is stopped" test ! -f "$FANFARE_TEST_DATADIR/postmaster.pid"

# --- 5. purge; nothing left behind ----------------------------------------------
if as_root apt-get purge -y -qq "${packages[@]}" >"$work/purge.log" 2>&1; then
    installed=0
    ok "apt-get purge -y ${packages[*]}"
else
    fail "apt-get purge -y ${packages[*]}"
    tail -n 20 "$work/purge.log"
fi
for p in "${packages[@]}"; do
    check "$p is purged (dpkg knows nothing of it)" \
        bash -c '! dpkg-query -W -f="\${Status}" "$1" 2>/dev/null | grep -q .' _ "$p"
done
left=$(while read -r path; do
    if [ -e "$path" ] || [ -L "$path" ]; then echo "$path"; fi
done <"$work/owned.files")
check "no file the packages installed is left ($(wc -l <"$work/owned.files") checked)" test -z "$left"
[ -z "$left" ] || note "left: $left"
left=$(while read -r path; do
    [ -d "$path" ] && ! grep -qxF "$path" "$work/dirs.before" && echo "$path"
done <"$work/owned.dirs")
check "no directory of the packages' own is left ($(wc -l <"$work/owned.dirs") checked)" test -z "$left"
[ -z "$left" ] || note "left: $left"
kept=$(while read -r path; do
    [ -d "$path" ] && grep -qxF "$path" "$work/dirs.before" && echo "$path"
done <"$work/owned.dirs")
[ -z "$kept" ] || note "existed before the install, so not the packages' to remove: $(echo $kept)"
left=$(while read -r path; do [ -e "$path" ] && echo "$path"; done <"$work/conffiles")
check "the conffile is gone ($(tr '\n' ' ' <"$work/conffiles"))" test -z "$left"
find_fanfare_names >"$work/names.after"
new=$(comm -13 "$work/names.before" "$work/names.after")
check "no new *fanfare* name under ${system_dirs[*]}" test -z "$new"
[ -z "$new" ] || note "new: $new"

restore_previous_files
summary
