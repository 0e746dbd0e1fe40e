# Sourced by the scripts in scripts/ and by .ci/run: the one place where the
# repository root and the fixture cache directory are named. (Rust tests use
# the same default in crates/xarch/tests/common/mod.rs: $XARCH_CACHE, else
# <repo>/.cache.)
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
XARCH_CACHE="${XARCH_CACHE:-$REPO/.cache}"
mkdir -p "$XARCH_CACHE"
XARCH_CACHE="$(cd "$XARCH_CACHE" && pwd)"
export XARCH_CACHE
