//! The provider: the shared core, the `SecretProvider` implementation, shutdown.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use secrets_core::{
    Capabilities, Error, ErrorKind, Result, Secret, SecretProvider, VersionInfo, VersionSelector,
    async_trait,
};
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::PROVIDER;
use crate::auth::{AuthMethod, TokenCell, relogin};
use crate::builder::VaultProviderBuilder;
use crate::database::{DatabaseLease, DbBinding};
use crate::http::{Http, Reply, Req};
use crate::kv::KvVersion;

/// Lease and token timing.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) renew_fraction: f64,
    pub(crate) renew_jitter: f64,
    pub(crate) lease_overlap: Duration,
}

/// Everything the provider and its background tasks share.
pub(crate) struct Core {
    pub(crate) http: Http,
    pub(crate) auth: AuthMethod,
    pub(crate) token: TokenCell,
    pub(crate) settings: Settings,
    pub(crate) address: String,
    pub(crate) namespace: Option<String>,
    pub(crate) kv_default_mount: String,
    pub(crate) kv_mounts: Mutex<HashMap<String, KvVersion>>,
    pub(crate) databases: HashMap<String, Arc<DbBinding>>,
    pub(crate) shutdown: watch::Sender<bool>,
}

impl Core {
    /// Sends a call with the current token. With AppRole, a 403 whose token no longer looks
    /// itself up (expired, revoked) triggers one login and one resend.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: String,
        body: Option<Zeroizing<Vec<u8>>>,
        idempotent: bool,
        what: &str,
    ) -> Result<Reply> {
        let token = self.token.get();
        let reply = self
            .http
            .send(
                Req::write(
                    method.clone(),
                    path.clone(),
                    Some(&token.token),
                    body.clone(),
                    idempotent,
                ),
                what,
            )
            .await?;
        if reply.status.as_u16() != 403 || !matches!(self.auth, AuthMethod::AppRole { .. }) {
            return Ok(reply);
        }
        let probe = self
            .http
            .send(
                Req::get("auth/token/lookup-self".into(), Some(&token.token)),
                "auth/token/lookup-self",
            )
            .await;
        if !matches!(&probe, Ok(r) if r.status.as_u16() == 403) {
            return Ok(reply);
        }
        tracing::info!(
            provider = PROVIDER,
            "the Vault token is no longer valid; logging in again"
        );
        relogin(self, token.generation).await?;
        let token = self.token.get();
        self.http
            .send(
                Req::write(method, path, Some(&token.token), body, idempotent),
                what,
            )
            .await
    }

    pub(crate) async fn call_get(&self, path: String, what: &str) -> Result<Reply> {
        self.call(Method::GET, path, None, true, what).await
    }

    fn closed(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Reads secrets from HashiCorp Vault or OpenBao: KV v1/v2 entries, and dynamic database
/// credentials whose leases it renews, re-issues and revokes.
///
/// Cheap to clone: clones share one HTTP client, one token and the leases. Background tasks
/// (token renewal, one per dynamic-credentials binding) run while any clone lives; call
/// [`shutdown`](Self::shutdown) before exit to revoke the leases (dropping the last clone
/// stops the tasks but leaves the leases to expire at their TTL: `Drop` cannot wait for
/// Vault).
///
/// ```no_run
/// # async fn demo() -> secrets_core::Result<()> {
/// use secrets_core::{SecretProvider, VersionSelector};
/// use secrets_vault::VaultProvider;
///
/// // VAULT_ADDR, VAULT_TOKEN (or VAULT_ROLE_ID/VAULT_SECRET_ID), ...
/// let vault = VaultProvider::from_env().await?;
/// let db = vault.get("cgi-chat/database", &VersionSelector::Latest).await?;
/// println!("version {:?}", db.version_id());
/// vault.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct VaultProvider {
    handle: Arc<Handle>,
}

struct Handle {
    core: Arc<Core>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let core = &self.core;
        if !core.closed() {
            let held: usize = core.databases.values().map(|b| b.held()).sum();
            if held > 0 {
                tracing::warn!(
                    provider = PROVIDER,
                    leases = held,
                    "VaultProvider dropped without shutdown(): its database leases are left \
                     to expire at their TTL"
                );
            }
        }
        core.shutdown.send_replace(true);
    }
}

impl fmt::Debug for VaultProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = &self.handle.core;
        let mut names: Vec<&String> = core.databases.keys().collect();
        names.sort();
        f.debug_struct("VaultProvider")
            .field("address", &core.address)
            .field("namespace", &core.namespace)
            .field("auth", &core.auth)
            .field("kv_mount", &core.kv_default_mount)
            .field("database_credentials", &names)
            .finish_non_exhaustive()
    }
}

impl VaultProvider {
    /// A builder.
    pub fn builder() -> VaultProviderBuilder {
        VaultProviderBuilder::default()
    }

    /// A provider configured from the environment: see [`VaultProviderBuilder::from_env`]
    /// for the variables.
    pub async fn from_env() -> Result<Self> {
        VaultProviderBuilder::from_env().build().await
    }

    pub(crate) fn from_core(core: Arc<Core>) -> Self {
        VaultProvider {
            handle: Arc::new(Handle { core }),
        }
    }

    /// The Vault address.
    pub fn address(&self) -> &str {
        &self.handle.core.address
    }

    /// The namespace sent with every call, when set.
    pub fn namespace(&self) -> Option<&str> {
        self.handle.core.namespace.as_deref()
    }

    /// The KV mount plain names are read from.
    pub fn kv_mount(&self) -> &str {
        &self.handle.core.kv_default_mount
    }

    /// `"token"` or `"approle"`.
    pub fn auth_method(&self) -> &'static str {
        self.handle.core.auth.name()
    }

    /// The names bound to dynamic database credentials.
    pub fn database_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handle.core.databases.keys().cloned().collect();
        names.sort();
        names
    }

    fn binding(&self, name: &str) -> Result<&Arc<DbBinding>> {
        self.handle.core.databases.get(name).ok_or_else(|| {
            Error::new(ErrorKind::NotFound, PROVIDER)
                .with_secret(name)
                .with_message("no dynamic database credentials are bound to this name")
        })
    }

    /// The current dynamic database credentials of `name`, issuing them when none are held.
    /// The same as [`get`](SecretProvider::get) without the JSON.
    pub async fn database_credentials(&self, name: &str) -> Result<Arc<DatabaseLease>> {
        if self.handle.core.closed() {
            return Err(closed(name));
        }
        let b = self.binding(name)?;
        self.handle.core.db_latest(b).await
    }

    /// Follows the leases of `name` directly: the receiver holds the current lease (or `None`
    /// before the first read and after revocation) and changes at each issue, renewal and
    /// revocation. `None` when `name` is not bound to dynamic credentials.
    ///
    /// The facade's cache sees new users on its own (the version id is the lease id); this is
    /// for code that manages a connection pool itself.
    pub fn watch_database_lease(
        &self,
        name: &str,
    ) -> Option<watch::Receiver<Option<Arc<DatabaseLease>>>> {
        self.handle
            .core
            .databases
            .get(name)
            .map(|b| b.tx.subscribe())
    }

    /// Revokes every database lease now (`sys/leases/revoke`), current and retiring. The
    /// provider stays usable: the next read issues new credentials. Returns how many leases
    /// were revoked; when some revocations fail, all are still tried and the first error is
    /// returned.
    pub async fn revoke_all(&self) -> Result<usize> {
        self.handle.core.revoke_database_leases(false).await
    }

    /// Stops the background tasks, revokes every database lease and, when the provider
    /// logged in itself (AppRole), revokes its token. Call it on graceful shutdown; after
    /// it, every read fails. Every step is tried; the first error is returned.
    pub async fn shutdown(&self) -> Result<()> {
        let core = &self.handle.core;
        if core.closed() && core.databases.values().all(|b| b.held() == 0) {
            return Ok(());
        }
        core.shutdown.send_replace(true);
        let leases = core.revoke_database_leases(true).await;
        let token = if matches!(core.auth, AuthMethod::AppRole { .. }) {
            let state = core.token.get();
            match core
                .http
                .send(
                    Req::write(
                        Method::POST,
                        "auth/token/revoke-self".into(),
                        Some(&state.token),
                        None,
                        true,
                    ),
                    "auth/token/revoke-self",
                )
                .await
            {
                Ok(r) if r.status.is_success() => Ok(()),
                Ok(r) => Err(r.into_error("auth/token/revoke-self")),
                Err(e) => Err(e),
            }
        } else {
            Ok(())
        };
        tracing::info!(
            provider = PROVIDER,
            leases_revoked = leases.as_ref().ok().copied(),
            "Vault provider shut down"
        );
        leases.and(token)
    }
}

fn closed(name: &str) -> Error {
    Error::new(ErrorKind::Unavailable, PROVIDER)
        .with_secret(name)
        .with_message("the provider was shut down")
        .with_retryable(false)
}

#[async_trait]
impl SecretProvider for VaultProvider {
    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    async fn shutdown(&self) -> Result<()> {
        VaultProvider::shutdown(self).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_version_probe().with_versions()
    }

    #[tracing::instrument(level = "debug", skip(self), fields(provider = PROVIDER))]
    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        let core = &self.handle.core;
        if core.closed() {
            return Err(closed(name));
        }
        match core.databases.get(name) {
            Some(b) => core.db_get(b, version).await,
            None => core.kv_get(name, version).await,
        }
    }

    #[tracing::instrument(level = "debug", skip(self), fields(provider = PROVIDER))]
    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        let core = &self.handle.core;
        if core.closed() {
            return Err(closed(name));
        }
        match core.databases.get(name) {
            Some(b) => core.db_current_version(b),
            None => core.kv_current_version(name).await,
        }
    }
}
