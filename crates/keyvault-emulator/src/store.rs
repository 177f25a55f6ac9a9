//! The in-memory secret store: names, versions, attributes and soft delete.
//!
//! Pure logic with the clock passed in, so it is unit-tested without a server.

use std::collections::BTreeMap;

use crate::error::ApiError;

/// How long a deleted secret stays recoverable (the service's default retention).
pub(crate) const RECOVERABLE_DAYS: i64 = 90;

/// One version of a secret.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub(crate) id: String,
    pub(crate) value: String,
    pub(crate) content_type: Option<String>,
    pub(crate) enabled: bool,
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: Option<i64>,
    pub(crate) created: i64,
    pub(crate) updated: i64,
    pub(crate) tags: Option<BTreeMap<String, String>>,
}

/// When and until when a secret sits in the deleted state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deletion {
    pub(crate) deleted_date: i64,
    pub(crate) scheduled_purge_date: i64,
}

/// A secret: its name as first written, its versions in creation order, and its deletion.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) versions: Vec<Version>,
    pub(crate) deleted: Option<Deletion>,
}

impl Entry {
    /// The current version: the most recently created one (whatever its attributes).
    pub(crate) fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }
}

/// A version together with the name of its secret and the secret's deletion, if any.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub(crate) name: String,
    pub(crate) version: Version,
    pub(crate) deleted: Option<Deletion>,
}

/// The body of a set (PUT) request.
#[derive(Debug, Default, Clone)]
pub(crate) struct SetParams {
    pub(crate) value: String,
    pub(crate) content_type: Option<String>,
    pub(crate) enabled: Option<bool>,
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: Option<i64>,
    pub(crate) tags: Option<BTreeMap<String, String>>,
}

/// The body of an update (PATCH) request: absent fields are left as they are.
#[derive(Debug, Default, Clone)]
pub(crate) struct UpdateParams {
    pub(crate) content_type: Option<String>,
    pub(crate) enabled: Option<bool>,
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: Option<i64>,
    pub(crate) tags: Option<BTreeMap<String, String>>,
}

/// One page of a listing, with the key to continue after, if more remain.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next: Option<String>,
}

/// Checks the service's name rule: 1 to 127 characters of ASCII letters, digits and '-'.
pub(crate) fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=127).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_name(name))
    }
}

/// A new version id: 32 lowercase hex digits, as the service uses.
fn new_version_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Secrets keyed by their lowercased name: Key Vault names are case-insensitive.
#[derive(Debug, Default)]
pub(crate) struct Store {
    secrets: BTreeMap<String, Entry>,
}

impl Store {
    fn live(&self, name: &str) -> Result<&Entry, ApiError> {
        validate_name(name)?;
        match self.secrets.get(&name.to_ascii_lowercase()) {
            Some(entry) if entry.deleted.is_none() && !entry.versions.is_empty() => Ok(entry),
            _ => Err(ApiError::secret_not_found(name)),
        }
    }

    fn live_mut(&mut self, name: &str) -> Result<&mut Entry, ApiError> {
        validate_name(name)?;
        match self.secrets.get_mut(&name.to_ascii_lowercase()) {
            Some(entry) if entry.deleted.is_none() && !entry.versions.is_empty() => Ok(entry),
            _ => Err(ApiError::secret_not_found(name)),
        }
    }

    fn deleted_entry(&self, name: &str) -> Result<&Entry, ApiError> {
        validate_name(name)?;
        match self.secrets.get(&name.to_ascii_lowercase()) {
            Some(entry) if entry.deleted.is_some() => Ok(entry),
            _ => Err(ApiError::deleted_secret_not_found()),
        }
    }

    /// Adds a new version (creating the secret if needed); refuses a name in the deleted state.
    pub(crate) fn set(
        &mut self,
        name: &str,
        params: SetParams,
        now: i64,
    ) -> Result<View, ApiError> {
        validate_name(name)?;
        let entry = self
            .secrets
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| Entry {
                name: name.to_owned(),
                versions: Vec::new(),
                deleted: None,
            });
        if entry.deleted.is_some() {
            return Err(ApiError::deleted_but_recoverable(&entry.name));
        }
        let version = Version {
            id: new_version_id(),
            value: params.value,
            content_type: params.content_type,
            enabled: params.enabled.unwrap_or(true),
            nbf: params.nbf,
            exp: params.exp,
            created: now,
            updated: now,
            tags: params.tags,
        };
        entry.versions.push(version.clone());
        Ok(View {
            name: entry.name.clone(),
            version,
            deleted: None,
        })
    }

    /// The given version, or the latest when `version` is `None` or empty.
    pub(crate) fn get(&self, name: &str, version: Option<&str>) -> Result<View, ApiError> {
        let entry = self.live(name)?;
        let found = match version.filter(|v| !v.is_empty()) {
            None => entry.latest(),
            Some(v) => entry.versions.iter().find(|x| x.id.eq_ignore_ascii_case(v)),
        };
        match found {
            Some(version) => Ok(View {
                name: entry.name.clone(),
                version: version.clone(),
                deleted: None,
            }),
            None => Err(ApiError::secret_not_found(&format!(
                "{name}/{}",
                version.unwrap_or_default()
            ))),
        }
    }

    /// Changes the attributes, content type or tags of one version (latest if none named).
    pub(crate) fn update(
        &mut self,
        name: &str,
        version: Option<&str>,
        params: UpdateParams,
        now: i64,
    ) -> Result<View, ApiError> {
        let entry = self.live_mut(name)?;
        let wanted = version.filter(|v| !v.is_empty());
        let found = match wanted {
            None => entry.versions.last_mut(),
            Some(v) => entry
                .versions
                .iter_mut()
                .find(|x| x.id.eq_ignore_ascii_case(v)),
        };
        let Some(target) = found else {
            return Err(ApiError::secret_not_found(&format!(
                "{name}/{}",
                wanted.unwrap_or_default()
            )));
        };
        if let Some(content_type) = params.content_type {
            target.content_type = Some(content_type);
        }
        if let Some(enabled) = params.enabled {
            target.enabled = enabled;
        }
        if let Some(nbf) = params.nbf {
            target.nbf = Some(nbf);
        }
        if let Some(exp) = params.exp {
            target.exp = Some(exp);
        }
        if let Some(tags) = params.tags {
            target.tags = Some(tags);
        }
        target.updated = now;
        let version = target.clone();
        Ok(View {
            name: entry.name.clone(),
            version,
            deleted: None,
        })
    }

    /// Moves the whole secret (all versions) to the deleted state.
    pub(crate) fn delete(&mut self, name: &str, now: i64) -> Result<View, ApiError> {
        let entry = self.live_mut(name)?;
        let deletion = Deletion {
            deleted_date: now,
            scheduled_purge_date: now + RECOVERABLE_DAYS * 24 * 3600,
        };
        entry.deleted = Some(deletion);
        let version = entry
            .latest()
            .cloned()
            .ok_or_else(|| ApiError::secret_not_found(name))?;
        Ok(View {
            name: entry.name.clone(),
            version,
            deleted: Some(deletion),
        })
    }

    /// The latest version of a deleted secret.
    pub(crate) fn get_deleted(&self, name: &str) -> Result<View, ApiError> {
        let entry = self.deleted_entry(name)?;
        let version = entry
            .latest()
            .cloned()
            .ok_or_else(ApiError::deleted_secret_not_found)?;
        Ok(View {
            name: entry.name.clone(),
            version,
            deleted: entry.deleted,
        })
    }

    /// Removes a deleted secret for good.
    pub(crate) fn purge(&mut self, name: &str) -> Result<(), ApiError> {
        self.deleted_entry(name)?;
        self.secrets.remove(&name.to_ascii_lowercase());
        Ok(())
    }

    /// Brings a deleted secret back with all its versions.
    pub(crate) fn recover(&mut self, name: &str) -> Result<View, ApiError> {
        self.deleted_entry(name)?;
        let key = name.to_ascii_lowercase();
        let entry = self
            .secrets
            .get_mut(&key)
            .ok_or_else(ApiError::deleted_secret_not_found)?;
        entry.deleted = None;
        let version = entry
            .latest()
            .cloned()
            .ok_or_else(ApiError::deleted_secret_not_found)?;
        Ok(View {
            name: entry.name.clone(),
            version,
            deleted: None,
        })
    }

    /// Live (or deleted) secrets in name order, each with its latest version, starting after
    /// the key `after`; `next` is the key of the last item when more remain.
    pub(crate) fn list(&self, deleted: bool, after: Option<&str>, max: usize) -> Page<View> {
        let mut candidates = self.secrets.iter().filter(|(key, entry)| {
            entry.deleted.is_some() == deleted
                && !entry.versions.is_empty()
                && after.is_none_or(|a| key.as_str() > a)
        });
        let mut items = Vec::new();
        let mut last_key = None;
        for (key, entry) in candidates.by_ref().take(max) {
            if let Some(version) = entry.latest() {
                items.push(View {
                    name: entry.name.clone(),
                    version: version.clone(),
                    deleted: entry.deleted,
                });
                last_key = Some(key.clone());
            }
        }
        let next = if candidates.next().is_some() {
            last_key
        } else {
            None
        };
        Page { items, next }
    }

    /// Versions of a live secret in creation order, starting at index `start`; `next` is the
    /// index to continue from when more remain.
    pub(crate) fn versions(
        &self,
        name: &str,
        start: usize,
        max: usize,
    ) -> Result<Page<View>, ApiError> {
        let entry = self.live(name)?;
        let end = start.saturating_add(max).min(entry.versions.len());
        let items = entry
            .versions
            .get(start.min(end)..end)
            .unwrap_or_default()
            .iter()
            .map(|version| View {
                name: entry.name.clone(),
                version: version.clone(),
                deleted: None,
            })
            .collect();
        let next = (end < entry.versions.len()).then(|| end.to_string());
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn set(store: &mut Store, name: &str, value: &str) -> View {
        store
            .set(
                name,
                SetParams {
                    value: value.into(),
                    ..Default::default()
                },
                1_000,
            )
            .unwrap()
    }

    #[test]
    fn names_follow_the_service_rule() {
        assert!(validate_name("a").is_ok());
        assert!(validate_name("My-Secret-01").is_ok());
        assert!(validate_name(&"x".repeat(127)).is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name(&"x".repeat(128)).is_err());
        assert!(validate_name("under_score").is_err());
        assert!(validate_name("dot.ted").is_err());
        assert!(validate_name("ünï").is_err());
    }

    #[test]
    fn versions_are_32_hex_and_latest_is_newest() {
        let mut store = Store::default();
        let a = set(&mut store, "s", "one");
        let b = set(&mut store, "s", "two");
        assert_eq!(a.version.id.len(), 32);
        assert!(a.version.id.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.version.id, b.version.id);
        assert_eq!(store.get("s", None).unwrap().version.value, "two");
        assert_eq!(
            store.get("s", Some(&a.version.id)).unwrap().version.value,
            "one"
        );
        assert_eq!(store.get("S", Some("")).unwrap().version.value, "two");
    }

    #[test]
    fn names_are_case_insensitive_and_keep_first_spelling() {
        let mut store = Store::default();
        set(&mut store, "MixedCase", "v");
        let view = set(&mut store, "mixedcase", "w");
        assert_eq!(view.name, "MixedCase");
        assert_eq!(store.get("MIXEDCASE", None).unwrap().version.value, "w");
    }

    #[test]
    fn update_changes_only_given_fields() {
        let mut store = Store::default();
        let v = set(&mut store, "s", "one");
        let updated = store
            .update(
                "s",
                Some(&v.version.id),
                UpdateParams {
                    enabled: Some(false),
                    ..Default::default()
                },
                2_000,
            )
            .unwrap();
        assert!(!updated.version.enabled);
        assert_eq!(updated.version.value, "one");
        assert_eq!(updated.version.created, 1_000);
        assert_eq!(updated.version.updated, 2_000);
    }

    #[test]
    fn delete_recover_purge() {
        let mut store = Store::default();
        set(&mut store, "s", "one");
        let deleted = store.delete("s", 5).unwrap();
        assert_eq!(
            deleted.deleted.unwrap().scheduled_purge_date,
            5 + 90 * 86_400
        );
        assert_eq!(store.get("s", None).unwrap_err().code, "SecretNotFound");
        assert_eq!(
            store
                .set("s", SetParams::default(), 6)
                .unwrap_err()
                .status
                .as_u16(),
            409
        );
        assert!(store.get_deleted("s").is_ok());
        store.recover("s").unwrap();
        assert_eq!(store.get("s", None).unwrap().version.value, "one");
        store.delete("s", 7).unwrap();
        store.purge("s").unwrap();
        assert!(store.get_deleted("s").is_err());
        set(&mut store, "s", "fresh");
        assert_eq!(store.versions("s", 0, 25).unwrap().items.len(), 1);
    }

    #[test]
    fn list_pages_by_key() {
        let mut store = Store::default();
        for name in ["c", "a", "b", "d", "e"] {
            set(&mut store, name, "v");
        }
        let p1 = store.list(false, None, 2);
        assert_eq!(
            p1.items.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let p2 = store.list(false, p1.next.as_deref(), 2);
        assert_eq!(
            p2.items.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["c", "d"]
        );
        let p3 = store.list(false, p2.next.as_deref(), 2);
        assert_eq!(p3.items.len(), 1);
        assert!(p3.next.is_none());
        let exact = store.list(false, None, 5);
        assert!(exact.next.is_none());
    }

    #[test]
    fn versions_page_by_index() {
        let mut store = Store::default();
        for i in 0..5 {
            set(&mut store, "s", &i.to_string());
        }
        let p1 = store.versions("s", 0, 3).unwrap();
        assert_eq!(p1.items.len(), 3);
        assert_eq!(p1.next.as_deref(), Some("3"));
        let p2 = store.versions("s", 3, 3).unwrap();
        assert_eq!(p2.items.len(), 2);
        assert!(p2.next.is_none());
        assert!(store.versions("s", 99, 3).unwrap().items.is_empty());
    }
}
