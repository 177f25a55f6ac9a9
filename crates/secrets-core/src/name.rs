//! The rules every secret name must meet before any provider sees it.

use crate::error::{Error, ErrorKind, Result};

/// The longest name accepted by any provider, in bytes (AWS allows 512 characters).
pub const MAX_NAME_LEN: usize = 512;

/// Checks the rules common to every store: not empty, at most [`MAX_NAME_LEN`] bytes, no
/// control characters or whitespace at either end. Providers add their own rules on top.
///
/// ```
/// use secrets_core::check_name;
/// assert!(check_name("aws", "cgi-chat/database").is_ok());
/// assert!(check_name("aws", "").is_err());
/// assert!(check_name("aws", "bad\nname").is_err());
/// ```
pub fn check_name(provider: &'static str, name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("the name is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("the name is longer than 512 bytes")
    } else if name.chars().any(char::is_control) {
        Some("the name contains a control character")
    } else if name.trim() != name {
        Some("the name starts or ends with whitespace")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::new(ErrorKind::InvalidName, provider)
            .with_secret(name.escape_debug().to_string())
            .with_message(problem)),
    }
}
