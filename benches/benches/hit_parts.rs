//! Where a cache hit's time goes (a diagnostic, no peer): the sync hit path, the async
//! `Secrets::get`, and their parts. Run: `cargo bench -p secrets-benches --bench hit_parts`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use secrets::{CacheConfig, MemoryProvider, Secrets};

const NAME: &str = "bench/cgi-chat/database";

fn parts(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let memory = MemoryProvider::new();
    memory.put(NAME, "value");
    let secrets = rt.block_on(async {
        let s = Secrets::builder()
            .with_provider(memory)
            .with_cache(CacheConfig::default())
            .ignore_env()
            .build()
            .await
            .unwrap();
        s.get(NAME).await.unwrap();
        s
    });
    let cache = secrets.cache().unwrap().clone();
    let mut g = c.benchmark_group("hit_parts");
    g.bench_function("try_hit", |b| {
        b.iter(|| black_box(cache.try_hit(black_box(NAME))))
    });
    g.bench_function("secrets_get_async", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(secrets.get(black_box(NAME)).await.unwrap()) })
    });
    let arc = Arc::new(1u64);
    g.bench_function("arc_clone_drop", |b| b.iter(|| black_box(arc.clone())));
    let swap = arc_swap::ArcSwap::from_pointee(1u64);
    g.bench_function("arcswap_load", |b| b.iter(|| black_box(**swap.load())));
    g.finish();
}

criterion_group!(benches, parts);
criterion_main!(benches);
