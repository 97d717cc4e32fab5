#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent and cached: Debian packages, node modules, a running Docker
# engine, the Redis+spiped image, and the Pulumi toolchain (CLI, Node language host, tls/random/docker plugins).
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
step "pulumi toolchain" bash scripts/toolchain.sh
echo "==> setup done in $((SECONDS - t0))s"
