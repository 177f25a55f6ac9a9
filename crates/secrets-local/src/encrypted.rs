//! Fernet-encrypted YAML config files, compatible with Python's `cryptography.fernet`.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use secrets_core::secrecy::zeroize::Zeroizing;
use secrets_core::{
    Capabilities, Error, ErrorKind, Result, Secret, SecretProvider, SecretValue, VersionInfo,
    VersionSelector,
};
use serde_norway::Value;

use crate::common::{
    DEFAULT_MAX_SIZE, PermissionGuard, PermissionPolicy, check_local_name, digest, into_exact,
    io_error, read_file_limited, write_new_private,
};

const PROVIDER: &str = "encrypted-file";

/// The guide's name for the encrypted document.
pub const DEFAULT_CONFIG_FILE: &str = "config.enc.yaml";
/// The guide's name for the key file.
pub const DEFAULT_KEY_FILE: &str = ".config.key";
/// The age-encrypted config's file name in [`EncryptedYamlProvider::age_in_dir`].
#[cfg(feature = "age")]
pub const DEFAULT_AGE_CONFIG_FILE: &str = "config.age.yaml";
/// The age identity's file name in [`EncryptedYamlProvider::age_in_dir`].
#[cfg(feature = "age")]
pub const DEFAULT_AGE_IDENTITY_FILE: &str = ".config.agekey";

/// Fernet's allowed clock skew: a token stamped further in the future is refused.
const MAX_CLOCK_SKEW_SECS: u64 = 60;
/// Version (1) + timestamp (8) + IV (16) + HMAC (32).
const TOKEN_OVERHEAD: usize = 57;
/// The largest key file read.
const MAX_KEY_FILE: u64 = 1024;

/// A Fernet key: 32 random bytes in URL-safe base64 (44 characters), as made by Python's
/// `Fernet.generate_key()`.
///
/// `Debug` prints `FernetKey([REDACTED])`; the text is wiped on drop.
///
/// ```
/// use secrets_local::FernetKey;
/// let key = FernetKey::generate();
/// assert_eq!(key.expose_base64().len(), 44);
/// assert_eq!(format!("{key:?}"), "FernetKey([REDACTED])");
/// assert!(FernetKey::from_base64("not a key").is_err());
/// ```
#[derive(Clone)]
pub struct FernetKey(Zeroizing<String>);

impl fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FernetKey({})", secrets_core::REDACTED)
    }
}

impl FernetKey {
    /// A new random key (from the OS's random source).
    pub fn generate() -> Self {
        FernetKey(Zeroizing::new(fernet::Fernet::generate_key()))
    }

    /// Parses a key in URL-safe base64, with or without `=` padding; surrounding whitespace
    /// (a trailing newline) is ignored. Anything but 32 bytes is an
    /// [`ErrorKind::InvalidConfig`] error that does not quote the input.
    pub fn from_base64(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        let raw = Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(trimmed.trim_end_matches('='))
                .map_err(|_| bad_key())?,
        );
        if raw.len() != 32 {
            return Err(bad_key());
        }
        Ok(FernetKey(Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE.encode(&raw[..]),
        )))
    }

    /// Reads a key file. The file must not be accessible to its group or to others
    /// (`chmod 600`): otherwise this is an [`ErrorKind::InsecurePermissions`] error, whatever
    /// the provider's [`PermissionPolicy`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let guard = PermissionGuard::new(PermissionPolicy::Strict);
        let buf = read_file_limited(PROVIDER, None, path, MAX_KEY_FILE, &guard).map_err(|e| {
            if e.is_not_found() {
                Error::new(ErrorKind::InvalidConfig, PROVIDER)
                    .with_message(format!("the key file {} does not exist", path.display()))
            } else {
                e
            }
        })?;
        let text = std::str::from_utf8(&buf).map_err(|_| bad_key_file(path))?;
        Self::from_base64(text).map_err(|_| bad_key_file(path))
    }

    /// Writes the key to a new file created with mode `0600` (an existing file is never
    /// replaced: that is an [`ErrorKind::InvalidConfig`] error). No newline is added, as
    /// Python's `open(path, "wb").write(key)` does.
    pub fn write_new(&self, path: impl AsRef<Path>) -> Result<()> {
        write_new_private(PROVIDER, "key file", path.as_ref(), self.0.as_bytes())
    }

    /// The key in URL-safe base64 with padding.
    pub fn expose_base64(&self) -> &str {
        &self.0
    }

    fn fernet(&self) -> Result<fernet::Fernet> {
        fernet::Fernet::new(&self.0).ok_or_else(bad_key)
    }
}

fn bad_key() -> Error {
    Error::new(ErrorKind::InvalidConfig, PROVIDER)
        .with_message("not a Fernet key: expected 32 bytes in URL-safe base64")
}

fn bad_key_file(path: &Path) -> Error {
    Error::new(ErrorKind::InvalidConfig, PROVIDER).with_message(format!(
        "{} is not a Fernet key file: expected 32 bytes in URL-safe base64",
        path.display()
    ))
}

/// Where the provider gets its key.
#[derive(Clone, Debug)]
enum KeySource {
    File(PathBuf),
    Inline(FernetKey),
    /// An age identity file; files are written for it and for the extra recipients.
    #[cfg(feature = "age")]
    Age {
        identity: PathBuf,
        recipients: Vec<String>,
    },
}

/// Reads and writes a Fernet-encrypted YAML document: the guide's `config.enc.yaml`, with its
/// key in `.config.key`.
///
/// # Format
///
/// The file holds one Fernet token (URL-safe base64, as Python's `Fernet(key).encrypt(...)`
/// writes it; surrounding whitespace is ignored) whose plaintext is a UTF-8 YAML document.
/// The key file holds the key as `Fernet.generate_key()` writes it. Files written by Python's
/// `cryptography.fernet` + `yaml.safe_dump` open here and files written here open there.
///
/// # Mapping
///
/// A name's `/`-separated segments are keys into nested mappings: `database` is the
/// top-level key `database`, `cgi-chat/database` is `cgi-chat` → `database`. At each level
/// the key is looked up as written, then with `-` turned into `_` (so `cgi-chat/database`
/// also finds `cgi_chat: {database: ...}`); a numeric segment indexes a sequence. The value:
///
/// - a string is returned as it is; a number or boolean as its text (`5432`, `true`);
/// - a mapping or a sequence is returned as JSON text (content type `application/json`), so
///   the facade can decode it into a typed config such as `DatabaseConfig`;
/// - a missing key or a `null` is [`ErrorKind::NotFound`].
///
/// # Errors
///
/// | problem | kind |
/// |---|---|
/// | the config file does not exist | `NotFound` |
/// | the key file is missing or not a key | `InvalidConfig` |
/// | the key file is accessible to group/others | `InsecurePermissions` (always) |
/// | the file is truncated, not base64 or not a Fernet token | `Decode` |
/// | wrong key, or the file was modified (the HMAC does not match; Fernet cannot tell these apart) | `Decode` |
/// | the decrypted document is not UTF-8 or not YAML | `Decode` (line and column only) |
/// | the file is larger than the limit (1 MiB by default) | `TooLarge` |
///
/// No message ever holds the plaintext or the key.
///
/// # Versions
///
/// The version id is a SHA-256 digest of the encrypted file.
/// [`current_version`](SecretProvider::current_version) also decrypts the file, so that a
/// name the document lacks is `NotFound` as on every provider (a local file decrypts in
/// microseconds). Only the current version can be read.
///
/// # age
///
/// With the `age` feature, [`EncryptedYamlProvider::age`] reads and writes the same YAML
/// documents encrypted with age instead (public-key; see [`AgeKey`](crate::AgeKey) for why).
///
/// # Memory
///
/// The decrypted bytes and returned values are wiped on drop; the parsed YAML tree
/// (`serde_norway::Value`) is not, so its strings are freed without wiping.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use secrets_core::{SecretProvider, VersionSelector};
/// use secrets_local::EncryptedYamlProvider;
///
/// let dir = tempfile::tempdir().unwrap();
/// let config = EncryptedYamlProvider::in_dir(dir.path());
/// config.create_if_missing().unwrap(); // a key file with mode 0600 and an empty document
/// config.write_document("database:\n  host: db\n  port: 5432\n  password: s3cret\n").unwrap();
///
/// let db = config.get("database", &VersionSelector::Latest).await.unwrap();
/// assert_eq!(db.value().expose_text().unwrap(), r#"{"host":"db","port":5432,"password":"s3cret"}"#);
/// let pw = config.get("database/password", &VersionSelector::Latest).await.unwrap();
/// assert_eq!(pw.value().expose_text().unwrap(), "s3cret");
///
/// config.set("database/password", "n3w").unwrap();
/// let pw = config.get("database/password", &VersionSelector::Latest).await.unwrap();
/// assert_eq!(pw.value().expose_text().unwrap(), "n3w");
/// # })
/// ```
#[derive(Clone, Debug)]
pub struct EncryptedYamlProvider {
    config: PathBuf,
    key: KeySource,
    max_size: u64,
    write_lock: Arc<Mutex<()>>,
}

impl EncryptedYamlProvider {
    /// The document at `config_path`, its key in `key_path`.
    pub fn new(config_path: impl AsRef<Path>, key_path: impl AsRef<Path>) -> Self {
        EncryptedYamlProvider {
            config: config_path.as_ref().to_path_buf(),
            key: KeySource::File(key_path.as_ref().to_path_buf()),
            max_size: DEFAULT_MAX_SIZE,
            write_lock: Arc::default(),
        }
    }

    /// The guide's layout: `dir/config.enc.yaml` and `dir/.config.key`.
    pub fn in_dir(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        Self::new(dir.join(DEFAULT_CONFIG_FILE), dir.join(DEFAULT_KEY_FILE))
    }

    /// The document at `config_path`, with a key held in memory (from a keyring, say).
    pub fn with_key(config_path: impl AsRef<Path>, key: FernetKey) -> Self {
        EncryptedYamlProvider {
            config: config_path.as_ref().to_path_buf(),
            key: KeySource::Inline(key),
            max_size: DEFAULT_MAX_SIZE,
            write_lock: Arc::default(),
        }
    }

    /// An age-encrypted document at `config_path` (ASCII-armored, as `age -a` writes it),
    /// decrypted with the identity in `identity_path` (as `age-keygen` writes it; mode
    /// `0600`). See [`AgeKey`](crate::AgeKey) for why age is offered beside Fernet.
    #[cfg(feature = "age")]
    pub fn age(config_path: impl AsRef<Path>, identity_path: impl AsRef<Path>) -> Self {
        EncryptedYamlProvider {
            config: config_path.as_ref().to_path_buf(),
            key: KeySource::Age {
                identity: identity_path.as_ref().to_path_buf(),
                recipients: Vec::new(),
            },
            max_size: DEFAULT_MAX_SIZE,
            write_lock: Arc::default(),
        }
    }

    /// `dir/config.age.yaml` with its identity in `dir/.config.agekey`.
    #[cfg(feature = "age")]
    pub fn age_in_dir(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        Self::age(
            dir.join(DEFAULT_AGE_CONFIG_FILE),
            dir.join(DEFAULT_AGE_IDENTITY_FILE),
        )
    }

    /// With age: also encrypts what this provider writes to these public keys (`age1...`),
    /// so their holders can read and edit the file. Ignored with Fernet.
    #[cfg(feature = "age")]
    #[must_use]
    pub fn with_age_recipients(
        mut self,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        if let KeySource::Age { recipients, .. } = &mut self.key {
            recipients.extend(keys.into_iter().map(Into::into));
        }
        self
    }

    /// The largest encrypted file read, in bytes (1 MiB by default).
    #[must_use]
    pub fn with_max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// The encrypted document's path.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The key file's path, when the key is read from a file.
    pub fn key_path(&self) -> Option<&Path> {
        match &self.key {
            KeySource::File(p) => Some(p),
            KeySource::Inline(_) => None,
            #[cfg(feature = "age")]
            KeySource::Age { identity, .. } => Some(identity),
        }
    }

    /// Creates what is missing: the key file (a new random key, mode `0600`) and the
    /// document (an empty mapping). Existing files are left alone.
    pub fn create_if_missing(&self) -> Result<()> {
        match &self.key {
            KeySource::File(path) if !path.exists() => FernetKey::generate().write_new(path)?,
            #[cfg(feature = "age")]
            KeySource::Age { identity, .. } if !identity.exists() => {
                crate::AgeKey::generate().write_new(identity)?;
            }
            _ => {}
        }
        if !self.config.exists() {
            self.write_document("{}\n")?;
        }
        Ok(())
    }

    fn load_key(&self) -> Result<FernetKey> {
        match &self.key {
            KeySource::File(path) => FernetKey::load(path),
            KeySource::Inline(key) => Ok(key.clone()),
            #[cfg(feature = "age")]
            KeySource::Age { .. } => Err(Error::new(ErrorKind::InvalidConfig, PROVIDER)
                .with_message("this file is encrypted with age, not Fernet")),
        }
    }

    /// Reads the encrypted file's token (ciphertext, not secret). `None` when it is missing.
    fn read_token(&self, name: Option<&str>) -> Result<Option<String>> {
        let guard = PermissionGuard::new(PermissionPolicy::Ignore);
        let buf = match read_file_limited(PROVIDER, name, &self.config, self.max_size, &guard) {
            Ok(buf) => buf,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let text = std::str::from_utf8(&buf).map_err(|_| {
            let problem = match &self.key {
                #[cfg(feature = "age")]
                KeySource::Age { .. } => "the file is not an armored age file (it is not text)",
                _ => "the file is not a Fernet token (it is not text)",
            };
            self.decode_error(name, problem)
        })?;
        Ok(Some(text.trim().to_string()))
    }

    fn decode_error(&self, name: Option<&str>, problem: &str) -> Error {
        let err = Error::new(ErrorKind::Decode, PROVIDER)
            .with_message(format!("{}: {problem}", self.config.display()));
        match name {
            Some(n) => err.with_secret(n),
            None => err,
        }
    }

    fn missing_config(&self, name: Option<&str>) -> Error {
        let err = Error::new(ErrorKind::NotFound, PROVIDER).with_message(format!(
            "the encrypted config file {} does not exist",
            self.config.display()
        ));
        match name {
            Some(n) => err.with_secret(n),
            None => err,
        }
    }

    /// Checks the token's structure so a truncated or foreign file gets its own message,
    /// then decrypts it.
    fn decrypt(&self, name: Option<&str>, token: &str) -> Result<Zeroizing<Vec<u8>>> {
        #[cfg(feature = "age")]
        if let KeySource::Age { identity, .. } = &self.key {
            return crate::AgeKey::load(identity)?
                .decrypt(token)
                .map_err(|problem| self.decode_error(name, problem));
        }
        let body = token.trim_end_matches('=');
        if body.is_empty()
            || !body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(
                self.decode_error(name, "the file is not a Fernet token (not URL-safe base64)")
            );
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| {
                self.decode_error(
                    name,
                    "the Fernet token is truncated (its base64 text ends mid-character)",
                )
            })?;
        if raw.first() != Some(&0x80) {
            return Err(self.decode_error(
                name,
                "the file is not a Fernet token (no version byte 0x80); is it encrypted?",
            ));
        }
        if raw.len() < TOKEN_OVERHEAD + 16 || !(raw.len() - TOKEN_OVERHEAD).is_multiple_of(16) {
            return Err(self.decode_error(
                name,
                "the Fernet token is truncated (its length is not a whole number of blocks)",
            ));
        }
        let mut stamp = [0u8; 8];
        stamp.copy_from_slice(&raw[1..9]);
        let stamp = u64::from_be_bytes(stamp);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if stamp > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(self.decode_error(
                name,
                "the Fernet token is stamped in the future (check the clock)",
            ));
        }
        let key = self.load_key()?;
        let fernet = key.fernet()?;
        let plain = fernet.decrypt(token).map_err(|_| {
            self.decode_error(
                name,
                "cannot decrypt: the key is wrong or the file was modified (the HMAC does \
                 not match)",
            )
        })?;
        Ok(Zeroizing::new(plain))
    }

    fn parse(&self, name: Option<&str>, plain: &[u8]) -> Result<Value> {
        let text = std::str::from_utf8(plain)
            .map_err(|_| self.decode_error(name, "the decrypted document is not UTF-8 text"))?;
        let value: Value = serde_norway::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                .unwrap_or_default();
            self.decode_error(
                name,
                &format!("the decrypted document is not valid YAML{at}"),
            )
        })?;
        Ok(match value {
            Value::Null => Value::Mapping(serde_norway::Mapping::new()),
            v => v,
        })
    }

    /// Reads and decrypts the document; `(tree, version)`.
    fn load(&self, name: Option<&str>) -> Result<(Value, String)> {
        let token = self
            .read_token(name)?
            .ok_or_else(|| self.missing_config(name))?;
        let version = digest(false, [token.as_bytes()]);
        let plain = self.decrypt(name, &token)?;
        Ok((self.parse(name, &plain)?, version))
    }

    /// The whole decrypted YAML document as text.
    pub fn read_document(&self) -> Result<SecretValue> {
        let token = self
            .read_token(None)?
            .ok_or_else(|| self.missing_config(None))?;
        let plain = self.decrypt(None, &token)?;
        self.parse(None, &plain)?;
        Ok(SecretValue::from_utf8_or_bytes(into_exact(plain)))
    }

    /// Encrypts `yaml` (checked to be a YAML document) and replaces the file atomically
    /// (written to a temporary file with mode `0600` beside it, then renamed).
    pub fn write_document(&self, yaml: &str) -> Result<()> {
        self.parse(None, yaml.as_bytes())?;
        let _lock = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.encrypt_and_write(yaml.as_bytes())
    }

    fn encrypt_and_write(&self, plain: &[u8]) -> Result<()> {
        #[cfg(feature = "age")]
        if let KeySource::Age {
            identity,
            recipients,
        } = &self.key
        {
            let file = crate::AgeKey::load(identity)?.encrypt(plain, recipients)?;
            return write_atomically(&self.config, file.as_bytes());
        }
        let key = self.load_key()?;
        let token = key.fernet()?.encrypt(plain);
        write_atomically(&self.config, token.as_bytes())
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut Value) -> Result<()>) -> Result<()> {
        let _lock = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut tree = match self.load(Some(name)) {
            Ok((tree, _)) => tree,
            Err(e) if e.is_not_found() => Value::Mapping(serde_norway::Mapping::new()),
            Err(e) => return Err(e),
        };
        change(&mut tree)?;
        let text = Zeroizing::new(serde_norway::to_string(&tree).map_err(|_| {
            Error::new(ErrorKind::Decode, PROVIDER)
                .with_secret(name)
                .with_message("cannot write the document as YAML")
        })?);
        self.encrypt_and_write(text.as_bytes())
    }

    /// Sets the string at `name`'s path (creating mappings on the way) and rewrites the
    /// file. A binary value that is not UTF-8 is an [`ErrorKind::Decode`] error.
    pub fn set(&self, name: &str, value: impl Into<SecretValue>) -> Result<()> {
        let segments = check_local_name(PROVIDER, name)?;
        let value = value.into();
        let text = value.expose_text().map_err(|_| {
            Error::new(ErrorKind::Decode, PROVIDER)
                .with_secret(name)
                .with_message("a YAML config holds text; the value is not UTF-8")
        })?;
        let new = Value::String(text.to_string());
        self.update(name, |tree| insert(name, tree, &segments, new))
    }

    /// Sets a structured value, given as JSON text (such as a serialized `DatabaseConfig`),
    /// at `name`'s path and rewrites the file. Bad JSON is an [`ErrorKind::Decode`] error
    /// that names only the line and column.
    pub fn set_json(&self, name: &str, json: &str) -> Result<()> {
        let segments = check_local_name(PROVIDER, name)?;
        let parsed: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            Error::new(ErrorKind::Decode, PROVIDER)
                .with_secret(name)
                .with_message(format!(
                    "not valid JSON at line {} column {}",
                    e.line(),
                    e.column()
                ))
        })?;
        let new = serde_norway::to_value(&parsed).map_err(|_| {
            Error::new(ErrorKind::Decode, PROVIDER)
                .with_secret(name)
                .with_message("the JSON value cannot be written as YAML")
        })?;
        self.update(name, |tree| insert(name, tree, &segments, new))
    }

    /// Removes `name`'s key and rewrites the file. A missing key is
    /// [`ErrorKind::NotFound`].
    pub fn remove(&self, name: &str) -> Result<()> {
        let segments = check_local_name(PROVIDER, name)?;
        self.update(name, |tree| {
            let (last, parents) = segments.split_last().ok_or_else(|| not_found(name))?;
            let parent = lookup_mut(tree, parents).ok_or_else(|| not_found(name))?;
            let Value::Mapping(map) = parent else {
                return Err(not_found(name));
            };
            let key = existing_key(map, last).ok_or_else(|| not_found(name))?;
            map.remove(&key);
            Ok(())
        })
    }
}

fn not_found(name: &str) -> Error {
    Error::new(ErrorKind::NotFound, PROVIDER)
        .with_secret(name)
        .with_message("no such key in the encrypted config")
}

/// The key of `map` matching `segment` as written, or with `-` turned into `_`.
fn existing_key(map: &serde_norway::Mapping, segment: &str) -> Option<Value> {
    let exact = Value::String(segment.to_string());
    if map.contains_key(&exact) {
        return Some(exact);
    }
    let underscored = Value::String(segment.replace('-', "_"));
    map.contains_key(&underscored).then_some(underscored)
}

fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(t) => untag(&t.value),
        v => v,
    }
}

fn lookup<'a>(mut node: &'a Value, segments: &[&str]) -> Option<&'a Value> {
    for segment in segments {
        node = match untag(node) {
            Value::Mapping(map) => map.get(existing_key(map, segment)?)?,
            Value::Sequence(seq) => seq.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(untag(node))
}

fn lookup_mut<'a>(mut node: &'a mut Value, segments: &[&str]) -> Option<&'a mut Value> {
    for segment in segments {
        node = match node {
            Value::Mapping(map) => {
                let key = existing_key(map, segment)?;
                map.get_mut(key)?
            }
            Value::Sequence(seq) => seq.get_mut(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn insert(name: &str, tree: &mut Value, segments: &[&str], new: Value) -> Result<()> {
    let mut node = tree;
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if let Value::Null = node {
            *node = Value::Mapping(serde_norway::Mapping::new());
        }
        node = match node {
            Value::Mapping(map) => {
                let key = existing_key(map, segment)
                    .unwrap_or_else(|| Value::String((*segment).to_string()));
                if !map.contains_key(&key) {
                    map.insert(key.clone(), Value::Null);
                }
                map.get_mut(&key).ok_or_else(|| not_found(name))?
            }
            Value::Sequence(seq) => {
                let index = segment.parse::<usize>().ok();
                match index.and_then(|i| seq.get_mut(i)) {
                    Some(v) => v,
                    None => {
                        return Err(Error::new(ErrorKind::InvalidConfig, PROVIDER)
                            .with_secret(name)
                            .with_message(format!(
                                "`{segment}` is not an index of the sequence on the path"
                            )));
                    }
                }
            }
            _ => {
                return Err(Error::new(ErrorKind::InvalidConfig, PROVIDER)
                    .with_secret(name)
                    .with_message(format!(
                        "cannot set a key below `{}`: it is a plain value, not a mapping",
                        segments[..i].join("/")
                    )));
            }
        };
        if last {
            *node = new;
            return Ok(());
        }
    }
    Ok(())
}

/// Converts the value at a path into a secret value; `bool` is whether it is JSON.
fn to_secret_value(name: &str, value: &Value) -> Result<(SecretValue, bool)> {
    match value {
        Value::Null => Err(Error::new(ErrorKind::NotFound, PROVIDER)
            .with_secret(name)
            .with_message("the key is present but null")),
        Value::String(s) => Ok((SecretValue::text(s.as_str()), false)),
        Value::Bool(b) => Ok((SecretValue::text(b.to_string()), false)),
        Value::Number(n) => Ok((SecretValue::text(n.to_string()), false)),
        Value::Mapping(_) | Value::Sequence(_) | Value::Tagged(_) => {
            let json = serde_json::to_string(value).map_err(|_| {
                // serde_json's message may quote a value: never keep it.
                Error::new(ErrorKind::Decode, PROVIDER)
                    .with_secret(name)
                    .with_message(
                        "the value cannot be given as JSON (a mapping key that is not a \
                         string or a number, or a non-finite number)",
                    )
            })?;
            Ok((SecretValue::text(json), true))
        }
    }
}

/// Writes `bytes` to a temporary file beside `path` (mode `0600`), syncs it and renames it
/// over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".to_string());
    let mut nonce = [0u8; 8];
    let _ = getrandom::fill(&mut nonce);
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        u64::from_le_bytes(nonce)
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = options
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(PROVIDER, None, path, e));
    }
    Ok(())
}

#[async_trait]
impl SecretProvider for EncryptedYamlProvider {
    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_version_probe()
    }

    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        let segments = check_local_name(PROVIDER, name)?;
        let wanted = match version {
            VersionSelector::Latest => None,
            VersionSelector::Id(id) => Some(id.as_str()),
            other => {
                return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                    .with_secret(name)
                    .with_message(format!(
                        "an encrypted config file has no stages ({other} was asked for)"
                    )));
            }
        };
        let (tree, id) = self.load(Some(name))?;
        if let Some(wanted) = wanted
            && wanted != id
        {
            return Err(Error::new(ErrorKind::NotFound, PROVIDER)
                .with_secret(name)
                .with_message(format!(
                    "version {wanted} is not the current version (the file keeps only \
                     the current one)"
                )));
        }
        let value = lookup(&tree, &segments).ok_or_else(|| not_found(name))?;
        let (value, json) = to_secret_value(name, value)?;
        let secret = Secret::new(name, value).with_version(VersionInfo::new(id));
        Ok(if json {
            secret.with_content_type(Some("application/json".to_string()))
        } else {
            secret
        })
    }

    async fn current_version(&self, name: &str) -> Result<VersionInfo> {
        // The version is the digest of the encrypted file; the file is decrypted as well so
        // that a name the document lacks is NotFound here too, as on every other provider
        // (decrypting a local config file costs microseconds).
        let segments = check_local_name(PROVIDER, name)?;
        let (tree, id) = self.load(Some(name))?;
        lookup(&tree, &segments).ok_or_else(|| not_found(name))?;
        Ok(VersionInfo::new(id))
    }
}
