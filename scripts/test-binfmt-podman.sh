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
#   scripts/test-binfmt-podman.sh                 # uses target/release/xarch
#   XARCH=/path/to/static/xarch scripts/test-binfmt-podman.sh
#   XARCH_BINFMT_TEST_INTERP=/usr/bin/qemu-aarch64-static scripts/test-binfmt-podman.sh
#       (registers that interpreter through `xarch binfmt install --interpreter`:
#        checks the registration and container machinery before the emulator works)
#
# Needs: podman, buildah, runc (Debian: apt-get install podman buildah runc),
# apt-get access to Debian's arm64 busybox-static. The handler must be a
# static binary (RUSTFLAGS="-C target-feature=+crt-static" cargo build
# --release -p xarch): with the F flag the kernel starts it inside the
# container, where no dynamic loader of ours exists.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
XARCH=${XARCH:-$repo/target/release/xarch}
INTERP=${XARCH_BINFMT_TEST_INTERP:-}
CACHE=${XARCH_CACHE:-$repo/.cache}
BUSYBOX_VERSION='1:1.35.0-4+deb12u1+b1'
M=${XARCH_BINFMT_MOUNTPOINT:-/proc/sys/fs/binfmt_misc}
# Podman settings that work on this project's machines (see DESIGN.md).
PODMAN=(podman --runtime runc)
RUNOPTS=(--rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

die() { echo "test-binfmt-podman: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (it registers a host binfmt_misc handler)"
for t in podman buildah; do command -v $t >/dev/null || die "$t not installed (apt-get install podman buildah runc)"; done
[ -x "$XARCH" ] || die "no xarch binary at $XARCH (build it static, or set XARCH)"

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
  buildah rm --all >/dev/null 2>&1
  "${PODMAN[@]}" rmi -f localhost/xarch-test-arm64 localhost/xarch-test-built >/dev/null 2>&1
  rm -rf "$work"
}
trap restore EXIT

# ---- fixture: arm64 busybox
bb_dir="$CACHE/busybox-static-arm64-${BUSYBOX_VERSION//:/_}"
if [ ! -x "$bb_dir/bin/busybox" ]; then
  mkdir -p "$CACHE/debs"
  (cd "$CACHE/debs" && apt-get download "busybox-static:arm64=$BUSYBOX_VERSION")
  dpkg-deb -x "$CACHE"/debs/busybox-static_*_arm64.deb "$bb_dir"
fi

# ---- register
args=(--arch aarch64 --replace --flags POCF --mountpoint "$M")
[ -n "$INTERP" ] && args+=(--interpreter "$INTERP")
"$XARCH" binfmt install "${args[@]}"
"$XARCH" binfmt status --mountpoint "$M"

fail=0 pass=0
check() { # name expected actual
  if [ "$2" = "$3" ]; then pass=$((pass+1)); echo "ok: $1";
  else fail=$((fail+1)); echo "FAILED: $1: expected '$2', got '$3'"; fi
}

# ---- a one-layer arm64 image made with buildah from busybox
ctr=$(buildah from --arch arm64 scratch)
mnt=$(buildah mount "$ctr")
mkdir -p "$mnt/bin"
cp "$bb_dir/bin/busybox" "$mnt/bin/busybox"
for a in sh uname cat echo id; do ln -s busybox "$mnt/bin/$a"; done
buildah umount "$ctr" >/dev/null
buildah config --arch arm64 --os linux --cmd /bin/sh "$ctr"
buildah commit -q "$ctr" localhost/xarch-test-arm64 >/dev/null

check "podman run uname -m" aarch64 \
  "$("${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 localhost/xarch-test-arm64 uname -m)"
check "podman run shell pipeline" "hello arm64" \
  "$("${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 localhost/xarch-test-arm64 sh -c 'echo hello arm64 | cat')"
check "podman run as non-root user" 1000 \
  "$("${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 --user 1000 localhost/xarch-test-arm64 id -u)"

# ---- buildah bud: RUN steps execute arm64 binaries through the handler
mkdir "$work/ctx"
cat > "$work/ctx/Containerfile" <<'CF'
FROM localhost/xarch-test-arm64
RUN uname -m > /built-on && echo built
CMD ["cat", "/built-on"]
CF
buildah bud -q --isolation chroot --platform linux/arm64 -t localhost/xarch-test-built "$work/ctx" >/dev/null
check "buildah bud RUN under arm64" aarch64 \
  "$("${PODMAN[@]}" run "${RUNOPTS[@]}" --arch arm64 localhost/xarch-test-built)"

echo
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
