//! Secret values and their metadata.

use std::fmt;
use std::time::SystemTime;

use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::error::{Error, ErrorKind, Result};

/// The redaction marker printed in place of a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// A secret value: text or bytes.
///
/// Its `Debug` and `Display` print [`REDACTED`], it has no `Serialize`, its memory is wiped on
/// drop (through [`secrecy`]), and it is read only through an explicit `expose_*` call.
///
/// ```
/// use secrets_core::SecretValue;
/// let v = SecretValue::from("hunter2");
/// assert_eq!(format!("{v:?} {v}"), "SecretValue::Text([REDACTED]) [REDACTED]");
/// assert_eq!(v.expose_text().unwrap(), "hunter2");
/// ```
#[derive(Clone)]
pub enum SecretValue {
    /// A text value (AWS `SecretString`, a `.env` variable, ...).
    Text(SecretString),
    /// A binary value (AWS `SecretBinary`, a GCP payload that is not UTF-8, ...).
    Bytes(SecretSlice<u8>),
}

impl SecretValue {
    /// A text value.
    pub fn text(value: impl Into<String>) -> Self {
        SecretValue::Text(SecretString::from(value.into()))
    }

    /// A binary value.
    pub fn bytes(value: impl Into<Vec<u8>>) -> Self {
        SecretValue::Bytes(SecretSlice::from(value.into()))
    }

    /// A value from bytes that are kept as text when they are valid UTF-8.
    pub fn from_utf8_or_bytes(value: Vec<u8>) -> Self {
        match String::from_utf8(value) {
            Ok(text) => SecretValue::text(text),
            Err(err) => SecretValue::bytes(err.into_bytes()),
        }
    }

    /// The value as text. A binary value is returned as text when it is valid UTF-8; otherwise
    /// this is a [`ErrorKind::Decode`] error (which names neither the value nor its bytes).
    pub fn expose_text(&self) -> Result<&str> {
        match self {
            SecretValue::Text(s) => Ok(s.expose_secret()),
            SecretValue::Bytes(b) => std::str::from_utf8(b.expose_secret()).map_err(|e| {
                Error::new(ErrorKind::Decode, "core").with_message(format!(
                    "expected text, found binary data that is not UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                ))
            }),
        }
    }

    /// The value's bytes (the UTF-8 encoding for a text value).
    pub fn expose_bytes(&self) -> &[u8] {
        match self {
            SecretValue::Text(s) => s.expose_secret().as_bytes(),
            SecretValue::Bytes(b) => b.expose_secret(),
        }
    }

    /// Whether the store gave the value as binary.
    pub fn is_binary(&self) -> bool {
        matches!(self, SecretValue::Bytes(_))
    }

    /// The value's length in bytes. The length is not treated as secret.
    pub fn len(&self) -> usize {
        self.expose_bytes().len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Compares two values in time that does not depend on where they differ.
    pub fn ct_eq(&self, other: &SecretValue) -> bool {
        let (a, b) = (self.expose_bytes(), other.expose_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        SecretValue::text(value)
    }
}

impl From<&str> for SecretValue {
    fn from(value: &str) -> Self {
        SecretValue::text(value)
    }
}

impl From<Vec<u8>> for SecretValue {
    fn from(value: Vec<u8>) -> Self {
        SecretValue::bytes(value)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretValue::Text(_) => write!(f, "SecretValue::Text({REDACTED})"),
            SecretValue::Bytes(_) => write!(f, "SecretValue::Bytes({REDACTED})"),
        }
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Which version of a secret to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum VersionSelector {
    /// The current version: AWS `AWSCURRENT`, GCP `latest`, the newest Key Vault version,
    /// the newest KV v2 version.
    #[default]
    Latest,
    /// A specific version id (AWS VersionId, GCP version number, Key Vault version, KV v2
    /// version number).
    Id(String),
    /// A stage or alias (AWS VersionStage such as `AWSPREVIOUS`, a GCP version alias).
    Stage(String),
}

impl VersionSelector {
    /// A specific version id.
    pub fn id(id: impl Into<String>) -> Self {
        VersionSelector::Id(id.into())
    }

    /// A stage or alias.
    pub fn stage(stage: impl Into<String>) -> Self {
        VersionSelector::Stage(stage.into())
    }
}

impl fmt::Display for VersionSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSelector::Latest => f.write_str("latest"),
            VersionSelector::Id(id) => write!(f, "version {id}"),
            VersionSelector::Stage(stage) => write!(f, "stage {stage}"),
        }
    }
}

/// What a store says about a version, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VersionInfo {
    /// The version id, when the store has versions.
    pub version_id: Option<String>,
    /// Stages or labels attached to the version (`AWSCURRENT`, ...).
    pub stages: Vec<String>,
    /// When the version was created, when the store says.
    pub created: Option<SystemTime>,
}

impl VersionInfo {
    /// Version info with just an id.
    pub fn new(version_id: impl Into<String>) -> Self {
        VersionInfo {
            version_id: Some(version_id.into()),
            ..VersionInfo::default()
        }
    }

    /// Adds stages.
    #[must_use]
    pub fn with_stages(mut self, stages: Vec<String>) -> Self {
        self.stages = stages;
        self
    }

    /// Adds the creation time.
    #[must_use]
    pub fn with_created(mut self, created: Option<SystemTime>) -> Self {
        self.created = created;
        self
    }
}

/// A secret as read from a store: its value and what the store says about it.
///
/// `Debug` prints the metadata and [`REDACTED`] for the value.
#[derive(Clone, Debug)]
pub struct Secret {
    name: String,
    value: SecretValue,
    version: VersionInfo,
    content_type: Option<String>,
}

impl Secret {
    /// A secret named `name` with `value` and no version information.
    pub fn new(name: impl Into<String>, value: impl Into<SecretValue>) -> Self {
        Secret {
            name: name.into(),
            value: value.into(),
            version: VersionInfo::default(),
            content_type: None,
        }
    }

    /// Sets the version information.
    #[must_use]
    pub fn with_version(mut self, version: VersionInfo) -> Self {
        self.version = version;
        self
    }

    /// Sets the content type the store recorded (Key Vault `contentType`, ...).
    #[must_use]
    pub fn with_content_type(mut self, content_type: Option<String>) -> Self {
        self.content_type = content_type;
        self
    }

    /// The name the secret was asked for by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value (read it with an `expose_*` call).
    pub fn value(&self) -> &SecretValue {
        &self.value
    }

    /// Takes the value out.
    pub fn into_value(self) -> SecretValue {
        self.value
    }

    /// The version information.
    pub fn version(&self) -> &VersionInfo {
        &self.version
    }

    /// The version id, when the store has versions.
    pub fn version_id(&self) -> Option<&str> {
        self.version.version_id.as_deref()
    }

    /// The stages or labels of this version.
    pub fn stages(&self) -> &[String] {
        &self.version.stages
    }

    /// When this version was created, when the store says.
    pub fn created(&self) -> Option<SystemTime> {
        self.version.created
    }

    /// The content type, when the store recorded one.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("db", "canary-8c1f").with_version(VersionInfo::new("v1"));
        let dbg = format!("{s:?} {:?} {}", s.value(), s.value());
        assert!(!dbg.contains("canary-8c1f"), "{dbg}");
        assert!(dbg.contains(REDACTED));
        assert!(dbg.contains("v1"));
        let bytes = SecretValue::bytes(b"canary-8c1f".to_vec());
        assert!(!format!("{bytes:?}{bytes}").contains("canary"));
    }

    #[test]
    fn binary_where_text_expected_is_a_decode_error() {
        let v = SecretValue::from_utf8_or_bytes(vec![0xff, 0xfe, b'a']);
        assert!(v.is_binary());
        let err = v.expose_text().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert_eq!(v.expose_bytes(), &[0xff, 0xfe, b'a']);
        let t = SecretValue::from_utf8_or_bytes(b"plain".to_vec());
        assert_eq!(t.expose_text().unwrap(), "plain");
    }

    #[test]
    fn constant_time_eq() {
        assert!(SecretValue::from("abc").ct_eq(&SecretValue::bytes(b"abc".to_vec())));
        assert!(!SecretValue::from("abc").ct_eq(&SecretValue::from("abd")));
        assert!(!SecretValue::from("abc").ct_eq(&SecretValue::from("abcd")));
    }
}
