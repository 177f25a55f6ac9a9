#!/usr/bin/env bash
# drongo (GCP Secret Manager REST emulator) on 127.0.0.1:8085.
# Usage: drongo.sh {install|start|stop|status}
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$HERE/../lib.sh"
SERVER=drongo

PIN=drongo==0.8.0
VENV=$CACHE/drongo/venv
URL=http://127.0.0.1:$DRONGO_PORT

healthy() { http_ok "$URL/drongo/health"; }

# Seeds projects/$DRONGO_PROJECT/secrets/cgi-chat__database (the GCP id of
# `cgi-chat/database`) with an RDS-style bundle, as LocalStack's hook does for AWS.
# Idempotent: an existing secret is left alone.
DRONGO_PROJECT=${DRONGO_PROJECT:-cgi-chat-demo}
seed() {
  local base="$URL/v1/projects/$DRONGO_PROJECT/secrets"
  if http_ok "$base/cgi-chat__database"; then
    return 0
  fi
  local bundle payload
  bundle='{"engine":"postgres","host":"db.cgi-chat.internal","port":5432,"username":"cgi_chat_app","password":"seeded-drongo-password","dbname":"cgi_chat"}'
  payload=$(printf '%s' "$bundle" | base64 -w0)
  curl -fsS -X POST "$base?secretId=cgi-chat__database" \
    -H 'content-type: application/json' -d '{"replication":{"automatic":{}}}' >/dev/null
  curl -fsS -X POST "$base/cgi-chat__database:addVersion" \
    -H 'content-type: application/json' -d "{\"payload\":{\"data\":\"$payload\"}}" >/dev/null
  log "seeded projects/$DRONGO_PROJECT/secrets/cgi-chat__database"
}

install() {
  ensure_venv "$VENV" "$PIN" "$PIN"
  log "installed: $PIN"
}

case ${1:-} in
  install) install ;;
  start)
    take_server_lock drongo
    install
    start_simple drongo "$DRONGO_PORT" 30 healthy -- \
      "$VENV/bin/python" -u "$HERE/drongo_server.py" 127.0.0.1 "$DRONGO_PORT"
    seed
    ;;
  stop)
    take_server_lock drongo
    stop_recorded drongo TERM
    ;;
  status) report_status drongo "$URL" healthy ;;
  *) die "usage: $0 {install|start|stop|status}" ;;
esac
