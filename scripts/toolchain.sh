#!/usr/bin/env bash
# Provides the Pulumi engine offline: the `pulumi` CLI built from the Go module proxy, and the tls/random/docker
# resource plugins at exactly the versions package.json pins. Binaries are cached outside the repo, keyed by
# version, and rebuilt only when missing. A machine that already has `pulumi` and the plugins builds nothing.
# Prints `export ...` lines for the environment on its last lines when called with --env.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")/.." && pwd)"
ver() { node -p "require('$here/node_modules/$1/package.json').version"; }

PULUMI_VERSION="$(ver @pulumi/pulumi)"
TOOLS="$CACHE_ROOT/pulumi/v$PULUMI_VERSION"
mkdir -p "$TOOLS/bin"
export GOFLAGS=-mod=mod CGO_ENABLED=0

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

# A provider's Go module is pinned by the commit of its release tag (the repos tag the root, not provider/).
declare -A PROVIDER_MODULE=(
  [tls]="github.com/pulumi/pulumi-tls/provider/v5@v5.0.0-20260722185624-c3b9a61e7075"
  [random]="github.com/pulumi/pulumi-random/provider/v4@v4.0.0-20260722185042-f2d8b029d0f7"
  [docker]="github.com/pulumi/pulumi-docker/provider/v5@v5.0.0-20260421125334-c2baf6a4997f"
)
declare -A PROVIDER_NPM=([tls]=@pulumi/tls [random]=@pulumi/random [docker]=@pulumi/docker)

plugin_installed() { # name version
  [ -x "$PULUMI_HOME/plugins/resource-$1-v$2/pulumi-resource-$1" ]
}

provide_plugin() { # name
  local name="$1" v; v="$(ver "${PROVIDER_NPM[$name]}")"
  if plugin_installed "$name" "$v"; then echo "==> plugin $name v$v: installed"; return 0; fi
  local cached="$CACHE_ROOT/plugins/pulumi-resource-$name-v$v"
  if [ ! -x "$cached" ]; then
    local mod="${PROVIDER_MODULE[$name]}"
    echo "==> plugin $name v$v: fetching $mod through the Go module proxy"
    local err; err="$(cd "$(mktemp -d)" && go mod download -json "$mod" 2>&1 | grep '"Error"')"
    if [ -n "$err" ]; then
      echo "    NOT AVAILABLE: the Go module proxy refuses $mod"
      echo "    ($err)"
      echo "    Install pulumi-resource-$name v$v by hand (pulumi plugin install resource $name $v --file <binary>) to enable it."
      return 1
    fi
    echo "    the module resolves; building it is not implemented until the proxy serves it" >&2
    return 1
  fi
  "$TOOLS/bin/pulumi" plugin install resource "$name" "$v" --file "$cached" >/dev/null
}

export PULUMI_HOME="${PULUMI_HOME:-$HOME/.pulumi}"
if command -v pulumi >/dev/null && [ "$(command -v pulumi)" != "$here/node_modules/.bin/pulumi" ] && [ -z "${RST_FORCE_BUILD:-}" ]; then
  echo "==> using the installed pulumi CLI: $(command -v pulumi) ($(pulumi version))"
  ln -sf "$(command -v pulumi)" "$TOOLS/bin/pulumi"
elif [ -x "$TOOLS/bin/pulumi" ]; then
  echo "==> pulumi CLI v$PULUMI_VERSION: cached at $TOOLS/bin/pulumi"
else
  echo "==> building the pulumi CLI v$PULUMI_VERSION from the Go module proxy (cold: ~30 min on 2 cores)"
  step "go build pulumi v$PULUMI_VERSION" build_cli || { echo "pulumi CLI build failed" >&2; exit 1; }
fi
# The engine finds the dynamic-provider host script beside the CLI or on PATH.
ln -sf "$here/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs" "$TOOLS/bin/pulumi-resource-pulumi-nodejs"

missing=()
for p in tls random docker; do provide_plugin "$p" || missing+=("$p"); done
printf '%s\n' "${missing[@]}" >"$TOOLS/missing-plugins"
sed -i '/^$/d' "$TOOLS/missing-plugins"
[ ${#missing[@]} -eq 0 ] || echo "==> resource plugins unavailable on this machine: ${missing[*]}"
echo "$TOOLS/bin" >"$CACHE_ROOT/pulumi-bin-dir"
exit 0
