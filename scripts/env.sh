# Source this for the plain `pulumi` CLI in this repo, offline:  . scripts/env.sh
# It puts the CLI and Node language host that `npm run setup` provided first on PATH, and uses a local file backend
# with a passphrase file (both under the project cache; an already set PULUMI_BACKEND_URL or passphrase is kept).
# Prints where things are, never the passphrase. Then: pulumi preview --diff -s dev, pulumi up -s dev, pulumi destroy -s dev.
_rst_lib="$(dirname "${BASH_SOURCE[0]:-$0}")/lib.sh"
. "$_rst_lib"
if [ ! -f "$CACHE_ROOT/pulumi-bin-dir" ]; then
  echo "no Pulumi toolchain yet: run \`npm run setup\` first" >&2
else
  export PATH="$(cat "$CACHE_ROOT/pulumi-bin-dir"):$PATH"
  mkdir -p "$CACHE_ROOT/state"
  export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$CACHE_ROOT/state}"
  if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    [ -f "$CACHE_ROOT/passphrase" ] || (umask 077; head -c 24 /dev/urandom | base64 >"$CACHE_ROOT/passphrase")
    export PULUMI_CONFIG_PASSPHRASE_FILE="$CACHE_ROOT/passphrase"
  fi
  export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
  echo "pulumi $(command -v pulumi), backend $PULUMI_BACKEND_URL, passphrase ${PULUMI_CONFIG_PASSPHRASE_FILE:-from PULUMI_CONFIG_PASSPHRASE}"
fi
unset _rst_lib
