//! The client: which provider, and how values become typed bundles.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use secrets_core::{
    DynProvider, EnvProvider, Error, ErrorKind, Result, Secret, SecretProvider, VersionSelector,
};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use crate::bundle::SecretBundle;
use crate::cache::{CacheConfig, SecretCache};
use crate::watch::Watch;

/// The environment variable naming the provider: `env` (the default), `aws`, ...
pub const ENV_PROVIDER: &str = "SECRETS_PROVIDER";
/// The environment variable naming the `.env` file the `env` provider reads (default `.env`).
pub const ENV_DOTENV: &str = "SECRETS_DOTENV";
/// The environment variable holding a prefix for the `env` provider's variable names.
pub const ENV_PREFIX: &str = "SECRETS_ENV_PREFIX";
/// The environment variable limiting a bundle's size in bytes (default 65536).
pub const ENV_MAX_BUNDLE_BYTES: &str = "SECRETS_MAX_BUNDLE_BYTES";

/// `SECRETS_FOLDER`: the folder the `folder` provider reads (default `/run/secrets`).
pub const ENV_FOLDER: &str = "SECRETS_FOLDER";
/// `SECRETS_KEYRING_SERVICE`: the keyring service for plain names (default: from the name).
pub const ENV_KEYRING_SERVICE: &str = "SECRETS_KEYRING_SERVICE";
/// `SECRETS_ENCRYPTED_DIR`: the folder holding `config.enc.yaml` and `.config.key` (default `.`).
pub const ENV_ENCRYPTED_DIR: &str = "SECRETS_ENCRYPTED_DIR";
/// `SECRETS_ENCRYPTED_FORMAT`: `fernet` (default: `config.enc.yaml` + `.config.key`) or `age`
/// (`config.age.yaml` + `.config.agekey`).
pub const ENV_ENCRYPTED_FORMAT: &str = "SECRETS_ENCRYPTED_FORMAT";
/// `SECRETS_CHAIN`: the kinds a `chain` provider tries in order, such as `keyring,dotenv`.
pub const ENV_CHAIN: &str = "SECRETS_CHAIN";
/// `SECRETS_STRICT_PERMISSIONS`: `1` refuses secret files readable by group or others.
pub const ENV_STRICT_PERMISSIONS: &str = "SECRETS_STRICT_PERMISSIONS";

/// The default limit on a bundle's size: 64 KiB, the largest value AWS and GCP store.
pub const DEFAULT_MAX_BUNDLE_BYTES: usize = 64 * 1024;

/// The providers a name in `SECRETS_PROVIDER` can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderKind {
    /// Environment variables and a `.env` file ([`EnvProvider`]).
    Env,
    /// AWS Secrets Manager (feature `aws`).
    Aws,
    /// Google Cloud Secret Manager (feature `gcp`).
    Gcp,
    /// Azure Key Vault (feature `azure`).
    Azure,
    /// HashiCorp Vault or OpenBao (feature `vault`).
    Vault,
    /// `.env` with the `*_FILE` convention and permission checks (feature `local`).
    Dotenv,
    /// A folder of one file per key: Docker secrets, a Kubernetes volume (feature `local`).
    Folder,
    /// The OS keyring (feature `local`).
    Keyring,
    /// A Fernet-encrypted YAML file (feature `local`).
    Encrypted,
    /// An ordered fallback over the kinds in `SECRETS_CHAIN` (feature `local`).
    Chain,
}

impl ProviderKind {
    /// Parses a `SECRETS_PROVIDER` value.
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "env" => Ok(ProviderKind::Env),
            "aws" | "aws-secrets-manager" => Ok(ProviderKind::Aws),
            "gcp" | "google" | "google-secret-manager" => Ok(ProviderKind::Gcp),
            "azure" | "azure-key-vault" | "keyvault" => Ok(ProviderKind::Azure),
            "vault" | "openbao" => Ok(ProviderKind::Vault),
            "dotenv" => Ok(ProviderKind::Dotenv),
            "folder" | "files" | "docker" | "kubernetes" => Ok(ProviderKind::Folder),
            "keyring" => Ok(ProviderKind::Keyring),
            "encrypted" | "fernet" => Ok(ProviderKind::Encrypted),
            "chain" => Ok(ProviderKind::Chain),
            other => Err(
                Error::new(ErrorKind::InvalidConfig, "secrets").with_message(format!(
                    "{ENV_PROVIDER}={other:?} is not a known provider (known: {KNOWN})"
                )),
            ),
        }
    }
}

/// Every value `SECRETS_PROVIDER` accepts.
const KNOWN: &str = "env, aws, gcp, azure, vault, dotenv, folder, keyring, encrypted, chain";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_kinds_parse() {
        for (text, kind) in [
            ("env", ProviderKind::Env),
            ("AWS", ProviderKind::Aws),
            (" gcp ", ProviderKind::Gcp),
            ("dotenv", ProviderKind::Dotenv),
            ("kubernetes", ProviderKind::Folder),
            ("keyring", ProviderKind::Keyring),
            ("fernet", ProviderKind::Encrypted),
            ("chain", ProviderKind::Chain),
        ] {
            assert_eq!(ProviderKind::parse(text).unwrap(), kind, "{text}");
        }
        let err = ProviderKind::parse("azure-ish").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains("known: env, aws"), "{err}");
    }

    #[tokio::test]
    async fn a_provider_whose_feature_is_off_says_so() {
        // The builder's own view of the environment is bypassed by naming the kind directly.
        let builder = SecretsBuilder::default().ignore_env();
        #[cfg(not(feature = "aws"))]
        {
            let err = builder.provider_of(ProviderKind::Aws).await.unwrap_err();
            assert!(err.to_string().contains("`aws` feature"), "{err}");
        }
        #[cfg(feature = "local")]
        {
            let err = builder.provider_of(ProviderKind::Chain).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidConfig,
                "a chain needs SECRETS_CHAIN"
            );
        }
        let _ = builder;
    }
}

/// Reads secrets through one provider and decodes them.
///
/// Cheap to clone. Build one with [`Secrets::builder`], [`Secrets::from_env`] or
/// [`Secrets::new`]; or let [`SecretBundle::load`] use the process-wide one.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use secrets::{DatabaseConfig, Secrets};
/// use secrets_core::MemoryProvider;
///
/// let memory = MemoryProvider::new();
/// memory.put("cgi-chat/database", r#"{"host":"db","port":5432,"username":"app","password":"pw"}"#);
/// let secrets = Secrets::new(memory);
/// let db: DatabaseConfig = secrets.load("cgi-chat/database").await.unwrap();
/// assert_eq!(db.host, "db");
/// # })
/// ```
#[derive(Clone)]
pub struct Secrets {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    provider: DynProvider,
    cache: Option<SecretCache>,
    max_bundle_bytes: usize,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("provider", &self.inner.provider)
            .field("cache", &self.inner.cache.as_ref().map(SecretCache::config))
            .field("max_bundle_bytes", &self.inner.max_bundle_bytes)
            .finish()
    }
}

static GLOBAL: OnceCell<Secrets> = OnceCell::const_new();

impl Secrets {
    /// A client over `provider` with the default cache and settings (no environment read).
    pub fn new(provider: impl SecretProvider + 'static) -> Self {
        let provider: DynProvider = Arc::new(provider);
        Secrets {
            inner: Arc::new(ClientInner {
                cache: Some(SecretCache::from_dyn(
                    provider.clone(),
                    CacheConfig::default(),
                )),
                provider,
                max_bundle_bytes: DEFAULT_MAX_BUNDLE_BYTES,
            }),
        }
    }

    /// A builder.
    pub fn builder() -> SecretsBuilder {
        SecretsBuilder::default()
    }

    /// A client configured from the environment (see [`SecretsBuilder::build`]).
    pub async fn from_env() -> Result<Self> {
        Self::builder().build().await
    }

    /// Makes this client the one [`SecretBundle::load`] uses. Fails when a process-wide client
    /// is already set (installed, or created by an earlier `load`).
    pub fn install_global(self) -> Result<()> {
        GLOBAL.set(self).map_err(|_| {
            Error::new(ErrorKind::InvalidConfig, "secrets")
                .with_message("a process-wide Secrets client is already set")
        })
    }

    /// The process-wide client: the installed one, or else one built once from the
    /// environment.
    pub async fn global() -> Result<&'static Secrets> {
        GLOBAL.get_or_try_init(Secrets::from_env).await
    }

    /// The provider under this client (under the cache, when there is one).
    pub fn provider(&self) -> &DynProvider {
        &self.inner.provider
    }

    /// The cache, unless it was turned off.
    pub fn cache(&self) -> Option<&SecretCache> {
        self.inner.cache.as_ref()
    }

    /// Reads the latest version of a secret (from the cache when it is fresh).
    pub async fn get(&self, name: &str) -> Result<Arc<Secret>> {
        match &self.inner.cache {
            Some(cache) => cache.get(name).await,
            None => self.get_uncached(name, &VersionSelector::Latest).await,
        }
    }

    /// Reads one version of a secret.
    pub async fn get_version(&self, name: &str, version: &VersionSelector) -> Result<Arc<Secret>> {
        match &self.inner.cache {
            Some(cache) => cache.get_version(name, version).await,
            None => self.get_uncached(name, version).await,
        }
    }

    async fn get_uncached(&self, name: &str, version: &VersionSelector) -> Result<Arc<Secret>> {
        let span = tracing::debug_span!(
            "secrets.fetch",
            provider = self.inner.provider.provider_name(),
            secret = name,
            version = %version,
        );
        tracing::Instrument::instrument(self.inner.provider.get(name, version), span)
            .await
            .map(Arc::new)
    }

    /// Releases what the provider holds in the store (Vault revokes its dynamic database
    /// leases). Call it on graceful shutdown; reads afterwards may fail.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.provider.shutdown().await
    }

    /// Forgets the cached values of `name`; the next read goes to the store.
    pub fn invalidate(&self, name: &str) {
        if let Some(cache) = &self.inner.cache {
            cache.invalidate(name);
        }
    }

    /// Reads `name` from the store now, updating the cache and its watchers.
    pub async fn refresh_now(&self, name: &str) -> Result<Arc<Secret>> {
        match &self.inner.cache {
            Some(cache) => cache.refresh_now(name).await,
            None => self.get_uncached(name, &VersionSelector::Latest).await,
        }
    }

    /// Watches a bundle decoded into `T`: the current config now, and a new one each time a
    /// refresh finds a new version (decoded once per version). A version that does not decode
    /// is logged (without its value) and skipped; the previous config stays. Needs the cache.
    pub async fn watch<T>(&self, name: &str) -> Result<Watch<T>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let cache = self.inner.cache.as_ref().ok_or_else(|| {
            Error::new(ErrorKind::InvalidConfig, "secrets")
                .with_secret(name)
                .with_message("watching needs the cache, which is turned off")
        })?;
        let raw = cache.watch(name).await?;
        Watch::start(
            self.inner.provider.provider_name(),
            name,
            raw,
            self.inner.max_bundle_bytes,
        )
    }

    /// Reads a secret as a JSON bundle.
    pub async fn bundle(&self, name: &str) -> Result<SecretBundle> {
        let secret = self.get(name).await?;
        SecretBundle::from_secret(
            self.inner.provider.provider_name(),
            secret,
            self.inner.max_bundle_bytes,
        )
    }

    /// Reads the latest version of several secrets with the provider's batch get (one
    /// `BatchGetSecretValue` for up to 20 names on AWS), through the cache. The answer is in
    /// the order of `names`; a missing name fails alone.
    pub async fn get_many(&self, names: &[&str]) -> Vec<Result<Arc<Secret>>> {
        match &self.inner.cache {
            Some(cache) => cache.get_many(names).await,
            None => self
                .inner
                .provider
                .get_many(names)
                .await
                .into_iter()
                .map(|r| r.map(Arc::new))
                .collect(),
        }
    }

    /// Reads several bundles with the provider's batch get (one `BatchGetSecretValue` for up
    /// to 20 names on AWS). The answer is in the order of `names`.
    pub async fn bundles(&self, names: &[&str]) -> Vec<Result<SecretBundle>> {
        let provider = self.inner.provider.provider_name();
        let secrets = self.get_many(names).await;
        secrets
            .into_iter()
            .map(|r| {
                r.and_then(|s| SecretBundle::from_secret(provider, s, self.inner.max_bundle_bytes))
            })
            .collect()
    }

    /// Reads a bundle and decodes it into `T`.
    pub async fn load<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        self.bundle(name).await?.decode()
    }
}

/// Configures a [`Secrets`] client.
///
/// The provider is chosen, in order: the one passed to [`with_provider`](Self::with_provider);
/// else the one `SECRETS_PROVIDER` names; else the one passed to
/// [`with_default_provider`](Self::with_default_provider); else the `env` provider. This is
/// the 12-factor shape: code states a default, the deployment's environment overrides it.
///
/// | variable | meaning |
/// |---|---|
/// | `SECRETS_PROVIDER` | `env`, `aws`, `gcp`, `azure`, `vault`; with `local`: `dotenv`, `folder`, `keyring`, `encrypted`, `chain` |
/// | `SECRETS_FOLDER`, `SECRETS_KEYRING_SERVICE`, `SECRETS_ENCRYPTED_DIR`, `SECRETS_ENCRYPTED_FORMAT`, `SECRETS_CHAIN`, `SECRETS_STRICT_PERMISSIONS` | settings of the local providers |
/// | `SECRETS_DOTENV` | the `.env` file of the `env` provider (default `.env`, if present) |
/// | `SECRETS_ENV_PREFIX` | a prefix for the `env` provider's variable names |
/// | `SECRETS_MAX_BUNDLE_BYTES` | the largest bundle decoded (default 65536) |
/// | `SECRETS_CACHE` | `off` turns the cache off |
/// | `SECRETS_CACHE_TTL`, `SECRETS_CACHE_MAX_STALE`, `SECRETS_CACHE_REFRESH_AHEAD` | durations such as `5m` |
/// | `SECRETS_CACHE_JITTER`, `SECRETS_CACHE_MAX_ENTRIES` | the TTL spread (0.1) and the entry bound (1024) |
///
/// Each cloud provider reads its own usual variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...).
#[derive(Default)]
pub struct SecretsBuilder {
    provider: Option<DynProvider>,
    default_provider: Option<DynProvider>,
    max_bundle_bytes: Option<usize>,
    cache: Option<Option<CacheConfig>>,
    ignore_env: bool,
}

impl fmt::Debug for SecretsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsBuilder")
            .field("provider", &self.provider)
            .field("default_provider", &self.default_provider)
            .field("max_bundle_bytes", &self.max_bundle_bytes)
            .field("cache", &self.cache)
            .field("ignore_env", &self.ignore_env)
            .finish()
    }
}

impl SecretsBuilder {
    /// Uses `provider`, whatever the environment says.
    #[must_use]
    pub fn with_provider(mut self, provider: impl SecretProvider + 'static) -> Self {
        self.provider = Some(Arc::new(provider));
        self
    }

    /// Uses `provider` when `SECRETS_PROVIDER` is not set.
    #[must_use]
    pub fn with_default_provider(mut self, provider: impl SecretProvider + 'static) -> Self {
        self.default_provider = Some(Arc::new(provider));
        self
    }

    /// Limits the size of a decoded bundle.
    #[must_use]
    pub fn with_max_bundle_bytes(mut self, bytes: usize) -> Self {
        self.max_bundle_bytes = Some(bytes);
        self
    }

    /// Caches with `config` (instead of the `SECRETS_CACHE_*` variables over the defaults).
    #[must_use]
    pub fn with_cache(mut self, config: CacheConfig) -> Self {
        self.cache = Some(Some(config));
        self
    }

    /// Turns the cache off: every read goes to the store.
    #[must_use]
    pub fn without_cache(mut self) -> Self {
        self.cache = Some(None);
        self
    }

    /// Ignores every `SECRETS_*` variable (tests that must not depend on the environment).
    #[must_use]
    pub fn ignore_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    fn env(&self, name: &str) -> Result<Option<String>> {
        if self.ignore_env {
            return Ok(None);
        }
        match std::env::var(name) {
            Ok(v) if v.trim().is_empty() => Ok(None),
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::new(ErrorKind::InvalidConfig, "secrets")
                    .with_message(format!("{name} is not valid UTF-8")))
            }
        }
    }

    /// Builds the client, creating the provider the environment names when needed.
    pub async fn build(self) -> Result<Secrets> {
        let max_bundle_bytes = match (self.max_bundle_bytes, self.env(ENV_MAX_BUNDLE_BYTES)?) {
            (Some(n), _) => n,
            (None, Some(v)) => v.trim().parse().map_err(|_| {
                Error::new(ErrorKind::InvalidConfig, "secrets")
                    .with_message(format!("{ENV_MAX_BUNDLE_BYTES} must be a whole number"))
            })?,
            (None, None) => DEFAULT_MAX_BUNDLE_BYTES,
        };
        let provider = match (&self.provider, self.env(ENV_PROVIDER)?) {
            (Some(p), _) => p.clone(),
            (None, Some(kind)) => self.provider_of(ProviderKind::parse(&kind)?).await?,
            (None, None) => match &self.default_provider {
                Some(p) => p.clone(),
                None => self.provider_of(ProviderKind::Env).await?,
            },
        };
        let cache_config = match self.cache {
            Some(explicit) => explicit,
            None if self.ignore_env => Some(CacheConfig::default()),
            None => CacheConfig::from_env()?,
        };
        if let Some(config) = &cache_config {
            config.validate()?;
        }
        let cache = cache_config.map(|c| SecretCache::from_dyn(provider.clone(), c));
        tracing::debug!(
            provider = provider.provider_name(),
            cached = cache.is_some(),
            "secrets client ready"
        );
        Ok(Secrets {
            inner: Arc::new(ClientInner {
                provider,
                cache,
                max_bundle_bytes,
            }),
        })
    }

    fn provider_of(
        &self,
        kind: ProviderKind,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<DynProvider>> + Send + '_>> {
        Box::pin(self.provider_of_inner(kind))
    }

    async fn provider_of_inner(&self, kind: ProviderKind) -> Result<DynProvider> {
        match kind {
            ProviderKind::Env => {
                let mut env = EnvProvider::new();
                if let Some(prefix) = self.env(ENV_PREFIX)? {
                    env = env.with_prefix(prefix);
                }
                let dotenv = self
                    .env(ENV_DOTENV)?
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(".env"));
                Ok(Arc::new(env.with_dotenv(dotenv)))
            }
            ProviderKind::Aws => aws_provider().await,
            ProviderKind::Gcp => gcp_provider().await,
            ProviderKind::Azure => azure_provider().await,
            ProviderKind::Vault => vault_provider().await,
            #[cfg(feature = "local")]
            ProviderKind::Dotenv => {
                let mut p = secrets_local::DotenvProvider::new().with_dotenv(
                    self.env(ENV_DOTENV)?
                        .unwrap_or_else(|| String::from(".env")),
                );
                if let Some(prefix) = self.env(ENV_PREFIX)? {
                    p = p.with_prefix(prefix);
                }
                if self.strict_permissions()? {
                    p = p.strict();
                }
                Ok(Arc::new(p))
            }
            #[cfg(feature = "local")]
            ProviderKind::Folder => {
                let root = self
                    .env(ENV_FOLDER)?
                    .unwrap_or_else(|| String::from("/run/secrets"));
                let mut p = secrets_local::FolderProvider::new(root);
                if self.strict_permissions()? {
                    p = p.strict();
                }
                Ok(Arc::new(p))
            }
            #[cfg(feature = "local")]
            ProviderKind::Keyring => Ok(match self.env(ENV_KEYRING_SERVICE)? {
                Some(service) => Arc::new(secrets_local::KeyringProvider::for_service(service)),
                None => Arc::new(secrets_local::KeyringProvider::new()),
            }),
            #[cfg(feature = "local")]
            ProviderKind::Encrypted => {
                let dir = self
                    .env(ENV_ENCRYPTED_DIR)?
                    .unwrap_or_else(|| String::from("."));
                match self.env(ENV_ENCRYPTED_FORMAT)?.as_deref().map(str::trim) {
                    None | Some("fernet") => {
                        Ok(Arc::new(secrets_local::EncryptedYamlProvider::in_dir(dir)))
                    }
                    Some("age") => Ok(Arc::new(secrets_local::EncryptedYamlProvider::age_in_dir(
                        dir,
                    ))),
                    Some(other) => Err(Error::new(ErrorKind::InvalidConfig, "secrets")
                        .with_message(format!(
                            "{ENV_ENCRYPTED_FORMAT}={other:?}: expected fernet or age"
                        ))),
                }
            }
            #[cfg(feature = "local")]
            ProviderKind::Chain => {
                let list = self.env(ENV_CHAIN)?.ok_or_else(|| {
                    Error::new(ErrorKind::InvalidConfig, "secrets").with_message(format!(
                        "{ENV_PROVIDER}=chain needs {ENV_CHAIN}, such as keyring,dotenv"
                    ))
                })?;
                let mut chain = secrets_local::ChainProvider::new(Vec::new());
                for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let kind = ProviderKind::parse(item)?;
                    if kind == ProviderKind::Chain {
                        return Err(Error::new(ErrorKind::InvalidConfig, "secrets")
                            .with_message(format!("{ENV_CHAIN} cannot contain chain")));
                    }
                    chain = chain.with_source(item.to_string(), self.provider_of(kind).await?);
                }
                Ok(Arc::new(chain))
            }
            #[cfg(not(feature = "local"))]
            ProviderKind::Dotenv
            | ProviderKind::Folder
            | ProviderKind::Keyring
            | ProviderKind::Encrypted
            | ProviderKind::Chain => Err(missing_feature("local")),
        }
    }

    #[cfg(feature = "local")]
    fn strict_permissions(&self) -> Result<bool> {
        Ok(matches!(
            self.env(ENV_STRICT_PERMISSIONS)?.as_deref().map(str::trim),
            Some("1" | "true" | "yes" | "on")
        ))
    }
}

#[cfg(feature = "aws")]
async fn aws_provider() -> Result<DynProvider> {
    Ok(Arc::new(secrets_aws::AwsProvider::from_env().await?))
}

#[cfg(not(feature = "aws"))]
async fn aws_provider() -> Result<DynProvider> {
    Err(missing_feature("aws"))
}

#[cfg(feature = "gcp")]
async fn gcp_provider() -> Result<DynProvider> {
    Ok(Arc::new(secrets_gcp::GcpProvider::from_env().await?))
}

#[cfg(not(feature = "gcp"))]
async fn gcp_provider() -> Result<DynProvider> {
    Err(missing_feature("gcp"))
}

#[cfg(feature = "azure")]
async fn azure_provider() -> Result<DynProvider> {
    Ok(Arc::new(secrets_azure::AzureProvider::from_env().await?))
}

#[cfg(not(feature = "azure"))]
async fn azure_provider() -> Result<DynProvider> {
    Err(missing_feature("azure"))
}

#[cfg(feature = "vault")]
async fn vault_provider() -> Result<DynProvider> {
    Ok(Arc::new(secrets_vault::VaultProvider::from_env().await?))
}

#[cfg(not(feature = "vault"))]
async fn vault_provider() -> Result<DynProvider> {
    Err(missing_feature("vault"))
}

#[allow(dead_code)]
fn missing_feature(feature: &str) -> Error {
    Error::new(ErrorKind::InvalidConfig, "secrets").with_message(format!(
        "{ENV_PROVIDER}={feature} needs the `{feature}` feature of the `secrets` crate"
    ))
}
