//! The cache against AWS's `aws_secretsmanager_caching` 2.x, both over one in-process fake
//! Secrets Manager endpoint on loopback. Run: `cargo bench -p secrets-benches --bench cache`.
//!
//! 1. cached hit latency, one thread (criterion, then a fixed loop for the printed ratio);
//! 2. hit throughput with two threads;
//! 3. 1,000 concurrent cold requests for one secret: upstream calls;
//! 4. steady state across TTL boundaries: the largest latency a caller saw.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::config::{Credentials, Region};
use aws_secretsmanager_caching::SecretsManagerCachingClient;
use criterion::Criterion;
use secrets::{CacheConfig, Secrets};
use secrets_aws::AwsProvider;
use secrets_benches::FakeState;
use tokio::runtime::Runtime;

const NAME: &str = "bench/cgi-chat/database";

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn multi_thread(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

async fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
        .load()
        .await
}

async fn ours(url: &str, cache: CacheConfig) -> Secrets {
    let provider = AwsProvider::builder()
        .with_sdk_config(sdk_config(url).await)
        .build()
        .await
        .unwrap();
    Secrets::builder()
        .with_provider(provider)
        .with_cache(cache)
        .ignore_env()
        .build()
        .await
        .unwrap()
}

async fn theirs(url: &str, ttl: Duration) -> SecretsManagerCachingClient {
    let builder = aws_sdk_secretsmanager::config::Builder::from(&sdk_config(url).await);
    SecretsManagerCachingClient::from_builder(builder, NonZeroUsize::new(1000).unwrap(), ttl, false)
        .await
        .unwrap()
}

/// The best of five runs of `n` hits, in nanoseconds per hit.
fn ns_per_hit(rt: &Runtime, n: u32, mut f: impl AsyncFnMut()) -> f64 {
    (0..5)
        .map(|_| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    f().await;
                }
                start.elapsed().as_nanos() as f64 / f64::from(n)
            })
        })
        .fold(f64::INFINITY, f64::min)
}

/// Hits per second with two threads, each on its own runtime with its own handle on the
/// client, `n` hits each.
macro_rules! two_thread_throughput {
    ($client:expr, $n:expr, |$c:ident| $hit:expr) => {{
        let barrier = Arc::new(Barrier::new(3));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let $c = $client.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let rt = current_thread();
                    barrier.wait();
                    rt.block_on(async {
                        for _ in 0..$n {
                            black_box($hit);
                        }
                    });
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for t in threads {
            t.join().unwrap();
        }
        f64::from(2 * $n) / start.elapsed().as_secs_f64()
    }};
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Reads one secret every 2 ms for `span`; returns every read's latency, sorted.
async fn steady_reads(span: Duration, mut read: impl AsyncFnMut()) -> Vec<Duration> {
    let mut lat = Vec::new();
    let end = Instant::now() + span;
    while Instant::now() < end {
        let t = Instant::now();
        read().await;
        lat.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    lat.sort();
    lat
}

fn main() {
    let server_rt = multi_thread(1);
    let (addr, state): (_, Arc<FakeState>) = server_rt.block_on(secrets_benches::start());
    let url = format!("http://{addr}");
    let rt = current_thread();
    let hour = Duration::from_secs(3600);

    println!("\n== 1. cached hit latency, one thread ==");
    let our_client = rt.block_on(ours(&url, CacheConfig::default().with_ttl(hour)));
    let their_client = Arc::new(rt.block_on(theirs(&url, hour)));
    rt.block_on(async {
        our_client.get(NAME).await.unwrap();
        their_client
            .get_secret_value(NAME, None, None, false)
            .await
            .unwrap();
    });
    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    {
        let mut group = criterion.benchmark_group("hit");
        group.bench_function("ours", |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(our_client.get(NAME).await.unwrap()) })
        });
        group.bench_function("aws_secretsmanager_caching", |b| {
            b.to_async(&rt).iter(|| async {
                black_box(
                    their_client
                        .get_secret_value(NAME, None, None, false)
                        .await
                        .unwrap(),
                )
            })
        });
        group.finish();
    }
    let ours_ns = ns_per_hit(&rt, 1_000_000, async || {
        black_box(our_client.get(NAME).await.unwrap());
    });
    let theirs_ns = ns_per_hit(&rt, 200_000, async || {
        black_box(
            their_client
                .get_secret_value(NAME, None, None, false)
                .await
                .unwrap(),
        );
    });
    println!(
        "hit latency: ours {ours_ns:.1} ns, aws_secretsmanager_caching {theirs_ns:.1} ns, ratio {:.1}x",
        theirs_ns / ours_ns
    );

    println!("\n== 2. hit throughput, two threads ==");
    let ours_tp = two_thread_throughput!(our_client, 4_000_000u32, |c| c.get(NAME).await.unwrap());
    let theirs_tp = two_thread_throughput!(their_client, 400_000u32, |c| c
        .get_secret_value(NAME, None, None, false)
        .await
        .unwrap());
    println!(
        "throughput: ours {:.2} M hits/s, aws_secretsmanager_caching {:.2} M hits/s, ratio {:.1}x",
        ours_tp / 1e6,
        theirs_tp / 1e6,
        ours_tp / theirs_tp
    );

    println!("\n== 3. 1,000 concurrent cold requests for one secret (upstream latency 20 ms) ==");
    state.set_latency(Duration::from_millis(20));
    let mt = multi_thread(2);
    for trial in 1..=3 {
        let name = format!("bench/cold-{trial}");
        let c = mt.block_on(ours(&url, CacheConfig::default().with_ttl(hour)));
        state.reset();
        mt.block_on(async {
            let tasks: Vec<_> = (0..1000)
                .map(|_| {
                    let c = c.clone();
                    let n = name.clone();
                    tokio::spawn(async move { c.get(&n).await.map(|_| ()) })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        });
        let ours_calls = state.gets();
        let t = Arc::new(mt.block_on(theirs(&url, hour)));
        state.reset();
        mt.block_on(async {
            let tasks: Vec<_> = (0..1000)
                .map(|_| {
                    let t = t.clone();
                    let n = name.clone();
                    tokio::spawn(async move {
                        t.get_secret_value(&n, None, None, false)
                            .await
                            .map(|_| ())
                            .is_ok()
                    })
                })
                .collect();
            for task in tasks {
                assert!(task.await.unwrap());
            }
        });
        println!(
            "trial {trial}: upstream GetSecretValue calls: ours {ours_calls}, aws_secretsmanager_caching {}",
            state.gets()
        );
    }

    println!("\n== 4. steady state, TTL 1 s, upstream latency 20 ms, a read every 2 ms for 6 s ==");
    let ttl = Duration::from_secs(1);
    let span = Duration::from_secs(6);
    let c = mt.block_on(ours(
        &url,
        CacheConfig::default()
            .with_ttl(ttl)
            .with_refresh_ahead(Duration::from_millis(300)),
    ));
    state.reset();
    let ours_lat = mt.block_on(async {
        c.get(NAME).await.unwrap();
        steady_reads(span, async || {
            c.get(NAME).await.unwrap();
        })
        .await
    });
    let (our_gets, our_describes) = (state.gets(), state.describes());
    let t = mt.block_on(theirs(&url, ttl));
    state.reset();
    let theirs_lat = mt.block_on(async {
        t.get_secret_value(NAME, None, None, false).await.unwrap();
        steady_reads(span, async || {
            t.get_secret_value(NAME, None, None, false).await.unwrap();
        })
        .await
    });
    let slow = |l: &[Duration]| l.iter().filter(|d| **d >= Duration::from_millis(5)).count();
    println!(
        "ours: {} reads, max {:?}, p99.9 {:?}, reads >= 5 ms: {}, upstream: {} GetSecretValue + {} DescribeSecret",
        ours_lat.len(),
        ours_lat.last().unwrap(),
        percentile(&ours_lat, 0.999),
        slow(&ours_lat),
        our_gets,
        our_describes
    );
    println!(
        "aws_secretsmanager_caching: {} reads, max {:?}, p99.9 {:?}, reads >= 5 ms: {}, upstream: {} GetSecretValue + {} DescribeSecret",
        theirs_lat.len(),
        theirs_lat.last().unwrap(),
        percentile(&theirs_lat, 0.999),
        slow(&theirs_lat),
        state.gets(),
        state.describes()
    );
    criterion.final_summary();
}
