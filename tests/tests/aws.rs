//! AWS Secrets Manager against LocalStack on loopback (`./scripts/servers.sh start localstack`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on purpose

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::primitives::Blob;
use secrets::{CacheConfig, DatabaseConfig, SecretBundle, Secrets};
use secrets_aws::AwsProvider;
use secrets_core::{ErrorKind, SecretProvider, VersionSelector};
use secrets_testkit::canary::{Canary, capture_trace_logs};
use secrets_testkit::counting::Counting;
use secrets_testkit::server::LOCALSTACK;
use secrets_testkit::unique_name;

async fn aws() -> AwsProvider {
    let url = LOCALSTACK.require().await;
    AwsProvider::builder()
        .with_endpoint_url(url)
        .with_region("us-east-1")
        .with_static_credentials("test", "test")
        .with_max_attempts(2)
        .build()
        .await
        .expect("AWS provider")
}

async fn create(aws: &AwsProvider, name: &str, value: &str) -> String {
    aws.client()
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("CreateSecret")
        .version_id
        .expect("version id")
}

fn text(s: &secrets_core::Secret) -> &str {
    s.value().expose_text().expect("text")
}

#[tokio::test]
async fn text_and_binary_secrets() {
    let aws = aws().await;
    let name = unique_name("it/text");
    let v1 = create(&aws, &name, "plain text value").await;
    let got = aws.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(text(&got), "plain text value");
    assert_eq!(got.version_id(), Some(v1.as_str()));
    assert!(got.stages().iter().any(|s| s == "AWSCURRENT"));
    assert!(!got.value().is_binary());
    assert!(got.created().is_some());

    let bin = unique_name("it/binary");
    let bytes = vec![0u8, 159, 146, 150, 255, 1];
    aws.client()
        .create_secret()
        .name(&bin)
        .secret_binary(Blob::new(bytes.clone()))
        .send()
        .await
        .unwrap();
    let got = aws.get(&bin, &VersionSelector::Latest).await.unwrap();
    assert!(got.value().is_binary());
    assert_eq!(got.value().expose_bytes(), bytes.as_slice());
    assert_eq!(
        got.value().expose_text().unwrap_err().kind(),
        ErrorKind::Decode
    );
}

#[tokio::test]
async fn manual_rotation_read_by_stage_and_version_id() {
    let aws = aws().await;
    let c = aws.client();
    let name = unique_name("it/rotate");
    let v1 = create(&aws, &name, "password-one").await;
    let v2 = c
        .put_secret_value()
        .secret_id(&name)
        .secret_string("password-two")
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    assert_ne!(v1, v2);
    let pending = aws
        .get(&name, &VersionSelector::stage("AWSPENDING"))
        .await
        .unwrap();
    assert_eq!(text(&pending), "password-two");
    let current = aws.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(text(&current), "password-one");
    assert_eq!(
        aws.current_version(&name)
            .await
            .unwrap()
            .version_id
            .as_deref(),
        Some(v1.as_str())
    );

    // Promote the pending version, as a rotation's finishSecret step does.
    c.update_secret_version_stage()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .move_to_version_id(&v2)
        .remove_from_version_id(&v1)
        .send()
        .await
        .unwrap();
    let current = aws.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(text(&current), "password-two");
    assert_eq!(current.version_id(), Some(v2.as_str()));
    let previous = aws
        .get(&name, &VersionSelector::stage("AWSPREVIOUS"))
        .await
        .unwrap();
    assert_eq!(text(&previous), "password-one");
    assert_eq!(previous.version_id(), Some(v1.as_str()));
    let by_id = aws
        .get(&name, &VersionSelector::id(v1.clone()))
        .await
        .unwrap();
    assert_eq!(text(&by_id), "password-one");
    let probe = aws.current_version(&name).await.unwrap();
    assert_eq!(probe.version_id.as_deref(), Some(v2.as_str()));
    assert!(probe.stages.iter().any(|s| s == "AWSCURRENT"));

    // Drop AWSPENDING; reading that stage is then NotFound.
    c.update_secret_version_stage()
        .secret_id(&name)
        .version_stage("AWSPENDING")
        .remove_from_version_id(&v2)
        .send()
        .await
        .unwrap();
    let err = aws
        .get(&name, &VersionSelector::stage("AWSPENDING"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = aws
        .get(
            &name,
            &VersionSelector::id("00000000-0000-0000-0000-000000000000"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn batch_get_reports_missing_per_name() {
    let aws = aws().await;
    let a = unique_name("it/batch-a");
    let b = unique_name("it/batch-b");
    let missing = unique_name("it/batch-missing");
    create(&aws, &a, "value-a").await;
    create(&aws, &b, "value-b").await;
    let got = aws.get_many(&[&b, &missing, &a, "bad name!"]).await;
    assert_eq!(got.len(), 4);
    assert_eq!(text(got[0].as_ref().unwrap()), "value-b");
    assert_eq!(got[0].as_ref().unwrap().name(), b);
    let err = got[1].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.secret(), Some(missing.as_str()));
    assert_eq!(text(got[2].as_ref().unwrap()), "value-a");
    assert_eq!(got[3].as_ref().unwrap_err().kind(), ErrorKind::InvalidName);
}

#[tokio::test]
async fn batch_get_chunks_past_twenty_names() {
    let aws = aws().await;
    let mut names = Vec::new();
    for i in 0..23 {
        let n = unique_name(&format!("it/chunk-{i}"));
        create(&aws, &n, &format!("v{i}")).await;
        names.push(n);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let got = aws.get_many(&refs).await;
    for (i, r) in got.iter().enumerate() {
        assert_eq!(text(r.as_ref().unwrap()), format!("v{i}"));
    }
}

#[tokio::test]
async fn missing_and_deleted_secrets() {
    let aws = aws().await;
    let err = aws
        .get(&unique_name("it/never-created"), &VersionSelector::Latest)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("it/never-created"), "{err}");

    let name = unique_name("it/deleted");
    create(&aws, &name, "soon gone").await;
    aws.client()
        .delete_secret()
        .secret_id(&name)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let err = aws.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disabled, "{err}");
    assert!(err.to_string().contains("marked for deletion"), "{err}");
    let err = aws.current_version(&name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disabled, "{err}");

    let gone = unique_name("it/force-deleted");
    create(&aws, &gone, "gone").await;
    aws.client()
        .delete_secret()
        .secret_id(&gone)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let err = aws.get(&gone, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn unreachable_endpoint_is_retryable_unavailable() {
    let aws = AwsProvider::builder()
        .with_endpoint_url("http://127.0.0.1:9")
        .with_region("us-east-1")
        .with_static_credentials("test", "test")
        .with_max_attempts(1)
        .build()
        .await
        .unwrap();
    let err = aws
        .get("cgi-chat/database", &VersionSelector::Latest)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn secret_bundle_load_of_the_seeded_bundle() {
    let aws = aws().await;
    Secrets::builder()
        .with_provider(aws)
        .build()
        .await
        .unwrap()
        .install_global()
        .unwrap();
    let bundle = SecretBundle::load("cgi-chat/database").await.unwrap();
    assert!(bundle.version_id().is_some());
    let db = bundle.database().unwrap();
    assert_eq!(db.engine.as_deref(), Some("postgres"));
    assert_eq!(db.host, "db.cgi-chat.internal");
    assert_eq!(db.port, 5432);
    assert_eq!(db.username, "cgi_chat_app");
    assert_eq!(db.dbname.as_deref(), Some("cgi_chat"));
    assert_eq!(db.db_instance_identifier.as_deref(), Some("cgi-chat-db"));
    assert!(db.same_password(&DatabaseConfig::new(
        "x",
        1,
        "x",
        "seeded-localstack-password"
    )));
    assert_eq!(
        db.url().to_string(),
        "postgres://cgi_chat_app:[REDACTED]@db.cgi-chat.internal:5432/cgi_chat"
    );
}

#[tokio::test]
async fn bad_bundles_get_typed_errors() {
    let aws = aws().await;
    let secrets = Secrets::new(aws.clone());

    let malformed = unique_name("it/malformed");
    create(&aws, &malformed, r#"{"host": "db", "port": 5432,"#).await;
    let err = secrets.bundle(&malformed).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains(&malformed), "{err}");

    let no_password = unique_name("it/no-password");
    create(
        &aws,
        &no_password,
        r#"{"host":"db","port":5432,"username":"u"}"#,
    )
    .await;
    let err = secrets
        .load::<DatabaseConfig>(&no_password)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.fields().len(), 1, "{err}");
    assert_eq!(err.fields()[0].field, "password");

    let bad_port = unique_name("it/bad-port");
    create(
        &aws,
        &bad_port,
        r#"{"host":"db","port":"fivefourthreetwo","username":"u","password":"p"}"#,
    )
    .await;
    let err = secrets.load::<DatabaseConfig>(&bad_port).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.fields()[0].field, "port");
    assert!(!err.to_string().contains("fivefourthreetwo"), "{err}");

    let several = unique_name("it/several");
    create(&aws, &several, r#"{"port":true,"username":7}"#).await;
    let err = secrets.load::<DatabaseConfig>(&several).await.unwrap_err();
    let fields: Vec<&str> = err.fields().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["host", "username", "password", "port"], "{err}");
}

/// Plants a unique value and drives every path, including errors and TRACE-level logs of
/// every crate (the AWS SDK's included); the value must appear nowhere but through expose.
#[tokio::test]
async fn canary_never_escapes() {
    let canary = Canary::new();
    let c = canary.as_str();
    let (logs, guard) = capture_trace_logs();
    let aws = aws().await;
    let secrets = Secrets::new(aws.clone());
    let mut seen = Vec::<String>::new();

    let good = unique_name("it/canary-good");
    create(
        &aws,
        &good,
        &format!(r#"{{"host":"db","port":5432,"username":"u","password":"{c}"}}"#),
    )
    .await;
    let wrong_port = unique_name("it/canary-port");
    create(
        &aws,
        &wrong_port,
        &format!(r#"{{"host":"db","port":"{c}","username":"u","password":"{c}"}}"#),
    )
    .await;
    let not_json = unique_name("it/canary-not-json");
    create(&aws, &not_json, &format!("{{{c}")).await;

    let secret = aws.get(&good, &VersionSelector::Latest).await.unwrap();
    assert!(
        secret.value().expose_text().unwrap().contains(c),
        "the canary was planted"
    );
    seen.push(format!(
        "{secret:?} {:?} {}",
        secret.value(),
        secret.value()
    ));
    let bundle = secrets.bundle(&good).await.unwrap();
    let db = bundle.database().unwrap();
    seen.push(format!(
        "{bundle:?} {db:?} {db} {} {:?}",
        db.url(),
        db.url()
    ));
    for r in aws
        .get_many(&[&good, &wrong_port, "it/canary-missing"])
        .await
    {
        seen.push(format!("{r:?}"));
    }
    seen.push(format!("{:?}", aws.current_version(&good).await));
    for name in [&wrong_port, &not_json] {
        let err = secrets.load::<DatabaseConfig>(name).await.unwrap_err();
        seen.push(format!("{err} {err:?}"));
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Typed {
        port: u16,
    }
    let err = secrets.load::<Typed>(&wrong_port).await.unwrap_err();
    seen.push(format!("{err} {err:?}"));

    drop(guard);
    let logs = logs.text();
    assert!(logs.contains("GetSecretValue"), "TRACE logs were captured");
    canary.assert_absent("tracing output", &logs);
    for (i, text) in seen.iter().enumerate() {
        canary.assert_absent(&format!("printed item {i}"), text);
    }
}

fn rds_json(password: &str) -> String {
    format!(
        r#"{{"engine":"postgres","host":"db.cgi-chat.internal","port":5432,"username":"cgi_chat_app","password":"{password}","dbname":"cgi_chat","dbInstanceIdentifier":"cgi-chat-db"}}"#
    )
}

fn short_cache() -> CacheConfig {
    CacheConfig::default()
        .with_ttl(Duration::from_secs(2))
        .with_refresh_ahead(Duration::from_millis(500))
        .with_jitter(0.0)
}

/// A rotation done by hand on LocalStack reaches a watcher within one refresh interval, and
/// the typed config is re-decoded for it.
#[tokio::test(flavor = "multi_thread")]
async fn rotation_reaches_the_watch_within_one_refresh_interval() {
    let aws = aws().await;
    // A copy of cgi-chat/database under a unique name, so parallel tests keep the seed intact.
    let name = unique_name("it/cgi-chat-database");
    create(&aws, &name, &rds_json("before-rotation")).await;
    let counting = Arc::new(Counting::new(aws.clone()));
    let secrets = Secrets::builder()
        .with_provider(counting.clone())
        .with_cache(short_cache())
        .build()
        .await
        .unwrap();
    let mut watch = secrets.watch::<DatabaseConfig>(&name).await.unwrap();
    assert!(
        watch
            .current()
            .same_password(&DatabaseConfig::new("h", 1, "u", "before-rotation"))
    );

    // Rotate: a new version becomes AWSCURRENT (PutSecretValue moves the stage).
    let rotated_at = Instant::now();
    aws.client()
        .put_secret_value()
        .secret_id(&name)
        .secret_string(rds_json("after-rotation"))
        .send()
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(4), watch.changed())
        .await
        .expect("the new version arrived within one refresh interval")
        .unwrap();
    let waited = rotated_at.elapsed();
    assert!(next.same_password(&DatabaseConfig::new("h", 1, "u", "after-rotation")));
    assert!(
        waited <= Duration::from_secs(3), /* TTL 2 s, plus 1 s for the calls on a loaded machine */
        "seen after {waited:?}"
    );
    // Found by DescribeSecret (the probe) and fetched once more: two GetSecretValue in all.
    assert!(counting.probes() >= 1);
    assert_eq!(counting.gets(), 2);
}

/// The cache revalidates with DescribeSecret and does not fetch the value again while the
/// version is unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn cache_revalidates_with_describe_secret() {
    let aws = aws().await;
    let name = unique_name("it/revalidate");
    create(&aws, &name, &rds_json("steady")).await;
    let counting = Arc::new(Counting::new(aws.clone()));
    let secrets = Secrets::builder()
        .with_provider(counting.clone())
        .with_cache(short_cache())
        .build()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut reads = 0;
    while Instant::now() < deadline {
        secrets.get(&name).await.unwrap();
        reads += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reads > 50);
    assert_eq!(counting.gets(), 1, "the value was fetched once");
    assert!(
        (2..=4).contains(&counting.probes()),
        "probes: {}",
        counting.probes()
    );
    let stats = secrets.cache().unwrap().stats();
    assert_eq!(stats.revalidations, counting.probes());
}

/// Start-up loads several bundles with one BatchGetSecretValue.
#[tokio::test]
async fn start_up_uses_one_batch_call() {
    let aws = aws().await;
    let names: Vec<String> = (0..5)
        .map(|i| unique_name(&format!("it/startup-{i}")))
        .collect();
    for n in &names {
        create(&aws, n, &rds_json("p")).await;
    }
    let counting = Arc::new(Counting::new(aws.clone()));
    let secrets = Secrets::builder()
        .with_provider(counting.clone())
        .build()
        .await
        .unwrap();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let bundles = secrets.bundles(&refs).await;
    for b in &bundles {
        assert_eq!(b.as_ref().unwrap().database().unwrap().port, 5432);
    }
    assert_eq!((counting.batches(), counting.gets()), (1, 0));
    secrets.bundles(&refs).await;
    assert_eq!(
        counting.batches(),
        1,
        "the second start-up read is served by the cache"
    );
}
