//! The facade over Azure Key Vault, against the workspace's emulator (started in-process per
//! test) through the real Azure SDK client.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on purpose

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyvault_emulator::{Emulator, EmulatorConfig, Operation, RunningEmulator};
use secrets::azure::{AzureProvider, StaticTokenCredential, to_vault_name};
use secrets::{CacheConfig, DatabaseConfig, SecretBundle, Secrets};
use secrets_core::{ErrorKind, async_trait};
use secrets_testkit::conformance::{Seed, run};
use secrets_testkit::unique_name;

async fn setup() -> (RunningEmulator, AzureProvider) {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let p = AzureProvider::builder()
        .with_vault_url(emu.url())
        .with_ca_pem(emu.ca_pem())
        .with_credential(Arc::new(StaticTokenCredential::new("test-token")))
        .with_verify_challenge_resource(false)
        .build()
        .await
        .expect("provider");
    (emu, p)
}

fn rds_json(password: &str) -> String {
    format!(
        r#"{{"engine":"postgres","host":"db.azure.internal","port":5432,"username":"app","password":"{password}","dbname":"cgi_chat"}}"#
    )
}

#[tokio::test]
async fn secret_bundle_load_from_key_vault() {
    let (emu, p) = setup().await;
    let name = unique_name("cgi-chat-azure");
    emu.set_secret(&to_vault_name(&name).unwrap(), &rds_json("azure-password"))
        .unwrap();
    Secrets::builder()
        .with_provider(p)
        .build()
        .await
        .unwrap()
        .install_global()
        .unwrap();
    let db = SecretBundle::load(&name).await.unwrap().database().unwrap();
    assert_eq!((db.host.as_str(), db.port), ("db.azure.internal", 5432));
    assert!(db.same_password(&DatabaseConfig::new("h", 1, "u", "azure-password")));
}

/// Revalidation counted at the emulator: the probe lists versions (no value) and the value is
/// read again only for a new version, which a watcher then sees.
#[tokio::test(flavor = "multi_thread")]
async fn cache_revalidation_counted_at_the_emulator() {
    let (emu, p) = setup().await;
    let name = unique_name("cgi-chat-azure");
    let vault_name = to_vault_name(&name).unwrap();
    emu.set_secret(&vault_name, &rds_json("one")).unwrap();
    let secrets = Secrets::builder()
        .with_provider(p)
        .with_cache(
            CacheConfig::default()
                .with_ttl(Duration::from_secs(2))
                .with_refresh_ahead(Duration::from_millis(500))
                .with_jitter(0.0),
        )
        .build()
        .await
        .unwrap();
    let mut watch = secrets.watch::<DatabaseConfig>(&name).await.unwrap();
    emu.reset_stats();
    tokio::time::sleep(Duration::from_millis(3700)).await;
    let stats = emu.stats();
    assert_eq!(
        stats.count(Operation::GetSecret),
        0,
        "no value read while unchanged"
    );
    assert!(stats.count(Operation::ListSecretVersions) >= 2, "{stats:?}");

    let set_at = Instant::now();
    emu.set_secret(&vault_name, &rds_json("two")).unwrap();
    let next = tokio::time::timeout(Duration::from_secs(4), watch.changed())
        .await
        .expect("the new version arrived")
        .unwrap();
    assert!(
        set_at.elapsed() <= Duration::from_secs(3), /* TTL 2 s, plus 1 s for the calls on a loaded machine */
        "{:?}",
        set_at.elapsed()
    );
    assert!(next.same_password(&DatabaseConfig::new("h", 1, "u", "two")));
    assert_eq!(
        emu.stats().count(Operation::GetSecret),
        1,
        "one value read for the new version"
    );
}

#[tokio::test]
async fn missing_and_bad_names_through_the_facade() {
    let (_emu, p) = setup().await;
    let secrets = Secrets::new(p);
    let err = secrets.get(&unique_name("missing")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = secrets.get("under_score").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidName);
}

struct EmulatorSeed(RunningEmulator);
#[async_trait]
impl Seed for EmulatorSeed {
    async fn put(&self, name: &str, value: &str) {
        self.0
            .set_secret(&to_vault_name(name).unwrap(), value)
            .unwrap();
    }
}

#[tokio::test]
async fn conformance() {
    let (emu, p) = setup().await;
    run(&p, &EmulatorSeed(emu)).await;
}
