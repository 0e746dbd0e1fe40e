#!/usr/bin/env bash
# The main job on a fresh Debian/Ubuntu machine, needing only the package
# registries: fetch Debian's arm64 busybox-static (pinned, into the cache),
# build xarch, and run the arm64 program on this x86_64 machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
# fixtures.sh needs dpkg-deb and dpkg-source (Debian's dpkg-dev).
if ! command -v dpkg-source >/dev/null; then
    SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -q && "${SUDO[@]}" apt-get install -y -q dpkg-dev
fi
bash scripts/fixtures.sh
cargo build --release -q -p xarch
BB="$XARCH_CACHE/busybox/arm64/busybox"
X=target/release/xarch
if command -v file >/dev/null; then
    echo "\$ file busybox"
    file -b "$BB" | cut -d, -f1-2
fi
echo "\$ xarch run busybox uname -m"
"$X" run "$BB" uname -m
echo "\$ xarch run busybox sh -c '...'"
"$X" run "$BB" sh -c 'echo "hello from arm64 busybox, pid $$"; seq 1 5 | awk "{ s += \$1 } END { print \"sum\", s }"; echo abc | sha256sum'
echo "\$ xarch run busybox ls"
"$X" run "$BB" ls -l "$XARCH_CACHE/busybox"
