//! Mapping Azure SDK errors to the workspace's one [`Error`] type.
//!
//! No Azure error is kept as a `source`: an SDK error may hold the raw HTTP response, and a
//! decoding error's text may quote the body it failed on. Instead the mapped error keeps the
//! HTTP status, the Key Vault error code (and inner code), the service's message (Key Vault
//! messages describe the request, never a value), and for transport errors the text of the
//! error chain.

use std::error::Error as StdError;
use std::time::Duration;

use azure_core::error::ErrorKind as AzureKind;
use azure_core::http::headers::{HeaderName, Headers};
use azure_core::time::OffsetDateTime;
use secrets_core::{Error, ErrorKind};
use serde::Deserialize;

use crate::PROVIDER;

/// The longest service message or error chain kept in an error, in bytes.
const MAX_MESSAGE: usize = 600;

#[derive(Deserialize, Default)]
struct Body {
    #[serde(default)]
    error: Option<Detail>,
}

#[derive(Deserialize, Default)]
struct Detail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "innererror")]
    inner: Option<Inner>,
}

#[derive(Deserialize, Default)]
struct Inner {
    #[serde(default)]
    code: Option<String>,
}

/// What a Key Vault error answer says.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ServiceError {
    pub(crate) status: u16,
    pub(crate) code: Option<String>,
    pub(crate) inner_code: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) retry_after: Option<Duration>,
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// Reads `Retry-After` (seconds or an HTTP date), or failing that `retry-after-ms` /
/// `x-ms-retry-after-ms` (milliseconds).
pub(crate) fn retry_after(headers: &Headers) -> Option<Duration> {
    if let Some(value) = headers.get_optional_str(&HeaderName::from_static("retry-after")) {
        let value = value.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(at) = azure_core::time::parse_rfc7231(value) {
            let left = at - OffsetDateTime::now_utc();
            return Some(Duration::try_from(left).unwrap_or(Duration::ZERO));
        }
    }
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = headers
            .get_optional_str(&HeaderName::from_static(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            return Some(Duration::from_millis(ms));
        }
    }
    None
}

impl ServiceError {
    fn from_response(status: u16, code: Option<&str>, body: &[u8], headers: &Headers) -> Self {
        // An error body that is not JSON (a proxy's HTML page, say) is simply not used.
        let detail = serde_json::from_slice::<Body>(body)
            .ok()
            .and_then(|b| b.error)
            .unwrap_or_default();
        ServiceError {
            status,
            code: detail.code.or_else(|| code.map(str::to_owned)),
            inner_code: detail.inner.and_then(|i| i.code),
            message: detail.message.map(truncate),
            retry_after: retry_after(headers),
        }
    }

    fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code) || self.inner_code.as_deref() == Some(code)
    }

    /// The text for the error: `HTTP 403 Forbidden/SecretDisabled: <service message>`.
    fn describe(&self) -> String {
        let mut text = format!("HTTP {}", self.status);
        if let Some(code) = &self.code {
            text.push(' ');
            text.push_str(code);
        }
        if let Some(inner) = &self.inner_code {
            text.push('/');
            text.push_str(inner);
        }
        if let Some(message) = &self.message {
            text.push_str(": ");
            text.push_str(message);
        }
        text
    }

    /// Maps the answer to an [`Error`] (without the secret's name).
    pub(crate) fn into_error(self) -> Error {
        let lower = self
            .message
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let (kind, hint) = match self.status {
            401 => (
                ErrorKind::Unauthenticated,
                Some("the vault rejected the access token"),
            ),
            403 if self.is("SecretDisabled") || lower.contains("disabled secret") => {
                (ErrorKind::Disabled, Some("the version is disabled"))
            }
            403 if self.is("SecretExpired") || lower.contains("expired secret") => {
                (ErrorKind::Disabled, Some("the version has expired"))
            }
            403 if self.is("SecretNotYetValid") || lower.contains("not yet valid") => {
                (ErrorKind::Disabled, Some("the version is not valid yet"))
            }
            403 => (
                ErrorKind::PermissionDenied,
                Some(
                    "the identity may not read this secret (grant it the `Key Vault Secrets \
                     User` role, or `get` and `list` secret permissions)",
                ),
            ),
            404 => (ErrorKind::NotFound, None),
            408 => (ErrorKind::Timeout, None),
            429 => (
                ErrorKind::RateLimited,
                Some("Key Vault throttled the caller"),
            ),
            400 if self.is("BadParameter") && lower.contains("name") => {
                (ErrorKind::InvalidName, None)
            }
            s if s >= 500 => (ErrorKind::Unavailable, None),
            _ => (ErrorKind::Other, None),
        };
        let mut text = self.describe();
        if let Some(hint) = hint {
            text = format!("{hint} ({text})");
        }
        let mut err = Error::new(kind, PROVIDER).with_message(text);
        if let Some(after) = self.retry_after
            && matches!(kind, ErrorKind::RateLimited | ErrorKind::Unavailable)
        {
            err = err.with_retry_after(after);
        }
        err
    }
}

/// The error and its sources as one line: `a: b: c`, shortened.
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut current = err.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    truncate(parts.join(": "))
}

/// Whether the chain says the server's certificate was refused (retrying cannot help).
fn is_certificate_problem(err: &(dyn StdError + 'static)) -> bool {
    let text = chain_text(err).to_ascii_lowercase();
    text.contains("certificate") && !is_timeout(err)
}

/// Whether any error in the chain is a timeout.
fn is_timeout(err: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<reqwest::Error>()
            && r.is_timeout()
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// Maps an Azure SDK error to an [`Error`] about `name`.
pub(crate) fn map_azure_error(err: &azure_core::Error, name: &str) -> Error {
    let mapped = match err.kind() {
        AzureKind::HttpResponse {
            status,
            error_code,
            raw_response,
        } => {
            let status = u16::from(*status);
            let service = match raw_response {
                Some(raw) => ServiceError::from_response(
                    status,
                    error_code.as_deref(),
                    raw.body(),
                    raw.headers(),
                ),
                None => ServiceError {
                    status,
                    code: error_code.clone(),
                    ..ServiceError::default()
                },
            };
            service.into_error()
        }
        AzureKind::Connection | AzureKind::Io if is_certificate_problem(err) => {
            Error::new(ErrorKind::InvalidConfig, PROVIDER).with_message(format!(
                "the vault's TLS certificate is not trusted (to trust a private CA or the \
                 emulator's, set AZURE_KEYVAULT_CA_FILE or call with_ca_pem): {}",
                chain_text(err)
            ))
        }
        AzureKind::Connection => Error::new(ErrorKind::Unavailable, PROVIDER).with_message(
            format!("could not connect to Key Vault: {}", chain_text(err)),
        ),
        AzureKind::Io if is_timeout(err) => Error::new(ErrorKind::Timeout, PROVIDER).with_message(
            format!("Key Vault did not answer in time: {}", chain_text(err)),
        ),
        AzureKind::Io => Error::new(ErrorKind::Unavailable, PROVIDER).with_message(format!(
            "I/O error talking to Key Vault: {}",
            chain_text(err)
        )),
        AzureKind::Credential => Error::new(ErrorKind::Unauthenticated, PROVIDER).with_message(
            format!("could not get an access token: {}", chain_text(err)),
        ),
        // Never the error's text: a decoding error may quote the body, and the body of a
        // successful answer holds the value.
        AzureKind::DataConversion => Error::new(ErrorKind::Other, PROVIDER).with_message(
            "the answer from Key Vault could not be decoded (details withheld: they may quote \
             the response body)",
        ),
        _ => {
            let text = chain_text(err);
            let kind = if text.contains("non-TLS") || text.contains("challenge resource") {
                ErrorKind::InvalidConfig
            } else {
                ErrorKind::Other
            };
            Error::new(kind, PROVIDER).with_message(text)
        }
    };
    mapped.with_secret(name)
}

#[cfg(test)]
mod tests {
    use azure_core::http::StatusCode;
    use azure_core::http::headers::HeaderValue;

    use super::*;

    fn service(status: u16, body: &str, headers: &[(&'static str, &str)]) -> Error {
        let mut h = Headers::new();
        for (k, v) in headers {
            h.insert(HeaderName::from_static(k), HeaderValue::from(v.to_string()));
        }
        ServiceError::from_response(status, None, body.as_bytes(), &h).into_error()
    }

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (401, "Unauthorized", ErrorKind::Unauthenticated, false),
            (403, "Forbidden", ErrorKind::PermissionDenied, false),
            (404, "SecretNotFound", ErrorKind::NotFound, false),
            (408, "RequestTimeout", ErrorKind::Timeout, true),
            (429, "Throttled", ErrorKind::RateLimited, true),
            (500, "InternalServerError", ErrorKind::Unavailable, true),
            (503, "ServiceUnavailable", ErrorKind::Unavailable, true),
            (409, "Conflict", ErrorKind::Other, false),
        ];
        for (status, code, kind, retry) in cases {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
            let e = service(status, &body, &[]);
            assert_eq!((e.kind(), e.is_retryable()), (kind, retry), "{status}");
            assert!(e.message().unwrap().contains(code), "{e}");
        }
    }

    #[test]
    fn forbidden_disabled_expired_not_yet_valid() {
        let disabled = r#"{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}"#;
        let e = service(403, disabled, &[]);
        assert_eq!(e.kind(), ErrorKind::Disabled);
        assert!(
            e.message().unwrap().contains("Forbidden/SecretDisabled"),
            "{e}"
        );
        let expired =
            r#"{"error":{"code":"Forbidden","message":"x","innererror":{"code":"SecretExpired"}}}"#;
        assert_eq!(service(403, expired, &[]).kind(), ErrorKind::Disabled);
        let nbf = r#"{"error":{"code":"Forbidden","message":"x","innererror":{"code":"SecretNotYetValid"}}}"#;
        assert_eq!(service(403, nbf, &[]).kind(), ErrorKind::Disabled);
        let rbac = r#"{"error":{"code":"Forbidden","message":"Caller is not authorized","innererror":{"code":"ForbiddenByRbac"}}}"#;
        let e = service(403, rbac, &[]);
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(
            e.message().unwrap().contains("Key Vault Secrets User"),
            "{e}"
        );
    }

    #[test]
    fn retry_after_seconds_date_and_ms() {
        let e = service(429, "{}", &[("retry-after", "7")]);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.is_retryable());
        let e = service(503, "", &[("retry-after-ms", "1500")]);
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
        let past = service(429, "", &[("retry-after", "Fri, 01 Jan 2021 00:00:00 GMT")]);
        assert_eq!(past.retry_after(), Some(Duration::ZERO));
        let none = service(429, "", &[]);
        assert_eq!(none.retry_after(), None);
        // Not kept on errors a wait does not help.
        assert_eq!(
            service(404, "", &[("retry-after", "3")]).retry_after(),
            None
        );
    }

    #[test]
    fn non_json_bodies_and_long_messages() {
        let e = service(502, "<html>bad gateway</html>", &[]);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        let long = format!(
            r#"{{"error":{{"code":"X","message":"{}"}}}}"#,
            "m".repeat(5000)
        );
        let e = service(500, &long, &[]);
        assert!(e.message().unwrap().len() < MAX_MESSAGE + 100);
    }

    #[test]
    fn sdk_error_kinds() {
        let raw = azure_core::http::RawResponse::from_bytes(
            StatusCode::NotFound,
            Headers::new(),
            r#"{"error":{"code":"SecretNotFound","message":"A secret with (name/id) x was not found in this key vault."}}"#,
        );
        let err = azure_core::Error::with_message(
            AzureKind::HttpResponse {
                status: StatusCode::NotFound,
                error_code: Some("SecretNotFound".into()),
                raw_response: Some(Box::new(raw)),
            },
            "not found",
        );
        let e = map_azure_error(&err, "app/x");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.secret(), Some("app/x"));

        let conv = azure_core::Error::with_message(
            AzureKind::DataConversion,
            "invalid type: string \"hunter2\", expected a map",
        );
        let e = map_azure_error(&conv, "n");
        assert!(!format!("{e} {e:?}").contains("hunter2"));

        let cred = azure_core::Error::with_message(AzureKind::Credential, "no az");
        assert_eq!(
            map_azure_error(&cred, "n").kind(),
            ErrorKind::Unauthenticated
        );
        let conn = azure_core::Error::with_message(AzureKind::Connection, "refused");
        let e = map_azure_error(&conn, "n");
        assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::Unavailable, true));
        let io = azure_core::Error::with_error(
            AzureKind::Io,
            std::io::Error::new(std::io::ErrorKind::TimedOut, "slow"),
            "read",
        );
        assert_eq!(map_azure_error(&io, "n").kind(), ErrorKind::Timeout);
        let tls = azure_core::Error::with_message(
            AzureKind::Other,
            "authorized requests are not permitted for non-TLS protected endpoints",
        );
        assert_eq!(map_azure_error(&tls, "n").kind(), ErrorKind::InvalidConfig);
    }
}
