#!/usr/bin/env bash
# The main job: set up whatever is missing, then `pulumi up` of the dev stack on the local Docker engine.
# `bash scripts/up.sh preview|destroy [stack]` runs the other verbs; `bash scripts/up.sh guard dev [--once]` the guard.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx --no-install ts-node --transpile-only scripts/stack.ts "${1:-up}" "${2:-dev}" "${@:3}"
