//! [`AzureProviderBuilder`]: setters that never fail, one `build` that checks the whole.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::{RetryOptions, Transport, Url};
use azure_identity::{AzureCliCredential, DeveloperToolsCredential, WorkloadIdentityCredential};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use secrets_core::{Error, ErrorKind, Result};

use crate::credential::{ChainedCredential, StaticTokenCredential, managed_identity};
use crate::provider::{AzureProvider, Inner};
use crate::retry::RetryConfig;
use crate::{EMULATOR_TOKEN, ENV_CA_FILE, ENV_CREDENTIAL, ENV_VAULT_URL, PROVIDER};

/// The default limit on one attempt of one call.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The connect timeout of the HTTP client the provider builds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn config_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidConfig, PROVIDER).with_message(message.into())
}

/// Builds an [`AzureProvider`]. Setters never fail; [`build`](Self::build) checks the whole and
/// reads the environment for whatever was not set (see the [crate docs](crate) for the
/// variables).
///
/// ```no_run
/// # async fn run() -> Result<(), secrets_core::Error> {
/// use std::time::Duration;
/// use secrets_azure::{AzureProvider, RetryConfig};
///
/// let provider = AzureProvider::builder()
///     .with_vault_url("https://my-vault.vault.azure.net")
///     .with_retry(RetryConfig::default().with_max_attempts(5))
///     .with_attempt_timeout(Duration::from_secs(10))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct AzureProviderBuilder {
    vault_url: Option<String>,
    credential: Option<Arc<dyn TokenCredential>>,
    ca_pem: Option<String>,
    transport: Option<Transport>,
    retry: Option<RetryConfig>,
    attempt_timeout: Option<Duration>,
    verify_challenge_resource: Option<bool>,
}

impl fmt::Debug for AzureProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The credential is never printed: it may hold a client secret or a token.
        f.debug_struct("AzureProviderBuilder")
            .field("vault_url", &self.vault_url)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "[REDACTED]"),
            )
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "(set)"))
            .field("transport", &self.transport.as_ref().map(|_| "(set)"))
            .field("retry", &self.retry)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("verify_challenge_resource", &self.verify_challenge_resource)
            .finish()
    }
}

impl AzureProviderBuilder {
    /// The vault's URL, such as `https://my-vault.vault.azure.net` (default: the
    /// `AZURE_KEYVAULT_URL` environment variable).
    #[must_use]
    pub fn with_vault_url(mut self, url: impl Into<String>) -> Self {
        self.vault_url = Some(url.into());
        self
    }

    /// Uses this credential instead of the one the environment selects (by default the
    /// [`ChainedCredential::default_chain`]). Any `azure_identity` credential, or your own
    /// [`TokenCredential`], will do.
    #[must_use]
    pub fn with_credential(mut self, credential: Arc<dyn TokenCredential>) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Trusts only the certificate authorities in this PEM text (one or more certificates)
    /// for the connection to the vault: for the Key Vault emulator, a private endpoint behind
    /// a TLS-inspecting proxy, or a test server. Default: the `AZURE_KEYVAULT_CA_FILE` file,
    /// else the platform's roots. Conflicts with [`with_transport`](Self::with_transport).
    #[must_use]
    pub fn with_ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Sends requests through this transport (for example a `reqwest::Client` of your own,
    /// `Transport::new(Arc::new(client))`). Timeouts and trusted roots are then the
    /// transport's business.
    #[must_use]
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// How failed calls are retried (default [`RetryConfig::default`]).
    #[must_use]
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = Some(retry);
        self
    }

    /// A limit on each attempt of each call (default [`DEFAULT_ATTEMPT_TIMEOUT`], 30 s). A
    /// call that hits it fails with [`ErrorKind::Timeout`] (after its retries).
    #[must_use]
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Whether the SDK checks that the resource in the vault's authentication challenge
    /// matches the vault's domain (default `true`; `false` with the `emulator` credential).
    /// Turn it off only for a vault that is not under `vault.azure.net` and friends, such as
    /// the emulator on `127.0.0.1`.
    #[must_use]
    pub fn with_verify_challenge_resource(mut self, verify: bool) -> Self {
        self.verify_challenge_resource = Some(verify);
        self
    }

    /// Checks the settings, reads the environment for what was not set, and builds the
    /// provider. Nothing is sent to the vault or to Entra ID yet: the first token is fetched by
    /// the first call.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when no vault URL is set or it is not an `https` URL, when
    /// the CA PEM or CA file cannot be read, when both a CA and a transport are given, for an
    /// unknown `AZURE_KEYVAULT_CREDENTIAL`, or for a retry config with no attempts.
    pub async fn build(self) -> Result<AzureProvider> {
        let raw_url = match self.vault_url {
            Some(url) => url,
            None => env_var(ENV_VAULT_URL).ok_or_else(|| {
                config_error(format!(
                    "no Key Vault URL: set {ENV_VAULT_URL} (such as \
                     https://my-vault.vault.azure.net) or call with_vault_url"
                ))
            })?,
        };
        let url = parse_vault_url(&raw_url)?;
        let vault_url = url.as_str().trim_end_matches('/').to_owned();

        let retry = self.retry.unwrap_or_default();
        retry.validate()?;
        let attempt_timeout = self.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
        if attempt_timeout.is_zero() {
            return Err(config_error("the attempt timeout must be longer than zero"));
        }

        let (credential, credential_source, emulator) = match self.credential {
            Some(credential) => (credential, String::from("caller's credential"), false),
            None => credential_from_env(&url)?,
        };

        let transport = match (self.transport, self.ca_pem) {
            (Some(_), Some(_)) => {
                return Err(config_error(
                    "with_transport and with_ca_pem are both set: trust the CA in your own \
                     transport, or drop the transport",
                ));
            }
            (Some(transport), None) => transport,
            (None, Some(pem)) => http_transport(Some(&pem), "the CA PEM given to with_ca_pem")?,
            (None, None) => match env_var(ENV_CA_FILE) {
                Some(path) => {
                    let pem = std::fs::read_to_string(&path).map_err(|e| {
                        config_error(format!("cannot read {ENV_CA_FILE} file {path:?}: {e}"))
                    })?;
                    http_transport(Some(&pem), &format!("{ENV_CA_FILE} file {path:?}"))?
                }
                None => http_transport(None, "")?,
            },
        };

        let mut options = SecretClientOptions::default();
        // The provider retries itself (see RetryConfig): the SDK would wait out any
        // Retry-After, however long.
        options.client_options.retry = RetryOptions::none();
        options.client_options.transport = Some(transport);
        options.verify_challenge_resource =
            Some(self.verify_challenge_resource.unwrap_or(!emulator));
        let client = SecretClient::new(&vault_url, credential, Some(options))
            .map_err(|e| config_error(format!("cannot create the Key Vault client: {e}")))?;
        Ok(AzureProvider {
            inner: Arc::new(Inner {
                client,
                vault_url,
                credential_source,
                retry,
                attempt_timeout,
                probe_by_get: AtomicBool::new(false),
            }),
        })
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Accepts `https://host[:port]` with an optional trailing `/`.
fn parse_vault_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw.trim())
        .map_err(|e| config_error(format!("the Key Vault URL {raw:?} is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(config_error(format!(
            "the Key Vault URL {raw:?} must use https (the Azure SDK sends no token over plain \
             http; the emulator serves https too)"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(config_error(format!(
            "the Key Vault URL {raw:?} has no host"
        )));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(config_error(format!(
            "the Key Vault URL {raw:?} must be just the vault's address, such as \
             https://my-vault.vault.azure.net (no path or query)"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config_error(
            "the Key Vault URL must not carry a user or password",
        ));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// The credential `AZURE_KEYVAULT_CREDENTIAL` selects, a description for `Debug`, and whether
/// it is the emulator's.
fn credential_from_env(url: &Url) -> Result<(Arc<dyn TokenCredential>, String, bool)> {
    let choice = env_var(ENV_CREDENTIAL).unwrap_or_else(|| String::from("default"));
    let sdk = |what: &str, e: azure_core::Error| {
        config_error(format!(
            "{ENV_CREDENTIAL}={choice}: cannot create the {what} credential: {e}"
        ))
    };
    let credential: Arc<dyn TokenCredential> = match choice.as_str() {
        "default" | "chain" => {
            let chain = ChainedCredential::default_chain();
            let names = chain.source_names().join(", ");
            return Ok((Arc::new(chain), format!("default chain ({names})"), false));
        }
        "workload-identity" => {
            WorkloadIdentityCredential::new(None).map_err(|e| sdk("workload identity", e))?
        }
        "managed-identity" => managed_identity().map_err(|e| sdk("managed identity", e))?,
        "developer-tools" => {
            DeveloperToolsCredential::new(None).map_err(|e| sdk("developer tools", e))?
        }
        "azure-cli" => AzureCliCredential::new(None).map_err(|e| sdk("Azure CLI", e))?,
        "emulator" => {
            if !is_loopback(url) {
                return Err(config_error(format!(
                    "{ENV_CREDENTIAL}=emulator sends a fixed fake token and is allowed only \
                     for a vault on a loopback address (localhost, 127.0.0.1, ::1), not {url}"
                )));
            }
            return Ok((
                Arc::new(StaticTokenCredential::new(EMULATOR_TOKEN)),
                String::from("emulator token"),
                true,
            ));
        }
        other => {
            return Err(config_error(format!(
                "{ENV_CREDENTIAL}={other:?} is not one of default, workload-identity, \
                 managed-identity, developer-tools, azure-cli, emulator"
            )));
        }
    };
    Ok((credential, choice, false))
}

/// The provider's own reqwest client (the SDK's HTTP stack: reqwest 0.13, rustls on
/// aws-lc-rs), trusting only the CAs in `ca_pem` when given.
fn http_transport(ca_pem: Option<&str>, what: &str) -> Result<Transport> {
    let mut builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| config_error(format!("{what} is not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(config_error(format!("{what} holds no certificate")));
        }
        builder = builder.tls_certs_only(certs);
    }
    let client = builder
        .build()
        .map_err(|e| config_error(format!("cannot build the HTTP client: {e}")))?;
    Ok(Transport::new(Arc::new(client)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_urls() {
        for ok in [
            "https://v.vault.azure.net",
            "https://v.vault.azure.net/",
            "https://127.0.0.1:8443",
        ] {
            assert!(parse_vault_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "v.vault.azure.net",
            "http://v.vault.azure.net",
            "https://v.vault.azure.net/secrets/x",
            "https://v.vault.azure.net/?a=b",
            "https://u:p@v.vault.azure.net",
            "",
        ] {
            let err = parse_vault_url(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{bad}");
        }
    }

    #[test]
    fn loopback_hosts() {
        let yes = [
            "https://localhost:1",
            "https://127.0.0.1:1",
            "https://[::1]:1",
        ];
        for u in yes {
            assert!(is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
        assert!(!is_loopback(
            &Url::parse("https://v.vault.azure.net").unwrap()
        ));
        assert!(!is_loopback(&Url::parse("https://10.0.0.1").unwrap()));
    }

    #[test]
    fn debug_hides_the_credential() {
        let b = AzureProviderBuilder::default()
            .with_vault_url("https://v.vault.azure.net")
            .with_credential(Arc::new(StaticTokenCredential::new("tok-canary")));
        let text = format!("{b:?}");
        assert!(!text.contains("tok-canary"), "{text}");
        assert!(text.contains("[REDACTED]"), "{text}");
    }

    #[tokio::test]
    async fn build_errors() {
        let base = || {
            AzureProviderBuilder::default()
                .with_vault_url("https://v.vault.azure.net")
                .with_credential(Arc::new(StaticTokenCredential::new("t")))
        };
        let e = base().with_ca_pem("not pem").build().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let e = base()
            .with_retry(RetryConfig::default().with_max_attempts(0))
            .build()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let e = base()
            .with_attempt_timeout(Duration::ZERO)
            .build()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let transport = http_transport(None, "").unwrap();
        let e = base()
            .with_transport(transport)
            .with_ca_pem("x")
            .build()
            .await
            .unwrap_err();
        assert!(e.message().unwrap().contains("both set"), "{e}");
        assert!(base().build().await.is_ok());
    }
}
