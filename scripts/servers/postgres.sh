#!/usr/bin/env bash
# Throwaway PostgreSQL cluster on 127.0.0.1:55432, superuser postgres with
# password postgres (scram-sha-256 over TCP). Re-created on every start.
# Usage: postgres.sh {install|start|stop|status}
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
source "$HERE/../lib.sh"
SERVER=postgres

BASE=$CACHE/postgres
DATA=$BASE/data
LOGFILE=$LOG_DIR/postgres.log

# Newest server bin dir from Debian's postgresql-NN packages.
pg_bindir() {
  local d
  d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1) || true
  [[ -n $d && -x $d/initdb && -x $d/pg_ctl && -x $d/pg_isready ]] || return 1
  printf '%s\n' "$d"
}

# Runs a command as the postgres user (root), or as ourselves otherwise.
as_pg() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

healthy() { "$(pg_bindir)/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -t 2; }

install() {
  if ! pg_bindir >/dev/null; then
    ((EUID == 0)) || die "PostgreSQL server binaries missing; install the postgresql package"
    log "installing postgresql with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  log "installed: $("$(pg_bindir)/postgres" --version)"
}

# As root, the postgres user must be able to reach $DATA: give "x" (search
# only) to each ancestor directory it cannot traverse.
make_reachable() {
  ((EUID == 0)) || return 0
  local d=$BASE
  while [[ $d != / ]]; do
    if ! runuser -u postgres -- test -x "$d"; then
      log "chmod o+x $d (lets the postgres user reach the data dir)"
      chmod o+x "$d"
    fi
    d=$(dirname "$d")
  done
}

start() {
  take_server_lock postgres
  install
  if running_pid postgres >/dev/null; then
    if healthy; then
      log "already running"
      return 0
    fi
    stop_recorded postgres INT
  fi
  rm -f "$(pid_file postgres)"
  if port_in_use "$POSTGRES_PORT"; then
    die "127.0.0.1:$POSTGRES_PORT is taken by a process these scripts did not start"
  fi

  local bin t0 pid
  bin=$(pg_bindir)
  t0=$(now_us)
  rm -rf "$DATA"
  mkdir -p "$DATA"
  make_reachable
  printf 'postgres\n' >"$BASE/pwfile"
  : >"$LOGFILE"
  if ((EUID == 0)); then
    chown postgres: "$DATA" "$BASE/pwfile" "$LOGFILE"
  fi
  chmod 700 "$DATA"
  chmod 600 "$BASE/pwfile"

  as_pg "$bin/initdb" -D "$DATA" -U postgres --pwfile="$BASE/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C --no-sync --no-instructions >>"$LOGFILE" 2>&1 ||
    {
      show_log "$LOGFILE" "initdb failed"
      exit 1
    }
  rm -f "$BASE/pwfile"

  # Socket in the data dir; durability off (throwaway cluster).
  if ! as_pg "$bin/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 -o \
    "-c listen_addresses=127.0.0.1 -p $POSTGRES_PORT -k '$DATA' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null 9>&- 8>&-; then
    show_log "$LOGFILE" "pg_ctl start failed"
    exit 1
  fi
  pid=$(head -n 1 "$DATA/postmaster.pid")
  record_pid postgres "$pid"
  log "started pid $pid (log: $LOGFILE)"
  if ! wait_ready postgres 30 "$LOGFILE" healthy; then
    stop_recorded postgres INT
    exit 1
  fi
  log "ready in $(since "$t0")"
}

case ${1:-} in
  install) install ;;
  start) start ;;
  stop)
    # SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for clients).
    take_server_lock postgres
    stop_recorded postgres INT
    ;;
  status) report_status postgres "127.0.0.1:$POSTGRES_PORT" healthy ;;
  *) die "usage: $0 {install|start|stop|status}" ;;
esac
