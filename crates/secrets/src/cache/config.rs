//! Cache settings, from code or from the environment.

use std::time::Duration;

use secrets_core::{Error, ErrorKind, Result};

/// `SECRETS_CACHE`: `off` turns the cache off (default on).
pub const ENV_CACHE: &str = "SECRETS_CACHE";
/// `SECRETS_CACHE_TTL`: how long a value is fresh, such as `5m` (default 5 minutes).
pub const ENV_CACHE_TTL: &str = "SECRETS_CACHE_TTL";
/// `SECRETS_CACHE_MAX_STALE`: how long past its expiry a value may be served while the store
/// fails with retryable errors, such as `15m` (default 15 minutes).
pub const ENV_CACHE_MAX_STALE: &str = "SECRETS_CACHE_MAX_STALE";
/// `SECRETS_CACHE_REFRESH_AHEAD`: how long before expiry the background refresh starts
/// (default a fifth of the TTL).
pub const ENV_CACHE_REFRESH_AHEAD: &str = "SECRETS_CACHE_REFRESH_AHEAD";
/// `SECRETS_CACHE_JITTER`: the TTL's random spread as a fraction, `0` to `0.5` (default 0.1).
pub const ENV_CACHE_JITTER: &str = "SECRETS_CACHE_JITTER";
/// `SECRETS_CACHE_MAX_ENTRIES`: the bound on cached secrets (default 1024).
pub const ENV_CACHE_MAX_ENTRIES: &str = "SECRETS_CACHE_MAX_ENTRIES";

/// How the cache keeps values fresh.
///
/// A value read at `t` is fresh until `t + ttl` (spread by `jitter`). From
/// `expiry - refresh_ahead` one background task refreshes it while callers keep getting the
/// current value; the refresh first asks the provider's version probe and refetches only when
/// the version changed. When the store fails with a retryable error the value is served
/// until `expiry + max_stale`, then callers get the error. Failures are retried, and failed
/// or missing secrets are answered from a negative cache, with jittered exponential backoff
/// from `retry_min` to `retry_max`.
///
/// ```
/// use std::time::Duration;
/// use secrets::CacheConfig;
/// let config = CacheConfig::default()
///     .with_ttl(Duration::from_secs(60))
///     .with_max_stale(Duration::from_secs(600));
/// assert_eq!(config.refresh_ahead(), Duration::from_secs(12));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    pub(crate) ttl: Duration,
    pub(crate) max_stale: Duration,
    pub(crate) refresh_ahead: Option<Duration>,
    pub(crate) jitter: f64,
    pub(crate) max_entries: usize,
    pub(crate) retry_min: Duration,
    pub(crate) retry_max: Duration,
    pub(crate) idle_cycles: u32,
    pub(crate) seed: Option<u64>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            ttl: Duration::from_secs(300),
            max_stale: Duration::from_secs(900),
            refresh_ahead: None,
            jitter: 0.1,
            max_entries: 1024,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            idle_cycles: 2,
            seed: None,
        }
    }
}

impl CacheConfig {
    /// How long a value is fresh.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long past expiry a value may be served while the store fails.
    #[must_use]
    pub fn with_max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// How long before expiry the background refresh starts.
    #[must_use]
    pub fn with_refresh_ahead(mut self, window: Duration) -> Self {
        self.refresh_ahead = Some(window);
        self
    }

    /// The TTL's random spread, as a fraction (0 turns jitter off).
    #[must_use]
    pub fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// The bound on cached secrets.
    #[must_use]
    pub fn with_max_entries(mut self, max: usize) -> Self {
        self.max_entries = max;
        self
    }

    /// The first and the longest pause between retries of a failing secret.
    #[must_use]
    pub fn with_retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min;
        self.retry_max = max;
        self
    }

    /// How many refresh cycles an unused secret is still refreshed before it is left to
    /// expire (default 2). Secrets with watchers are always refreshed.
    #[must_use]
    pub fn with_idle_cycles(mut self, cycles: u32) -> Self {
        self.idle_cycles = cycles;
        self
    }

    /// Seeds the jitter's random numbers (tests).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The longest a value is served past expiry while the store fails.
    pub fn max_stale(&self) -> Duration {
        self.max_stale
    }

    /// The refresh-ahead window (a fifth of the TTL unless set).
    pub fn refresh_ahead(&self) -> Duration {
        self.refresh_ahead.unwrap_or(self.ttl / 5).min(self.ttl)
    }

    /// The jitter fraction.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The bound on cached secrets.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Reads the `SECRETS_CACHE_*` variables over the defaults. Returns `None` when
    /// `SECRETS_CACHE=off`.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = get(ENV_CACHE) {
            match v.trim().to_ascii_lowercase().as_str() {
                "off" | "0" | "false" | "no" => return Ok(None),
                "on" | "1" | "true" | "yes" => {}
                _ => return Err(bad(ENV_CACHE, "must be on or off")),
            }
        }
        let mut c = CacheConfig::default();
        if let Some(v) = get(ENV_CACHE_TTL) {
            c.ttl = duration(ENV_CACHE_TTL, &v)?;
        }
        if let Some(v) = get(ENV_CACHE_MAX_STALE) {
            c.max_stale = duration(ENV_CACHE_MAX_STALE, &v)?;
        }
        if let Some(v) = get(ENV_CACHE_REFRESH_AHEAD) {
            c.refresh_ahead = Some(duration(ENV_CACHE_REFRESH_AHEAD, &v)?);
        }
        if let Some(v) = get(ENV_CACHE_JITTER) {
            c.jitter = v
                .trim()
                .parse()
                .map_err(|_| bad(ENV_CACHE_JITTER, "must be a fraction such as 0.1"))?;
        }
        if let Some(v) = get(ENV_CACHE_MAX_ENTRIES) {
            c.max_entries = v
                .trim()
                .parse()
                .map_err(|_| bad(ENV_CACHE_MAX_ENTRIES, "must be a whole number"))?;
        }
        c.validate()?;
        Ok(Some(c))
    }

    /// Checks the settings' ranges.
    pub fn validate(&self) -> Result<()> {
        if self.ttl.is_zero() {
            return Err(bad("ttl", "must be more than zero"));
        }
        if !(0.0..=0.5).contains(&self.jitter) {
            return Err(bad("jitter", "must be between 0 and 0.5"));
        }
        if self.max_entries == 0 {
            return Err(bad("max_entries", "must be at least 1"));
        }
        if self.retry_min.is_zero() || self.retry_min > self.retry_max {
            return Err(bad("retry backoff", "needs 0 < min <= max"));
        }
        Ok(())
    }
}

fn bad(what: &str, problem: &str) -> Error {
    Error::new(ErrorKind::InvalidConfig, "cache").with_message(format!("{what} {problem}"))
}

/// Parses `300`, `300s`, `5m`, `1h 30m`, `250ms` (a bare number is seconds).
fn duration(var: &str, v: &str) -> Result<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(v).map_err(|_| bad(var, "must be a duration such as 300s, 5m or 1h"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Option<CacheConfig>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CacheConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn env_values() {
        let c = from(&[
            (ENV_CACHE_TTL, "90s"),
            (ENV_CACHE_MAX_STALE, "1h"),
            (ENV_CACHE_REFRESH_AHEAD, "10"),
            (ENV_CACHE_JITTER, "0.2"),
            (ENV_CACHE_MAX_ENTRIES, "7"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.ttl(), Duration::from_secs(90));
        assert_eq!(c.max_stale(), Duration::from_secs(3600));
        assert_eq!(c.refresh_ahead(), Duration::from_secs(10));
        assert_eq!(c.jitter(), 0.2);
        assert_eq!(c.max_entries(), 7);
        assert!(from(&[(ENV_CACHE, "off")]).unwrap().is_none());
        assert_eq!(from(&[]).unwrap().unwrap(), CacheConfig::default());
    }

    #[test]
    fn bad_env_values_are_errors() {
        for pairs in [
            [(ENV_CACHE_TTL, "soon")],
            [(ENV_CACHE_TTL, "0")],
            [(ENV_CACHE_JITTER, "0.9")],
            [(ENV_CACHE_MAX_ENTRIES, "-1")],
            [(ENV_CACHE, "maybe")],
        ] {
            let err = from(&pairs).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{pairs:?}");
        }
    }
}
