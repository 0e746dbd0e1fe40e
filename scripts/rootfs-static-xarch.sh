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
# rustc appends cargo's -C extra-filename to -o: pick the one file it wrote.
cargo rustc -q --profile "$PROFILE" -p xarch --bin xarch -- \
	-C target-feature=+crt-static -o "$TMP/xarch" 2>/dev/null ||
	cargo rustc --profile "$PROFILE" -p xarch --bin xarch -- \
		-C target-feature=+crt-static -o "$TMP/xarch"
for f in "$TMP"/xarch*; do
	case $f in *.d) ;; *) mv "$f" "$OUT" ;; esac
done
echo "$OUT"
