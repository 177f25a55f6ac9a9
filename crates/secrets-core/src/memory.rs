//! An in-memory provider for tests, examples and embedded defaults.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::SystemTime;

use async_trait::async_trait;

use crate::error::{Error, ErrorKind, Result};
use crate::name::check_name;
use crate::provider::{Capabilities, SecretProvider};
use crate::value::{Secret, SecretValue, VersionInfo, VersionSelector};

const PROVIDER: &str = "memory";

/// The stage the newest version carries.
pub const STAGE_CURRENT: &str = "current";
/// The stage the version before the newest carries.
pub const STAGE_PREVIOUS: &str = "previous";

#[derive(Clone)]
struct Version {
    id: String,
    value: SecretValue,
    stages: Vec<String>,
    created: SystemTime,
    enabled: bool,
}

#[derive(Default)]
struct Entry {
    versions: Vec<Version>,
    next_id: u64,
}

/// A versioned in-memory store.
///
/// Each [`put`](MemoryProvider::put) adds a version with the next number as its id
/// (`"1"`, `"2"`, ...), moves the `current` stage to it and `previous` to the one before.
/// It has a cheap version probe, so it exercises the cache's revalidation path.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use secrets_core::{MemoryProvider, SecretProvider, VersionSelector};
/// let memory = MemoryProvider::new();
/// memory.put("db", "one");
/// memory.put("db", "two");
/// let old = memory.get("db", &VersionSelector::stage("previous")).await.unwrap();
/// assert_eq!(old.value().expose_text().unwrap(), "one");
/// assert_eq!(old.version_id(), Some("1"));
/// # })
/// ```
#[derive(Default)]
pub struct MemoryProvider {
    entries: RwLock<HashMap<String, Entry>>,
}

impl std::fmt::Debug for MemoryProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = self
            .entries
            .read()
            .map(|e| e.len())
            .unwrap_or_else(|p| p.into_inner().len());
        f.debug_struct("MemoryProvider")
            .field("secrets", &names)
            .finish_non_exhaustive()
    }
}

impl MemoryProvider {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `secrets` (name, text value) pairs.
    pub fn with_secrets<N, V>(secrets: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<String>,
        V: Into<SecretValue>,
    {
        let store = Self::new();
        for (name, value) in secrets {
            store.put(name, value);
        }
        store
    }

    /// Adds a new version and makes it current. Returns its version id.
    pub fn put(&self, name: impl Into<String>, value: impl Into<SecretValue>) -> String {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.entry(name.into()).or_default();
        entry.next_id += 1;
        let id = entry.next_id.to_string();
        for v in &mut entry.versions {
            v.stages.retain(|s| s != STAGE_PREVIOUS);
            if let Some(pos) = v.stages.iter().position(|s| s == STAGE_CURRENT) {
                v.stages[pos] = STAGE_PREVIOUS.to_string();
            }
        }
        entry.versions.push(Version {
            id: id.clone(),
            value: value.into(),
            stages: vec![STAGE_CURRENT.to_string()],
            created: SystemTime::now(),
            enabled: true,
        });
        id
    }

    /// Enables or disables one version; reading a disabled version is a
    /// [`ErrorKind::Disabled`] error. Returns whether the version exists.
    pub fn set_enabled(&self, name: &str, version_id: &str, enabled: bool) -> bool {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let found = entries
            .get_mut(name)
            .and_then(|e| e.versions.iter_mut().find(|v| v.id == version_id));
        match found {
            Some(v) => {
                v.enabled = enabled;
                true
            }
            None => false,
        }
    }

    /// Removes a secret and all its versions. Returns whether it existed.
    pub fn remove(&self, name: &str) -> bool {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .is_some()
    }

    fn find(&self, name: &str, selector: &VersionSelector) -> Result<Version> {
        check_name(PROVIDER, name)?;
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let not_found = || Error::new(ErrorKind::NotFound, PROVIDER).with_secret(name);
        let entry = entries.get(name).ok_or_else(not_found)?;
        let version = match selector {
            VersionSelector::Latest => entry
                .versions
                .iter()
                .find(|v| v.stages.iter().any(|s| s == STAGE_CURRENT)),
            VersionSelector::Id(id) => entry.versions.iter().find(|v| &v.id == id),
            VersionSelector::Stage(stage) => entry
                .versions
                .iter()
                .find(|v| v.stages.iter().any(|s| s == stage)),
        }
        .ok_or_else(|| not_found().with_message(format!("no {selector}")))?;
        if !version.enabled {
            return Err(Error::new(ErrorKind::Disabled, PROVIDER)
                .with_secret(name)
                .with_message(format!("version {} is disabled", version.id)));
        }
        Ok(version.clone())
    }
}

fn info(v: &Version) -> VersionInfo {
    VersionInfo::new(v.id.clone())
        .with_stages(v.stages.clone())
        .with_created(Some(v.created))
}

#[async_trait]
impl SecretProvider for MemoryProvider {
    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_version_probe().with_versions()
    }

    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        let v = self.find(name, version)?;
        let version = info(&v);
        Ok(Secret::new(name, v.value).with_version(version))
    }

    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        self.find(name, &VersionSelector::Latest).map(|v| info(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn versions_and_stages() {
        let m = MemoryProvider::new();
        assert_eq!(m.put("a", "1st"), "1");
        assert_eq!(m.put("a", "2nd"), "2");
        assert_eq!(m.put("a", "3rd"), "3");
        let latest = m.get("a", &VersionSelector::Latest).await.unwrap();
        assert_eq!(latest.value().expose_text().unwrap(), "3rd");
        assert_eq!(latest.stages(), [STAGE_CURRENT]);
        let prev = m
            .get("a", &VersionSelector::stage(STAGE_PREVIOUS))
            .await
            .unwrap();
        assert_eq!(prev.version_id(), Some("2"));
        let first = m.get("a", &VersionSelector::id("1")).await.unwrap();
        assert_eq!(first.value().expose_text().unwrap(), "1st");
        assert!(first.stages().is_empty());
        assert_eq!(
            m.current_version("a").await.unwrap().version_id.as_deref(),
            Some("3")
        );
    }

    #[tokio::test]
    async fn missing_and_disabled() {
        let m = MemoryProvider::new();
        assert_eq!(
            m.get("nope", &VersionSelector::Latest)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        m.put("a", "x");
        assert_eq!(
            m.get("a", &VersionSelector::id("9"))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert!(m.set_enabled("a", "1", false));
        assert_eq!(
            m.get("a", &VersionSelector::Latest)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::Disabled
        );
        assert!(m.remove("a"));
        assert!(!m.remove("a"));
    }

    #[tokio::test]
    async fn get_many_default_keeps_order_and_reports_missing_per_name() {
        let m = MemoryProvider::with_secrets([("a", "1"), ("b", "2")]);
        let got = m.get_many(&["b", "zz", "a"]).await;
        assert_eq!(got[0].as_ref().unwrap().value().expose_text().unwrap(), "2");
        assert!(got[1].as_ref().unwrap_err().is_not_found());
        assert_eq!(got[2].as_ref().unwrap().name(), "a");
    }
}
