//! The cache layer: single-flight, TTL with jitter, refresh-ahead, revalidation by version
//! probe, stale-if-error, negative caching, invalidation, a bound on entries, and rotation
//! watches. It knows nothing of the store under it.
//!
//! The hit path reads one immutable snapshot of the servable values (name -> value), published
//! through an `ArcSwap` and cached per thread with `arc_swap::Cache`, so a hit costs one
//! atomic load to check the snapshot is current, one hash lookup and the `Arc` clone of the
//! value: no lock, no clock, no read-modify-write besides that clone. Every change of an
//! entry's value or state publishes a new snapshot (copy-on-write; changes are rare: about
//! one per secret per TTL). Time is kept by one background task per entry in use, which
//! refreshes the value ahead of expiry and moves the entry's state (fresh, stale, expired) at
//! the right instants; so after warm-up no caller waits on the store.

mod config;
mod stats;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use secrets_core::{
    Capabilities, DynProvider, Error, ErrorKind, Result, Secret, SecretProvider, VersionInfo,
    VersionSelector, async_trait,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

pub use config::{
    CacheConfig, ENV_CACHE, ENV_CACHE_JITTER, ENV_CACHE_MAX_ENTRIES, ENV_CACHE_MAX_STALE,
    ENV_CACHE_REFRESH_AHEAD, ENV_CACHE_TTL,
};
pub use stats::CacheStats;
use stats::Counters;

type Hasher = foldhash::fast::RandomState;
type Key = (String, VersionSelector);

/// What the hit path reads: for each latest-version entry, its value when it may be served.
type Snapshot = HashMap<Arc<str>, Slot, Hasher>;

#[derive(Clone)]
struct Slot {
    entry: Arc<Entry>,
    /// The value, when the entry is fresh or stale-but-servable.
    value: Option<Arc<Secret>>,
    stale: bool,
}

/// Gives every cache an id, so each thread can keep its own handle on each cache's snapshot.
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(0);

type LocalSnapshot = arc_swap::cache::Cache<Arc<ArcSwap<Snapshot>>, Arc<Snapshot>>;

thread_local! {
    /// Per thread: (cache id, a cached handle on that cache's snapshot).
    static LOCAL: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

struct Local {
    id: u64,
    /// Fails to upgrade once the cache is gone, so the handle can be dropped.
    alive: std::sync::Weak<()>,
    snapshot: LocalSnapshot,
    /// The snapshot the replicas were taken from.
    seen: *const Snapshot,
    /// This thread's own copies of the values it reads, so that two threads reading one
    /// secret do not contend on one reference count. Dropped (and wiped) when the snapshot
    /// changes.
    replicas: HashMap<Arc<str>, Replica, Hasher>,
}

struct Replica {
    value: Arc<Secret>,
    entry: Arc<Entry>,
    stale: bool,
}

/// Entry states. Only `FRESH` and `STALE` are served by the hit path.
const EMPTY: u8 = 0;
const FRESH: u8 = 1;
const STALE: u8 = 2;
const EXPIRED: u8 = 3;

/// A caching layer over any provider.
///
/// Cheap to clone; clones share one cache. It is itself a [`SecretProvider`], so it can sit
/// under anything that takes one. [`get`](SecretCache::get) returns an `Arc<Secret>`: each
/// thread keeps its own copy of the values it reads (made once per version), so threads
/// reading one secret never contend on one reference count.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use secrets::{CacheConfig, MemoryProvider, SecretCache};
/// let memory = MemoryProvider::new();
/// memory.put("api-key", "k-1");
/// let cache = SecretCache::new(memory, CacheConfig::default());
/// let a = cache.get("api-key").await.unwrap();
/// let b = cache.get("api-key").await.unwrap();
/// assert!(a.value().ct_eq(b.value()));
/// assert_eq!(cache.stats().hits, 1);
/// # })
/// ```
#[derive(Clone)]
pub struct SecretCache {
    shared: Arc<Shared>,
}

struct Shared {
    provider: DynProvider,
    config: CacheConfig,
    capabilities: Capabilities,
    id: u64,
    alive: Arc<()>,
    latest: Arc<ArcSwap<Snapshot>>,
    pinned: ArcSwap<HashMap<Key, Arc<Entry>, Hasher>>,
    /// Serializes changes to the two maps (never taken on the hit path).
    write: Mutex<()>,
    rng: Mutex<fastrand::Rng>,
    seq: AtomicU64,
    counters: Counters,
}

struct Cached {
    secret: Arc<Secret>,
    expires_at: Instant,
}

struct Negative {
    error: Error,
    retry_at: Instant,
    attempts: u32,
}

struct Entry {
    name: String,
    key: Arc<str>,
    selector: VersionSelector,
    seq: u64,
    state: AtomicU8,
    value: ArcSwapOption<Cached>,
    touched: AtomicBool,
    refresher: AtomicBool,
    evicted: AtomicBool,
    /// Single flight: one fetch or refresh of this entry at a time.
    flight: tokio::sync::Mutex<()>,
    negative: Mutex<Option<Negative>>,
    tx: watch::Sender<Option<Arc<Secret>>>,
}

impl Entry {
    fn new(name: &str, selector: VersionSelector, seq: u64) -> Self {
        Entry {
            name: name.to_string(),
            key: Arc::from(name),
            selector,
            seq,
            state: AtomicU8::new(EMPTY),
            value: ArcSwapOption::empty(),
            touched: AtomicBool::new(true),
            refresher: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            flight: tokio::sync::Mutex::new(()),
            negative: Mutex::new(None),
            tx: watch::Sender::new(None),
        }
    }

    /// Marks the entry used since its last refresh (a plain load when it already is).
    #[inline]
    fn touch(&self) {
        if !self.touched.load(Ordering::Relaxed) {
            self.touched.store(true, Ordering::Relaxed);
        }
    }

    fn servable(&self) -> Option<Arc<Secret>> {
        match self.state.load(Ordering::Acquire) {
            FRESH | STALE => self.value.load().as_ref().map(|c| c.secret.clone()),
            _ => None,
        }
    }

    fn negative_error(&self, now: Instant) -> Option<Error> {
        let neg = self.negative.lock().unwrap_or_else(PoisonError::into_inner);
        neg.as_ref()
            .filter(|n| n.retry_at > now)
            .map(|n| n.error.clone())
    }

    fn watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }
}

impl fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCache")
            .field("provider", &self.shared.provider)
            .field("config", &self.shared.config)
            .field("entries", &self.len())
            .finish()
    }
}

impl SecretCache {
    /// A cache over `provider`.
    pub fn new(provider: impl SecretProvider + 'static, config: CacheConfig) -> Self {
        Self::from_dyn(Arc::new(provider), config)
    }

    /// A cache over a shared provider.
    pub fn from_dyn(provider: DynProvider, config: CacheConfig) -> Self {
        let rng = match config.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        let capabilities = provider.capabilities();
        let counters = Counters::new(provider.provider_name());
        SecretCache {
            shared: Arc::new(Shared {
                provider,
                config,
                capabilities,
                id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
                alive: Arc::new(()),
                latest: Arc::new(ArcSwap::from_pointee(HashMap::default())),
                pinned: ArcSwap::from_pointee(HashMap::default()),
                write: Mutex::new(()),
                rng: Mutex::new(rng),
                seq: AtomicU64::new(0),
                counters,
            }),
        }
    }

    /// The provider under the cache.
    pub fn provider(&self) -> &DynProvider {
        &self.shared.provider
    }

    /// The settings.
    pub fn config(&self) -> &CacheConfig {
        &self.shared.config
    }

    /// The number of cached secrets.
    pub fn len(&self) -> usize {
        self.shared.latest.load().len() + self.shared.pinned.load().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters so far. They are also exported through the `metrics` facade as
    /// `secrets_cache_*_total` counters labelled `provider`; the handles are taken when the
    /// cache is built, so install the `metrics` recorder before that.
    pub fn stats(&self) -> CacheStats {
        self.shared.counters.snapshot()
    }

    /// The latest version of `name`: from the cache when fresh (or stale within
    /// `max_stale` while the store fails), else from the store, with one upstream call
    /// however many callers ask at once.
    pub async fn get(&self, name: &str) -> Result<Arc<Secret>> {
        if let Some(hit) = self.try_hit(name) {
            return Ok(hit);
        }
        self.get_slow(name, VersionSelector::Latest).await
    }

    /// The cached value of `name` if it can be served now, without waiting. This is the hit
    /// path of [`get`](Self::get).
    #[inline]
    pub fn try_hit(&self, name: &str) -> Option<Arc<Secret>> {
        let id = self.shared.id;
        let hit = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            let pos = match local.iter().position(|l| l.id == id) {
                Some(pos) => pos,
                None => self.add_local(&mut local),
            };
            let local = &mut local[pos];
            let snapshot = arc_swap::cache::Access::load(&mut local.snapshot);
            let current: *const Snapshot = snapshot;
            if !std::ptr::eq(current, local.seen) {
                local.seen = current;
                local.replicas.clear();
            }
            let replica = match local.replicas.get(name) {
                Some(replica) => replica,
                None => {
                    let slot = snapshot.get(name)?;
                    let shared = slot.value.as_ref()?;
                    let replica = Replica {
                        value: Arc::new(Secret::clone(shared)),
                        entry: slot.entry.clone(),
                        stale: slot.stale,
                    };
                    local
                        .replicas
                        .entry(slot.entry.key.clone())
                        .or_insert(replica)
                }
            };
            Some((replica.value.clone(), replica.stale, replica.entry.touch()))
        });
        let (value, stale, ()) = match hit {
            Ok(hit) => hit?,
            // During thread teardown: read the shared snapshot directly.
            Err(_) => {
                let snapshot = self.shared.latest.load();
                let slot = snapshot.get(name)?;
                (slot.value.clone()?, slot.stale, slot.entry.touch())
            }
        };
        if stale {
            self.shared.counters.stale_served();
        }
        self.shared.counters.hit();
        Some(value)
    }

    #[cold]
    fn add_local(&self, local: &mut Vec<Local>) -> usize {
        // Forget handles on caches that no longer exist, then add this one.
        local.retain(|l| l.alive.strong_count() > 0);
        local.push(Local {
            id: self.shared.id,
            alive: Arc::downgrade(&self.shared.alive),
            snapshot: arc_swap::cache::Cache::new(self.shared.latest.clone()),
            seen: std::ptr::null(),
            replicas: HashMap::default(),
        });
        local.len() - 1
    }

    /// One version of `name`, cached under the same policy as the latest.
    pub async fn get_version(&self, name: &str, selector: &VersionSelector) -> Result<Arc<Secret>> {
        if *selector == VersionSelector::Latest {
            return self.get(name).await;
        }
        let key = (name.to_string(), selector.clone());
        if let Some(entry) = self.shared.pinned.load().get(&key)
            && let Some(hit) = entry.servable()
        {
            self.shared.counters.hit();
            return Ok(hit);
        }
        self.get_slow(name, selector.clone()).await
    }

    /// Reads several secrets, fetching the ones not cached in one batch call to the store
    /// (one `BatchGetSecretValue` for up to 20 names on AWS). The answer is in the order of
    /// `names`.
    pub async fn get_many(&self, names: &[&str]) -> Vec<Result<Arc<Secret>>> {
        let mut out: Vec<Option<Result<Arc<Secret>>>> =
            names.iter().map(|n| self.try_hit(n).map(Ok)).collect();
        let missing: Vec<usize> = (0..names.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let asked: Vec<&str> = missing.iter().map(|&i| names[i]).collect();
            let span = tracing::debug_span!(
                "secrets.fetch_many",
                provider = self.shared.provider.provider_name(),
                count = asked.len()
            );
            let results = self.shared.provider.get_many(&asked).instrument(span).await;
            self.shared.counters.misses(asked.len() as u64);
            for (&i, result) in missing.iter().zip(results) {
                let entry = match self.entry(names[i], &VersionSelector::Latest) {
                    Ok(e) => e,
                    Err(e) => {
                        out[i] = Some(Err(e));
                        continue;
                    }
                };
                out[i] = Some(match result {
                    Ok(secret) => Ok(self.install(&entry, secret)),
                    Err(err) => {
                        self.remember_failure(&entry, &err);
                        Err(err)
                    }
                });
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::new(ErrorKind::Other, "cache"))))
            .collect()
    }

    /// Forgets the cached values of `name` (every version): the next read goes to the store.
    /// Watchers stay subscribed and see the next value read.
    pub fn invalidate(&self, name: &str) {
        for entry in self.entries_named(name) {
            self.set_state(&entry, EXPIRED);
            entry.value.store(None);
            *entry
                .negative
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }
        self.shared.counters.invalidation();
    }

    /// Reads `name` from the store now (through the single flight), updates the cache and
    /// tells watchers when the version changed.
    pub async fn refresh_now(&self, name: &str) -> Result<Arc<Secret>> {
        let entry = self.entry(name, &VersionSelector::Latest)?;
        let _flight = entry.flight.lock().await;
        let secret = self.fetch(&entry).await;
        match secret {
            Ok(secret) => Ok(self.install(&entry, secret)),
            Err(err) => {
                self.remember_failure(&entry, &err);
                Err(err)
            }
        }
    }

    /// Subscribes to the versions of `name`. The receiver holds the current value at once and
    /// changes when a refresh finds a new version (or a new value, for stores without
    /// versions). While anyone watches, the secret is refreshed every TTL even when unused.
    pub async fn watch(&self, name: &str) -> Result<watch::Receiver<Option<Arc<Secret>>>> {
        self.get(name).await?;
        let entry = self.entry(name, &VersionSelector::Latest)?;
        let rx = entry.tx.subscribe();
        self.ensure_refresher(&entry);
        Ok(rx)
    }

    fn entries_named(&self, name: &str) -> Vec<Arc<Entry>> {
        let mut out: Vec<Arc<Entry>> = self
            .shared
            .latest
            .load()
            .get(name)
            .map(|slot| slot.entry.clone())
            .into_iter()
            .collect();
        out.extend(
            self.shared
                .pinned
                .load()
                .iter()
                .filter(|((n, _), _)| n == name)
                .map(|(_, e)| e.clone()),
        );
        out
    }

    /// The entry for a key, created (and the bound kept) when missing.
    fn entry(&self, name: &str, selector: &VersionSelector) -> Result<Arc<Entry>> {
        if let Some(e) = self.lookup(name, selector) {
            return Ok(e);
        }
        secrets_core::check_name(self.shared.provider.provider_name(), name)?;
        let _write = self
            .shared
            .write
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = self.lookup(name, selector) {
            return Ok(e);
        }
        if self.len() >= self.shared.config.max_entries {
            self.evict_one();
        }
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry::new(name, selector.clone(), seq));
        if *selector == VersionSelector::Latest {
            let mut map = HashMap::clone(&self.shared.latest.load());
            let slot = Slot {
                entry: entry.clone(),
                value: None,
                stale: false,
            };
            map.insert(entry.key.clone(), slot);
            self.shared.latest.store(Arc::new(map));
        } else {
            let mut map = HashMap::clone(&self.shared.pinned.load());
            map.insert((name.to_string(), selector.clone()), entry.clone());
            self.shared.pinned.store(Arc::new(map));
        }
        Ok(entry)
    }

    fn lookup(&self, name: &str, selector: &VersionSelector) -> Option<Arc<Entry>> {
        if *selector == VersionSelector::Latest {
            self.shared
                .latest
                .load()
                .get(name)
                .map(|slot| slot.entry.clone())
        } else {
            self.shared
                .pinned
                .load()
                .get(&(name.to_string(), selector.clone()))
                .cloned()
        }
    }

    /// Evicts one entry: the oldest that is neither used since its last refresh nor watched,
    /// else the oldest unwatched, else the oldest. Called with the write lock held.
    fn evict_one(&self) {
        let latest = self.shared.latest.load();
        let pinned = self.shared.pinned.load();
        let all = latest
            .values()
            .map(|slot| &slot.entry)
            .chain(pinned.values());
        let pick = |filter: &dyn Fn(&Entry) -> bool| {
            all.clone()
                .filter(|e| filter(e))
                .min_by_key(|e| e.seq)
                .cloned()
        };
        let victim = pick(&|e| !e.touched.load(Ordering::Relaxed) && !e.watched())
            .or_else(|| pick(&|e| !e.watched()))
            .or_else(|| pick(&|_| true));
        let Some(victim) = victim else { return };
        victim.evicted.store(true, Ordering::Release);
        if victim.selector == VersionSelector::Latest {
            let mut map = HashMap::clone(&latest);
            map.remove(victim.name.as_str());
            self.shared.latest.store(Arc::new(map));
        } else {
            let mut map = HashMap::clone(&pinned);
            map.remove(&(victim.name.clone(), victim.selector.clone()));
            self.shared.pinned.store(Arc::new(map));
        }
        self.shared.counters.eviction();
        tracing::debug!(secret = %victim.name, "cache entry evicted");
    }

    async fn get_slow(&self, name: &str, selector: VersionSelector) -> Result<Arc<Secret>> {
        let entry = self.entry(name, &selector)?;
        if let Some(answer) = self.answer_without_fetch(&entry) {
            return answer;
        }
        let _flight = entry.flight.lock().await;
        // Another caller may have filled the entry (or failed) while this one waited.
        if let Some(answer) = self.answer_without_fetch(&entry) {
            return answer;
        }
        self.shared.counters.misses(1);
        match self.fetch(&entry).await {
            Ok(secret) => Ok(self.install(&entry, secret)),
            Err(err) => {
                // An expired value may still serve while the store fails, up to max_stale.
                let mut err = err;
                if err.is_retryable()
                    && let Some(c) = entry.value.load_full()
                {
                    if Instant::now() < c.expires_at + self.shared.config.max_stale {
                        self.set_state(&entry, STALE);
                        self.ensure_refresher(&entry);
                        self.shared.counters.stale_served();
                        return Ok(c.secret.clone());
                    }
                    err = past_max_stale(err, self.shared.config.max_stale);
                }
                self.remember_failure(&entry, &err);
                Err(err)
            }
        }
    }

    /// The answer the entry gives without calling the store: its value when servable, or a
    /// remembered failure while its backoff lasts.
    fn answer_without_fetch(&self, entry: &Entry) -> Option<Result<Arc<Secret>>> {
        if let Some(hit) = entry.servable() {
            self.shared.counters.hit();
            return Some(Ok(hit));
        }
        let err = entry.negative_error(Instant::now())?;
        self.shared.counters.negative_hit();
        Some(Err(err))
    }

    async fn fetch(&self, entry: &Entry) -> Result<Secret> {
        let span = tracing::debug_span!(
            "secrets.fetch",
            provider = self.shared.provider.provider_name(),
            secret = %entry.name,
            version = %entry.selector,
        );
        let result = self
            .shared
            .provider
            .get(&entry.name, &entry.selector)
            .instrument(span)
            .await;
        if let Err(err) = &result {
            tracing::debug!(secret = %entry.name, kind = err.kind().as_str(), "fetch failed");
        }
        result
    }

    /// Stores a fresh value, schedules its refresh, clears the negative cache and tells
    /// watchers when the version changed.
    fn install(&self, entry: &Arc<Entry>, secret: Secret) -> Arc<Secret> {
        let secret = Arc::new(secret);
        let previous = entry.value.load_full();
        let changed = match &previous {
            None => true,
            Some(p) => !same_version(&p.secret, &secret),
        };
        self.store_fresh(entry, secret.clone());
        if changed {
            entry.tx.send_replace(Some(secret.clone()));
        }
        self.ensure_refresher(entry);
        secret
    }

    fn store_fresh(&self, entry: &Entry, secret: Arc<Secret>) {
        let expires_at = Instant::now() + self.jittered_ttl();
        entry
            .value
            .store(Some(Arc::new(Cached { secret, expires_at })));
        *entry
            .negative
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.set_state(entry, FRESH);
    }

    /// Moves an entry to `state` and publishes the change to the hit path.
    fn set_state(&self, entry: &Entry, state: u8) {
        entry.state.store(state, Ordering::Release);
        self.publish(entry);
    }

    /// Republishes the hit path's view of one latest-version entry: its value when fresh or
    /// stale, nothing otherwise. Copy-on-write under the write lock, which also orders
    /// concurrent publishes so the last one reflects the entry's latest state.
    fn publish(&self, entry: &Entry) {
        if entry.selector != VersionSelector::Latest {
            return;
        }
        let _write = self
            .shared
            .write
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let snapshot = self.shared.latest.load();
        let Some(slot) = snapshot.get(entry.name.as_str()) else {
            return; // evicted
        };
        if !std::ptr::eq(Arc::as_ptr(&slot.entry), entry) {
            return; // replaced by a newer entry for the same name
        }
        let state = entry.state.load(Ordering::Acquire);
        let value = match state {
            FRESH | STALE => entry.value.load().as_ref().map(|c| c.secret.clone()),
            _ => None,
        };
        let unchanged = slot.stale == (state == STALE)
            && match (&slot.value, &value) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
        if unchanged {
            return;
        }
        let slot = Slot {
            entry: slot.entry.clone(),
            value,
            stale: state == STALE,
        };
        let mut map = HashMap::clone(&snapshot);
        map.insert(entry.key.clone(), slot);
        self.shared.latest.store(Arc::new(map));
    }

    fn remember_failure(&self, entry: &Entry, err: &Error) {
        let mut neg = entry
            .negative
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let attempts = neg.as_ref().map_or(0, |n| n.attempts) + 1;
        let mut pause = self.backoff(attempts);
        if let Some(after) = err.retry_after() {
            pause = pause.max(after);
        }
        *neg = Some(Negative {
            error: err.clone(),
            retry_at: Instant::now() + pause,
            attempts,
        });
        if entry.state.load(Ordering::Acquire) != FRESH {
            self.set_state(entry, EXPIRED);
        }
    }

    fn jittered_ttl(&self) -> Duration {
        let ttl = self.shared.config.ttl;
        let jitter = self.shared.config.jitter;
        if jitter == 0.0 {
            return ttl;
        }
        let r = self
            .shared
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .f64();
        ttl.mul_f64(1.0 + jitter * (2.0 * r - 1.0))
    }

    /// Exponential backoff with equal jitter: half the step fixed, half random.
    fn backoff(&self, attempts: u32) -> Duration {
        let c = &self.shared.config;
        let step = c
            .retry_min
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
            .min(c.retry_max);
        let r = self
            .shared
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .f64();
        step / 2 + (step / 2).mul_f64(r)
    }

    fn ensure_refresher(&self, entry: &Arc<Entry>) {
        if entry.refresher.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = self.clone();
        let entry = entry.clone();
        let span = tracing::debug_span!("secrets.refresher", secret = %entry.name);
        tokio::spawn(async move { cache.refresher(entry).await }.instrument(span));
    }

    /// The background life of one entry: refresh ahead of expiry while the entry is used or
    /// watched; retry failures with backoff, serving the value stale up to `max_stale` when
    /// the failure is retryable; leave an idle entry to expire.
    async fn refresher(self, entry: Arc<Entry>) {
        let config = self.shared.config.clone();
        let mut idle = 0u32;
        loop {
            let Some(current) = entry.value.load_full() else {
                break;
            };
            let ahead = config.refresh_ahead();
            tokio::time::sleep_until(
                current
                    .expires_at
                    .checked_sub(ahead)
                    .unwrap_or(current.expires_at),
            )
            .await;
            if entry.evicted.load(Ordering::Acquire) {
                break;
            }
            if !still_current(&entry, &current) {
                continue; // refreshed or invalidated meanwhile
            }
            let used = entry.touched.swap(false, Ordering::Relaxed) || entry.watched();
            idle = if used { 0 } else { idle + 1 };
            if idle > config.idle_cycles {
                // Nobody used it lately: let it expire; the next read fetches it again.
                tokio::time::sleep_until(current.expires_at).await;
                if still_current(&entry, &current) {
                    self.set_state(&entry, EXPIRED);
                }
                break;
            }
            if !self.refresh_until_done(&entry, &current).await {
                break;
            }
        }
        entry.refresher.store(false, Ordering::Release);
        // A read may have installed a value after the loop decided to stop.
        if entry.state.load(Ordering::Acquire) == FRESH && !entry.evicted.load(Ordering::Acquire) {
            self.ensure_refresher(&entry);
        }
        self.shared.counters.flush_hits();
    }

    /// Refreshes `current` until a refresh succeeds (true) or the value must no longer be
    /// served (false).
    async fn refresh_until_done(&self, entry: &Arc<Entry>, current: &Arc<Cached>) -> bool {
        let config = &self.shared.config;
        let mut attempts = 0u32;
        loop {
            let result = {
                let _flight = entry.flight.lock().await;
                if !still_current(entry, current) {
                    return entry.value.load().is_some();
                }
                self.refresh_once(entry, current).await
            };
            let err = match result {
                Ok(()) => return true,
                Err(err) => err,
            };
            self.shared.counters.refresh_failure();
            tracing::warn!(
                secret = %entry.name,
                provider = self.shared.provider.provider_name(),
                kind = err.kind().as_str(),
                retryable = err.is_retryable(),
                error = %err,
                "secret refresh failed"
            );
            attempts += 1;
            let now = Instant::now();
            let hard_stop = current.expires_at + config.max_stale;
            if !err.is_retryable() {
                // Serve until the normal expiry, then fail with this error.
                tokio::time::sleep_until(current.expires_at).await;
                if still_current(entry, current) {
                    self.remember_failure(entry, &err);
                    self.set_state(entry, EXPIRED);
                }
                return false;
            }
            if now >= hard_stop {
                if still_current(entry, current) {
                    self.remember_failure(entry, &past_max_stale(err, config.max_stale));
                    self.set_state(entry, EXPIRED);
                }
                return false;
            }
            let mut wake = now + self.backoff(attempts);
            if now < current.expires_at {
                wake = wake.min(current.expires_at);
            }
            wake = wake.min(hard_stop);
            tokio::time::sleep_until(wake).await;
            if entry.evicted.load(Ordering::Acquire) {
                return false;
            }
            if Instant::now() >= current.expires_at && still_current(entry, current) {
                self.set_state(entry, STALE);
            }
        }
    }

    /// One refresh: ask the version probe first when the provider has one; refetch only when
    /// the version changed.
    async fn refresh_once(&self, entry: &Arc<Entry>, current: &Arc<Cached>) -> Result<()> {
        let probe = self.shared.capabilities.version_probe
            && entry.selector == VersionSelector::Latest
            && current.secret.version_id().is_some();
        if probe {
            let span = tracing::debug_span!(
                "secrets.revalidate",
                provider = self.shared.provider.provider_name(),
                secret = %entry.name,
            );
            match self
                .shared
                .provider
                .current_version(&entry.name)
                .instrument(span)
                .await
            {
                Ok(VersionInfo { version_id, .. })
                    if version_id.as_deref() == current.secret.version_id() =>
                {
                    self.shared.counters.revalidation();
                    self.store_fresh(entry, current.secret.clone());
                    return Ok(());
                }
                Ok(_) => {}
                Err(err) if err.kind() == ErrorKind::Unsupported => {}
                Err(err) => return Err(err),
            }
        }
        let span = tracing::debug_span!(
            "secrets.refresh",
            provider = self.shared.provider.provider_name(),
            secret = %entry.name,
        );
        let secret = self
            .shared
            .provider
            .get(&entry.name, &entry.selector)
            .instrument(span)
            .await?;
        self.shared.counters.refetch();
        let secret = Arc::new(secret);
        let changed = !same_version(&current.secret, &secret);
        self.store_fresh(entry, secret.clone());
        if changed {
            tracing::info!(
                secret = %entry.name,
                version = secret.version_id().unwrap_or("-"),
                "new secret version"
            );
            self.shared.counters.rotation();
            entry.tx.send_replace(Some(secret));
        }
        Ok(())
    }
}

/// Adds to a store error that the last good value can no longer be served.
fn past_max_stale(err: Error, max_stale: Duration) -> Error {
    let detail = format!(
        "{}; the cached value is past max_stale ({max_stale:?}) and can no longer be served",
        err.message().unwrap_or("the store fails")
    );
    err.with_message(detail)
}

fn still_current(entry: &Entry, current: &Arc<Cached>) -> bool {
    entry
        .value
        .load()
        .as_ref()
        .is_some_and(|v| Arc::ptr_eq(v, current))
}

/// Whether two reads are the same version: by version id when the store has them, else by
/// value (compared in constant time).
fn same_version(a: &Secret, b: &Secret) -> bool {
    match (a.version_id(), b.version_id()) {
        (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() => x == y,
        _ => a.value().ct_eq(b.value()),
    }
}

#[async_trait]
impl SecretProvider for SecretCache {
    fn provider_name(&self) -> &'static str {
        self.shared.provider.provider_name()
    }

    fn capabilities(&self) -> Capabilities {
        self.shared.capabilities
    }

    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        self.get_version(name, version)
            .await
            .map(|s| Secret::clone(&s))
    }

    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        self.shared.provider.current_version(name).await
    }

    async fn shutdown(&self) -> Result<()> {
        self.shared.provider.shutdown().await
    }

    async fn get_many(&self, names: &[&str]) -> Vec<Result<Secret>> {
        SecretCache::get_many(self, names)
            .await
            .into_iter()
            .map(|r| r.map(|s| Secret::clone(&s)))
            .collect()
    }
}

#[cfg(test)]
mod tests;
