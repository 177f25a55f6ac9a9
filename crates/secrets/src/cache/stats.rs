//! Cache counters: kept here for `stats()`, exported through the `metrics` facade.
//!
//! Hits are counted in per-thread stripes so that two threads hitting one secret do not
//! fight over one cache line: each of the first 64 threads owns a stripe and counts with a
//! plain load and store (no read-modify-write); later threads share stripes with `fetch_add`.
//! Hits reach `metrics` in batches (on every `stats()` call, when a refresher stops, and every
//! 1024 hits of a stripe). Everything else is rare and counted directly.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use metrics::Counter;

const STRIPES: usize = 64;
const FLUSH_EVERY: u64 = 1024;

/// What the cache has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to the store.
    pub misses: u64,
    /// Refreshes the version probe settled without fetching the value.
    pub revalidations: u64,
    /// Refreshes that fetched the value.
    pub refetches: u64,
    /// Refreshes that found a new version.
    pub rotations: u64,
    /// Reads answered with a value past its TTL while the store failed.
    pub stale_served: u64,
    /// Failed refreshes.
    pub refresh_failures: u64,
    /// Reads answered from the negative cache.
    pub negative_hits: u64,
    /// Entries evicted to keep the bound.
    pub evictions: u64,
    /// Calls to `invalidate`.
    pub invalidations: u64,
}

#[repr(align(128))]
#[derive(Default)]
struct Stripe {
    count: AtomicU64,
    exported: AtomicU64,
}

pub(crate) struct Counters {
    stripes: [Stripe; STRIPES],
    misses: AtomicU64,
    revalidations: AtomicU64,
    refetches: AtomicU64,
    rotations: AtomicU64,
    stale_served: AtomicU64,
    refresh_failures: AtomicU64,
    negative_hits: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
    m_hits: Counter,
    m_misses: Counter,
    m_revalidations: Counter,
    m_refetches: Counter,
    m_stale: Counter,
    m_failures: Counter,
    m_negative: Counter,
}

/// This thread's stripe, and whether it owns it alone.
#[inline]
fn stripe_index() -> (usize, bool) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    let n = INDEX
        .try_with(|i| {
            if i.get() == usize::MAX {
                i.set(NEXT.fetch_add(1, Ordering::Relaxed));
            }
            i.get()
        })
        .unwrap_or(usize::MAX);
    (n % STRIPES, n < STRIPES)
}

impl Counters {
    pub(crate) fn new(provider: &'static str) -> Self {
        let c = |name: &'static str| metrics::counter!(name, "provider" => provider);
        Counters {
            stripes: std::array::from_fn(|_| Stripe::default()),
            misses: AtomicU64::new(0),
            revalidations: AtomicU64::new(0),
            refetches: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            refresh_failures: AtomicU64::new(0),
            negative_hits: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            m_hits: c("secrets_cache_hits_total"),
            m_misses: c("secrets_cache_misses_total"),
            m_revalidations: c("secrets_cache_revalidations_total"),
            m_refetches: c("secrets_cache_refetches_total"),
            m_stale: c("secrets_cache_stale_served_total"),
            m_failures: c("secrets_cache_refresh_failures_total"),
            m_negative: c("secrets_cache_negative_hits_total"),
        }
    }

    #[inline]
    pub(crate) fn hit(&self) {
        let (index, owned) = stripe_index();
        let stripe = &self.stripes[index];
        let n = if owned {
            // Only this thread writes this stripe: a plain load and store is exact.
            let n = stripe.count.load(Ordering::Relaxed) + 1;
            stripe.count.store(n, Ordering::Relaxed);
            n
        } else {
            stripe.count.fetch_add(1, Ordering::Relaxed) + 1
        };
        if n.is_multiple_of(FLUSH_EVERY) {
            self.flush_stripe(stripe);
        }
    }

    fn flush_stripe(&self, stripe: &Stripe) {
        let now = stripe.count.load(Ordering::Relaxed);
        let before = stripe.exported.swap(now, Ordering::Relaxed);
        if now > before {
            self.m_hits.increment(now - before);
        }
    }

    pub(crate) fn flush_hits(&self) {
        for s in &self.stripes {
            self.flush_stripe(s);
        }
    }

    pub(crate) fn misses(&self, n: u64) {
        self.misses.fetch_add(n, Ordering::Relaxed);
        self.m_misses.increment(n);
    }

    pub(crate) fn revalidation(&self) {
        self.revalidations.fetch_add(1, Ordering::Relaxed);
        self.m_revalidations.increment(1);
    }

    pub(crate) fn refetch(&self) {
        self.refetches.fetch_add(1, Ordering::Relaxed);
        self.m_refetches.increment(1);
    }

    pub(crate) fn rotation(&self) {
        self.rotations.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stale_served(&self) {
        self.stale_served.fetch_add(1, Ordering::Relaxed);
        self.m_stale.increment(1);
    }

    pub(crate) fn refresh_failure(&self) {
        self.refresh_failures.fetch_add(1, Ordering::Relaxed);
        self.m_failures.increment(1);
    }

    pub(crate) fn negative_hit(&self) {
        self.negative_hits.fetch_add(1, Ordering::Relaxed);
        self.m_negative.increment(1);
    }

    pub(crate) fn eviction(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn invalidation(&self) {
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        self.flush_hits();
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: self.stripes.iter().map(|s| l(&s.count)).sum(),
            misses: l(&self.misses),
            revalidations: l(&self.revalidations),
            refetches: l(&self.refetches),
            rotations: l(&self.rotations),
            stale_served: l(&self.stale_served),
            refresh_failures: l(&self.refresh_failures),
            negative_hits: l(&self.negative_hits),
            evictions: l(&self.evictions),
            invalidations: l(&self.invalidations),
        }
    }
}
