//! AppRole: the background task renews the token and logs in again at its max TTL. In its
//! own binary because it reads the TRACE logs (see `openbao.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use secrets_core::{SecretProvider, VersionSelector};
use secrets_testkit::canary::capture_trace_logs;
use serde_json::json;

#[tokio::test]
async fn approle_logs_in_again_at_max_ttl() {
    let (mount, role_id, secret_id, prefix) = approle_setup("3s", "6s").await;
    let name = format!("{prefix}/x");
    kv2_put(&name, json!({"v": 1})).await;
    let (logs, guard) = capture_trace_logs();
    let p = provider_builder()
        .await
        .with_approle(&role_id, &secret_id)
        .with_approle_mount(&mount)
        .build()
        .await
        .unwrap();
    // Well past the first token's max TTL.
    for _ in 0..9 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        p.get(&name, &VersionSelector::Latest)
            .await
            .expect("reads keep working across renewals and new logins");
    }
    p.shutdown().await.unwrap();
    drop(guard);
    // The background task renewed the token and, at its max TTL, logged in again.
    let logs = logs.text();
    assert!(logs.contains("renewed the Vault token"), "{logs}");
    assert!(
        logs.matches("logged in to Vault with AppRole").count() >= 2,
        "{logs}"
    );
}
