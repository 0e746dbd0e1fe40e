#!/usr/bin/env bash
# Downloads the pinned test fixtures into $XARCH_CACHE (default <repo>/.cache),
# verifies their sha256 and extracts them:
#
#   $XARCH_CACHE/busybox/arm64/busybox   Debian bookworm busybox-static, arm64
#   $XARCH_CACHE/busybox/amd64/busybox   the same version, amd64 (the oracle)
#   $XARCH_CACHE/busybox/src/            the busybox source package of that
#                                        version (Debian patches applied), for
#                                        its testsuite/
#   $XARCH_CACHE/busybox/VERSION         the pinned version, written last
#   $XARCH_CACHE/go-programs/{arm64,amd64}/{shfmt,gosu}
#                                        Debian's static Go programs shfmt and
#                                        gosu, both arches of one version each
#   $XARCH_CACHE/go-programs/VERSION     their pinned versions, written last
#
# apt runs with a private configuration under $XARCH_CACHE/apt (its own
# sources list with deb-src, its own lists): the host's apt sources are not
# changed. Re-running with everything in place is a no-op.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BB_VERSION='1:1.35.0-4+deb12u1+b1'      # binary (binNMU) version, both arches
BB_SRC_VERSION='1:1.35.0-4+deb12u1'     # its source package
declare -A SHA256=(
    ['busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb']=732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5
    ['busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb']=3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744
    ['busybox_1.35.0-4+deb12u1.dsc']=9c01fe128b0eeded371c70e37d474fdb5055f71b5d0a778db44c6b0c62d3a7fa
    ['busybox_1.35.0.orig.tar.bz2']=faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694
    ['busybox_1.35.0-4+deb12u1.debian.tar.xz']=1cacbe095ef4880ea7879933c8e3c5075d1527cd6fbcb626a9b41e5daefd1a46
)
SHFMT_VERSION='3.6.0-1+b2'
GOSU_VERSION='1.14-1+b10'
declare -A GO_SHA256=(
    ['shfmt_3.6.0-1+b2_arm64.deb']=af5f915bff7bb55a5df884984c226758b4fba8ab167985e17d853129e6f2ec6f
    ['shfmt_3.6.0-1+b2_amd64.deb']=4004069ea9eefe1f2a839211911bede8b2180596f84dde5a6f8c2debd8cbeb5d
    ['gosu_1.14-1+b10_arm64.deb']=5ecbbf6e9204dcb71947804a5d3c4ba2e5b0c2581cc70da5b908043bfd8b00cd
    ['gosu_1.14-1+b10_amd64.deb']=c40cf280a915661337881a8665209285e9c557e21b35e3c8ab588f12f9860c42
)

BB="$XARCH_CACHE/busybox"
DL="$XARCH_CACHE/downloads"
STAMP="$BB/VERSION"

mkdir -p "$DL"

verify() { # FILE SHA256 -> true when present with that hash
    local f="$DL/$1"
    [ -f "$f" ] && [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$2" ]
}

APT_READY=
apt_setup() { # sets APTOPTS and updates the private lists, once
    [ -n "$APT_READY" ] && return 0
    # A private apt setup: its own sources (binary + source indexes of
    # bookworm for amd64 and arm64), lists and cache.
    private_apt
    apt-get "${APTOPTS[@]}" update >/dev/null
    APT_READY=1
}

fetch_busybox() {
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$BB_VERSION" ] \
        && [ -x "$BB/arm64/busybox" ] && [ -x "$BB/amd64/busybox" ] \
        && [ -f "$BB/src/testsuite/runtest" ]; then
        echo "fixtures: busybox $BB_VERSION cached in $BB"
        return 0
    fi
    local name missing=
    for name in "${!SHA256[@]}"; do verify "$name" "${SHA256[$name]}" || missing=1; done
    if [ -n "$missing" ]; then
        apt_setup
        echo "fixtures: fetching busybox $BB_VERSION (binaries) and $BB_SRC_VERSION (source)"
        (
            cd "$DL"
            apt-get "${APTOPTS[@]}" download \
                "busybox-static:arm64=$BB_VERSION" "busybox-static:amd64=$BB_VERSION"
            apt-get "${APTOPTS[@]}" source --download-only "busybox=$BB_SRC_VERSION"
        )
        for name in "${!SHA256[@]}"; do
            if ! verify "$name" "${SHA256[$name]}"; then
                echo "fixtures: $DL/$name: missing or sha256 mismatch (want ${SHA256[$name]})" >&2
                exit 1
            fi
        done
    fi

    # Extract into a scratch directory, then move into place.
    local TMP arch
    TMP="$(mktemp -d "$XARCH_CACHE/.busybox.XXXXXX")"
    trap 'rm -rf "$TMP"' EXIT
    for arch in arm64 amd64; do
        dpkg-deb -x "$DL/busybox-static_1%3a1.35.0-4+deb12u1+b1_${arch}.deb" "$TMP/deb-$arch"
        mkdir -p "$TMP/out/$arch"
        cp "$TMP/deb-$arch/bin/busybox" "$TMP/out/$arch/busybox"
        chmod 755 "$TMP/out/$arch/busybox"
    done
    # dpkg-source applies Debian's patches (some touch testsuite/); hashes were
    # checked above, so skip the signature check (no debian-keyring needed).
    (cd "$TMP" && dpkg-source --no-check -x "$DL/busybox_1.35.0-4+deb12u1.dsc" out/src >/dev/null)
    rm -f "$TMP"/out/*.orig.tar.* "$TMP"/out/*.debian.tar.* "$TMP"/out/*.dsc
    rm -rf "$BB"
    mv "$TMP/out" "$BB"
    echo "$BB_VERSION" >"$STAMP"
    echo "fixtures: busybox $BB_VERSION ready in $BB"
    rm -rf "$TMP"
    trap - EXIT
}

# Debian's static Go programs, arm64 and the amd64 oracle.
fetch_go_programs() {
    local dir="$XARCH_CACHE/go-programs" want="shfmt=$SHFMT_VERSION gosu=$GOSU_VERSION"
    if [ -f "$dir/VERSION" ] && [ "$(cat "$dir/VERSION")" = "$want" ]; then
        echo "fixtures: Go programs ($want) cached in $dir"
        return 0
    fi
    local name missing=
    for name in "${!GO_SHA256[@]}"; do verify "$name" "${GO_SHA256[$name]}" || missing=1; done
    if [ -n "$missing" ]; then
        apt_setup
        echo "fixtures: fetching $want"
        (cd "$DL" && apt-get "${APTOPTS[@]}" download \
            "shfmt:arm64=$SHFMT_VERSION" "shfmt:amd64=$SHFMT_VERSION" \
            "gosu:arm64=$GOSU_VERSION" "gosu:amd64=$GOSU_VERSION")
        for name in "${!GO_SHA256[@]}"; do
            if ! verify "$name" "${GO_SHA256[$name]}"; then
                echo "fixtures: $DL/$name: missing or sha256 mismatch (want ${GO_SHA256[$name]})" >&2
                exit 1
            fi
        done
    fi
    local tmp arch
    tmp="$(mktemp -d "$XARCH_CACHE/.go-programs.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    for arch in arm64 amd64; do
        dpkg-deb -x "$DL/shfmt_${SHFMT_VERSION}_${arch}.deb" "$tmp/deb-$arch"
        dpkg-deb -x "$DL/gosu_${GOSU_VERSION}_${arch}.deb" "$tmp/deb-$arch"
        mkdir -p "$tmp/out/$arch"
        install -m 755 "$tmp/deb-$arch/usr/bin/shfmt" "$tmp/deb-$arch/usr/sbin/gosu" "$tmp/out/$arch/"
    done
    echo "$want" >"$tmp/out/VERSION"
    rm -rf "$dir"
    mv "$tmp/out" "$dir"
    rm -rf "$tmp"
    trap - EXIT
    echo "fixtures: Go programs ($want) ready in $dir"
}

fetch_busybox
fetch_go_programs
