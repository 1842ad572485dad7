#!/usr/bin/env bash
# `make check-version`: every file that names fanfare's version agrees with
# EXTVERSION in the top Makefile, the one place the version lives.
#
#   tools/check-version.sh [ROOT]     ROOT defaults to the repository
#
# Checks, against EXTVERSION:
#   - fanfare.control's default_version, and router/fanfare_router.control's
#     (the router extension ships with fanfare, at fanfare's version);
#   - META.json's version and provides.fanfare.version (and provides' file);
#   - the install script fanfare--EXTVERSION.sql exists;
#   - CHANGELOG.md's top entry is EXTVERSION's (`## X.Y.Z (YYYY-MM-DD)`, or
#     `## X.Y.Z (unreleased)` while X.Y.Z is being made).  One entry for the
#     next version, marked "(unreleased)", may sit above it before EXTVERSION
#     is bumped; entries are newest first, each version once;
#   - an upgrade script fanfare--A--B.sql for every two consecutive versions
#     of the CHANGELOG up to EXTVERSION;
#   - the router extension (router/, since 0.2.0): for every two consecutive
#     versions from 0.2.0 up to EXTVERSION, the older one's install script
#     frozen in router/ (router/Makefile generates only EXTVERSION's) and an
#     upgrade script router/fanfare_router--A--B.sql;
#   - debian/changelog's top version is EXTVERSION plus a Debian revision;
#   - the gateway's GATEWAY_VERSION, when src/gateway/config.c spells it out
#     (`fanfare-gateway --version` and the man page print it).
# Prints one line per finding and exits 1 if there is any.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

fail=0
problem() { echo "check-version: $*" >&2; fail=1; }

version=$(sed -n 's/^EXTVERSION[[:space:]]*=[[:space:]]*\([^[:space:]]*\).*/\1/p' Makefile)
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "check-version: Makefile: EXTVERSION is '$version', not X.Y.Z" >&2
    exit 1
fi

# fanfare.control
control=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" fanfare.control)
[ "$control" = "$version" ] ||
    problem "fanfare.control: default_version is '$control', EXTVERSION is '$version'"

# router/fanfare_router.control (its install script is generated from
# fanfare's, fanfare_router--EXTVERSION.sql, by router/Makefile)
if [ -f router/fanfare_router.control ]; then
    router_control=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" router/fanfare_router.control)
    [ "$router_control" = "$version" ] ||
        problem "router/fanfare_router.control: default_version is '$router_control', EXTVERSION is '$version'"
fi

# META.json (python3 reads JSON; it is in tools/deps.sh's closure via python3-yaml)
if [ -f META.json ]; then
    meta=$(python3 -c '
import json, sys
m = json.load(open("META.json"))
p = m.get("provides", {}).get("fanfare", {})
print(m.get("version", ""), p.get("version", ""), p.get("file", ""))
' 2>&1) || { problem "META.json: not valid JSON: $(tail -n 1 <<<"$meta")"; meta="- - -"; }
    read -r meta_version provides_version provides_file <<<"$meta"
    [ "$meta_version" = "$version" ] ||
        problem "META.json: version is '$meta_version', EXTVERSION is '$version'"
    [ "$provides_version" = "$version" ] ||
        problem "META.json: provides.fanfare.version is '$provides_version', EXTVERSION is '$version'"
    [ "$provides_file" = "fanfare--$version.sql" ] ||
        problem "META.json: provides.fanfare.file is '$provides_file', expected fanfare--$version.sql"
else
    problem "META.json is missing"
fi

# the frozen install script of this version
[ -f "fanfare--$version.sql" ] ||
    problem "fanfare--$version.sql is missing: every version ships its install script"

# CHANGELOG.md: headings "## X.Y.Z (...)", newest first
versions=() unreleased=()
if [ -f CHANGELOG.md ]; then
    while read -r v rest; do
        versions+=("$v")
        if [[ $rest == *unreleased* ]]; then unreleased+=(1); else unreleased+=(0); fi
    done < <(sed -n 's/^## \([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\)\(.*\)$/\1 \2/p' CHANGELOG.md)
else
    problem "CHANGELOG.md is missing"
fi
if [ ${#versions[@]} -eq 0 ]; then
    problem "CHANGELOG.md: no '## X.Y.Z' entry"
else
    # newest first, each version once
    for ((i = 1; i < ${#versions[@]}; i++)); do
        dpkg --compare-versions "${versions[i-1]}" gt "${versions[i]}" ||
            problem "CHANGELOG.md: ${versions[i-1]} is listed above ${versions[i]}: entries go newest first, each once"
    done
    for ((i = 1; i < ${#versions[@]}; i++)); do
        [ "${unreleased[i]}" = 0 ] ||
            problem "CHANGELOG.md: ${versions[i]} is marked unreleased but is not the top entry"
    done
    # the entry that must be EXTVERSION's: the top one, or the one below a
    # placeholder for a later, unreleased version
    current=0
    if [ "${unreleased[0]}" = 1 ] && [ ${#versions[@]} -gt 1 ] &&
        dpkg --compare-versions "${versions[0]}" gt "$version"; then
        current=1
    fi
    [ "${versions[current]}" = "$version" ] ||
        problem "CHANGELOG.md: the top entry is '${versions[current]}', EXTVERSION is '$version' (add a '## $version' entry at the top)"
    # upgrade scripts between consecutive versions, oldest to EXTVERSION
    for ((i = ${#versions[@]} - 1; i > current; i--)); do
        from=${versions[i]} to=${versions[i-1]}
        [ -f "fanfare--$from--$to.sql" ] ||
            problem "fanfare--$from--$to.sql is missing: CHANGELOG.md lists $from then $to, and ALTER EXTENSION fanfare UPDATE needs that script"
        # the router extension exists since 0.2.0
        if [ -f router/fanfare_router.control ] && dpkg --compare-versions "$from" ge 0.2.0; then
            [ -f "router/fanfare_router--$from.sql" ] ||
                problem "router/fanfare_router--$from.sql is missing: a released version's router install script stays in the tree (router/Makefile generates only EXTVERSION's)"
            [ -f "router/fanfare_router--$from--$to.sql" ] ||
                problem "router/fanfare_router--$from--$to.sql is missing: ALTER EXTENSION fanfare_router UPDATE needs that script"
        fi
    done
fi

# debian/changelog: "fanfare (X.Y.Z-R) dist; urgency=..."
if [ -f debian/changelog ]; then
    deb=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)
    deb_upstream=${deb%-*}
    deb_upstream=${deb_upstream#*:}
    if [ "$deb_upstream" != "$version" ] || [ "$deb_upstream" = "$deb" ]; then
        problem "debian/changelog: the top version is '$deb', expected '$version-N' (add an entry with dch -v $version-1, or by hand)"
    fi
else
    problem "debian/changelog is missing"
fi

# the gateway's own copy of the version (src/gateway/config.c)
if [ -f src/gateway/config.c ]; then
    gw=$(sed -n 's/^#[[:space:]]*define[[:space:]]*GATEWAY_VERSION[[:space:]]*"\([^"]*\)".*/\1/p' src/gateway/config.c)
    [ -z "$gw" ] || [ "$gw" = "$version" ] ||
        problem "src/gateway/config.c: GATEWAY_VERSION is '$gw', EXTVERSION is '$version'"
fi

if [ "$fail" = 0 ]; then
    echo "check-version: $version everywhere (control, META.json, install script, CHANGELOG.md, debian/changelog, gateway)"
fi
exit "$fail"
