//! Ordered fallback across providers, with provenance.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrets_core::{
    Capabilities, DynProvider, Error, ErrorKind, Result, Secret, SecretProvider, VersionInfo,
    VersionSelector,
};

const PROVIDER: &str = "chain";

/// Which source of a [`ChainProvider`] answered, and with which version. Never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Provenance {
    /// The source's label (its provider name unless set with
    /// [`ChainProvider::with_source`]), such as `"keyring"` or `"dotenv"`.
    pub source: String,
    /// The source's position in the chain, from 0.
    pub index: usize,
    /// The version id the source gave, when it has versions.
    pub version: Option<String>,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (source #{})", self.source, self.index)?;
        if let Some(v) = &self.version {
            write!(f, ", version {v}")?;
        }
        Ok(())
    }
}

#[derive(Clone)]
struct Source {
    label: Cow<'static, str>,
    provider: DynProvider,
}

/// Tries providers in order: the guide's "keyring first, then the environment".
///
/// # Semantics
///
/// - `get` asks each source in turn. Only an [`ErrorKind::NotFound`] answer moves on to the
///   next source (add kinds with [`falling_through_on`](Self::falling_through_on)). Any other
///   error **stops the chain** and is returned as it is: a keyring that is locked, a `.env`
///   file with bad permissions or a wrong decryption key must be fixed, not silently hidden
///   by a value from a later source.
/// - When every source says `NotFound`, the error is `NotFound` from `"chain"`, listing each
///   source's reason.
/// - [`get_with_provenance`](Self::get_with_provenance) also says which source answered and
///   with which version; every successful `get` emits a `tracing` debug event with the same
///   (the secret's name, the source, the version; never the value).
/// - `current_version` asks the sources in the same order and returns the first answer that
///   is not `NotFound`. It is a real probe only when every source has one
///   ([`Capabilities::version_probe`]); a source without a probe answers `Unsupported`,
///   which stops the probe and makes the cache refetch.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use secrets_core::{MemoryProvider, VersionSelector};
/// use secrets_local::ChainProvider;
///
/// let keyring = MemoryProvider::with_secrets([("cgi-chat/postgres-password", "from-keyring")]);
/// let env = MemoryProvider::with_secrets([("cgi-chat/api-key", "from-env")]);
/// let chain = ChainProvider::new(vec![])
///     .with_source("keyring", keyring)
///     .with_source("env", env);
///
/// let (secret, from) = chain.get_with_provenance("cgi-chat/api-key", &VersionSelector::Latest).await.unwrap();
/// assert_eq!(secret.value().expose_text().unwrap(), "from-env");
/// assert_eq!((from.source.as_str(), from.index), ("env", 1));
/// assert_eq!(from.version.as_deref(), Some("1"));
/// # })
/// ```
#[derive(Clone)]
pub struct ChainProvider {
    sources: Vec<Source>,
    fallthrough: Vec<ErrorKind>,
}

impl fmt::Debug for ChainProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainProvider")
            .field(
                "sources",
                &self.sources.iter().map(|s| &*s.label).collect::<Vec<_>>(),
            )
            .field("fallthrough", &self.fallthrough)
            .finish()
    }
}

impl ChainProvider {
    /// A chain of `providers`, tried in order, each labelled with its provider name.
    pub fn new(providers: Vec<DynProvider>) -> Self {
        ChainProvider {
            sources: providers
                .into_iter()
                .map(|provider| Source {
                    label: Cow::Borrowed(provider.provider_name()),
                    provider,
                })
                .collect(),
            fallthrough: vec![ErrorKind::NotFound],
        }
    }

    /// Appends a source with a label of your choice (useful when two sources share a
    /// provider type).
    #[must_use]
    pub fn with_source(
        mut self,
        label: impl Into<Cow<'static, str>>,
        provider: impl SecretProvider + 'static,
    ) -> Self {
        self.sources.push(Source {
            label: label.into(),
            provider: Arc::new(provider),
        });
        self
    }

    /// Also moves on to the next source on errors of `kind` (for example
    /// [`ErrorKind::InvalidName`], when one source cannot represent some names).
    #[must_use]
    pub fn falling_through_on(mut self, kind: ErrorKind) -> Self {
        if !self.fallthrough.contains(&kind) {
            self.fallthrough.push(kind);
        }
        self
    }

    /// The sources' labels, in order.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|s| &*s.label)
    }

    /// Reads `name` and says which source answered.
    pub async fn get_with_provenance(
        &self,
        name: &str,
        version: &VersionSelector,
    ) -> Result<(Secret, Provenance)> {
        let mut misses = Vec::new();
        for (index, source) in self.sources.iter().enumerate() {
            match source.provider.get(name, version).await {
                Ok(secret) => {
                    let provenance = Provenance {
                        source: source.label.to_string(),
                        index,
                        version: secret.version_id().map(str::to_string),
                    };
                    tracing::debug!(
                        secret = name,
                        source = %provenance.source,
                        index,
                        version = provenance.version.as_deref().unwrap_or("-"),
                        "secret resolved by chain"
                    );
                    return Ok((secret, provenance));
                }
                Err(err) if self.fallthrough.contains(&err.kind()) => {
                    tracing::trace!(secret = name, source = %source.label, kind = %err.kind(), "chain source missed");
                    misses.push(format!(
                        "{}: {}",
                        source.label,
                        err.message().unwrap_or(err.kind().as_str())
                    ));
                }
                Err(err) => {
                    tracing::debug!(
                        secret = name,
                        source = %source.label,
                        kind = %err.kind(),
                        "chain stopped by an error"
                    );
                    return Err(err);
                }
            }
        }
        Err(self.all_missed(name, misses))
    }

    fn all_missed(&self, name: &str, misses: Vec<String>) -> Error {
        let message = if misses.is_empty() {
            "the chain has no sources".to_string()
        } else {
            format!("not found in any source ({})", misses.join("; "))
        };
        Error::new(ErrorKind::NotFound, PROVIDER)
            .with_secret(name)
            .with_message(message)
    }
}

#[async_trait]
impl SecretProvider for ChainProvider {
    /// Shuts every source down, in order; returns the first error after trying them all.
    async fn shutdown(&self) -> Result<()> {
        let mut first = None;
        for source in &self.sources {
            if let Err(err) = source.provider.shutdown().await {
                first.get_or_insert(err);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        let all_probe = !self.sources.is_empty()
            && self
                .sources
                .iter()
                .all(|s| s.provider.capabilities().version_probe);
        if all_probe {
            Capabilities::NONE.with_version_probe()
        } else {
            Capabilities::NONE
        }
    }

    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        self.get_with_provenance(name, version)
            .await
            .map(|(secret, _)| secret)
    }

    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        let mut misses = Vec::new();
        for source in &self.sources {
            match source.provider.current_version(name).await {
                Ok(info) => return Ok(info),
                Err(err) if self.fallthrough.contains(&err.kind()) => misses.push(format!(
                    "{}: {}",
                    source.label,
                    err.message().unwrap_or(err.kind().as_str())
                )),
                Err(err) => return Err(err),
            }
        }
        Err(self.all_missed(name, misses))
    }
}
