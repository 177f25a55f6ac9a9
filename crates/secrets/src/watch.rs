//! Typed rotation watches: a config decoded once per new version.

use std::fmt;
use std::sync::Arc;

use secrets_core::{Error, ErrorKind, Result, Secret};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::bundle::SecretBundle;

/// A typed config that follows a secret's rotations.
///
/// [`current`](Watch::current) is the config of the newest version that decoded;
/// [`changed`](Watch::changed) waits for the next one. Each version is decoded once, by one
/// background task, whatever the number of clones. Dropping every clone stops the task.
pub struct Watch<T> {
    rx: watch::Receiver<Arc<T>>,
}

impl<T> Clone for Watch<T> {
    fn clone(&self) -> Self {
        Watch {
            rx: self.rx.clone(),
        }
    }
}

impl<T> fmt::Debug for Watch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("type", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

impl<T> Watch<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    pub(crate) fn start(
        provider: &'static str,
        name: &str,
        mut raw: watch::Receiver<Option<Arc<Secret>>>,
        max_bytes: usize,
    ) -> Result<Self> {
        let decode = move |secret: Arc<Secret>| -> Result<T> {
            SecretBundle::from_secret(provider, secret, max_bytes)?.decode()
        };
        let first = raw.borrow_and_update().clone().ok_or_else(|| {
            Error::new(ErrorKind::Other, provider)
                .with_secret(name)
                .with_message("no value to watch")
        })?;
        let (tx, rx) = watch::channel(Arc::new(decode(first)?));
        let name = name.to_string();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tx.closed() => break,
                    changed = raw.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let Some(secret) = raw.borrow_and_update().clone() else { continue };
                        let version = secret.version_id().unwrap_or("-").to_string();
                        match decode(secret) {
                            Ok(value) => {
                                tracing::info!(secret = %name, %version, "config re-decoded for a new version");
                                tx.send_replace(Arc::new(value));
                            }
                            Err(err) => tracing::warn!(
                                secret = %name,
                                %version,
                                error = %err,
                                "new version does not decode; keeping the previous config"
                            ),
                        }
                    }
                }
            }
        });
        Ok(Watch { rx })
    }
}

impl<T> Watch<T> {
    /// The newest config.
    pub fn current(&self) -> Arc<T> {
        self.rx.borrow().clone()
    }

    /// Waits for a newer config than the last one seen through this handle and returns it.
    /// Fails when the watch has ended (the client was dropped).
    pub async fn changed(&mut self) -> Result<Arc<T>> {
        self.rx.changed().await.map_err(|_| {
            Error::new(ErrorKind::Other, "secrets").with_message("the watch has ended")
        })?;
        Ok(self.rx.borrow_and_update().clone())
    }

    /// The underlying `tokio` receiver.
    pub fn receiver(&self) -> watch::Receiver<Arc<T>> {
        self.rx.clone()
    }
}
