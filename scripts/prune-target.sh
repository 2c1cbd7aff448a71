#!/usr/bin/env bash
# Keeps the shared build cache (CARGO_TARGET_DIR, outside the clone) bounded: when a test or
# binary's dependencies or flags change, cargo links it anew under a new hash in <profile>/deps
# or <profile>/examples and never removes the old executable (they had reached 52 GB and filled
# the disk). For each target - its name and its crate root, read from the .d file beside it, as
# several packages have a tests/command_line.rs - all but the two newest executables go (a binary
# target has two current ones: the binary and its unit-test harness). Libraries and build
# scripts stay: nothing current is rebuilt.
#
#   scripts/prune-target.sh [TARGET_DIR]   (default: $CARGO_TARGET_DIR or /var/cache/techpotli/target)
set -euo pipefail

target=${1:-${CARGO_TARGET_DIR:-/var/cache/techpotli/target}}
[ -d "$target" ] || exit 0
freed=0 count=0
for dir in "$target"/*/deps "$target"/*/examples; do
    [ -d "$dir" ] || continue
    while read -r _ path; do
        # The .d file's first rule names the crate root first: "<path>: <crate root> ...".
        root=$(sed -n '1s/^[^:]*: *\([^ ]*\).*/\1/p' "$path.d" 2>/dev/null || true)
        name=$(basename "$path" | sed 's/-[0-9a-f]\{16\}$//')
        printf '%s|%s %s\n' "$name" "$root" "$path"
    done < <(find "$dir" -maxdepth 1 -type f -perm -u+x -regextype posix-extended \
                 -regex '.*-[0-9a-f]{16}' -printf '%T@ %p\n' | sort -rn) \
        | awk '{ if (seen[$1]++ >= 2) print $2 }' >"$target/.prune-list"
    while read -r path; do
        freed=$((freed + $(stat -c %s "$path"))) count=$((count + 1))
        rm -f "$path" "$path.d"
    done <"$target/.prune-list"
done
rm -f "$target/.prune-list"
echo "prune-target: removed $count stale executables ($((freed / 1024 / 1024)) MiB)"
