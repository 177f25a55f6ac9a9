#!/usr/bin/env bash
# LocalStack (AWS Secrets Manager) on 127.0.0.1:4566; the work is done by
# localstack/{install,start,stop}.sh.
# Usage: localstack.sh {install|start|stop|status}
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$HERE/../lib.sh"
SERVER=localstack

healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$LOCALSTACK_PORT/_localstack/init/ready" |
    grep -q '"completed": *true'
}

case ${1:-} in
  install | start | stop) exec "$ROOT/localstack/$1.sh" ;;
  status) report_status localstack "http://127.0.0.1:$LOCALSTACK_PORT" healthy ;;
  *) die "usage: $0 {install|start|stop|status}" ;;
esac
