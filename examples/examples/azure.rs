//! Azure Key Vault configured in code. It starts the workspace's Key Vault emulator in
//! process (HTTPS with a generated CA), seeds a bundle and reads it back, so it runs anywhere.
//! Against a real vault: `with_vault_url("https://NAME.vault.azure.net")` and the default
//! credential chain (workload identity, managed identity, developer tools).
//!
//! ```text
//! cargo run -p secrets-examples --features azure --example azure
//! ```
#![allow(clippy::print_stdout, clippy::expect_used)]

use std::sync::Arc;

use keyvault_emulator::{Emulator, EmulatorConfig};
use secrets::Secrets;
use secrets::azure::{AzureProvider, StaticTokenCredential, to_vault_name};

#[tokio::main]
async fn main() -> Result<(), secrets::Error> {
    let emulator = Emulator::start(EmulatorConfig::default())
        .await
        .expect("the emulator starts");
    let vault_name = to_vault_name("cgi-chat/database")?; // "cgi-chat--database"
    emulator
        .set_secret(
            &vault_name,
            r#"{"engine":"postgres","host":"db.azure.internal","port":5432,"username":"app","password":"pw"}"#,
        )
        .expect("seeded");
    let azure = AzureProvider::builder()
        .with_vault_url(emulator.url())
        .with_ca_pem(emulator.ca_pem())
        .with_credential(Arc::new(StaticTokenCredential::new("any-token")))
        .with_verify_challenge_resource(false)
        .build()
        .await?;
    let db = Secrets::new(azure)
        .bundle("cgi-chat/database")
        .await?
        .database()?;
    println!("{vault_name}: {}", db.url());
    Ok(())
}
