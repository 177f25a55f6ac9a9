//! The core of the secrets workspace: the [`SecretProvider`] trait, [`SecretValue`]s that never
//! print, and the one [`Error`] type. No cloud SDK is a dependency of this crate.
//!
//! Providers for each store live in their own crates (`secrets-aws`, `secrets-gcp`, ...); the
//! `secrets` facade adds caching and typed decoding on top. This crate also has two providers
//! that need no store: [`MemoryProvider`] and [`EnvProvider`].

mod env;
mod error;
mod memory;
mod name;
mod provider;
mod value;

pub use env::{EnvProvider, env_var_name};
pub use error::{Error, ErrorKind, FieldIssue, Result};
pub use memory::{MemoryProvider, STAGE_CURRENT, STAGE_PREVIOUS};
pub use name::{MAX_NAME_LEN, check_name};
pub use provider::{Capabilities, DynProvider, SecretProvider};
pub use value::{REDACTED, Secret, SecretValue, VersionInfo, VersionSelector};

/// Re-exported so providers and callers name one version of these crates.
pub use async_trait::async_trait;
pub use secrecy;
