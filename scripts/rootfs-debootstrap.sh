#!/bin/sh
# Builds (once) the first stage of an arm64 Debian bookworm minbase root file
# system with `debootstrap --foreign` (no emulation needed) and caches it as a
# tarball under $XARCH_CACHE/rootfs/. Prints the tarball path.
#
#   scripts/rootfs-debootstrap.sh [SUITE] [MIRROR]
set -eu
SUITE=${1:-bookworm}
MIRROR=${2:-http://deb.debian.org/debian}
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XARCH_CACHE:-$REPO/.cache}/rootfs
mkdir -p "$CACHE"
# Pinned by the suite and by the debootstrap version that resolved it; the
# package versions it chose are listed next to the tarball.
TAR="$CACHE/debootstrap-$SUITE-arm64-minbase-stage1.tar"
if [ -s "$TAR" ]; then
	echo "$TAR"
	exit 0
fi
command -v debootstrap >/dev/null || apt-get install -y debootstrap >&2
WORK=$(mktemp -d "$CACHE/stage1.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
debootstrap --foreign --arch=arm64 --variant=minbase "$SUITE" "$WORK/root" "$MIRROR" >&2
# In a container debootstrap links proc to the host's /proc instead of
# mounting it; the second stage needs a mount point.
for d in proc sys; do
	if [ -L "$WORK/root/$d" ]; then
		rm "$WORK/root/$d"
		mkdir -m 0555 "$WORK/root/$d"
	fi
done
ls "$WORK/root/var/cache/apt/archives" >"$TAR.packages" 2>/dev/null || true
tar -C "$WORK/root" --numeric-owner -cf "$TAR.tmp" .
mv "$TAR.tmp" "$TAR"
echo "$TAR"
