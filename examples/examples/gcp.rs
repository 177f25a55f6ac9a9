//! Google Cloud Secret Manager configured in code, against drongo
//! (`./scripts/servers.sh start drongo`, which seeds `cgi-chat/database` in project
//! `cgi-chat-demo`). On Google Cloud, drop the endpoint: Application Default Credentials apply.
//!
//! ```text
//! cargo run -p secrets-examples --features gcp --example gcp
//! ```
#![allow(clippy::print_stdout)]

use std::time::Duration;

use secrets::Secrets;
use secrets::gcp::GcpProvider;

#[tokio::main]
async fn main() -> Result<(), secrets::Error> {
    let gcp = GcpProvider::builder()
        .with_project("cgi-chat-demo")
        .with_endpoint("http://127.0.0.1:8085")
        .with_total_timeout(Duration::from_secs(5))
        .build()
        .await?;
    let secrets = Secrets::new(gcp);
    // `cgi-chat/database` is the secret id `cgi-chat__database`.
    let db = secrets.bundle("cgi-chat/database").await?.database()?;
    println!("{}", db.url());
    Ok(())
}
