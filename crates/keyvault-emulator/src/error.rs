//! The public error type, and the private Key Vault error responses.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error from starting or driving the emulator (not an HTTP error answered to a client).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot bind the emulator to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The CA or leaf certificate could not be generated.
    #[error("cannot generate the emulator's certificates: {0}")]
    Certificate(#[source] rcgen::Error),
    /// The TLS server configuration was rejected by rustls.
    #[error("cannot configure TLS: {0}")]
    Tls(#[source] tokio_rustls::rustls::Error),
    /// The CA certificate could not be written to the configured path.
    #[error("cannot write the CA certificate to {path}: {source}")]
    WriteCa {
        /// The configured `ca_path`.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The configuration is not usable (for example a page size of 0).
    #[error("invalid emulator configuration: {0}")]
    InvalidConfig(String),
    /// A direct store operation (such as [`crate::RunningEmulator::set_secret`]) was refused,
    /// for the same reason the REST API would refuse it.
    #[error("the emulator refused the operation: {code}: {message}")]
    Rejected {
        /// The HTTP status the REST API would answer.
        status: u16,
        /// The Key Vault error code (for example `BadParameter`).
        code: String,
        /// The Key Vault error message.
        message: String,
    },
}

/// An error answered to a client, in Key Vault's JSON shape:
/// `{"error":{"code":"...","message":"...","innererror":{"code":"..."}}}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) inner: Option<String>,
    pub(crate) retry_after: Option<u64>,
    pub(crate) challenge: Option<String>,
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    innererror: Option<InnerError<'a>>,
}

#[derive(Serialize)]
struct InnerError<'a> {
    code: &'a str,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            inner: None,
            retry_after: None,
            challenge: None,
        }
    }

    pub(crate) fn with_inner(mut self, inner: impl Into<String>) -> Self {
        self.inner = Some(inner.into());
        self
    }

    pub(crate) fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadParameter", message)
    }

    /// The service's wording for a name outside `^[0-9a-zA-Z-]{1,127}$`.
    pub(crate) fn invalid_name(name: &str) -> Self {
        Self::bad_parameter(format!("The request URI contains an invalid name: {name}"))
    }

    /// `(name/id)` is the service's own wording: the name, or `name/version`.
    pub(crate) fn secret_not_found(name_or_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!(
                "A secret with (name/id) {name_or_id} was not found in this key vault. If you \
                 recently deleted this secret you may be able to recover it using the correct \
                 recovery command. For help resolving this issue, please see \
                 https://go.microsoft.com/fwlink/?linkid=2125182"
            ),
        )
    }

    pub(crate) fn deleted_secret_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            "Deleted Secret not found",
        )
    }

    pub(crate) fn deleted_but_recoverable(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Secret {name} is currently in a deleted but recoverable state, and its name \
                 cannot be reused; in this state, the secret can only be recovered or purged."
            ),
        )
        .with_inner("ObjectIsDeletedButRecoverable")
    }

    pub(crate) fn challenge(tenant: &str) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
        );
        e.challenge = Some(challenge_header(tenant));
        e
    }

    pub(crate) fn into_rejected(self) -> Error {
        Error::Rejected {
            status: self.status.as_u16(),
            code: self.code,
            message: self.message,
        }
    }
}

/// The exact `WWW-Authenticate` value Key Vault sends in its 401 challenge.
pub(crate) fn challenge_header(tenant: &str) -> String {
    format!(
        "Bearer authorization=\"https://login.microsoftonline.com/{tenant}\", \
         resource=\"https://vault.azure.net\""
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: &self.code,
                message: &self.message,
                innererror: self.inner.as_deref().map(|code| InnerError { code }),
            },
        };
        let mut response = json_response(self.status, &body);
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self.challenge
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Serializes `body` as the service does: `application/json; charset=utf-8`.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            bytes,
        )
            .into_response(),
        // Serializing plain structs of strings and numbers cannot fail; answer 500 if it does.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
