#!/usr/bin/env bash
# The extension's modules keep to their borders (issue 18): from nm of the
# built objects src/*.o of a tree (default: this one; build it first), fail
# when
#   (a) two objects use each other's symbols (X.o needs Y.o and Y.o needs
#       X.o), or the objects' uses go round in a longer circle;
#   (b) an object exports a name that does not start with one of its
#       module's prefixes (the table below); allowed everywhere: the SQL
#       entry points fanfare_NAME that come with their pg_finfo_fanfare_NAME,
#       pg_finfo_*, _PG_init and Pg_magic_func;
#   (c) src/fanfare.h declares a function (it holds the settings only; a
#       static inline rule on a setting, such as batch_size_allowed, is
#       allowed).
#
#   tools/check-modules.sh [TREE]
#
# make check-static runs it on the tree it builds; make check-modules on
# this one.  Takes about a second.
set -euo pipefail
tree=${1:-$(cd "$(dirname "$0")/.." && pwd)}
src=$tree/src

# module (the object's base name) -> the prefixes of what it exports
prefixes() {
    case $1 in
        fanfare) echo "fanfare_" ;;    # the settings (fanfare.h)
        field_catalogue) echo "field_" ;;
        js_number) echo "js_number_" ;;
        json_text) echo "json_text_" ;;
        json_value) echo "json_" ;;
        jsonb_util) echo "jsonb_" ;;
        json_print) echo "json_print_ json_printer_" ;;
        email_check) echo "email_is_" ;;
        timestamp_check) echo "timestamp_" ;;
        issue_list) echo "issue_" ;;
        consumer_record) echo "consumer_record_" ;;
        validate) echo "validate_" ;;
        tenant_context) echo "tenant_" ;;
        uuidv7) echo "uuidv7_ uuid_" ;;
        keys) echo "api_key_" ;;
        staged_rows) echo "staged_rows_" ;;
        email_uniqueness) echo "email_duplicate" ;;
        response) echo "response_" ;;
        create_consumers) echo "batch_" ;;
        idempotency) echo "idempotency_" ;;
        import_consumers) echo "-" ;;   # SQL entry points only
        router_support) echo "-" ;;     # SQL entry points only
        rate_limit) echo "rate_limit_ fanfare_rate_limit" ;; # and its settings
        outbox) echo "-" ;;             # SQL entry point only
        *) return 1 ;;
    esac
}

shopt -s nullglob
# the objects of today's sources: a stale X.o whose X.c was renamed or
# removed is not a module any more
objs=()
for o in "$src"/*.o; do
    [ -f "${o%.o}.c" ] && objs+=("$o")
done
if [ ${#objs[@]} -eq 0 ]; then
    echo "check-modules: no objects in $src (build first: make)" >&2
    exit 2
fi

failed=0
fail() { echo "check-modules: $*" >&2; failed=1; }

defs=$(mktemp)
uses=$(mktemp)
trap 'rm -f "$defs" "$uses"' EXIT
# "src/X.o:ADDRESS TYPE NAME" (defined) and "src/X.o: U NAME" (used) -> "X NAME"
# shellcheck disable=SC2016  # awk's own $ fields
module_of='{ split($1, f, ":"); n = split(f[1], d, "/"); sub(/\.o$/, "", d[n]); print d[n], $NF }'
nm -A -g --defined-only "${objs[@]}" | awk "$module_of" >"$defs"
nm -A -u "${objs[@]}" | awk "$module_of" >"$uses"

# (b) every exported name starts with one of its module's prefixes
modules=$(cut -d' ' -f1 "$defs" | sort -u)
table=
while read -r m; do
    if p=$(prefixes "$m"); then
        table+="$m $p"$'\n'
    else
        fail "src/$m.o: a module missing from the prefix table in tools/check-modules.sh"
    fi
done <<<"$modules"
while read -r line; do
    fail "$line"
done < <(awk -v table="$table" '
    BEGIN {
        n = split(table, rows, "\n")
        for (i = 1; i <= n; i++) { k = split(rows[i], f, " "); p[f[1]] = ""; for (j = 2; j <= k; j++) p[f[1]] = p[f[1]] " " f[j] }
    }
    { def[$1 " " $2] = 1; sym[NR] = $2; mod[NR] = $1 }
    END {
        for (i = 1; i <= NR; i++) {
            m = mod[i]; s = sym[i]
            if (s == "_PG_init" || s == "Pg_magic_func" || s ~ /^pg_finfo_/) continue
            if (s ~ /^fanfare_/ && ((m " pg_finfo_" s) in def)) continue
            if (!(m in p)) continue
            k = split(p[m], pre, " "); ok = 0
            for (j = 1; j <= k; j++) if (pre[j] != "-" && index(s, pre[j]) == 1) ok = 1
            if (!ok) printf "src/%s.o exports %s, which does not start with its prefix (%s)\n", m, s, substr(p[m], 2)
        }
    }' "$defs")

# (a) the graph of which object uses which: no pair, no circle
edges=$(awk 'NR == FNR { owner[$2] = $1; next }
             ($2 in owner) && owner[$2] != $1 { print $1, owner[$2] }' "$defs" "$uses" | sort -u)
while read -r a b; do
    [ -n "$a" ] || continue
    if grep -qx "$b $a" <<<"$edges" && [[ $a < $b ]]; then
        fail "src/$a.o and src/$b.o use each other's symbols:" \
            "$(awk -v a="$a" -v b="$b" 'NR == FNR { owner[$2] = $1; next }
                 ($1 == a && owner[$2] == b) || ($1 == b && owner[$2] == a) { printf "%s%s.o uses %s", sep, $1, $2; sep = ", " }' \
                 "$defs" "$uses")"
    fi
done <<<"$edges"
if ! loop=$(tsort <<<"$edges" 2>&1 >/dev/null) || [ -n "$loop" ]; then
    fail "the objects' uses go round in a circle:" "$(grep -v 'input contains a loop' <<<"$loop" | sed 's/^tsort: //' | tr '\n' ' ')"
fi

# (c) fanfare.h declares no function: its statements, with comments,
# preprocessor lines and the bodies of inline rules taken out
statements=$(grep -v '^[[:space:]]*#' "$src/fanfare.h" | tr '\n' ' ' |
    sed -E 's:/\*([^*]|\*+[^*/])*\*+/: :g; :a; s/\{[^{}]*\}/ @body@;/; ta' | tr ';' '\n')
while IFS= read -r st; do
    st=$(sed -E 's/[[:space:]]+/ /g; s/^ //' <<<"$st")
    [[ $st =~ [A-Za-z0-9_][[:space:]]*\( ]] || continue
    [[ $st == typedef* ]] && continue
    [[ $st == "static inline "*"@body@" ]] && continue
    fail "src/fanfare.h declares a function (only settings belong there): ${st%@body@}"
done <<<"$statements"

if [ $failed -ne 0 ]; then
    echo "check-modules: FAILED" >&2
    exit 1
fi
echo "check-modules: ${#objs[@]} objects, $(wc -l <"$defs") exported names, each with its module's prefix; no object pair or circle uses each other; fanfare.h declares no function"
