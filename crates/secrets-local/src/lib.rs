#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "age")]
mod age_key;
mod chain;
mod common;
mod dotenv;
#[cfg(feature = "fernet")]
mod encrypted;
mod folder;
#[cfg(feature = "keyring")]
mod os_keyring;
#[cfg(feature = "watch")]
mod watch;

#[cfg(feature = "age")]
pub use age_key::AgeKey;
pub use chain::{ChainProvider, Provenance};
pub use common::{DEFAULT_MAX_SIZE, PermissionPolicy};
pub use dotenv::DotenvProvider;
#[cfg(feature = "age")]
pub use encrypted::{DEFAULT_AGE_CONFIG_FILE, DEFAULT_AGE_IDENTITY_FILE};
#[cfg(feature = "fernet")]
pub use encrypted::{DEFAULT_CONFIG_FILE, DEFAULT_KEY_FILE, EncryptedYamlProvider, FernetKey};
pub use folder::{FolderProvider, KUBERNETES_DATA_LINK};
#[cfg(feature = "keyring")]
pub use os_keyring::KeyringProvider;
#[cfg(feature = "watch")]
pub use watch::{FolderChange, FolderWatcher};
