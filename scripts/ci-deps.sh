#!/usr/bin/env bash
# Installs everything the test suites need on Debian bookworm (amd64 host):
# the arm64 cross compiler for tests/guest, qemu-user from bookworm-backports
# (the stand-in runner and differential oracle), the dpkg arm64 architecture
# (to download arm64 fixtures) and the tools the busybox testsuite calls.
#
# Idempotent and fast when everything is present: `apt-get update` runs only
# when something is missing, and then once.
set -euo pipefail

# Packages installed from bookworm itself.
PKGS=(
    gcc libc6-dev                              # native oracle builds of tests/guest
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross  # arm64 guest builds
    ca-certificates xz-utils bzip2 gzip patch  # fixtures: .deb/.orig.tar.* handling
    dpkg-dev                                   # dpkg-source -x for the busybox source
    diffutils findutils mawk                   # testsuite comparison
    procps util-linux                          # kill (test timeouts), unshare (qemu-runner.sh)
    golang-go                                  # Go stdlib tests cross-built for arm64
    python3 python3-venv                       # ctorture planner, deploy/ validators
)
# Packages installed from bookworm-backports (qemu 10.x).
BPO_PKGS=(qemu-user)
BPO_LINE="deb http://deb.debian.org/debian bookworm-backports main"
BPO_LIST=/etc/apt/sources.list.d/xarch-bookworm-backports.list

SUDO=()
if [ "$(id -u)" != 0 ]; then SUDO=(sudo); fi
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
     -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)

installed() { # PKG... -> true when all are installed
    local p
    for p in "$@"; do
        dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || return 1
    done
}

bpo_configured() {
    grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

qemu_ok() {
    command -v qemu-aarch64 >/dev/null 2>&1 || return 1
    # Require 10.x or newer (bookworm's 7.2 lacks too much of what we compare).
    local v
    v=$(qemu-aarch64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -n1)
    [ -n "$v" ] && [ "$v" -ge 10 ]
}

need_update=0
changed=0

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    "${SUDO[@]}" dpkg --add-architecture arm64
    need_update=1
fi
if ! bpo_configured; then
    echo "$BPO_LINE" | "${SUDO[@]}" tee "$BPO_LIST" >/dev/null
    need_update=1
fi
if ! installed "${PKGS[@]}" || ! qemu_ok; then
    changed=1
fi
# Package lists are also needed by scripts/fixtures.sh (apt-get download).
if ! apt-cache show busybox-static:arm64 >/dev/null 2>&1; then
    need_update=1
fi

if [ "$need_update" = 1 ] || [ "$changed" = 1 ]; then
    "${APT[@]}" update
    "${APT[@]}" install --no-install-recommends "${PKGS[@]}"
    # Only the user-mode emulators: no binfmt registration package, so the
    # host's binfmt_misc stays as the binfmt tests expect it.
    "${APT[@]}" install --no-install-recommends -t bookworm-backports "${BPO_PKGS[@]}"
fi

qemu_ok || { echo "ci-deps: qemu-aarch64 >= 10 not available after install" >&2; exit 1; }
command -v aarch64-linux-gnu-gcc >/dev/null || { echo "ci-deps: aarch64-linux-gnu-gcc missing" >&2; exit 1; }
echo "ci-deps: ok ($(qemu-aarch64 --version | head -n1); $(aarch64-linux-gnu-gcc -dumpfullversion) cross gcc)"
