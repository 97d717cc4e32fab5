# Shared helpers for the set-up scripts: timed, labelled steps and the cache root.
# Everything slow is cached outside the repo, keyed by version, so a fresh clone reuses it.
# The facts the TypeScript side shares (test host sockets, labels) come from facts.env; scripts/facts.ts reads
# CACHE_ROOT from here.
. "$(dirname "${BASH_SOURCE[0]:-$0}")/facts.env"
CACHE_ROOT="${RST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/redis-secure-topologies}"
mkdir -p "$CACHE_ROOT"

# The Redis+spiped image (scripts/image.sh builds it) and its cached tarball, which other engines load from.
# The tag is the components' DEFAULT_IMAGE (components/redis/node.ts), read from there so it is written once.
IMAGE_TAG="${RST_IMAGE:-$(sed -n 's/^export const DEFAULT_IMAGE = "\(.*\)";$/\1/p' "$(dirname "${BASH_SOURCE[0]:-$0}")/../components/redis/node.ts")}"
[ -n "$IMAGE_TAG" ] || echo "lib.sh: found no DEFAULT_IMAGE line in components/redis/node.ts" >&2
IMAGE_TARBALL="$CACHE_ROOT/images/$(echo "$IMAGE_TAG" | tr "/:" "__").tar" # named by tag, so RST_IMAGE gets its own

load_image_on() { # load_image_on <docker host>: the cached tarball onto that engine, unless it has this very build already
  local here there
  here="$(docker image inspect -f '{{.Id}}' "$IMAGE_TAG" 2>/dev/null || true)"
  there="$(docker -H "$1" image inspect -f '{{.Id}}' "$IMAGE_TAG" 2>/dev/null || true)"
  if [ -n "$there" ] && [ "$there" = "$here" ]; then echo "==> image $IMAGE_TAG on $1: present"; return 0; fi
  step "load image $IMAGE_TAG on $1" docker -H "$1" load -q -i "$IMAGE_TARBALL"
}

step() { # step "what" command...
  local what="$1"; shift
  local t0=$SECONDS
  echo "==> $what"
  "$@"
  local rc=$?
  echo "    $what: $((SECONDS - t0))s (exit $rc)"
  return $rc
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() { # installs Debian packages that are missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "    apt-get install ${missing[*]}"
  as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}
