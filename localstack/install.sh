#!/usr/bin/env bash
# Installs LocalStack (host mode, no Docker) into $CACHE/localstack/venv.
# Skipped when the venv's stamp matches the pin and the constraints.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
SERVER=localstack

PIN='localstack-core[runtime]==2026.3.0'
VENV=$CACHE/localstack/venv
CONSTRAINTS=$HERE/constraints.txt

stamp="$PIN service_identity constraints:$(sha256sum <"$CONSTRAINTS" | cut -d' ' -f1)"
ensure_venv "$VENV" "$stamp" -c "$CONSTRAINTS" "$PIN" service_identity
log "installed: $PIN"
