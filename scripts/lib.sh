# Sourced by the scripts in scripts/ and by .ci/run: the one place where the
# repository root and the fixture cache directory are named. (Rust tests use
# the same default in crates/xarch/tests/common/mod.rs: $XARCH_CACHE, else
# <repo>/.cache.)
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
XARCH_CACHE="${XARCH_CACHE:-$REPO/.cache}"
mkdir -p "$XARCH_CACHE"
XARCH_CACHE="$(cd "$XARCH_CACHE" && pwd)"
export XARCH_CACHE

# A private apt configuration under $XARCH_CACHE/apt for fetching pinned
# Debian packages and sources: its own sources list (binary indexes of
# bookworm for amd64 and arm64, plus deb-src), lists and cache; the host's
# apt sources are not changed. Sets APTOPTS for `apt-get "${APTOPTS[@]}"`;
# the caller runs `update` when the lists are missing or stale.
private_apt() {
    local mirror="${XARCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    local security="${XARCH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    APTDIR="$XARCH_CACHE/apt"
    mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/preferences.d"
    cat >"$APTDIR/sources.list" <<SRC
deb [arch=amd64,arm64 signed-by=$keyring] $mirror bookworm main
deb-src [signed-by=$keyring] $mirror bookworm main
deb [arch=amd64,arm64 signed-by=$keyring] $mirror bookworm-updates main
deb [arch=amd64,arm64 signed-by=$keyring] $security bookworm-security main
deb-src [signed-by=$keyring] $security bookworm-security main
SRC
    APTOPTS=(
        -o "Dir::Etc::SourceList=$APTDIR/sources.list"
        -o "Dir::Etc::SourceParts=/nonexistent"
        -o "Dir::State::Lists=$APTDIR/lists"
        -o "Dir::Cache=$APTDIR/cache"
        -o "Dir::Etc::Preferences=/nonexistent"
        -o "Dir::Etc::PreferencesParts=$APTDIR/preferences.d"
        -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64"
        -o "APT::Sandbox::User=root"
        -o "Acquire::Retries=3"
        -q
    )
}
