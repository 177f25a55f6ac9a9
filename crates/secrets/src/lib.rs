#![doc = include_str!("../README.md")]

mod bundle;
mod client;
mod database;
mod decode;

pub use bundle::SecretBundle;
pub use client::{
    DEFAULT_MAX_BUNDLE_BYTES, ENV_DOTENV, ENV_MAX_BUNDLE_BYTES, ENV_PREFIX, ENV_PROVIDER,
    ProviderKind, Secrets, SecretsBuilder,
};
pub use database::{ConnectionUrl, DatabaseConfig};
pub use secrets_core::{
    Capabilities, DynProvider, EnvProvider, Error, ErrorKind, FieldIssue, MemoryProvider, Result,
    Secret, SecretProvider, SecretValue, VersionInfo, VersionSelector,
};

/// The AWS Secrets Manager provider (feature `aws`).
#[cfg(feature = "aws")]
pub use secrets_aws as aws;
