#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod builder;
mod credential;
mod errors;
mod names;
mod provider;
mod retry;

pub use builder::{AzureProviderBuilder, DEFAULT_ATTEMPT_TIMEOUT};
pub use credential::{ChainedCredential, MANAGED_IDENTITY_PROBE_TIMEOUT, StaticTokenCredential};
pub use names::{MAX_VAULT_NAME_LEN, SEPARATOR, from_vault_name, to_vault_name};
pub use provider::AzureProvider;
pub use retry::RetryConfig;

/// Re-exported so callers build credentials, transports and SDK calls with the versions this
/// crate uses.
pub use azure_core;
/// Re-exported: the SDK's credentials (`ClientSecretCredential`, `AzureCliCredential`, ...).
pub use azure_identity;
/// Re-exported: the SDK's Key Vault secrets client and models.
pub use azure_security_keyvault_secrets;

/// The provider name used in errors, logs and metrics.
pub const PROVIDER: &str = "azure";

/// The environment variable holding the vault's URL.
pub const ENV_VAULT_URL: &str = "AZURE_KEYVAULT_URL";

/// The environment variable selecting the credential: `default` (the chain), or one of
/// `workload-identity`, `managed-identity`, `developer-tools`, `azure-cli`, `emulator`.
pub const ENV_CREDENTIAL: &str = "AZURE_KEYVAULT_CREDENTIAL";

/// The environment variable naming a PEM file of the only CAs to trust for the vault.
pub const ENV_CA_FILE: &str = "AZURE_KEYVAULT_CA_FILE";

/// The token the `emulator` credential sends.
const EMULATOR_TOKEN: &str = "keyvault-emulator";
