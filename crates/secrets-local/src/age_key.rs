//! age identities for encrypted config files.
//!
//! Why offer age beside Fernet: Fernet is symmetric, so whoever may edit the config can also
//! read every secret in it, and the one key must reach every editor. age encrypts to public
//! keys: operators and CI encrypt the config to the service's public key (`age1...`, and to
//! their own keys if they should read it back) while only the service holds the identity that
//! decrypts. The format is specified and audited, and the `age`/`rage` tools read and write the
//! same files.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret as _;
use secrets_core::secrecy::zeroize::Zeroizing;
use secrets_core::{Error, ErrorKind, Result};

use crate::common::{PermissionGuard, PermissionPolicy, read_file_limited, write_new_private};

const PROVIDER: &str = "encrypted-file";
const MAX_IDENTITY_FILE: u64 = 64 * 1024;

/// An age X25519 identity (the secret key, `AGE-SECRET-KEY-1...`). `Debug` prints only the
/// public key.
#[derive(Clone)]
pub struct AgeKey(age::x25519::Identity);

impl fmt::Debug for AgeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgeKey({})", self.recipient())
    }
}

fn bad_identity(path: &Path) -> Error {
    Error::new(ErrorKind::InvalidConfig, PROVIDER).with_message(format!(
        "{} is not an age identity file: expected a line AGE-SECRET-KEY-1...",
        path.display()
    ))
}

impl AgeKey {
    /// A new random identity.
    pub fn generate() -> Self {
        AgeKey(age::x25519::Identity::generate())
    }

    /// The public key (`age1...`) that files are encrypted to.
    pub fn recipient(&self) -> String {
        self.0.to_public().to_string()
    }

    /// Loads an identity file as `age-keygen` writes it (comment lines start with `#`). The
    /// file must not be readable by group or others: otherwise
    /// [`ErrorKind::InsecurePermissions`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let guard = PermissionGuard::new(PermissionPolicy::Strict);
        let buf =
            read_file_limited(PROVIDER, None, path, MAX_IDENTITY_FILE, &guard).map_err(|e| {
                if e.is_not_found() {
                    Error::new(ErrorKind::InvalidConfig, PROVIDER).with_message(format!(
                        "the age identity file {} does not exist",
                        path.display()
                    ))
                } else {
                    e
                }
            })?;
        let buf = Zeroizing::new(buf);
        let text = std::str::from_utf8(&buf).map_err(|_| bad_identity(path))?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .ok_or_else(|| bad_identity(path))?;
        age::x25519::Identity::from_str(line)
            .map(AgeKey)
            .map_err(|_| bad_identity(path))
    }

    /// Writes the identity to a new file created with mode `0600`, as `age-keygen` does (an
    /// existing file is never replaced).
    pub fn write_new(&self, path: impl AsRef<Path>) -> Result<()> {
        let secret = self.0.to_string();
        let text = Zeroizing::new(format!(
            "# public key: {}\n{}\n",
            self.recipient(),
            secret.expose_secret()
        ));
        write_new_private(
            PROVIDER,
            "age identity file",
            path.as_ref(),
            text.as_bytes(),
        )
    }

    /// Encrypts `plain` to this identity's public key and to `others` (`age1...` keys), as
    /// ASCII-armored text.
    pub(crate) fn encrypt(&self, plain: &[u8], others: &[String]) -> Result<String> {
        let mut recipients: Vec<Box<dyn age::Recipient + Send>> =
            vec![Box::new(self.0.to_public())];
        for key in others {
            let r = age::x25519::Recipient::from_str(key).map_err(|_| {
                Error::new(ErrorKind::InvalidConfig, PROVIDER)
                    .with_message(format!("{key:?} is not an age public key (age1...)"))
            })?;
            recipients.push(Box::new(r));
        }
        let failed = |what: &str| {
            Error::new(ErrorKind::Other, PROVIDER)
                .with_message(format!("age encryption failed: {what}"))
        };
        let encryptor = age::Encryptor::with_recipients(
            recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
        )
        .map_err(|_| failed("no recipient"))?;
        let mut out = Vec::new();
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                .map_err(|_| failed("armor"))?;
        let mut writer = encryptor.wrap_output(armor).map_err(|_| failed("header"))?;
        writer.write_all(plain).map_err(|_| failed("write"))?;
        writer
            .finish()
            .and_then(|armor| armor.finish())
            .map_err(|_| failed("finish"))?;
        String::from_utf8(out).map_err(|_| failed("armor is not text"))
    }

    /// Decrypts an armored (or binary) age file. The error is a short description, never the
    /// content.
    pub(crate) fn decrypt(
        &self,
        file: &str,
    ) -> std::result::Result<Zeroizing<Vec<u8>>, &'static str> {
        let reader = age::armor::ArmoredReader::new(file.as_bytes());
        let decryptor = age::Decryptor::new(reader)
            .map_err(|_| "the file is not an age file, or it is truncated")?;
        let mut plain = Zeroizing::new(Vec::new());
        let mut stream = decryptor
            .decrypt(std::iter::once(&self.0 as &dyn age::Identity))
            .map_err(|_| "cannot decrypt: the file is not encrypted to this identity")?;
        stream
            .read_to_end(&mut plain)
            .map_err(|_| "cannot decrypt: the file was modified or is truncated")?;
        Ok(plain)
    }
}
