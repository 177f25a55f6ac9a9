//! The OS keyring through the `keyring` crate.

use async_trait::async_trait;
use secrets_core::secrecy::zeroize::Zeroizing;
use secrets_core::{
    Capabilities, Error, ErrorKind, Result, Secret, SecretProvider, SecretValue, VersionSelector,
};

use crate::common::{check_local_name, into_exact};

const PROVIDER: &str = "keyring";

/// Reads and writes secrets in the OS keyring with the [`keyring`] crate (v3).
///
/// On Linux the store is the kernel's keyutils keyring (`keyring`'s `linux-native` store):
/// no D-Bus and no desktop session are needed. Keys are `user` keys in the process's session
/// keyring, or in the user-session keyring (`_uid_ses.<uid>`) when the process has no
/// session keyring of its own, as in most containers and services. They live in kernel
/// memory until they are deleted, the keyring goes away or the machine reboots; another
/// process sees them when it shares that keyring (same session, or same user without a
/// session keyring). On macOS the store is the Keychain, on Windows the Credential Manager.
///
/// On Linux the entry is built with `keyring`'s own `KeyutilsCredential` (same key
/// description, `keyring-rs:<user>@<service>`, so other `keyring` users find it), but
/// without linking the user's persistent keyring: `keyring` 3.6 does that with
/// `KEYCTL_GET_PERSISTENT` on `@s`, and in a process without a session keyring that call
/// joins a new anonymous session keyring, after which the key just written is no longer
/// possessed: every later call fails with `EACCES`, which `keyring` reports as "no entry".
/// (Seen on Linux 6.18 in a container; this crate's keyring tests reproduce it.)
///
/// # Mapping
///
/// The keyring addresses an entry by a (service, user) pair. As in the common guide
/// (`keyring.set_password("cgi_chat", "postgres_password", ...)`):
///
/// - [`KeyringProvider::new`]: the first segment of the name is the service and the rest
///   is the user: `cgi-chat/postgres-password` → (`cgi_chat`, `postgres_password`), and
///   `cgi-chat/db/password` → (`cgi_chat`, `db/password`). A name with one segment is an
///   [`ErrorKind::InvalidName`] error.
/// - [`KeyringProvider::for_service("cgi_chat")`](KeyringProvider::for_service): the whole
///   name is the user: `postgres-password` → (`cgi_chat`, `postgres_password`).
///
/// In both, `-` becomes `_` (Python code usually spells keys with `_`), unless
/// [`with_exact_names`](KeyringProvider::with_exact_names) is set. Names follow the crate's
/// name rules (`../x` is an `InvalidName` error). On Linux the keyutils description of the
/// entry is `keyring-rs:<user>@<service>`.
///
/// Values are stored as bytes; one that is valid UTF-8 reads back as text. The keyring has no
/// versions: only [`VersionSelector::Latest`] is accepted. Calls block for as long as the OS
/// store takes (microseconds for keyutils).
///
/// ```no_run
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use secrets_core::{SecretProvider, VersionSelector};
/// use secrets_local::KeyringProvider;
///
/// let keyring = KeyringProvider::new();
/// assert_eq!(
///     keyring.entry_of("cgi-chat/postgres-password").unwrap(),
///     ("cgi_chat".to_string(), "postgres_password".to_string())
/// );
/// keyring.set("cgi-chat/postgres-password", "s3cret").unwrap();
/// let pw = keyring.get("cgi-chat/postgres-password", &VersionSelector::Latest).await.unwrap();
/// assert_eq!(pw.value().expose_text().unwrap(), "s3cret");
/// keyring.delete("cgi-chat/postgres-password").unwrap();
/// # })
/// ```
#[derive(Debug, Clone, Default)]
pub struct KeyringProvider {
    service: Option<String>,
    exact: bool,
}

impl KeyringProvider {
    /// Names are `service/user`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every name is a user of `service`.
    pub fn for_service(service: impl Into<String>) -> Self {
        KeyringProvider {
            service: Some(service.into()),
            exact: false,
        }
    }

    /// Keeps `-` in services and users instead of turning it into `_`.
    #[must_use]
    pub fn with_exact_names(mut self) -> Self {
        self.exact = true;
        self
    }

    /// The (service, user) pair a secret name maps to.
    ///
    /// ```
    /// use secrets_local::KeyringProvider;
    /// let k = KeyringProvider::new();
    /// assert_eq!(k.entry_of("cgi-chat/postgres-password").unwrap(),
    ///            ("cgi_chat".into(), "postgres_password".into()));
    /// assert!(k.entry_of("postgres-password").is_err());
    /// let k = KeyringProvider::for_service("cgi_chat");
    /// assert_eq!(k.entry_of("postgres-password").unwrap(),
    ///            ("cgi_chat".into(), "postgres_password".into()));
    /// ```
    pub fn entry_of(&self, name: &str) -> Result<(String, String)> {
        let segments = check_local_name(PROVIDER, name)?;
        let fix = |s: &str| {
            if self.exact {
                s.to_string()
            } else {
                s.replace('-', "_")
            }
        };
        match &self.service {
            Some(service) => Ok((service.clone(), fix(&segments.join("/")))),
            None if segments.len() >= 2 => Ok((fix(segments[0]), fix(&segments[1..].join("/")))),
            None => Err(Error::new(ErrorKind::InvalidName, PROVIDER)
                .with_secret(name)
                .with_message(
                    "a keyring secret name is `service/user` (such as \
                     `cgi-chat/postgres-password`); or use KeyringProvider::for_service",
                )),
        }
    }

    fn entry(&self, name: &str) -> Result<(keyring::Entry, String, String)> {
        let (service, user) = self.entry_of(name)?;
        let entry = new_entry(name, &service, &user)?;
        Ok((entry, service, user))
    }

    /// Stores a text or binary value (replacing any value there). An empty value is an
    /// [`ErrorKind::InvalidConfig`] error: keyutils cannot store one.
    pub fn set(&self, name: &str, value: impl Into<SecretValue>) -> Result<()> {
        let value = value.into();
        let (entry, service, user) = self.entry(name)?;
        if value.is_empty() {
            return Err(Error::new(ErrorKind::InvalidConfig, PROVIDER)
                .with_secret(name)
                .with_message("the OS keyring cannot store an empty value"));
        }
        entry
            .set_secret(value.expose_bytes())
            .map_err(|e| keyring_error(name, &service, &user, e))
    }

    /// Deletes the entry. A missing entry is an [`ErrorKind::NotFound`] error.
    pub fn delete(&self, name: &str) -> Result<()> {
        let (entry, service, user) = self.entry(name)?;
        entry
            .delete_credential()
            .map_err(|e| keyring_error(name, &service, &user, e))
    }

    fn read(&self, name: &str) -> Result<Secret> {
        let (entry, service, user) = self.entry(name)?;
        let bytes = Zeroizing::new(
            entry
                .get_secret()
                .map_err(|e| keyring_error(name, &service, &user, e))?,
        );
        Ok(Secret::new(
            name,
            SecretValue::from_utf8_or_bytes(into_exact(bytes)),
        ))
    }
}

/// A keyutils entry in the session (or user-session) keyring, not linked to the persistent
/// keyring (see the type's docs).
#[cfg(target_os = "linux")]
fn new_entry(name: &str, service: &str, user: &str) -> Result<keyring::Entry> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false).map_err(|e| {
        Error::new(ErrorKind::Unavailable, PROVIDER)
            .with_secret(name)
            .with_message(format!(
                "the kernel keyring is unavailable ({e:?}); is the keyctl syscall allowed \
                 (Docker's default seccomp profile blocks it)?"
            ))
    })?;
    let credential = keyring::keyutils::KeyutilsCredential {
        session,
        persistent: None,
        description: format!("keyring-rs:{user}@{service}"),
    };
    Ok(keyring::Entry::new_with_credential(Box::new(credential)))
}

/// The platform's default store.
#[cfg(not(target_os = "linux"))]
fn new_entry(name: &str, service: &str, user: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(service, user).map_err(|e| keyring_error(name, service, user, e))
}

/// Converts a keyring error. Never keeps the error itself: `BadEncoding` holds the value's
/// bytes. Platform errors are OS messages and are kept as text.
fn keyring_error(name: &str, service: &str, user: &str, err: keyring::Error) -> Error {
    let entry = format!("service `{service}`, user `{user}`");
    let (kind, message) = match err {
        keyring::Error::NoEntry => (ErrorKind::NotFound, format!("no keyring entry for {entry}")),
        keyring::Error::BadEncoding(bytes) => {
            drop(Zeroizing::new(bytes));
            (
                ErrorKind::Decode,
                format!("the keyring entry for {entry} is not UTF-8 text"),
            )
        }
        keyring::Error::TooLong(attr, limit) => {
            let kind = if attr == "secret" || attr == "password" {
                ErrorKind::TooLarge
            } else {
                ErrorKind::InvalidName
            };
            (
                kind,
                format!("the {attr} for {entry} is longer than the keyring's limit of {limit}"),
            )
        }
        keyring::Error::Invalid(attr, reason) => {
            let kind = if attr == "secret" || attr == "password" {
                ErrorKind::InvalidConfig
            } else {
                ErrorKind::InvalidName
            };
            (
                kind,
                format!("the keyring rejected the {attr} for {entry}: {reason}"),
            )
        }
        keyring::Error::NoStorageAccess(e) => (
            ErrorKind::Unavailable,
            format!("the OS keyring cannot be accessed for {entry}: {e}"),
        ),
        keyring::Error::PlatformFailure(e) => (
            ErrorKind::Unavailable,
            format!("the OS keyring failed for {entry} (is the kernel keyring available?): {e}"),
        ),
        keyring::Error::Ambiguous(found) => (
            ErrorKind::Other,
            format!("{} keyring entries match {entry}", found.len()),
        ),
        _ => (
            ErrorKind::Other,
            format!("the OS keyring failed for {entry}"),
        ),
    };
    Error::new(kind, PROVIDER)
        .with_secret(name)
        .with_message(message)
}

#[async_trait]
impl SecretProvider for KeyringProvider {
    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        check_local_name(PROVIDER, name)?;
        if *version != VersionSelector::Latest {
            return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                .with_secret(name)
                .with_message("the OS keyring has no versions"));
        }
        self.read(name)
    }
}
