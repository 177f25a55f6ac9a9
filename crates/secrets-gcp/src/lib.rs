#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod builder;
mod errors;
mod names;
mod provider;

pub use builder::{
    DEFAULT_MAX_ATTEMPTS, DEFAULT_TOTAL_TIMEOUT, ENV_ENDPOINT, ENV_PROJECT, GcpProviderBuilder,
};
pub use names::{MAX_SECRET_ID_LEN, SEPARATOR, name_for_secret_id, secret_id_for_name};
pub use provider::GcpProvider;

/// The SDK crates this provider is built on, re-exported so callers name the same versions
/// (for [`GcpProviderBuilder::with_credentials`], retry and back-off policies, and the
/// admin calls on [`GcpProvider::client`]).
pub use google_cloud_auth;
/// See [`google_cloud_auth`].
pub use google_cloud_gax;
/// See [`google_cloud_auth`].
pub use google_cloud_secretmanager_v1;

/// The provider name in errors, logs and metrics: `"gcp"`.
pub const PROVIDER_NAME: &str = "gcp";
