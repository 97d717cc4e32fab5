#!/usr/bin/env bash
# Provides the Pulumi engine, also offline: the `pulumi` CLI, the Node language host (`pulumi-language-nodejs`, which
# the plain CLI runs programs with) and the tls/random/docker resource plugins at exactly the versions package.json
# pins (each SDK asks the engine for the plugin of its own version).
#   - An installed `pulumi` (and the language host beside it) is used as it is; otherwise the CLI is built with the Go
#     module proxy.
#   - Plugins and the language host are built from the upstream source archives in ../shared/provider-src (or
#     $RST_PROVIDER_SRC) with its build.sh where that folder exists; elsewhere the ordinary `pulumi plugin install`
#     downloads them.
# Every binary is cached outside the repo, under $CACHE_ROOT keyed by name and version, and built only when missing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")/.." && pwd)"
ver() { node -p "require('$here/node_modules/$1/package.json').version"; }
SRC="${RST_PROVIDER_SRC:-$here/../shared/provider-src}"
[ -x "$SRC/build.sh" ] || SRC=""

PULUMI_VERSION="$(ver @pulumi/pulumi)"
TOOLS="$CACHE_ROOT/pulumi/v$PULUMI_VERSION"
PLUGINS="$CACHE_ROOT/plugins"
mkdir -p "$TOOLS/bin" "$PLUGINS"
export PULUMI_HOME="${PULUMI_HOME:-$HOME/.pulumi}" PULUMI_SKIP_UPDATE_CHECK=true
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

build_cli() {
  local dir="$TOOLS/build-cli"; mkdir -p "$dir"
  cat >"$dir/go.mod" <<MOD
module local/pulumi-cli

go 1.25

require github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
MOD
  printf '//go:build tools\npackage tools\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' >"$dir/tools.go"
  (cd "$dir" && go mod tidy && go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$TOOLS/bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) && mv "$TOOLS/bin/pulumi.tmp" "$TOOLS/bin/pulumi"
}

# build_cached <cache file> <build.sh name> <version>: builds into the cache unless it is there already.
build_cached() {
  [ -x "$1" ] && return 0
  [ -n "$SRC" ] || return 1
  step "build $2 $3 from $SRC (cold: 2-6 min, the first also downloads ~1 GB of Go modules)" bash "$SRC/build.sh" "$2" "$3" "$1"
}

installed_pulumi="$(command -v pulumi || true)"
if [ -n "$installed_pulumi" ] && [ "$installed_pulumi" != "$here/node_modules/.bin/pulumi" ] && [ "$(readlink -f "$installed_pulumi")" != "$(readlink -f "$TOOLS/bin/pulumi")" ] && [ -z "${RST_FORCE_BUILD:-}" ]; then
  echo "==> pulumi CLI: using the installed $installed_pulumi ($(pulumi version))"
  ln -sf "$installed_pulumi" "$TOOLS/bin/pulumi"
  host_beside="$(dirname "$(readlink -f "$installed_pulumi")")/pulumi-language-nodejs"
  [ -x "$host_beside" ] && ln -sf "$host_beside" "$TOOLS/bin/pulumi-language-nodejs"
elif [ -x "$TOOLS/bin/pulumi" ]; then
  echo "==> pulumi CLI v$PULUMI_VERSION: cached at $TOOLS/bin/pulumi"
else
  step "build the pulumi CLI v$PULUMI_VERSION with the Go module proxy (cold: ~10 min on 2 cores)" build_cli
fi
PULUMI="$TOOLS/bin/pulumi"

# The Node language host, beside the CLI (where the engine looks for it).
if [ -x "$TOOLS/bin/pulumi-language-nodejs" ]; then
  echo "==> language host nodejs: $(readlink -f "$TOOLS/bin/pulumi-language-nodejs")"
elif build_cached "$PLUGINS/pulumi-language-nodejs-v$PULUMI_VERSION" nodejs "$PULUMI_VERSION"; then
  ln -sf "$PLUGINS/pulumi-language-nodejs-v$PULUMI_VERSION" "$TOOLS/bin/pulumi-language-nodejs"
  echo "==> language host nodejs v$PULUMI_VERSION: $TOOLS/bin/pulumi-language-nodejs"
else
  echo "no pulumi-language-nodejs v$PULUMI_VERSION: install Pulumi (it ships the language host beside the CLI) or provide $here/../shared/provider-src" >&2
  exit 1
fi
# The engine finds the dynamic-provider host script beside the CLI or on PATH.
ln -sf "$here/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs" "$TOOLS/bin/pulumi-resource-pulumi-nodejs"

for name in tls random docker; do
  v="$(ver "@pulumi/$name")"
  if [ -x "$PULUMI_HOME/plugins/resource-$name-v$v/pulumi-resource-$name" ]; then
    echo "==> plugin $name v$v: installed"
  elif build_cached "$PLUGINS/pulumi-resource-$name-v$v" "$name" "$v"; then
    step "install plugin $name v$v" "$PULUMI" plugin install resource "$name" "$v" --file "$PLUGINS/pulumi-resource-$name-v$v"
  else
    # No sources here: a machine with internet access downloads the release, as `pulumi` itself would.
    step "download plugin $name v$v" "$PULUMI" plugin install resource "$name" "$v"
  fi
done
echo "$TOOLS/bin" >"$CACHE_ROOT/pulumi-bin-dir"
