#!/usr/bin/env bash
# The project's test command: formatting, lints, unit and integration tests
# against local servers, doc tests, dependency policy.
#
# Usage: scripts/test.sh [NEXTEST_ARGS...]
#   SKIP_SERVERS=1   use servers that are already running (SECRETS_TEST_*
#                    variables already set are kept)
#   SECRETS_CACHE_DIR  cache for tools, venvs and server data (default .cache)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=SCRIPTDIR/lib.sh
source scripts/lib.sh

T0=$SECONDS
step() { printf '\n==> %s\n' "$*"; }

# Servers this run started; stopped again on any exit.
STARTED=()
on_exit() {
  local rc=$?
  trap - EXIT
  if ((${#STARTED[@]})); then
    step "stopping servers: ${STARTED[*]}"
    scripts/servers.sh stop "${STARTED[@]}" || true
  fi
  if ((rc == 0)); then
    step "all checks passed; total $((SECONDS - T0)) s"
  else
    step "FAILED (exit $rc); total $((SECONDS - T0)) s"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "tools: cargo-deny, cargo-nextest (cached in $CACHE/tools)"
export PATH="$CACHE/tools/bin:$PATH"
if ! cargo deny --version >/dev/null 2>&1; then
  cargo install --locked cargo-deny --version '^0.20' --root "$CACHE/tools"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest --version '^0.9' --root "$CACHE/tools"
fi
cargo --version
cargo deny --version
cargo nextest --version | sed -n 1p

step "cargo fmt --check"
cargo fmt --all -- --check

if [[ ${SKIP_SERVERS:-0} == 1 ]]; then
  step "servers: skipped (SKIP_SERVERS=1)"
else
  step "servers: start"
  for name in localstack drongo openbao postgres; do
    if ! "scripts/servers/$name.sh" status >/dev/null 2>&1; then
      STARTED+=("$name")
    fi
  done
  if ((${#STARTED[@]})); then
    scripts/servers.sh start "${STARTED[@]}"
  fi
  scripts/servers.sh status
fi
while IFS= read -r line; do
  var=${line#export }
  var=${var%%=*}
  if [[ ${SKIP_SERVERS:-0} == 1 && -n ${!var:-} ]]; then
    continue
  fi
  eval "$line"
done < <(scripts/servers.sh env)
env | grep '^SECRETS_TEST_' | sort

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo nextest run"
cargo nextest run --workspace --all-features --no-fail-fast "$@"

step "cargo test --doc"
cargo test --workspace --all-features --doc

step "cargo deny check bans licenses sources"
cargo deny check bans licenses sources
