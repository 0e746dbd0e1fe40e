#!/usr/bin/env bash
# End-to-end test of xarch as the HOST's binfmt_misc handler under Podman and
# Buildah: arm64 containers run and arm64 images build on this x86_64 machine.
#
# Unlike `cargo test` (which only ever uses a private binfmt_misc instance in
# a user namespace), this registers on the host, so it is a separate, manual
# or dedicated-CI step. It restores the previous state on exit: xarch's entry
# is removed, any handler that --replace took away (qemu-aarch64, ...) is
# registered again from its saved definition, and binfmt_misc is unmounted
# again if it was not mounted before.
#
# Usage (as root):
#   scripts/test-binfmt-podman.sh       # links a static release xarch into target/static-xarch
#   PROFILE=dev scripts/test-binfmt-podman.sh      # ... from the dev build
#   XARCH=/path/to/static/xarch scripts/test-binfmt-podman.sh
#   XARCH_BINFMT_TEST_INTERP=/usr/bin/qemu-aarch64-static scripts/test-binfmt-podman.sh
#       (registers that interpreter through `xarch binfmt install --interpreter`:
#        checks the registration and container machinery before the emulator works)
#
# Needs: podman, buildah, runc (Debian: apt-get install podman buildah runc),
# apt-get access to Debian's arm64 packages (busybox-static, libc6, dash).
# The handler must be a static binary (`cargo rustc --release -p xarch --bin
# xarch -- -C target-feature=+crt-static`, or RUSTFLAGS="-C
# target-feature=+crt-static" cargo build --target x86_64-unknown-linux-gnu
# -p xarch): with the F flag the kernel starts it inside the container,
# where no dynamic loader of ours exists.
#
# The image is made without emulation and without a registry: Debian's
# arm64 busybox-static, libc6 and dash unpacked with dpkg-deb into a
# buildah container from scratch. /bin/sh is dash, a dynamically linked
# arm64 program, so `podman run ... sh -c` and buildah's RUN steps go
# through the arm64 glibc loader inside the container too.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
INTERP=${XARCH_BINFMT_TEST_INTERP:-}
CACHE=${XARCH_CACHE:-$repo/.cache}
BUSYBOX_VERSION='1:1.35.0-4+deb12u1+b1'
LIBC6_VERSION='2.36-9+deb12u14'
DASH_VERSION='0.5.12-2'
M=${XARCH_BINFMT_MOUNTPOINT:-/proc/sys/fs/binfmt_misc}
# Podman settings that work on this project's machines (see DESIGN.md).
PODMAN=(podman --runtime runc)
RUNOPTS=(--rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
IMAGE=localhost/xarch-test-arm64
BUILT=localhost/xarch-test-built
INSTALLER=localhost/xarch-test-installer

die() { echo "test-binfmt-podman: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (it registers a host binfmt_misc handler)"
for t in podman buildah; do command -v $t >/dev/null || die "$t not installed (apt-get install podman buildah runc)"; done
if [ -z "${XARCH:-}" ]; then
  # The normal release build, linked once more as static-pie (only the
  # final link differs; see scripts/rootfs-static-xarch.sh).
  profile=${PROFILE:-release}
  XARCH=$repo/target/static-xarch/xarch-$profile
  echo "linking a static xarch ($XARCH)"
  tmp=$(mktemp -d "$repo/target/static-xarch.XXXXXX")
  (cd "$repo" && cargo rustc -q --profile "$profile" -p xarch --bin xarch -- \
     -C target-feature=+crt-static -o "$tmp/xarch" 2>/dev/null)
  mkdir -p "${XARCH%/*}"
  for f in "$tmp"/xarch*; do case $f in *.d) ;; *) mv "$f" "$XARCH" ;; esac; done
  rm -rf "$tmp"
fi
[ -x "$XARCH" ] || die "no xarch binary at $XARCH (build it static, or set XARCH)"
if [ -z "$INTERP" ] && readelf -l "$XARCH" | grep -q 'Requesting program interpreter'; then
  die "$XARCH is dynamically linked; the handler must be static"
fi

# ---- save the host state
work=$(mktemp -d)
mounted_before=yes
if [ "$(stat -f -c %T "$M" 2>/dev/null)" != binfmt_misc ]; then
  mounted_before=no
  mount -t binfmt_misc binfmt_misc "$M"
fi
mkdir "$work/saved"
for f in "$M"/*; do
  case "${f##*/}" in register|status) continue;; esac
  cp "$f" "$work/saved/${f##*/}"
done
cp "$M/status" "$work/global-status"

hex_to_escapes() { sed 's/../\\x&/g'; }

restore() {
  set +e
  "$XARCH" binfmt uninstall --arch aarch64 --mountpoint "$M" >/dev/null 2>&1
  for saved in "$work"/saved/*; do
    [ -e "$saved" ] || continue
    name=${saved##*/}
    [ -e "$M/$name" ] && continue
    interp=$(sed -n 's/^interpreter //p' "$saved")
    flags=$(sed -n 's/^flags: //p' "$saved")
    ext=$(sed -n 's/^extension \.//p' "$saved")
    if [ -n "$ext" ]; then
      line=":$name:E::$ext::$interp:$flags"
    else
      offset=$(sed -n 's/^offset //p' "$saved")
      magic=$(sed -n 's/^magic //p' "$saved" | hex_to_escapes)
      mask=$(sed -n 's/^mask //p' "$saved" | hex_to_escapes)
      line=":$name:M:$offset:$magic:$mask:$interp:$flags"
    fi
    printf '%s' "$line" > "$M/register" && echo "restored $name"
    grep -qx disabled "$saved" && echo 0 > "$M/$name"
  done
  [ "$(cat "$work/global-status")" = disabled ] && echo 0 > "$M/status"
  [ "$mounted_before" = no ] && umount "$M"
  [ -n "${ctr:-}" ] && buildah rm "$ctr" >/dev/null 2>&1
  [ -n "${ictr:-}" ] && buildah rm "$ictr" >/dev/null 2>&1
  "${PODMAN[@]}" rmi -f "$IMAGE" "$BUILT" "$INSTALLER" >/dev/null 2>&1
  rm -rf "$work"
}
trap restore EXIT

# ---- fixtures: Debian arm64 packages, unpacked without running anything
deb() { # name version -> directory with the package unpacked
  local dir="$CACHE/$1-arm64-${2//:/_}"
  if [ ! -d "$dir" ]; then
    mkdir -p "$CACHE/debs"
    local f
    f=$(cd "$CACHE/debs" && for d in "$1"_*_arm64.deb; do
          [ -e "$d" ] && [ "$(dpkg-deb -f "$d" Version)" = "$2" ] && echo "$d"; done | head -1)
    if [ -z "$f" ]; then
      (cd "$CACHE/debs" && apt-get download -q "$1:arm64=$2" >/dev/null)
      f=$(cd "$CACHE/debs" && for d in "$1"_*_arm64.deb; do
            [ "$(dpkg-deb -f "$d" Version)" = "$2" ] && echo "$d"; done | head -1)
    fi
    dpkg-deb -x "$CACHE/debs/$f" "$dir.tmp.$$" && mv "$dir.tmp.$$" "$dir"
  fi
  echo "$dir"
}
bb_dir=$(deb busybox-static "$BUSYBOX_VERSION")
libc_dir=$(deb libc6 "$LIBC6_VERSION")
dash_dir=$(deb dash "$DASH_VERSION")

fail=0 pass=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then pass=$((pass+1)); echo "ok: $1";
  else fail=$((fail+1)); echo "FAILED: $1: expected '$2', got '$3'"; fi
}

# ---- a one-layer arm64 image: glibc, dash as /bin/sh, busybox for the rest
ctr=$(buildah from --arch arm64 scratch)
mnt=$(buildah mount "$ctr")
cp -a "$libc_dir/." "$mnt/"
cp -a "$dash_dir/." "$mnt/"
mkdir -p "$mnt/bin" "$mnt/tmp" "$mnt/proc" "$mnt/sys" "$mnt/dev" "$mnt/etc"
cp "$bb_dir/bin/busybox" "$mnt/bin/busybox"
for a in uname cat echo id ls readlink; do ln -s busybox "$mnt/bin/$a"; done
ln -sf dash "$mnt/bin/sh"
buildah umount "$ctr" >/dev/null
buildah config --arch arm64 --os linux --cmd /bin/sh "$ctr"
buildah commit -q "$ctr" "$IMAGE" >/dev/null
buildah rm "$ctr" >/dev/null; ctr=

# ---- without an arm64 handler the image must not run (when none was there)
if ! grep -lq 'magic 7f454c460201010000000000000000000200b700' "$work"/saved/* 2>/dev/null; then
  if "${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 "$IMAGE" uname -m >/dev/null 2>&1; then
    check "no handler: podman run fails" failure success
  else
    check "no handler: podman run fails" failure failure
  fi
fi

# ---- register
args=(--arch aarch64 --replace --flags POCF --mountpoint "$M")
[ -n "$INTERP" ] && args+=(--interpreter "$INTERP")
"$XARCH" binfmt install "${args[@]}"
"$XARCH" binfmt status --mountpoint "$M"

check "podman run uname -m" aarch64 \
  "$("${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 "$IMAGE" uname -m)"
check "podman run dash (dynamic arm64) pipeline" "hello arm64" \
  "$("${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 "$IMAGE" sh -c 'echo hello arm64 | cat')"
check "podman run: the guest sees itself" "/bin/busybox" \
  "$("${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 "$IMAGE" readlink /proc/self/exe 2>&1 || true)"
check "podman run as non-root user" 1000 \
  "$("${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 --user 1000 "$IMAGE" id -u)"

# ---- buildah bud: RUN steps execute arm64 binaries through the handler
mkdir "$work/ctx"
cat > "$work/ctx/Containerfile" <<'CF'
FROM localhost/xarch-test-arm64
RUN uname -m > /built-on && [ "$(cat /built-on)" = aarch64 ] && echo built
CMD ["cat", "/built-on"]
CF
buildah bud -q --isolation chroot --platform linux/arm64 -t "$BUILT" "$work/ctx" >/dev/null
check "buildah bud RUN under arm64" aarch64 \
  "$("${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 "$BUILT")"

# ---- the installer image (deploy/Containerfile's final stage: the static
# xarch on scratch, entrypoint `xarch binfmt install`), built here from
# this xarch without the Rust stage (no registry needed). A privileged run
# registers on the host; F keeps the handler, whose file vanished with the
# container, usable by every later container.
if [ -z "$INTERP" ]; then
  "$XARCH" binfmt uninstall --arch aarch64 --mountpoint "$M" >/dev/null
  ictr=$(buildah from scratch)
  imnt=$(buildah mount "$ictr")
  install -D -m 0755 "$XARCH" "$imnt/usr/bin/xarch"
  buildah umount "$ictr" >/dev/null
  buildah config --entrypoint '["/usr/bin/xarch", "binfmt", "install", "--flags", "POCF"]' \
    --cmd '--arch all' "$ictr"
  buildah commit -q "$ictr" "$INSTALLER" >/dev/null
  buildah rm "$ictr" >/dev/null
  "${PODMAN[@]}" run "${RUNOPTS[@]}" --privileged "$INSTALLER" --arch arm64 >/dev/null
  check "installer image registered the handler" "xarch-aarch64 POCF" \
    "$("$XARCH" binfmt status --json --mountpoint "$M" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(" ".join(h["name"] + " " + h["flags"] for h in s["handlers"] if h["name"] == "xarch-aarch64"))')"
  check "after the installer exited: podman run uname -m" aarch64 \
    "$("${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 "$IMAGE" uname -m)"
fi

echo
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
