#!/bin/sh
# Links a statically linked xarch (needed by `xarch run --rootfs`, whose
# guests re-enter xarch inside the root file system) without disturbing the
# normal build: only the final link of the xarch binary differs.
#
#   scripts/rootfs-static-xarch.sh [OUT]   (default $XARCH_CACHE/rootfs/xarch)
#   PROFILE=release scripts/rootfs-static-xarch.sh
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${XARCH_CACHE:-$REPO/.cache}
OUT=${1:-$CACHE/rootfs/xarch}
PROFILE=${PROFILE:-dev}
mkdir -p "$(dirname "$OUT")"
TMP=$(mktemp -d "$(dirname "$OUT")/static.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
cd "$REPO"
# Not position independent, at a fixed address below 2 GiB (the small code
# model) that guests leave alone (ET_EXEC programs load at 4 MiB, the
# kernel puts their mmaps near the top): a static-pie spends each start
# relocating 27k pointers in 120 pages it must copy (/bin/true in the
# arm64 root: 921 -> 784 page faults, 4.65 -> 4.25 ms per process). A
# guest ET_EXEC image over it fails to load with a clear error.
FLAGS="-C target-feature=+crt-static -C relocation-model=static -C link-arg=-Wl,--image-base=0x70000000"
# rustc appends cargo's -C extra-filename to -o: pick the one file it wrote.
# shellcheck disable=SC2086
cargo rustc -q --profile "$PROFILE" -p xarch --bin xarch -- $FLAGS -o "$TMP/xarch" 2>/dev/null ||
	cargo rustc --profile "$PROFILE" -p xarch --bin xarch -- $FLAGS -o "$TMP/xarch"
for f in "$TMP"/xarch*; do
	case $f in *.d) ;; *) mv "$f" "$OUT" ;; esac
done
echo "$OUT"
