//! The canary test for this provider, in its own binary so that the TRACE capture sees every
//! event (see `openbao.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use secrets::DatabaseConfig;
use secrets_core::secrecy::ExposeSecret;
use secrets_core::{ErrorKind, SecretProvider, VersionSelector};
use secrets_testkit::canary::{Canary, capture_trace_logs};
use secrets_vault::VaultProvider;
use serde_json::json;

/// A unique value planted in KV, read through every path (success and errors), with every
/// `tracing` event captured at TRACE: the value appears in no Debug, Display or log line.
/// The same for a dynamic database password.
#[tokio::test]
async fn canary_never_leaks() {
    let canary = Canary::new();
    let name = format!("{}/database", unique("canary"));
    kv2_put(
        &name,
        json!({"host": "db", "port": 5432, "username": "app", "password": canary.as_str()}),
    )
    .await;
    let mount = database_setup("1m", "10m").await;
    let db_name = format!("{}/db", unique("canary"));

    let (logs, guard) = capture_trace_logs();
    let mut text = String::new();
    let p = db_provider(&mount, &db_name, Duration::from_secs(30)).await;
    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert!(s.value().expose_text().unwrap().contains(canary.as_str()));
    text.push_str(&format!("{s:?} {:?} {} {p:?}\n", s.value(), s.value()));
    let v1 = p.get(&name, &VersionSelector::id("1")).await.unwrap();
    text.push_str(&format!("{v1:?}\n"));
    let probe = p.current_version(&name).await.unwrap();
    text.push_str(&format!("{probe:?}\n"));
    for result in [
        p.get(&name, &VersionSelector::id("7")).await,
        p.get(&name, &VersionSelector::stage("x")).await,
        p.get(&format!("{name}/missing"), &VersionSelector::Latest)
            .await,
        p.get("bad//name", &VersionSelector::Latest).await,
    ] {
        let e = result.unwrap_err();
        text.push_str(&format!("{e} {e:?}\n"));
    }
    // A token that may not read it.
    let bad = provider_builder()
        .await
        .with_token("not-a-token")
        .build()
        .await
        .unwrap();
    let e = bad.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    text.push_str(&format!("{e} {e:?} {bad:?}\n"));
    // Through the facade's decode.
    let db: DatabaseConfig = serde_json::from_str(s.value().expose_text().unwrap()).unwrap();
    text.push_str(&format!("{db:?} {db}\n"));

    // Dynamic credentials: their password must not appear either.
    let lease = p.database_credentials(&db_name).await.unwrap();
    let password = lease.password().expose_secret().to_string();
    let dyn_secret = p.get(&db_name, &VersionSelector::Latest).await.unwrap();
    text.push_str(&format!("{lease:?} {dyn_secret:?} {p:?}\n"));
    p.shutdown().await.unwrap();
    let builder_dbg = format!(
        "{:?}",
        VaultProvider::builder()
            .with_token(canary.as_str())
            .with_approle("r", canary.as_str())
    );
    text.push_str(&builder_dbg);
    drop(guard);

    let logs = logs.text();
    assert!(
        logs.contains("issued dynamic database credentials"),
        "TRACE logs were captured"
    );
    canary.assert_absent("Debug/Display output", &text);
    canary.assert_absent("TRACE logs", &logs);
    assert!(
        !text.contains(&password),
        "the database password leaked into Debug/Display"
    );
    assert!(
        !logs.contains(&password),
        "the database password leaked into the logs"
    );
}
