//! The KV secrets engine, versions 1 and 2: names, reads, the version probe, mount detection.

use std::collections::HashMap;
use std::time::SystemTime;

use secrets_core::{
    Error, ErrorKind, Result, Secret, SecretValue, VersionInfo, VersionSelector, check_name,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::PROVIDER;
use crate::http::encode_path;
use crate::provider::Core;

/// The mount used for plain names unless configured otherwise.
pub const DEFAULT_KV_MOUNT: &str = "secret";

/// The content type recorded on secrets this provider returns: the value is a JSON object.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// The version of the KV secrets engine on a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KvVersion {
    /// KV version 1: one value per path, no versions.
    V1,
    /// KV version 2: versioned values under `<mount>/data/`, metadata under
    /// `<mount>/metadata/` (the default, as on Vault's and OpenBao's `secret/` mount).
    #[default]
    V2,
    /// Ask Vault once (`sys/internal/ui/mounts/<mount>`, which any token that can use the mount
    /// may call) and remember the answer.
    Detect,
}

impl KvVersion {
    /// Parses `1`, `2`, `v1`, `v2` or `auto`/`detect`.
    pub fn parse(text: &str) -> Option<KvVersion> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "v1" | "kv1" | "kv-v1" => Some(KvVersion::V1),
            "2" | "v2" | "kv2" | "kv-v2" => Some(KvVersion::V2),
            "auto" | "detect" => Some(KvVersion::Detect),
            _ => None,
        }
    }
}

/// Splits a secret name into a KV mount and a path under it.
///
/// - `cgi-chat/database` is the path `cgi-chat/database` under `default_mount`;
/// - `mount:path` names the mount explicitly, e.g. `kv-legacy:cgi-chat/database` or
///   `team/kv:app/db` (a mount path may have several segments); a leading `:` means the
///   default mount (`:a:b` reads the path `a:b`, for the rare path that holds a colon).
///
/// The path may not start or end with `/`, hold an empty segment (`a//b`) or a `.`/`..`
/// segment; such a name is an [`ErrorKind::InvalidName`] error. Each segment is
/// percent-encoded when sent, so a name can never reach another Vault endpoint.
///
/// ```
/// use secrets_vault::split_name;
/// assert_eq!(split_name("cgi-chat/database", "secret").unwrap(),
///            ("secret".to_string(), "cgi-chat/database".to_string()));
/// assert_eq!(split_name("kv-legacy:cgi-chat/database", "secret").unwrap(),
///            ("kv-legacy".to_string(), "cgi-chat/database".to_string()));
/// assert!(split_name("a/../sys/seal", "secret").is_err());
/// ```
pub fn split_name(name: &str, default_mount: &str) -> Result<(String, String)> {
    check_name(PROVIDER, name)?;
    let (mount, path) = match name.split_once(':') {
        Some(("", path)) => (default_mount, path),
        Some((mount, path)) => (mount, path),
        None => (default_mount, name),
    };
    let mount = mount.trim_matches('/');
    let bad = |problem: &str| {
        Err(Error::new(ErrorKind::InvalidName, PROVIDER)
            .with_secret(name)
            .with_message(problem.to_string()))
    };
    if mount.is_empty() {
        return bad("the mount is empty");
    }
    for (what, text) in [("mount", mount), ("path", path)] {
        if text.is_empty() {
            return bad(&format!("the {what} is empty"));
        }
        if text.starts_with('/') || text.ends_with('/') {
            return bad(&format!("the {what} starts or ends with `/`"));
        }
        if text
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return bad(&format!("the {what} has an empty, `.` or `..` segment"));
        }
    }
    Ok((mount.to_string(), path.to_string()))
}

#[derive(Deserialize)]
struct V2Envelope<'a> {
    #[serde(borrow)]
    data: Option<V2Data<'a>>,
}

#[derive(Deserialize)]
struct V2Data<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    metadata: Option<VersionMeta>,
}

#[derive(Deserialize, Default)]
struct VersionMeta {
    #[serde(default)]
    version: u64,
    #[serde(default)]
    created_time: String,
    #[serde(default)]
    deletion_time: String,
    #[serde(default)]
    destroyed: bool,
}

#[derive(Deserialize)]
struct V1Envelope<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MetadataEnvelope {
    data: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    current_version: u64,
    #[serde(default)]
    versions: HashMap<String, VersionMeta>,
}

#[derive(Deserialize)]
struct MountEnvelope {
    data: Option<MountData>,
}

#[derive(Deserialize)]
struct MountData {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    options: Option<HashMap<String, String>>,
}

fn rfc3339(text: &str) -> Option<SystemTime> {
    if text.is_empty() {
        return None;
    }
    humantime::parse_rfc3339_weak(text).ok()
}

/// Why a version cannot be read, when its metadata says it was deleted or destroyed.
fn gone(meta: &VersionMeta) -> Option<String> {
    if meta.destroyed {
        Some(format!("version {} was destroyed", meta.version))
    } else if !meta.deletion_time.is_empty() {
        Some(format!(
            "version {} was deleted at {} (undelete it to read it)",
            meta.version, meta.deletion_time
        ))
    } else {
        None
    }
}

impl Core {
    /// The KV version of `mount`: configured, remembered, or asked once.
    pub(crate) async fn kv_version(&self, mount: &str) -> Result<KvVersion> {
        let configured = self
            .kv_mounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(mount)
            .copied();
        match configured {
            Some(KvVersion::Detect) | None => {}
            Some(v) => return Ok(v),
        }
        let reply = self
            .call_get(
                encode_path(&["sys/internal/ui/mounts", mount]),
                "the mount preflight",
            )
            .await?;
        let detected = match reply.status.as_u16() {
            200 => {
                let env: MountEnvelope = reply.json("the mount preflight")?;
                let data = env.data.ok_or_else(|| {
                    Error::new(ErrorKind::Other, PROVIDER)
                        .with_message(format!("the preflight of mount `{mount}` has no data"))
                })?;
                match data.kind.as_str() {
                    "kv" | "generic" => {
                        match data.options.as_ref().and_then(|o| o.get("version")) {
                            Some(v) if v == "2" => KvVersion::V2,
                            _ => KvVersion::V1,
                        }
                    }
                    "cubbyhole" => KvVersion::V1,
                    other => {
                        return Err(Error::new(ErrorKind::InvalidConfig, PROVIDER).with_message(
                            format!(
                                "mount `{mount}` is a `{other}` secrets engine, not KV; bind \
                                 dynamic credentials with with_database_credentials"
                            ),
                        ));
                    }
                }
            }
            // Vault before 0.10 has no preflight endpoint and no KV v2.
            404 => KvVersion::V1,
            _ => {
                // Not allowed to ask (or another failure): assume v2 for this call and let the
                // read itself give the real answer. Not remembered.
                tracing::debug!(
                    provider = PROVIDER,
                    mount,
                    status = reply.status.as_u16(),
                    "cannot detect the KV version; assuming v2"
                );
                return Ok(KvVersion::V2);
            }
        };
        tracing::debug!(provider = PROVIDER, mount, version = ?detected, "detected the KV version");
        self.kv_mounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(mount.to_string(), detected);
        Ok(detected)
    }

    /// Reads a KV entry.
    pub(crate) async fn kv_get(&self, name: &str, selector: &VersionSelector) -> Result<Secret> {
        let (mount, path) = split_name(name, &self.kv_default_mount)?;
        match self
            .kv_version(&mount)
            .await
            .map_err(|e| e.with_secret(name))?
        {
            KvVersion::V1 => self.kv1_get(name, &mount, &path, selector).await,
            _ => self.kv2_get(name, &mount, &path, selector).await,
        }
    }

    async fn kv1_get(
        &self,
        name: &str,
        mount: &str,
        path: &str,
        selector: &VersionSelector,
    ) -> Result<Secret> {
        if *selector != VersionSelector::Latest {
            return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                .with_secret(name)
                .with_message(format!(
                    "mount `{mount}` is KV version 1, which has no versions ({selector} asked)"
                )));
        }
        let what = format!("reading `{path}` on KV v1 mount `{mount}`");
        let reply = self.call_get(encode_path(&[mount, path]), &what).await?;
        if !reply.status.is_success() {
            return Err(reply.into_error(&what).with_secret(name));
        }
        let env: V1Envelope<'_> = reply.json(&what).map_err(|e| e.with_secret(name))?;
        let data = env.data.ok_or_else(|| no_data(name, &what))?;
        Ok(Secret::new(name, SecretValue::text(data.get()))
            .with_content_type(Some(CONTENT_TYPE_JSON.to_string())))
    }

    async fn kv2_get(
        &self,
        name: &str,
        mount: &str,
        path: &str,
        selector: &VersionSelector,
    ) -> Result<Secret> {
        let mut url = encode_path(&[mount, "data", path]);
        match selector {
            VersionSelector::Latest => {}
            VersionSelector::Id(id) => {
                let n = id
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        Error::new(ErrorKind::NotFound, PROVIDER)
                            .with_secret(name)
                            .with_message(format!(
                                "KV v2 version ids are positive integers, not {id:?}"
                            ))
                    })?;
                url.push_str(&format!("?version={n}"));
            }
            other => {
                return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                    .with_secret(name)
                    .with_message(format!(
                        "KV v2 selects versions by number only ({other} asked)"
                    )));
            }
        }
        let what = format!("reading `{path}` ({selector}) on KV v2 mount `{mount}`");
        let reply = self.call_get(url, &what).await?;
        let status = reply.status.as_u16();
        if status == 404 {
            // A deleted or destroyed version answers 404 with its metadata.
            if let Ok(env) = reply.json::<V2Envelope<'_>>(&what)
                && let Some(meta) = env.data.and_then(|d| d.metadata)
                && let Some(why) = gone(&meta)
            {
                return Err(Error::new(ErrorKind::Disabled, PROVIDER)
                    .with_secret(name)
                    .with_message(why));
            }
        }
        if !reply.status.is_success() {
            return Err(reply.into_error(&what).with_secret(name));
        }
        let env: V2Envelope<'_> = reply.json(&what).map_err(|e| e.with_secret(name))?;
        let data = env.data.ok_or_else(|| no_data(name, &what))?;
        let meta = data.metadata.unwrap_or_default();
        let Some(value) = data.data else {
            return Err(match gone(&meta) {
                Some(why) => Error::new(ErrorKind::Disabled, PROVIDER)
                    .with_secret(name)
                    .with_message(why),
                None => no_data(name, &what),
            });
        };
        let info =
            VersionInfo::new(meta.version.to_string()).with_created(rfc3339(&meta.created_time));
        Ok(Secret::new(name, SecretValue::text(value.get()))
            .with_version(info)
            .with_content_type(Some(CONTENT_TYPE_JSON.to_string())))
    }

    /// The current KV v2 version from `<mount>/metadata/<path>`, without the value.
    pub(crate) async fn kv_current_version(&self, name: &str) -> Result<VersionInfo> {
        let (mount, path) = split_name(name, &self.kv_default_mount)?;
        if self
            .kv_version(&mount)
            .await
            .map_err(|e| e.with_secret(name))?
            == KvVersion::V1
        {
            return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                .with_secret(name)
                .with_message(format!(
                    "mount `{mount}` is KV version 1, which has no versions"
                )));
        }
        let what = format!("the metadata of `{path}` on KV v2 mount `{mount}`");
        let reply = self
            .call_get(encode_path(&[&mount, "metadata", &path]), &what)
            .await?;
        if reply.status.as_u16() == 403 {
            // Many policies grant `<mount>/data/*` only. Let the caller refetch instead; the
            // read says whether the secret itself is allowed.
            tracing::debug!(
                provider = PROVIDER,
                secret = name,
                "the metadata endpoint is denied; no cheap version probe for this secret"
            );
            return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                .with_secret(name)
                .with_message(format!(
                    "permission denied on {mount}/metadata/{path}: grant `read` there for the \
                     cheap version probe"
                )));
        }
        if !reply.status.is_success() {
            return Err(reply.into_error(&what).with_secret(name));
        }
        let env: MetadataEnvelope = reply.json(&what).map_err(|e| e.with_secret(name))?;
        let meta = env.data.ok_or_else(|| no_data(name, &what))?;
        if meta.current_version == 0 {
            return Err(Error::new(ErrorKind::NotFound, PROVIDER)
                .with_secret(name)
                .with_message("the secret has no versions"));
        }
        let id = meta.current_version.to_string();
        let mut version = meta
            .versions
            .get(&id)
            .map_or_else(VersionMeta::default, |v| VersionMeta {
                version: meta.current_version,
                created_time: v.created_time.clone(),
                deletion_time: v.deletion_time.clone(),
                destroyed: v.destroyed,
            });
        version.version = meta.current_version;
        if let Some(why) = gone(&version) {
            return Err(Error::new(ErrorKind::Disabled, PROVIDER)
                .with_secret(name)
                .with_message(why));
        }
        Ok(VersionInfo::new(id).with_created(rfc3339(&version.created_time)))
    }
}

fn no_data(name: &str, what: &str) -> Error {
    Error::new(ErrorKind::Other, PROVIDER)
        .with_secret(name)
        .with_message(format!("the answer to {what} has no data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_mount_and_path() {
        let s = |n: &str| split_name(n, "secret");
        assert_eq!(
            s("cgi-chat/database").unwrap(),
            ("secret".into(), "cgi-chat/database".into())
        );
        assert_eq!(
            s("team/kv:app/db").unwrap(),
            ("team/kv".into(), "app/db".into())
        );
        assert_eq!(s(":a:b").unwrap(), ("secret".into(), "a:b".into()));
        assert_eq!(s("/kv/:x").unwrap(), ("kv".into(), "x".into()));
        for bad in [
            "", "a//b", "/a", "a/", "a/../b", "./a", "kv:", "kv:..", " a",
        ] {
            let e = s(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{bad:?}");
        }
    }

    #[test]
    fn kv_version_parses() {
        assert_eq!(KvVersion::parse("1"), Some(KvVersion::V1));
        assert_eq!(KvVersion::parse("V2"), Some(KvVersion::V2));
        assert_eq!(KvVersion::parse("auto"), Some(KvVersion::Detect));
        assert_eq!(KvVersion::parse("3"), None);
    }

    #[test]
    fn deleted_and_destroyed_versions() {
        let mut m = VersionMeta {
            version: 3,
            ..VersionMeta::default()
        };
        assert!(gone(&m).is_none());
        m.deletion_time = "2026-01-01T00:00:00Z".into();
        assert!(gone(&m).unwrap().contains("deleted"));
        m.destroyed = true;
        assert!(gone(&m).unwrap().contains("destroyed"));
        assert!(rfc3339("2026-11-28T15:07:35.74704495Z").is_some());
        assert!(rfc3339("").is_none());
    }
}
