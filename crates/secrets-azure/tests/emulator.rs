//! Integration tests against the workspace's Key Vault emulator, through the real Azure SDK
//! client. Each test starts its own emulator in-process on a free port, so tests run in
//! parallel and need no server started beforehand. The canary test lives in `canary.rs`, its
//! own binary, so that its TRACE capture is not disturbed by tests on other threads.

// Helpers outside #[test] functions panic on purpose, like the tests that call them.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use keyvault_emulator::{EmulatorConfig, Fault, Operation};
use secrets_azure::azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use secrets_azure::azure_core::http::Transport;
use secrets_azure::azure_security_keyvault_secrets::models::{
    SecretAttributes, SetSecretParameters,
};
use secrets_azure::{
    AzureProvider, ChainedCredential, RetryConfig, StaticTokenCredential, to_vault_name,
};
use secrets_core::{ErrorKind, SecretProvider, VersionSelector};

#[tokio::test]
async fn text_secret_latest_versions_and_content_type() {
    let (emu, p) = setup().await;
    let name = unique("text");
    let v1 = put(&p, &name, "postgres://u:pw-1@db/app", None).await;

    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.name(), name);
    assert_eq!(s.value().expose_text().unwrap(), "postgres://u:pw-1@db/app");
    assert!(!s.value().is_binary());
    assert_eq!(s.version_id(), Some(v1.as_str()));
    assert!(s.created().is_some());

    // A second version becomes the latest; the first stays readable by id.
    let params = SetSecretParameters {
        value: Some("postgres://u:pw-2@db/app".into()),
        content_type: Some("text/x-postgres-url".into()),
        ..Default::default()
    };
    p.client()
        .set_secret(
            &to_vault_name(&name).unwrap(),
            params.try_into().unwrap(),
            None,
        )
        .await
        .unwrap();
    let latest = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(
        latest.value().expose_text().unwrap(),
        "postgres://u:pw-2@db/app"
    );
    assert_ne!(latest.version_id(), Some(v1.as_str()));
    assert_eq!(latest.content_type(), Some("text/x-postgres-url"));
    let old = p.get(&name, &VersionSelector::id(&v1)).await.unwrap();
    assert_eq!(
        old.value().expose_text().unwrap(),
        "postgres://u:pw-1@db/app"
    );
    assert_eq!(old.version_id(), Some(v1.as_str()));

    // The probe agrees with get, whether or not both versions share a creation second.
    let probe = p.current_version(&name).await.unwrap();
    assert_eq!(probe.version_id.as_deref(), latest.version_id());

    // The secret is stored under the mapped name.
    assert!(to_vault_name(&name).unwrap().contains("--"));
    let direct = emu
        .set_secret(&to_vault_name(&name).unwrap(), "v3")
        .unwrap();
    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.version_id(), Some(direct.as_str()));
}

#[tokio::test]
async fn probe_lists_versions_and_never_reads_the_value() {
    let (emu, p) = setup().await;
    let name = unique("probe");
    let v1 = put(&p, &name, "one", None).await;

    emu.reset_stats();
    let probe = p.current_version(&name).await.unwrap();
    assert_eq!(probe.version_id.as_deref(), Some(v1.as_str()));
    assert!(probe.created.is_some());
    let stats = emu.stats();
    assert_eq!(stats.count(Operation::ListSecretVersions), 1);
    assert_eq!(
        stats.count(Operation::GetSecret),
        0,
        "the probe read the value"
    );
    assert_eq!(stats.total(), 1);

    emu.reset_stats();
    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.version_id(), Some(v1.as_str()));
    let stats = emu.stats();
    assert_eq!(stats.count(Operation::GetSecret), 1);
    assert_eq!(stats.total(), 1);

    // A new version in a later second: the probe names it, still without reading.
    next_second().await;
    let v2 = put(&p, &name, "two", None).await;
    emu.reset_stats();
    let probe = p.current_version(&name).await.unwrap();
    assert_eq!(probe.version_id.as_deref(), Some(v2.as_str()));
    assert_eq!(emu.stats().count(Operation::GetSecret), 0);
    assert_eq!(emu.stats().count(Operation::ListSecretVersions), 1);
    assert_eq!(
        p.get(&name, &VersionSelector::Latest)
            .await
            .unwrap()
            .version_id(),
        Some(v2.as_str())
    );
}

#[tokio::test]
async fn probe_falls_back_to_a_read_when_the_newest_versions_share_a_second() {
    let (emu, p) = setup().await;
    // Two versions set back to back usually share their creation second; retry with a fresh
    // name in the rare case they straddle a second boundary.
    for _ in 0..5 {
        let name = unique("tie");
        let v1 = put(&p, &name, "a", None).await;
        let v2 = put(&p, &name, "b", None).await;
        let listed: Vec<_> = {
            use futures::StreamExt;
            let pager = p
                .client()
                .list_secret_properties_versions(&to_vault_name(&name).unwrap(), None)
                .unwrap();
            pager.map(|r| r.unwrap()).collect().await
        };
        let created: Vec<_> = listed
            .iter()
            .map(|v| v.attributes.as_ref().unwrap().created.unwrap())
            .collect();
        if created[0] != created[1] {
            continue;
        }
        emu.reset_stats();
        let probe = p.current_version(&name).await.unwrap();
        assert_eq!(probe.version_id.as_deref(), Some(v2.as_str()));
        assert_ne!(v1, v2);
        assert_eq!(emu.stats().count(Operation::ListSecretVersions), 1);
        assert_eq!(emu.stats().count(Operation::GetSecret), 1);
        return;
    }
    panic!("five pairs of versions all straddled a second boundary");
}

#[tokio::test]
async fn paging_past_one_page_of_versions() {
    let (emu, p) = setup().await;
    let name = unique("paging");
    let vault = to_vault_name(&name).unwrap();
    // 30 versions: 29 seeded directly, the newest one a second later.
    let mut versions = Vec::new();
    for i in 0..29 {
        versions.push(emu.set_secret(&vault, &format!("value-{i}")).unwrap());
    }
    next_second().await;
    let newest = put(&p, &name, "value-29", None).await;

    emu.reset_stats();
    let probe = p.current_version(&name).await.unwrap();
    assert_eq!(probe.version_id.as_deref(), Some(newest.as_str()));
    let stats = emu.stats();
    assert_eq!(stats.count(Operation::ListSecretVersions), 2, "25 + 5");
    assert_eq!(stats.count(Operation::GetSecret), 0);

    // Versions from the first page stay readable by id.
    let first = p
        .get(&name, &VersionSelector::id(&versions[0]))
        .await
        .unwrap();
    assert_eq!(first.value().expose_text().unwrap(), "value-0");
    let mid = p
        .get(&name, &VersionSelector::id(&versions[27]))
        .await
        .unwrap();
    assert_eq!(mid.value().expose_text().unwrap(), "value-27");
}

#[tokio::test]
async fn disabled_versions() {
    let (emu, p) = setup().await;
    let name = unique("disabled");
    let v1 = put(&p, &name, "v1", None).await;
    patch(&p, &name, &v1, disabled()).await;

    let err = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disabled);
    assert!(!err.is_retryable());
    assert_eq!(err.secret(), Some(name.as_str()));
    assert!(err.message().unwrap().contains("disabled"), "{err}");

    let err = p.get(&name, &VersionSelector::id(&v1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disabled);

    // The probe sees the disabled flag in the listing and says so without reading.
    emu.reset_stats();
    let err = p.current_version(&name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disabled);
    assert!(err.message().unwrap().contains("is disabled"), "{err}");
    assert_eq!(emu.stats().count(Operation::GetSecret), 0);

    // A new enabled version is readable; the old one stays disabled.
    next_second().await;
    let v2 = put(&p, &name, "v2", None).await;
    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.version_id(), Some(v2.as_str()));
    assert_eq!(
        p.current_version(&name)
            .await
            .unwrap()
            .version_id
            .as_deref(),
        Some(v2.as_str())
    );
    assert_eq!(
        p.get(&name, &VersionSelector::id(&v1))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Disabled
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_versions() {
    let (_emu, p) = setup().await;
    let expired = unique("expired");
    put(
        &p,
        &expired,
        "old",
        Some(SecretAttributes {
            expires: Some(hours_from_now(-1)),
            ..Default::default()
        }),
    )
    .await;
    let early = unique("early");
    put(
        &p,
        &early,
        "new",
        Some(SecretAttributes {
            not_before: Some(hours_from_now(1)),
            ..Default::default()
        }),
    )
    .await;
    let fine = unique("fine");
    put(
        &p,
        &fine,
        "ok",
        Some(SecretAttributes {
            not_before: Some(hours_from_now(-1)),
            expires: Some(hours_from_now(1)),
            ..Default::default()
        }),
    )
    .await;

    // The emulator, like Key Vault, serves both; the provider refuses each with its own words.
    for (name, words) in [(&expired, "expired at"), (&early, "not valid before")] {
        let err = p.get(name, &VersionSelector::Latest).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Disabled, "{err}");
        assert!(err.message().unwrap().contains(words), "{err}");
        let err = p.current_version(name).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Disabled, "{err}");
        assert!(err.message().unwrap().contains(words), "{err}");
    }
    assert_eq!(
        p.get(&fine, &VersionSelector::Latest)
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        "ok"
    );
}

#[tokio::test]
async fn strict_emulator_validity_errors_map_to_disabled() {
    let emu = emulator(EmulatorConfig::default().with_enforce_validity_period(true)).await;
    let p = provider_with(&emu, quick_retry()).await;
    let name = unique("strict");
    put(
        &p,
        &name,
        "old",
        Some(SecretAttributes {
            expires: Some(hours_from_now(-1)),
            ..Default::default()
        }),
    )
    .await;
    let err = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disabled, "{err}");
    assert!(err.message().unwrap().contains("SecretExpired"), "{err}");
}

#[tokio::test]
async fn missing_secrets_and_versions() {
    let (emu, p) = setup().await;
    let name = unique("missing");
    let err = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(!err.is_retryable());
    assert_eq!(err.secret(), Some(name.as_str()));
    assert!(err.message().unwrap().contains("SecretNotFound"), "{err}");
    assert_eq!(
        p.current_version(&name).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    put(&p, &name, "x", None).await;
    let err = p
        .get(
            &name,
            &VersionSelector::id("0123456789abcdef0123456789abcdef"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // Not-found answers are not retried.
    emu.reset_stats();
    let _ = p.get(&unique("other"), &VersionSelector::Latest).await;
    assert_eq!(emu.stats().count(Operation::GetSecret), 1);
}

#[tokio::test]
async fn names_stages_and_version_ids_are_checked_before_any_request() {
    let (emu, p) = setup().await;
    emu.reset_stats();
    for bad in ["cgi-chat/db_password", "a--b", "a-/b", "/a", ""] {
        let err = p.get(bad, &VersionSelector::Latest).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}");
        let err = p.current_version(bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}");
    }
    let long = vec!["ab"; 43].join("/");
    let err = p.get(&long, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidName);
    assert!(err.message().unwrap().contains("at most 127"), "{err}");

    let err = p
        .get("app/x", &VersionSelector::stage("AWSPREVIOUS"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.message().unwrap().contains("no version stages"),
        "{err}"
    );
    let err = p
        .get("app/x", &VersionSelector::id("../other"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidName);
    assert_eq!(emu.stats().total(), 0);
    assert_eq!(emu.stats().challenges(), 0);
}

#[tokio::test]
async fn throttling_is_rate_limited_with_retry_after_and_bounded_retries() {
    let (emu, p) = setup().await;
    let name = unique("throttled");
    put(&p, &name, "x", None).await;

    // Throttled on every attempt: three attempts, each waiting out Retry-After: 1.
    emu.reset_stats();
    emu.inject(Fault::throttled(1).times(10).only(Operation::GetSecret));
    let start = Instant::now();
    let err = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(
        err.message().unwrap().contains("gave up after 3 attempts"),
        "{err}"
    );
    assert_eq!(emu.stats().count(Operation::GetSecret), 3);
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    emu.clear_faults();

    // A Retry-After longer than max_retry_after (5 s here) is not waited for: one attempt.
    emu.reset_stats();
    emu.inject(Fault::throttled(120).only(Operation::GetSecret));
    let start = Instant::now();
    let err = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(emu.stats().count(Operation::GetSecret), 1);

    // One throttled answer, then success.
    emu.reset_stats();
    emu.inject(Fault::throttled(1).only(Operation::GetSecret));
    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "x");
    assert_eq!(emu.stats().count(Operation::GetSecret), 2);

    // The probe is throttled the same way.
    emu.inject(Fault::throttled(120).only(Operation::ListSecretVersions));
    let err = p.current_version(&name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
}

#[tokio::test]
async fn unavailable_is_retried_then_reported() {
    let (emu, p) = setup().await;
    let name = unique("unavailable");
    put(&p, &name, "x", None).await;

    emu.reset_stats();
    emu.inject(Fault::status(503).times(2).only(Operation::GetSecret));
    let start = Instant::now();
    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "x");
    assert_eq!(emu.stats().count(Operation::GetSecret), 3);
    assert!(start.elapsed() < Duration::from_secs(2));

    emu.reset_stats();
    emu.inject(Fault::status(503).times(10).only(Operation::GetSecret));
    let err = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());
    assert!(err.message().unwrap().contains("503"), "{err}");
    assert_eq!(emu.stats().count(Operation::GetSecret), 3);
    emu.clear_faults();

    // A failure on the second page of a listing retries the listing.
    let many = unique("many");
    for i in 0..27 {
        emu.set_secret(&to_vault_name(&many).unwrap(), &format!("v{i}"))
            .unwrap();
    }
    emu.reset_stats();
    emu.inject(Fault::status(500).only(Operation::ListSecretVersions));
    assert!(p.current_version(&many).await.is_ok());
}

#[tokio::test]
async fn unauthenticated_and_permission_denied() {
    let (emu, p) = setup().await;
    let name = unique("auth");
    put(&p, &name, "x", None).await;

    // One 401 with a challenge: the SDK fetches a new token and retries once, by itself.
    emu.inject(Fault::status(401).only(Operation::GetSecret));
    assert!(p.get(&name, &VersionSelector::Latest).await.is_ok());

    // Two in a row: unauthenticated, not retried by the provider.
    emu.reset_stats();
    emu.inject(Fault::status(401).times(2).only(Operation::GetSecret));
    let err = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(!err.is_retryable());
    assert_eq!(emu.stats().count(Operation::GetSecret), 2);

    emu.reset_stats();
    emu.inject(Fault::status(403).only(Operation::GetSecret));
    let err = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(!err.is_retryable());
    assert!(err.message().unwrap().contains("ForbiddenByRbac"), "{err}");
    assert_eq!(emu.stats().count(Operation::GetSecret), 1);
}

#[tokio::test]
async fn probe_without_list_permission_falls_back_to_reading() {
    let (emu, p) = setup().await;
    let name = unique("nolist");
    let v1 = put(&p, &name, "x", None).await;

    emu.reset_stats();
    emu.inject(Fault::status(403).only(Operation::ListSecretVersions));
    let probe = p.current_version(&name).await.unwrap();
    assert_eq!(probe.version_id.as_deref(), Some(v1.as_str()));
    assert_eq!(emu.stats().count(Operation::ListSecretVersions), 1);
    assert_eq!(emu.stats().count(Operation::GetSecret), 1);
    assert!(format!("{p:?}").contains("probe_by_get: true"));

    // From then on the probe reads directly.
    emu.reset_stats();
    p.current_version(&name).await.unwrap();
    assert_eq!(emu.stats().count(Operation::ListSecretVersions), 0);
    assert_eq!(emu.stats().count(Operation::GetSecret), 1);

    // When reading is refused too, the probe reports that and keeps listing next time.
    let (emu, p) = setup().await;
    put(&p, &name, "x", None).await;
    emu.inject(Fault::status(403).only(Operation::ListSecretVersions));
    emu.inject(Fault::status(403).only(Operation::GetSecret));
    let err = p.current_version(&name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(format!("{p:?}").contains("probe_by_get: false"));
}

#[tokio::test]
async fn connection_failures_and_timeouts() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let emu = emulator(EmulatorConfig::default()).await;
    let p = AzureProvider::builder()
        .with_vault_url(format!("https://127.0.0.1:{port}"))
        .with_ca_pem(emu.ca_pem())
        .with_credential(Arc::new(StaticTokenCredential::new("t")))
        .with_verify_challenge_resource(false)
        .with_retry(quick_retry().with_max_attempts(2))
        .build()
        .await
        .unwrap();
    let err = p.get("app/x", &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    assert!(err.message().unwrap().contains("connect"), "{err}");

    // A server that answers too slowly.
    let name = unique("slow");
    emu.set_secret(&to_vault_name(&name).unwrap(), "x").unwrap();
    let slow = AzureProvider::builder()
        .with_vault_url(emu.url())
        .with_ca_pem(emu.ca_pem())
        .with_credential(Arc::new(StaticTokenCredential::new("t")))
        .with_verify_challenge_resource(false)
        .with_retry(RetryConfig::none())
        .with_attempt_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    // Warm up the challenge, then stall the read.
    slow.get(&name, &VersionSelector::Latest).await.unwrap();
    emu.inject(Fault::delay(Duration::from_secs(3)).only(Operation::GetSecret));
    let start = Instant::now();
    let err = slow.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    assert!(start.elapsed() < Duration::from_secs(2));

    // A vault whose certificate is not trusted: the platform roots do not know the emulator.
    let untrusted = AzureProvider::builder()
        .with_vault_url(emu.url())
        .with_credential(Arc::new(StaticTokenCredential::new("t")))
        .with_verify_challenge_resource(false)
        .with_retry(RetryConfig::none())
        .build()
        .await
        .unwrap();
    let err = untrusted
        .get(&name, &VersionSelector::Latest)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(!err.is_retryable());
    assert!(
        err.message().unwrap().contains("AZURE_KEYVAULT_CA_FILE"),
        "{err}"
    );
}

#[tokio::test]
async fn challenge_resource_is_verified_by_default() {
    let emu = emulator(EmulatorConfig::default()).await;
    let p = AzureProvider::builder()
        .with_vault_url(emu.url())
        .with_ca_pem(emu.ca_pem())
        .with_credential(Arc::new(StaticTokenCredential::new("t")))
        .with_retry(RetryConfig::none())
        .build()
        .await
        .unwrap();
    let err = p.get("app/x", &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(
        err.message().unwrap().contains("verify_challenge_resource"),
        "{err}"
    );
}

/// A credential that always fails, as a source that does not apply here would.
#[derive(Debug)]
struct NoToken;

#[secrets_core::async_trait]
impl TokenCredential for NoToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> secrets_azure::azure_core::Result<AccessToken> {
        Err(secrets_azure::azure_core::Error::with_message(
            secrets_azure::azure_core::error::ErrorKind::Credential,
            "no identity endpoint here",
        ))
    }
}

#[tokio::test]
async fn caller_transport_and_credential_chain() {
    let emu = emulator(EmulatorConfig::default()).await;
    let name = unique("transport");
    emu.set_secret(&to_vault_name(&name).unwrap(), "x").unwrap();

    // The caller's own reqwest client as transport, and a chain whose first source fails.
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let chain = Arc::new(
        ChainedCredential::new()
            .with_source("nothing", Arc::new(NoToken))
            .with_source("static", Arc::new(StaticTokenCredential::new("t"))),
    );
    let p = AzureProvider::builder()
        .with_vault_url(emu.url())
        .with_transport(Transport::new(Arc::new(http)))
        .with_credential(chain.clone())
        .with_verify_challenge_resource(false)
        .build()
        .await
        .unwrap();
    assert!(p.get(&name, &VersionSelector::Latest).await.is_ok());
    assert_eq!(chain.chosen(), Some("static"));

    // Every source failing: unauthenticated, not retried, each source named.
    let broken = AzureProvider::builder()
        .with_vault_url(emu.url())
        .with_ca_pem(emu.ca_pem())
        .with_credential(Arc::new(
            ChainedCredential::new()
                .with_source("first", Arc::new(NoToken))
                .with_source("second", Arc::new(NoToken)),
        ))
        .with_verify_challenge_resource(false)
        .build()
        .await
        .unwrap();
    emu.reset_stats();
    let err = broken
        .get(&name, &VersionSelector::Latest)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(!err.is_retryable());
    let message = err.message().unwrap();
    assert!(
        message.contains("first: no identity endpoint here")
            && message.contains("second: no identity endpoint here"),
        "{err}"
    );
    // The challenge went out; no authenticated request did.
    assert_eq!(emu.stats().total(), 0);
}

#[tokio::test]
async fn get_many_keeps_order_and_reports_each_failure() {
    let (_emu, p) = setup().await;
    let (a, b, missing) = (unique("a"), unique("b"), unique("missing"));
    put(&p, &a, "A", None).await;
    put(&p, &b, "B", None).await;
    let out = p.get_many(&[&b, &missing, &a, "bad_name"]).await;
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].as_ref().unwrap().value().expose_text().unwrap(), "B");
    assert_eq!(out[1].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(out[2].as_ref().unwrap().value().expose_text().unwrap(), "A");
    assert_eq!(out[3].as_ref().unwrap_err().kind(), ErrorKind::InvalidName);
}

/// `from_env` reads `AZURE_KEYVAULT_URL`, `AZURE_KEYVAULT_CA_FILE` and
/// `AZURE_KEYVAULT_CREDENTIAL=emulator`. Setting variables in-process is `unsafe` in edition
/// 2024 (and this workspace forbids unsafe code), so the test runs `from_env_child` in a child
/// process with the variables set.
#[tokio::test]
async fn from_env_points_at_the_emulator() {
    let emu = emulator(EmulatorConfig::default()).await;
    let dir = std::env::temp_dir().join(format!("secrets-azure-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, emu.ca_pem()).unwrap();
    emu.set_secret("cgi-chat--database", "postgres://x")
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let url = emu.url().to_owned();
    let ca_path = ca.clone();
    // The emulator runs on this runtime: wait for the child on a blocking thread.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(exe)
            .args([
                "--exact",
                "from_env_child",
                "--include-ignored",
                "--nocapture",
            ])
            .env("AZURE_KEYVAULT_URL", url)
            .env("AZURE_KEYVAULT_CA_FILE", ca_path)
            .env("AZURE_KEYVAULT_CREDENTIAL", "emulator")
            .env("SECRETS_AZURE_FROM_ENV_CHILD", "1")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert_eq!(emu.stats().count(Operation::GetSecret), 1);
}

/// Run by `from_env_points_at_the_emulator` in a child process with the variables set.
#[tokio::test]
#[ignore = "run by from_env_points_at_the_emulator with its environment"]
async fn from_env_child() {
    if std::env::var("SECRETS_AZURE_FROM_ENV_CHILD").is_err() {
        return;
    }
    let p = AzureProvider::from_env().await.unwrap();
    let debug = format!("{p:?}");
    assert!(debug.contains("emulator token"), "{debug}");
    let s = p
        .get("cgi-chat/database", &VersionSelector::Latest)
        .await
        .unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "postgres://x");
}
