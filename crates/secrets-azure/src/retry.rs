//! The provider's own retry loop.
//!
//! The Azure SDK's retry policy is turned off: it sleeps for whatever `Retry-After` the service
//! sends, however long, and its default (8 retries, up to a minute) is too patient for a
//! service starting up. This loop retries only errors that may pass (unavailable, throttled,
//! timed out), a bounded number of times, with jittered exponential backoff; it waits for a
//! `Retry-After` only up to [`RetryConfig::max_retry_after`] and otherwise returns the
//! throttling error at once, `retry_after` set, for the caller's cache to honour.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use secrets_core::{Error, ErrorKind, Result};

use crate::PROVIDER;

/// How the provider retries a failed call to Key Vault.
///
/// Only errors that may pass are retried: [`ErrorKind::Unavailable`] (5xx, connection
/// failures), [`ErrorKind::RateLimited`] (429) and [`ErrorKind::Timeout`]. The wait before
/// retry `n` (1-based) is `initial_backoff * 2^(n-1)`, at most `max_backoff`, plus up to 25%
/// jitter, and at least the service's `Retry-After`. When the service asks for a longer wait
/// than [`max_retry_after`](Self::max_retry_after) the call fails at once with the
/// `RateLimited` error, whose [`retry_after`](Error::retry_after) says how long to wait.
///
/// ```
/// use std::time::Duration;
/// use secrets_azure::RetryConfig;
///
/// let quick = RetryConfig::default()
///     .with_max_attempts(2)
///     .with_initial_backoff(Duration::from_millis(50));
/// assert_eq!(quick.max_attempts(), 2);
/// assert_eq!(RetryConfig::none().max_attempts(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
}

impl Default for RetryConfig {
    /// 3 attempts, backoff from 200 ms up to 5 s, `Retry-After` waited for up to 30 s.
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryConfig {
    /// No retries: one attempt per call.
    pub fn none() -> Self {
        RetryConfig::default().with_max_attempts(1)
    }

    /// Attempts per call, the first included (at least 1; 0 is refused by
    /// [`build`](crate::AzureProviderBuilder::build)).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The wait before the first retry.
    #[must_use]
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest wait computed by backoff (a `Retry-After` may ask for more).
    #[must_use]
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The longest `Retry-After` the provider waits for before retrying itself; a longer one
    /// fails the call at once with `retry_after` set.
    #[must_use]
    pub fn with_max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// Attempts per call, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait before the first retry.
    pub fn initial_backoff(&self) -> Duration {
        self.initial_backoff
    }

    /// The longest wait computed by backoff.
    pub fn max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// The longest `Retry-After` waited for.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The backoff before retry `retry` (1-based), jitter included.
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(16);
        let base = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let jitter_permille = RandomState::new().build_hasher().finish() % 251;
        let jitter_ms = u64::try_from(base.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(jitter_permille)
            / 1000;
        base + Duration::from_millis(jitter_ms)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::new(ErrorKind::InvalidConfig, PROVIDER)
                .with_message("RetryConfig::max_attempts must be at least 1"));
        }
        Ok(())
    }
}

/// Runs `op` until it succeeds, fails with an error a retry cannot help, or runs out of
/// attempts. Each attempt is limited to `attempt_timeout`.
pub(crate) async fn retrying<T, F, Fut>(
    config: &RetryConfig,
    attempt_timeout: Duration,
    what: &str,
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1u32;
    loop {
        let result = match tokio::time::timeout(attempt_timeout, op()).await {
            Ok(result) => result,
            Err(_) => Err(
                Error::new(ErrorKind::Timeout, PROVIDER).with_message(format!(
                    "Key Vault did not answer within {attempt_timeout:?}"
                )),
            ),
        };
        let err = match result {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if !err.is_retryable() || attempt >= config.max_attempts {
            return Err(gave_up(err, attempt));
        }
        let mut wait = config.backoff(attempt);
        if let Some(after) = err.retry_after() {
            if after > config.max_retry_after {
                tracing::debug!(
                    provider = PROVIDER,
                    what,
                    ?after,
                    "Retry-After is longer than max_retry_after: not retrying"
                );
                return Err(gave_up(err, attempt));
            }
            wait = wait.max(after);
        }
        tracing::debug!(
            provider = PROVIDER,
            what,
            attempt,
            kind = err.kind().as_str(),
            ?wait,
            "retrying after a transient error"
        );
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

fn gave_up(err: Error, attempts: u32) -> Error {
    if attempts <= 1 {
        return err;
    }
    let message = match err.message() {
        Some(m) => format!("{m} (gave up after {attempts} attempts)"),
        None => format!("gave up after {attempts} attempts"),
    };
    err.with_message(message)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = RetryConfig::default()
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_millis(350));
        let b1 = c.backoff(1);
        assert!(b1 >= Duration::from_millis(100) && b1 <= Duration::from_millis(125));
        let b2 = c.backoff(2);
        assert!(b2 >= Duration::from_millis(200) && b2 <= Duration::from_millis(250));
        let b9 = c.backoff(9);
        assert!(b9 >= Duration::from_millis(350) && b9 <= Duration::from_millis(438));
        assert!(c.backoff(u32::MAX) <= Duration::from_millis(438));
        assert!(
            RetryConfig::default()
                .with_max_attempts(0)
                .validate()
                .is_err()
        );
    }

    fn quick() -> RetryConfig {
        RetryConfig::default()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1))
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_a_bounded_number_of_times() {
        let calls = AtomicU32::new(0);
        let result: Result<()> = retrying(&quick(), Duration::from_secs(5), "t", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::new(ErrorKind::Unavailable, PROVIDER).with_message("503"))
        })
        .await;
        let err = result.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(err.message(), Some("503 (gave up after 3 attempts)"));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_permanent_errors() {
        let calls = AtomicU32::new(0);
        let result: Result<()> = retrying(&quick(), Duration::from_secs(5), "t", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::new(ErrorKind::NotFound, PROVIDER))
        })
        .await;
        assert_eq!(result.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_short_retry_after_and_returns_long_ones() {
        let calls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let result = retrying(&quick(), Duration::from_secs(5), "t", || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(Error::new(ErrorKind::RateLimited, PROVIDER)
                    .with_retry_after(Duration::from_secs(2)))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert!(start.elapsed() >= Duration::from_secs(2));

        let calls = AtomicU32::new(0);
        let result: Result<()> = retrying(&quick(), Duration::from_secs(5), "t", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::new(ErrorKind::RateLimited, PROVIDER)
                .with_retry_after(Duration::from_secs(3600)))
        })
        .await;
        let err = result.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    }

    #[tokio::test(start_paused = true)]
    async fn each_attempt_is_limited() {
        let calls = AtomicU32::new(0);
        let result: Result<()> = retrying(
            &quick().with_max_attempts(2),
            Duration::from_millis(100),
            "t",
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            },
        )
        .await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.is_retryable());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
