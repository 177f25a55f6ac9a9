//! Helpers shared by the integration tests: an emulator per test, a provider that trusts it,
//! and SDK calls that set up versions.

// Each test binary uses a subset of these helpers; helpers panic on purpose, like tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use keyvault_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use secrets_azure::azure_core::time::OffsetDateTime;
use secrets_azure::azure_security_keyvault_secrets::ResourceExt;
use secrets_azure::azure_security_keyvault_secrets::models::{
    SecretAttributes, SecretClientUpdateSecretPropertiesOptions, SetSecretParameters,
    UpdateSecretPropertiesParameters,
};
use secrets_azure::{AzureProvider, RetryConfig, StaticTokenCredential, to_vault_name};
use secrets_testkit::unique_name;

/// Quick retries, so that fault tests take milliseconds, not seconds.
pub(crate) fn quick_retry() -> RetryConfig {
    RetryConfig::default()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(50))
        .with_max_retry_after(Duration::from_secs(5))
}

pub(crate) async fn emulator(config: EmulatorConfig) -> RunningEmulator {
    Emulator::start(config).await.expect("the emulator starts")
}

pub(crate) async fn provider_with(emu: &RunningEmulator, retry: RetryConfig) -> AzureProvider {
    AzureProvider::builder()
        .with_vault_url(emu.url())
        .with_ca_pem(emu.ca_pem())
        .with_credential(Arc::new(StaticTokenCredential::new("test-token")))
        .with_verify_challenge_resource(false)
        .with_retry(retry)
        .with_attempt_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("the provider builds")
}

pub(crate) async fn setup() -> (RunningEmulator, AzureProvider) {
    let emu = emulator(EmulatorConfig::default()).await;
    let p = provider_with(&emu, quick_retry()).await;
    (emu, p)
}

/// A unique name with a `/`, so every test also exercises the name mapping.
pub(crate) fn unique(label: &str) -> String {
    unique_name(&format!("azure-{label}"))
}

/// Sets a new version through the SDK client; returns its version id.
pub(crate) async fn put(
    p: &AzureProvider,
    name: &str,
    value: &str,
    attrs: Option<SecretAttributes>,
) -> String {
    let params = SetSecretParameters {
        value: Some(value.to_owned()),
        secret_attributes: attrs,
        ..Default::default()
    };
    let secret = p
        .client()
        .set_secret(
            &to_vault_name(name).unwrap(),
            params.try_into().unwrap(),
            None,
        )
        .await
        .expect("set secret")
        .into_model()
        .unwrap();
    secret.resource_id().unwrap().version.unwrap()
}

/// Changes a version's attributes through the SDK client.
pub(crate) async fn patch(p: &AzureProvider, name: &str, version: &str, attrs: SecretAttributes) {
    let params = UpdateSecretPropertiesParameters {
        secret_attributes: Some(attrs),
        ..Default::default()
    };
    let options = SecretClientUpdateSecretPropertiesOptions {
        secret_version: Some(version.to_owned()),
        ..Default::default()
    };
    p.client()
        .update_secret_properties(
            &to_vault_name(name).unwrap(),
            params.try_into().unwrap(),
            Some(options),
        )
        .await
        .expect("update secret");
}

pub(crate) fn disabled() -> SecretAttributes {
    SecretAttributes {
        enabled: Some(false),
        ..Default::default()
    }
}

pub(crate) fn hours_from_now(hours: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + secrets_azure::azure_core::time::Duration::hours(hours)
}

/// Waits until the wall clock enters a new second, so that the next version's `created` time
/// differs from the previous one's (Key Vault times have one-second resolution).
pub(crate) async fn next_second() {
    let start = OffsetDateTime::now_utc().unix_timestamp();
    while OffsetDateTime::now_utc().unix_timestamp() == start {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
