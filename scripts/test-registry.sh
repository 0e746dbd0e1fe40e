#!/bin/sh
# Starts Debian's docker-registry (CNCF distribution) on 127.0.0.1:PORT with
# storage in DIR, for manual testing: scripts/test-registry.sh [PORT] [DIR]
# Stops it on Ctrl-C. The Rust tests start their own (crates/oci/tests/common).
set -eu
port=${1:-5000}
dir=${2:-$(mktemp -d)}
mkdir -p "$dir/data"
cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
echo "registry on 127.0.0.1:$port, storage $dir/data" >&2
exec /usr/bin/docker-registry serve "$dir/config.yml"
