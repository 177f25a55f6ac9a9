//! Authentication: a given token (looked up, renewed before it expires) or an AppRole login
//! (renewed, and logged in again when the token cannot be renewed further).

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use reqwest::Method;
use secrets_core::secrecy::SecretString;
use secrets_core::{Error, ErrorKind, Result};
use serde::Deserialize;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::PROVIDER;
use crate::http::{Req, encode_path};
use crate::provider::Core;

/// How the provider logs in.
#[derive(Clone)]
pub(crate) enum AuthMethod {
    /// A token given by the caller (`VAULT_TOKEN`).
    Token(SecretString),
    /// AppRole: `auth/<mount>/login` with a role id and (usually) a secret id.
    AppRole {
        mount: String,
        role_id: String,
        secret_id: Option<SecretString>,
    },
}

impl fmt::Debug for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthMethod::Token(_) => f.write_str("Token([REDACTED])"),
            // The role id is left out too: Vault's docs treat it as sensitive (it is half of
            // the login).
            AuthMethod::AppRole { mount, .. } => f
                .debug_struct("AppRole")
                .field("mount", mount)
                .finish_non_exhaustive(),
        }
    }
}

impl AuthMethod {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            AuthMethod::Token(_) => "token",
            AuthMethod::AppRole { .. } => "approle",
        }
    }
}

/// The token in use and what Vault said about its lifetime.
pub(crate) struct TokenState {
    pub(crate) token: SecretString,
    /// When the TTL below started counting (taken before the request that returned it).
    pub(crate) obtained: Instant,
    /// The TTL from `obtained`; zero for a token that does not expire (root).
    pub(crate) ttl: Duration,
    /// The TTL asked for at each renewal: the TTL the token started with.
    pub(crate) initial_ttl: Duration,
    pub(crate) renewable: bool,
    /// Renewal no longer extends the token (its max TTL is reached).
    pub(crate) capped: bool,
    /// Counts logins: leases issued under an older token die with it.
    pub(crate) generation: u64,
}

impl TokenState {
    pub(crate) fn expires(&self) -> Option<Instant> {
        (!self.ttl.is_zero()).then(|| self.obtained + self.ttl)
    }
}

/// The token cell shared by every call and the renewal task.
pub(crate) struct TokenCell {
    state: RwLock<Arc<TokenState>>,
    /// Single flight for logins.
    pub(crate) login: tokio::sync::Mutex<()>,
    /// Sends the generation after each login.
    pub(crate) generation: tokio::sync::watch::Sender<u64>,
}

impl TokenCell {
    pub(crate) fn new(state: TokenState) -> Self {
        let generation = tokio::sync::watch::Sender::new(state.generation);
        TokenCell {
            state: RwLock::new(Arc::new(state)),
            login: tokio::sync::Mutex::new(()),
            generation,
        }
    }

    pub(crate) fn get(&self) -> Arc<TokenState> {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set(&self, state: TokenState) {
        let generation = state.generation;
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(state);
        self.generation.send_if_modified(|g| {
            let changed = *g != generation;
            *g = generation;
            changed
        });
    }
}

#[derive(Deserialize)]
struct AuthEnvelope<'a> {
    #[serde(borrow)]
    auth: Option<AuthBlock<'a>>,
}

#[derive(Deserialize)]
struct AuthBlock<'a> {
    #[serde(borrow)]
    client_token: std::borrow::Cow<'a, str>,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
}

#[derive(Deserialize)]
struct LookupEnvelope {
    data: Option<LookupData>,
}

#[derive(Deserialize)]
struct LookupData {
    #[serde(default)]
    ttl: u64,
    #[serde(default)]
    renewable: bool,
    #[serde(default)]
    creation_ttl: u64,
}

/// Logs in with AppRole. Returns the new token state with `generation`.
pub(crate) async fn approle_login(
    core: &Core,
    mount: &str,
    role_id: &str,
    secret_id: Option<&SecretString>,
    generation: u64,
) -> Result<TokenState> {
    use secrets_core::secrecy::ExposeSecret;
    let mut body = serde_json::Map::new();
    body.insert("role_id".into(), serde_json::Value::String(role_id.into()));
    let body = match secret_id {
        // The secret id goes straight into a buffer that is wiped after the call.
        Some(sid) => {
            let head = serde_json::to_string(&body).unwrap_or_default();
            let sid = serde_json::to_string(sid.expose_secret()).unwrap_or_default();
            let mut buf = Zeroizing::new(Vec::with_capacity(head.len() + sid.len() + 16));
            buf.extend_from_slice(head.trim_end_matches('}').as_bytes());
            buf.extend_from_slice(b",\"secret_id\":");
            buf.extend_from_slice(sid.as_bytes());
            buf.extend_from_slice(b"}");
            drop(Zeroizing::new(sid.into_bytes()));
            buf
        }
        None => Zeroizing::new(serde_json::to_vec(&body).unwrap_or_default()),
    };
    let path = encode_path(&["auth", mount, "login"]);
    let started = Instant::now();
    let reply = core
        .http
        .send(
            Req::write(Method::POST, path, None, Some(body), false),
            "the AppRole login",
        )
        .await?;
    if !reply.status.is_success() {
        let err = reply.into_error(&format!("the AppRole login at auth/{mount}/login"));
        // A wrong role or secret id is an authentication failure, whatever the status.
        return Err(match err.kind() {
            ErrorKind::NotFound => {
                Error::new(ErrorKind::InvalidConfig, PROVIDER).with_message(format!(
                    "no AppRole auth method is mounted at auth/{mount} (check the AppRole mount)"
                ))
            }
            ErrorKind::InvalidConfig | ErrorKind::PermissionDenied => {
                let msg = err.message().unwrap_or_default().to_string();
                Error::new(ErrorKind::Unauthenticated, PROVIDER).with_message(msg)
            }
            _ => err,
        });
    }
    let env: AuthEnvelope<'_> = reply.json("the AppRole login")?;
    let auth = env.auth.ok_or_else(|| {
        Error::new(ErrorKind::Other, PROVIDER).with_message("the AppRole login returned no token")
    })?;
    let ttl = Duration::from_secs(auth.lease_duration);
    tracing::info!(
        provider = PROVIDER,
        mount,
        ttl_s = auth.lease_duration,
        renewable = auth.renewable,
        generation,
        "logged in to Vault with AppRole"
    );
    Ok(TokenState {
        token: SecretString::from(auth.client_token.as_ref()),
        obtained: started,
        ttl,
        initial_ttl: ttl,
        renewable: auth.renewable,
        capped: false,
        generation,
    })
}

/// Looks up a given token's lifetime (`auth/token/lookup-self`). A token that may not look
/// itself up is used as it is, without renewal.
pub(crate) async fn lookup_token(core: &Core, token: SecretString) -> Result<TokenState> {
    let started = Instant::now();
    let reply = core
        .http
        .send(
            Req::get("auth/token/lookup-self".into(), Some(&token)),
            "auth/token/lookup-self",
        )
        .await?;
    let mut state = TokenState {
        token,
        obtained: started,
        ttl: Duration::ZERO,
        initial_ttl: Duration::ZERO,
        renewable: false,
        capped: false,
        generation: 0,
    };
    if reply.status.is_success() {
        let env: LookupEnvelope = reply.json("auth/token/lookup-self")?;
        if let Some(data) = env.data {
            state.ttl = Duration::from_secs(data.ttl);
            state.renewable = data.renewable && data.ttl > 0;
            state.initial_ttl = Duration::from_secs(if data.creation_ttl > 0 {
                data.creation_ttl
            } else {
                data.ttl
            });
        }
        tracing::debug!(
            provider = PROVIDER,
            ttl_s = state.ttl.as_secs(),
            renewable = state.renewable,
            "looked up the Vault token"
        );
        Ok(state)
    } else if reply.status.as_u16() == 403 {
        tracing::warn!(
            provider = PROVIDER,
            "the Vault token cannot look itself up (auth/token/lookup-self is denied): it is \
             used as it is and never renewed; if it is wrong, reads fail with permission denied"
        );
        Ok(state)
    } else {
        Err(reply.into_error("auth/token/lookup-self"))
    }
}

/// Renews the token once (`auth/token/renew-self`), updating the cell.
async fn renew_token(core: &Core, current: &TokenState) -> Result<()> {
    let body = Zeroizing::new(
        format!(r#"{{"increment":"{}s"}}"#, current.initial_ttl.as_secs()).into_bytes(),
    );
    let started = Instant::now();
    let reply = core
        .http
        .send(
            Req::write(
                Method::POST,
                "auth/token/renew-self".into(),
                Some(&current.token),
                Some(body),
                true,
            ),
            "auth/token/renew-self",
        )
        .await?;
    if !reply.status.is_success() {
        return Err(reply.into_error("auth/token/renew-self"));
    }
    let env: AuthEnvelope<'_> = reply.json("auth/token/renew-self")?;
    let auth = env.auth.ok_or_else(|| {
        Error::new(ErrorKind::Other, PROVIDER).with_message("renew-self returned no auth block")
    })?;
    let ttl = Duration::from_secs(auth.lease_duration);
    // Vault grants exactly the increment unless the max TTL caps it.
    let capped = ttl < current.initial_ttl;
    tracing::debug!(
        provider = PROVIDER,
        ttl_s = ttl.as_secs(),
        capped,
        "renewed the Vault token"
    );
    if capped {
        tracing::info!(
            provider = PROVIDER,
            ttl_s = ttl.as_secs(),
            "the Vault token has reached its max TTL and cannot be renewed further"
        );
    }
    core.token.set(TokenState {
        token: current.token.clone(),
        obtained: started,
        ttl,
        initial_ttl: current.initial_ttl,
        renewable: auth.renewable,
        capped,
        generation: current.generation,
    });
    Ok(())
}

/// Logs in again (AppRole only), unless another caller already did since `seen` was read.
pub(crate) async fn relogin(core: &Core, seen: u64) -> Result<()> {
    let AuthMethod::AppRole {
        mount,
        role_id,
        secret_id,
    } = &core.auth
    else {
        return Err(
            Error::new(ErrorKind::Unauthenticated, PROVIDER).with_message(
                "the Vault token was rejected and a given token cannot be renewed by logging in",
            ),
        );
    };
    let _flight = core.token.login.lock().await;
    if core.token.get().generation != seen {
        return Ok(());
    }
    let state = approle_login(core, mount, role_id, secret_id.as_ref(), seen + 1).await?;
    core.token.set(state);
    Ok(())
}

/// The token's background life: renew it at `renew_fraction` of its TTL; with AppRole, log in
/// again when it cannot be renewed (or renewal is refused). Ends at shutdown or when the
/// token never expires.
pub(crate) async fn token_task(core: Arc<Core>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let approle = matches!(core.auth, AuthMethod::AppRole { .. });
    let mut failures = 0u32;
    loop {
        let state = core.token.get();
        let Some(expires) = state.expires() else {
            tracing::debug!(
                provider = PROVIDER,
                "the Vault token does not expire: no renewal"
            );
            return;
        };
        if !approle && (!state.renewable || state.capped) {
            tracing::warn!(
                provider = PROVIDER,
                expires_in_s = expires.saturating_duration_since(Instant::now()).as_secs(),
                "the given Vault token cannot be renewed further and will expire; provide a \
                 new one (or use AppRole, which logs in again)"
            );
            return;
        }
        let wake = if failures > 0 {
            let now = Instant::now();
            let retry = now + crate::http::backoff(Duration::from_secs(1), failures);
            if now < expires {
                retry.min(expires)
            } else {
                retry
            }
        } else if approle && state.capped {
            // Log in again now: leases issued under this token die with it, so the sooner the
            // new token is there, the longer the database overlap can be.
            Instant::now()
        } else {
            let f = core.settings.renew_fraction;
            let jitter = core.settings.renew_jitter * (2.0 * fastrand::f64() - 1.0);
            state.obtained + state.ttl.mul_f64((f * (1.0 + jitter)).clamp(0.05, 0.95))
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let current = core.token.get();
        if current.generation != state.generation || current.obtained != state.obtained {
            failures = 0;
            continue; // someone else renewed or logged in meanwhile
        }
        let result = if current.renewable && !current.capped {
            match renew_token(&core, &current).await {
                // A login is cheap and always possible with AppRole; Vault answers a renewal
                // past the max TTL with a 500, so any failure leads to a new login.
                Err(err) if approle => {
                    tracing::warn!(provider = PROVIDER, error = %err, "token renewal refused; logging in again");
                    relogin(&core, current.generation).await
                }
                other => other,
            }
        } else {
            relogin(&core, current.generation).await
        };
        match result {
            Ok(()) => failures = 0,
            Err(err) => {
                failures += 1;
                tracing::warn!(
                    provider = PROVIDER,
                    error = %err,
                    failures,
                    "Vault token renewal or login failed; will retry"
                );
                if !err.is_retryable() && !approle {
                    return;
                }
                if Instant::now() >= expires && !approle {
                    return;
                }
            }
        }
    }
}
