//! Integration tests against drongo, a local Secret Manager REST emulator.
//!
//! Start it with `./scripts/servers.sh start drongo` (127.0.0.1:8085). The endpoint comes from
//! `SECRETS_TEST_GCP_ENDPOINT` (default `http://127.0.0.1:8085`). A test that cannot reach the
//! server fails and says how to start it. Every test creates its own uniquely named secrets,
//! so they run in parallel.

// Helpers outside #[test] functions panic on purpose, like the tests that call them.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use secrets_core::{ErrorKind, REDACTED, SecretProvider, VersionSelector};
use secrets_gcp::google_cloud_secretmanager_v1::model::{
    Replication, Secret as SdkSecret, SecretPayload, replication,
};
use secrets_gcp::{GcpProvider, secret_id_for_name};
use secrets_testkit::canary::{Canary, capture_trace_logs};
use secrets_testkit::server::DRONGO;
use secrets_testkit::unique_name;

const PROJECT: &str = "secrets-gcp-tests";

/// drongo's endpoint; fails the test, saying how to start drongo, when it is not reachable.
async fn drongo() -> String {
    DRONGO.require().await
}

async fn provider() -> GcpProvider {
    GcpProvider::builder()
        .with_project(PROJECT)
        .with_endpoint(drongo().await)
        .with_total_timeout(Duration::from_secs(5))
        .build()
        .await
        .expect("provider builds")
}

/// A unique plain name with a `/`, so every test also exercises the name mapping.
fn unique(label: &str) -> String {
    unique_name(&format!("gcp-{label}"))
}

/// Creates the secret that plain `name` maps to, through the provider's own client.
async fn create(p: &GcpProvider, name: &str) -> String {
    let secret = p.secret_resource_name(name).unwrap();
    p.client()
        .create_secret()
        .set_parent(format!("projects/{}", p.project()))
        .set_secret_id(secret_id_for_name(name).unwrap())
        .set_secret(
            SdkSecret::new()
                .set_replication(Replication::new().set_automatic(replication::Automatic::new())),
        )
        .send()
        .await
        .expect("create secret");
    secret
}

/// Adds a version; returns its number.
async fn add(p: &GcpProvider, secret: &str, data: impl Into<Vec<u8>>) -> String {
    let version = p
        .client()
        .add_secret_version()
        .set_parent(secret)
        .set_payload(SecretPayload::new().set_data(data.into()))
        .send()
        .await
        .expect("add version");
    version.name.rsplit('/').next().unwrap().to_owned()
}

async fn disable(p: &GcpProvider, secret: &str, version: &str) {
    p.client()
        .disable_secret_version()
        .set_name(format!("{secret}/versions/{version}"))
        .send()
        .await
        .expect("disable version");
}

async fn destroy(p: &GcpProvider, secret: &str, version: &str) {
    p.client()
        .destroy_secret_version()
        .set_name(format!("{secret}/versions/{version}"))
        .send()
        .await
        .expect("destroy version");
}

#[tokio::test]
async fn text_payload_latest() {
    let p = provider().await;
    let name = unique("text");
    let secret = create(&p, &name).await;
    assert_eq!(add(&p, &secret, "postgres://u:pw@db/app").await, "1");

    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.name(), name);
    assert!(!s.value().is_binary());
    assert_eq!(s.value().expose_text().unwrap(), "postgres://u:pw@db/app");
    assert_eq!(s.version_id(), Some("1"));
    assert!(s.stages().is_empty());
    assert_eq!(s.created(), None, "get makes one call by default");
}

#[tokio::test]
async fn binary_payload_is_bytes() {
    let p = provider().await;
    let name = unique("binary");
    let secret = create(&p, &name).await;
    let data = vec![0xff, 0x00, 0xfe, 0x80, b'a'];
    add(&p, &secret, data.clone()).await;

    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert!(s.value().is_binary());
    assert_eq!(s.value().expose_bytes(), data.as_slice());
    assert_eq!(
        s.value().expose_text().unwrap_err().kind(),
        ErrorKind::Decode
    );
}

#[tokio::test]
async fn numbered_versions_and_latest_after_adding() {
    let p = provider().await;
    let name = unique("versions");
    let secret = create(&p, &name).await;
    for n in 1..=3 {
        assert_eq!(add(&p, &secret, format!("value-{n}")).await, n.to_string());
    }
    for n in 1..=3 {
        let s = p
            .get(&name, &VersionSelector::id(n.to_string()))
            .await
            .unwrap();
        assert_eq!(s.value().expose_text().unwrap(), format!("value-{n}"));
        assert_eq!(s.version_id(), Some(n.to_string().as_str()));
    }
    let latest = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(latest.value().expose_text().unwrap(), "value-3");
    assert_eq!(latest.version_id(), Some("3"));

    add(&p, &secret, "value-4").await;
    let latest = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(latest.value().expose_text().unwrap(), "value-4");
    assert_eq!(latest.version_id(), Some("4"));

    // A full resource name, with and without a pinned version.
    let s = p.get(&secret, &VersionSelector::id("2")).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "value-2");
    let pinned = format!("{secret}/versions/1");
    let s = p.get(&pinned, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "value-1");
    assert_eq!(s.name(), pinned);
    let err = p.get(&pinned, &VersionSelector::id("2")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidName);

    // `latest` as an alias is the latest version; other aliases need the service's
    // version aliases, which drongo lacks (it answers NOT_FOUND).
    let s = p
        .get(&name, &VersionSelector::stage("latest"))
        .await
        .unwrap();
    assert_eq!(s.version_id(), Some("4"));
    assert_eq!(s.stages(), ["latest"]);
    let err = p
        .get(&name, &VersionSelector::stage("prod"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("/versions/prod"), "{err}");
}

#[tokio::test]
async fn disabled_version_is_disabled() {
    let p = provider().await;
    let name = unique("disabled");
    let secret = create(&p, &name).await;
    add(&p, &secret, "old").await;
    add(&p, &secret, "new").await;
    disable(&p, &secret, "1").await;

    let err = p.get(&name, &VersionSelector::id("1")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disabled, "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.secret(), Some(name.as_str()));
    assert!(err.to_string().contains("is disabled"), "{err}");

    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "new");

    disable(&p, &secret, "2").await;
    // drongo resolves `latest` to the newest enabled version: none is left.
    let err = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::NotFound | ErrorKind::Disabled),
        "{err:?}"
    );
}

#[tokio::test]
async fn destroyed_version_is_disabled_with_its_own_message() {
    let p = provider().await;
    let name = unique("destroyed");
    let secret = create(&p, &name).await;
    add(&p, &secret, "gone").await;
    add(&p, &secret, "kept").await;
    destroy(&p, &secret, "1").await;

    let err = p.get(&name, &VersionSelector::id("1")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disabled, "{err:?}");
    assert!(err.to_string().contains("is destroyed"), "{err}");
    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "kept");
}

#[tokio::test]
async fn missing_secret_version_or_empty_secret_is_not_found() {
    let p = provider().await;
    let missing = unique("missing");
    let err = p.get(&missing, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    assert!(err.is_not_found());
    assert!(!err.is_retryable());
    assert_eq!(err.secret(), Some(missing.as_str()));
    let err = p.current_version(&missing).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");

    let name = unique("empty");
    let secret = create(&p, &name).await;
    let err = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
    add(&p, &secret, "one").await;
    let err = p.get(&name, &VersionSelector::id("99")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:?}");
}

#[tokio::test]
async fn current_version_follows_new_versions() {
    let p = provider().await;
    assert!(p.capabilities().version_probe);
    assert!(p.capabilities().versions);
    let name = unique("probe");
    let secret = create(&p, &name).await;
    add(&p, &secret, "a").await;

    let first = p.current_version(&name).await.unwrap();
    assert_eq!(first.version_id.as_deref(), Some("1"));
    assert!(
        first.created.is_some(),
        "the probe reports the creation time"
    );
    let got = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(got.version_id(), first.version_id.as_deref());

    add(&p, &secret, "b").await;
    let second = p.current_version(&name).await.unwrap();
    assert_eq!(second.version_id.as_deref(), Some("2"));
    assert!(second.created >= first.created);
    // The probe is metadata only: the unit test `current_version_reads_metadata_only` shows
    // that it makes no access call.
}

#[tokio::test]
async fn version_metadata_on_get_reports_created() {
    let p = GcpProvider::builder()
        .with_project(PROJECT)
        .with_endpoint(drongo().await)
        .with_version_metadata_on_get(true)
        .build()
        .await
        .unwrap();
    let name = unique("created");
    let secret = create(&p, &name).await;
    add(&p, &secret, "x").await;
    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert!(s.created().is_some());
    assert_eq!(s.version_id(), Some("1"));
}

#[tokio::test]
async fn get_many_reads_each_name() {
    let p = provider().await;
    let a = unique("many-a");
    let b = unique("many-b");
    let missing = unique("many-missing");
    for (name, value) in [(&a, "va"), (&b, "vb")] {
        let secret = create(&p, name).await;
        add(&p, &secret, value).await;
    }
    let out = p.get_many(&[&a, &missing, &b]).await;
    assert_eq!(
        out[0].as_ref().unwrap().value().expose_text().unwrap(),
        "va"
    );
    assert_eq!(out[1].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        out[2].as_ref().unwrap().value().expose_text().unwrap(),
        "vb"
    );
}

#[tokio::test]
async fn invalid_names_are_rejected_before_any_call() {
    // No server is needed: these fail before a request is made.
    let p = GcpProvider::builder()
        .with_project(PROJECT)
        .with_endpoint("http://127.0.0.1:9")
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    for bad in [
        "a__b",
        "db.password",
        "a//b",
        "/lead",
        "trail/",
        "x_/y",
        "",
        "projects/p",
        "projects/p/secrets/a.b",
    ] {
        let err = p.get(bad, &VersionSelector::Latest).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}: {err:?}");
        assert!(err.message().is_some(), "{bad:?}");
        let err = p.current_version(bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}");
    }
    let long = "a".repeat(256);
    let err = p.get(&long, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidName);
    let err = p.get("ok", &VersionSelector::id("abc")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidName);
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// A port on which nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable_within_the_retry_budget() {
    // Default policy: 3 attempts within 10 s.
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let p = GcpProvider::builder()
        .with_project(PROJECT)
        .with_endpoint(&endpoint)
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let err = p
        .get("cgi-chat/database", &VersionSelector::Latest)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains(&endpoint), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");

    let err = p.current_version("cgi-chat/database").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");

    // A tighter budget is honoured.
    let p = GcpProvider::builder()
        .with_project(PROJECT)
        .with_endpoint(&endpoint)
        .with_max_attempts(2)
        .with_total_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let err = p.get("x", &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn hanging_server_is_cut_off_by_the_total_timeout() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(4) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let p = GcpProvider::builder()
        .with_project(PROJECT)
        .with_endpoint(&endpoint)
        .with_total_timeout(Duration::from_millis(800))
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let err = p.get("x", &VersionSelector::Latest).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Unavailable),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(took < Duration::from_millis(2000), "took {took:?}");
    drop(hold);
}

#[tokio::test]
async fn canary_never_leaks() {
    // Every tracing event at every level, the SDK's included, on this (current) thread.
    let (logs, _guard) = capture_trace_logs();
    let p = provider().await;
    let canary = Canary::new();
    let value = canary.as_str().to_owned();
    let name = unique("canary");
    let secret = create(&p, &name).await;
    add(&p, &secret, value.clone()).await;
    add(&p, &secret, format!("{value}-v2").into_bytes()).await;
    add(&p, &secret, [value.as_bytes(), &[0xff]].concat()).await;
    disable(&p, &secret, "2").await;

    let mut seen = Vec::new();
    let mut record = |label: &str, text: String| seen.push((label.to_owned(), text));

    record("provider", format!("{p:?}"));
    let first = p.get(&name, &VersionSelector::id("1")).await.unwrap();
    assert_eq!(
        first.value().expose_text().unwrap(),
        value,
        "expose shows the value"
    );
    record("secret", format!("{first:?}"));
    record("value", format!("{:?} {}", first.value(), first.value()));
    record("version", format!("{:?}", first.version()));

    let binary = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert!(binary.value().is_binary());
    assert!(binary.value().expose_bytes().starts_with(value.as_bytes()));
    record(
        "binary",
        format!("{binary:?} {} {:?}", binary.value(), binary.value()),
    );
    let not_text = binary.value().expose_text().unwrap_err();
    record("not-text error", format!("{not_text} {not_text:?}"));

    let errors = [
        p.get(&name, &VersionSelector::id("2")).await.unwrap_err(),
        p.get(&name, &VersionSelector::id("7")).await.unwrap_err(),
        p.get(&unique("nope"), &VersionSelector::Latest)
            .await
            .unwrap_err(),
        p.get(&name, &VersionSelector::stage("prod"))
            .await
            .unwrap_err(),
        p.get(&format!("{name}.x"), &VersionSelector::Latest)
            .await
            .unwrap_err(),
    ];
    assert_eq!(errors[0].kind(), ErrorKind::Disabled);
    for err in &errors {
        record("error", format!("{err} | {err:?}"));
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            record("error source", format!("{s} | {s:?}"));
            source = s.source();
        }
    }
    record(
        "probe",
        format!("{:?}", p.current_version(&name).await.unwrap()),
    );
    for r in p.get_many(&[&name, "missing-one"]).await {
        record("get_many", format!("{r:?}"));
    }

    assert!(seen.iter().any(|(_, text)| text.contains(REDACTED)));
    for (what, text) in &seen {
        canary.assert_absent(what, text);
    }
    // Not asserted non-empty: under `cargo test` (threads), tracing's per-callsite interest
    // cache can hide events from a thread-local subscriber; nextest runs each test alone.
    canary.assert_absent("the tracing logs", &logs.text());
}

/// `from_env` end to end. The environment cannot be changed safely inside a running test
/// binary, so the test runs itself again in a child process with the variables set, and
/// does the real work there.
#[tokio::test]
async fn from_env_reads_project_and_endpoint() {
    const CHILD: &str = "SECRETS_GCP_TEST_FROM_ENV_CHILD";
    let endpoint = drongo().await;
    if std::env::var_os(CHILD).is_none() {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "from_env_reads_project_and_endpoint",
                "--nocapture",
            ])
            .args(["--test-threads=1"])
            .env(CHILD, "1")
            .env("GOOGLE_CLOUD_PROJECT", "")
            .env("GCLOUD_PROJECT", PROJECT)
            .env("SECRETS_GCP_ENDPOINT", &endpoint)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "the child run failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let p = GcpProvider::from_env().await.unwrap();
    assert_eq!(
        p.project(),
        PROJECT,
        "GCLOUD_PROJECT is used when GOOGLE_CLOUD_PROJECT is empty"
    );
    assert_eq!(p.endpoint(), endpoint.trim_end_matches('/'));
    assert!(format!("{p:?}").contains("anonymous"), "{p:?}");
    let name = unique("from-env");
    let secret = create(&p, &name).await;
    add(&p, &secret, "via-env").await;
    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "via-env");
}
