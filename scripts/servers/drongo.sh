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
    ;;
  stop)
    take_server_lock drongo
    stop_recorded drongo TERM
    ;;
  status) report_status drongo "$URL" healthy ;;
  *) die "usage: $0 {install|start|stop|status}" ;;
esac
