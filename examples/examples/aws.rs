//! AWS Secrets Manager configured in code: endpoint, region and credentials for LocalStack
//! (`./scripts/servers.sh start localstack`), a short cache, and a start-up batch read.
//!
//! ```text
//! cargo run -p secrets-examples --features aws --example aws
//! ```
#![allow(clippy::print_stdout)]

use secrets::aws::AwsProvider;
use secrets::{CacheConfig, Secrets};

#[tokio::main]
async fn main() -> Result<(), secrets::Error> {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let aws = AwsProvider::builder()
        .with_endpoint_url(endpoint)
        .with_region("us-east-1")
        .with_static_credentials("test", "test")
        .with_max_attempts(3)
        .build()
        .await?;
    let secrets = Secrets::builder()
        .with_provider(aws)
        .with_cache(CacheConfig::default())
        .build()
        .await?;
    // One BatchGetSecretValue for every bundle the service needs at start-up.
    for bundle in secrets.bundles(&["cgi-chat/database"]).await {
        let db = bundle?.database()?;
        println!("{}", db.url());
    }
    Ok(())
}
