#!/usr/bin/env bash
# Runs the cgi-chat example on Vault (OpenBao) dynamic database credentials: starts OpenBao and
# PostgreSQL, configures the database secrets engine with a `cgi-chat` role, and runs the
# example, which gets a fresh PostgreSQL user and revokes it on exit. Stops only the servers
# it started.
#   scripts/vault-cgi-chat.sh          dynamic credentials
#   scripts/vault-cgi-chat.sh kv       the static bundle at secret/cgi-chat/database
set -euo pipefail
cd "$(dirname "$0")/.."

started=()
for s in openbao postgres; do
  if ! "scripts/servers/$s.sh" status >/dev/null 2>&1; then
    started+=("$s")
  fi
done
if ((${#started[@]})); then
  scripts/servers.sh start "${started[@]}"
  trap 'scripts/servers.sh stop "${started[@]}"' EXIT
fi
eval "$(scripts/servers.sh env)"
export VAULT_ADDR=$SECRETS_TEST_VAULT_ADDR VAULT_TOKEN=$SECRETS_TEST_VAULT_TOKEN

bao() { # METHOD PATH [JSON]
  curl -fsS -X "$1" -H "X-Vault-Token: $VAULT_TOKEN" "$VAULT_ADDR/v1/$2" ${3:+-d "$3"} >/dev/null
}
if ! curl -fsS -H "X-Vault-Token: $VAULT_TOKEN" "$VAULT_ADDR/v1/sys/mounts" | grep -q '"database/"'; then
  bao POST sys/mounts/database '{"type":"database"}'
fi
bao POST database/config/cgi-chat-postgres '{
  "plugin_name": "postgresql-database-plugin",
  "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:55432/postgres?sslmode=disable",
  "username": "postgres", "password": "postgres", "allowed_roles": ["cgi-chat"]}'
bao POST database/roles/cgi-chat '{
  "db_name": "cgi-chat-postgres", "default_ttl": "5m", "max_ttl": "1h",
  "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '\''{{password}}'\'' VALID UNTIL '\''{{expiration}}'\'';"]}'
bao POST secret/data/cgi-chat/database '{"data": {"engine": "postgres", "host": "127.0.0.1",
  "port": 55432, "username": "cgi_chat_kv", "password": "kv-password", "dbname": "postgres"}}'

export SECRETS_PROVIDER=vault
if [[ ${1:-dynamic} != kv ]]; then
  export SECRETS_VAULT_DB_ROLE=cgi-chat SECRETS_VAULT_DB_SECRET=cgi-chat/database \
    SECRETS_VAULT_DB_HOST=127.0.0.1 SECRETS_VAULT_DB_PORT=55432 SECRETS_VAULT_DB_NAME=postgres
fi
cargo run -q -p secrets-examples --features vault --example cgi-chat
