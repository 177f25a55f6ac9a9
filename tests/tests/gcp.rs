//! The facade over Google Cloud Secret Manager, against drongo on loopback
//! (`./scripts/servers.sh start drongo`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on purpose

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrets::gcp::google_cloud_secretmanager_v1::model::{
    Replication, Secret as SdkSecret, SecretPayload, replication,
};
use secrets::gcp::{GcpProvider, secret_id_for_name};
use secrets::{CacheConfig, DatabaseConfig, SecretBundle, Secrets};
use secrets_core::ErrorKind;
use secrets_testkit::canary::{Canary, capture_trace_logs};
use secrets_testkit::counting::Counting;
use secrets_testkit::server::DRONGO;
use secrets_testkit::unique_name;

const PROJECT: &str = "secrets-facade-tests";

async fn gcp() -> GcpProvider {
    GcpProvider::builder()
        .with_project(PROJECT)
        .with_endpoint(DRONGO.require().await)
        .with_total_timeout(Duration::from_secs(5))
        .build()
        .await
        .expect("GCP provider")
}

async fn create(p: &GcpProvider, name: &str) -> String {
    let secret = p.secret_resource_name(name).unwrap();
    p.client()
        .create_secret()
        .set_parent(format!("projects/{PROJECT}"))
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

async fn add(p: &GcpProvider, secret: &str, data: &str) {
    p.client()
        .add_secret_version()
        .set_parent(secret)
        .set_payload(SecretPayload::new().set_data(data.as_bytes().to_vec()))
        .send()
        .await
        .expect("add version");
}

fn rds_json(password: &str) -> String {
    format!(
        r#"{{"engine":"postgres","host":"db.gcp.internal","port":"5432","username":"app","password":"{password}","dbname":"cgi_chat"}}"#
    )
}

#[tokio::test]
async fn secret_bundle_load_from_secret_manager() {
    let p = gcp().await;
    let name = unique_name("cgi-chat-gcp");
    let secret = create(&p, &name).await;
    add(&p, &secret, &rds_json("gcp-password")).await;
    Secrets::builder()
        .with_provider(p)
        .build()
        .await
        .unwrap()
        .install_global()
        .unwrap();
    let bundle = SecretBundle::load(&name).await.unwrap();
    assert_eq!(bundle.version_id(), Some("1"));
    let db = bundle.database().unwrap();
    assert_eq!((db.host.as_str(), db.port), ("db.gcp.internal", 5432));
    assert!(db.same_password(&DatabaseConfig::new("h", 1, "u", "gcp-password")));
    assert_eq!(
        db.url().to_string(),
        "postgres://app:[REDACTED]@db.gcp.internal:5432/cgi_chat"
    );
}

/// The cache revalidates with version metadata (no payload access) and refetches once per
/// new version; a watcher sees the new version within one refresh interval.
#[tokio::test(flavor = "multi_thread")]
async fn cache_revalidation_counts_access_calls() {
    let p = gcp().await;
    let name = unique_name("cgi-chat-gcp");
    let secret = create(&p, &name).await;
    add(&p, &secret, &rds_json("one")).await;
    let counting = Arc::new(Counting::new(p.clone()));
    let secrets = Secrets::builder()
        .with_provider(counting.clone())
        .with_cache(
            CacheConfig::default()
                .with_ttl(Duration::from_secs(2))
                .with_refresh_ahead(Duration::from_millis(500))
                .with_jitter(0.0),
        )
        .build()
        .await
        .unwrap();
    let mut watch = secrets.watch::<DatabaseConfig>(&name).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3700)).await;
    assert_eq!(
        counting.gets(),
        1,
        "no payload access while the version is unchanged"
    );
    assert!(counting.probes() >= 2, "probes: {}", counting.probes());

    let added = Instant::now();
    add(&p, &secret, &rds_json("two")).await;
    let next = tokio::time::timeout(Duration::from_secs(4), watch.changed())
        .await
        .expect("the new version arrived")
        .unwrap();
    assert!(
        added.elapsed() <= Duration::from_secs(3), /* TTL 2 s, plus 1 s for the calls on a loaded machine */
        "{:?}",
        added.elapsed()
    );
    assert!(next.same_password(&DatabaseConfig::new("h", 1, "u", "two")));
    assert_eq!(counting.gets(), 2, "one payload access per version");
}

#[tokio::test]
async fn facade_errors_and_canary() {
    let canary = Canary::new();
    let (logs, guard) = capture_trace_logs();
    let p = gcp().await;
    let secrets = Secrets::new(p.clone());
    let name = unique_name("canary-gcp");
    let secret = create(&p, &name).await;
    add(
        &p,
        &secret,
        &format!(
            r#"{{"host":"h","port":"{c}","username":"u","password":"{c}"}}"#,
            c = canary.as_str()
        ),
    )
    .await;
    let mut seen = Vec::new();
    let raw = secrets.get(&name).await.unwrap();
    assert!(raw.value().expose_text().unwrap().contains(canary.as_str()));
    seen.push(format!("{raw:?}"));
    let err = secrets.load::<DatabaseConfig>(&name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.fields()[0].field, "port");
    seen.push(format!("{err} {err:?}"));
    let missing = secrets.get(&unique_name("missing-gcp")).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    seen.push(format!("{missing} {missing:?}"));
    let bad = secrets.get("bad name!").await.unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidName);
    drop(guard);
    canary.assert_absent("TRACE logs", &logs.text());
    for s in &seen {
        canary.assert_absent("printed values and errors", s);
    }
}
