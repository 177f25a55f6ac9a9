//! AWS Secrets Manager provider, on the official `aws-sdk-secretsmanager`.
//!
//! - Credentials and region come from the SDK's default chain (environment, profile, SSO,
//!   web identity, ECS and EC2 metadata), unless the builder sets them.
//! - `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_SECRETS_MANAGER` are honoured (LocalStack,
//!   VPC endpoints), as is [`AwsProviderBuilder::with_endpoint_url`].
//! - `SecretString` is read as text and `SecretBinary` as bytes; `VersionId` and
//!   `VersionStage` select versions ([`VersionSelector::Id`] and [`VersionSelector::Stage`]).
//! - [`SecretProvider::get_many`] uses `BatchGetSecretValue`, 20 names a call (the API's
//!   limit); a missing name is reported for that name only.
//! - [`SecretProvider::current_version`] uses `DescribeSecret`, which returns no value.
//! - Every SDK error is mapped to an [`ErrorKind`] and a retry flag; no error keeps the raw
//!   HTTP response, so no error can carry a value.
//!
//! ```no_run
//! # async fn run() -> Result<(), secrets_core::Error> {
//! use secrets_aws::AwsProvider;
//! use secrets_core::{SecretProvider, VersionSelector};
//!
//! let aws = AwsProvider::from_env().await?;
//! let secret = aws.get("cgi-chat/database", &VersionSelector::Latest).await?;
//! println!("version {:?}", secret.version_id());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::DateTime;
use aws_smithy_types::error::display::DisplayErrorContext;
use secrets_core::{
    Capabilities, Error, ErrorKind, Result, Secret, SecretProvider, SecretValue, VersionInfo,
    VersionSelector, async_trait, check_name,
};

/// The provider name used in errors, logs and metrics.
pub const PROVIDER: &str = "aws";

/// The most names one `BatchGetSecretValue` call takes.
pub const BATCH_LIMIT: usize = 20;

/// The stage of the current version.
pub const AWSCURRENT: &str = "AWSCURRENT";

/// Reads secrets from AWS Secrets Manager.
///
/// Cheap to clone: it shares one SDK client.
#[derive(Clone)]
pub struct AwsProvider {
    client: Client,
}

impl fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let conf = self.client.config();
        f.debug_struct("AwsProvider")
            .field("region", &conf.region().map(|r| r.as_ref()))
            .finish_non_exhaustive()
    }
}

/// Builds an [`AwsProvider`]. Setters never fail; [`build`](Self::build) checks the whole.
///
/// ```no_run
/// # async fn run() -> Result<(), secrets_core::Error> {
/// use secrets_aws::AwsProvider;
/// let localstack = AwsProvider::builder()
///     .with_endpoint_url("http://127.0.0.1:4566")
///     .with_region("us-east-1")
///     .with_static_credentials("test", "test")
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct AwsProviderBuilder {
    sdk_config: Option<SdkConfig>,
    region: Option<String>,
    endpoint_url: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
    max_attempts: Option<u32>,
    operation_timeout: Option<Duration>,
    client: Option<Client>,
}

impl fmt::Debug for AwsProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The credentials provider is left out on purpose: it may hold a secret key.
        f.debug_struct("AwsProviderBuilder")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[REDACTED]"),
            )
            .field("max_attempts", &self.max_attempts)
            .field("operation_timeout", &self.operation_timeout)
            .finish_non_exhaustive()
    }
}

impl AwsProviderBuilder {
    /// Starts from an already loaded SDK configuration instead of the default chain.
    #[must_use]
    pub fn with_sdk_config(mut self, config: SdkConfig) -> Self {
        self.sdk_config = Some(config);
        self
    }

    /// Sets the region.
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sends requests to `url` (LocalStack, a VPC endpoint).
    #[must_use]
    pub fn with_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Uses a credentials provider instead of the default chain.
    #[must_use]
    pub fn with_credentials_provider(mut self, provider: SharedCredentialsProvider) -> Self {
        self.credentials = Some(provider);
        self
    }

    /// Uses a fixed access key (for LocalStack and tests).
    #[must_use]
    pub fn with_static_credentials(
        self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        let creds = Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "secrets-aws-static",
        );
        self.with_credentials_provider(SharedCredentialsProvider::new(creds))
    }

    /// Total attempts per call, including the first (the SDK's default is 3).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// A limit on one whole call, retries included.
    #[must_use]
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// Uses a client built elsewhere; every other setting is then ignored.
    #[must_use]
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Loads the configuration and builds the provider.
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] when no region can be found, or when a setting
    /// is out of range.
    pub async fn build(self) -> Result<AwsProvider> {
        if let Some(client) = self.client {
            return Ok(AwsProvider { client });
        }
        let base = match self.sdk_config {
            Some(config) => config,
            None => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(region) = &self.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                if let Some(creds) = &self.credentials {
                    loader = loader.credentials_provider(creds.clone());
                }
                loader.load().await
            }
        };
        let mut conf = aws_sdk_secretsmanager::config::Builder::from(&base);
        if let Some(region) = self.region {
            conf = conf.region(Region::new(region));
        }
        if let Some(url) = self.endpoint_url {
            conf = conf.endpoint_url(url);
        }
        if let Some(creds) = self.credentials {
            conf = conf.credentials_provider(creds);
        }
        if let Some(attempts) = self.max_attempts {
            if attempts == 0 {
                return Err(Error::new(ErrorKind::InvalidConfig, PROVIDER)
                    .with_message("max_attempts must be at least 1"));
            }
            conf = conf.retry_config(
                aws_config::retry::RetryConfig::standard().with_max_attempts(attempts),
            );
        }
        if let Some(timeout) = self.operation_timeout {
            conf = conf.timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(timeout)
                    .build(),
            );
        }
        let conf = conf.build();
        if conf.region().is_none() {
            return Err(Error::new(ErrorKind::InvalidConfig, PROVIDER).with_message(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, a profile's region) \
                 or call with_region",
            ));
        }
        Ok(AwsProvider {
            client: Client::from_conf(conf),
        })
    }
}

impl AwsProvider {
    /// A builder.
    pub fn builder() -> AwsProviderBuilder {
        AwsProviderBuilder::default()
    }

    /// A provider configured by the SDK's default chain and environment variables
    /// (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...).
    pub async fn from_env() -> Result<Self> {
        Self::builder().build().await
    }

    /// Wraps an existing SDK client.
    pub fn from_client(client: Client) -> Self {
        AwsProvider { client }
    }

    /// The SDK client, for operations this crate does not wrap (creating or rotating secrets).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Checks a name against the Secrets Manager rules: an ARN, or 1-512 characters of ASCII
/// letters, digits and `/_+=.@-`.
pub fn check_aws_name(name: &str) -> Result<()> {
    check_name(PROVIDER, name)?;
    if name.starts_with("arn:") {
        return Ok(());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
    {
        return Err(Error::new(ErrorKind::InvalidName, PROVIDER)
            .with_secret(name)
            .with_message(format!(
                "character {bad:?} is not allowed: use ASCII letters, digits and /_+=.@-"
            )));
    }
    Ok(())
}

fn system_time(t: Option<&DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn value_of(string: Option<String>, binary: Option<aws_smithy_types::Blob>) -> Option<SecretValue> {
    match (string, binary) {
        (Some(s), _) => Some(SecretValue::text(s)),
        (None, Some(b)) => Some(SecretValue::bytes(b.into_inner())),
        (None, None) => None,
    }
}

fn no_value(name: &str) -> Error {
    Error::new(ErrorKind::Other, PROVIDER)
        .with_secret(name)
        .with_message("the response has neither SecretString nor SecretBinary")
}

#[async_trait]
impl SecretProvider for AwsProvider {
    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
            .with_version_probe()
            .with_batch_get()
            .with_versions()
    }

    #[tracing::instrument(level = "debug", skip(self), fields(provider = PROVIDER))]
    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        check_aws_name(name)?;
        let mut req = self.client.get_secret_value().secret_id(name);
        match version {
            VersionSelector::Latest => {}
            VersionSelector::Id(id) => req = req.version_id(id),
            VersionSelector::Stage(stage) => req = req.version_stage(stage),
            _ => {
                return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                    .with_secret(name)
                    .with_message(format!("unsupported version selector {version}")));
            }
        }
        let out = req.send().await.map_err(|e| map_sdk_error(e, name))?;
        let info = VersionInfo::new(out.version_id.clone().unwrap_or_default())
            .with_stages(out.version_stages.clone().unwrap_or_default())
            .with_created(system_time(out.created_date.as_ref()));
        let value = value_of(out.secret_string, out.secret_binary).ok_or_else(|| no_value(name))?;
        Ok(Secret::new(name, value).with_version(info))
    }

    #[tracing::instrument(level = "debug", skip(self), fields(provider = PROVIDER))]
    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        check_aws_name(name)?;
        let out = self
            .client
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| map_sdk_error(e, name))?;
        if out.deleted_date.is_some() {
            return Err(Error::new(ErrorKind::Disabled, PROVIDER)
                .with_secret(name)
                .with_message("the secret is scheduled for deletion"));
        }
        let (id, stages) = out
            .version_ids_to_stages
            .unwrap_or_default()
            .into_iter()
            .find(|(_, stages)| stages.iter().any(|s| s == AWSCURRENT))
            .ok_or_else(|| {
                Error::new(ErrorKind::NotFound, PROVIDER)
                    .with_secret(name)
                    .with_message("no version carries AWSCURRENT")
            })?;
        Ok(VersionInfo::new(id).with_stages(stages))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(provider = PROVIDER, count = names.len()))]
    async fn get_many(&self, names: &[&str]) -> Vec<Result<Secret>> {
        let mut results: Vec<Option<Result<Secret>>> = names
            .iter()
            .map(|n| check_aws_name(n).err().map(Err))
            .collect();
        let valid: Vec<usize> = (0..names.len()).filter(|&i| results[i].is_none()).collect();
        for chunk in valid.chunks(BATCH_LIMIT) {
            match self.batch_chunk(names, chunk).await {
                Ok(mut found) => {
                    for &i in chunk {
                        results[i] = Some(found.remove(names[i]).unwrap_or_else(|| {
                            Err(Error::new(ErrorKind::NotFound, PROVIDER)
                                .with_secret(names[i])
                                .with_message("not in the BatchGetSecretValue answer"))
                        }));
                    }
                }
                Err(err) => {
                    for &i in chunk {
                        results[i] = Some(Err(err.clone().with_secret(names[i])));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::new(ErrorKind::Other, PROVIDER))))
            .collect()
    }
}

impl AwsProvider {
    /// One `BatchGetSecretValue` for at most [`BATCH_LIMIT`] names, following `NextToken`.
    /// Returns the answers keyed by the name as asked (a name or an ARN).
    async fn batch_chunk(
        &self,
        names: &[&str],
        chunk: &[usize],
    ) -> Result<HashMap<String, Result<Secret>>> {
        let asked: Vec<String> = chunk.iter().map(|&i| names[i].to_string()).collect();
        let mut found = HashMap::with_capacity(asked.len());
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .batch_get_secret_value()
                .set_secret_id_list(Some(asked.clone()))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| map_sdk_error(e, "(batch)"))?;
            for entry in out.secret_values.unwrap_or_default() {
                let key = asked
                    .iter()
                    .find(|a| {
                        Some(a.as_str()) == entry.name.as_deref()
                            || Some(a.as_str()) == entry.arn.as_deref()
                    })
                    .cloned();
                let Some(key) = key else { continue };
                let info = VersionInfo::new(entry.version_id.clone().unwrap_or_default())
                    .with_stages(entry.version_stages.clone().unwrap_or_default())
                    .with_created(system_time(entry.created_date.as_ref()));
                let result = value_of(entry.secret_string, entry.secret_binary)
                    .map(|v| Secret::new(key.clone(), v).with_version(info))
                    .ok_or_else(|| no_value(&key));
                found.insert(key, result);
            }
            for e in out.errors.unwrap_or_default() {
                let id = e.secret_id.unwrap_or_default();
                let err = map_code(
                    e.error_code.as_deref().unwrap_or(""),
                    e.message.as_deref().unwrap_or(""),
                    None,
                )
                .with_secret(id.clone());
                found.insert(id, Err(err));
            }
            token = out.next_token;
            if token.is_none() || asked.iter().all(|a| found.contains_key(a)) {
                break;
            }
        }
        Ok(found)
    }
}

/// Maps a Secrets Manager error code (and HTTP status, when known) to an [`Error`].
///
/// The service's message is kept: Secrets Manager messages describe the request, never a
/// secret's value.
pub fn map_code(code: &str, message: &str, status: Option<u16>) -> Error {
    let lower = message.to_ascii_lowercase();
    let (kind, retryable) = match code {
        "ResourceNotFoundException" => (ErrorKind::NotFound, false),
        "AccessDeniedException" | "AccessDenied" => (ErrorKind::PermissionDenied, false),
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignature"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "MissingAuthenticationToken" => (ErrorKind::Unauthenticated, false),
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "LimitExceededException" => (ErrorKind::RateLimited, true),
        // KMS could not decrypt the value: usually the caller lacks kms:Decrypt on the key.
        "DecryptionFailure" => (ErrorKind::PermissionDenied, false),
        "InternalServiceError" | "InternalFailure" | "ServiceUnavailable" => {
            (ErrorKind::Unavailable, true)
        }
        "RequestTimeout" | "RequestTimeoutException" => (ErrorKind::Timeout, true),
        "InvalidRequestException" if lower.contains("marked for deletion") => {
            (ErrorKind::Disabled, false)
        }
        "InvalidParameterException" | "ValidationException" => (ErrorKind::InvalidName, false),
        "InvalidRequestException" => (ErrorKind::Other, false),
        _ => match status {
            Some(401) => (ErrorKind::Unauthenticated, false),
            Some(403) => (ErrorKind::PermissionDenied, false),
            Some(404) => (ErrorKind::NotFound, false),
            Some(429) => (ErrorKind::RateLimited, true),
            Some(s) if s >= 500 => (ErrorKind::Unavailable, true),
            _ => (ErrorKind::Other, false),
        },
    };
    let mut text = if code.is_empty() {
        String::from("error")
    } else {
        code.to_string()
    };
    if kind == ErrorKind::PermissionDenied && code == "DecryptionFailure" {
        text.push_str(" (check kms:Decrypt on the secret's KMS key)");
    }
    if !message.is_empty() {
        text.push_str(": ");
        text.push_str(message);
    }
    Error::new(kind, PROVIDER)
        .with_message(text)
        .with_retryable(retryable)
}

/// Maps an SDK error to an [`Error`] about `name`. The raw response is dropped.
pub fn map_sdk_error<E>(err: SdkError<E, HttpResponse>, name: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let context = DisplayErrorContext(&err).to_string();
    let err = match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            map_code(
                e.code().unwrap_or(""),
                e.message().unwrap_or(""),
                Some(status),
            )
        }
        SdkError::TimeoutError(_) => Error::new(ErrorKind::Timeout, PROVIDER)
            .with_message("the call to Secrets Manager timed out"),
        SdkError::DispatchFailure(failure) => {
            let (kind, retryable) = if failure.is_timeout() {
                (ErrorKind::Timeout, true)
            } else if failure.is_io() {
                (ErrorKind::Unavailable, true)
            } else if context.to_ascii_lowercase().contains("credential") {
                (ErrorKind::Unauthenticated, false)
            } else if failure.is_user() {
                (ErrorKind::InvalidConfig, false)
            } else {
                (ErrorKind::Unavailable, true)
            };
            Error::new(kind, PROVIDER)
                .with_message(format!("request not sent or no answer: {context}"))
                .with_retryable(retryable)
        }
        SdkError::ConstructionFailure(_) => {
            let kind = if context.to_ascii_lowercase().contains("credential") {
                ErrorKind::Unauthenticated
            } else {
                ErrorKind::InvalidConfig
            };
            Error::new(kind, PROVIDER).with_message(format!("request not built: {context}"))
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            Error::new(ErrorKind::Unavailable, PROVIDER).with_message(format!(
                "unreadable response from Secrets Manager (HTTP {status})"
            ))
        }
        _ => Error::new(ErrorKind::Other, PROVIDER).with_message("unknown SDK error"),
    };
    err.with_secret(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let cases = [
            ("ResourceNotFoundException", ErrorKind::NotFound, false),
            ("AccessDeniedException", ErrorKind::PermissionDenied, false),
            ("ThrottlingException", ErrorKind::RateLimited, true),
            ("DecryptionFailure", ErrorKind::PermissionDenied, false),
            ("InternalServiceError", ErrorKind::Unavailable, true),
            (
                "UnrecognizedClientException",
                ErrorKind::Unauthenticated,
                false,
            ),
            ("ExpiredTokenException", ErrorKind::Unauthenticated, false),
            ("InvalidParameterException", ErrorKind::InvalidName, false),
        ];
        for (code, kind, retry) in cases {
            let e = map_code(code, "m", Some(400));
            assert_eq!((e.kind(), e.is_retryable()), (kind, retry), "{code}");
        }
        let deleted = map_code(
            "InvalidRequestException",
            "You can't perform this operation on the secret because it was marked for deletion.",
            Some(400),
        );
        assert_eq!(deleted.kind(), ErrorKind::Disabled);
        assert_eq!(
            map_code("Weird", "", Some(503)).kind(),
            ErrorKind::Unavailable
        );
        assert!(map_code("Weird", "", Some(503)).is_retryable());
        assert_eq!(map_code("Weird", "", Some(400)).kind(), ErrorKind::Other);
    }

    #[test]
    fn names() {
        assert!(check_aws_name("cgi-chat/database").is_ok());
        assert!(check_aws_name("a+b=c.d@e_f").is_ok());
        assert!(check_aws_name("arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf").is_ok());
        let e = check_aws_name("bad name").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidName);
        assert!(check_aws_name("").is_err());
    }
}
