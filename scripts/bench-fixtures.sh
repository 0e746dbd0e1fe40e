#!/usr/bin/env bash
# Fixtures of the Debian-root benchmark (scripts/bench.sh): Debian
# bookworm's zlib source package, pinned by version and sha256, unpacked
# with Debian's patches applied and repacked as
#   $XARCH_CACHE/bench/zlib-<version>.tar.gz   (top directory zlib/)
# Prints that path. apt runs with the same private configuration as
# scripts/fixtures.sh ($XARCH_CACHE/apt): the host's apt sources are not
# changed. Re-running with the tarball in place is a no-op.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ZLIB_SRC_VERSION='1:1.2.13.dfsg-1'
declare -A SHA256=(
    ['zlib_1.2.13.dfsg-1.dsc']=3fa1e6b2fc525062aa88207dda52fed8e045373c809d362fe8a2bfbf7cf515a8
    ['zlib_1.2.13.dfsg.orig.tar.bz2']=71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1
    ['zlib_1.2.13.dfsg-1.debian.tar.xz']=f66cf3d4f2d7defcd4d1fd1fb0a11ee39f1e01b42ec7d059c9dc5c1695133c44
)
OUT="$XARCH_CACHE/bench/zlib-${ZLIB_SRC_VERSION#*:}.tar.gz"
DL="$XARCH_CACHE/downloads"
if [ -s "$OUT" ]; then
    echo "$OUT"
    exit 0
fi
mkdir -p "$DL" "$(dirname "$OUT")"
verify() { [ -f "$DL/$1" ] && [ "$(sha256sum "$DL/$1" | cut -d' ' -f1)" = "${SHA256[$1]}" ]; }
all_verified() {
    local name
    for name in "${!SHA256[@]}"; do verify "$name" || return 1; done
}
if ! all_verified; then
    command -v dpkg-source >/dev/null || apt-get install -y dpkg-dev >&2
    private_apt
    echo "bench-fixtures: fetching zlib source $ZLIB_SRC_VERSION" >&2
    (cd "$DL" && apt-get "${APTOPTS[@]}" source --download-only "zlib=$ZLIB_SRC_VERSION" >&2) || {
        apt-get "${APTOPTS[@]}" update >&2
        (cd "$DL" && apt-get "${APTOPTS[@]}" source --download-only "zlib=$ZLIB_SRC_VERSION" >&2)
    }
    for name in "${!SHA256[@]}"; do
        verify "$name" || { echo "bench-fixtures: $DL/$name: missing or sha256 mismatch (want ${SHA256[$name]})" >&2; exit 1; }
    done
fi
TMP="$(mktemp -d "$XARCH_CACHE/.zlib.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
# Hashes were checked above: skip the signature check (no debian-keyring).
(cd "$TMP" && dpkg-source --no-check -x "$DL/zlib_1.2.13.dfsg-1.dsc" zlib >/dev/null)
tar -C "$TMP" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -czf "$OUT.tmp" zlib
mv "$OUT.tmp" "$OUT"
echo "$OUT"
