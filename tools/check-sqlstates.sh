#!/usr/bin/env bash
# check-sqlstates.sh [ROOT]: the README's table of errors lists exactly
# fanfare's own SQLSTATEs of src/sqlstates.h (the table the extension and
# the gateway are built from), each with the HTTP status the gateway answers
# it with (a notice, status 0 in the header, is not an error: not listed),
# and no C file outside that header writes one of them as a string literal.
# Prints what differs; exits non-zero when anything does.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}

# "CODE STATUS" per row: X(NAME, 'c', 'c', 'c', 'c', 'c', STATUS)
from_header() {
    sed -n "s/^[[:space:]]*X([A-Z_]*,[[:space:]]*'\(.\)', '\(.\)', '\(.\)', '\(.\)', '\(.\)', \([0-9]*\)).*/\1\2\3\4\5 \6/p" \
        "$root/src/sqlstates.h" | grep -v ' 0$' | sort
}
# the README's rows whose SQLSTATE has the letter N: | ... | `22N01` | ... | 400 |
from_readme() {
    sed -n 's/^|.*| `\([0-9][0-9A-Z]N[0-9A-Z][0-9A-Z]\)` |.*| \([0-9][0-9][0-9]\) |$/\1 \2/p' \
        "$root/README.md" | sort
}

# fanfare's codes are written in C only in the table: the extension, the
# gateway, the router and the tools build them from it (no "22N01" literal)
literals=$(grep -rnE --include='*.c' --include='*.h' '"[0-9][0-9A-Z]N[0-9A-Z][0-9A-Z]"' \
    "$root/src" "$root/router" "$root/bench" "$root/test" 2>/dev/null | grep -v "/src/sqlstates.h:" || true)
if [ -n "$literals" ]; then
    echo "a fanfare SQLSTATE written as a literal in C (build it from src/sqlstates.h):" >&2
    echo "$literals" >&2
    exit 1
fi

header=$(from_header)
readme=$(from_readme)
if [ -z "$header" ]; then echo "no SQLSTATE found in src/sqlstates.h" >&2; exit 1; fi
if [ "$header" != "$readme" ]; then
    echo "README.md's table of errors and src/sqlstates.h differ (< header, > README):" >&2
    diff <(echo "$header") <(echo "$readme") | grep '^[<>]' >&2
    exit 1
fi
echo "README.md lists the $(wc -l <<<"$header") SQLSTATEs of src/sqlstates.h with their statuses"
