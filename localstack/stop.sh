#!/usr/bin/env bash
# Stops the LocalStack process recorded by start.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../scripts/lib.sh
source "$HERE/../scripts/lib.sh"
SERVER=localstack

take_server_lock localstack
stop_recorded localstack TERM
