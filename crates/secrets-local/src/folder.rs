//! Mounted secret folders: Docker's `/run/secrets`, Kubernetes secret volumes.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use secrets_core::secrecy::zeroize::Zeroizing;
use secrets_core::{
    Capabilities, Error, ErrorKind, Result, Secret, SecretProvider, SecretValue, VersionInfo,
    VersionSelector,
};

use crate::common::{
    DEFAULT_MAX_SIZE, PermissionGuard, PermissionPolicy, check_local_name, digest, into_exact,
    io_error, read_file_limited, too_large, trim_one_newline,
};

const PROVIDER: &str = "folder";

/// The symlink a Kubernetes secret (or config map) volume points at its current data.
pub const KUBERNETES_DATA_LINK: &str = "..data";

/// How many times a read is tried when the kubelet swaps (and deletes) the data folder under
/// it. The kubelet swaps at most every few seconds; a read takes microseconds.
const KUBE_ATTEMPTS: usize = 16;

/// Reads secrets from a folder of one file per key: Docker's `/run/secrets`, a Kubernetes
/// secret volume, or any folder laid out the same way.
///
/// # Mapping
///
/// A name's `/`-separated segments are path components under the root: `get("db-password")`
/// reads `<root>/db-password`, `get("cgi-chat/database")` reads `<root>/cgi-chat/database`.
/// Names follow the crate's name rules, so `../x`, `a/.hidden` and `..data` are
/// [`ErrorKind::InvalidName`] errors, and a file reached through a symlink must still be
/// inside the root.
///
/// - If the path is a **file**, the secret is its contents, with one trailing newline
///   removed (turn that off with [`with_trim_newline(false)`](Self::with_trim_newline)).
///   Bytes that are not UTF-8 are returned as a binary value (reading it as text is then an
///   [`ErrorKind::Decode`] error).
/// - If the path is a **folder**, the secret is a bundle: a JSON object with one string
///   member per regular file in it (`{"host":"db","password":"..."}`), content type
///   `application/json`, which the facade decodes into a typed config. Hidden entries (names
///   starting with `.`, such as Kubernetes' `..data`) and sub-folders are left out (a
///   sub-folder is its own secret: `get("cgi-chat/database/replica")`). A file that is not
///   UTF-8 makes the bundle an [`ErrorKind::Decode`] error naming the file.
///
/// Each file, and each whole bundle, is limited to [`with_max_size`](Self::with_max_size)
/// bytes (1 MiB by default); more is [`ErrorKind::TooLarge`].
///
/// # Versions and Kubernetes' atomic update
///
/// The kubelet writes a new secret version to a fresh folder `..2026_11_28_12_00_00.123456789`,
/// points a `..data_tmp` symlink at it and renames that over `..data`; the visible files are
/// symlinks through `..data`. When the path of a name is in such a volume (the volume folder
/// is the root, the named folder or any folder between), this provider resolves `..data`
/// **once per read** and reads everything from the folder it pointed at, then checks that
/// `..data` still points there (the kubelet deletes a folder only after moving `..data` off
/// it, and never reuses a name). So a bundle is always one whole version, never a mix or a
/// half-deleted folder; if `..data` moved during the read, the read starts again on the new
/// folder (after 16 swaps during one read it gives up with a retryable
/// [`ErrorKind::Unavailable`]). The version id is the timestamped folder's name, and
/// [`current_version`](SecretProvider::current_version) only reads the link (no contents).
///
/// In a plain folder (Docker) the version id is a SHA-256 digest of the file names and
/// contents, salted per process (so a version id never lets anyone test a guess of a short
/// value); the probe computes the same digest, reading the files and wiping the buffers.
/// Plain folders have no atomic update: write a new file and rename it into place.
///
/// Only the current version can be read: [`VersionSelector::Id`] of the current id works,
/// any other id is [`ErrorKind::NotFound`], and a stage is [`ErrorKind::Unsupported`].
///
/// # Permissions
///
/// Every file read is checked with the [`PermissionPolicy`] (warn by default; `strict`
/// refuses a file its group or others can access). Docker Swarm (`0444`) and Kubernetes
/// (`0644`) defaults need `mode: 0400` / `defaultMode: 0400` under strict mode.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use secrets_core::{SecretProvider, VersionSelector};
/// use secrets_local::FolderProvider;
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::create_dir_all(root.path().join("cgi-chat/database")).unwrap();
/// std::fs::write(root.path().join("cgi-chat/database/user"), "chat\n").unwrap();
/// std::fs::write(root.path().join("cgi-chat/database/password"), "s3cret\n").unwrap();
///
/// let folder = FolderProvider::new(root.path());
/// let bundle = folder.get("cgi-chat/database", &VersionSelector::Latest).await.unwrap();
/// assert_eq!(bundle.value().expose_text().unwrap(), r#"{"password":"s3cret","user":"chat"}"#);
/// assert_eq!(bundle.content_type(), Some("application/json"));
///
/// let one = folder.get("cgi-chat/database/password", &VersionSelector::Latest).await.unwrap();
/// assert_eq!(one.value().expose_text().unwrap(), "s3cret");
/// # })
/// ```
#[derive(Debug, Clone)]
pub struct FolderProvider {
    root: PathBuf,
    max_size: u64,
    trim_newline: bool,
    guard: PermissionGuard,
}

/// Where a name's path lives.
enum Layout {
    /// A plain folder: read the path as it is.
    Plain(PathBuf),
    /// Inside a Kubernetes volume: resolve `volume/..data`, then read `rest` below it.
    Kube { volume: PathBuf, rest: PathBuf },
}

/// What was read at a path, wiped on drop.
enum Contents {
    File(Zeroizing<Vec<u8>>),
    Bundle(Vec<(String, Zeroizing<Vec<u8>>)>),
}

impl FolderProvider {
    /// Reads secrets below `root` (such as `/run/secrets`).
    pub fn new(root: impl AsRef<Path>) -> Self {
        FolderProvider {
            root: root.as_ref().to_path_buf(),
            max_size: DEFAULT_MAX_SIZE,
            trim_newline: true,
            guard: PermissionGuard::default(),
        }
    }

    /// The largest file, or whole bundle, read in bytes (1 MiB by default).
    #[must_use]
    pub fn with_max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// Whether one trailing newline is removed from each file (on by default).
    #[must_use]
    pub fn with_trim_newline(mut self, trim: bool) -> Self {
        self.trim_newline = trim;
        self
    }

    /// Sets what happens when a file is accessible to group or others.
    #[must_use]
    pub fn with_permission_policy(mut self, policy: PermissionPolicy) -> Self {
        self.guard = PermissionGuard::new(policy);
        self
    }

    /// Shorthand for [`PermissionPolicy::Strict`].
    #[must_use]
    pub fn strict(self) -> Self {
        self.with_permission_policy(PermissionPolicy::Strict)
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path a secret name maps to (before any Kubernetes `..data` resolution).
    ///
    /// ```
    /// use secrets_local::FolderProvider;
    /// let f = FolderProvider::new("/run/secrets");
    /// assert_eq!(f.path_of("cgi-chat/database").unwrap(), std::path::Path::new("/run/secrets/cgi-chat/database"));
    /// assert!(f.path_of("../etc/passwd").is_err());
    /// ```
    pub fn path_of(&self, name: &str) -> Result<PathBuf> {
        let segments = check_local_name(PROVIDER, name)?;
        Ok(segments.iter().fold(self.root.clone(), |p, s| p.join(s)))
    }

    fn layout(&self, segments: &[&str]) -> Layout {
        let mut dirs = Vec::with_capacity(segments.len() + 1);
        let mut dir = self.root.clone();
        dirs.push(dir.clone());
        for s in segments {
            dir = dir.join(s);
            dirs.push(dir.clone());
        }
        for (k, dir) in dirs.iter().enumerate().rev() {
            let is_link = fs::symlink_metadata(dir.join(KUBERNETES_DATA_LINK))
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            if is_link {
                return Layout::Kube {
                    volume: dir.clone(),
                    rest: segments[k..].iter().collect(),
                };
            }
        }
        Layout::Plain(dir)
    }

    /// Resolves `volume/..data` to the timestamped folder's name.
    fn resolve_data_link(&self, name: &str, volume: &Path) -> Result<String> {
        let link = volume.join(KUBERNETES_DATA_LINK);
        let target = fs::read_link(&link).map_err(|e| io_error(PROVIDER, Some(name), &link, e))?;
        let mut components = target.components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(c)), None) => match c.to_str() {
                Some(s) if s.starts_with("..") && s != ".." && !s.contains('/') => {
                    Ok(s.to_string())
                }
                _ => Err(bad_link(name, &link)),
            },
            _ => Err(bad_link(name, &link)),
        }
    }

    /// Checks that `path`, with symlinks resolved, is inside the root.
    fn check_inside_root(&self, name: &str, path: &Path) -> Result<()> {
        let root = fs::canonicalize(&self.root)
            .map_err(|e| io_error(PROVIDER, Some(name), &self.root, e))?;
        let real = fs::canonicalize(path).map_err(|e| io_error(PROVIDER, Some(name), path, e))?;
        if real.starts_with(&root) {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::InvalidConfig, PROVIDER)
                .with_secret(name)
                .with_message(format!(
                    "{} resolves outside the secret folder {}",
                    path.display(),
                    self.root.display()
                )))
        }
    }

    fn read_contents(&self, name: &str, path: &Path) -> Result<Contents> {
        let meta = fs::metadata(path).map_err(|e| io_error(PROVIDER, Some(name), path, e))?;
        self.check_inside_root(name, path)?;
        if !meta.is_dir() {
            let buf = read_file_limited(PROVIDER, Some(name), path, self.max_size, &self.guard)?;
            return Ok(Contents::File(buf));
        }
        let mut entries = Vec::new();
        let listing = fs::read_dir(path).map_err(|e| io_error(PROVIDER, Some(name), path, e))?;
        for entry in listing {
            let entry = entry.map_err(|e| io_error(PROVIDER, Some(name), path, e))?;
            let file_name = entry.file_name();
            let Some(key) = file_name.to_str() else {
                tracing::debug!(
                    provider = PROVIDER,
                    secret = name,
                    "skipping a file whose name is not UTF-8"
                );
                continue;
            };
            if key.starts_with('.') {
                continue;
            }
            let file = entry.path();
            let file_meta =
                fs::metadata(&file).map_err(|e| io_error(PROVIDER, Some(name), &file, e))?;
            if !file_meta.is_file() {
                continue;
            }
            self.check_inside_root(name, &file)?;
            entries.push((key.to_string(), file));
        }
        entries.sort();
        let mut total = 0u64;
        let mut out = Vec::with_capacity(entries.len());
        for (key, file) in entries {
            let buf = read_file_limited(PROVIDER, Some(name), &file, self.max_size, &self.guard)?;
            total += buf.len() as u64;
            if total > self.max_size {
                return Err(
                    too_large(PROVIDER, Some(name), path, self.max_size).with_message(format!(
                        "the files in {} add up to more than the limit of {} bytes",
                        path.display(),
                        self.max_size
                    )),
                );
            }
            out.push((key, buf));
        }
        Ok(Contents::Bundle(out))
    }

    /// Reads the contents of `name` with its version id and creation time.
    fn read_versioned(&self, name: &str) -> Result<(Contents, String, Option<SystemTime>)> {
        let segments = check_local_name(PROVIDER, name)?;
        match self.layout(&segments) {
            Layout::Plain(path) => {
                let contents = self.read_contents(name, &path)?;
                let version = contents_digest(&contents);
                Ok((contents, version, None))
            }
            Layout::Kube { volume, rest } => {
                for _ in 0..KUBE_ATTEMPTS {
                    let ts = self.resolve_data_link(name, &volume)?;
                    let data_dir = volume.join(&ts);
                    let created = fs::metadata(&data_dir).and_then(|m| m.modified()).ok();
                    let read = self.read_contents(name, &join_rest(&data_dir, &rest));
                    // The kubelet deletes a data folder only after `..data` has moved off it,
                    // and never reuses a folder name. So if `..data` still points at `ts`
                    // now, nothing was deleted during the read and it saw one whole version.
                    // Otherwise (a file vanished, or the listing may be partial) read again.
                    let still = self.resolve_data_link(name, &volume)?;
                    if still == ts {
                        return read.map(|contents| (contents, ts, created));
                    }
                    tracing::debug!(
                        provider = PROVIDER,
                        secret = name,
                        "the volume was swapped during a read; reading again"
                    );
                }
                Err(changing(name, &volume))
            }
        }
    }

    /// The version probe, without `async`: the cheap check behind
    /// [`current_version`](SecretProvider::current_version).
    pub(crate) fn probe(&self, name: &str) -> Result<VersionInfo> {
        let segments = check_local_name(PROVIDER, name)?;
        match self.layout(&segments) {
            Layout::Kube { volume, rest } => {
                for _ in 0..KUBE_ATTEMPTS {
                    let ts = self.resolve_data_link(name, &volume)?;
                    let data_dir = volume.join(&ts);
                    let target = join_rest(&data_dir, &rest);
                    let found = fs::metadata(&target);
                    let created = fs::metadata(&data_dir).and_then(|m| m.modified()).ok();
                    if self.resolve_data_link(name, &volume)? == ts {
                        found.map_err(|e| io_error(PROVIDER, Some(name), &target, e))?;
                        return Ok(VersionInfo::new(ts).with_created(created));
                    }
                }
                Err(changing(name, &volume))
            }
            Layout::Plain(_) => {
                let (_contents, id, _) = self.read_versioned(name)?;
                Ok(VersionInfo::new(id))
            }
        }
    }

    fn to_value(&self, name: &str, contents: Contents) -> Result<(SecretValue, bool)> {
        match contents {
            Contents::File(mut buf) => {
                if self.trim_newline {
                    trim_one_newline(&mut buf);
                }
                Ok((SecretValue::from_utf8_or_bytes(into_exact(buf)), false))
            }
            Contents::Bundle(mut files) => {
                for (key, buf) in &mut files {
                    if self.trim_newline {
                        trim_one_newline(buf);
                    }
                    if std::str::from_utf8(buf).is_err() {
                        return Err(Error::new(ErrorKind::Decode, PROVIDER)
                            .with_secret(name)
                            .with_message(format!(
                                "the file `{key}` is not UTF-8 text, so the folder cannot be \
                                 read as a JSON bundle (read it alone as `{name}/{key}`)"
                            )));
                    }
                }
                let json = bundle_json(&files)?;
                Ok((SecretValue::text(json.as_str()), true))
            }
        }
    }
}

fn changing(name: &str, volume: &Path) -> Error {
    Error::new(ErrorKind::Unavailable, PROVIDER)
        .with_secret(name)
        .with_message(format!(
            "{} was swapped {KUBE_ATTEMPTS} times during one read; try again",
            volume.display()
        ))
}

/// `dir/rest`, without the trailing `/` that joining an empty path adds.
fn join_rest(dir: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(rest)
    }
}

fn bad_link(name: &str, link: &Path) -> Error {
    Error::new(ErrorKind::InvalidConfig, PROVIDER)
        .with_secret(name)
        .with_message(format!(
            "{} does not point at a `..<timestamp>` folder beside it",
            link.display()
        ))
}

fn contents_digest(contents: &Contents) -> String {
    match contents {
        Contents::File(buf) => digest(true, [&b"file"[..], &buf[..]]),
        Contents::Bundle(files) => digest(
            true,
            std::iter::once(&b"bundle"[..])
                .chain(files.iter().flat_map(|(k, v)| [k.as_bytes(), &v[..]])),
        ),
    }
}

/// The exact length of `s` once escaped as a JSON string body (as `serde_json` does it).
fn escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// Builds `{"key":"value",...}` into a buffer sized up front and wiped on drop, so no
/// unwiped copy of a value is left behind by a reallocation.
fn bundle_json(files: &[(String, Zeroizing<Vec<u8>>)]) -> Result<Zeroizing<String>> {
    let mut texts = Vec::with_capacity(files.len());
    // `{` `}`, and per member two pairs of quotes, a colon and a comma (one too many).
    let mut capacity = 2;
    for (key, buf) in files {
        // Checked by the caller; a failure here is a bug, reported without the value.
        let text = std::str::from_utf8(buf)
            .map_err(|_| Error::new(ErrorKind::Decode, PROVIDER).with_message("not UTF-8"))?;
        capacity += escaped_len(key) + escaped_len(text) + 6;
        texts.push((key.as_str(), text));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    out.push(b'{');
    for (n, (key, text)) in texts.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key).map_err(json_error)?;
        out.push(b':');
        serde_json::to_writer(&mut *out, text).map_err(json_error)?;
    }
    out.push(b'}');
    let bytes = std::mem::take(&mut *out);
    String::from_utf8(bytes).map(Zeroizing::new).map_err(|e| {
        // Wipe the bytes before reporting.
        drop(Zeroizing::new(e.into_bytes()));
        Error::new(ErrorKind::Decode, PROVIDER).with_message("the JSON bundle is not UTF-8")
    })
}

fn json_error(_: serde_json::Error) -> Error {
    // serde_json's text may quote input: never keep it.
    Error::new(ErrorKind::Decode, PROVIDER).with_message("cannot encode the bundle as JSON")
}

#[async_trait]
impl SecretProvider for FolderProvider {
    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_version_probe()
    }

    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        check_local_name(PROVIDER, name)?;
        let wanted = match version {
            VersionSelector::Latest => None,
            VersionSelector::Id(id) => Some(id.as_str()),
            other => {
                return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                    .with_secret(name)
                    .with_message(format!(
                        "a secret folder has no stages ({other} was asked for)"
                    )));
            }
        };
        let (contents, id, created) = self.read_versioned(name)?;
        if let Some(wanted) = wanted
            && wanted != id
        {
            return Err(Error::new(ErrorKind::NotFound, PROVIDER)
                .with_secret(name)
                .with_message(format!(
                    "version {wanted} is not the current version (a secret folder keeps \
                     only the current one)"
                )));
        }
        let (value, json) = self.to_value(name, contents)?;
        let secret =
            Secret::new(name, value).with_version(VersionInfo::new(id).with_created(created));
        Ok(if json {
            secret.with_content_type(Some("application/json".to_string()))
        } else {
            secret
        })
    }

    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        self.probe(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_len_matches_serde_json() {
        for s in [
            "plain",
            "q\"uote\\",
            "nl\n\r\t\u{8}\u{c}",
            "\u{1}\u{1f}",
            "é ü 😀 /",
        ] {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(escaped_len(s) + 2, json.len(), "{s:?}");
        }
    }
}
