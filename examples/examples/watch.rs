//! A service that follows a rotating database password without restarting.
//!
//! The store here is in memory and rotates itself every 3 s; with `SECRETS_PROVIDER` set,
//! the same code follows a real store. Reads on the hot path are cache hits (no lock, no
//! store call); each new version is decoded once and announced through the watch.
//!
//! ```text
//! cargo run -p secrets-examples --example watch
//! ```
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use secrets::{CacheConfig, DatabaseConfig, MemoryProvider, Secrets};

const NAME: &str = "cgi-chat/database";

fn bundle(password: &str) -> String {
    format!(
        r#"{{"engine":"postgres","host":"db","port":5432,"username":"app","password":"{password}"}}"#
    )
}

#[tokio::main]
async fn main() -> Result<(), secrets::Error> {
    let memory = Arc::new(MemoryProvider::new());
    memory.put(NAME, bundle("password-1"));
    let secrets = Secrets::builder()
        .with_default_provider(memory.clone())
        .with_cache(
            CacheConfig::default()
                .with_ttl(Duration::from_secs(2))
                .with_refresh_ahead(Duration::from_millis(500)),
        )
        .build()
        .await?;

    let mut db = secrets.watch::<DatabaseConfig>(NAME).await?;
    println!(
        "start:   {} (user {})",
        db.current().url(),
        db.current().username
    );

    // The store rotates the password every 3 s (a rotation job, in real life).
    tokio::spawn(async move {
        for n in 2..=3 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            memory.put(NAME, bundle(&format!("password-{n}")));
        }
    });

    for _ in 0..2 {
        let next = tokio::time::timeout(Duration::from_secs(10), db.changed())
            .await
            .expect("a rotation within 10 s")?;
        let version = secrets
            .get(NAME)
            .await?
            .version_id()
            .unwrap_or("-")
            .to_string();
        println!("rotated: version {version}: reconnect with {}", next.url());
    }
    let stats = secrets.cache().expect("cache on").stats();
    println!(
        "cache: {} hits, {} misses, {} revalidations, {} refetches",
        stats.hits, stats.misses, stats.revalidations, stats.refetches
    );
    Ok(())
}
