#!/bin/sh
# embed.sh FILE NAME: prints C source that defines NAME[] (the bytes of FILE,
# plus a terminating NUL) and NAME_len (the length without it).
set -eu
file=$1
name=$2
printf '/* generated from %s by embed.sh: do not edit */\n#include <stddef.h>\n\n' "$(basename "$file")"
printf 'const unsigned char %s[] = {\n' "$name"
od -An -v -tx1 "$file" | sed -e 's/[0-9a-f][0-9a-f]/0x&,/g' -e 's/^ *//'
printf '0x00};\nconst size_t %s_len = sizeof(%s) - 1;\n' "$name" "$name"
