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

/// The environment variable naming the provider: `env` (the default), `aws`, ...
pub const ENV_PROVIDER: &str = "SECRETS_PROVIDER";
/// The environment variable naming the `.env` file the `env` provider reads (default `.env`).
pub const ENV_DOTENV: &str = "SECRETS_DOTENV";
/// The environment variable holding a prefix for the `env` provider's variable names.
pub const ENV_PREFIX: &str = "SECRETS_ENV_PREFIX";
/// The environment variable limiting a bundle's size in bytes (default 65536).
pub const ENV_MAX_BUNDLE_BYTES: &str = "SECRETS_MAX_BUNDLE_BYTES";

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
}

impl ProviderKind {
    /// Parses a `SECRETS_PROVIDER` value.
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "env" | "dotenv" => Ok(ProviderKind::Env),
            "aws" | "aws-secrets-manager" => Ok(ProviderKind::Aws),
            other => Err(
                Error::new(ErrorKind::InvalidConfig, "secrets").with_message(format!(
                    "{ENV_PROVIDER}={other:?} is not a known provider (known: env, aws)"
                )),
            ),
        }
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
    max_bundle_bytes: usize,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("provider", &self.inner.provider)
            .field("max_bundle_bytes", &self.inner.max_bundle_bytes)
            .finish()
    }
}

static GLOBAL: OnceCell<Secrets> = OnceCell::const_new();

impl Secrets {
    /// A client over `provider` with default settings.
    pub fn new(provider: impl SecretProvider + 'static) -> Self {
        Secrets {
            inner: Arc::new(ClientInner {
                provider: Arc::new(provider),
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

    /// The provider under this client.
    pub fn provider(&self) -> &DynProvider {
        &self.inner.provider
    }

    /// Reads the latest version of a secret.
    pub async fn get(&self, name: &str) -> Result<Arc<Secret>> {
        self.get_version(name, &VersionSelector::Latest).await
    }

    /// Reads one version of a secret.
    pub async fn get_version(&self, name: &str, version: &VersionSelector) -> Result<Arc<Secret>> {
        self.inner.provider.get(name, version).await.map(Arc::new)
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

    /// Reads several bundles with the provider's batch get (one `BatchGetSecretValue` for up
    /// to 20 names on AWS). The answer is in the order of `names`.
    pub async fn bundles(&self, names: &[&str]) -> Vec<Result<SecretBundle>> {
        let provider = self.inner.provider.provider_name();
        self.inner
            .provider
            .get_many(names)
            .await
            .into_iter()
            .map(|r| {
                r.and_then(|s| {
                    SecretBundle::from_secret(provider, Arc::new(s), self.inner.max_bundle_bytes)
                })
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
/// | `SECRETS_PROVIDER` | `env` or `aws` |
/// | `SECRETS_DOTENV` | the `.env` file of the `env` provider (default `.env`, if present) |
/// | `SECRETS_ENV_PREFIX` | a prefix for the `env` provider's variable names |
/// | `SECRETS_MAX_BUNDLE_BYTES` | the largest bundle decoded (default 65536) |
///
/// Each cloud provider reads its own usual variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...).
#[derive(Default)]
pub struct SecretsBuilder {
    provider: Option<DynProvider>,
    default_provider: Option<DynProvider>,
    max_bundle_bytes: Option<usize>,
    ignore_env: bool,
}

impl fmt::Debug for SecretsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsBuilder")
            .field("provider", &self.provider)
            .field("default_provider", &self.default_provider)
            .field("max_bundle_bytes", &self.max_bundle_bytes)
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
        tracing::debug!(provider = provider.provider_name(), "secrets client ready");
        Ok(Secrets {
            inner: Arc::new(ClientInner {
                provider,
                max_bundle_bytes,
            }),
        })
    }

    async fn provider_of(&self, kind: ProviderKind) -> Result<DynProvider> {
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
        }
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

#[allow(dead_code)]
fn missing_feature(feature: &str) -> Error {
    Error::new(ErrorKind::InvalidConfig, "secrets").with_message(format!(
        "{ENV_PROVIDER}={feature} needs the `{feature}` feature of the `secrets` crate"
    ))
}
