#!/usr/bin/env bash
# Local servers for the integration tests.
#
# Usage: scripts/servers.sh {install|start|stop|status|env} [NAME...]
#   NAME: localstack drongo openbao postgres (default: all)
#   install  install what is missing (cached under .cache/ or $SECRETS_CACHE_DIR)
#   start    install if needed, start, wait until ready (all in parallel)
#   stop     stop the recorded processes (TERM, then KILL after a timeout)
#   status   one line per server; exit 0 only if all are running and healthy
#   env      print the export lines the tests read
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"

ALL=(localstack drongo openbao postgres)

usage() {
  sed -n '4,10s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

print_env() {
  cat <<ENV
export SECRETS_TEST_AWS_ENDPOINT=http://127.0.0.1:$LOCALSTACK_PORT
export SECRETS_TEST_GCP_ENDPOINT=http://127.0.0.1:$DRONGO_PORT
export SECRETS_TEST_VAULT_ADDR=http://127.0.0.1:$OPENBAO_PORT
export SECRETS_TEST_VAULT_TOKEN=root
export SECRETS_TEST_PG_URL=postgres://postgres:postgres@127.0.0.1:$POSTGRES_PORT/postgres
ENV
}

# Runs ACTION for every NAME at once, output prefixed with [NAME]; fails if
# any of them failed.
run_parallel() {
  local action=$1 n failed=()
  shift
  local -A pids=()
  for n in "$@"; do
    (
      t0=$(now_us)
      rc=0
      "$HERE/servers/$n.sh" "$action" 2>&1 | sed -u "/^\[$n\] /!s/^/[$n] /" || rc=$?
      if ((rc == 0)); then
        echo "[$n] $action: ok ($(since "$t0"))"
      else
        echo "[$n] $action: FAILED ($(since "$t0"))"
      fi
      exit "$rc"
    ) &
    pids[$n]=$!
  done
  for n in "$@"; do
    wait "${pids[$n]}" || failed+=("$n")
  done
  if ((${#failed[@]})); then
    echo "servers: $action failed for: ${failed[*]}" >&2
    return 1
  fi
}

action=${1:-}
[[ -n $action ]] || usage
shift
names=("$@")
((${#names[@]})) || names=("${ALL[@]}")
for n in "${names[@]}"; do
  [[ " ${ALL[*]} " == *" $n "* ]] || { echo "servers: unknown server '$n' (known: ${ALL[*]})" >&2; exit 2; }
done

case $action in
  install | start | stop) run_parallel "$action" "${names[@]}" ;;
  status)
    rc=0
    for n in "${names[@]}"; do
      "$HERE/servers/$n.sh" status || rc=1
    done
    exit "$rc"
    ;;
  env) print_env ;;
  *) usage ;;
esac
