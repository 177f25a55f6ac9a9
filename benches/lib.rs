//! An in-process fake of the Secrets Manager endpoint, so both caches under test talk to the
//! same server over real HTTP on loopback. It counts calls per operation and can add latency.

#![allow(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// Counters and settings of a running fake endpoint.
#[derive(Debug, Default)]
pub struct FakeState {
    pub get_secret_value: AtomicU64,
    pub describe_secret: AtomicU64,
    pub latency_ms: AtomicU64,
    pub version: AtomicU64,
}

impl FakeState {
    pub fn gets(&self) -> u64 {
        self.get_secret_value.load(Ordering::SeqCst)
    }
    pub fn describes(&self) -> u64 {
        self.describe_secret.load(Ordering::SeqCst)
    }
    pub fn reset(&self) {
        self.get_secret_value.store(0, Ordering::SeqCst);
        self.describe_secret.store(0, Ordering::SeqCst);
    }
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }
}

/// A bench secret's value: an RDS-style bundle.
pub const SECRET_STRING: &str = r#"{"engine":"postgres","host":"db.bench.internal","port":5432,"username":"bench","password":"bench-password","dbname":"bench"}"#;

async fn handle(state: Arc<FakeState>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let latency = state.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let name = std::str::from_utf8(&body)
        .ok()
        .and_then(|b| b.split("\"SecretId\":\"").nth(1))
        .and_then(|r| r.split('"').next())
        .unwrap_or("bench/secret")
        .to_string();
    let version = format!("v-{}", state.version.load(Ordering::SeqCst));
    let arn = format!("arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-AbCdEf");
    let json = match target.as_str() {
        "secretsmanager.GetSecretValue" => {
            state.get_secret_value.fetch_add(1, Ordering::SeqCst);
            format!(
                r#"{{"ARN":"{arn}","Name":"{name}","VersionId":"{version}","SecretString":{},"VersionStages":["AWSCURRENT"],"CreatedDate":1764300000.0}}"#,
                serde_quote(SECRET_STRING)
            )
        }
        "secretsmanager.DescribeSecret" => {
            state.describe_secret.fetch_add(1, Ordering::SeqCst);
            format!(
                r#"{{"ARN":"{arn}","Name":"{name}","VersionIdsToStages":{{"{version}":["AWSCURRENT"]}}}}"#
            )
        }
        _ => {
            return (StatusCode::BAD_REQUEST, "unsupported operation").into_response();
        }
    };
    ([(header::CONTENT_TYPE, "application/x-amz-json-1.1")], json).into_response()
}

fn serde_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Starts the fake endpoint on 127.0.0.1 (a free port) in the current runtime.
pub async fn start() -> (SocketAddr, Arc<FakeState>) {
    let state = Arc::new(FakeState::default());
    let s = state.clone();
    let app = Router::new().route(
        "/",
        post(move |headers: HeaderMap, body: Bytes| handle(s.clone(), headers, body)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, state)
}
