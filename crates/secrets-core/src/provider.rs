//! The provider trait every store implements.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, ErrorKind, Result};
use crate::value::{Secret, VersionInfo, VersionSelector};

/// What a provider can do beyond [`SecretProvider::get`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`SecretProvider::current_version`] is a cheap call that does not fetch the value.
    pub version_probe: bool,
    /// [`SecretProvider::get_many`] fetches several secrets in fewer calls than one each.
    pub batch_get: bool,
    /// The provider can read versions other than the latest.
    pub versions: bool,
}

impl Capabilities {
    /// No capabilities beyond `get`.
    pub const NONE: Capabilities = Capabilities {
        version_probe: false,
        batch_get: false,
        versions: false,
    };

    /// Declares a cheap version probe.
    #[must_use]
    pub const fn with_version_probe(mut self) -> Self {
        self.version_probe = true;
        self
    }

    /// Declares a real batch get.
    #[must_use]
    pub const fn with_batch_get(mut self) -> Self {
        self.batch_get = true;
        self
    }

    /// Declares access to non-latest versions.
    #[must_use]
    pub const fn with_versions(mut self) -> Self {
        self.versions = true;
        self
    }
}

/// A secret store.
///
/// Implementors write plain `async fn` under `#[async_trait]`; callers use a provider
/// generically or as `Arc<dyn SecretProvider>`. Providers know nothing of caching: the
/// facade's cache sits above them.
///
/// ```
/// use std::sync::Arc;
/// use secrets_core::{MemoryProvider, SecretProvider, VersionSelector};
///
/// # tokio_test();
/// # fn tokio_test() { tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let memory = MemoryProvider::new();
/// memory.put("cgi-chat/api-key", "k-123");
/// let provider: Arc<dyn SecretProvider> = Arc::new(memory);
/// let secret = provider.get("cgi-chat/api-key", &VersionSelector::Latest).await.unwrap();
/// assert_eq!(secret.value().expose_text().unwrap(), "k-123");
/// # }) }
/// ```
#[async_trait]
pub trait SecretProvider: Send + Sync + fmt::Debug {
    /// A short name for errors, logs and metrics, such as `"aws"` or `"env"`.
    fn provider_name(&self) -> &'static str;

    /// What this provider can do beyond `get`.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    /// Reads one secret.
    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret>;

    /// Says which version is current without fetching the value (AWS DescribeSecret, GCP
    /// version metadata, Key Vault properties, KV v2 metadata).
    ///
    /// The default is an [`ErrorKind::Unsupported`] error; the cache then refetches instead.
    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        Err(Error::new(ErrorKind::Unsupported, self.provider_name())
            .with_secret(name)
            .with_message("this provider has no version probe"))
    }

    /// Reads the latest version of several secrets. The answer has one entry per name, in the
    /// same order; a missing name is a [`ErrorKind::NotFound`] entry, not a failure of the
    /// whole call.
    ///
    /// The default calls [`get`](Self::get) for each name in turn.
    async fn get_many(&self, names: &[&str]) -> Vec<Result<Secret>> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            out.push(self.get(name, &VersionSelector::Latest).await);
        }
        out
    }

    /// Releases what the provider holds in the store before the process exits: Vault revokes
    /// its dynamic database leases and its AppRole token. Reads after a shutdown may fail.
    ///
    /// The default does nothing.
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
}

macro_rules! forward {
    ($ty:ty) => {
        #[async_trait]
        impl<T: SecretProvider + ?Sized> SecretProvider for $ty {
            fn provider_name(&self) -> &'static str {
                (**self).provider_name()
            }
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
            async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
                (**self).get(name, version).await
            }
            async fn current_version(&self, name: &str) -> Result<VersionInfo> {
                (**self).current_version(name).await
            }
            async fn get_many(&self, names: &[&str]) -> Vec<Result<Secret>> {
                (**self).get_many(names).await
            }
            async fn shutdown(&self) -> Result<()> {
                (**self).shutdown().await
            }
        }
    };
}

forward!(Arc<T>);
forward!(Box<T>);

/// A shared, type-erased provider.
pub type DynProvider = Arc<dyn SecretProvider>;
