#!/usr/bin/env bash
# Builds the local Redis+spiped image (Debian bookworm with its security updates) and caches it by tag, and as a
# tarball outside the repo, so a fresh Docker engine on the same machine loads it in seconds instead of rebuilding.
#
# Usage: image.sh                        build or load it on the local engine; once a week (RST_IMAGE_CHECK_DAYS)
#                                        also ask Debian whether its packages have updates, as --refresh does
#        image.sh --refresh              ask now; rebuild under the same tag when any package has a newer version.
#                                        Then `pulumi up` replaces the containers (they run the image by its ID)
#        image.sh --to HOST [--to HOST]  also load it on other Docker engines (a RedisCluster's hosts: ssh://user@host,
#                                        tcp://host:2376, unix:///path) that lack this build; no registry is needed
set -euo pipefail
. "$(dirname "$0")/lib.sh"
TAG="$IMAGE_TAG"
tarball="$IMAGE_TARBALL"
checked="$tarball.checked" # touched whenever Debian was asked
check_days="${RST_IMAGE_CHECK_DAYS:-7}"
case "$check_days" in ''|*[!0-9]*) echo "image.sh: RST_IMAGE_CHECK_DAYS must be a whole number of days; got '$check_days'" >&2; exit 2 ;; esac
targets=()
refresh=false
while [ $# -gt 0 ]; do
  case "$1" in
    --to) [ $# -ge 2 ] || { echo "image.sh: --to needs a Docker host" >&2; exit 2; }; targets+=("$2"); shift 2 ;;
    --refresh) refresh=true; shift ;;
    *) echo "image.sh: unknown argument '$1' (usage: image.sh [--refresh] [--to <docker host>]...)" >&2; exit 2 ;;
  esac
done
# The suites the image's apt reads: the release, its updates and its security updates.
SOURCES='deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main'

copy_to_targets() {
  for host in ${targets[@]+"${targets[@]}"}; do
    load_image_on "$host" || { echo "image.sh: could not load $TAG on $host" >&2; exit 1; }
  done
}

updates() { # the image's packages with a newer version in Debian, one "name old -> new" per line; fails if Debian does not answer
  docker run --rm --user 0 --entrypoint sh "$TAG" -c "printf '%s\n' '$SOURCES' >/etc/apt/sources.list && apt-get update --error-on=any -qq >/dev/null 2>&1 \
    && apt-get -s upgrade 2>/dev/null | sed -n 's/^Inst \([^ ]*\) \[\([^]]*\)\] (\([^ ]*\) .*/\1 \2 -> \3/p'"
}

build() {
  local here; here="$(cd "$(dirname "$0")/.." && pwd)"
  if timeout 20 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    step "docker build $TAG" docker build -q --pull --no-cache -t "$TAG" "$here/image"
  else
    echo "==> no registry answers: building $TAG with debootstrap (Debian packages only)"
    command -v debootstrap >/dev/null || step "install debootstrap" apt_install debootstrap
    root="$(mktemp -d)"; trap 'as_root rm -rf "$root"' EXIT
    step "debootstrap bookworm (redis-server, redis-tools, spiped)" as_root debootstrap --variant=minbase \
      --include=redis-server,redis-tools,spiped,ca-certificates bookworm "$root" http://deb.debian.org/debian >/dev/null
    printf '%s\n' "$SOURCES" | as_root tee "$root/etc/apt/sources.list" >/dev/null
    # The exporter after redis-server, so the redis user keeps the uid it had before (100) and existing volumes' owner.
    step "security and point-release updates, prometheus-redis-exporter" as_root chroot "$root" sh -c \
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq >/dev/null \
       && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-redis-exporter >/dev/null'
    as_root rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
    as_root mkdir -p "$root/etc/redis-secure" "$root/data"
    as_root chroot "$root" chown redis:redis /data # a new volume on /data takes this owner
    step "docker import $TAG" bash -c "tar -C '$root' -c . | docker import \
      -c 'WORKDIR /data' -c 'CMD [\"redis-server\", \"/etc/redis-secure/redis.conf\"]' - '$TAG' >/dev/null"
  fi
  mkdir -p "$(dirname "$tarball")"
  step "cache image as $tarball" docker save -o "$tarball" "$TAG"
  touch "$checked"
  docker run --rm "$TAG" sh -c 'redis-server --version && spiped -v 2>&1 | head -1'
}

if ! docker image inspect "$TAG" >/dev/null 2>&1 && [ -f "$tarball" ]; then step "load image $TAG from $tarball" docker load -q -i "$tarball"; fi
if ! docker image inspect "$TAG" >/dev/null 2>&1; then build; copy_to_targets; exit 0; fi
echo "==> image $TAG: cached ($(docker image inspect -f '{{.Id}}' "$TAG" | cut -c1-19))"
# The tarball is what other engines (the test hosts, --to) load from.
[ -f "$tarball" ] || { mkdir -p "$(dirname "$tarball")"; step "cache image as $tarball" docker save -o "$tarball" "$TAG"; }
if $refresh || [ -z "$(find "$checked" -mtime "-$check_days" 2>/dev/null)" ]; then
  echo "==> does Debian have newer packages for $TAG?"
  if ! found="$(updates)"; then
    echo "    Debian did not answer: keeping the cached build (run image.sh --refresh when it does)"
    $refresh && exit 1
  elif [ -z "$found" ]; then
    echo "    no: every package is current"; touch "$checked"
  else
    echo "$found" | sed 's/^/    /'
    echo "    $(echo "$found" | wc -l) package(s) have updates: rebuilding $TAG (then \`pulumi up\` replaces the containers)"
    build
  fi
fi
copy_to_targets
