#![doc = include_str!("../README.md")]

mod bundle;
mod cache;
mod client;
mod database;
mod decode;
mod watch;

pub use bundle::SecretBundle;
pub use cache::{
    CacheConfig, CacheStats, ENV_CACHE, ENV_CACHE_JITTER, ENV_CACHE_MAX_ENTRIES,
    ENV_CACHE_MAX_STALE, ENV_CACHE_REFRESH_AHEAD, ENV_CACHE_TTL, SecretCache,
};
pub use client::{
    DEFAULT_MAX_BUNDLE_BYTES, ENV_CHAIN, ENV_DOTENV, ENV_ENCRYPTED_DIR, ENV_ENCRYPTED_FORMAT,
    ENV_FOLDER, ENV_KEYRING_SERVICE, ENV_MAX_BUNDLE_BYTES, ENV_PREFIX, ENV_PROVIDER,
    ENV_STRICT_PERMISSIONS, ProviderKind, Secrets, SecretsBuilder,
};
pub use database::{ConnectionUrl, DatabaseConfig};
pub use secrets_core::{
    Capabilities, DynProvider, EnvProvider, Error, ErrorKind, FieldIssue, MemoryProvider, REDACTED,
    Result, Secret, SecretProvider, SecretValue, VersionInfo, VersionSelector,
};
pub use watch::Watch;

/// The AWS Secrets Manager provider (feature `aws`).
#[cfg(feature = "aws")]
pub use secrets_aws as aws;

/// The Google Cloud Secret Manager provider (feature `gcp`).
#[cfg(feature = "gcp")]
pub use secrets_gcp as gcp;

/// The Azure Key Vault provider (feature `azure`).
#[cfg(feature = "azure")]
pub use secrets_azure as azure;

/// The Vault / OpenBao provider (feature `vault`).
#[cfg(feature = "vault")]
pub use secrets_vault as vault;

/// The local providers (feature `local`).
#[cfg(feature = "local")]
pub use secrets_local as local;

/// The workspace README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct WorkspaceReadme;
