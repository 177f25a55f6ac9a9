//! A `notify`-based watcher that reports new versions of secrets in a folder.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use notify::{RecursiveMode, Watcher};
use secrets_core::{Error, ErrorKind, Result};

use crate::common::check_local_name;
use crate::folder::FolderProvider;

const PROVIDER: &str = "folder";

/// A change the [`FolderWatcher`] saw: the secret's name and its new version id, or the error
/// the version probe gave (the secret was removed, became unreadable, ...). Never a value.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FolderChange {
    /// The watched secret's name.
    pub name: String,
    /// The new version id, or why there is none now.
    pub version: Result<String>,
}

/// Watches a [`FolderProvider`]'s root with the OS's file notifications (inotify on Linux)
/// and calls back when the version of a watched secret changes. Dropping it stops watching.
///
/// On every file event under the root, each watched name is probed with the same cheap
/// check as [`current_version`](secrets_core::SecretProvider::current_version) (for a
/// Kubernetes volume, one `readlink` of `..data`), and the callback runs once per name
/// whose version differs from the last one seen: a kubelet swap is reported once, as the
/// new timestamped folder. The callback runs on the watcher's thread; keep it short (send
/// on a channel, or invalidate a cache entry).
///
/// ```
/// use std::sync::mpsc;
/// use secrets_local::FolderProvider;
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("api-key"), "one").unwrap();
/// let folder = FolderProvider::new(root.path());
/// let (tx, rx) = mpsc::channel();
/// let _watcher = folder.watch(&["api-key"], move |change| { let _ = tx.send(change); }).unwrap();
/// std::fs::write(root.path().join("api-key"), "two").unwrap();
/// let change = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
/// assert_eq!(change.name, "api-key");
/// assert!(change.version.is_ok());
/// ```
pub struct FolderWatcher {
    _watcher: notify::RecommendedWatcher,
    names: Vec<String>,
}

impl fmt::Debug for FolderWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FolderWatcher")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl FolderProvider {
    /// Starts watching `names` (see [`FolderWatcher`]). The root must exist.
    pub fn watch(
        &self,
        names: &[&str],
        on_change: impl Fn(FolderChange) + Send + 'static,
    ) -> Result<FolderWatcher> {
        for name in names {
            check_local_name(PROVIDER, name)?;
        }
        let provider = self.clone();
        let names: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
        let version_of = |p: &FolderProvider, name: &str| {
            p.probe(name).map(|v| v.version_id.unwrap_or_default())
        };
        let mut initial = HashMap::new();
        for name in &names {
            initial.insert(name.clone(), version_of(&provider, name).ok());
        }
        let last = Arc::new(Mutex::new(initial));
        let watched = names.clone();
        let handler = move |event: notify::Result<notify::Event>| {
            if let Err(err) = event {
                tracing::warn!(provider = PROVIDER, error = %err, "the folder watcher reported an error");
                return;
            }
            for name in &watched {
                let now = version_of(&provider, name);
                let key = now.as_ref().ok().cloned();
                let changed = {
                    let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
                    let before = last.get(name).cloned().flatten();
                    // Report a new version, or the first failure after a version.
                    if before == key {
                        false
                    } else {
                        last.insert(name.clone(), key);
                        true
                    }
                };
                if changed {
                    on_change(FolderChange {
                        name: name.clone(),
                        version: now,
                    });
                }
            }
        };
        let mut watcher = notify::recommended_watcher(handler).map_err(watch_error)?;
        watcher
            .watch(self.root(), RecursiveMode::Recursive)
            .map_err(watch_error)?;
        Ok(FolderWatcher {
            _watcher: watcher,
            names,
        })
    }
}

fn watch_error(err: notify::Error) -> Error {
    let kind = match err.kind {
        notify::ErrorKind::PathNotFound => ErrorKind::NotFound,
        notify::ErrorKind::MaxFilesWatch => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    };
    Error::new(kind, PROVIDER).with_message(format!("cannot watch the secret folder: {err}"))
}
