#!/bin/sh
# Installs what the image-store tests need: the CNCF distribution registry
# (Debian's docker-registry), skopeo and umoci. Idempotent; run as root.
set -eu
need=""
for pair in docker-registry:docker-registry skopeo:skopeo umoci:umoci dpkg-deb:dpkg; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need
fi
# The package may start a registry on :5000; tests run their own on free ports.
dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }
# Tests fetch busybox-static:{amd64,arm64} with `apt-get download`: needs package lists.
apt-cache policy busybox-static:arm64 2>/dev/null | grep -q 'Candidate: [0-9]' || apt-get update -qq
