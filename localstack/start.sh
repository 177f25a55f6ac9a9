#!/usr/bin/env bash
# Starts LocalStack (Secrets Manager only) on 127.0.0.1:4566 from the host
# venv, seeds it with the hooks in init/ready.d and waits until they ran.
# Does nothing if the recorded process is already running and ready.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
SERVER=localstack

VENV=$CACHE/localstack/venv
FS_ROOT=$CACHE/localstack/fs
URL=http://127.0.0.1:$LOCALSTACK_PORT

# 0: READY stage done and every hook succeeded; 1: not yet; 2: a hook failed.
init_ready() {
  local body
  body=$(curl -fsS --max-time 2 "$URL/_localstack/init/ready" 2>/dev/null) || return 1
  "$VENV/bin/python" - "$body" <<'PY'
import json
import sys

state = json.loads(sys.argv[1])
if not state.get("completed"):
    sys.exit(1)
failed = [s["name"] for s in state.get("scripts", []) if s.get("state") != "SUCCESSFUL"]
if failed:
    print("init hooks failed: " + ", ".join(failed), file=sys.stderr)
    sys.exit(2)
PY
}

take_server_lock localstack
"$HERE/install.sh"

# Fresh copy of the init hooks on every start.
rm -rf "$FS_ROOT/etc/localstack/init"
mkdir -p "$FS_ROOT/etc/localstack/init/ready.d"
cp "$HERE"/init/ready.d/* "$FS_ROOT/etc/localstack/init/ready.d/"

# OVERRIDE_IN_DOCKER=0: the machine has a /.dockerenv marker; without this
# LocalStack writes into the system's /etc and /var/lib. AWS_ENDPOINT_URL is
# dropped so the seed hook talks to this instance (its default endpoint).
start_simple localstack "$LOCALSTACK_PORT" 120 init_ready -- \
  env -u AWS_ENDPOINT_URL \
  GATEWAY_LISTEN="127.0.0.1:$LOCALSTACK_PORT" \
  LOCALSTACK_HOST="127.0.0.1:$LOCALSTACK_PORT" \
  SERVICES=secretsmanager \
  EAGER_SERVICE_LOADING=1 \
  DISABLE_EVENTS=1 \
  SKIP_SSL_CERT_DOWNLOAD=1 \
  DNS_ADDRESS=0 \
  OVERRIDE_IN_DOCKER=0 \
  FILESYSTEM_ROOT="$FS_ROOT" \
  "$VENV/bin/python" -m localstack.runtime.main
