//! Converts SDK errors into the one core [`Error`] at the crate boundary.
//!
//! | SDK error | core kind | retryable |
//! |---|---|---|
//! | `NOT_FOUND` / HTTP 404 | `NotFound` | no |
//! | `PERMISSION_DENIED` / 403 | `PermissionDenied` | no |
//! | `UNAUTHENTICATED` / 401, credentials that cannot be built | `Unauthenticated` | no |
//! | `FAILED_PRECONDITION` (disabled or destroyed version) | `Disabled` | no |
//! | `RESOURCE_EXHAUSTED` / 429 | `RateLimited` | yes |
//! | `UNAVAILABLE`, `INTERNAL`, `ABORTED`, HTTP 5xx, connection and I/O failures | `Unavailable` | yes |
//! | `DEADLINE_EXCEEDED`, client-side timeouts, HTTP 504 | `Timeout` | yes |
//! | `INVALID_ARGUMENT`, `OUT_OF_RANGE`, request binding errors | `InvalidName` | no |
//! | `UNIMPLEMENTED` / 501 | `Unsupported` | no |
//! | a response that cannot be parsed, anything else | `Other` | no |
//!
//! A retry policy that gave up is mapped by the last error it saw. The SDK error is kept as
//! the source, except for a response that could not be parsed: a parser's message may quote
//! the response, and the response of an access call holds the secret.

use std::error::Error as StdError;
use std::time::Duration;

use google_cloud_gax::error::binding::BindingError;
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::error::{CredentialsError, Error as SdkError};
use secrets_core::{Error, ErrorKind};

use crate::PROVIDER_NAME;

/// What the failed call was about, for the error message.
pub(crate) struct Context<'a> {
    /// The name the caller used.
    pub(crate) name: &'a str,
    /// The resource the call addressed.
    pub(crate) resource: &'a str,
    /// The endpoint the client talks to.
    pub(crate) endpoint: &'a str,
}

/// The error a retry policy wrapped, or `err` itself.
fn innermost(err: &SdkError) -> &SdkError {
    let mut current = err;
    while current.is_exhausted() {
        let mut source = current.source();
        let mut next = None;
        while let Some(s) = source {
            if let Some(e) = s.downcast_ref::<SdkError>() {
                next = Some(e);
                break;
            }
            source = s.source();
        }
        match next {
            Some(e) => current = e,
            None => break,
        }
    }
    current
}

/// The error's direct source as a `T`. Classifies errors through the SDK's documented API
/// only (its `is_connect`/`is_authentication` predicates are hidden from its docs).
fn source_as<T: StdError + 'static>(err: &SdkError) -> Option<&T> {
    StdError::source(err).and_then(|s| s.downcast_ref::<T>())
}

fn source_is<T: StdError + 'static>(err: &SdkError) -> bool {
    source_as::<T>(err).is_some()
}

fn retry_after(err: &SdkError) -> Option<Duration> {
    let value = err.http_headers()?.get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A short description of a service message, kept to one line and a sane length.
fn service_detail(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default().trim();
    let mut out: String = line.chars().take(300).collect();
    if out.len() < line.len() {
        out.push('…');
    }
    out
}

fn with_detail(base: String, detail: &str) -> String {
    if detail.is_empty() {
        base
    } else {
        format!("{base} (service says: {detail})")
    }
}

fn from_code(code: Code, detail: &str, cx: &Context<'_>) -> (ErrorKind, String) {
    let resource = cx.resource;
    match code {
        Code::NotFound => (
            ErrorKind::NotFound,
            with_detail(format!("`{resource}` does not exist"), detail),
        ),
        Code::PermissionDenied => (
            ErrorKind::PermissionDenied,
            with_detail(
                format!(
                    "the caller may not access `{resource}` (reading needs \
                     secretmanager.versions.access, e.g. roles/secretmanager.secretAccessor)"
                ),
                detail,
            ),
        ),
        Code::Unauthenticated => (
            ErrorKind::Unauthenticated,
            with_detail("the service rejected the credentials".to_owned(), detail),
        ),
        Code::FailedPrecondition => {
            let upper = detail.to_ascii_uppercase();
            let message = if upper.contains("DESTROYED") {
                format!("version `{resource}` is destroyed: its data is gone for good")
            } else if upper.contains("DISABLED") {
                format!("version `{resource}` is disabled: enable it again or read another version")
            } else {
                format!(
                    "version `{resource}` cannot be read in its current state (FAILED_PRECONDITION)"
                )
            };
            (ErrorKind::Disabled, with_detail(message, detail))
        }
        Code::ResourceExhausted => (
            ErrorKind::RateLimited,
            with_detail("Secret Manager quota exceeded".to_owned(), detail),
        ),
        Code::Unavailable | Code::Internal | Code::Aborted => (
            ErrorKind::Unavailable,
            with_detail(
                format!("Secret Manager failed temporarily ({})", code.name()),
                detail,
            ),
        ),
        Code::DeadlineExceeded => (
            ErrorKind::Timeout,
            with_detail("the service's deadline was exceeded".to_owned(), detail),
        ),
        Code::InvalidArgument | Code::OutOfRange => (
            ErrorKind::InvalidName,
            with_detail(
                format!(
                    "the service rejected `{resource}` as invalid ({})",
                    code.name()
                ),
                detail,
            ),
        ),
        Code::Unimplemented => (
            ErrorKind::Unsupported,
            with_detail(
                "the endpoint does not implement this call".to_owned(),
                detail,
            ),
        ),
        other => (
            ErrorKind::Other,
            with_detail(format!("unexpected service error {}", other.name()), detail),
        ),
    }
}

fn from_http_status(status: u16, cx: &Context<'_>) -> (ErrorKind, String) {
    let code = match status {
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        412 => Code::FailedPrecondition,
        429 => Code::ResourceExhausted,
        501 => Code::Unimplemented,
        504 => Code::DeadlineExceeded,
        500..=599 => Code::Unavailable,
        _ => Code::Unknown,
    };
    let (kind, message) = from_code(code, "", cx);
    (
        kind,
        format!("{message} [HTTP {status} from {}]", cx.endpoint),
    )
}

/// Maps an SDK error from a call about `cx.resource` to the core error.
pub(crate) fn map_sdk_error(err: SdkError, cx: &Context<'_>) -> Error {
    let inner = innermost(&err);
    let gave_up = err.is_exhausted();
    let mut keep_source = true;

    let (kind, mut message) = if let Some(status) = inner.status() {
        from_code(status.code, &service_detail(&status.message), cx)
    } else if let Some(code) = inner.http_status_code() {
        from_http_status(code, cx)
    } else if inner.is_timeout() {
        (
            ErrorKind::Timeout,
            format!("no answer from {} within the time limit", cx.endpoint),
        )
    } else if inner.is_deserialization() {
        keep_source = false;
        (
            ErrorKind::Other,
            "cannot parse the service's answer (details withheld: they could quote the secret)"
                .to_owned(),
        )
    } else if inner.is_serialization() || source_is::<BindingError>(inner) {
        (
            ErrorKind::InvalidName,
            format!("cannot build a request for `{}`", cx.resource),
        )
    } else if let Some(cred) = source_as::<CredentialsError>(inner) {
        if cred.is_transient() {
            (
                ErrorKind::Unavailable,
                "cannot obtain an access token right now (is the metadata server or token \
                 endpoint reachable? Outside Google Cloud, set GOOGLE_APPLICATION_CREDENTIALS or \
                 run `gcloud auth application-default login`)"
                    .to_owned(),
            )
        } else {
            (
                ErrorKind::Unauthenticated,
                "cannot obtain credentials (Application Default Credentials: set \
                 GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`)"
                    .to_owned(),
            )
        }
    } else if StdError::source(inner).is_some() {
        // What is left is a connection, I/O or transport failure without an HTTP status.
        (
            ErrorKind::Unavailable,
            format!("cannot reach Secret Manager at {}", cx.endpoint),
        )
    } else {
        (ErrorKind::Other, "unexpected client error".to_owned())
    };

    if gave_up && kind.is_retryable_by_default() {
        message.push_str("; gave up after the retry policy's attempt or time limit");
    }
    let mut out = Error::new(kind, PROVIDER_NAME)
        .with_secret(cx.name)
        .with_message(message);
    if let Some(after) = retry_after(inner) {
        out = out.with_retry_after(after);
    }
    if keep_source {
        out = out.with_source(err);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_gax::error::rpc::Status;

    const CX: Context<'static> = Context {
        name: "cgi-chat/database",
        resource: "projects/p/secrets/cgi-chat__database/versions/latest",
        endpoint: "https://secretmanager.googleapis.com",
    };

    fn service(code: Code, message: &str) -> SdkError {
        SdkError::service(Status::default().set_code(code).set_message(message))
    }

    fn map(err: SdkError) -> Error {
        map_sdk_error(err, &CX)
    }

    #[test]
    fn service_codes_map_to_kinds() {
        let cases = [
            (Code::NotFound, ErrorKind::NotFound, false),
            (Code::PermissionDenied, ErrorKind::PermissionDenied, false),
            (Code::Unauthenticated, ErrorKind::Unauthenticated, false),
            (Code::FailedPrecondition, ErrorKind::Disabled, false),
            (Code::ResourceExhausted, ErrorKind::RateLimited, true),
            (Code::Unavailable, ErrorKind::Unavailable, true),
            (Code::Internal, ErrorKind::Unavailable, true),
            (Code::Aborted, ErrorKind::Unavailable, true),
            (Code::DeadlineExceeded, ErrorKind::Timeout, true),
            (Code::InvalidArgument, ErrorKind::InvalidName, false),
            (Code::Unimplemented, ErrorKind::Unsupported, false),
            (Code::Unknown, ErrorKind::Other, false),
            (Code::DataLoss, ErrorKind::Other, false),
        ];
        for (code, kind, retryable) in cases {
            let err = map(service(code, "boom"));
            assert_eq!(err.kind(), kind, "{code:?}");
            assert_eq!(err.is_retryable(), retryable, "{code:?}");
            assert_eq!(err.provider(), "gcp");
            assert_eq!(err.secret(), Some("cgi-chat/database"));
            assert!(
                StdError::source(&err).is_some(),
                "{code:?} keeps its source"
            );
        }
    }

    #[test]
    fn disabled_and_destroyed_have_their_own_messages() {
        let disabled = map(service(
            Code::FailedPrecondition,
            "Secret Version [projects/1/secrets/s/versions/1] is in DISABLED state.",
        ));
        assert_eq!(disabled.kind(), ErrorKind::Disabled);
        assert!(disabled.to_string().contains("is disabled"), "{disabled}");
        let destroyed = map(service(
            Code::FailedPrecondition,
            "Cannot access secret version in state DESTROYED.",
        ));
        assert_eq!(destroyed.kind(), ErrorKind::Disabled);
        assert!(
            destroyed.to_string().contains("is destroyed"),
            "{destroyed}"
        );
    }

    #[test]
    fn http_only_errors_map_by_status() {
        let cases = [
            (404, ErrorKind::NotFound),
            (403, ErrorKind::PermissionDenied),
            (401, ErrorKind::Unauthenticated),
            (429, ErrorKind::RateLimited),
            (500, ErrorKind::Unavailable),
            (502, ErrorKind::Unavailable),
            (503, ErrorKind::Unavailable),
            (504, ErrorKind::Timeout),
            (400, ErrorKind::InvalidName),
            (418, ErrorKind::Other),
        ];
        for (status, kind) in cases {
            let err = map(SdkError::http(
                status,
                http_headers(&[]),
                bytes_of("<html>proxy error</html>"),
            ));
            assert_eq!(err.kind(), kind, "{status}");
            assert!(err.to_string().contains(&format!("HTTP {status}")), "{err}");
        }
    }

    #[test]
    fn retry_after_is_kept() {
        let err = map(SdkError::http(
            429,
            http_headers(&[("retry-after", "7")]),
            bytes_of(""),
        ));
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert!(err.is_retryable());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn transport_failures_are_retryable() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = map(SdkError::connect(refused));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.is_retryable());
        assert!(err.to_string().contains("cannot reach"), "{err}");

        let err = map(SdkError::io("reset"));
        assert_eq!(err.kind(), ErrorKind::Unavailable);

        let err = map(SdkError::timeout("slow"));
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.is_retryable());
    }

    #[test]
    fn exhausted_policy_maps_by_last_error() {
        let last = SdkError::connect(std::io::Error::other("refused"));
        let err = map(SdkError::exhausted(last));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.is_retryable());
        assert!(err.to_string().contains("gave up"), "{err}");

        let last = service(Code::Unavailable, "try later");
        let err = map(SdkError::exhausted(last));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn credentials_errors() {
        let permanent = CredentialsError::from_msg(false, "no ADC");
        let err = map(SdkError::authentication(permanent));
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
        assert!(!err.is_retryable());
        let transient = CredentialsError::from_msg(true, "metadata server busy");
        let err = map(SdkError::authentication(transient));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.is_retryable());
    }

    #[test]
    fn deserialization_errors_drop_their_source() {
        // A parser message can quote the response, which holds the payload.
        let err = map(SdkError::deser("invalid type: string \"canary-7d1e\""));
        assert_eq!(err.kind(), ErrorKind::Other);
        assert!(StdError::source(&err).is_none());
        let all = format!("{err} {err:?}");
        assert!(!all.contains("canary-7d1e"), "{all}");
    }

    fn http_headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    fn bytes_of(s: &'static str) -> bytes::Bytes {
        bytes::Bytes::from_static(s.as_bytes())
    }
}
