//! [`AzureProvider`]: the [`SecretProvider`] for Azure Key Vault.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use azure_core::time::OffsetDateTime;
use azure_security_keyvault_secrets::models::{
    Secret as KvSecret, SecretAttributes, SecretClientGetSecretOptions,
    SecretClientListSecretPropertiesVersionsOptions, SecretProperties,
};
use azure_security_keyvault_secrets::{ResourceExt, SecretClient};
use futures::StreamExt;
use secrets_core::{
    Capabilities, Error, ErrorKind, Result, Secret, SecretProvider, SecretValue, VersionInfo,
    VersionSelector, async_trait,
};

use crate::PROVIDER;
use crate::builder::AzureProviderBuilder;
use crate::errors::map_azure_error;
use crate::names::{check_version_id, to_vault_name};
use crate::retry::{RetryConfig, retrying};

/// Versions per page when listing (the service's maximum).
const PAGE_SIZE: i32 = 25;

/// How many secrets [`SecretProvider::get_many`] reads at once.
const GET_MANY_CONCURRENCY: usize = 8;

/// Reads secrets from one Azure Key Vault.
///
/// Cheap to clone: clones share one SDK client (and its cached token).
///
/// - [`get`](SecretProvider::get) reads the latest version, or one version by
///   [`VersionSelector::Id`]; Key Vault has no stages, so [`VersionSelector::Stage`] is
///   [`ErrorKind::Unsupported`]. A disabled version, an expired one (`exp` in the past) and a
///   not-yet-valid one (`nbf` in the future) are each an [`ErrorKind::Disabled`] error with its
///   own message: Key Vault itself still serves expired and not-yet-valid versions, this
///   provider does not.
/// - [`current_version`](SecretProvider::current_version) lists the secret's versions
///   (properties only, never values) and names the newest, as described in the
///   [crate docs](crate#the-version-probe).
/// - Names are mapped with [`to_vault_name`](crate::to_vault_name): `cgi-chat/database` is the
///   Key Vault secret `cgi-chat--database`.
///
/// ```no_run
/// # async fn run() -> Result<(), secrets_core::Error> {
/// use secrets_azure::AzureProvider;
/// use secrets_core::{SecretProvider, VersionSelector};
///
/// let azure = AzureProvider::from_env().await?; // AZURE_KEYVAULT_URL
/// let secret = azure.get("cgi-chat/database", &VersionSelector::Latest).await?;
/// let version = azure.current_version("cgi-chat/database").await?;
/// assert_eq!(secret.version_id(), version.version_id.as_deref());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AzureProvider {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: SecretClient,
    pub(crate) vault_url: String,
    pub(crate) credential_source: String,
    pub(crate) retry: RetryConfig,
    pub(crate) attempt_timeout: Duration,
    /// Set once listing versions was refused while reading the secret was allowed: the
    /// probe then reads the secret instead (see the crate docs).
    pub(crate) probe_by_get: AtomicBool,
}

impl fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names where the credential comes from, never the credential itself.
        let i = &self.inner;
        f.debug_struct("AzureProvider")
            .field("vault_url", &i.vault_url)
            .field("credential", &i.credential_source)
            .field("retry", &i.retry)
            .field("attempt_timeout", &i.attempt_timeout)
            .field("probe_by_get", &i.probe_by_get.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl AzureProvider {
    /// A builder.
    pub fn builder() -> AzureProviderBuilder {
        AzureProviderBuilder::default()
    }

    /// A provider configured from the environment: `AZURE_KEYVAULT_URL`, and optionally
    /// `AZURE_KEYVAULT_CREDENTIAL` and `AZURE_KEYVAULT_CA_FILE` (see the [crate docs](crate)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`], as [`AzureProviderBuilder::build`].
    pub async fn from_env() -> Result<Self> {
        Self::builder().build().await
    }

    /// The vault's URL, without a trailing `/`.
    pub fn vault_url(&self) -> &str {
        &self.inner.vault_url
    }

    /// The SDK client, for operations this crate does not wrap (setting, disabling or
    /// deleting secrets). Its names are Key Vault names: map them with
    /// [`to_vault_name`](crate::to_vault_name).
    pub fn client(&self) -> &SecretClient {
        &self.inner.client
    }

    async fn retrying<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        retrying(&self.inner.retry, self.inner.attempt_timeout, what, op).await
    }

    /// One GET of the latest version (`version` `None`) or of one version, checked and
    /// converted.
    async fn fetch(&self, name: &str, vault_name: &str, version: Option<&str>) -> Result<Secret> {
        let model = self
            .retrying("get secret", || async {
                let options = SecretClientGetSecretOptions {
                    secret_version: version.map(str::to_owned),
                    ..Default::default()
                };
                let response = self
                    .inner
                    .client
                    .get_secret(vault_name, Some(options))
                    .await
                    .map_err(|e| map_azure_error(&e, name))?;
                response.into_model().map_err(|e| map_azure_error(&e, name))
            })
            .await?;
        into_secret(name, model)
    }

    /// Every version's properties (no values), following `nextLink`.
    async fn list_versions(&self, name: &str, vault_name: &str) -> Result<Vec<SecretProperties>> {
        self.retrying("list secret versions", || async {
            let options = SecretClientListSecretPropertiesVersionsOptions {
                maxresults: Some(PAGE_SIZE),
                ..Default::default()
            };
            let pager = self
                .inner
                .client
                .list_secret_properties_versions(vault_name, Some(options))
                .map_err(|e| map_azure_error(&e, name))?;
            let mut pager = std::pin::pin!(pager);
            let mut versions = Vec::new();
            while let Some(item) = pager.next().await {
                versions.push(item.map_err(|e| map_azure_error(&e, name))?);
            }
            Ok(versions)
        })
        .await
    }

    /// The probe's fallback: GET the latest version and keep only its version information.
    async fn probe_by_get(&self, name: &str, vault_name: &str) -> Result<VersionInfo> {
        let secret = self.fetch(name, vault_name, None).await?;
        Ok(secret.version().clone())
    }
}

fn to_system_time(t: OffsetDateTime) -> SystemTime {
    SystemTime::from(t)
}

fn rfc3339(t: OffsetDateTime) -> String {
    azure_core::time::to_rfc3339(&t)
}

/// The version in a Key Vault id: `https://v/secrets/<name>/<version>`.
fn version_of(item: &impl ResourceExt) -> Option<String> {
    item.resource_id().ok().and_then(|r| r.version)
}

/// Refuses a version that is disabled, expired or not yet valid, each with its own message.
fn check_usable(name: &str, version: &str, attributes: Option<&SecretAttributes>) -> Result<()> {
    let Some(a) = attributes else {
        return Ok(());
    };
    let disabled = |message: String| {
        Err(Error::new(ErrorKind::Disabled, PROVIDER)
            .with_secret(name)
            .with_message(message))
    };
    if a.enabled == Some(false) {
        return disabled(format!("version {version} is disabled"));
    }
    let now = OffsetDateTime::now_utc();
    if let Some(exp) = a.expires
        && exp <= now
    {
        return disabled(format!(
            "version {version} expired at {} (its `exp` attribute); Key Vault still serves \
             expired secrets, this provider refuses them: set a new version or move `exp`",
            rfc3339(exp)
        ));
    }
    if let Some(nbf) = a.not_before
        && nbf > now
    {
        return disabled(format!(
            "version {version} is not valid before {} (its `nbf` attribute); this provider \
             refuses it until then",
            rfc3339(nbf)
        ));
    }
    Ok(())
}

fn into_secret(name: &str, model: KvSecret) -> Result<Secret> {
    let version = version_of(&model).ok_or_else(|| {
        Error::new(ErrorKind::Other, PROVIDER)
            .with_secret(name)
            .with_message("the answer has no secret id, so no version")
    })?;
    check_usable(name, &version, model.attributes.as_ref())?;
    let created = model
        .attributes
        .as_ref()
        .and_then(|a| a.created)
        .map(to_system_time);
    let value = model.value.ok_or_else(|| {
        Error::new(ErrorKind::Other, PROVIDER)
            .with_secret(name)
            .with_message(format!("the answer for version {version} has no value"))
    })?;
    Ok(Secret::new(name, SecretValue::text(value))
        .with_version(VersionInfo::new(version).with_created(created))
        .with_content_type(model.content_type))
}

/// What the probe concluded from the list of versions.
#[derive(Debug, PartialEq)]
enum Newest {
    /// One version is newer than all others.
    One(usize),
    /// The newest creation time is shared (Key Vault times have one-second resolution) or a
    /// version has no creation time: the list cannot say which one `GET latest` returns.
    Ambiguous,
    /// The secret has no versions.
    None,
}

fn newest(versions: &[SecretProperties]) -> Newest {
    let mut best: Option<(usize, OffsetDateTime)> = None;
    let mut tied = false;
    for (i, v) in versions.iter().enumerate() {
        let Some(created) = v.attributes.as_ref().and_then(|a| a.created) else {
            return Newest::Ambiguous;
        };
        match best {
            Some((_, t)) if created < t => {}
            Some((_, t)) if created == t => tied = true,
            _ => {
                best = Some((i, created));
                tied = false;
            }
        }
    }
    match best {
        None => Newest::None,
        Some(_) if tied => Newest::Ambiguous,
        Some((i, _)) => Newest::One(i),
    }
}

#[async_trait]
impl SecretProvider for AzureProvider {
    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_version_probe().with_versions()
    }

    #[tracing::instrument(level = "debug", skip(self), fields(provider = PROVIDER))]
    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        let vault_name = to_vault_name(name)?;
        let version = match version {
            VersionSelector::Latest => None,
            VersionSelector::Id(id) => {
                check_version_id(name, id)?;
                Some(id.as_str())
            }
            VersionSelector::Stage(stage) => {
                return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                    .with_secret(name)
                    .with_message(format!(
                        "Key Vault has no version stages or labels (asked for stage {stage:?}): \
                         read the latest version or a version id"
                    )));
            }
            other => {
                return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                    .with_secret(name)
                    .with_message(format!("unsupported version selector {other}")));
            }
        };
        self.fetch(name, &vault_name, version).await
    }

    #[tracing::instrument(level = "debug", skip(self), fields(provider = PROVIDER))]
    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        let vault_name = to_vault_name(name)?;
        if self.inner.probe_by_get.load(Ordering::Relaxed) {
            return self.probe_by_get(name, &vault_name).await;
        }
        let versions = match self.list_versions(name, &vault_name).await {
            Ok(versions) => versions,
            Err(err) if err.kind() == ErrorKind::PermissionDenied => {
                // Listing needs the `list` permission, reading only `get`: an identity with
                // `get` alone can still be probed, at the cost of a read.
                let info = self.probe_by_get(name, &vault_name).await?;
                if !self.inner.probe_by_get.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        provider = PROVIDER,
                        "listing secret versions is forbidden but reading is allowed: the \
                         version probe now reads the secret (grant `list` on secrets to make \
                         it cheap)"
                    );
                }
                return Ok(info);
            }
            Err(err) => return Err(err),
        };
        match newest(&versions) {
            Newest::One(i) => {
                let v = &versions[i];
                let id = version_of(v).ok_or_else(|| {
                    Error::new(ErrorKind::Other, PROVIDER)
                        .with_secret(name)
                        .with_message("a listed version has no id")
                })?;
                check_usable(name, &id, v.attributes.as_ref())?;
                let created = v
                    .attributes
                    .as_ref()
                    .and_then(|a| a.created)
                    .map(to_system_time);
                Ok(VersionInfo::new(id).with_created(created))
            }
            Newest::Ambiguous => {
                tracing::debug!(
                    provider = PROVIDER,
                    versions = versions.len(),
                    "the newest versions share a creation time: probing with a read"
                );
                self.probe_by_get(name, &vault_name).await
            }
            Newest::None => Err(Error::new(ErrorKind::NotFound, PROVIDER)
                .with_secret(name)
                .with_message("the secret has no versions")),
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER, count = names.len()))]
    async fn get_many(&self, names: &[&str]) -> Vec<Result<Secret>> {
        // Key Vault has no batch read: read a few at a time, answers in the order asked.
        static LATEST: VersionSelector = VersionSelector::Latest;
        let reads: Vec<_> = names.iter().map(|name| self.get(name, &LATEST)).collect();
        futures::stream::iter(reads)
            .buffered(GET_MANY_CONCURRENCY)
            .collect()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(created: Option<i64>) -> SecretProperties {
        let mut p = SecretProperties::default();
        p.attributes = Some(SecretAttributes {
            created: created.map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap()),
            ..Default::default()
        });
        p
    }

    #[test]
    fn newest_version() {
        assert_eq!(newest(&[]), Newest::None);
        assert_eq!(newest(&[props(Some(5))]), Newest::One(0));
        assert_eq!(
            newest(&[props(Some(5)), props(Some(9)), props(Some(7))]),
            Newest::One(1)
        );
        assert_eq!(
            newest(&[props(Some(9)), props(Some(5)), props(Some(9))]),
            Newest::Ambiguous
        );
        // A tie below the newest does not matter.
        assert_eq!(
            newest(&[props(Some(5)), props(Some(5)), props(Some(9))]),
            Newest::One(2)
        );
        assert_eq!(newest(&[props(Some(5)), props(None)]), Newest::Ambiguous);
    }

    #[test]
    fn usable_versions() {
        let now = OffsetDateTime::now_utc();
        let hour = azure_core::time::Duration::hours(1);
        let attrs = |enabled, exp, nbf| SecretAttributes {
            enabled,
            expires: exp,
            not_before: nbf,
            ..Default::default()
        };
        assert!(check_usable("n", "v", None).is_ok());
        assert!(
            check_usable(
                "n",
                "v",
                Some(&attrs(Some(true), Some(now + hour), Some(now - hour)))
            )
            .is_ok()
        );
        let disabled = check_usable("n", "v", Some(&attrs(Some(false), None, None))).unwrap_err();
        let expired =
            check_usable("n", "v", Some(&attrs(None, Some(now - hour), None))).unwrap_err();
        let early = check_usable("n", "v", Some(&attrs(None, None, Some(now + hour)))).unwrap_err();
        for e in [&disabled, &expired, &early] {
            assert_eq!(e.kind(), ErrorKind::Disabled);
            assert!(!e.is_retryable());
        }
        assert!(disabled.message().unwrap().contains("is disabled"));
        assert!(expired.message().unwrap().contains("expired at"));
        assert!(early.message().unwrap().contains("not valid before"));
    }

    #[test]
    fn version_from_id() {
        let mut p = SecretProperties::default();
        p.id = Some("https://v.vault.azure.net/secrets/n/abc".into());
        assert_eq!(version_of(&p).as_deref(), Some("abc"));
        p.id = Some("https://v.vault.azure.net/secrets/n".into());
        assert_eq!(version_of(&p), None);
        p.id = None;
        assert_eq!(version_of(&p), None);
    }
}
