#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent and cached: Debian packages, node modules, a running Docker
# engine, the Redis+spiped image, the test hosts' engines, and the Pulumi CLI (+ plugins where they can be had).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
t0=$SECONDS
step "debian packages" apt_install docker.io iptables iproute2 debootstrap openssl ca-certificates
if ! command -v go >/dev/null; then step "go (Debian's, newer toolchain from the Go module proxy on demand)" apt_install golang-go; fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
if [ ! -d node_modules/@pulumi/pulumi ] || [ package.json -nt node_modules/.package-lock.json ]; then
  step "npm install" npm install --no-audit --no-fund --loglevel=error
fi
step "docker engine" bash scripts/docker-engine.sh
step "redis image" bash scripts/image.sh
# Extra engines for the multi-host tests; where they cannot run (no root, no network namespaces) those tests skip.
step "test hosts" bash scripts/test-hosts.sh || echo "    test hosts did not start: test/integration/multihost.test.ts will be skipped"
step "pulumi toolchain" bash scripts/toolchain.sh
echo "==> setup done in $((SECONDS - t0))s"
