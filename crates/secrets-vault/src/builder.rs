//! The builder: infallible `with_*` setters, `from_env`, one fallible async `build`.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrets_core::secrecy::SecretString;
use secrets_core::{Error, ErrorKind, Result, check_name};
use tokio::time::Instant;

use crate::PROVIDER;
use crate::auth::{AuthMethod, TokenCell, TokenState, approle_login, lookup_token, token_task};
use crate::database::{DatabaseCredentials, DbBinding};
use crate::env;
use crate::http::Http;
use crate::kv::{DEFAULT_KV_MOUNT, KvVersion};
use crate::provider::{Core, Settings, VaultProvider};

/// The share of a TTL after which a token or lease is renewed (two thirds).
pub const DEFAULT_RENEW_FRACTION: f64 = 2.0 / 3.0;
/// The random spread of the renewal time, as a fraction of it (±10 %).
pub const DEFAULT_RENEW_JITTER: f64 = 0.1;
/// How long the old database user lives on after its successor is issued (10 minutes):
/// twice the facade's default cache TTL, so the cache has moved on before it is revoked.
pub const DEFAULT_LEASE_OVERLAP: Duration = Duration::from_secs(600);
/// The limit on one HTTP call (Vault's own clients use `VAULT_CLIENT_TIMEOUT`, 60 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries of a failed idempotent call (Vault's own clients: `VAULT_MAX_RETRIES`, 2).
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// The AppRole mount unless configured otherwise.
pub const DEFAULT_APPROLE_MOUNT: &str = "approle";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthChoice {
    Token,
    AppRole,
}

/// Builds a [`VaultProvider`]. Setters never fail; [`build`](Self::build) checks everything,
/// logs in (AppRole) or looks the token up, and starts the renewal task.
///
/// ```no_run
/// # async fn demo() -> secrets_core::Result<()> {
/// use std::time::Duration;
/// use secrets_vault::{DatabaseCredentials, KvVersion, VaultProvider};
///
/// let vault = VaultProvider::builder()
///     .with_address("https://vault.internal:8200")
///     .with_approle("7f0c…role-id", "c2a1…secret-id")
///     .with_namespace("team-chat")
///     .with_ca_cert_file("/etc/vault/ca.pem")
///     .with_kv_mount("kv", KvVersion::V2)
///     .with_database_credentials(
///         "cgi-chat/database",
///         DatabaseCredentials::new("cgi-chat", "db.internal").with_port(5432).with_dbname("chat"),
///     )
///     .with_lease_overlap(Duration::from_secs(15 * 60))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct VaultProviderBuilder {
    address: Option<String>,
    token: Option<SecretString>,
    approle: Option<(String, Option<SecretString>)>,
    approle_mount: Option<String>,
    auth_choice: Option<AuthChoice>,
    namespace: Option<String>,
    ca_files: Vec<PathBuf>,
    ca_pem: Vec<Vec<u8>>,
    ca_dir: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    skip_verify: bool,
    timeout: Option<Duration>,
    max_retries: Option<u32>,
    kv_mount: Option<(String, KvVersion)>,
    mounts: Vec<(String, KvVersion)>,
    databases: Vec<(String, DatabaseCredentials)>,
    renew_fraction: Option<f64>,
    renew_jitter: Option<f64>,
    lease_overlap: Option<Duration>,
    token_renewal: Option<bool>,
    env_errors: Vec<String>,
}

impl fmt::Debug for VaultProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultProviderBuilder")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("approle", &self.approle.as_ref().map(|_| "[REDACTED]"))
            .field("approle_mount", &self.approle_mount)
            .field("namespace", &self.namespace)
            .field("ca_files", &self.ca_files)
            .field("ca_dir", &self.ca_dir)
            .field("client_cert", &self.client_cert)
            .field("skip_verify", &self.skip_verify)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("kv_mount", &self.kv_mount)
            .field("mounts", &self.mounts)
            .field("databases", &self.databases)
            .field("lease_overlap", &self.lease_overlap)
            .finish_non_exhaustive()
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// `30`, `30s`, `1m30s`, `500ms`.
fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    t.parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .or_else(|| humantime::parse_duration(t).ok())
}

impl VaultProviderBuilder {
    /// A builder filled from the environment. Nothing is checked until
    /// [`build`](Self::build); a malformed variable is reported there.
    ///
    /// Vault's own variables (as its CLI and Go client read them):
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `VAULT_ADDR` | the address, e.g. `https://vault.internal:8200` (required) |
    /// | `VAULT_AGENT_ADDR` | a Vault Agent's address; wins over `VAULT_ADDR` |
    /// | `VAULT_TOKEN` | token auth |
    /// | `VAULT_NAMESPACE` | the namespace (Vault Enterprise / OpenBao namespaces) |
    /// | `VAULT_CACERT` | a PEM file of CA certificates; only these are trusted |
    /// | `VAULT_CAPATH` | a folder of PEM CA certificates; only these are trusted |
    /// | `VAULT_CLIENT_CERT`, `VAULT_CLIENT_KEY` | a client certificate and key (PEM) for mutual TLS |
    /// | `VAULT_SKIP_VERIFY` | `true` turns certificate verification off (never in production) |
    /// | `VAULT_CLIENT_TIMEOUT` | the limit on one call, `30` or `30s` (default 30 s) |
    /// | `VAULT_MAX_RETRIES` | retries of a failed idempotent call (default 2) |
    /// | `VAULT_ROLE_ID`, `VAULT_SECRET_ID` | AppRole auth |
    ///
    /// This crate's own variables:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `SECRETS_VAULT_AUTH` | `token` or `approle`; default: AppRole when `VAULT_ROLE_ID` is set, else the token |
    /// | `SECRETS_VAULT_SECRET_ID_FILE` | a file holding the AppRole secret id (instead of `VAULT_SECRET_ID`) |
    /// | `SECRETS_VAULT_APPROLE_MOUNT` | the AppRole mount (default `approle`) |
    /// | `SECRETS_VAULT_KV_MOUNT` | the KV mount of plain names (default `secret`) |
    /// | `SECRETS_VAULT_KV_VERSION` | `1`, `2` or `auto` (default `2`) |
    /// | `SECRETS_VAULT_DB_ROLE` | turns dynamic database credentials on: the role of the database engine |
    /// | `SECRETS_VAULT_DB_SECRET` | the secret name that returns them, e.g. `cgi-chat/database` (required with the role) |
    /// | `SECRETS_VAULT_DB_HOST` | the database host (required with the role) |
    /// | `SECRETS_VAULT_DB_PORT`, `SECRETS_VAULT_DB_NAME`, `SECRETS_VAULT_DB_ENGINE` | port, database name, engine (default `postgres`) |
    /// | `SECRETS_VAULT_DB_MOUNT` | the database engine's mount (default `database`) |
    /// | `SECRETS_VAULT_DB_MAX_TTL` | the role's max TTL when the token may not read the role |
    /// | `SECRETS_VAULT_LEASE_OVERLAP` | how long the old user lives after its successor (default `10m`) |
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read through `lookup`.
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut b = VaultProviderBuilder::default();
        if let Some(addr) = var(env::VAULT_AGENT_ADDR).or_else(|| var(env::VAULT_ADDR)) {
            b.address = Some(addr);
        }
        if let Some(token) = var(env::VAULT_TOKEN) {
            b.token = Some(SecretString::from(token.trim()));
        }
        b.namespace = var(env::VAULT_NAMESPACE);
        if let Some(ca) = var(env::VAULT_CACERT) {
            b.ca_files.push(PathBuf::from(ca));
        }
        b.ca_dir = var(env::VAULT_CAPATH).map(PathBuf::from);
        match (var(env::VAULT_CLIENT_CERT), var(env::VAULT_CLIENT_KEY)) {
            (Some(c), Some(k)) => b.client_cert = Some((c.into(), k.into())),
            (None, None) => {}
            _ => b.env_errors.push(format!(
                "{} and {} must be set together",
                env::VAULT_CLIENT_CERT,
                env::VAULT_CLIENT_KEY
            )),
        }
        if let Some(v) = var(env::VAULT_SKIP_VERIFY) {
            match parse_bool(&v) {
                Some(skip) => b.skip_verify = skip,
                None => b
                    .env_errors
                    .push(format!("{}={v:?} is not a boolean", env::VAULT_SKIP_VERIFY)),
            }
        }
        if let Some(v) = var(env::VAULT_CLIENT_TIMEOUT) {
            match parse_duration(&v) {
                Some(d) => b.timeout = Some(d),
                None => b.env_errors.push(format!(
                    "{}={v:?} is not a duration",
                    env::VAULT_CLIENT_TIMEOUT
                )),
            }
        }
        if let Some(v) = var(env::VAULT_MAX_RETRIES) {
            match v.trim().parse::<i64>() {
                // Vault's clients take -1 as "no retries".
                Ok(n) => b.max_retries = Some(u32::try_from(n.max(0)).unwrap_or(u32::MAX)),
                Err(_) => b
                    .env_errors
                    .push(format!("{}={v:?} is not a number", env::VAULT_MAX_RETRIES)),
            }
        }
        if let Some(role_id) = var(env::VAULT_ROLE_ID) {
            let secret_id = match (var(env::VAULT_SECRET_ID), var(env::SECRET_ID_FILE)) {
                (Some(s), _) => Some(SecretString::from(s.trim())),
                (None, Some(path)) => match std::fs::read_to_string(&path) {
                    Ok(s) => Some(SecretString::from(s.trim())),
                    Err(e) => {
                        b.env_errors.push(format!(
                            "{}={path:?} cannot be read: {e}",
                            env::SECRET_ID_FILE
                        ));
                        None
                    }
                },
                (None, None) => None,
            };
            b.approle = Some((role_id.trim().to_string(), secret_id));
        }
        if let Some(v) = var(env::AUTH) {
            match v.trim().to_ascii_lowercase().as_str() {
                "token" => b.auth_choice = Some(AuthChoice::Token),
                "approle" => b.auth_choice = Some(AuthChoice::AppRole),
                _ => b.env_errors.push(format!(
                    "{}={v:?}: expected `token` or `approle`",
                    env::AUTH
                )),
            }
        }
        b.approle_mount = var(env::APPROLE_MOUNT);
        let kv_version = match var(env::KV_VERSION) {
            None => None,
            Some(v) => match KvVersion::parse(&v) {
                Some(k) => Some(k),
                None => {
                    b.env_errors
                        .push(format!("{}={v:?}: expected 1, 2 or auto", env::KV_VERSION));
                    None
                }
            },
        };
        match (var(env::KV_MOUNT), kv_version) {
            (Some(m), v) => b.kv_mount = Some((m, v.unwrap_or_default())),
            (None, Some(v)) => b.kv_mount = Some((DEFAULT_KV_MOUNT.to_string(), v)),
            (None, None) => {}
        }
        if let Some(v) = var(env::LEASE_OVERLAP) {
            match parse_duration(&v) {
                Some(d) => b.lease_overlap = Some(d),
                None => b
                    .env_errors
                    .push(format!("{}={v:?} is not a duration", env::LEASE_OVERLAP)),
            }
        }
        if let Some(role) = var(env::DB_ROLE) {
            let name = var(env::DB_SECRET);
            let host = var(env::DB_HOST);
            if name.is_none() {
                b.env_errors.push(format!(
                    "{} is set but {} is not: name the secret that returns the credentials \
                     (e.g. cgi-chat/database)",
                    env::DB_ROLE,
                    env::DB_SECRET
                ));
            }
            if host.is_none() {
                b.env_errors.push(format!(
                    "{} is set but {} is not: Vault does not say where the database is",
                    env::DB_ROLE,
                    env::DB_HOST
                ));
            }
            let mut creds = DatabaseCredentials::new(role.trim(), host.unwrap_or_default());
            if let Some(m) = var(env::DB_MOUNT) {
                creds = creds.with_mount(m);
            }
            if let Some(p) = var(env::DB_PORT) {
                match p.trim().parse::<u16>() {
                    Ok(p) if p > 0 => creds = creds.with_port(p),
                    _ => b
                        .env_errors
                        .push(format!("{}={p:?} is not a port", env::DB_PORT)),
                }
            }
            if let Some(n) = var(env::DB_NAME) {
                creds = creds.with_dbname(n);
            }
            if let Some(e) = var(env::DB_ENGINE) {
                creds = creds.with_engine(e);
            }
            if let Some(v) = var(env::DB_MAX_TTL) {
                match parse_duration(&v) {
                    Some(d) => creds = creds.with_max_ttl(d),
                    None => b
                        .env_errors
                        .push(format!("{}={v:?} is not a duration", env::DB_MAX_TTL)),
                }
            }
            if let Some(name) = name {
                b.databases.push((name, creds));
            }
        }
        b
    }

    /// The Vault address, e.g. `https://vault.internal:8200` (`VAULT_ADDR`).
    #[must_use]
    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Authenticates with this token (`VAULT_TOKEN`). A renewable token is renewed in the
    /// background before it expires.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(SecretString::from(token.into()));
        self.auth_choice = Some(AuthChoice::Token);
        self
    }

    /// Authenticates with AppRole (`auth/approle/login`): the role id and secret id
    /// (`VAULT_ROLE_ID`, `VAULT_SECRET_ID`). The token is renewed in the background, and a
    /// new login is made when it can no longer be renewed or is rejected.
    #[must_use]
    pub fn with_approle(
        mut self,
        role_id: impl Into<String>,
        secret_id: impl Into<String>,
    ) -> Self {
        self.approle = Some((role_id.into(), Some(SecretString::from(secret_id.into()))));
        self.auth_choice = Some(AuthChoice::AppRole);
        self
    }

    /// AppRole with a role id only, for roles with `bind_secret_id=false`.
    #[must_use]
    pub fn with_approle_role_id_only(mut self, role_id: impl Into<String>) -> Self {
        self.approle = Some((role_id.into(), None));
        self.auth_choice = Some(AuthChoice::AppRole);
        self
    }

    /// The mount of the AppRole auth method (default `approle`).
    #[must_use]
    pub fn with_approle_mount(mut self, mount: impl Into<String>) -> Self {
        self.approle_mount = Some(mount.into());
        self
    }

    /// The namespace sent as `X-Vault-Namespace` with every call (`VAULT_NAMESPACE`).
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Trusts only the CA certificates in this PEM file (`VAULT_CACERT`). May be called
    /// several times.
    #[must_use]
    pub fn with_ca_cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Trusts only these PEM CA certificates (with any other given ones).
    #[must_use]
    pub fn with_ca_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem.push(pem.into());
        self
    }

    /// Trusts only the PEM CA certificates in this folder (`VAULT_CAPATH`).
    #[must_use]
    pub fn with_ca_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.ca_dir = Some(dir.into());
        self
    }

    /// A client certificate and key, both PEM files, for mutual TLS (`VAULT_CLIENT_CERT`,
    /// `VAULT_CLIENT_KEY`; also what the `cert` auth method checks).
    #[must_use]
    pub fn with_client_cert_files(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Turns certificate verification off (`VAULT_SKIP_VERIFY`). For local experiments
    /// only: anyone on the path can then read every secret.
    #[must_use]
    pub fn with_insecure_skip_verify(mut self, skip: bool) -> Self {
        self.skip_verify = skip;
        self
    }

    /// The limit on one HTTP call (default 30 s; `VAULT_CLIENT_TIMEOUT`).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Retries of a failed idempotent call: connection errors, 412, 429 and 5xx (default 2;
    /// `VAULT_MAX_RETRIES`).
    #[must_use]
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// The KV mount that plain names are read from, and its version (default `secret`, v2).
    #[must_use]
    pub fn with_kv_mount(mut self, mount: impl Into<String>, version: KvVersion) -> Self {
        self.kv_mount = Some((mount.into(), version));
        self
    }

    /// Declares the KV version of another mount, used by `mount:path` names (undeclared
    /// mounts are detected once).
    #[must_use]
    pub fn with_mount_kv_version(mut self, mount: impl Into<String>, version: KvVersion) -> Self {
        self.mounts.push((mount.into(), version));
        self
    }

    /// Binds the secret `name` to dynamic database credentials: reading `name` returns the
    /// JSON `DatabaseConfig` reads (`engine`, `host`, `port`, `dbname`, `username`,
    /// `password`), with the lease id as the version id. May be called for several names.
    #[must_use]
    pub fn with_database_credentials(
        mut self,
        name: impl Into<String>,
        credentials: DatabaseCredentials,
    ) -> Self {
        self.databases.push((name.into(), credentials));
        self
    }

    /// The share of a TTL after which a token or lease is renewed (default 2/3).
    #[must_use]
    pub fn with_renew_fraction(mut self, fraction: f64) -> Self {
        self.renew_fraction = Some(fraction);
        self
    }

    /// The random spread of renewal times, as a fraction (default 0.1; 0 turns it off).
    #[must_use]
    pub fn with_renew_jitter(mut self, jitter: f64) -> Self {
        self.renew_jitter = Some(jitter);
        self
    }

    /// How long the previous database user lives after its successor is issued, before it
    /// is revoked (default 10 minutes; at most half a lease's max TTL is used). Keep the
    /// facade's cache TTL shorter than this, so that the cache moves to the new user before
    /// the old one is revoked.
    #[must_use]
    pub fn with_lease_overlap(mut self, overlap: Duration) -> Self {
        self.lease_overlap = Some(overlap);
        self
    }

    /// Whether the token is renewed in the background (default on).
    #[must_use]
    pub fn with_token_renewal(mut self, on: bool) -> Self {
        self.token_renewal = Some(on);
        self
    }

    fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidConfig, PROVIDER).with_message(message.into())
    }

    fn http_client(&self, timeout: Duration) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("secrets-vault/", env!("CARGO_PKG_VERSION")));
        let mut roots = Vec::new();
        let mut add_pem = |pem: &[u8], from: &str| -> Result<()> {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                Self::invalid(format!("cannot read CA certificates from {from}: {e}"))
            })?;
            if certs.is_empty() {
                return Err(Self::invalid(format!("no PEM certificate in {from}")));
            }
            roots.extend(certs);
            Ok(())
        };
        for path in &self.ca_files {
            let pem = std::fs::read(path).map_err(|e| {
                Self::invalid(format!("cannot read the CA file {}: {e}", path.display()))
            })?;
            add_pem(&pem, &path.display().to_string())?;
        }
        for pem in &self.ca_pem {
            add_pem(pem, "the given PEM")?;
        }
        if let Some(dir) = &self.ca_dir {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                Self::invalid(format!("cannot read the CA folder {}: {e}", dir.display()))
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_file()
                    && let Ok(pem) = std::fs::read(&path)
                    && let Ok(certs) = reqwest::Certificate::from_pem_bundle(&pem)
                {
                    roots.extend(certs);
                }
            }
        }
        if !roots.is_empty() {
            builder = builder.tls_certs_only(roots);
        }
        if let Some((cert, key)) = &self.client_cert {
            let mut pem = zeroize::Zeroizing::new(std::fs::read(cert).map_err(|e| {
                Self::invalid(format!(
                    "cannot read the client certificate {}: {e}",
                    cert.display()
                ))
            })?);
            let key_pem = zeroize::Zeroizing::new(std::fs::read(key).map_err(|e| {
                Self::invalid(format!("cannot read the client key {}: {e}", key.display()))
            })?);
            pem.push(b'\n');
            pem.extend_from_slice(&key_pem);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Self::invalid(format!("cannot use the client certificate and key: {e}"))
            })?;
            builder = builder.identity(identity);
        }
        if self.skip_verify {
            tracing::warn!(
                provider = PROVIDER,
                "TLS certificate verification of Vault is OFF (VAULT_SKIP_VERIFY)"
            );
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        builder
            .build()
            .map_err(|e| Self::invalid(format!("cannot build the HTTP client: {e}")))
    }

    /// Checks the settings, builds the client, authenticates (AppRole login, or a lookup of
    /// the token to learn its TTL) and starts the token renewal.
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] for a missing address or credentials, an
    /// unreadable CA file or a malformed variable; with [`ErrorKind::Unauthenticated`] when
    /// the AppRole login is refused; with [`ErrorKind::Unavailable`] when Vault cannot be
    /// reached.
    pub async fn build(self) -> Result<VaultProvider> {
        if !self.env_errors.is_empty() {
            return Err(Self::invalid(self.env_errors.join("; ")));
        }
        let address = self.address.clone().ok_or_else(|| {
            Self::invalid(format!(
                "no Vault address: set {} (e.g. https://vault.internal:8200) or call with_address",
                env::VAULT_ADDR
            ))
        })?;
        let address = address.trim().trim_end_matches('/').to_string();
        match reqwest::Url::parse(&address) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => {
                return Err(Self::invalid(format!(
                    "the Vault address {address:?} is not an http:// or https:// URL"
                )));
            }
        }
        if let Some(ns) = &self.namespace
            && reqwest::header::HeaderValue::from_str(ns).is_err()
        {
            return Err(Self::invalid(format!(
                "the namespace {ns:?} cannot be sent as a header"
            )));
        }
        let fraction = self.renew_fraction.unwrap_or(DEFAULT_RENEW_FRACTION);
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(Self::invalid("the renew fraction must be between 0 and 1"));
        }
        let jitter = self.renew_jitter.unwrap_or(DEFAULT_RENEW_JITTER);
        if !(0.0..=0.5).contains(&jitter) {
            return Err(Self::invalid("the renew jitter must be between 0 and 0.5"));
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(Self::invalid("the timeout must be positive"));
        }
        let choice = self.auth_choice.unwrap_or(if self.approle.is_some() {
            AuthChoice::AppRole
        } else {
            AuthChoice::Token
        });
        let auth = match choice {
            AuthChoice::AppRole => {
                let (role_id, secret_id) = self.approle.clone().ok_or_else(|| {
                    Self::invalid(format!(
                        "AppRole auth needs a role id: set {} (and {})",
                        env::VAULT_ROLE_ID,
                        env::VAULT_SECRET_ID
                    ))
                })?;
                AuthMethod::AppRole {
                    mount: self
                        .approle_mount
                        .clone()
                        .unwrap_or_else(|| DEFAULT_APPROLE_MOUNT.to_string())
                        .trim_matches('/')
                        .to_string(),
                    role_id,
                    secret_id,
                }
            }
            AuthChoice::Token => AuthMethod::Token(self.token.clone().ok_or_else(|| {
                Self::invalid(format!(
                    "no Vault credentials: set {} (token auth) or {} and {} (AppRole)",
                    env::VAULT_TOKEN,
                    env::VAULT_ROLE_ID,
                    env::VAULT_SECRET_ID
                ))
            })?),
        };
        let (kv_mount, kv_version) = self
            .kv_mount
            .clone()
            .unwrap_or_else(|| (DEFAULT_KV_MOUNT.to_string(), KvVersion::V2));
        let kv_mount = kv_mount.trim_matches('/').to_string();
        if kv_mount.is_empty() {
            return Err(Self::invalid("the KV mount is empty"));
        }
        let mut kv_mounts = HashMap::new();
        for (m, v) in &self.mounts {
            kv_mounts.insert(m.trim_matches('/').to_string(), *v);
        }
        kv_mounts.insert(kv_mount.clone(), kv_version);
        let mut databases = HashMap::new();
        for (name, creds) in &self.databases {
            check_name(PROVIDER, name)?;
            creds.check(name)?;
            if databases
                .insert(
                    name.clone(),
                    Arc::new(DbBinding::new(name.clone(), creds.clone())),
                )
                .is_some()
            {
                return Err(Self::invalid(format!(
                    "`{name}` is bound to dynamic credentials twice"
                )));
            }
        }
        let client = self.http_client(timeout)?;
        let http = Http::new(
            client,
            &address,
            self.namespace.clone(),
            self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
        );
        let initial = match &auth {
            AuthMethod::Token(t) => t.clone(),
            AuthMethod::AppRole { .. } => SecretString::from(""),
        };
        let core = Arc::new(Core {
            http,
            auth: auth.clone(),
            token: TokenCell::new(TokenState {
                token: initial.clone(),
                obtained: Instant::now(),
                ttl: Duration::ZERO,
                initial_ttl: Duration::ZERO,
                renewable: false,
                capped: false,
                generation: 0,
            }),
            settings: Settings {
                renew_fraction: fraction,
                renew_jitter: jitter,
                lease_overlap: self.lease_overlap.unwrap_or(DEFAULT_LEASE_OVERLAP),
            },
            address,
            namespace: self.namespace.clone(),
            kv_default_mount: kv_mount,
            kv_mounts: Mutex::new(kv_mounts),
            databases,
            shutdown: tokio::sync::watch::Sender::new(false),
        });
        let state = match &auth {
            AuthMethod::Token(token) => lookup_token(&core, token.clone()).await?,
            AuthMethod::AppRole {
                mount,
                role_id,
                secret_id,
            } => approle_login(&core, mount, role_id, secret_id.as_ref(), 0).await?,
        };
        let expires = !state.ttl.is_zero();
        core.token.set(state);
        if expires && self.token_renewal.unwrap_or(true) {
            let task_core = core.clone();
            let shutdown = core.shutdown.subscribe();
            let span = tracing::debug_span!("secrets_vault.token");
            tokio::spawn(tracing::Instrument::instrument(
                token_task(task_core, shutdown),
                span,
            ));
        }
        tracing::debug!(
            provider = PROVIDER,
            address = %core.address,
            auth = core.auth.name(),
            "Vault provider ready"
        );
        Ok(VaultProvider::from_core(core))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[tokio::test]
    async fn build_checks_config_without_network() {
        let e = VaultProvider::builder().build().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.to_string().contains("VAULT_ADDR"), "{e}");
        let e = VaultProvider::builder()
            .with_address("http://127.0.0.1:8200")
            .build()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("VAULT_TOKEN"), "{e}");
        let e = VaultProvider::builder()
            .with_address("vault:8200")
            .with_token("t")
            .build()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let e = VaultProvider::builder()
            .with_address("http://127.0.0.1:8200")
            .with_token("t")
            .with_renew_fraction(1.5)
            .build()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let e = VaultProvider::builder()
            .with_address("http://127.0.0.1:8200")
            .with_token("t")
            .with_ca_cert_file("/nonexistent/ca.pem")
            .build()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let e = VaultProvider::builder()
            .with_address("http://127.0.0.1:8200")
            .with_token("t")
            .with_database_credentials("db", DatabaseCredentials::new("r", ""))
            .build()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    }

    fn lookup(vars: &[(&str, &str)]) -> VaultProviderBuilder {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        VaultProviderBuilder::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn environment_selects_kv_or_dynamic_credentials() {
        let kv = lookup(&[
            ("VAULT_ADDR", "https://vault:8200"),
            ("VAULT_TOKEN", " hvs.x "),
            ("VAULT_NAMESPACE", "team"),
            ("VAULT_CLIENT_TIMEOUT", "5"),
            ("VAULT_MAX_RETRIES", "-1"),
            ("SECRETS_VAULT_KV_MOUNT", "kv"),
            ("SECRETS_VAULT_KV_VERSION", "1"),
        ]);
        assert!(kv.env_errors.is_empty(), "{:?}", kv.env_errors);
        assert_eq!(kv.address.as_deref(), Some("https://vault:8200"));
        assert_eq!(kv.namespace.as_deref(), Some("team"));
        assert_eq!(kv.timeout, Some(Duration::from_secs(5)));
        assert_eq!(kv.max_retries, Some(0));
        assert_eq!(kv.kv_mount, Some(("kv".to_string(), KvVersion::V1)));
        assert!(kv.databases.is_empty());
        assert!(kv.approle.is_none());

        let agent = lookup(&[
            ("VAULT_ADDR", "https://vault:8200"),
            ("VAULT_AGENT_ADDR", "http://127.0.0.1:8100"),
        ]);
        assert_eq!(agent.address.as_deref(), Some("http://127.0.0.1:8100"));

        let db = lookup(&[
            ("VAULT_ADDR", "https://vault:8200"),
            ("VAULT_ROLE_ID", "r"),
            ("VAULT_SECRET_ID", "s"),
            ("SECRETS_VAULT_APPROLE_MOUNT", "apps"),
            ("SECRETS_VAULT_DB_ROLE", "cgi-chat"),
            ("SECRETS_VAULT_DB_SECRET", "cgi-chat/database"),
            ("SECRETS_VAULT_DB_HOST", "db.internal"),
            ("SECRETS_VAULT_DB_PORT", "6432"),
            ("SECRETS_VAULT_DB_NAME", "chat"),
            ("SECRETS_VAULT_DB_MOUNT", "pg"),
            ("SECRETS_VAULT_DB_MAX_TTL", "24h"),
            ("SECRETS_VAULT_LEASE_OVERLAP", "15m"),
        ]);
        assert!(db.env_errors.is_empty(), "{:?}", db.env_errors);
        assert!(db.approle.is_some());
        assert_eq!(db.approle_mount.as_deref(), Some("apps"));
        assert_eq!(db.lease_overlap, Some(Duration::from_secs(900)));
        let (name, creds) = &db.databases[0];
        assert_eq!(name, "cgi-chat/database");
        assert_eq!(
            creds,
            &DatabaseCredentials::new("cgi-chat", "db.internal")
                .with_port(6432)
                .with_dbname("chat")
                .with_mount("pg")
                .with_max_ttl(Duration::from_secs(24 * 3600))
        );

        let bad = lookup(&[
            ("VAULT_ADDR", "https://vault:8200"),
            ("VAULT_SKIP_VERIFY", "maybe"),
            ("VAULT_CLIENT_CERT", "/c.pem"),
            ("SECRETS_VAULT_DB_ROLE", "cgi-chat"),
            ("SECRETS_VAULT_DB_PORT", "x"),
        ]);
        let all = bad.env_errors.join("\n");
        for needle in [
            "VAULT_SKIP_VERIFY",
            "VAULT_CLIENT_KEY",
            "SECRETS_VAULT_DB_SECRET",
            "SECRETS_VAULT_DB_HOST",
            "SECRETS_VAULT_DB_PORT",
        ] {
            assert!(all.contains(needle), "{needle} in {all}");
        }
    }

    #[tokio::test]
    async fn malformed_environment_fails_build() {
        let e = lookup(&[
            ("VAULT_ADDR", "https://vault:8200"),
            ("VAULT_TOKEN", "t"),
            ("SECRETS_VAULT_AUTH", "ldap"),
        ])
        .build()
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.to_string().contains("SECRETS_VAULT_AUTH"), "{e}");
        let e = VaultProvider::builder()
            .with_address("http://127.0.0.1:8200")
            .with_token("t")
            .with_ca_cert_pem("not a certificate")
            .build()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    }

    #[test]
    fn builder_debug_hides_credentials() {
        let b = VaultProvider::builder()
            .with_token("hvs.canary-token")
            .with_approle("role", "canary-secret-id");
        let dbg = format!("{b:?}");
        assert!(!dbg.contains("canary"), "{dbg}");
    }
}
