//! The builder: infallible `with_*` setters, `from_env`, one fallible async `build`.

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use google_cloud_auth::credentials::{self, Credentials};
use google_cloud_gax::backoff_policy::BackoffPolicyArg;
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyArg, RetryPolicyExt};
use google_cloud_secretmanager_v1::client::SecretManagerService;
use secrets_core::{Error, ErrorKind, Result};

use crate::PROVIDER_NAME;
use crate::names::project_is_valid;
use crate::provider::{GcpProvider, Settings};

/// The variable [`GcpProviderBuilder::from_env`] reads for an endpoint override, such as
/// `http://127.0.0.1:8085` for the drongo emulator.
pub const ENV_ENDPOINT: &str = "SECRETS_GCP_ENDPOINT";

/// The variables [`GcpProviderBuilder::from_env`] reads for the project, first set wins.
pub const ENV_PROJECT: [&str; 3] = [
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "CLOUDSDK_CORE_PROJECT",
];

/// Attempts per call (the first try included) unless [`GcpProviderBuilder::with_max_attempts`]
/// says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Time budget per call, retries and back-off included, unless
/// [`GcpProviderBuilder::with_total_timeout`] says otherwise.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The public endpoint the SDK uses when none is set.
pub(crate) const DEFAULT_ENDPOINT: &str = "https://secretmanager.googleapis.com";

/// The SDK variable that turns on its tracing layer, which logs responses at DEBUG.
const SDK_LOGGING_VAR: &str = "GOOGLE_CLOUD_RUST_LOGGING";

#[derive(Clone, Default)]
enum CredentialsChoice {
    /// Anonymous for a plain-`http://` endpoint (an emulator), else Application Default
    /// Credentials.
    #[default]
    Auto,
    Anonymous,
    Custom(Credentials),
}

/// Builds a [`GcpProvider`].
///
/// Setters never fail; [`build`](Self::build) checks everything at once.
///
/// ```no_run
/// # async fn demo() -> secrets_core::Result<()> {
/// use std::time::Duration;
/// use secrets_gcp::GcpProvider;
///
/// let provider = GcpProvider::builder()
///     .with_project("my-project")
///     .with_max_attempts(4)
///     .with_total_timeout(Duration::from_secs(5))
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct GcpProviderBuilder {
    project: Option<String>,
    endpoint: Option<String>,
    credentials: CredentialsChoice,
    max_attempts: u32,
    total_timeout: Duration,
    attempt_timeout: Option<Duration>,
    retry_policy: Option<RetryPolicyArg>,
    backoff_policy: Option<BackoffPolicyArg>,
    version_metadata_on_get: bool,
    /// A problem found while reading the environment, reported by `build`.
    env_problem: Option<Error>,
}

impl Default for GcpProviderBuilder {
    fn default() -> Self {
        GcpProviderBuilder {
            project: None,
            endpoint: None,
            credentials: CredentialsChoice::Auto,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            attempt_timeout: None,
            retry_policy: None,
            backoff_policy: None,
            version_metadata_on_get: false,
            env_problem: None,
        }
    }
}

impl fmt::Debug for GcpProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcpProviderBuilder")
            .field("project", &self.project)
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials_label())
            .field("retry", &self.retry_label())
            .field("version_metadata_on_get", &self.version_metadata_on_get)
            .finish_non_exhaustive()
    }
}

impl GcpProviderBuilder {
    /// A builder with no project, the public endpoint, automatic credentials and the default
    /// retry limits ([`DEFAULT_MAX_ATTEMPTS`], [`DEFAULT_TOTAL_TIMEOUT`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder configured from the environment:
    /// - the project from `GOOGLE_CLOUD_PROJECT`, else `GCLOUD_PROJECT`, else
    ///   `CLOUDSDK_CORE_PROJECT` (empty values count as unset);
    /// - an endpoint override from [`ENV_ENDPOINT`] (`SECRETS_GCP_ENDPOINT`), such as
    ///   `http://127.0.0.1:8085` for drongo;
    /// - credentials as in [`build`](Self::build): anonymous for a plain-`http://` endpoint,
    ///   else Application Default Credentials (which read `GOOGLE_APPLICATION_CREDENTIALS`,
    ///   gcloud's ADC file or the metadata server).
    ///
    /// Later `with_*` calls override what the environment said. A variable that is not valid
    /// Unicode is reported by `build`.
    ///
    /// ```no_run
    /// # async fn demo() -> secrets_core::Result<()> {
    /// use secrets_gcp::GcpProviderBuilder;
    /// let provider = GcpProviderBuilder::from_env().with_max_attempts(5).build().await?;
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Self {
        Self::from_lookup(|key| std::env::var_os(key))
    }

    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        let mut builder = Self::new();
        let mut read = |key: &str| -> Option<String> {
            let value = lookup(key)?;
            match value.into_string() {
                Ok(s) if s.trim().is_empty() => None,
                Ok(s) => Some(s.trim().to_owned()),
                Err(_) => {
                    builder.env_problem.get_or_insert_with(|| {
                        Error::new(ErrorKind::InvalidConfig, PROVIDER_NAME)
                            .with_message(format!("the variable {key} is not valid Unicode"))
                    });
                    None
                }
            }
        };
        let project = ENV_PROJECT.iter().find_map(|key| read(key));
        let endpoint = read(ENV_ENDPOINT);
        builder.project = project;
        builder.endpoint = endpoint;
        builder
    }

    /// The project that plain names resolve in (a project id such as `my-project`, or its
    /// number). Required. Full resource names (`projects/P/secrets/S`) may name other
    /// projects.
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Talks to `endpoint` instead of `https://secretmanager.googleapis.com`: a regional
    /// endpoint, a private endpoint, or an emulator such as `http://127.0.0.1:8085`.
    ///
    /// A plain `http://` endpoint is taken for an emulator: unless credentials are set with
    /// [`with_credentials`](Self::with_credentials), the provider then sends no credentials
    /// (a bearer token must not travel over plain HTTP).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Uses these credentials instead of the automatic choice. Build them with
    /// [`google_cloud_auth::credentials`] (service account, impersonation, workload identity
    /// federation, ...).
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = CredentialsChoice::Custom(credentials);
        self
    }

    /// Sends no credentials at all (for emulators and tests), whatever the endpoint.
    pub fn with_anonymous_credentials(mut self) -> Self {
        self.credentials = CredentialsChoice::Anonymous;
        self
    }

    /// How many times one call is tried, the first try included (default
    /// [`DEFAULT_MAX_ATTEMPTS`]; `0` counts as `1`). Only failures that a retry may fix are
    /// retried: `UNAVAILABLE`, `RESOURCE_EXHAUSTED` (HTTP 429), HTTP 503 and connection or
    /// I/O failures.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The most time one call may take, every attempt and back-off pause included (default
    /// [`DEFAULT_TOTAL_TIMEOUT`]). The budget also bounds each attempt, and (with 250 ms to
    /// spare) the whole call, obtaining an access token included: a server or metadata server
    /// that hangs cannot hold a call longer. A timed-out call is an
    /// [`ErrorKind::Timeout`] error, retryable.
    pub fn with_total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }

    /// The most time one attempt may take (default: only the total timeout bounds it).
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Replaces the whole retry policy with an SDK policy, such as
    /// `Aip194Strict.with_attempt_limit(5).with_time_limit(Duration::from_secs(30))`.
    /// The attempt and time limits of [`with_max_attempts`](Self::with_max_attempts) and
    /// [`with_total_timeout`](Self::with_total_timeout) then no longer apply, nor the hard
    /// bound on a whole call: include limits in `policy`.
    ///
    /// ```no_run
    /// # async fn demo() -> secrets_core::Result<()> {
    /// use std::time::Duration;
    /// use secrets_gcp::GcpProvider;
    /// use secrets_gcp::google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt};
    ///
    /// let provider = GcpProvider::builder()
    ///     .with_project("my-project")
    ///     .with_retry_policy(Aip194Strict.with_attempt_limit(5).with_time_limit(Duration::from_secs(30)))
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn with_retry_policy(mut self, policy: impl Into<RetryPolicyArg>) -> Self {
        self.retry_policy = Some(policy.into());
        self
    }

    /// Replaces the back-off between attempts (default: exponential with full jitter,
    /// from 200 ms up to 2 s).
    pub fn with_backoff_policy(mut self, policy: impl Into<BackoffPolicyArg>) -> Self {
        self.backoff_policy = Some(policy.into());
        self
    }

    /// Whether [`get`](secrets_core::SecretProvider::get) also reads the version's metadata
    /// to report its creation time (default `false`). The access call that fetches a value
    /// returns only the version's name, so the creation time costs a second call
    /// (GetSecretVersion, on the exact version number that was read).
    /// [`current_version`](secrets_core::SecretProvider::current_version) always reports it.
    pub fn with_version_metadata_on_get(mut self, enabled: bool) -> Self {
        self.version_metadata_on_get = enabled;
        self
    }

    fn credentials_label(&self) -> &'static str {
        match &self.credentials {
            CredentialsChoice::Auto if self.endpoint.as_deref().is_some_and(is_plain_http) => {
                "anonymous (plain-http endpoint)"
            }
            CredentialsChoice::Auto => "application-default",
            CredentialsChoice::Anonymous => "anonymous",
            CredentialsChoice::Custom(_) => "custom",
        }
    }

    fn retry_label(&self) -> String {
        match &self.retry_policy {
            Some(_) => "custom policy".to_owned(),
            None => format!(
                "{} attempts within {:?}",
                self.max_attempts, self.total_timeout
            ),
        }
    }

    fn config_error(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidConfig, PROVIDER_NAME).with_message(message.into())
    }

    /// Checks the configuration, loads credentials and creates the client.
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] when no project is set or the project, the
    /// endpoint or the timeouts are not valid, or when Application Default Credentials
    /// cannot be loaded (their file is missing or malformed). Credentials that load but are
    /// rejected only show when a secret is read ([`ErrorKind::Unauthenticated`]). On
    /// Google Cloud, loading credentials may ask the metadata server for the universe domain.
    pub async fn build(self) -> Result<GcpProvider> {
        if let Some(problem) = self.env_problem.clone() {
            return Err(problem);
        }
        let credentials_label = self.credentials_label();
        let retry_label = self.retry_label();
        let Some(project) = self
            .project
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        else {
            return Err(Self::config_error(
                "no Google Cloud project: call with_project(...) or set GOOGLE_CLOUD_PROJECT",
            ));
        };
        if !project_is_valid(project) {
            return Err(Self::config_error(format!(
                "{project:?} is not a valid Google Cloud project id or number"
            )));
        }
        let endpoint = match self.endpoint.as_deref().map(str::trim) {
            None => None,
            Some(e) => Some(check_endpoint(e)?),
        };
        if self.total_timeout.is_zero() {
            return Err(Self::config_error(
                "the total timeout must be longer than zero",
            ));
        }
        if self.attempt_timeout.is_some_and(|t| t.is_zero()) {
            return Err(Self::config_error(
                "the attempt timeout must be longer than zero",
            ));
        }

        let plain_http = endpoint.as_deref().is_some_and(is_plain_http);
        let creds = match self.credentials {
            CredentialsChoice::Custom(c) => c,
            CredentialsChoice::Anonymous => credentials::anonymous::Builder::new().build(),
            CredentialsChoice::Auto if plain_http => credentials::anonymous::Builder::new().build(),
            CredentialsChoice::Auto => load_adc()?,
        };

        let custom_policy = self.retry_policy.is_some();
        let retry_policy = self.retry_policy.unwrap_or_else(|| {
            Aip194Strict
                .continue_on_too_many_requests()
                .with_attempt_limit(self.max_attempts)
                .with_time_limit(self.total_timeout)
                .into()
        });
        let backoff_policy = self.backoff_policy.unwrap_or_else(|| {
            ExponentialBackoffBuilder::new()
                .with_initial_delay(Duration::from_millis(200))
                .with_maximum_delay(Duration::from_secs(2))
                .with_scaling(2.0)
                .clamp()
                .into()
        });

        let mut sdk = SecretManagerService::builder()
            .with_credentials(creds)
            .with_retry_policy(retry_policy)
            .with_backoff_policy(backoff_policy);
        if let Some(e) = &endpoint {
            sdk = sdk.with_endpoint(e.clone());
        }
        if let Some(t) = self.attempt_timeout {
            sdk = sdk.with_attempt_timeout(t);
        }
        let client = sdk.build().await.map_err(|e| {
            Self::config_error("cannot create the Secret Manager client").with_source(e)
        })?;

        if std::env::var(SDK_LOGGING_VAR).is_ok_and(|v| v == "true") {
            tracing::warn!(
                target: "secrets_gcp",
                "{SDK_LOGGING_VAR}=true turns on the Google Cloud SDK's tracing, which logs \
                 Secret Manager responses, secret payloads included, at DEBUG level under the \
                 target `google_cloud_secretmanager_v1`; keep that target above DEBUG"
            );
        }

        Ok(GcpProvider::new(
            client,
            Settings {
                project: project.to_owned(),
                endpoint,
                credentials_label,
                retry_label,
                version_metadata_on_get: self.version_metadata_on_get,
                call_timeout: (!custom_policy).then_some(self.total_timeout),
            },
        ))
    }
}

fn is_plain_http(endpoint: &str) -> bool {
    endpoint
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// Checks an endpoint URL and strips a trailing `/`.
fn check_endpoint(endpoint: &str) -> Result<String> {
    let lower = endpoint.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    let ok = rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !r.contains(['?', '#']) && !r.chars().any(char::is_whitespace)
    });
    if !ok {
        return Err(GcpProviderBuilder::config_error(format!(
            "endpoint {endpoint:?} is not an http:// or https:// URL such as \
             https://secretmanager.googleapis.com or http://127.0.0.1:8085"
        )));
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
}

fn load_adc() -> Result<Credentials> {
    credentials::Builder::default().build().map_err(|e| {
        let err = GcpProviderBuilder::config_error(
            "cannot load Application Default Credentials (set GOOGLE_APPLICATION_CREDENTIALS to \
             a credentials file, run `gcloud auth application-default login`, run on Google \
             Cloud, or pass credentials with with_credentials)",
        );
        if e.is_parsing() {
            // A parser's message may quote the file, private key included.
            err.with_message(
                "cannot parse the Application Default Credentials file (details withheld: \
                 they could quote the key)",
            )
        } else {
            err.with_source(e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn env_project_fallbacks() {
        let b = GcpProviderBuilder::from_lookup(env(&[
            ("GCLOUD_PROJECT", "b"),
            ("CLOUDSDK_CORE_PROJECT", "c"),
        ]));
        assert_eq!(b.project.as_deref(), Some("b"));
        let b = GcpProviderBuilder::from_lookup(env(&[
            ("GOOGLE_CLOUD_PROJECT", "a"),
            ("GCLOUD_PROJECT", "b"),
        ]));
        assert_eq!(b.project.as_deref(), Some("a"));
        let b = GcpProviderBuilder::from_lookup(env(&[
            ("GOOGLE_CLOUD_PROJECT", " "),
            ("CLOUDSDK_CORE_PROJECT", "c"),
        ]));
        assert_eq!(b.project.as_deref(), Some("c"));
        let b = GcpProviderBuilder::from_lookup(env(&[]));
        assert_eq!(b.project, None);
        assert_eq!(b.endpoint, None);
    }

    #[test]
    fn env_endpoint_and_setters_override() {
        let b = GcpProviderBuilder::from_lookup(env(&[
            ("GOOGLE_CLOUD_PROJECT", "p"),
            (ENV_ENDPOINT, "http://127.0.0.1:8085"),
        ]));
        assert_eq!(b.endpoint.as_deref(), Some("http://127.0.0.1:8085"));
        assert_eq!(b.credentials_label(), "anonymous (plain-http endpoint)");
        let b = b.with_endpoint("https://secretmanager.europe-west1.rep.googleapis.com");
        assert_eq!(b.credentials_label(), "application-default");
        let b = b.with_anonymous_credentials();
        assert_eq!(b.credentials_label(), "anonymous");
    }

    #[cfg(unix)]
    #[test]
    fn non_unicode_env_is_reported_by_build() {
        use std::os::unix::ffi::OsStringExt;
        let b = GcpProviderBuilder::from_lookup(|k| {
            (k == ENV_ENDPOINT).then(|| OsString::from_vec(vec![0xff, 0xfe]))
        });
        let err = b.env_problem.unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains(ENV_ENDPOINT), "{err}");
    }

    #[test]
    fn endpoints_are_checked() {
        assert_eq!(
            check_endpoint("http://127.0.0.1:8085/").unwrap(),
            "http://127.0.0.1:8085"
        );
        assert!(check_endpoint("HTTPS://secretmanager.googleapis.com").is_ok());
        for bad in [
            "127.0.0.1:8085",
            "ftp://x",
            "http://",
            "http:///x",
            "http://a b",
            "https://h?x=1",
        ] {
            let err = check_endpoint(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{bad}");
        }
        assert!(is_plain_http("HTTP://x"));
        assert!(!is_plain_http("https://x"));
    }

    #[tokio::test]
    async fn build_needs_a_valid_project_and_config() {
        let err = GcpProviderBuilder::new().build().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains("GOOGLE_CLOUD_PROJECT"), "{err}");

        let err = GcpProvider::builder()
            .with_project("Bad Project")
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);

        let err = GcpProvider::builder()
            .with_project("p")
            .with_endpoint("localhost:8085")
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains("localhost:8085"), "{err}");

        let err = GcpProvider::builder()
            .with_project("p")
            .with_endpoint("http://127.0.0.1:1")
            .with_total_timeout(Duration::ZERO)
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    }

    #[tokio::test]
    async fn emulator_endpoint_builds_without_credentials() {
        let provider = GcpProvider::builder()
            .with_project("p")
            .with_endpoint("http://127.0.0.1:1/")
            .build()
            .await
            .unwrap();
        assert_eq!(provider.endpoint(), "http://127.0.0.1:1");
        assert_eq!(provider.project(), "p");
        let dbg = format!("{provider:?}");
        assert!(dbg.contains("anonymous"), "{dbg}");
        assert!(dbg.contains("3 attempts"), "{dbg}");
    }

    #[test]
    fn builder_debug_hides_credentials() {
        let b = GcpProvider::builder()
            .with_project("p")
            .with_credentials(credentials::anonymous::Builder::new().build());
        let dbg = format!("{b:?}");
        assert!(dbg.contains("custom"), "{dbg}");
        assert!(dbg.contains("\"p\""), "{dbg}");
    }
}
