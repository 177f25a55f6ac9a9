//! Dynamic database credentials (`<mount>/creds/<role>`) and the life of their leases:
//! renewal at a fraction of the TTL, re-issue before the max TTL with an overlap, revocation
//! of the old user after the overlap, and revocation of everything at shutdown.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use reqwest::Method;
use secrets_core::secrecy::{ExposeSecret, SecretString};
use secrets_core::{
    Error, ErrorKind, REDACTED, Result, Secret, SecretValue, VersionInfo, VersionSelector,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::PROVIDER;
use crate::http::{backoff, encode_path};
use crate::kv::CONTENT_TYPE_JSON;
use crate::provider::Core;

/// The mount of the database secrets engine unless configured otherwise.
pub const DEFAULT_DATABASE_MOUNT: &str = "database";

/// The engine written into the credentials' JSON unless configured otherwise.
pub const DEFAULT_ENGINE: &str = "postgres";

/// Where dynamic database credentials come from (a role of the database secrets engine) and
/// which database they are for (host, port, database name, engine: Vault does not say).
///
/// ```
/// use std::time::Duration;
/// use secrets_vault::DatabaseCredentials;
/// let creds = DatabaseCredentials::new("cgi-chat", "db.internal")
///     .with_port(5432)
///     .with_dbname("chat")
///     .with_max_ttl(Duration::from_secs(24 * 3600));
/// assert_eq!(creds.mount(), "database");
/// assert_eq!(creds.engine(), "postgres");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseCredentials {
    mount: String,
    role: String,
    host: String,
    port: Option<u16>,
    dbname: Option<String>,
    engine: String,
    max_ttl: Option<Duration>,
}

impl DatabaseCredentials {
    /// Credentials of `role` on the `database` mount, for a database at `host`.
    pub fn new(role: impl Into<String>, host: impl Into<String>) -> Self {
        DatabaseCredentials {
            mount: DEFAULT_DATABASE_MOUNT.to_string(),
            role: role.into(),
            host: host.into(),
            port: None,
            dbname: None,
            engine: DEFAULT_ENGINE.to_string(),
            max_ttl: None,
        }
    }

    /// The mount of the database secrets engine (default `database`).
    #[must_use]
    pub fn with_mount(mut self, mount: impl Into<String>) -> Self {
        self.mount = mount.into().trim_matches('/').to_string();
        self
    }

    /// The database port (when absent, the facade's `DatabaseConfig` takes the engine's
    /// default port).
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The database name.
    #[must_use]
    pub fn with_dbname(mut self, dbname: impl Into<String>) -> Self {
        self.dbname = Some(dbname.into());
        self
    }

    /// The engine (`postgres`, `mysql`, ...; default `postgres`).
    #[must_use]
    pub fn with_engine(mut self, engine: impl Into<String>) -> Self {
        self.engine = engine.into();
        self
    }

    /// The role's max TTL, when the token may not read `<mount>/roles/<role>` (which the
    /// provider otherwise asks once). Knowing it lets the provider re-issue a full overlap
    /// before the old user dies; without it the end is learnt only when a renewal comes back
    /// shorter than asked.
    #[must_use]
    pub fn with_max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl = Some(max_ttl);
        self
    }

    /// The mount.
    pub fn mount(&self) -> &str {
        &self.mount
    }

    /// The role.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The database host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The database port, when set.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The database name, when set.
    pub fn dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }

    /// The engine.
    pub fn engine(&self) -> &str {
        &self.engine
    }

    pub(crate) fn check(&self, name: &str) -> Result<()> {
        let problem = if self.role.trim().is_empty() {
            Some("the database role is empty")
        } else if self.mount.is_empty() {
            Some("the database mount is empty")
        } else if self.host.trim().is_empty() {
            Some("the database host is empty")
        } else if self.role.contains('/') {
            Some("the database role may not contain `/`")
        } else {
            None
        };
        match problem {
            None => Ok(()),
            Some(p) => Err(Error::new(ErrorKind::InvalidConfig, PROVIDER)
                .with_secret(name)
                .with_message(p)),
        }
    }
}

/// One dynamic database user: the credentials of a Vault lease and where they apply.
///
/// `Debug` redacts the password; read it with [`password`](Self::password).
#[derive(Clone)]
pub struct DatabaseLease {
    lease_id: String,
    username: String,
    password: SecretString,
    renewable: bool,
    issued_at: SystemTime,
    expires_at: SystemTime,
    max_expires_at: Option<SystemTime>,
    renewals: u32,
    host: String,
    port: Option<u16>,
    dbname: Option<String>,
    engine: String,
}

impl fmt::Debug for DatabaseLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseLease")
            .field("lease_id", &self.lease_id)
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("renewable", &self.renewable)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("max_expires_at", &self.max_expires_at)
            .field("renewals", &self.renewals)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("engine", &self.engine)
            .finish()
    }
}

impl DatabaseLease {
    /// The Vault lease id (also the secret's version id).
    pub fn lease_id(&self) -> &str {
        &self.lease_id
    }

    /// The database user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The database password.
    pub fn password(&self) -> &SecretString {
        &self.password
    }

    /// Whether Vault allows renewing the lease.
    pub fn renewable(&self) -> bool {
        self.renewable
    }

    /// When the lease was issued (local clock).
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// When the lease expires unless renewed (local clock, as of the last renewal).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// When the lease ends at the latest (its max TTL), when known.
    pub fn max_expires_at(&self) -> Option<SystemTime> {
        self.max_expires_at
    }

    /// How many times the lease was renewed.
    pub fn renewals(&self) -> u32 {
        self.renewals
    }

    /// The database host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The database port, when configured.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The database name, when configured.
    pub fn dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }

    /// The engine.
    pub fn engine(&self) -> &str {
        &self.engine
    }

    /// The JSON the facade's `DatabaseConfig` reads: `engine`, `host`, `port` (when set),
    /// `dbname` (when set), `username`, `password`, and `lease_id`.
    pub fn to_json_value(&self) -> SecretValue {
        #[derive(Serialize)]
        struct Out<'a> {
            engine: &'a str,
            host: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            port: Option<u16>,
            #[serde(skip_serializing_if = "Option::is_none")]
            dbname: Option<&'a str>,
            username: &'a str,
            password: &'a str,
            lease_id: &'a str,
        }
        let out = Out {
            engine: &self.engine,
            host: &self.host,
            port: self.port,
            dbname: self.dbname.as_deref(),
            username: &self.username,
            password: self.password.expose_secret(),
            lease_id: &self.lease_id,
        };
        SecretValue::text(serde_json::to_string(&out).unwrap_or_default())
    }

    fn secret(&self, name: &str) -> Secret {
        Secret::new(name, self.to_json_value())
            .with_version(
                VersionInfo::new(self.lease_id.clone()).with_created(Some(self.issued_at)),
            )
            .with_content_type(Some(CONTENT_TYPE_JSON.to_string()))
    }
}

/// A lease held by a binding, with the local clock's view of its life.
struct Held {
    lease: Arc<DatabaseLease>,
    issued: Instant,
    /// When the current TTL started (the start of the issue or last renewal request).
    obtained: Instant,
    ttl: Duration,
    /// The increment asked at each renewal: the TTL the lease started with.
    initial_ttl: Duration,
    /// The end of the lease's max TTL, when known.
    hard_end: Option<Instant>,
    token_generation: u64,
    /// The next renewal; `None` when the lease cannot (or need not) be renewed.
    renew_at: Option<Instant>,
    renew_failures: u32,
}

impl Held {
    fn expires(&self) -> Option<Instant> {
        (!self.ttl.is_zero()).then(|| self.obtained + self.ttl)
    }

    fn usable(&self, now: Instant) -> bool {
        self.expires()
            .is_none_or(|e| now + Duration::from_millis(200) < e)
    }

    /// When to issue the successor: a full overlap (plus a margin) before the hard end.
    fn reissue_at(&self, overlap: Duration) -> Option<Instant> {
        let end = match (self.hard_end, self.renew_at) {
            (Some(end), _) => end,
            // Not renewable (or renewal refused): it ends at its expiry.
            (None, None) => self.expires()?,
            (None, Some(_)) => return None,
        };
        let life = end.saturating_duration_since(self.issued);
        let overlap = overlap.min(life / 2);
        let margin = (overlap / 4).min(Duration::from_secs(30));
        Some(
            end.checked_sub(overlap + margin)
                .unwrap_or(self.issued)
                .max(self.issued),
        )
    }

    fn next_renew(&self, fraction: f64, jitter: f64) -> Option<Instant> {
        if !self.lease.renewable || self.ttl.is_zero() {
            return None;
        }
        let j = jitter * (2.0 * fastrand::f64() - 1.0);
        let at = self.obtained + self.ttl.mul_f64((fraction * (1.0 + j)).clamp(0.05, 0.95));
        match self.hard_end {
            // No renewal past the point where the successor is issued anyway.
            Some(end) if at >= end => None,
            _ => Some(at),
        }
    }
}

/// A lease whose successor is issued: kept for the overlap, then revoked.
struct Retiring {
    lease: Arc<DatabaseLease>,
    revoke_at: Instant,
    /// Its expiry as of its last renewal.
    expires: Option<Instant>,
    /// Whether it was already renewed to last until `revoke_at`.
    extended: bool,
}

#[derive(Default)]
struct DbState {
    current: Option<Held>,
    retiring: Vec<Retiring>,
    /// The role's max TTL: `None` = not asked yet, `Some(None)` = unknown.
    role_max_ttl: Option<Option<Duration>>,
    closed: bool,
    issue_failures: u32,
    retry_issue_at: Option<Instant>,
}

/// A secret name bound to dynamic credentials, and its leases.
pub(crate) struct DbBinding {
    pub(crate) name: String,
    pub(crate) config: DatabaseCredentials,
    state: Mutex<DbState>,
    /// Single flight for issuing (and for shutdown against an issue in flight).
    issue: tokio::sync::Mutex<()>,
    pub(crate) tx: watch::Sender<Option<Arc<DatabaseLease>>>,
    task: AtomicBool,
    wake: Notify,
}

impl fmt::Debug for DbBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbBinding")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct CredsEnvelope<'a> {
    #[serde(default)]
    lease_id: String,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
    #[serde(borrow)]
    data: Option<CredsData<'a>>,
}

#[derive(Deserialize)]
struct CredsData<'a> {
    #[serde(borrow)]
    username: Cow<'a, str>,
    #[serde(borrow)]
    password: Cow<'a, str>,
}

#[derive(Deserialize)]
struct RenewEnvelope {
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
}

#[derive(Deserialize)]
struct RoleEnvelope {
    data: Option<RoleData>,
}

#[derive(Deserialize)]
struct RoleData {
    #[serde(default)]
    max_ttl: u64,
}

fn lock(state: &Mutex<DbState>) -> std::sync::MutexGuard<'_, DbState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn system_at(at: Instant) -> SystemTime {
    let now = Instant::now();
    if at >= now {
        SystemTime::now() + (at - now)
    } else {
        SystemTime::now() - (now - at)
    }
}

fn shut_down(name: &str) -> Error {
    Error::new(ErrorKind::Unavailable, PROVIDER)
        .with_secret(name)
        .with_message("the provider was shut down: its leases are revoked")
        .with_retryable(false)
}

impl DbBinding {
    pub(crate) fn new(name: String, config: DatabaseCredentials) -> Self {
        DbBinding {
            name,
            config,
            state: Mutex::new(DbState::default()),
            issue: tokio::sync::Mutex::new(()),
            tx: watch::Sender::new(None),
            task: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// The current lease, when it is still usable.
    pub(crate) fn current(&self) -> Option<Arc<DatabaseLease>> {
        let state = lock(&self.state);
        state
            .current
            .as_ref()
            .filter(|h| h.usable(Instant::now()))
            .map(|h| h.lease.clone())
    }

    /// How many leases are held (current and retiring).
    pub(crate) fn held(&self) -> usize {
        let state = lock(&self.state);
        usize::from(state.current.is_some()) + state.retiring.len()
    }

    fn find(&self, lease_id: &str) -> Option<Arc<DatabaseLease>> {
        let state = lock(&self.state);
        let now = Instant::now();
        state
            .current
            .as_ref()
            .filter(|h| h.lease.lease_id == lease_id && h.usable(now))
            .map(|h| h.lease.clone())
            .or_else(|| {
                state
                    .retiring
                    .iter()
                    .find(|r| r.lease.lease_id == lease_id && r.revoke_at > now)
                    .map(|r| r.lease.clone())
            })
    }
}

impl Core {
    /// `get` for a name bound to dynamic credentials.
    pub(crate) async fn db_get(
        self: &Arc<Self>,
        b: &Arc<DbBinding>,
        selector: &VersionSelector,
    ) -> Result<Secret> {
        match selector {
            VersionSelector::Latest => {}
            VersionSelector::Id(id) => {
                // Never issues: only a lease held now (current, or in its overlap).
                return b.find(id).map(|l| l.secret(&b.name)).ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, PROVIDER)
                        .with_secret(&b.name)
                        .with_message(format!(
                            "lease `{id}` is not held by this provider (revoked or expired)"
                        ))
                });
            }
            other => {
                return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                    .with_secret(&b.name)
                    .with_message(format!(
                        "dynamic credentials are selected by lease id only ({other} asked)"
                    )));
            }
        }
        Ok(self.db_latest(b).await?.secret(&b.name))
    }

    /// The current lease, issuing one when there is none (or it has expired).
    pub(crate) async fn db_latest(
        self: &Arc<Self>,
        b: &Arc<DbBinding>,
    ) -> Result<Arc<DatabaseLease>> {
        if lock(&b.state).closed {
            return Err(shut_down(&b.name));
        }
        if let Some(lease) = b.current() {
            return Ok(lease);
        }
        let _flight = b.issue.lock().await;
        if let Some(lease) = b.current() {
            return Ok(lease);
        }
        let lease = self.issue(b).await?;
        self.ensure_lease_task(b);
        Ok(lease)
    }

    /// `current_version` for a binding: the current lease id, never issuing.
    pub(crate) fn db_current_version(&self, b: &DbBinding) -> Result<VersionInfo> {
        if lock(&b.state).closed {
            return Err(shut_down(&b.name));
        }
        match b.current() {
            Some(lease) => {
                Ok(VersionInfo::new(lease.lease_id.clone()).with_created(Some(lease.issued_at)))
            }
            None => Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                .with_secret(&b.name)
                .with_message("no lease is held yet: read the secret to issue one")),
        }
    }

    /// The role's max TTL, asked once (`<mount>/roles/<role>`, then the mount's
    /// `max_lease_ttl`); `None` when the token may not read them.
    async fn role_max_ttl(&self, b: &DbBinding) -> Option<Duration> {
        let c = &b.config;
        let what = format!("role `{}` on mount `{}`", c.role, c.mount);
        let role = match self
            .call_get(encode_path(&[&c.mount, "roles", &c.role]), &what)
            .await
        {
            Ok(reply) if reply.status.is_success() => reply
                .json::<RoleEnvelope>(&what)
                .ok()
                .and_then(|e| e.data)
                .map(|d| d.max_ttl),
            _ => None,
        };
        let found = match role {
            Some(0) => {
                #[derive(Deserialize)]
                struct Mount {
                    data: Option<MountData>,
                }
                #[derive(Deserialize)]
                struct MountData {
                    config: Option<MountConfig>,
                }
                #[derive(Deserialize)]
                struct MountConfig {
                    #[serde(default)]
                    max_lease_ttl: u64,
                }
                match self
                    .call_get(encode_path(&["sys/internal/ui/mounts", &c.mount]), &what)
                    .await
                {
                    Ok(reply) if reply.status.is_success() => reply
                        .json::<Mount>(&what)
                        .ok()
                        .and_then(|m| m.data?.config)
                        .map(|c| c.max_lease_ttl)
                        .filter(|s| *s > 0)
                        .map(Duration::from_secs),
                    _ => None,
                }
            }
            Some(s) => Some(Duration::from_secs(s)),
            None => None,
        };
        tracing::debug!(
            provider = PROVIDER,
            secret = %b.name,
            max_ttl_s = found.map(|d| d.as_secs()),
            "database role max TTL"
        );
        found
    }

    /// Issues new credentials and installs them as current; the previous lease (if still
    /// alive) is kept for the overlap and then revoked. The caller holds `b.issue`.
    async fn issue(&self, b: &DbBinding) -> Result<Arc<DatabaseLease>> {
        let c = &b.config;
        let asked = lock(&b.state).role_max_ttl;
        let role_max = match asked {
            Some(known) => known,
            None => {
                let found = self.role_max_ttl(b).await;
                lock(&b.state).role_max_ttl = Some(found);
                found
            }
        };
        let max_ttl = match (role_max, c.max_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let generation = self.token.get().generation;
        let started = Instant::now();
        let what = format!("credentials of role `{}` on mount `{}`", c.role, c.mount);
        let reply = self
            .call(
                Method::GET,
                encode_path(&[&c.mount, "creds", &c.role]),
                None,
                false,
                &what,
            )
            .await
            .map_err(|e| e.with_secret(&b.name))?;
        if !reply.status.is_success() {
            return Err(reply.into_error(&what).with_secret(&b.name));
        }
        let env: CredsEnvelope<'_> = reply.json(&what).map_err(|e| e.with_secret(&b.name))?;
        let data = env.data.ok_or_else(|| {
            Error::new(ErrorKind::Other, PROVIDER)
                .with_secret(&b.name)
                .with_message(format!("the answer to {what} has no username and password"))
        })?;
        if env.lease_id.is_empty() {
            return Err(Error::new(ErrorKind::Other, PROVIDER)
                .with_secret(&b.name)
                .with_message(format!("the answer to {what} has no lease id")));
        }
        let ttl = Duration::from_secs(env.lease_duration);
        let mut hard_end = max_ttl.map(|m| started + m);
        if !env.renewable && !ttl.is_zero() {
            hard_end = Some(hard_end.map_or(started + ttl, |h| h.min(started + ttl)));
        }
        let now_sys = SystemTime::now();
        let lease = Arc::new(DatabaseLease {
            lease_id: env.lease_id.clone(),
            username: data.username.into_owned(),
            password: SecretString::from(data.password.as_ref()),
            renewable: env.renewable,
            issued_at: now_sys,
            expires_at: system_at(started + ttl),
            max_expires_at: hard_end.map(system_at),
            renewals: 0,
            host: c.host.clone(),
            port: c.port,
            dbname: c.dbname.clone(),
            engine: c.engine.clone(),
        });
        drop(data.password);
        let mut held = Held {
            lease: lease.clone(),
            issued: started,
            obtained: started,
            ttl,
            initial_ttl: ttl,
            hard_end,
            token_generation: generation,
            renew_at: None,
            renew_failures: 0,
        };
        held.renew_at = held.next_renew(self.settings.renew_fraction, self.settings.renew_jitter);
        let overlap = self.settings.lease_overlap;
        let closed = {
            let mut state = lock(&b.state);
            if state.closed {
                true
            } else {
                self.install(b, &mut state, held, overlap);
                false
            }
        };
        if closed {
            // Shut down while this was in flight: give the user back at once.
            let _ = self.revoke_lease(&b.name, &lease.lease_id).await;
            return Err(shut_down(&b.name));
        }
        tracing::info!(
            provider = PROVIDER,
            secret = %b.name,
            lease = %lease.lease_id,
            ttl_s = env.lease_duration,
            renewable = env.renewable,
            max_ttl_s = max_ttl.map(|d| d.as_secs()),
            "issued dynamic database credentials"
        );
        b.tx.send_replace(Some(lease.clone()));
        b.wake.notify_one();
        Ok(lease)
    }

    /// Makes `held` current; the previous lease, while alive, retires for the overlap.
    fn install(&self, b: &DbBinding, state: &mut DbState, held: Held, overlap: Duration) {
        {
            let now = Instant::now();
            if let Some(old) = state.current.take()
                && old.usable(now)
            {
                // It is renewed once more to last the overlap (see `extend_retiring`),
                // so only its max TTL (or, when it cannot be renewed, its expiry) bounds it.
                let mut revoke_at = now + overlap;
                if let Some(end) = old.hard_end {
                    revoke_at = revoke_at.min(end);
                }
                if !old.lease.renewable
                    && let Some(end) = old.expires()
                {
                    revoke_at = revoke_at.min(end);
                }
                tracing::info!(
                    provider = PROVIDER,
                    secret = %b.name,
                    old_lease = %old.lease.lease_id,
                    revoke_in_ms = revoke_at.saturating_duration_since(now).as_millis() as u64,
                    "database credentials re-issued; the old user is revoked after the overlap"
                );
                state.retiring.push(Retiring {
                    expires: old.expires(),
                    extended: false,
                    lease: old.lease,
                    revoke_at,
                });
            }
            state.current = Some(held);
            state.issue_failures = 0;
            state.retry_issue_at = None;
        }
    }

    /// `sys/leases/revoke` for one lease (idempotent in Vault).
    pub(crate) async fn revoke_lease(&self, name: &str, lease_id: &str) -> Result<()> {
        let body =
            serde_json::to_vec(&serde_json::json!({ "lease_id": lease_id })).unwrap_or_default();
        let what = format!("revoking lease `{lease_id}`");
        let reply = self
            .call(
                Method::PUT,
                "sys/leases/revoke".into(),
                Some(Zeroizing::new(body)),
                true,
                &what,
            )
            .await
            .map_err(|e| e.with_secret(name))?;
        if reply.status.is_success() {
            tracing::info!(
                provider = PROVIDER,
                secret = name,
                lease = lease_id,
                "revoked lease"
            );
            Ok(())
        } else {
            Err(reply.into_error(&what).with_secret(name))
        }
    }

    /// `sys/leases/renew`; returns the new TTL and when it started.
    async fn renew_lease(
        &self,
        name: &str,
        lease_id: &str,
        increment: Duration,
    ) -> Result<(Duration, bool, Instant)> {
        let body = serde_json::to_vec(
            &serde_json::json!({ "lease_id": lease_id, "increment": increment.as_secs() }),
        )
        .unwrap_or_default();
        let what = format!("renewing lease `{lease_id}`");
        let started = Instant::now();
        let reply = self
            .call(
                Method::PUT,
                "sys/leases/renew".into(),
                Some(Zeroizing::new(body)),
                true,
                &what,
            )
            .await
            .map_err(|e| e.with_secret(name))?;
        if !reply.status.is_success() {
            return Err(reply.into_error(&what).with_secret(name));
        }
        let env: RenewEnvelope = reply.json(&what).map_err(|e| e.with_secret(name))?;
        Ok((
            Duration::from_secs(env.lease_duration),
            env.renewable,
            started,
        ))
    }

    pub(crate) fn ensure_lease_task(self: &Arc<Self>, b: &Arc<DbBinding>) {
        if b.task.swap(true, Ordering::AcqRel) {
            return;
        }
        let core = self.clone();
        let b = b.clone();
        let span = tracing::debug_span!("secrets_vault.leases", secret = %b.name);
        tokio::spawn(tracing::Instrument::instrument(
            async move { core.lease_task(b).await },
            span,
        ));
    }

    /// The background life of a binding's leases.
    async fn lease_task(self: Arc<Self>, b: Arc<DbBinding>) {
        let mut shutdown = self.shutdown.subscribe();
        let mut token_gen = self.token.generation.subscribe();
        let overlap = self.settings.lease_overlap;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let next = {
                let state = lock(&b.state);
                let mut next: Option<Instant> = None;
                let mut consider = |t: Option<Instant>| {
                    if let Some(t) = t {
                        next = Some(next.map_or(t, |n| n.min(t)));
                    }
                };
                for r in &state.retiring {
                    consider(Some(r.revoke_at));
                }
                if let Some(h) = &state.current {
                    consider(h.renew_at);
                    consider(state.retry_issue_at.or_else(|| h.reissue_at(overlap)));
                }
                next
            };
            let sleep_until = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                () = tokio::time::sleep_until(sleep_until) => {}
                () = b.wake.notified() => continue,
                _ = shutdown.wait_for(|s| *s) => break,
                changed = token_gen.changed() => {
                    if changed.is_err() { break; }
                }
            }
            if *shutdown.borrow() {
                break;
            }
            self.lease_step(&b, overlap).await;
        }
        b.task.store(false, Ordering::Release);
    }

    /// Does whatever is due: revocations, a re-issue, a renewal.
    async fn lease_step(&self, b: &DbBinding, overlap: Duration) {
        let now = Instant::now();
        // 1. Old users whose overlap is over.
        let due: Vec<String> = lock(&b.state)
            .retiring
            .iter()
            .filter(|r| r.revoke_at <= now)
            .map(|r| r.lease.lease_id.clone())
            .collect();
        for id in &due {
            if let Err(err) = self.revoke_lease(&b.name, id).await {
                tracing::warn!(
                    provider = PROVIDER,
                    secret = %b.name,
                    lease = %id,
                    error = %err,
                    "cannot revoke the old lease; it ends at its TTL"
                );
            }
        }
        if !due.is_empty() {
            lock(&b.state)
                .retiring
                .retain(|r| !due.contains(&r.lease.lease_id));
        }

        // 2. A re-issue: the max TTL is near, the token changed, or a retry is due.
        let generation = self.token.get().generation;
        let (reissue, renew) = {
            let state = lock(&b.state);
            match &state.current {
                None => (false, None),
                Some(h) => {
                    let token_changed = h.token_generation != generation;
                    let due = state
                        .retry_issue_at
                        .or_else(|| h.reissue_at(overlap))
                        .is_some_and(|t| t <= now);
                    let renew = h
                        .renew_at
                        .filter(|t| *t <= now)
                        .map(|_| (h.lease.lease_id.clone(), h.initial_ttl));
                    (token_changed || due, renew)
                }
            }
        };
        if reissue {
            let _flight = b.issue.lock().await;
            if lock(&b.state).closed {
                return;
            }
            match self.issue(b).await {
                Ok(_) => self.extend_retiring(b).await,
                Err(err) => {
                    let mut state = lock(&b.state);
                    state.issue_failures += 1;
                    let pause = backoff(Duration::from_secs(1), state.issue_failures)
                        .min(Duration::from_secs(30));
                    state.retry_issue_at = Some(Instant::now() + pause);
                    tracing::warn!(
                        provider = PROVIDER,
                        secret = %b.name,
                        error = %err,
                        failures = state.issue_failures,
                        "cannot re-issue database credentials; the current ones are served until they expire"
                    );
                }
            }
            return;
        }

        // 3. A renewal.
        let Some((lease_id, increment)) = renew else {
            return;
        };
        match self.renew_lease(&b.name, &lease_id, increment).await {
            Ok((ttl, renewable, started)) => {
                let lease = {
                    let mut state = lock(&b.state);
                    let Some(h) = state
                        .current
                        .as_mut()
                        .filter(|h| h.lease.lease_id == lease_id)
                    else {
                        return;
                    };
                    h.obtained = started;
                    h.ttl = ttl;
                    h.renew_failures = 0;
                    if ttl < increment || !renewable {
                        // Capped by the max TTL: now the end is known.
                        let end = started + ttl;
                        h.hard_end = Some(h.hard_end.map_or(end, |e| e.min(end)));
                    }
                    let mut lease = DatabaseLease::clone(&h.lease);
                    lease.renewable = renewable;
                    lease.expires_at = system_at(started + ttl);
                    lease.max_expires_at = h.hard_end.map(system_at);
                    lease.renewals += 1;
                    h.lease = Arc::new(lease);
                    h.renew_at =
                        h.next_renew(self.settings.renew_fraction, self.settings.renew_jitter);
                    h.lease.clone()
                };
                tracing::debug!(
                    provider = PROVIDER,
                    secret = %b.name,
                    lease = %lease_id,
                    ttl_s = ttl.as_secs(),
                    "renewed lease"
                );
                b.tx.send_replace(Some(lease));
            }
            Err(err) => {
                let mut state = lock(&b.state);
                let Some(h) = state
                    .current
                    .as_mut()
                    .filter(|h| h.lease.lease_id == lease_id)
                else {
                    return;
                };
                let gone = err
                    .message()
                    .is_some_and(|m| m.contains("lease not found") || m.contains("invalid lease"));
                if gone {
                    tracing::warn!(
                        provider = PROVIDER,
                        secret = %b.name,
                        lease = %lease_id,
                        "the lease is gone from Vault; issuing new credentials now"
                    );
                    h.ttl = Duration::from_nanos(1);
                    h.renew_at = None;
                    state.retry_issue_at = Some(Instant::now());
                } else if err.is_retryable() {
                    h.renew_failures += 1;
                    let mut at = Instant::now() + backoff(Duration::from_secs(1), h.renew_failures);
                    if let Some(e) = h.expires() {
                        at = at.min(e);
                    }
                    h.renew_at = Some(at);
                    tracing::warn!(provider = PROVIDER, secret = %b.name, error = %err, "lease renewal failed; will retry");
                } else {
                    // Renewal refused (no permission on sys/leases/renew, ...): the lease
                    // ends at its current expiry, so re-issue before then.
                    tracing::warn!(provider = PROVIDER, secret = %b.name, error = %err, "lease renewal refused; re-issuing before it expires");
                    h.renew_at = None;
                    if let Some(e) = h.expires() {
                        h.hard_end = Some(h.hard_end.map_or(e, |x| x.min(e)));
                    }
                }
            }
        }
    }

    /// Renews retiring leases that would expire before their overlap ends, so that the old
    /// user lives through the whole overlap (Vault caps the increment at the max TTL).
    async fn extend_retiring(&self, b: &DbBinding) {
        let now = Instant::now();
        let todo: Vec<(String, Duration)> = lock(&b.state)
            .retiring
            .iter()
            .filter(|r| {
                !r.extended && r.lease.renewable && r.expires.is_some_and(|e| e < r.revoke_at)
            })
            .map(|r| {
                let secs = r.revoke_at.saturating_duration_since(now).as_secs() + 2;
                (r.lease.lease_id.clone(), Duration::from_secs(secs))
            })
            .collect();
        for (lease_id, increment) in todo {
            match self.renew_lease(&b.name, &lease_id, increment).await {
                Ok((ttl, _, started)) => {
                    let mut state = lock(&b.state);
                    if let Some(r) = state
                        .retiring
                        .iter_mut()
                        .find(|r| r.lease.lease_id == lease_id)
                    {
                        r.extended = true;
                        r.expires = Some(started + ttl);
                        // Revoke it before Vault would end it anyway.
                        r.revoke_at = r.revoke_at.min(started + ttl);
                    }
                }
                Err(err) => {
                    tracing::warn!(
                        provider = PROVIDER,
                        secret = %b.name,
                        lease = %lease_id,
                        error = %err,
                        "cannot extend the old lease over the overlap; it ends at its TTL"
                    );
                    let mut state = lock(&b.state);
                    if let Some(r) = state
                        .retiring
                        .iter_mut()
                        .find(|r| r.lease.lease_id == lease_id)
                    {
                        r.extended = true;
                        if let Some(e) = r.expires {
                            r.revoke_at = r.revoke_at.min(e);
                        }
                    }
                }
            }
        }
    }

    /// Revokes every lease of every binding; with `close`, the bindings stop issuing.
    pub(crate) async fn revoke_database_leases(&self, close: bool) -> Result<usize> {
        let mut first_err: Option<Error> = None;
        let mut revoked = 0usize;
        for b in self.databases.values() {
            let _flight = b.issue.lock().await;
            let leases: Vec<Arc<DatabaseLease>> = {
                let mut state = lock(&b.state);
                if close {
                    state.closed = true;
                }
                let mut v: Vec<_> = state.current.take().map(|h| h.lease).into_iter().collect();
                v.extend(state.retiring.drain(..).map(|r| r.lease));
                v
            };
            b.tx.send_replace(None);
            b.wake.notify_one();
            for lease in leases {
                match self.revoke_lease(&b.name, &lease.lease_id).await {
                    Ok(()) => revoked += 1,
                    Err(err) => {
                        tracing::warn!(provider = PROVIDER, secret = %b.name, lease = %lease.lease_id, error = %err, "cannot revoke lease");
                        first_err.get_or_insert(err);
                    }
                }
            }
        }
        match first_err {
            Some(err) => Err(err),
            None => Ok(revoked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(renewable: bool) -> Arc<DatabaseLease> {
        Arc::new(DatabaseLease {
            lease_id: "database/creds/r/abc".into(),
            username: "v-r-1".into(),
            password: SecretString::from("pw-canary-123"),
            renewable,
            issued_at: SystemTime::now(),
            expires_at: SystemTime::now(),
            max_expires_at: None,
            renewals: 0,
            host: "db".into(),
            port: Some(5432),
            dbname: Some("app".into()),
            engine: "postgres".into(),
        })
    }

    fn held(renewable: bool, ttl: u64, max: Option<u64>) -> Held {
        let now = Instant::now();
        Held {
            lease: lease(renewable),
            issued: now,
            obtained: now,
            ttl: Duration::from_secs(ttl),
            initial_ttl: Duration::from_secs(ttl),
            hard_end: max.map(|m| now + Duration::from_secs(m)),
            token_generation: 0,
            renew_at: None,
            renew_failures: 0,
        }
    }

    #[test]
    fn lease_debug_redacts_and_json_has_the_config_fields() {
        let l = lease(true);
        let dbg = format!("{l:?}");
        assert!(!dbg.contains("pw-canary-123"), "{dbg}");
        let json = l.to_json_value();
        let v: serde_json::Value = serde_json::from_str(json.expose_text().unwrap()).unwrap();
        assert_eq!(v["host"], "db");
        assert_eq!(v["port"], 5432);
        assert_eq!(v["dbname"], "app");
        assert_eq!(v["engine"], "postgres");
        assert_eq!(v["username"], "v-r-1");
        assert_eq!(v["password"], "pw-canary-123");
        let s = l.secret("cgi-chat/database");
        assert_eq!(s.version_id(), Some("database/creds/r/abc"));
    }

    #[test]
    fn schedule() {
        // Renewable, max TTL 100 s, overlap 20 s: successor at 100 - 20 - 5.
        let mut h = held(true, 40, Some(100));
        let t = h.reissue_at(Duration::from_secs(20)).unwrap();
        assert_eq!(t - h.issued, Duration::from_secs(75));
        // The overlap is at most half the lease's life.
        let t = h.reissue_at(Duration::from_secs(600)).unwrap();
        assert_eq!(t - h.issued, Duration::from_millis(50_000 - 12_500));
        // Renewal at 2/3 of the TTL (no jitter).
        let r = h.next_renew(2.0 / 3.0, 0.0).unwrap();
        assert!((r - h.obtained).as_secs_f64() > 26.0 && (r - h.obtained).as_secs_f64() < 27.0);
        // Renewable with an unknown max: no re-issue planned until renewal says.
        h.hard_end = None;
        h.renew_at = Some(r);
        assert!(h.reissue_at(Duration::from_secs(20)).is_none());
        // Not renewable: it ends at its TTL.
        let h = held(false, 40, None);
        assert!(h.next_renew(2.0 / 3.0, 0.0).is_none());
        let t = h.reissue_at(Duration::from_secs(10)).unwrap();
        assert_eq!(t - h.issued, Duration::from_millis(40_000 - 12_500));
    }

    #[test]
    fn credentials_config_checks() {
        assert!(DatabaseCredentials::new("r", "h").check("n").is_ok());
        assert!(DatabaseCredentials::new("", "h").check("n").is_err());
        assert!(DatabaseCredentials::new("r", "").check("n").is_err());
        assert!(DatabaseCredentials::new("a/b", "h").check("n").is_err());
        assert_eq!(
            DatabaseCredentials::new("r", "h")
                .with_mount("/db/")
                .mount(),
            "db"
        );
    }
}
