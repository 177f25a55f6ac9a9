//! JSON secret bundles.

use std::fmt;
use std::sync::Arc;

use secrets_core::{Result, Secret};
use serde::de::DeserializeOwned;

use crate::client::Secrets;
use crate::database::DatabaseConfig;
use crate::decode::{decode_value, parse_object};

/// A secret whose value is a JSON object, such as the one AWS writes for an RDS database.
///
/// `Debug` shows the name and version, never the value.
///
/// ```no_run
/// # async fn run() -> Result<(), secrets_core::Error> {
/// use secrets::SecretBundle;
/// let db = SecretBundle::load("cgi-chat/database").await?.database()?;
/// println!("connecting to {}", db.url()); // the password prints as [REDACTED]
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SecretBundle {
    provider: &'static str,
    secret: Arc<Secret>,
    max_bytes: usize,
}

impl fmt::Debug for SecretBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBundle")
            .field("name", &self.secret.name())
            .field("provider", &self.provider)
            .field("version", &self.secret.version_id())
            .finish_non_exhaustive()
    }
}

impl SecretBundle {
    /// Loads a bundle through the process-wide client ([`Secrets::global`]): the installed
    /// one, or one configured from the environment (`SECRETS_PROVIDER`, ...).
    pub async fn load(name: &str) -> Result<SecretBundle> {
        Secrets::global().await?.bundle(name).await
    }

    /// Watches `name` through the process-wide client, decoded into `T` once per new
    /// version (see [`Secrets::watch`]).
    pub async fn watch<T>(name: &str) -> Result<crate::Watch<T>>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        Secrets::global().await?.watch(name).await
    }

    /// Wraps a secret already read, checking that it is a JSON object within `max_bytes`.
    pub fn from_secret(
        provider: &'static str,
        secret: Arc<Secret>,
        max_bytes: usize,
    ) -> Result<Self> {
        parse_object(provider, secret.name(), secret.value(), max_bytes)?;
        Ok(SecretBundle {
            provider,
            secret,
            max_bytes,
        })
    }

    /// The secret's name.
    pub fn name(&self) -> &str {
        self.secret.name()
    }

    /// The version id, when the store has versions.
    pub fn version_id(&self) -> Option<&str> {
        self.secret.version_id()
    }

    /// The secret as read.
    pub fn secret(&self) -> &Arc<Secret> {
        &self.secret
    }

    /// Decodes the bundle into any `serde` type. A problem names the secret, the field path
    /// and what was expected, never a value.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        let value = parse_object(
            self.provider,
            self.name(),
            self.secret.value(),
            self.max_bytes,
        )?;
        decode_value(self.provider, self.name(), short_type_name::<T>(), value)
    }

    /// Decodes the bundle into a [`DatabaseConfig`], reporting every missing or mistyped field
    /// at once.
    pub fn database(&self) -> Result<DatabaseConfig> {
        self.decode()
    }
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}
