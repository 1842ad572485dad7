#!/usr/bin/env bash
# Self-test of tools/check-version.sh (`make check-version`): it passes on
# the tree as it is, fails with the right message when any one of the files
# it reads disagrees with EXTVERSION, and follows a version bump (a new
# install script, an upgrade script, an "(unreleased)" entry, then its
# release).  Works on copies in a temporary directory; the tree is untouched.
#
#   test/version/run.sh
#
# Prints ok/FAIL lines and "N passed, M failed"; exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
# shellcheck source=../../tools/lib.sh
. tools/lib.sh

new_work_dir version-test
version=$(sed -n 's/^EXTVERSION[[:space:]]*=[[:space:]]*//p' Makefile)

# fresh: a copy of every file the check reads, in $work/t
fresh() {
    rm -rf "$work/t"
    mkdir -p "$work/t/debian" "$work/t/src/gateway" "$work/t/router"
    cp Makefile fanfare.control META.json CHANGELOG.md fanfare--*.sql "$work/t/"
    cp router/fanfare_router.control router/fanfare_router--*.sql "$work/t/router/"
    cp debian/changelog "$work/t/debian/"
    cp src/gateway/config.c "$work/t/src/gateway/"
}
# expect pass|fail NAME [TEXT]: runs the check on $work/t; for fail, TEXT
# must be in its message
expect() {
    local want=$1 name=$2 text=${3:-} out rc
    out=$("$root/tools/check-version.sh" "$work/t" 2>&1)
    rc=$?
    if [ "$want" = pass ] && [ $rc -eq 0 ]; then ok "$name"
    elif [ "$want" = fail ] && [ $rc -ne 0 ] && [[ $out == *"$text"* ]]; then ok "$name: $(head -1 <<<"$out")"
    else fail "$name" "exit $rc: $out"; fi
}
edit() { sed -i "$1" "$work/t/$2"; }

fresh
expect pass "the tree as it is ($version) passes"

# one file at a time disagrees
fresh; edit "s/^default_version = .*/default_version = '9.9.9'/" fanfare.control
expect fail "fanfare.control default_version changed" "fanfare.control: default_version is '9.9.9'"
fresh; edit "s/^default_version = .*/default_version = '9.9.9'/" router/fanfare_router.control
expect fail "router/fanfare_router.control default_version changed" "router/fanfare_router.control: default_version is '9.9.9'"
fresh; edit "0,/\"version\": \"$version\"/s//\"version\": \"9.9.9\"/" META.json
expect fail "META.json version changed" "META.json: version is '9.9.9'"
fresh; python3 - "$work/t/META.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["provides"]["fanfare"]["version"] = "9.9.9"
json.dump(m, open(sys.argv[1], "w"), indent=4)
PY
expect fail "META.json provides.fanfare.version changed" "provides.fanfare.version is '9.9.9'"
fresh; echo '{"version": ' >"$work/t/META.json"
expect fail "META.json not JSON" "META.json: not valid JSON"
fresh; rm "$work/t/fanfare--$version.sql"
expect fail "install script fanfare--$version.sql removed" "fanfare--$version.sql is missing"
fresh; edit "s/^## $version (/## 9.9.9 (/" CHANGELOG.md
expect fail "CHANGELOG.md entry of $version renamed" "CHANGELOG.md"
fresh; edit "/^## $version (/d" CHANGELOG.md
expect fail "CHANGELOG.md entry of $version removed" "the top entry is"
fresh; edit "1s/($version-/(9.9.9-/" debian/changelog
expect fail "debian/changelog top version changed" "debian/changelog: the top version is '9.9.9-"
fresh; edit "1s/($version-[^)]*)/($version)/" debian/changelog
expect fail "debian/changelog without a Debian revision" "expected '$version-N'"
# the gateway takes EXTVERSION from its Makefile; a copy spelt out in
# config.c must agree
fresh; echo '#define GATEWAY_VERSION "9.9.9"' >>"$work/t/src/gateway/config.c"
expect fail "gateway GATEWAY_VERSION spelt out in config.c, another version" "GATEWAY_VERSION is '9.9.9'"
fresh; rm -f "$work/t/router/fanfare_router--0.2.0.sql"
expect fail "router/fanfare_router--0.2.0.sql (0.2.0's, frozen) removed" "router/fanfare_router--0.2.0.sql is missing"
fresh; rm -f "$work/t/router/fanfare_router--0.2.0--0.2.1.sql"
expect fail "router/fanfare_router--0.2.0--0.2.1.sql removed" "router/fanfare_router--0.2.0--0.2.1.sql is missing"
fresh; edit "s/^EXTVERSION = .*/EXTVERSION = 9.9.9/" Makefile
expect fail "EXTVERSION changed alone" "EXTVERSION is '9.9.9'"

# a bump to the next minor version, step by step
IFS=. read -r major minor _ <<<"$version"
next="$major.$((minor + 1)).0"
bump() {
    fresh
    edit "s/^EXTVERSION = .*/EXTVERSION = $next/" Makefile
    edit "s/^default_version = .*/default_version = '$next'/" fanfare.control
    edit "s/^default_version = .*/default_version = '$next'/" router/fanfare_router.control
    edit "s/\"$version\"/\"$next\"/g; s/fanfare--$version.sql/fanfare--$next.sql/" META.json
    cp "$work/t/fanfare--$version.sql" "$work/t/fanfare--$next.sql"
    # the router's: $version's frozen (make generates it in a tree), $next's upgrade
    touch "$work/t/router/fanfare_router--$version.sql" "$work/t/router/fanfare_router--$version--$next.sql"
    # $version is released before the next one is begun
    edit "s/^## $version (unreleased)/## $version (2026-12-01)/" CHANGELOG.md
    { printf 'fanfare (%s-1) bookworm; urgency=medium\n\n  * New upstream version.\n\n -- x <x@example.org>  Fri, 01 Jan 2027 00:00:00 +0000\n\n' "$next"
        cat debian/changelog; } >"$work/t/debian/changelog"
    # the CHANGELOG entry of $next, unreleased, on top
    grep -q "^## $next (unreleased)" "$work/t/CHANGELOG.md" ||
        edit "0,/^## /s//## $next (unreleased)\n\n- (to be written)\n\n## /" CHANGELOG.md
}
bump
expect fail "bump to $next without an upgrade script" "fanfare--$version--$next.sql is missing"
bump; touch "$work/t/fanfare--$version--$next.sql"
expect pass "bump to $next with fanfare--$version--$next.sql, entry unreleased"
bump; touch "$work/t/fanfare--$version--$next.sql"
edit "s/^## $next (unreleased)/## $next (2027-01-01)/" CHANGELOG.md
expect pass "$next released"
bump; touch "$work/t/fanfare--$version--$next.sql"
edit "s/^default_version = .*/default_version = '$version'/" fanfare.control
expect fail "bump to $next with fanfare.control left behind" "default_version is '$version'"
bump; touch "$work/t/fanfare--$version--$next.sql"
rm "$work/t/router/fanfare_router--$version--$next.sql"
expect fail "bump to $next without the router's upgrade script" "router/fanfare_router--$version--$next.sql is missing"
bump; touch "$work/t/fanfare--$version--$next.sql"
rm "$work/t/router/fanfare_router--$version.sql"
expect fail "bump to $next without $version's router install script" "router/fanfare_router--$version.sql is missing"
bump; touch "$work/t/fanfare--$version--$next.sql"
rm "$work/t/fanfare--$next.sql"
expect fail "bump to $next without fanfare--$next.sql" "fanfare--$next.sql is missing"
bump; touch "$work/t/fanfare--$version--$next.sql"
edit "1,/^## $next/s/^## $next (unreleased)/## $version (again)\n\n## $next (unreleased)/" CHANGELOG.md
expect fail "CHANGELOG.md out of order" "entries go newest first"
# an unreleased placeholder for a later version is allowed only on top
fresh; edit "0,/^## $version (/s//## 0.0.1 (unreleased)\n\n## $version (/" CHANGELOG.md
expect fail "an unreleased entry for an older version" "CHANGELOG.md"

# the README's table of errors against the SQLSTATE table the extension and
# the gateway are built from (tools/check-sqlstates.sh): the tree passes, a
# status changed on either side fails
if out=$(tools/check-sqlstates.sh 2>&1); then ok "$out"; else fail "README.md's SQLSTATEs" "$out"; fi
mkdir -p "$work/s/src"
cp README.md "$work/s/"; cp src/sqlstates.h "$work/s/src/"
sed -i 's/^\(.*`55N01`.*| \)409 |$/\1410 |/' "$work/s/README.md"
if out=$(tools/check-sqlstates.sh "$work/s" 2>&1); then fail "a README status that differs is found" "$out"
else ok "a README status that differs is found: $(tail -1 <<<"$out")"; fi
# and a fanfare code written as a literal in C, the router's included
mkdir -p "$work/r/src" "$work/r/router"
cp README.md "$work/r/"; cp src/sqlstates.h "$work/r/src/"
{ cat router/shard_error.c; echo 'static const char shard_busy[] = "55N01";'; } >"$work/r/router/shard_error.c"
if out=$(tools/check-sqlstates.sh "$work/r" 2>&1); then fail "a fanfare SQLSTATE literal in router C is found" "$out"
else ok "a fanfare SQLSTATE literal in router C is found: $(tail -1 <<<"$out")"; fi

summary
