# shellcheck shell=bash
# Shared helpers for the server scripts. Source it; do not run it.
#
# Layout under $CACHE (default: <repo>/.cache, override with SECRETS_CACHE_DIR):
#   <name>/          venvs and data per server
#   run/<name>.pid   "PID STARTTIME" of each running server
#   logs/<name>.log  server output
#   locks/           flock files

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SECRETS_CACHE_DIR:-$ROOT/.cache}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
RUN_DIR=$CACHE/run
LOG_DIR=$CACHE/logs
LOCK_DIR=$CACHE/locks
mkdir -p "$RUN_DIR" "$LOG_DIR" "$LOCK_DIR"

# Fixed ports; `scripts/servers.sh env` publishes them to the tests.
# shellcheck disable=SC2034
{
  LOCALSTACK_PORT=4566
  DRONGO_PORT=8085
  OPENBAO_PORT=8200
  POSTGRES_PORT=55432
}

# Seconds between TERM (or the given signal) and KILL when stopping.
STOP_TIMEOUT=${STOP_TIMEOUT:-20}

log() { printf '[%s] %s\n' "${SERVER:-servers}" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Prints a python >= 3.12 interpreter: pyenv 3.13.0 first, then any pyenv
# 3.12+, then python3.13/python3.12/python3 on PATH (each actually run:
# pyenv shims exist for versions that are not active).
find_python() {
  local pyenv=${PYENV_ROOT:-/root/.pyenv} c
  local -a cands=("$pyenv/versions/3.13.0/bin/python3.13")
  if [[ -d $pyenv/versions ]]; then
    while IFS= read -r c; do
      cands+=("$c/bin/python3")
    done < <(find "$pyenv/versions" -mindepth 1 -maxdepth 1 -name '3.1[2-9]*' | sort -rV)
  fi
  cands+=(python3.13 python3.12 python3)
  for c in "${cands[@]}"; do
    if "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$c"
      return 0
    fi
  done
  die "no python >= 3.12 found (tried: ${cands[*]})"
}

# ensure_venv DIR STAMP PIP_ARGS...
# Builds a venv at DIR with `pip install PIP_ARGS` unless DIR/.stamp equals
# STAMP. The stamp is written last, so an interrupted install is redone.
ensure_venv() {
  local dir=$1 stamp=$2
  shift 2
  local lock
  lock="$LOCK_DIR/$(basename "$(dirname "$dir")")-$(basename "$dir").lock"
  (
    flock -w 900 8 || die "timed out waiting for $lock"
    if [[ -f $dir/.stamp && "$(<"$dir/.stamp")" == "$stamp" ]] &&
      "$dir/bin/python" -c '' >/dev/null 2>&1; then
      exit 0
    fi
    local py
    py=$(find_python)
    log "creating venv $dir ($("$py" -V 2>&1))"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    "$py" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    printf '%s\n' "$stamp" >"$dir/.stamp"
  ) 8>"$lock"
}

# Holds the per-server lock on fd 9 until the calling script exits.
# Children started with `spawn` do not inherit it.
take_server_lock() {
  exec 9>"$LOCK_DIR/$1.lock"
  flock -w 900 9 || die "timed out waiting for $LOCK_DIR/$1.lock"
}

# Start time of PID in clock ticks since boot (field 22 of /proc/PID/stat).
proc_starttime() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  printf '%s\n' "${20}"
}

# True if PID runs and is not a zombie (PID 1 here may not reap orphans).
proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

pid_file() { printf '%s/%s.pid\n' "$RUN_DIR" "$1"; }

# record_pid NAME PID: remembers PID and its start time (guards PID reuse).
record_pid() {
  local st
  st=$(proc_starttime "$2") || die "process $2 vanished before it was recorded"
  printf '%s %s\n' "$2" "$st" >"$(pid_file "$1").tmp"
  mv -f "$(pid_file "$1").tmp" "$(pid_file "$1")"
}

# Prints the recorded PID of NAME if that very process still runs.
running_pid() {
  local f pid st
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  read -r pid st <"$f" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  proc_alive "$pid" || return 1
  [[ "$(proc_starttime "$pid")" == "$st" ]] || return 1
  printf '%s\n' "$pid"
}

# spawn NAME LOGFILE CMD...: runs CMD in its own session, detached from the
# caller's stdio and lock fds, and records its PID.
spawn() {
  local name=$1 logfile=$2
  shift 2
  : >"$logfile"
  setsid "$@" </dev/null >>"$logfile" 2>&1 8>&- 9>&- &
  local pid=$!
  record_pid "$name" "$pid"
  log "started pid $pid (log: $logfile)"
}

# stop_recorded NAME [SIGNAL]: signals the recorded process (its whole
# process group when it leads one), waits STOP_TIMEOUT s, then sends KILL.
stop_recorded() {
  local name=$1 sig=${2:-TERM} pid target i
  if ! pid=$(running_pid "$name"); then
    rm -f "$(pid_file "$name")"
    log "not running"
    return 0
  fi
  target=$pid
  if [[ "$(ps -o pgid= -p "$pid" | tr -d ' ')" == "$pid" ]]; then
    target=-$pid
  fi
  log "stopping pid $pid (SIG$sig)"
  kill "-$sig" -- "$target" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    proc_alive "$pid" || break
    sleep 0.1
  done
  if proc_alive "$pid"; then
    log "pid $pid still alive after ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL -- "$target" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      proc_alive "$pid" || break
      sleep 0.1
    done
  fi
  proc_alive "$pid" && die "pid $pid survived SIGKILL"
  rm -f "$(pid_file "$name")"
  log "stopped"
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# wait_ready NAME TIMEOUT LOGFILE CHECK...: polls CHECK every 0.2 s until it
# succeeds. Returns 1 (after printing the log tail) on timeout, when the
# process dies, or when CHECK exits 2 (fatal).
wait_ready() {
  local name=$1 timeout=$2 logfile=$3 rc
  shift 3
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    rc=0
    "$@" || rc=$?
    if ((rc == 0)); then
      return 0
    elif ((rc == 2)); then
      show_log "$logfile" "readiness check failed"
      return 1
    fi
    if ! running_pid "$name" >/dev/null; then
      show_log "$logfile" "process exited during startup"
      return 1
    fi
    sleep 0.2
  done
  show_log "$logfile" "not ready after ${timeout}s"
  return 1
}

show_log() {
  log "error: $2; last lines of $1:"
  tail -n 40 "$1" >&2 || true
}

# Microseconds since the epoch (locale-proof).
now_us() { printf '%s\n' "${EPOCHREALTIME//[!0-9]/}"; }

# Seconds since a now_us value, one decimal.
since() {
  local d=$(($(now_us) - $1))
  printf '%d.%ds\n' $((d / 1000000)) $((d % 1000000 / 100000))
}

# start_simple NAME PORT TIMEOUT CHECK -- CMD...
# Leaves a healthy recorded server alone; otherwise stops any stale recorded
# one, refuses a port held by someone else, spawns CMD and waits for CHECK.
start_simple() {
  local name=$1 port=$2 timeout=$3 check=$4
  shift 5
  local logfile=$LOG_DIR/$name.log t0
  if running_pid "$name" >/dev/null; then
    if "$check" >/dev/null 2>&1; then
      log "already running"
      return 0
    fi
    stop_recorded "$name"
  fi
  rm -f "$(pid_file "$name")"
  if port_in_use "$port"; then
    die "127.0.0.1:$port is taken by a process these scripts did not start"
  fi
  t0=$(now_us)
  spawn "$name" "$logfile" "$@"
  if ! wait_ready "$name" "$timeout" "$logfile" "$check"; then
    stop_recorded "$name"
    exit 1
  fi
  log "ready in $(since "$t0")"
}

# report_status NAME ENDPOINT CHECK...: one line; returns 0 when running and
# healthy, 1 when running but unhealthy, 3 when stopped.
report_status() {
  local name=$1 endpoint=$2 pid
  shift 2
  if pid=$(running_pid "$name"); then
    if "$@" >/dev/null 2>&1; then
      printf '%-10s running    pid %-8s %s\n' "$name" "$pid" "$endpoint"
      return 0
    fi
    printf '%-10s unhealthy  pid %-8s %s\n' "$name" "$pid" "$endpoint"
    return 1
  fi
  printf '%-10s stopped\n' "$name"
  return 3
}
