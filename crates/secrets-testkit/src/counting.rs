//! A wrapper that counts the calls reaching a real provider.

use std::sync::atomic::{AtomicU64, Ordering};

use secrets_core::{
    Capabilities, Result, Secret, SecretProvider, VersionInfo, VersionSelector, async_trait,
};

/// Counts `get`, `current_version` and `get_many` calls on the way to `P`.
#[derive(Debug)]
pub struct Counting<P> {
    inner: P,
    gets: AtomicU64,
    probes: AtomicU64,
    batches: AtomicU64,
}

impl<P> Counting<P> {
    /// Wraps `inner`.
    pub fn new(inner: P) -> Self {
        Counting {
            inner,
            gets: AtomicU64::new(0),
            probes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// `get` calls so far.
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::SeqCst)
    }

    /// `current_version` calls so far.
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::SeqCst)
    }

    /// `get_many` calls so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl<P: SecretProvider> SecretProvider for Counting<P> {
    fn provider_name(&self) -> &'static str {
        self.inner.provider_name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(name, version).await
    }

    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        self.probes.fetch_add(1, Ordering::SeqCst);
        self.inner.current_version(name).await
    }

    async fn get_many(&self, names: &[&str]) -> Vec<Result<Secret>> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.inner.get_many(names).await
    }
}
