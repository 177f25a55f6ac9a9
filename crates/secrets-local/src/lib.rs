#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

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

pub use chain::{ChainProvider, Provenance};
pub use common::{DEFAULT_MAX_SIZE, PermissionPolicy};
pub use dotenv::DotenvProvider;
#[cfg(feature = "fernet")]
pub use encrypted::{DEFAULT_CONFIG_FILE, DEFAULT_KEY_FILE, EncryptedYamlProvider, FernetKey};
pub use folder::{FolderProvider, KUBERNETES_DATA_LINK};
#[cfg(feature = "keyring")]
pub use os_keyring::KeyringProvider;
#[cfg(feature = "watch")]
pub use watch::{FolderChange, FolderWatcher};
