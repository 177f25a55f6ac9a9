//! Each cache behaviour, with a paused tokio clock and a scripted provider that counts calls.

use std::sync::Arc;
use std::time::Duration;

use secrets_core::{Capabilities, ErrorKind};
use secrets_testkit::scripted::ScriptedProvider;
use tokio::time::{Instant, advance};

use super::*;

const TTL: Duration = Duration::from_secs(60);

fn config() -> CacheConfig {
    CacheConfig::default()
        .with_ttl(TTL)
        .with_refresh_ahead(Duration::from_secs(12))
        .with_max_stale(Duration::from_secs(120))
        .with_jitter(0.0)
        .with_retry_backoff(Duration::from_secs(1), Duration::from_secs(30))
        .with_seed(7)
}

fn setup(config: CacheConfig) -> (Arc<ScriptedProvider>, SecretCache) {
    let p = Arc::new(ScriptedProvider::new());
    p.set("db", "v1");
    let cache = SecretCache::new(p.clone(), config);
    (p, cache)
}

fn text(s: &Secret) -> String {
    s.value().expose_text().unwrap().to_string()
}

/// Lets spawned tasks run without moving the clock.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Moves the clock in small steps so timers fire in order and tasks run between them.
async fn pass(d: Duration) {
    let step = Duration::from_millis(100);
    let mut left = d;
    while !left.is_zero() {
        let s = left.min(step);
        advance(s).await;
        settle().await;
        left -= s;
    }
}

#[tokio::test(start_paused = true)]
async fn single_flight_cold_misses_make_one_call() {
    let (p, cache) = setup(config());
    p.set_latency(Duration::from_millis(50));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let c = cache.clone();
        tasks.push(tokio::spawn(async move { c.get("db").await }));
    }
    for t in tasks {
        assert_eq!(text(&t.await.unwrap().unwrap()), "v1");
    }
    assert_eq!(p.gets(), 1);
    let stats = cache.stats();
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.hits, 999);
}

#[tokio::test(start_paused = true)]
async fn hit_is_served_without_calls_until_ttl() {
    let (p, cache) = setup(config().with_idle_cycles(0));
    let first = cache.get("db").await.unwrap();
    let hit = cache.get("db").await.unwrap();
    for _ in 0..10 {
        let again = cache.get("db").await.unwrap();
        assert_eq!(again.version_id(), first.version_id());
        assert!(again.value().ct_eq(first.value()));
        assert!(
            Arc::ptr_eq(&hit, &again),
            "hits on one thread share this thread's copy"
        );
    }
    assert_eq!(p.gets(), 1);
    // Used in its first cycle, so refreshed once (by the probe); unused in the second, so it
    // expires at its TTL, and the next read fetches.
    pass(2 * TTL).await;
    assert_eq!(p.probes(), 1);
    assert!(
        cache.try_hit("db").is_none(),
        "an idle value expires at its TTL"
    );
    cache.get("db").await.unwrap();
    assert_eq!(p.gets(), 2);
}

#[tokio::test(start_paused = true)]
async fn ttl_jitter_spreads_expiries() {
    let cache = SecretCache::new(ScriptedProvider::new(), config().with_jitter(0.1));
    let ttls: Vec<Duration> = (0..200).map(|_| cache.jittered_ttl()).collect();
    assert!(
        ttls.iter()
            .all(|t| *t >= TTL.mul_f64(0.9) && *t <= TTL.mul_f64(1.1))
    );
    let min = ttls.iter().min().unwrap();
    let max = ttls.iter().max().unwrap();
    assert!(
        *max - *min > Duration::from_secs(6),
        "spread {min:?}..{max:?}"
    );
    // And two secrets read at the same instant expire at different instants.
    let p = Arc::new(ScriptedProvider::new());
    p.set("a", "1");
    p.set("b", "1");
    let cache = SecretCache::new(p.clone(), config().with_jitter(0.1));
    cache.get("a").await.unwrap();
    cache.get("b").await.unwrap();
    let ea = cache
        .lookup("a", &VersionSelector::Latest)
        .unwrap()
        .value
        .load_full()
        .unwrap()
        .expires_at;
    let eb = cache
        .lookup("b", &VersionSelector::Latest)
        .unwrap()
        .value
        .load_full()
        .unwrap()
        .expires_at;
    assert_ne!(ea, eb);
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_serves_current_value_while_one_refresh_runs() {
    let p = Arc::new(ScriptedProvider::with_capabilities(Capabilities::NONE));
    p.set("db", "v1");
    let cache = SecretCache::new(p.clone(), config());
    cache.get("db").await.unwrap();
    p.set("db", "v2");
    p.set_latency(Duration::from_secs(5));
    // Into the refresh-ahead window (48 s): one background refresh starts and takes 5 s.
    pass(Duration::from_secs(49)).await;
    assert_eq!(p.gets(), 2, "exactly one refresh is under way");
    for _ in 0..50 {
        let before = Instant::now();
        let v = cache.get("db").await.unwrap();
        assert_eq!(Instant::now(), before, "the caller did not wait");
        assert_eq!(
            text(&v),
            "v1",
            "the current value is served during the refresh"
        );
    }
    pass(Duration::from_secs(5)).await;
    assert_eq!(text(&cache.get("db").await.unwrap()), "v2");
    assert_eq!(p.gets(), 2);
}

#[tokio::test(start_paused = true)]
async fn steady_state_no_caller_waits_across_ttl_boundaries() {
    let (p, cache) = setup(config().with_jitter(0.1));
    p.set_latency(Duration::from_millis(300));
    cache.get("db").await.unwrap();
    let mut waited = Duration::ZERO;
    // Ten TTLs, a read every 500 ms.
    for _ in 0..1200 {
        let before = Instant::now();
        cache.get("db").await.unwrap();
        waited = waited.max(Instant::now() - before);
        pass(Duration::from_millis(500)).await;
    }
    assert_eq!(
        waited,
        Duration::ZERO,
        "no read waited on the store after warm-up"
    );
    // About one probe per TTL (TTL 54-66 s over 600 s), and the value never refetched.
    assert!((8..=12).contains(&p.probes()), "probes {}", p.probes());
    assert_eq!(p.gets(), 1);
    assert_eq!(cache.stats().misses, 1);
}

#[tokio::test(start_paused = true)]
async fn revalidation_probes_before_refetching() {
    let (p, cache) = setup(config());
    let mut rx = cache.watch("db").await.unwrap();
    assert_eq!(text(rx.borrow_and_update().as_ref().unwrap()), "v1");
    // Same version: the probe settles it, the value is not fetched again.
    pass(Duration::from_secs(50)).await;
    assert_eq!((p.probes(), p.gets()), (1, 1));
    assert_eq!(cache.stats().revalidations, 1);
    assert!(!rx.has_changed().unwrap());
    // A new version: the next probe sees it and the value is fetched once.
    p.set("db", "v2");
    pass(Duration::from_secs(60)).await;
    assert_eq!((p.probes(), p.gets()), (2, 2));
    assert!(rx.has_changed().unwrap());
    assert_eq!(text(rx.borrow_and_update().as_ref().unwrap()), "v2");
    assert_eq!(cache.stats().refetches, 1);
    assert_eq!(cache.stats().rotations, 1);
}

#[tokio::test(start_paused = true)]
async fn without_a_probe_the_value_is_refetched() {
    let p = Arc::new(ScriptedProvider::with_capabilities(Capabilities::NONE));
    p.set("db", "v1");
    let cache = SecretCache::new(p.clone(), config());
    let mut rx = cache.watch("db").await.unwrap();
    rx.borrow_and_update();
    pass(Duration::from_secs(50)).await;
    assert_eq!((p.probes(), p.gets()), (0, 2));
    assert!(
        !rx.has_changed().unwrap(),
        "same value: no change announced"
    );
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_up_to_max_stale_then_a_clear_error() {
    let (p, cache) = setup(config());
    cache.get("db").await.unwrap();
    p.fail_always(ErrorKind::Unavailable);
    // Past the TTL, refreshes failing: the last good value is served, marked stale.
    pass(TTL + Duration::from_secs(30)).await;
    assert_eq!(text(&cache.get("db").await.unwrap()), "v1");
    let stats = cache.stats();
    assert!(stats.stale_served >= 1);
    assert!(stats.refresh_failures >= 2, "{stats:?}");
    // Failed refreshes back off: far fewer calls than seconds elapsed.
    let calls = p.probes() + p.gets();
    assert!(calls < 12, "{calls} calls in 90 s");
    // Past expiry + max_stale (60 + 120 s): the error reaches the caller.
    pass(Duration::from_secs(95)).await;
    let err = cache.get("db").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.to_string().contains("max_stale"), "{err}");
    // Once the store heals, the next read after the backoff succeeds.
    p.heal();
    pass(Duration::from_secs(31)).await;
    assert_eq!(text(&cache.get("db").await.unwrap()), "v1");
}

#[tokio::test(start_paused = true)]
async fn non_retryable_refresh_error_is_not_served_stale() {
    let (p, cache) = setup(config());
    cache.get("db").await.unwrap();
    p.fail_always(ErrorKind::PermissionDenied);
    pass(Duration::from_secs(55)).await;
    assert_eq!(
        text(&cache.get("db").await.unwrap()),
        "v1",
        "valid until its TTL"
    );
    pass(Duration::from_secs(6)).await;
    let err = cache.get("db").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
}

#[tokio::test(start_paused = true)]
async fn negative_cache_backs_off_exponentially() {
    let (p, cache) = setup(config());
    let err = cache.get("missing").await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(p.gets(), 1);
    // Answered from the negative cache, not the store.
    for _ in 0..100 {
        assert!(cache.get("missing").await.unwrap_err().is_not_found());
    }
    assert_eq!(p.gets(), 1);
    assert_eq!(cache.stats().negative_hits, 100);
    // First pause: 0.5-1 s. Second: 1-2 s. Third: 2-4 s.
    pass(Duration::from_millis(1000)).await;
    cache.get("missing").await.unwrap_err();
    assert_eq!(p.gets(), 2);
    pass(Duration::from_millis(900)).await;
    cache.get("missing").await.unwrap_err();
    assert_eq!(p.gets(), 2, "second pause is at least 1 s");
    pass(Duration::from_millis(1100)).await;
    cache.get("missing").await.unwrap_err();
    assert_eq!(p.gets(), 3);
    pass(Duration::from_millis(1900)).await;
    cache.get("missing").await.unwrap_err();
    assert_eq!(p.gets(), 3, "third pause is at least 2 s");
    // Once it exists and the pause is over, it is read.
    p.set("missing", "found");
    pass(Duration::from_secs(3)).await;
    assert_eq!(text(&cache.get("missing").await.unwrap()), "found");
}

#[tokio::test(start_paused = true)]
async fn retry_after_lengthens_the_pause() {
    let p = Arc::new(ScriptedProvider::new());
    let cache = SecretCache::new(p.clone(), config());
    // A provider error with Retry-After: 10 s keeps the negative entry that long.
    let err = Error::new(ErrorKind::RateLimited, "x").with_retry_after(Duration::from_secs(10));
    let entry = cache.entry("db", &VersionSelector::Latest).unwrap();
    cache.remember_failure(&entry, &err);
    pass(Duration::from_secs(9)).await;
    assert_eq!(
        cache.get("db").await.unwrap_err().kind(),
        ErrorKind::RateLimited
    );
    assert_eq!(p.gets(), 0);
}

#[tokio::test(start_paused = true)]
async fn invalidate_and_refresh_now() {
    let (p, cache) = setup(config());
    let mut rx = cache.watch("db").await.unwrap();
    rx.borrow_and_update();
    cache.invalidate("db");
    assert!(cache.try_hit("db").is_none());
    cache.get("db").await.unwrap();
    assert_eq!(p.gets(), 2);
    p.set("db", "v2");
    let fresh = cache.refresh_now("db").await.unwrap();
    assert_eq!(text(&fresh), "v2");
    assert_eq!(p.gets(), 3);
    assert_eq!(text(rx.borrow_and_update().as_ref().unwrap()), "v2");
    assert_eq!(text(&cache.get("db").await.unwrap()), "v2");
    assert_eq!(p.gets(), 3);
}

#[tokio::test(start_paused = true)]
async fn entry_bound_evicts_the_least_used() {
    let p = Arc::new(ScriptedProvider::new());
    for n in ["a", "b", "c", "d"] {
        p.set(n, n);
    }
    let cache = SecretCache::new(p.clone(), config().with_max_entries(3));
    for n in ["a", "b", "c"] {
        cache.get(n).await.unwrap();
    }
    // Mark only "b" and "c" as used since the last refresh cycle.
    for n in ["a", "b", "c"] {
        cache
            .lookup(n, &VersionSelector::Latest)
            .unwrap()
            .touched
            .store(false, Ordering::Relaxed);
    }
    cache.try_hit("b");
    cache.try_hit("c");
    cache.get("d").await.unwrap();
    assert_eq!(cache.len(), 3);
    assert!(cache.try_hit("a").is_none(), "the unused entry went first");
    assert!(cache.try_hit("b").is_some());
    assert_eq!(cache.stats().evictions, 1);
}

#[tokio::test(start_paused = true)]
async fn a_hit_does_not_wait_for_a_refresh_holding_the_flight_lock() {
    let (p, cache) = setup(config());
    cache.get("db").await.unwrap();
    p.set_latency(Duration::from_secs(30));
    let c = cache.clone();
    let refresh = tokio::spawn(async move { c.refresh_now("db").await });
    settle().await;
    let entry = cache.lookup("db", &VersionSelector::Latest).unwrap();
    assert!(
        entry.flight.try_lock().is_err(),
        "the refresh holds the flight lock"
    );
    let before = Instant::now();
    assert_eq!(text(&cache.get("db").await.unwrap()), "v1");
    assert_eq!(Instant::now(), before);
    pass(Duration::from_secs(30)).await;
    refresh.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn start_up_batch_uses_one_batch_call() {
    let p = Arc::new(ScriptedProvider::new());
    let names: Vec<String> = (0..5).map(|i| format!("svc/s{i}")).collect();
    for n in &names {
        p.set(n, "x");
    }
    let cache = SecretCache::new(p.clone(), config());
    let refs: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .chain(["svc/missing"])
        .collect();
    let got = cache.get_many(&refs).await;
    assert!(got[..5].iter().all(Result::is_ok));
    assert!(got[5].as_ref().unwrap_err().is_not_found());
    assert_eq!((p.batches(), p.gets()), (1, 0));
    let again = cache.get_many(&refs[..5]).await;
    assert!(again.iter().all(Result::is_ok));
    assert_eq!((p.batches(), p.gets()), (1, 0), "second read is all hits");
}

#[tokio::test(start_paused = true)]
async fn pinned_versions_are_cached_separately() {
    let (p, cache) = setup(config());
    let v1 = cache
        .get_version("db", &VersionSelector::id("1"))
        .await
        .unwrap();
    assert_eq!(text(&v1), "v1");
    cache
        .get_version("db", &VersionSelector::id("1"))
        .await
        .unwrap();
    assert_eq!(p.gets(), 1);
    cache.get("db").await.unwrap();
    assert_eq!(p.gets(), 2);
}

#[tokio::test(start_paused = true)]
async fn typed_watch_redecodes_once_per_new_version() {
    use crate::{DatabaseConfig, Secrets};
    let p = Arc::new(ScriptedProvider::new());
    let json =
        |pw: &str| format!(r#"{{"host":"db","port":5432,"username":"u","password":"{pw}"}}"#);
    p.set("cgi-chat/database", &json("one"));
    let secrets = Secrets::builder()
        .with_provider(p.clone())
        .with_cache(config())
        .build()
        .await
        .unwrap();
    let mut w = secrets
        .watch::<DatabaseConfig>("cgi-chat/database")
        .await
        .unwrap();
    let first = w.current();
    assert!(first.same_password(&DatabaseConfig::new("h", 1, "u", "one")));
    // No new version: the same decoded Arc after several refresh cycles.
    pass(Duration::from_secs(130)).await;
    assert!(Arc::ptr_eq(&first, &w.current()));
    // A version that does not decode is skipped; the previous config stays.
    p.set("cgi-chat/database", r#"{"host":"db"}"#);
    pass(Duration::from_secs(61)).await;
    assert!(Arc::ptr_eq(&first, &w.current()));
    // A good new version arrives within one refresh interval.
    p.set("cgi-chat/database", &json("two"));
    pass(Duration::from_secs(61)).await;
    let next = w.changed().await.unwrap();
    assert!(next.same_password(&DatabaseConfig::new("h", 1, "u", "two")));
    assert_eq!(p.gets(), 3, "fetched once per version");
}
