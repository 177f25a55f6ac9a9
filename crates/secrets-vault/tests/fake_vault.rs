//! Error mapping and retries through the real HTTP path, against a scripted stand-in for
//! Vault on loopback (a sealed Vault, throttling, failures that OpenBao's dev server cannot be
//! made to produce without disturbing other tests).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrets_core::{ErrorKind, SecretProvider, VersionSelector};
use secrets_vault::{DatabaseCredentials, VaultProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers `/v1/auth/token/lookup-self` with a non-expiring token, and every other path
/// with `status`, `body` and optional `extra` headers. Counts the calls per path.
struct Fake {
    addr: String,
    hits: Arc<Mutex<HashMap<String, u32>>>,
}

impl Fake {
    async fn start(status: u16, body: &'static str, extra: &'static str) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let hits: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
        let counts = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let counts = counts.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read the head and a body of Content-Length bytes.
                    loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let path = text
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("")
                        .split('?')
                        .next()
                        .unwrap_or("")
                        .to_string();
                    *counts.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let (status, body, extra) = if path == "/v1/auth/token/lookup-self" {
                        (200, r#"{"data":{"ttl":0,"renewable":false}}"#, "")
                    } else {
                        (status, body, extra)
                    };
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        Fake { addr, hits }
    }

    fn hits(&self, path: &str) -> u32 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    async fn provider(&self, retries: u32) -> VaultProvider {
        VaultProvider::builder()
            .with_address(&self.addr)
            .with_token("t")
            .with_max_retries(retries)
            .with_database_credentials("db", DatabaseCredentials::new("app", "h"))
            .build()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn sealed_vault_is_unavailable_and_retried() {
    let fake = Fake::start(503, r#"{"errors":["Vault is sealed"]}"#, "").await;
    let p = fake.provider(2).await;
    let e = p.get("app/x", &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains("Vault is sealed"), "{e}");
    assert_eq!(e.secret(), Some("app/x"));
    assert_eq!(
        fake.hits("/v1/secret/data/app/x"),
        3,
        "first try and 2 retries"
    );

    // Issuing credentials creates a user: not resent after an answer.
    let e = p.get("db", &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert_eq!(fake.hits("/v1/database/creds/app"), 1);
}

#[tokio::test]
async fn throttling_is_rate_limited_with_retry_after() {
    let fake = Fake::start(
        429,
        r#"{"errors":["rate limit quota exceeded"]}"#,
        "Retry-After: 7\r\n",
    )
    .await;
    let p = fake.provider(0).await;
    let e = p.get("app/x", &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
    assert!(e.is_retryable());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    let e = p.current_version("app/x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
}

#[tokio::test]
async fn bad_request_and_garbage() {
    let fake = Fake::start(400, r#"{"errors":["unknown role: app"]}"#, "").await;
    let p = fake.provider(2).await;
    let e = p.get("db", &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("unknown role: app"), "{e}");
    assert!(!e.is_retryable());

    let fake = Fake::start(200, r#"{"data": "hunter2-not-an-object"#, "").await;
    let p = fake.provider(0).await;
    let e = p.get("db", &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other, "{e}");
    assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
}
