//! Vault / OpenBao configured in code: token auth, and `cgi-chat/database` bound to dynamic
//! PostgreSQL credentials from the `cgi-chat` role. Run `./scripts/vault-cgi-chat.sh` once to
//! start OpenBao and PostgreSQL and configure that role, or point it at your own Vault.
//!
//! ```text
//! cargo run -p secrets-examples --features vault --example vault
//! ```
#![allow(clippy::print_stdout)]

use secrets::vault::{DatabaseCredentials, VaultProvider};
use secrets::{DatabaseConfig, Secrets};

#[tokio::main]
async fn main() -> Result<(), secrets::Error> {
    let vault = VaultProvider::builder()
        .with_address(
            std::env::var("VAULT_ADDR").unwrap_or_else(|_| "http://127.0.0.1:8200".into()),
        )
        .with_token(std::env::var("VAULT_TOKEN").unwrap_or_else(|_| "root".into()))
        .with_database_credentials(
            "cgi-chat/database",
            DatabaseCredentials::new("cgi-chat", "127.0.0.1")
                .with_port(55432)
                .with_dbname("postgres"),
        )
        .build()
        .await?;
    let secrets = Secrets::new(vault);
    let db: DatabaseConfig = secrets.load("cgi-chat/database").await?;
    println!("a new database user: {} ({})", db.username, db.url());
    // Revoke the user on the way out.
    secrets.shutdown().await?;
    Ok(())
}
