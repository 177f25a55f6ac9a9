//! The cgi-chat service's start-up: load the database config and print it, password redacted.
//!
//! With no configuration it reads the sample `.env` shipped beside it (the `env` provider):
//!
//! ```text
//! cargo run -p secrets-examples --example cgi-chat
//! ```
//!
//! Pointed at AWS Secrets Manager (here LocalStack, seeded by `./scripts/servers.sh start localstack`):
//!
//! ```text
//! SECRETS_PROVIDER=aws AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 \
//! AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
//!   cargo run -p secrets-examples --features aws --example cgi-chat
//! ```
//!
//! With `--features gcp`, `azure` or `vault`, `SECRETS_PROVIDER` picks those stores; the
//! README shows each one against its local server.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;

use secrets::{EnvProvider, SecretBundle, Secrets};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cgi-chat: cannot start: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), secrets::Error> {
    // The embedded default: the sample .env shipped with this example. SECRETS_PROVIDER
    // (and SECRETS_DOTENV) in the environment override it.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("cgi-chat/.env");
    Secrets::builder()
        .with_default_provider(EnvProvider::new().with_dotenv(sample))
        .build()
        .await?
        .install_global()?;

    let bundle = SecretBundle::load("cgi-chat/database").await?;
    let db = bundle.database()?;
    let provider = Secrets::global().await?.provider().provider_name();
    println!("cgi-chat: database config from the `{provider}` provider");
    println!(
        "  secret:   {} (version {})",
        bundle.name(),
        bundle.version_id().unwrap_or("-")
    );
    println!("  engine:   {}", db.engine.as_deref().unwrap_or("-"));
    println!("  host:     {}:{}", db.host, db.port);
    println!("  user:     {}", db.username);
    println!("  database: {}", db.dbname.as_deref().unwrap_or("-"));
    println!("  url:      {}", db.url());
    println!("  debug:    {db:?}");
    // On the way out: release what the store issued (Vault revokes a dynamic database user).
    Secrets::global().await?.shutdown().await?;
    Ok(())
}
