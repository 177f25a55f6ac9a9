//! The provider itself.

use std::fmt;
use std::time::{Duration, SystemTime};

use google_cloud_secretmanager_v1::client::SecretManagerService;
use google_cloud_secretmanager_v1::model::{SecretPayload, SecretVersion, secret_version};
use secrets_core::{
    Capabilities, Error, ErrorKind, Result, Secret, SecretProvider, SecretValue, VersionInfo,
    VersionSelector, async_trait,
};

use crate::PROVIDER_NAME;
use crate::builder::{DEFAULT_ENDPOINT, GcpProviderBuilder};
use crate::errors::{Context, map_sdk_error};
use crate::names::{Target, resolve, version_of};
use crc32c::crc32c;

/// Reads secrets from Google Cloud Secret Manager.
///
/// Create one with [`GcpProvider::from_env`] or [`GcpProvider::builder`] and share it: the
/// client inside holds a connection pool and is cheap to clone.
///
/// - [`get`](SecretProvider::get) accesses `latest`, a version number
///   ([`VersionSelector::Id`]) or a version alias ([`VersionSelector::Stage`]). The payload
///   is text when it is valid UTF-8, bytes otherwise; its `dataCrc32c`, when the service
///   sends one, is verified. The version id is the version number (`"3"`).
/// - [`current_version`](SecretProvider::current_version) reads the metadata of `latest`
///   (number and creation time) without the payload.
/// - Names are plain names (`cgi-chat/database`, mapped to the secret id
///   `cgi-chat__database` by [`secret_id_for_name`](crate::secret_id_for_name)) or full
///   resource names (`projects/P/secrets/S[/versions/V]`).
///
/// `Debug` shows the project, endpoint, kind of credentials and retry limits, never a
/// credential.
///
/// ```no_run
/// # async fn demo() -> secrets_core::Result<()> {
/// use secrets_core::{SecretProvider, VersionSelector};
/// use secrets_gcp::GcpProvider;
///
/// let provider = GcpProvider::from_env().await?;
/// let secret = provider.get("cgi-chat/database", &VersionSelector::Latest).await?;
/// let url = secret.value().expose_text()?;
/// # let _ = url;
/// let probe = provider.current_version("cgi-chat/database").await?;
/// assert_eq!(probe.version_id.as_deref(), secret.version_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GcpProvider {
    client: SecretManagerService,
    settings: Settings,
}

/// What the builder decided, besides the client.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) project: String,
    pub(crate) endpoint: Option<String>,
    /// What kind of credentials, for `Debug` (never the credentials).
    pub(crate) credentials_label: &'static str,
    pub(crate) retry_label: String,
    pub(crate) version_metadata_on_get: bool,
    /// A hard bound on one provider call, when the retry policy is ours.
    pub(crate) call_timeout: Option<Duration>,
}

/// Extra time the hard bound grants over the retry policy's own time limit, which normally
/// ends a call first; the bound only catches what the policy does not time (obtaining an
/// access token, for one).
const CALL_TIMEOUT_GRACE: Duration = Duration::from_millis(250);

impl fmt::Debug for GcpProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("GcpProvider")
            .field("project", &s.project)
            .field("endpoint", &self.endpoint())
            .field("credentials", &s.credentials_label)
            .field("retry", &s.retry_label)
            .field("version_metadata_on_get", &s.version_metadata_on_get)
            .finish_non_exhaustive()
    }
}

impl GcpProvider {
    pub(crate) fn new(client: SecretManagerService, settings: Settings) -> Self {
        GcpProvider { client, settings }
    }

    /// A builder with no project, the public endpoint and the default retry limits.
    ///
    /// ```no_run
    /// # async fn demo() -> secrets_core::Result<()> {
    /// let provider = secrets_gcp::GcpProvider::builder()
    ///     .with_project("my-project")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> GcpProviderBuilder {
        GcpProviderBuilder::new()
    }

    /// A provider configured from the environment: the project from `GOOGLE_CLOUD_PROJECT`
    /// (else `GCLOUD_PROJECT`, else `CLOUDSDK_CORE_PROJECT`), the endpoint from
    /// `SECRETS_GCP_ENDPOINT` when set, and Application Default Credentials (anonymous for
    /// a plain-`http://` endpoint). Same as `GcpProviderBuilder::from_env().build().await`.
    ///
    /// ```no_run
    /// # async fn demo() -> secrets_core::Result<()> {
    /// // GOOGLE_CLOUD_PROJECT=my-project SECRETS_GCP_ENDPOINT=http://127.0.0.1:8085
    /// let provider = secrets_gcp::GcpProvider::from_env().await?;
    /// # Ok(()) }
    /// ```
    pub async fn from_env() -> Result<Self> {
        GcpProviderBuilder::from_env().build().await
    }

    /// The project plain names resolve in.
    pub fn project(&self) -> &str {
        &self.settings.project
    }

    /// The endpoint in use (`https://secretmanager.googleapis.com` unless overridden).
    pub fn endpoint(&self) -> &str {
        self.settings
            .endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT)
    }

    /// The SDK client, configured like the provider (endpoint, credentials, retries), for
    /// calls the provider does not make: creating secrets, adding, disabling or destroying
    /// versions, listing. Create secrets for plain names under
    /// [`secret_resource_name`](Self::secret_resource_name).
    pub fn client(&self) -> &SecretManagerService {
        &self.client
    }

    /// The secret resource name (`projects/P/secrets/ID`, no version) that `name` reads:
    /// a plain name is mapped with [`secret_id_for_name`](crate::secret_id_for_name) in
    /// this provider's project; a resource name is checked and returned without its version.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let provider = secrets_gcp::GcpProvider::builder()
    ///     .with_project("p")
    ///     .with_endpoint("http://127.0.0.1:8085") // an emulator: no credentials needed
    ///     .build()
    ///     .await?;
    /// assert_eq!(
    ///     provider.secret_resource_name("cgi-chat/database")?,
    ///     "projects/p/secrets/cgi-chat__database"
    /// );
    /// assert_eq!(
    ///     provider.secret_resource_name("projects/other/secrets/api-key/versions/3")?,
    ///     "projects/other/secrets/api-key"
    /// );
    /// # Ok::<(), secrets_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn secret_resource_name(&self, name: &str) -> Result<String> {
        Ok(resolve(&self.settings.project, name)?.resource)
    }

    fn context<'a>(&'a self, name: &'a str, resource: &'a str) -> Context<'a> {
        Context {
            name,
            resource,
            endpoint: self.endpoint(),
        }
    }

    /// Runs one SDK call under the hard time bound and maps its error.
    async fn call<T>(
        &self,
        name: &str,
        resource: &str,
        call: impl Future<Output = google_cloud_gax::Result<T>>,
    ) -> Result<T> {
        let outcome = match self.settings.call_timeout {
            None => call.await,
            Some(limit) => match tokio::time::timeout(limit + CALL_TIMEOUT_GRACE, call).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(Error::new(ErrorKind::Timeout, PROVIDER_NAME)
                        .with_secret(name)
                        .with_message(format!(
                            "no answer about `{resource}` from {} within {limit:?}, retries \
                             and obtaining credentials included",
                            self.endpoint()
                        )));
                }
            },
        };
        outcome.map_err(|e| map_sdk_error(e, &self.context(name, resource)))
    }

    async fn version_metadata(&self, name: &str, resource: &str) -> Result<SecretVersion> {
        let request = self.client.get_secret_version().set_name(resource).send();
        let version = self.call(name, resource, request).await?;
        check_state(name, &version)?;
        Ok(version)
    }
}

fn created(version: &SecretVersion) -> Option<SystemTime> {
    version
        .create_time
        .and_then(|t| SystemTime::try_from(t).ok())
}

fn check_state(name: &str, version: &SecretVersion) -> Result<()> {
    let what = match version.state {
        secret_version::State::Disabled => "is disabled: enable it again or read another version",
        secret_version::State::Destroyed => "is destroyed: its data is gone for good",
        _ => return Ok(()),
    };
    Err(Error::new(ErrorKind::Disabled, PROVIDER_NAME)
        .with_secret(name)
        .with_message(format!("version `{}` {what}", version.name)))
}

/// Turns a payload into a value, verifying its checksum when the service sent one. The
/// error never holds the data or its checksum (a CRC of a short secret can be inverted).
pub(crate) fn decode_payload(
    name: &str,
    resource: &str,
    payload: Option<SecretPayload>,
) -> Result<SecretValue> {
    let Some(payload) = payload else {
        return Ok(SecretValue::bytes(Vec::new()));
    };
    if let Some(expected) = payload.data_crc32c
        && i64::from(crc32c(&payload.data)) != expected
    {
        return Err(Error::new(ErrorKind::Decode, PROVIDER_NAME)
            .with_secret(name)
            .with_message(format!(
                "the payload of `{resource}` does not match the CRC32C checksum the service \
                     sent (corrupted in transit?); the value was discarded"
            ))
            .with_retryable(true));
    }
    Ok(SecretValue::from_utf8_or_bytes(Vec::from(payload.data)))
}

#[async_trait]
impl SecretProvider for GcpProvider {
    fn provider_name(&self) -> &'static str {
        PROVIDER_NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_version_probe().with_versions()
    }

    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        let target: Target = resolve(&self.settings.project, name)?;
        let resource = target.version_resource(name, version)?;
        let request = self
            .client
            .access_secret_version()
            .set_name(&resource)
            .send();
        let response = self.call(name, &resource, request).await?;
        let value = decode_payload(name, &resource, response.payload)?;

        // The service answers with the numbered version it read, even for `latest` or an
        // alias.
        let read = if response.name.is_empty() {
            resource.clone()
        } else {
            response.name
        };
        let mut info = match version_of(&read) {
            Some(v) => VersionInfo::new(v),
            None => VersionInfo::default(),
        };
        if let VersionSelector::Stage(alias) = version {
            info = info.with_stages(vec![alias.clone()]);
        }
        if self.settings.version_metadata_on_get {
            let meta = self.version_metadata(name, &read).await?;
            info = info.with_created(created(&meta));
        }
        Ok(Secret::new(name, value).with_version(info))
    }

    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        let target = resolve(&self.settings.project, name)?;
        let resource = target.version_resource(name, &VersionSelector::Latest)?;
        let meta = self.version_metadata(name, &resource).await?;
        let mut info = match version_of(&meta.name) {
            Some(v) => VersionInfo::new(v),
            None => VersionInfo::default(),
        };
        info = info.with_created(created(&meta));
        Ok(info)
    }

    async fn get_many(&self, names: &[&str]) -> Vec<Result<Secret>> {
        // Secret Manager has no batch read: read them concurrently.
        futures::future::join_all(
            names
                .iter()
                .map(|name| self.get(name, &VersionSelector::Latest)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_checksum_is_verified() {
        let ok = SecretPayload::new()
            .set_data(b"hello".to_vec())
            .set_data_crc32c(i64::from(crc32c(b"hello")));
        let v = decode_payload("db", "r", Some(ok)).unwrap();
        assert_eq!(v.expose_text().unwrap(), "hello");

        let bad = SecretPayload::new()
            .set_data(b"canary-51c3".to_vec())
            .set_data_crc32c(12345_i64);
        let err = decode_payload("db", "projects/p/secrets/db/versions/1", Some(bad)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        let all = format!("{err} {err:?}");
        assert!(all.contains("CRC32C"), "{all}");
        assert!(!all.contains("canary-51c3"), "{all}");
        assert!(!all.contains(&crc32c(b"canary-51c3").to_string()), "{all}");

        let absent = SecretPayload::new().set_data(vec![0xff, 0x00, 0x10]);
        let v = decode_payload("db", "r", Some(absent)).unwrap();
        assert!(v.is_binary());
        assert_eq!(v.expose_bytes(), &[0xff, 0x00, 0x10]);

        let none = decode_payload("db", "r", None).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn version_state_is_checked() {
        let v = SecretVersion::new()
            .set_name("projects/p/secrets/s/versions/2")
            .set_state(secret_version::State::Disabled);
        assert_eq!(
            check_state("s", &v).unwrap_err().kind(),
            ErrorKind::Disabled
        );
        let v = v.set_state(secret_version::State::Destroyed);
        let err = check_state("s", &v).unwrap_err();
        assert!(err.to_string().contains("destroyed"), "{err}");
        let v = v.set_state(secret_version::State::Enabled);
        assert!(check_state("s", &v).is_ok());
    }

    mod with_stub {
        use std::sync::Mutex;

        use google_cloud_gax::error::Error as SdkError;
        use google_cloud_gax::error::rpc::{Code, Status};
        use google_cloud_gax::options::RequestOptions;
        use google_cloud_gax::response::Response;
        use google_cloud_secretmanager_v1::model::{
            AccessSecretVersionRequest, AccessSecretVersionResponse, GetSecretVersionRequest,
        };
        use google_cloud_secretmanager_v1::stub;

        use super::*;

        /// Answers access calls with `payload` (or `error`) as version `version`; answers
        /// version metadata calls. Methods it does not implement panic (the SDK's default).
        #[derive(Debug, Default)]
        struct Stub {
            calls: Mutex<Vec<String>>,
            data: Vec<u8>,
            crc: Option<i64>,
            version: &'static str,
            error: Option<(Code, &'static str)>,
            no_access: bool,
            hang: bool,
        }

        impl stub::SecretManagerService for Stub {
            async fn access_secret_version(
                &self,
                req: AccessSecretVersionRequest,
                _options: RequestOptions,
            ) -> google_cloud_gax::Result<Response<AccessSecretVersionResponse>> {
                assert!(!self.no_access, "access_secret_version must not be called");
                if self.hang {
                    std::future::pending::<()>().await;
                }
                self.calls
                    .lock()
                    .unwrap()
                    .push(format!("access {}", req.name));
                if let Some((code, message)) = self.error {
                    return Err(SdkError::service(
                        Status::default().set_code(code).set_message(message),
                    ));
                }
                let secret = req.name.rsplit_once("/versions/").unwrap().0;
                let payload = SecretPayload::new()
                    .set_data(self.data.clone())
                    .set_or_clear_data_crc32c(self.crc);
                Ok(Response::from(
                    AccessSecretVersionResponse::new()
                        .set_name(format!("{secret}/versions/{}", self.version))
                        .set_payload(payload),
                ))
            }

            async fn get_secret_version(
                &self,
                req: GetSecretVersionRequest,
                _options: RequestOptions,
            ) -> google_cloud_gax::Result<Response<SecretVersion>> {
                self.calls
                    .lock()
                    .unwrap()
                    .push(format!("get_version {}", req.name));
                let secret = req.name.rsplit_once("/versions/").unwrap().0;
                Ok(Response::from(
                    SecretVersion::new()
                        .set_name(format!("{secret}/versions/{}", self.version))
                        .set_state(secret_version::State::Enabled)
                        .set_create_time(created_at()),
                ))
            }
        }

        fn created_at() -> google_cloud_wkt::Timestamp {
            google_cloud_wkt::Timestamp::new(1_700_000_000, 0).unwrap()
        }

        fn provider(
            stub: Stub,
            version_metadata_on_get: bool,
        ) -> (GcpProvider, std::sync::Arc<Stub>) {
            provider_with_timeout(stub, version_metadata_on_get, Duration::from_secs(5))
        }

        fn provider_with_timeout(
            stub: Stub,
            version_metadata_on_get: bool,
            call_timeout: Duration,
        ) -> (GcpProvider, std::sync::Arc<Stub>) {
            let stub = std::sync::Arc::new(stub);
            let client = SecretManagerService::from_stub::<Stub>(stub.clone());
            let provider = GcpProvider::new(
                client,
                Settings {
                    project: "p".into(),
                    endpoint: None,
                    credentials_label: "anonymous",
                    retry_label: "test".into(),
                    version_metadata_on_get,
                    call_timeout: Some(call_timeout),
                },
            );
            (provider, stub)
        }

        fn calls(stub: &Stub) -> Vec<String> {
            stub.calls.lock().unwrap().clone()
        }

        #[tokio::test]
        async fn alias_is_sent_as_version_segment_and_number_is_reported() {
            let (p, stub) = provider(
                Stub {
                    data: b"v7".to_vec(),
                    version: "7",
                    ..Stub::default()
                },
                false,
            );
            let s = p
                .get("cgi-chat/db", &VersionSelector::stage("prod"))
                .await
                .unwrap();
            assert_eq!(
                calls(&stub),
                ["access projects/p/secrets/cgi-chat__db/versions/prod"]
            );
            assert_eq!(s.version_id(), Some("7"));
            assert_eq!(s.stages(), ["prod"]);
            assert_eq!(s.created(), None);
            assert_eq!(s.name(), "cgi-chat/db");
            assert_eq!(s.value().expose_text().unwrap(), "v7");
        }

        #[tokio::test]
        async fn checksum_mismatch_is_a_decode_error_without_value() {
            let (p, _) = provider(
                Stub {
                    data: b"canary-0b7f".to_vec(),
                    crc: Some(1),
                    version: "1",
                    ..Stub::default()
                },
                false,
            );
            let err = p.get("db", &VersionSelector::Latest).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode);
            assert!(!format!("{err} {err:?}").contains("canary-0b7f"));

            let (p, _) = provider(
                Stub {
                    data: b"canary-0b7f".to_vec(),
                    crc: Some(i64::from(crc32c(b"canary-0b7f"))),
                    version: "1",
                    ..Stub::default()
                },
                false,
            );
            let s = p.get("db", &VersionSelector::Latest).await.unwrap();
            assert_eq!(s.value().expose_text().unwrap(), "canary-0b7f");
        }

        #[tokio::test]
        async fn current_version_reads_metadata_only() {
            let (p, stub) = provider(
                Stub {
                    version: "4",
                    no_access: true,
                    ..Stub::default()
                },
                false,
            );
            let info = p.current_version("a/b").await.unwrap();
            assert_eq!(
                calls(&stub),
                ["get_version projects/p/secrets/a__b/versions/latest"]
            );
            assert_eq!(info.version_id.as_deref(), Some("4"));
            assert_eq!(
                info.created,
                Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000))
            );
        }

        #[tokio::test]
        async fn version_metadata_on_get_reads_the_exact_version() {
            let (p, stub) = provider(
                Stub {
                    data: vec![0xff, 0xfe],
                    version: "9",
                    ..Stub::default()
                },
                true,
            );
            let s = p.get("db", &VersionSelector::Latest).await.unwrap();
            assert_eq!(
                calls(&stub),
                [
                    "access projects/p/secrets/db/versions/latest",
                    "get_version projects/p/secrets/db/versions/9"
                ]
            );
            assert!(s.value().is_binary());
            assert_eq!(s.version_id(), Some("9"));
            assert!(s.created().is_some());
        }

        #[tokio::test]
        async fn service_errors_are_mapped_end_to_end() {
            let (p, _) = provider(
                Stub {
                    error: Some((
                        Code::FailedPrecondition,
                        "Secret Version [x] is in DISABLED state.",
                    )),
                    ..Stub::default()
                },
                false,
            );
            let err = p.get("db", &VersionSelector::id("2")).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Disabled);
            assert_eq!(err.secret(), Some("db"));
            assert!(
                err.to_string().contains("projects/p/secrets/db/versions/2"),
                "{err}"
            );
        }

        #[tokio::test]
        async fn a_call_that_hangs_is_cut_off() {
            let (p, _) = provider_with_timeout(
                Stub {
                    hang: true,
                    ..Stub::default()
                },
                false,
                Duration::from_millis(100),
            );
            let started = std::time::Instant::now();
            let err = p.get("db", &VersionSelector::Latest).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Timeout);
            assert!(err.is_retryable());
            assert!(started.elapsed() < Duration::from_secs(2));
        }

        #[tokio::test]
        async fn get_many_keeps_order_and_per_name_errors() {
            let (p, _) = provider(
                Stub {
                    data: b"x".to_vec(),
                    version: "1",
                    ..Stub::default()
                },
                false,
            );
            let out = p.get_many(&["a", "bad.name", "b"]).await;
            assert_eq!(out.len(), 3);
            assert_eq!(out[0].as_ref().unwrap().name(), "a");
            assert_eq!(out[1].as_ref().unwrap_err().kind(), ErrorKind::InvalidName);
            assert_eq!(out[2].as_ref().unwrap().name(), "b");
        }
    }
}
