//! Fault injection: make the next requests fail (or stall) on purpose.

use std::collections::VecDeque;
use std::time::Duration;

use axum::http::StatusCode;

use crate::error::{ApiError, challenge_header};
use crate::stats::Operation;

/// A scripted failure for the next matching request(s).
///
/// Faults apply to authenticated requests only (those carrying `Authorization: Bearer ...`),
/// after the challenge, so they never disturb the Azure SDK's challenge handshake. A fault is
/// served `times` times (once by default), then it is gone. Faults injected earlier are served
/// first.
///
/// ```
/// use keyvault_emulator::{Fault, Operation};
/// use std::time::Duration;
///
/// // The next request is throttled with `Retry-After: 1`.
/// let throttle = Fault::throttled(1);
/// // The next three GetSecret requests get 503 Service Unavailable.
/// let outage = Fault::status(503).times(3).only(Operation::GetSecret);
/// // The next request waits two seconds, then is served normally.
/// let slow = Fault::delay(Duration::from_secs(2));
/// # let _ = (throttle, outage, slow);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    status: Option<u16>,
    code: Option<String>,
    message: Option<String>,
    retry_after: Option<u64>,
    delay: Duration,
    times: u32,
    only: Option<Operation>,
}

impl Fault {
    /// Answer the next request with `status` and a Key Vault error body whose code fits the
    /// status (`BadParameter`, `Unauthorized`, `Forbidden`, `NotFound`, `Conflict`,
    /// `Throttled`, `InternalServerError`, `ServiceUnavailable`, ...). A 401 also carries the
    /// `WWW-Authenticate` challenge, as the service's does. A status outside 100..=999 is
    /// served as 500.
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            code: None,
            message: None,
            retry_after: None,
            delay: Duration::ZERO,
            times: 1,
            only: None,
        }
    }

    /// Answer the next request with 429 `Throttled` and `Retry-After: <retry_after_secs>`.
    pub fn throttled(retry_after_secs: u64) -> Self {
        Self::status(429).retry_after(retry_after_secs)
    }

    /// Wait `delay` before serving the next request normally (for client timeout tests).
    pub fn delay(delay: Duration) -> Self {
        Self {
            status: None,
            code: None,
            message: None,
            retry_after: None,
            delay,
            times: 1,
            only: None,
        }
    }

    /// Serve this fault to the next `times` matching requests instead of one (0 is taken as 1).
    pub fn times(mut self, times: u32) -> Self {
        self.times = times.max(1);
        self
    }

    /// Add a `Retry-After` header (seconds).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Wait `delay` before answering (with the fault's status, if it has one).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Use this Key Vault error code and message instead of the defaults for the status.
    pub fn code(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self.message = Some(message.into());
        self
    }

    /// Apply only to requests of this operation kind; others pass untouched.
    pub fn only(mut self, operation: Operation) -> Self {
        self.only = Some(operation);
        self
    }

    fn matches(&self, operation: Operation) -> bool {
        self.only.is_none_or(|only| only == operation)
    }

    /// The error response for this fault, or `None` for a delay-only fault.
    pub(crate) fn response(&self, tenant: &str) -> Option<ApiError> {
        let raw = self.status?;
        let status = StatusCode::from_u16(raw).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (code, message, inner) = default_error(status);
        let mut error = ApiError::new(
            status,
            self.code.clone().unwrap_or_else(|| code.to_owned()),
            self.message.clone().unwrap_or_else(|| message.to_owned()),
        );
        if self.code.is_none()
            && let Some(inner) = inner
        {
            error = error.with_inner(inner);
        }
        error.retry_after = self.retry_after;
        if status == StatusCode::UNAUTHORIZED {
            error.challenge = Some(challenge_header(tenant));
        }
        Some(error)
    }

    pub(crate) fn delay_duration(&self) -> Duration {
        self.delay
    }
}

/// Default code, message and inner code for an injected status, after the service's wording
/// where it is known.
fn default_error(status: StatusCode) -> (&'static str, &'static str, Option<&'static str>) {
    match status.as_u16() {
        400 => ("BadParameter", "Injected fault: bad request.", None),
        401 => (
            "Unauthorized",
            "AKV10032: Invalid issuer. (injected fault)",
            None,
        ),
        403 => (
            "Forbidden",
            "Caller is not authorized to perform action on resource. (injected fault)",
            Some("ForbiddenByRbac"),
        ),
        404 => ("NotFound", "Injected fault: not found.", None),
        409 => ("Conflict", "Injected fault: conflict.", None),
        429 => (
            "Throttled",
            "Request was not processed because too many requests were received. (injected fault)",
            None,
        ),
        500 => (
            "InternalServerError",
            "Injected fault: internal server error.",
            None,
        ),
        502 => ("BadGateway", "Injected fault: bad gateway.", None),
        503 => (
            "ServiceUnavailable",
            "Injected fault: the service is unavailable.",
            None,
        ),
        504 => ("GatewayTimeout", "Injected fault: gateway timeout.", None),
        _ => ("InjectedFault", "Injected fault.", None),
    }
}

/// Pending faults, served in injection order.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    pending: VecDeque<Fault>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, fault: Fault) {
        self.pending.push_back(fault);
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Takes one use of the first fault matching `operation`.
    pub(crate) fn take(&mut self, operation: Operation) -> Option<Fault> {
        let index = self.pending.iter().position(|f| f.matches(operation))?;
        let fault = self.pending.get_mut(index)?;
        fault.times = fault.times.saturating_sub(1);
        let served = fault.clone();
        if fault.times == 0 {
            self.pending.remove(index);
        }
        Some(served)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn faults_are_used_up_in_order() {
        let mut queue = FaultQueue::default();
        queue.push(Fault::status(503).times(2));
        queue.push(Fault::throttled(3));
        assert_eq!(queue.take(Operation::GetSecret).unwrap().status, Some(503));
        assert_eq!(queue.take(Operation::SetSecret).unwrap().status, Some(503));
        let throttled = queue.take(Operation::GetSecret).unwrap();
        assert_eq!(throttled.retry_after, Some(3));
        assert!(queue.take(Operation::GetSecret).is_none());
    }

    #[test]
    fn only_filters_by_operation() {
        let mut queue = FaultQueue::default();
        queue.push(Fault::status(500).only(Operation::ListSecrets));
        assert!(queue.take(Operation::GetSecret).is_none());
        assert!(queue.take(Operation::ListSecrets).is_some());
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn responses_carry_key_vault_codes() {
        let e = Fault::throttled(2).response("t").unwrap();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.code, "Throttled");
        assert_eq!(e.retry_after, Some(2));
        let e = Fault::status(401).response("t").unwrap();
        assert!(e.challenge.unwrap().contains("login.microsoftonline.com/t"));
        let e = Fault::status(1000).response("t").unwrap();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        let e = Fault::status(503)
            .code("Custom", "msg")
            .response("t")
            .unwrap();
        assert_eq!((e.code.as_str(), e.message.as_str()), ("Custom", "msg"));
        assert!(
            Fault::delay(Duration::from_millis(1))
                .response("t")
                .is_none()
        );
    }
}
