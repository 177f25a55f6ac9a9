//! A provider for cache tests: versions on demand, call counts, injected errors and latency.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use secrets_core::{
    Capabilities, Error, ErrorKind, Result, Secret, SecretProvider, SecretValue, VersionInfo,
    VersionSelector, async_trait,
};

/// A scripted store. Every `set` adds a version (`"1"`, `"2"`, ...) and makes it current.
/// Calls are counted; errors and latency can be injected; the version probe and batch get
/// can be switched off to exercise the cache's fallbacks. Latency uses `tokio::time::sleep`,
/// so a paused test clock controls it. `Debug` shows counts, never the stored values.
pub struct ScriptedProvider {
    state: Mutex<State>,
    caps: Capabilities,
    gets: AtomicU64,
    probes: AtomicU64,
    batches: AtomicU64,
}

#[derive(Default)]
struct State {
    secrets: HashMap<String, (u64, String)>,
    faults: VecDeque<ErrorKind>,
    sticky: Option<ErrorKind>,
    latency: Duration,
}

/// What a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Get,
    Probe,
    Batch,
}

impl std::fmt::Debug for ScriptedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedProvider")
            .field("secrets", &self.state().secrets.len())
            .field("gets", &self.gets())
            .field("probes", &self.probes())
            .field("batches", &self.batches())
            .finish_non_exhaustive()
    }
}

impl Default for ScriptedProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedProvider {
    /// A store with a version probe and a batch get.
    pub fn new() -> Self {
        Self::with_capabilities(Capabilities::NONE.with_version_probe().with_batch_get())
    }

    /// A store declaring `caps`.
    pub fn with_capabilities(caps: Capabilities) -> Self {
        ScriptedProvider {
            state: Mutex::new(State::default()),
            caps,
            gets: AtomicU64::new(0),
            probes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets a new current version of `name`; returns its id.
    pub fn set(&self, name: &str, value: &str) -> String {
        let mut s = self.state();
        let entry = s
            .secrets
            .entry(name.to_string())
            .or_insert((0, String::new()));
        entry.0 += 1;
        entry.1 = value.to_string();
        entry.0.to_string()
    }

    /// Removes `name`.
    pub fn remove(&self, name: &str) {
        self.state().secrets.remove(name);
    }

    /// The next `n` calls (get, probe or batch) fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: ErrorKind) {
        let mut s = self.state();
        for _ in 0..n {
            s.faults.push_back(kind);
        }
    }

    /// Every call fails with `kind` until [`heal`](Self::heal).
    pub fn fail_always(&self, kind: ErrorKind) {
        self.state().sticky = Some(kind);
    }

    /// Stops every injected failure.
    pub fn heal(&self) {
        let mut s = self.state();
        s.sticky = None;
        s.faults.clear();
    }

    /// Every call takes `latency` before answering.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
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

    async fn enter(&self, call: Call) -> Result<()> {
        match call {
            Call::Get => self.gets.fetch_add(1, Ordering::SeqCst),
            Call::Probe => self.probes.fetch_add(1, Ordering::SeqCst),
            Call::Batch => self.batches.fetch_add(1, Ordering::SeqCst),
        };
        let latency = self.state().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut s = self.state();
        let fault = s.faults.pop_front().or(s.sticky);
        match fault {
            Some(kind) => Err(Error::new(kind, "scripted").with_message("injected failure")),
            None => Ok(()),
        }
    }

    fn read(&self, name: &str) -> Result<Secret> {
        let s = self.state();
        let (version, value) = s
            .secrets
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "scripted").with_secret(name))?;
        Ok(Secret::new(name, SecretValue::text(value.clone()))
            .with_version(VersionInfo::new(version.to_string())))
    }
}

#[async_trait]
impl SecretProvider for ScriptedProvider {
    fn provider_name(&self) -> &'static str {
        "scripted"
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        self.enter(Call::Get)
            .await
            .map_err(|e| e.with_secret(name))?;
        let secret = self.read(name)?;
        match version {
            VersionSelector::Latest => Ok(secret),
            VersionSelector::Id(id) if Some(id.as_str()) == secret.version_id() => Ok(secret),
            _ => Err(Error::new(ErrorKind::NotFound, "scripted").with_secret(name)),
        }
    }

    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        if !self.caps.version_probe {
            return Err(Error::new(ErrorKind::Unsupported, "scripted"));
        }
        self.enter(Call::Probe)
            .await
            .map_err(|e| e.with_secret(name))?;
        self.read(name).map(|s| s.version().clone())
    }

    async fn get_many(&self, names: &[&str]) -> Vec<Result<Secret>> {
        if !self.caps.batch_get {
            let mut out = Vec::new();
            for n in names {
                out.push(self.get(n, &VersionSelector::Latest).await);
            }
            return out;
        }
        if let Err(e) = self.enter(Call::Batch).await {
            return names
                .iter()
                .map(|n| Err(e.clone().with_secret(*n)))
                .collect();
        }
        names.iter().map(|n| self.read(n)).collect()
    }
}
