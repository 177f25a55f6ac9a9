//! The one error type every provider returns.
//!
//! An [`Error`] names the provider, the secret and what went wrong. It never holds a secret
//! value: providers build it from service error codes and their own words, and decode errors
//! keep only a field path and a position (a `serde_json` message quotes its input, so it is
//! never kept as text or as a source).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What went wrong, independent of the store.
///
/// New kinds may be added in a minor release; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The secret, or the requested version or stage, does not exist.
    NotFound,
    /// The caller is known but may not read this secret (HTTP 403, AccessDenied).
    PermissionDenied,
    /// No valid credentials: missing, expired or rejected (HTTP 401).
    Unauthenticated,
    /// The client was configured wrongly (bad URL, missing region or project, ...).
    InvalidConfig,
    /// The secret name cannot be used with this store.
    InvalidName,
    /// The secret exists but cannot be read now: disabled, destroyed, expired, not yet valid
    /// or scheduled for deletion.
    Disabled,
    /// The store could not be reached or failed internally. Usually worth a retry.
    Unavailable,
    /// The store throttled the caller. Worth a retry after a pause.
    RateLimited,
    /// The request timed out. Worth a retry.
    Timeout,
    /// The value was read but could not be decoded (bad JSON, missing or mistyped fields,
    /// bytes where text was expected).
    Decode,
    /// The value is larger than the configured limit.
    TooLarge,
    /// A local file or key has permissions that expose it to other users.
    InsecurePermissions,
    /// The store or provider does not support this operation.
    Unsupported,
    /// Anything else: an unexpected answer from the store.
    Other,
}

impl ErrorKind {
    /// Whether an error of this kind is, by default, worth retrying.
    pub const fn is_retryable_by_default(self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable | ErrorKind::RateLimited | ErrorKind::Timeout
        )
    }

    /// A short, stable, lower-case name for logs and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::InvalidName => "invalid_name",
            ErrorKind::Disabled => "disabled",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Decode => "decode",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::InsecurePermissions => "insecure_permissions",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::InvalidConfig => "invalid configuration",
            ErrorKind::InvalidName => "invalid secret name",
            ErrorKind::Disabled => "disabled",
            ErrorKind::Unavailable => "store unavailable",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Decode => "cannot decode",
            ErrorKind::TooLarge => "too large",
            ErrorKind::InsecurePermissions => "insecure file permissions",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Other => "error",
        };
        f.write_str(text)
    }
}

/// One problem with one field of a decoded secret bundle: the field's path and what is wrong,
/// never the field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    /// The path of the field, such as `password` or `replicas[1].port`.
    pub field: String,
    /// What is wrong, such as `missing` or `expected a number or a numeric string`.
    pub problem: String,
}

impl fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.field, self.problem)
    }
}

type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The error every provider and the facade return.
///
/// It is cheap to clone (the cache hands one failure to every waiting caller) and carries:
/// the [`ErrorKind`], the provider, the secret's name, whether a retry may help, an optional
/// `Retry-After` hint, the field issues of a decode error, and the underlying error as
/// [`source`](std::error::Error::source). It never holds a secret value.
///
/// ```
/// use secrets_core::{Error, ErrorKind};
/// let err = Error::new(ErrorKind::NotFound, "aws").with_secret("cgi-chat/database");
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert!(!err.is_retryable());
/// assert_eq!(err.to_string(), "aws: not found: secret `cgi-chat/database`");
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    provider: Cow<'static, str>,
    secret: Option<String>,
    message: Option<Cow<'static, str>>,
    retryable: bool,
    retry_after: Option<Duration>,
    fields: Vec<FieldIssue>,
    source: Option<Source>,
}

impl Error {
    /// A new error of `kind` raised by `provider` (such as `"aws"`), retryable by the kind's
    /// default.
    pub fn new(kind: ErrorKind, provider: impl Into<Cow<'static, str>>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                provider: provider.into(),
                secret: None,
                message: None,
                retryable: kind.is_retryable_by_default(),
                retry_after: None,
                fields: Vec::new(),
                source: None,
            }),
        }
    }

    /// Names the secret the error is about.
    #[must_use]
    pub fn with_secret(mut self, name: impl Into<String>) -> Self {
        self.inner.secret = Some(name.into());
        self
    }

    /// Adds a human-readable detail. It must not contain a secret value.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.inner.message = Some(message.into());
        self
    }

    /// Overrides whether a retry may help.
    #[must_use]
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.inner.retryable = retryable;
        self
    }

    /// Records how long the store asked the caller to wait before retrying.
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.inner.retry_after = Some(after);
        self
    }

    /// Records the field issues of a decode error.
    #[must_use]
    pub fn with_fields(mut self, fields: Vec<FieldIssue>) -> Self {
        self.inner.fields = fields;
        self
    }

    /// Keeps the underlying error as the source. Only pass errors whose text cannot contain a
    /// secret value (service and transport errors, I/O errors); never a serde error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// Changes the provider name (used by layers that wrap a provider).
    #[must_use]
    pub fn with_provider(mut self, provider: impl Into<Cow<'static, str>>) -> Self {
        self.inner.provider = provider.into();
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The provider that raised the error, such as `"aws"` or `"env"`.
    pub fn provider(&self) -> &str {
        &self.inner.provider
    }

    /// The secret the error is about, when known.
    pub fn secret(&self) -> Option<&str> {
        self.inner.secret.as_deref()
    }

    /// The detail message, when any.
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// Whether a retry may help.
    pub fn is_retryable(&self) -> bool {
        self.inner.retryable
    }

    /// How long the store asked the caller to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The field issues of a decode error (empty otherwise).
    pub fn fields(&self) -> &[FieldIssue] {
        &self.inner.fields
    }

    /// Shorthand for `kind() == ErrorKind::NotFound`.
    pub fn is_not_found(&self) -> bool {
        self.inner.kind == ErrorKind::NotFound
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        write!(f, "{}: {}", i.provider, i.kind)?;
        if let Some(name) = &i.secret {
            write!(f, ": secret `{name}`")?;
        }
        if let Some(msg) = &i.message {
            write!(f, ": {msg}")?;
        }
        if !i.fields.is_empty() {
            f.write_str(" (")?;
            for (n, issue) in i.fields.iter().enumerate() {
                if n > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "{issue}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &i.kind)
            .field("provider", &i.provider)
            .field("secret", &i.secret)
            .field("message", &i.message)
            .field("retryable", &i.retryable);
        if let Some(after) = i.retry_after {
            d.field("retry_after", &after);
        }
        if !i.fields.is_empty() {
            d.field("fields", &i.fields);
        }
        if let Some(source) = &i.source {
            d.field("source", &format_args!("{source}"));
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_provider_secret_message_and_fields() {
        let err = Error::new(ErrorKind::Decode, "env")
            .with_secret("cgi-chat/database")
            .with_message("bundle does not match DatabaseConfig")
            .with_fields(vec![
                FieldIssue {
                    field: "password".into(),
                    problem: "missing".into(),
                },
                FieldIssue {
                    field: "port".into(),
                    problem: "expected a number".into(),
                },
            ]);
        assert_eq!(
            err.to_string(),
            "env: cannot decode: secret `cgi-chat/database`: bundle does not match \
             DatabaseConfig (`password`: missing; `port`: expected a number)"
        );
        assert!(!err.is_retryable());
    }

    #[test]
    fn retryable_defaults_follow_kind() {
        assert!(Error::new(ErrorKind::Unavailable, "x").is_retryable());
        assert!(Error::new(ErrorKind::RateLimited, "x").is_retryable());
        assert!(Error::new(ErrorKind::Timeout, "x").is_retryable());
        assert!(!Error::new(ErrorKind::PermissionDenied, "x").is_retryable());
        assert!(
            Error::new(ErrorKind::Other, "x")
                .with_retryable(true)
                .is_retryable()
        );
    }

    #[test]
    fn source_is_kept() {
        use std::error::Error as _;
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Error::new(ErrorKind::Unavailable, "aws").with_source(io);
        assert_eq!(
            err.source().map(|s| s.to_string()).as_deref(),
            Some("refused")
        );
    }
}
