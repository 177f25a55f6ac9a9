//! Helpers shared by the local providers: the name rules, the permission policy, bounded
//! file reads that never echo contents, and version digests.

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use secrets_core::secrecy::zeroize::Zeroizing;
use secrets_core::{Error, ErrorKind, Result, check_name};
use sha2::{Digest, Sha256};

/// The default limit on the size of one file (and of one folder bundle): 1 MiB.
pub const DEFAULT_MAX_SIZE: u64 = 1024 * 1024;

/// What a provider does when a file holding a secret (or a key) can be read or written by
/// the file's group or by others (any of the mode bits `0o077`).
///
/// The default is [`Warn`](PermissionPolicy::Warn): one `tracing::warn!` event per file and
/// provider, naming the path and the mode, never the contents. A service opts into
/// [`Strict`](PermissionPolicy::Strict) to refuse such a file with
/// [`ErrorKind::InsecurePermissions`]. Key files (Fernet's `.config.key`) are always checked
/// strictly, whatever the policy.
///
/// Docker Swarm mounts secrets with mode `0444` and Kubernetes secret volumes default to
/// `0644`; under `Strict`, set `mode: 0400` (Docker) or `defaultMode: 0400` (Kubernetes).
///
/// On platforms without Unix permissions no check is made.
///
/// ```
/// use secrets_local::{FolderProvider, PermissionPolicy};
/// let folder = FolderProvider::new("/run/secrets").with_permission_policy(PermissionPolicy::Strict);
/// # let _ = folder;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PermissionPolicy {
    /// No check.
    Ignore,
    /// Log a warning (once per file) and go on.
    #[default]
    Warn,
    /// Refuse the file with [`ErrorKind::InsecurePermissions`].
    Strict,
}

/// The permission policy and the set of files already warned about, shared by clones of a
/// provider.
#[derive(Clone, Default)]
pub(crate) struct PermissionGuard {
    policy: PermissionPolicy,
    warned: Arc<Mutex<HashSet<PathBuf>>>,
}

impl std::fmt::Debug for PermissionGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.policy.fmt(f)
    }
}

impl PermissionGuard {
    pub(crate) fn new(policy: PermissionPolicy) -> Self {
        PermissionGuard {
            policy,
            warned: Arc::default(),
        }
    }

    pub(crate) fn policy(&self) -> PermissionPolicy {
        self.policy
    }

    /// Applies the policy to a file whose metadata is `meta`.
    pub(crate) fn check(
        &self,
        provider: &'static str,
        name: Option<&str>,
        path: &Path,
        meta: &Metadata,
    ) -> Result<()> {
        let Some(mode) = insecure_mode(meta) else {
            return Ok(());
        };
        match self.policy {
            PermissionPolicy::Ignore => Ok(()),
            PermissionPolicy::Strict => Err(insecure_error(provider, name, path, mode)),
            PermissionPolicy::Warn => {
                let first = self
                    .warned
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(path.to_path_buf());
                if first {
                    tracing::warn!(
                        provider,
                        path = %path.display(),
                        mode = format_args!("{mode:04o}"),
                        "a file holding secrets is accessible to its group or to others; \
                         run `chmod 600` on it (strict mode refuses such files)"
                    );
                }
                Ok(())
            }
        }
    }
}

/// The mode, when group or others have any permission bit.
#[cfg(unix)]
pub(crate) fn insecure_mode(meta: &Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

/// The mode, when group or others have any permission bit (never, without Unix permissions).
#[cfg(not(unix))]
pub(crate) fn insecure_mode(_meta: &Metadata) -> Option<u32> {
    None
}

pub(crate) fn insecure_error(
    provider: &'static str,
    name: Option<&str>,
    path: &Path,
    mode: u32,
) -> Error {
    let err = Error::new(ErrorKind::InsecurePermissions, provider).with_message(format!(
        "{} has mode {mode:04o}: its group or others can access it; run `chmod 600 {}`",
        path.display(),
        path.display()
    ));
    with_name(err, name)
}

fn with_name(err: Error, name: Option<&str>) -> Error {
    match name {
        Some(name) => err.with_secret(name),
        None => err,
    }
}

/// Checks the core rules and the rules of names that map to paths, and returns the
/// segments.
///
/// A name is one or more `/`-separated segments. Each segment is made of ASCII letters,
/// digits, `-`, `_` and `.`, and does not start with `.` (so `.`, `..`, `..data` and hidden
/// files can never be named). No leading, trailing or doubled `/`.
pub(crate) fn check_local_name<'a>(provider: &'static str, name: &'a str) -> Result<Vec<&'a str>> {
    check_name(provider, name)?;
    let invalid = |problem: &'static str| {
        Error::new(ErrorKind::InvalidName, provider)
            .with_secret(name.escape_debug().to_string())
            .with_message(problem)
    };
    let mut segments = Vec::new();
    for segment in name.split('/') {
        if segment.is_empty() {
            return Err(invalid(
                "the name has an empty segment (a leading, trailing or doubled `/`)",
            ));
        }
        if segment == "." || segment == ".." {
            return Err(invalid(
                "the name has a `.` or `..` segment (path traversal is not allowed)",
            ));
        }
        if segment.starts_with('.') {
            return Err(invalid("a name segment may not start with `.`"));
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(invalid(
                "a name segment may only hold ASCII letters, digits, `-`, `_` and `.`",
            ));
        }
        segments.push(segment);
    }
    Ok(segments)
}

/// Converts an I/O error about `path`. Its text is the OS's, which never holds file contents.
pub(crate) fn io_error(
    provider: &'static str,
    name: Option<&str>,
    path: &Path,
    err: std::io::Error,
) -> Error {
    use std::io::ErrorKind as Io;
    let (kind, what) = match err.kind() {
        Io::NotFound => (ErrorKind::NotFound, "does not exist"),
        Io::NotADirectory => (ErrorKind::NotFound, "does not exist (a parent is a file)"),
        Io::PermissionDenied => (
            ErrorKind::PermissionDenied,
            "cannot be read: permission denied",
        ),
        Io::InvalidData => (ErrorKind::Decode, "cannot be decoded"),
        Io::IsADirectory => (ErrorKind::InvalidConfig, "is a directory"),
        _ => (ErrorKind::Unavailable, "cannot be read"),
    };
    let err = Error::new(kind, provider)
        .with_message(format!("{} {what}", path.display()))
        .with_retryable(kind == ErrorKind::Unavailable)
        .with_source(err);
    with_name(err, name)
}

pub(crate) fn too_large(
    provider: &'static str,
    name: Option<&str>,
    path: &Path,
    max: u64,
) -> Error {
    with_name(
        Error::new(ErrorKind::TooLarge, provider).with_message(format!(
            "{} is larger than the limit of {max} bytes",
            path.display()
        )),
        name,
    )
}

/// Reads a whole regular file of at most `max` bytes after applying the permission policy.
/// The buffer is wiped on drop.
///
/// The type is checked before the file is opened, so a FIFO never blocks the reader.
pub(crate) fn read_file_limited(
    provider: &'static str,
    name: Option<&str>,
    path: &Path,
    max: u64,
    guard: &PermissionGuard,
) -> Result<Zeroizing<Vec<u8>>> {
    let not_regular = || {
        with_name(
            Error::new(ErrorKind::InvalidConfig, provider)
                .with_message(format!("{} is not a regular file", path.display())),
            name,
        )
    };
    let before = std::fs::metadata(path).map_err(|e| io_error(provider, name, path, e))?;
    if !before.is_file() {
        return Err(not_regular());
    }
    let mut file = File::open(path).map_err(|e| io_error(provider, name, path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| io_error(provider, name, path, e))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    guard.check(provider, name, path, &meta)?;
    if meta.len() > max {
        return Err(too_large(provider, name, path, max));
    }
    // Reserve the whole size up front so the buffer is not reallocated (a reallocation would
    // leave an unwiped copy behind).
    let capacity = usize::try_from(meta.len())
        .unwrap_or(usize::MAX)
        .saturating_add(64);
    let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
    (&mut file)
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| io_error(provider, name, path, e))?;
    if buf.len() as u64 > max {
        return Err(too_large(provider, name, path, max));
    }
    Ok(buf)
}

/// Moves the bytes into a vector whose capacity is exactly its length and wipes the old
/// buffer. `SecretValue` boxes its bytes, and boxing a vector with spare capacity
/// reallocates, which would leave an unwiped copy behind.
pub(crate) fn into_exact(buf: Zeroizing<Vec<u8>>) -> Vec<u8> {
    if buf.capacity() == buf.len() {
        let mut buf = buf;
        return std::mem::take(&mut *buf);
    }
    let mut exact = Vec::with_capacity(buf.len());
    exact.extend_from_slice(&buf);
    exact
}

/// Removes one trailing `\n` (or `\r\n`), as `echo value > file` adds one.
pub(crate) fn trim_one_newline(buf: &mut Vec<u8>) {
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
}

/// A hex SHA-256 digest of `parts`, each length-prefixed so `("ab", "c")` and `("a", "bc")`
/// differ, keyed with a per-process random salt when `salted`: a plain digest of a
/// low-entropy secret (a PIN) would let anyone who sees the version id guess the value.
pub(crate) fn digest<'a>(salted: bool, parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    if salted {
        hasher.update(process_salt());
    }
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let out = hasher.finalize();
    let mut hex = String::with_capacity(7 + 32);
    hex.push_str("sha256:");
    for byte in out.iter().take(16) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

fn process_salt() -> &'static [u8; 32] {
    static SALT: OnceLock<[u8; 32]> = OnceLock::new();
    SALT.get_or_init(|| {
        let mut salt = [0u8; 32];
        if getrandom::fill(&mut salt).is_err() {
            // No OS randomness: fall back to std's per-process random hasher keys.
            use std::hash::BuildHasher;
            let state = std::collections::hash_map::RandomState::new();
            for (i, chunk) in salt.chunks_mut(8).enumerate() {
                chunk.copy_from_slice(&state.hash_one(i).to_le_bytes());
            }
        }
        salt
    })
}

/// Writes `bytes` to a new file created with mode `0600`, for key files. An existing file is
/// never replaced: that is an [`ErrorKind::InvalidConfig`] error naming `what`.
#[cfg(feature = "fernet")]
pub(crate) fn write_new_private(
    provider: &'static str,
    what: &str,
    path: &Path,
    bytes: &[u8],
) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::new(ErrorKind::InvalidConfig, provider).with_message(format!(
                "the {what} {} already exists; it is never overwritten",
                path.display()
            ))
        } else {
            io_error(provider, None, path, e)
        }
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(provider, None, path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_map_to_paths() {
        assert_eq!(
            check_local_name("t", "cgi-chat/database").unwrap(),
            vec!["cgi-chat", "database"]
        );
        assert!(check_local_name("t", "db.main_1").is_ok());
        for bad in [
            "../x",
            "a/../b",
            "..",
            ".",
            "/abs",
            "a/",
            "a//b",
            "a/.hidden",
            "..data",
            "a\\b",
            "a b",
            "a\0b",
            "",
            "é",
        ] {
            let err = check_local_name("t", bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}");
        }
    }

    #[test]
    fn trims_exactly_one_newline() {
        for (input, want) in [
            (&b"pw\n"[..], &b"pw"[..]),
            (b"pw\r\n", b"pw"),
            (b"pw\n\n", b"pw\n"),
            (b"pw", b"pw"),
            (b"", b""),
        ] {
            let mut v = input.to_vec();
            trim_one_newline(&mut v);
            assert_eq!(v, want);
        }
    }

    #[test]
    fn digests_are_length_prefixed_and_salted() {
        let a = digest(false, [&b"ab"[..], b"c"]);
        let b = digest(false, [&b"a"[..], b"bc"]);
        assert_ne!(a, b);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 32);
        assert_ne!(digest(true, [&b"1234"[..]]), digest(false, [&b"1234"[..]]));
        assert_eq!(digest(true, [&b"1234"[..]]), digest(true, [&b"1234"[..]]));
    }
}
