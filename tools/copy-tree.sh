#!/usr/bin/env bash
# A clean copy of the work tree, for builds that must not touch it
# (make deb, make check-assert).
#
#   tools/copy-tree.sh DEST      DEST must be an empty or new directory
#
# Copies what git tracks or would track (untracked files included, ignored
# ones such as objects, dist/ and node_modules/ left out), so local edits are
# built but no build product is.  Outside a git checkout (an unpacked
# tarball) it copies everything but .git/ and dist/; the caller's build then
# has to start with a clean.
set -euo pipefail
dest=${1:?usage: copy-tree.sh DEST}
cd "$(dirname "$0")/.."
mkdir -p "$dest"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            # a tracked file deleted in the work tree is not copied
            if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
        done |
        tar --null -T - -cf - | tar -C "$dest" -xf -
else
    tar --exclude=./.git --exclude=./dist -cf - . | tar -C "$dest" -xf -
fi
