#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod auth;
mod builder;
mod database;
mod http;
mod kv;
mod provider;

pub use builder::{
    DEFAULT_APPROLE_MOUNT, DEFAULT_LEASE_OVERLAP, DEFAULT_MAX_RETRIES, DEFAULT_RENEW_FRACTION,
    DEFAULT_RENEW_JITTER, DEFAULT_TIMEOUT, VaultProviderBuilder,
};
pub use database::{DEFAULT_DATABASE_MOUNT, DEFAULT_ENGINE, DatabaseCredentials, DatabaseLease};
pub use kv::{CONTENT_TYPE_JSON, DEFAULT_KV_MOUNT, KvVersion, split_name};
pub use provider::VaultProvider;

/// The provider name in errors, logs and metrics: `"vault"`.
pub const PROVIDER: &str = "vault";

/// The environment variables [`VaultProviderBuilder::from_env`] reads.
pub mod env {
    /// The Vault address, e.g. `https://vault.internal:8200`.
    pub const VAULT_ADDR: &str = "VAULT_ADDR";
    /// A Vault Agent's address; wins over `VAULT_ADDR`.
    pub const VAULT_AGENT_ADDR: &str = "VAULT_AGENT_ADDR";
    /// The token (token auth).
    pub const VAULT_TOKEN: &str = "VAULT_TOKEN";
    /// The namespace, sent as `X-Vault-Namespace`.
    pub const VAULT_NAMESPACE: &str = "VAULT_NAMESPACE";
    /// A PEM file of the CA certificates to trust (only these).
    pub const VAULT_CACERT: &str = "VAULT_CACERT";
    /// A folder of PEM CA certificates to trust (only these).
    pub const VAULT_CAPATH: &str = "VAULT_CAPATH";
    /// A PEM client certificate for mutual TLS.
    pub const VAULT_CLIENT_CERT: &str = "VAULT_CLIENT_CERT";
    /// The PEM key of the client certificate.
    pub const VAULT_CLIENT_KEY: &str = "VAULT_CLIENT_KEY";
    /// `true` turns TLS verification off.
    pub const VAULT_SKIP_VERIFY: &str = "VAULT_SKIP_VERIFY";
    /// The limit on one call: `30` or `30s`.
    pub const VAULT_CLIENT_TIMEOUT: &str = "VAULT_CLIENT_TIMEOUT";
    /// Retries of a failed idempotent call.
    pub const VAULT_MAX_RETRIES: &str = "VAULT_MAX_RETRIES";
    /// The AppRole role id.
    pub const VAULT_ROLE_ID: &str = "VAULT_ROLE_ID";
    /// The AppRole secret id.
    pub const VAULT_SECRET_ID: &str = "VAULT_SECRET_ID";
    /// A file holding the AppRole secret id.
    pub const SECRET_ID_FILE: &str = "SECRETS_VAULT_SECRET_ID_FILE";
    /// `token` or `approle`.
    pub const AUTH: &str = "SECRETS_VAULT_AUTH";
    /// The AppRole mount (default `approle`).
    pub const APPROLE_MOUNT: &str = "SECRETS_VAULT_APPROLE_MOUNT";
    /// The KV mount of plain names (default `secret`).
    pub const KV_MOUNT: &str = "SECRETS_VAULT_KV_MOUNT";
    /// `1`, `2` or `auto` (default `2`).
    pub const KV_VERSION: &str = "SECRETS_VAULT_KV_VERSION";
    /// The database engine role; setting it turns dynamic credentials on.
    pub const DB_ROLE: &str = "SECRETS_VAULT_DB_ROLE";
    /// The secret name that returns the dynamic credentials.
    pub const DB_SECRET: &str = "SECRETS_VAULT_DB_SECRET";
    /// The database host.
    pub const DB_HOST: &str = "SECRETS_VAULT_DB_HOST";
    /// The database port.
    pub const DB_PORT: &str = "SECRETS_VAULT_DB_PORT";
    /// The database name.
    pub const DB_NAME: &str = "SECRETS_VAULT_DB_NAME";
    /// The database engine (default `postgres`).
    pub const DB_ENGINE: &str = "SECRETS_VAULT_DB_ENGINE";
    /// The database engine's mount (default `database`).
    pub const DB_MOUNT: &str = "SECRETS_VAULT_DB_MOUNT";
    /// The role's max TTL, when the token may not read the role.
    pub const DB_MAX_TTL: &str = "SECRETS_VAULT_DB_MAX_TTL";
    /// How long the old database user lives after its successor (default `10m`).
    pub const LEASE_OVERLAP: &str = "SECRETS_VAULT_LEASE_OVERLAP";
}
