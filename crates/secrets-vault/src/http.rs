//! A small typed Vault HTTP client on `reqwest` (rustls), and the error mapping.
//!
//! # Why not `vaultrs`
//!
//! `vaultrs` 0.8.0 (the current release when this was written) runs every call through
//! `api::exec_with_result`, which keeps only the `data` member of Vault's response envelope:
//! `database::role::creds` returns a bare username and password, and the `lease_id`,
//! `lease_duration` and `renewable` of the lease are thrown away. Without the lease id a
//! dynamic credential can be neither renewed nor revoked, which is the point of this crate.
//! Its KV v2 `read` likewise drops the version metadata the cache needs as a version id, and
//! its errors keep whole response bodies. The few endpoints needed here (KV v1/v2 read and
//! metadata, token lookup/renew/revoke, AppRole login, database creds and role, lease
//! renew/revoke, the mount preflight) are a handful of typed requests, so this crate speaks
//! HTTP itself: one `reqwest` client (rustls with aws-lc-rs, the stack the other providers
//! of this workspace already build), response bodies read into buffers that are wiped on
//! drop, and a value-free error for every failure.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrets_core::secrecy::{ExposeSecret, SecretString};
use secrets_core::{Error, ErrorKind, Result};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::PROVIDER;

/// The largest response body read (Vault's own request limit is 32 MiB; a KV entry is far
/// smaller). A larger answer is an error rather than an unbounded allocation.
pub(crate) const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// The longest server error text kept in an [`Error`] message.
const MAX_MESSAGE_CHARS: usize = 400;

/// One answer from Vault: the status and the body, wiped when dropped.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Zeroizing<Vec<u8>>,
    pub(crate) retry_after: Option<Duration>,
}

impl Reply {
    /// Parses the body as `T`. A parse failure keeps neither the body nor serde's message
    /// (which can quote the body): only the line and column.
    pub(crate) fn json<'a, T: Deserialize<'a>>(&'a self, what: &str) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(ErrorKind::Other, PROVIDER).with_message(format!(
                "unexpected answer from Vault for {what}: not the expected JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })
    }

    /// The `errors` Vault sent, joined (empty when none).
    pub(crate) fn error_text(&self) -> String {
        #[derive(Deserialize)]
        struct Errors {
            #[serde(default)]
            errors: Vec<String>,
        }
        let text = serde_json::from_slice::<Errors>(&self.body)
            .map(|e| e.errors.join("; "))
            .unwrap_or_default();
        // Vault wraps multi-errors as "1 error occurred:\n\t* permission denied\n\n".
        let flat = text
            .lines()
            .map(|l| l.trim().trim_start_matches("* "))
            .filter(|l| {
                !l.is_empty() && !l.ends_with("error occurred:") && !l.ends_with("errors occurred:")
            })
            .collect::<Vec<_>>()
            .join("; ");
        truncate(flat)
    }

    /// Maps a non-success answer to an [`Error`].
    pub(crate) fn into_error(self, what: &str) -> Error {
        map_status(
            self.status.as_u16(),
            &self.error_text(),
            what,
            self.retry_after,
        )
    }
}

fn truncate(mut s: String) -> String {
    if s.chars().count() > MAX_MESSAGE_CHARS {
        s = s.chars().take(MAX_MESSAGE_CHARS).collect();
        s.push('…');
    }
    s
}

/// A request to send.
pub(crate) struct Req<'a> {
    pub(crate) method: Method,
    /// Relative to `/v1/`, already percent-encoded.
    pub(crate) path: String,
    pub(crate) token: Option<&'a SecretString>,
    pub(crate) body: Option<Zeroizing<Vec<u8>>>,
    /// May be sent again after an answer was lost (reads, renewals, revocations). Calls that
    /// create something (a login, database credentials) are only resent when the connection
    /// failed before the request left.
    pub(crate) idempotent: bool,
}

impl<'a> Req<'a> {
    pub(crate) fn get(path: String, token: Option<&'a SecretString>) -> Self {
        Req {
            method: Method::GET,
            path,
            token,
            body: None,
            idempotent: true,
        }
    }

    pub(crate) fn write(
        method: Method,
        path: String,
        token: Option<&'a SecretString>,
        body: Option<Zeroizing<Vec<u8>>>,
        idempotent: bool,
    ) -> Self {
        Req {
            method,
            path,
            token,
            body,
            idempotent,
        }
    }
}

/// The HTTP side of the provider: one client, the address, the namespace, retries.
pub(crate) struct Http {
    client: reqwest::Client,
    /// `https://vault:8200/v1/`
    base: String,
    namespace: Option<String>,
    max_retries: u32,
    retry_min: Duration,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("base", &self.base)
            .field("namespace", &self.namespace)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub(crate) fn new(
        client: reqwest::Client,
        address: &str,
        namespace: Option<String>,
        max_retries: u32,
    ) -> Self {
        Http {
            client,
            base: format!("{}/v1/", address.trim_end_matches('/')),
            namespace,
            max_retries,
            retry_min: Duration::from_millis(200),
        }
    }

    /// Sends `req`, retrying retryable failures (connection errors, 412, 429, 5xx) up to
    /// `max_retries` times with jittered exponential backoff. Returns the answer whatever its
    /// status; only transport failures are errors here.
    pub(crate) async fn send(&self, req: Req<'_>, what: &str) -> Result<Reply> {
        let url = format!("{}{}", self.base, req.path);
        let mut attempt = 0u32;
        loop {
            let mut headers = HeaderMap::new();
            headers.insert("X-Vault-Request", HeaderValue::from_static("true"));
            if let Some(ns) = &self.namespace
                && let Ok(v) = HeaderValue::from_str(ns)
            {
                headers.insert("X-Vault-Namespace", v);
            }
            if let Some(token) = req.token {
                let mut v = HeaderValue::from_str(token.expose_secret()).map_err(|_| {
                    Error::new(ErrorKind::InvalidConfig, PROVIDER)
                        .with_message("the Vault token contains characters not allowed in a header")
                })?;
                v.set_sensitive(true);
                headers.insert("X-Vault-Token", v);
            }
            let mut builder = self
                .client
                .request(req.method.clone(), &url)
                .headers(headers);
            if let Some(body) = &req.body {
                builder = builder
                    .header("Content-Type", "application/json")
                    .body(body.to_vec());
            }
            let outcome = match builder.send().await {
                Ok(resp) => read(resp, what).await,
                Err(err) => Err(transport_error(&err, what, req.idempotent)),
            };
            let retryable = match &outcome {
                Ok(reply) => {
                    let s = reply.status.as_u16();
                    // 412: a performance standby has not caught up yet; 501 is permanent.
                    (s == 412 || s == 429 || (s >= 500 && s != 501)) && req.idempotent
                }
                Err(err) => err.is_retryable(),
            };
            if !retryable || attempt >= self.max_retries {
                return outcome;
            }
            attempt += 1;
            let mut pause = backoff(self.retry_min, attempt);
            if let Ok(reply) = &outcome
                && let Some(after) = reply.retry_after
            {
                pause = pause.max(after.min(Duration::from_secs(10)));
            }
            tracing::debug!(
                provider = PROVIDER,
                what,
                attempt,
                pause_ms = pause.as_millis() as u64,
                "retrying Vault call"
            );
            tokio::time::sleep(pause).await;
        }
    }
}

/// Exponential backoff with equal jitter, capped at 5 s.
pub(crate) fn backoff(min: Duration, attempt: u32) -> Duration {
    let step = min
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(10))
        .min(Duration::from_secs(5));
    step / 2 + (step / 2).mul_f64(fastrand::f64())
}

async fn read(mut resp: reqwest::Response, what: &str) -> Result<Reply> {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut body = Zeroizing::new(Vec::with_capacity(
        resp.content_length()
            .map_or(1024, |n| n.min(MAX_RESPONSE_BYTES as u64) as usize),
    ));
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(
                        Error::new(ErrorKind::TooLarge, PROVIDER).with_message(format!(
                            "the answer to {what} is larger than {MAX_RESPONSE_BYTES} bytes"
                        )),
                    );
                }
                if body.len() + chunk.len() > body.capacity() {
                    // Grow by hand so that no unwiped copy is left behind by a reallocation.
                    let mut bigger =
                        Zeroizing::new(Vec::with_capacity((body.len() + chunk.len()) * 2));
                    bigger.extend_from_slice(&body);
                    body = bigger;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(err) => return Err(transport_error(&err, what, true)),
        }
    }
    Ok(Reply {
        status,
        body,
        retry_after,
    })
}

/// Maps a transport failure. Connection failures are retryable for every call (the request
/// never left); other failures only for idempotent calls.
fn transport_error(err: &reqwest::Error, what: &str, idempotent: bool) -> Error {
    let (kind, retryable, detail) = if err.is_timeout() {
        (
            ErrorKind::Timeout,
            idempotent,
            "the call to Vault timed out",
        )
    } else if err.is_connect() {
        (ErrorKind::Unavailable, true, "cannot connect to Vault")
    } else if err.is_builder() {
        (
            ErrorKind::InvalidConfig,
            false,
            "the request cannot be built (check VAULT_ADDR)",
        )
    } else {
        (
            ErrorKind::Unavailable,
            idempotent,
            "the call to Vault failed",
        )
    };
    Error::new(kind, PROVIDER)
        .with_message(format!("{detail} ({what}): {}", error_chain(err)))
        .with_retryable(retryable)
}

/// The error and its sources on one line (reqwest's own text stops at the outermost).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    truncate(text)
}

/// Maps a Vault status and its error text to an [`Error`] (`what` names the call).
///
/// | status | kind | retryable |
/// |---|---|---|
/// | 400 | `InvalidConfig` (a bad request: unknown role, wrong mount type, bad version) | no |
/// | 401 | `Unauthenticated` | no |
/// | 403 | `PermissionDenied` (Vault also answers 403 to an unknown or expired token) | no |
/// | 404 | `NotFound` | no |
/// | 405 | `Unsupported` | no |
/// | 412 | `Unavailable` (a standby has not caught up) | yes |
/// | 429 | `RateLimited` | yes |
/// | 503 "Vault is sealed" | `Unavailable`, message says sealed | yes |
/// | 503 standby, other 5xx | `Unavailable` | yes |
/// | 504 | `Timeout` | yes |
pub(crate) fn map_status(
    status: u16,
    text: &str,
    what: &str,
    retry_after: Option<Duration>,
) -> Error {
    let lower = text.to_ascii_lowercase();
    let (kind, retryable) = match status {
        400 => (ErrorKind::InvalidConfig, false),
        401 => (ErrorKind::Unauthenticated, false),
        403 => (ErrorKind::PermissionDenied, false),
        404 => (ErrorKind::NotFound, false),
        405 => (ErrorKind::Unsupported, false),
        412 => (ErrorKind::Unavailable, true),
        429 => (ErrorKind::RateLimited, true),
        501 => (ErrorKind::Unsupported, false),
        504 => (ErrorKind::Timeout, true),
        s if s >= 500 => (ErrorKind::Unavailable, true),
        _ => (ErrorKind::Other, false),
    };
    let mut message = format!("HTTP {status} for {what}");
    if status == 503 && lower.contains("sealed") {
        message = format!("Vault is sealed (HTTP 503 for {what})");
    } else if status == 403 {
        message.push_str(
            " (the token's policies do not allow this path, or the token is unknown or expired)",
        );
    }
    if !text.is_empty() {
        message.push_str(": ");
        message.push_str(text);
    }
    let mut err = Error::new(kind, PROVIDER)
        .with_message(message)
        .with_retryable(retryable);
    if let Some(after) = retry_after {
        err = err.with_retry_after(after);
    }
    err
}

/// Characters escaped in one path segment: everything but unreserved characters and a few
/// that Vault paths commonly hold.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'+')
    .remove(b'=');

/// Joins path pieces (each may hold `/`) into an encoded path, each segment escaped.
pub(crate) fn encode_path(pieces: &[&str]) -> String {
    let mut out = String::new();
    for piece in pieces {
        for seg in piece.split('/').filter(|s| !s.is_empty()) {
            if !out.is_empty() {
                out.push('/');
            }
            out.extend(percent_encoding::utf8_percent_encode(seg, SEGMENT));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (400, ErrorKind::InvalidConfig, false),
            (401, ErrorKind::Unauthenticated, false),
            (403, ErrorKind::PermissionDenied, false),
            (404, ErrorKind::NotFound, false),
            (405, ErrorKind::Unsupported, false),
            (412, ErrorKind::Unavailable, true),
            (429, ErrorKind::RateLimited, true),
            (500, ErrorKind::Unavailable, true),
            (502, ErrorKind::Unavailable, true),
            (503, ErrorKind::Unavailable, true),
            (504, ErrorKind::Timeout, true),
        ];
        for (status, kind, retry) in cases {
            let e = map_status(status, "x", "a call", None);
            assert_eq!((e.kind(), e.is_retryable()), (kind, retry), "{status}");
        }
        let sealed = map_status(503, "Vault is sealed", "reading `a`", None);
        assert_eq!(sealed.kind(), ErrorKind::Unavailable);
        assert!(sealed.is_retryable());
        assert!(sealed.to_string().contains("Vault is sealed"), "{sealed}");
        let limited = map_status(429, "", "x", Some(Duration::from_secs(3)));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn error_text_is_flattened_and_bounded() {
        let reply = Reply {
            status: StatusCode::FORBIDDEN,
            body: Zeroizing::new(
                br#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#.to_vec(),
            ),
            retry_after: None,
        };
        assert_eq!(reply.error_text(), "permission denied");
        let long = Reply {
            status: StatusCode::BAD_REQUEST,
            body: Zeroizing::new(format!(r#"{{"errors":["{}"]}}"#, "e".repeat(1000)).into_bytes()),
            retry_after: None,
        };
        assert!(long.error_text().chars().count() <= MAX_MESSAGE_CHARS + 1);
        let not_json = Reply {
            status: StatusCode::BAD_GATEWAY,
            body: Zeroizing::new(b"<html>".to_vec()),
            retry_after: None,
        };
        assert_eq!(not_json.error_text(), "");
    }

    #[test]
    fn json_errors_do_not_quote_the_body() {
        let reply = Reply {
            status: StatusCode::OK,
            body: Zeroizing::new(br#"{"data": "hunter2"}"#.to_vec()),
            retry_after: None,
        };
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Want {
            data: u32,
        }
        let err = reply.json::<Want>("a read").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"));
    }

    #[test]
    fn paths_are_encoded_per_segment() {
        assert_eq!(
            encode_path(&["secret", "data", "a/b c"]),
            "secret/data/a/b%20c"
        );
        assert_eq!(encode_path(&["team/kv/", "x?y#z"]), "team/kv/x%3Fy%23z");
        assert_eq!(encode_path(&["a", "user@x+y=z"]), "a/user@x+y=z");
    }
}
