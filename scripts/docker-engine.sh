#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io when needed and starts dockerd
# in the background (as root) when none is running. Safe to run repeatedly.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if docker info >/dev/null 2>&1; then echo "==> docker engine: already running"; exit 0; fi
command -v dockerd >/dev/null || step "install docker.io" apt_install docker.io
command -v iptables >/dev/null || step "install iptables" apt_install iptables

log="$CACHE_ROOT/dockerd.log"
echo "==> starting dockerd (log: $log)"
t0=$SECONDS
as_root bash -c "nohup dockerd --storage-driver=overlay2 >'$log' 2>&1 &" || true
for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
if ! docker info >/dev/null 2>&1; then
  echo "dockerd did not answer within 60s with overlay2; retrying with vfs" >&2
  as_root pkill dockerd || true; sleep 1
  as_root bash -c "nohup dockerd --storage-driver=vfs >'$log' 2>&1 &"
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
docker info >/dev/null 2>&1 || { tail -20 "$log" >&2; echo "docker engine failed to start" >&2; exit 1; }
echo "    dockerd ready in $((SECONDS - t0))s ($(docker info --format '{{.Driver}}'))"
