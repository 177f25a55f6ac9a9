//! The default credential chain, and a fixed-token credential for emulators.
//!
//! `azure_identity` 1.0 has no `DefaultAzureCredential`, so this crate builds its own small
//! chain from the SDK's credentials, in the order that fits where services run:
//!
//! 1. **Workload identity** (`WorkloadIdentityCredential`): Kubernetes (AKS) pods with a
//!    federated service-account token. Configured explicitly by the platform through
//!    `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_FEDERATED_TOKEN_FILE`; when these are
//!    missing the source is left out of the chain (and the reason reported if nothing works).
//! 2. **Managed identity** (`ManagedIdentityCredential`): App Service, Functions and VMs, via
//!    the App Service identity endpoint or IMDS. A user-assigned identity is chosen with
//!    `AZURE_CLIENT_ID`. Until it has once succeeded its first try is limited to
//!    [`MANAGED_IDENTITY_PROBE_TIMEOUT`]: off Azure, IMDS never answers and the SDK would
//!    otherwise retry it for over a minute.
//! 3. **Developer tools** (`DeveloperToolsCredential`): the Azure CLI (`az login`), then the
//!    Azure Developer CLI, for a service run on a laptop.
//!
//! The most specific, explicitly configured source comes first and developer credentials come
//! last, so a developer's `az login` on a build agent never stands in for the service's own
//! identity. The first source that returns a token is kept for the life of the chain and the
//! others are never asked again (as `DefaultAzureCredential` does in the other Azure SDKs): a
//! service does not silently change identity when its source has a transient failure.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind as AzureKind;
use azure_core::time::OffsetDateTime;
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential,
};
use secrets_core::async_trait;

/// How long the default chain waits for managed identity's first answer.
pub const MANAGED_IDENTITY_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

const NONE_CHOSEN: usize = usize::MAX;

struct Source {
    name: &'static str,
    credential: Arc<dyn TokenCredential>,
    first_try_timeout: Option<Duration>,
}

/// A [`TokenCredential`] that tries its sources in order and keeps the first that returns a
/// token.
///
/// [`ChainedCredential::default_chain`] is the chain [`AzureProvider`](crate::AzureProvider)
/// uses when it is given no credential (workload identity, managed identity, developer tools;
/// see [`default_chain`](Self::default_chain) for why this order). A chain of your own:
///
/// ```
/// use std::sync::Arc;
/// use secrets_azure::{ChainedCredential, StaticTokenCredential};
///
/// let chain = ChainedCredential::new()
///     .with_source("test token", Arc::new(StaticTokenCredential::new("t")));
/// assert_eq!(chain.source_names(), vec!["test token"]);
/// assert_eq!(chain.chosen(), None);
/// ```
///
/// When every source fails, the error (kind `Credential`) lists each source and why it failed,
/// including the sources that were left out because they are not configured.
pub struct ChainedCredential {
    sources: Vec<Source>,
    skipped: Vec<String>,
    chosen: AtomicUsize,
}

impl fmt::Debug for ChainedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainedCredential")
            .field("sources", &self.source_names())
            .field("chosen", &self.chosen())
            .finish_non_exhaustive()
    }
}

impl Default for ChainedCredential {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainedCredential {
    /// An empty chain (it fails until sources are added).
    pub fn new() -> Self {
        ChainedCredential {
            sources: Vec::new(),
            skipped: Vec::new(),
            chosen: AtomicUsize::new(NONE_CHOSEN),
        }
    }

    /// Adds a source at the end of the chain.
    #[must_use]
    pub fn with_source(mut self, name: &'static str, credential: Arc<dyn TokenCredential>) -> Self {
        self.sources.push(Source {
            name,
            credential,
            first_try_timeout: None,
        });
        self
    }

    /// Adds a source whose tries are limited to `timeout` until it has once returned a token
    /// (for sources that hang where they do not apply, such as IMDS off Azure).
    #[must_use]
    pub fn with_probed_source(
        mut self,
        name: &'static str,
        credential: Arc<dyn TokenCredential>,
        timeout: Duration,
    ) -> Self {
        self.sources.push(Source {
            name,
            credential,
            first_try_timeout: Some(timeout),
        });
        self
    }

    /// Records a source that could not be configured, so that the chain's error says why it
    /// was not tried.
    fn with_skipped(mut self, name: &str, why: &azure_core::Error) -> Self {
        self.skipped
            .push(format!("{name}: not configured: {}", error_text(why)));
        self
    }

    /// The default chain, in the order that fits where services run:
    ///
    /// 1. workload identity (Kubernetes pods with a federated token: `AZURE_TENANT_ID`,
    ///    `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE`), left out when not configured;
    /// 2. managed identity (App Service, Functions, VMs; user-assigned when `AZURE_CLIENT_ID`
    ///    is set), its tries limited to [`MANAGED_IDENTITY_PROBE_TIMEOUT`] until it has once
    ///    succeeded, because off Azure IMDS never answers and the SDK retries it for a minute;
    /// 3. developer tools (the Azure CLI, then the Azure Developer CLI).
    ///
    /// Explicit configuration comes before ambient identity and developer logins come last,
    /// so an `az login` on a build machine never stands in for a service's identity. The
    /// first source that returns a token is kept and the others are never asked again, so a
    /// service does not change identity when its source has a transient failure. It is
    /// hand-written because `azure_identity` 1.0 has no `DefaultAzureCredential`.
    ///
    /// ```
    /// let chain = secrets_azure::ChainedCredential::default_chain();
    /// assert!(chain.source_names().contains(&"developer tools"));
    /// ```
    pub fn default_chain() -> Self {
        let mut chain = ChainedCredential::new();
        chain = match WorkloadIdentityCredential::new(None) {
            Ok(c) => chain.with_source("workload identity", c),
            Err(e) => chain.with_skipped("workload identity", &e),
        };
        chain = match managed_identity() {
            Ok(c) => {
                chain.with_probed_source("managed identity", c, MANAGED_IDENTITY_PROBE_TIMEOUT)
            }
            Err(e) => chain.with_skipped("managed identity", &e),
        };
        chain = match DeveloperToolsCredential::new(None) {
            Ok(c) => chain.with_source("developer tools", c),
            Err(e) => chain.with_skipped("developer tools", &e),
        };
        chain
    }

    /// The names of the sources, in the order they are tried.
    pub fn source_names(&self) -> Vec<&'static str> {
        self.sources.iter().map(|s| s.name).collect()
    }

    /// The source that returned the first token, once one has.
    pub fn chosen(&self) -> Option<&'static str> {
        self.sources
            .get(self.chosen.load(Ordering::Acquire))
            .map(|s| s.name)
    }
}

/// Managed identity, user-assigned when `AZURE_CLIENT_ID` is set.
pub(crate) fn managed_identity() -> azure_core::Result<Arc<ManagedIdentityCredential>> {
    let user_assigned_id = std::env::var("AZURE_CLIENT_ID")
        .ok()
        .filter(|id| !id.trim().is_empty())
        .map(UserAssignedId::ClientId);
    ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
        user_assigned_id,
        ..Default::default()
    }))
}

/// The error and its sources on one line.
fn error_text(err: &azure_core::Error) -> String {
    let mut text = err.to_string();
    let mut current = std::error::Error::source(err);
    while let Some(e) = current {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        current = e.source();
    }
    text
}

#[async_trait]
impl TokenCredential for ChainedCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        if let Some(source) = self.sources.get(self.chosen.load(Ordering::Acquire)) {
            return source.credential.get_token(scopes, options).await;
        }
        let mut failures = self.skipped.clone();
        for (index, source) in self.sources.iter().enumerate() {
            let attempt = source.credential.get_token(scopes, options.clone());
            let result = match source.first_try_timeout {
                Some(limit) => match tokio::time::timeout(limit, attempt).await {
                    Ok(result) => result,
                    Err(_) => Err(azure_core::Error::with_message(
                        AzureKind::Credential,
                        format!("no answer within {limit:?}"),
                    )),
                },
                None => attempt.await,
            };
            match result {
                Ok(token) => {
                    // Keep the first source that worked, even when calls race.
                    let _ = self.chosen.compare_exchange(
                        NONE_CHOSEN,
                        index,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                    tracing::debug!(source = source.name, "credential chain: source chosen");
                    return Ok(token);
                }
                Err(err) => {
                    tracing::debug!(source = source.name, "credential chain: source failed");
                    failures.push(format!("{}: {}", source.name, error_text(&err)));
                }
            }
        }
        let tried = self.source_names().join(", ");
        Err(azure_core::Error::with_message(
            AzureKind::Credential,
            format!(
                "no credential in the chain returned a token (tried: {}); {}",
                if tried.is_empty() { "none" } else { &tried },
                failures.join("; ")
            ),
        ))
    }
}

/// A credential that always returns the same token, valid for an hour from each call.
///
/// For the Key Vault emulator and tests, which accept any bearer token. The real service
/// rejects tokens that Entra ID did not issue. Its `Debug` does not print the token.
///
/// ```
/// use secrets_azure::StaticTokenCredential;
/// let credential = StaticTokenCredential::new("emulator");
/// assert_eq!(format!("{credential:?}"), "StaticTokenCredential { .. }");
/// ```
#[derive(Clone)]
pub struct StaticTokenCredential {
    token: azure_core::credentials::Secret,
}

impl StaticTokenCredential {
    /// A credential returning `token`.
    pub fn new(token: impl Into<String>) -> Self {
        StaticTokenCredential {
            token: azure_core::credentials::Secret::new(token.into()),
        }
    }
}

impl fmt::Debug for StaticTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokenCredential")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenCredential for StaticTokenCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            self.token.clone(),
            OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    #[derive(Debug)]
    struct Fake {
        calls: AtomicU32,
        ok: bool,
        hang: bool,
    }

    impl Fake {
        fn new(ok: bool) -> Arc<Self> {
            Arc::new(Fake {
                calls: AtomicU32::new(0),
                ok,
                hang: false,
            })
        }
        fn hanging() -> Arc<Self> {
            Arc::new(Fake {
                calls: AtomicU32::new(0),
                ok: true,
                hang: true,
            })
        }
        fn calls(&self) -> u32 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl TokenCredential for Fake {
        async fn get_token(
            &self,
            _scopes: &[&str],
            _options: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.hang {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            if self.ok {
                Ok(AccessToken::new("t", OffsetDateTime::now_utc()))
            } else {
                Err(azure_core::Error::with_message(
                    AzureKind::Credential,
                    "not here",
                ))
            }
        }
    }

    const SCOPE: &[&str] = &["https://vault.azure.net/.default"];

    #[tokio::test]
    async fn first_success_is_kept_and_others_never_asked_again() {
        let (a, b, c) = (Fake::new(false), Fake::new(true), Fake::new(true));
        let chain = ChainedCredential::new()
            .with_source("a", a.clone())
            .with_source("b", b.clone())
            .with_source("c", c.clone());
        chain.get_token(SCOPE, None).await.unwrap();
        chain.get_token(SCOPE, None).await.unwrap();
        assert_eq!(chain.chosen(), Some("b"));
        assert_eq!((a.calls(), b.calls(), c.calls()), (1, 2, 0));
    }

    #[tokio::test]
    async fn all_failing_lists_every_source_and_the_skipped_ones() {
        let chain = ChainedCredential::new()
            .with_skipped(
                "workload identity",
                &azure_core::Error::with_message(AzureKind::Credential, "no token file"),
            )
            .with_source("a", Fake::new(false))
            .with_source("b", Fake::new(false));
        let err = chain.get_token(SCOPE, None).await.unwrap_err();
        assert!(matches!(err.kind(), AzureKind::Credential));
        let text = err.to_string();
        for part in [
            "tried: a, b",
            "workload identity: not configured: no token file",
            "a: not here",
            "b: not here",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text}");
        }
        assert_eq!(chain.chosen(), None);
        let empty = ChainedCredential::new().get_token(SCOPE, None).await;
        assert!(empty.unwrap_err().to_string().contains("tried: none"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_probed_source_that_hangs_is_passed_over() {
        let (slow, next) = (Fake::hanging(), Fake::new(true));
        let chain = ChainedCredential::new()
            .with_probed_source("slow", slow.clone(), Duration::from_secs(2))
            .with_source("next", next.clone());
        let start = tokio::time::Instant::now();
        chain.get_token(SCOPE, None).await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(2));
        assert!(start.elapsed() < Duration::from_secs(3));
        assert_eq!(chain.chosen(), Some("next"));
    }

    #[tokio::test]
    async fn default_chain_order() {
        let names = ChainedCredential::default_chain().source_names();
        // Workload identity appears only when its environment is set; the relative order of
        // the others is fixed.
        let mi = names.iter().position(|n| *n == "managed identity");
        let dev = names.iter().position(|n| *n == "developer tools");
        assert!(mi.is_some() && dev.is_some() && mi < dev, "{names:?}");
        if let Some(wi) = names.iter().position(|n| *n == "workload identity") {
            assert!(Some(wi) < mi);
        }
    }

    #[tokio::test]
    async fn static_token() {
        let t = StaticTokenCredential::new("abc")
            .get_token(SCOPE, None)
            .await
            .unwrap();
        assert_eq!(t.token.secret(), "abc");
        assert!(t.expires_on > OffsetDateTime::now_utc());
    }
}
