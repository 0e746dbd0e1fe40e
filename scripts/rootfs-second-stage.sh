#!/bin/sh
# The heavier debootstrap test: completes the second stage of an arm64
# Debian bookworm minbase root file system under xarch (dpkg, perl, bash
# and every maintainer script of the base system run emulated), timing it.
#
#   scripts/rootfs-second-stage.sh [DIR]   (default: a fresh temporary dir)
#
# Uses the cached first stage (scripts/rootfs-debootstrap.sh) and a static
# release xarch (scripts/rootfs-static-xarch.sh). Run as root.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XARCH_CACHE:-$REPO/.cache}
TAR=$(sh "$REPO/scripts/rootfs-debootstrap.sh")
X=${XARCH_BIN:-$(PROFILE=release sh "$REPO/scripts/rootfs-static-xarch.sh" "$CACHE/rootfs/xarch-release")}
DIR=${1:-$(mktemp -d /tmp/xarch-debootstrap.XXXXXX)}
tar -C "$DIR" -xf "$TAR"
# Older cached first stages made inside a container have proc -> /proc.
for d in proc sys; do
	if [ -L "$DIR/$d" ]; then rm "$DIR/$d" && mkdir -m 0555 "$DIR/$d"; fi
done
start=$(date +%s)
if "$X" run --rootfs "$DIR" /debootstrap/debootstrap --second-stage; then
	echo "debootstrap second stage under xarch: $(( $(date +%s) - start )) s, root file system in $DIR"
	echo "rootfs-second-stage: 1 passed, 0 failed"
else
	echo "debootstrap second stage failed after $(( $(date +%s) - start )) s; log: $DIR/debootstrap/debootstrap.log" >&2
	echo "rootfs-second-stage: 0 passed, 1 failed"
	exit 1
fi
