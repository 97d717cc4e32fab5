#!/usr/bin/env bash
# Builds the local Redis+spiped image once and caches it by tag (and as a tarball outside the repo,
# so a fresh Docker engine on the same machine loads it in seconds instead of rebuilding).
#
# Usage: image.sh                        build or load it on the local engine
#        image.sh --to HOST [--to HOST]   also load it on other Docker engines (a RedisCluster's hosts: ssh://user@host,
#                                         tcp://host:2376, unix:///path), where it is missing; no registry is needed
set -euo pipefail
. "$(dirname "$0")/lib.sh"
TAG="$IMAGE_TAG"
tarball="$IMAGE_TARBALL"
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --to) [ $# -ge 2 ] || { echo "image.sh: --to needs a Docker host" >&2; exit 2; }; targets+=("$2"); shift 2 ;;
    *) echo "image.sh: unknown argument '$1' (usage: image.sh [--to <docker host>]...)" >&2; exit 2 ;;
  esac
done

copy_to_targets() {
  for host in ${targets[@]+"${targets[@]}"}; do
    load_image_on "$host" || { echo "image.sh: could not load $TAG on $host" >&2; exit 1; }
  done
}

if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "==> image $TAG: cached"
  # The tarball is what other engines (the test hosts, --to) load from.
  [ -f "$tarball" ] || { mkdir -p "$(dirname "$tarball")"; step "cache image as $tarball" docker save -o "$tarball" "$TAG"; }
  copy_to_targets
  exit 0
fi
if [ -f "$tarball" ]; then step "load image $TAG from $tarball" docker load -q -i "$tarball"; copy_to_targets; exit 0; fi

here="$(cd "$(dirname "$0")/.." && pwd)"
if timeout 20 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
  step "docker build $TAG" docker build -q -t "$TAG" "$here/image"
else
  echo "==> no registry answers: building $TAG with debootstrap (Debian packages only)"
  command -v debootstrap >/dev/null || step "install debootstrap" apt_install debootstrap
  root="$(mktemp -d)"; trap 'as_root rm -rf "$root"' EXIT
  step "debootstrap bookworm (redis-server, redis-tools, spiped)" as_root debootstrap --variant=minbase \
    --include=redis-server,redis-tools,spiped,ca-certificates bookworm "$root" http://deb.debian.org/debian >/dev/null
  as_root rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
  as_root mkdir -p "$root/etc/redis-secure" "$root/data"
  step "docker import $TAG" bash -c "tar -C '$root' -c . | docker import \
    -c 'WORKDIR /data' -c 'CMD [\"redis-server\", \"/etc/redis-secure/redis.conf\"]' - '$TAG' >/dev/null"
fi
mkdir -p "$(dirname "$tarball")"
step "cache image as $tarball" docker save -o "$tarball" "$TAG"
docker run --rm "$TAG" sh -c 'redis-server --version && spiped -v 2>&1 | head -1'
copy_to_targets
