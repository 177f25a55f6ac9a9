//! How secret names map to Key Vault secret names, and back.
//!
//! Key Vault secret names allow only ASCII letters, digits and `-`, 1 to 127 characters, and
//! compare case-insensitively. Applications name secrets with `/` as a separator
//! (`cgi-chat/database`). The mapping, used everywhere in this crate:
//!
//! - each `/` becomes `--` (two dashes): `cgi-chat/database` is the Key Vault secret
//!   `cgi-chat--database`;
//! - letters, digits and single dashes are kept as they are, case included.
//!
//! `--` for a separator is the convention of the .NET Key Vault configuration provider
//! (`ConnectionStrings--Db`), so vaults that already follow it read naturally, and operators
//! see names they can type in the portal.
//!
//! To keep the mapping one-to-one, a name is rejected with [`ErrorKind::InvalidName`] when it
//! has a character other than ASCII letters, digits, `-` and `/`; contains `--` itself; has an
//! empty segment (a leading, trailing or doubled `/`); has a `-` next to a `/` (`a-/b` and
//! `a/-b` would both become `a---b`); or maps to more than [`MAX_VAULT_NAME_LEN`] characters.
//! Under these rules a run of dashes in a mapped name is either one dash (kept) or exactly two
//! (a `/`), so [`from_vault_name`] can undo [`to_vault_name`] exactly.
//!
//! Key Vault compares names without regard to case: `App/Db` and `app/db` map to different
//! strings but name the same secret in the vault.

use secrets_core::{Error, ErrorKind, Result, check_name};

use crate::PROVIDER;

/// The longest Key Vault secret name, in characters.
pub const MAX_VAULT_NAME_LEN: usize = 127;

/// What a `/` in a secret name becomes in the Key Vault name.
pub const SEPARATOR: &str = "--";

/// The longest version id accepted (Key Vault version ids are 32 hex digits).
const MAX_VERSION_LEN: usize = 64;

fn invalid(name: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidName, PROVIDER)
        .with_secret(name.escape_debug().to_string())
        .with_message(message.into())
}

/// Maps a secret name to its Key Vault secret name.
///
/// Each `/` becomes `--` (two dashes); ASCII letters, digits and single dashes are kept, case
/// included. So that [`from_vault_name`] can undo it exactly, a name is refused when it has a
/// character other than ASCII letters, digits, `-` and `/`; contains `--`; has an empty
/// segment (a leading, trailing or doubled `/`); has `-` next to `/` (`a-/b` and `a/-b` would
/// both be `a---b`); or maps to more than [`MAX_VAULT_NAME_LEN`] (127) characters. Key Vault
/// compares names without regard to case. See also the [crate docs](crate#names).
///
/// # Errors
///
/// [`ErrorKind::InvalidName`], with a message saying which rule the name breaks.
///
/// ```
/// use secrets_azure::to_vault_name;
///
/// assert_eq!(to_vault_name("cgi-chat/database").unwrap(), "cgi-chat--database");
/// assert_eq!(to_vault_name("ApiKey").unwrap(), "ApiKey");
/// assert!(to_vault_name("cgi-chat/db_password").is_err()); // `_` has no Key Vault spelling
/// assert!(to_vault_name("a--b").is_err()); // `--` is the spelling of `/`
/// assert!(to_vault_name("a-/b").is_err()); // would read back ambiguously
/// ```
pub fn to_vault_name(name: &str) -> Result<String> {
    check_name(PROVIDER, name)?;
    if let Some((at, c)) = name
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '-' || c == '/'))
    {
        return Err(invalid(
            name,
            format!(
                "character {c:?} at byte {at} cannot be stored in Key Vault: secret names for \
                 this provider may use only ASCII letters, digits, `-` and `/`"
            ),
        ));
    }
    if name.contains(SEPARATOR) {
        return Err(invalid(
            name,
            "the name contains `--`, which this provider uses to spell `/` in Key Vault \
             (write `/` instead: `a/b` is read from the Key Vault secret `a--b`)",
        ));
    }
    if name.split('/').any(str::is_empty) {
        return Err(invalid(
            name,
            "the name has an empty segment (a leading, trailing or doubled `/`)",
        ));
    }
    if name.contains("-/") || name.contains("/-") {
        return Err(invalid(
            name,
            "the name has `-` next to `/`, which would make its Key Vault name ambiguous \
             (`/` is spelled `--`, so `a-/b` and `a/-b` would both be `a---b`)",
        ));
    }
    let vault = name.replace('/', SEPARATOR);
    if vault.len() > MAX_VAULT_NAME_LEN {
        return Err(invalid(
            name,
            format!(
                "the name maps to a Key Vault name of {} characters; Key Vault allows at most \
                 {MAX_VAULT_NAME_LEN} (each `/` takes two)",
                vault.len()
            ),
        ));
    }
    Ok(vault)
}

/// The secret name whose Key Vault name is `vault_name`: the inverse of [`to_vault_name`], or
/// `None` when no secret name maps to it (a run of three or more dashes, a leading or trailing
/// `--`, a character Key Vault does not allow, or a bad length).
///
/// ```
/// use secrets_azure::from_vault_name;
///
/// assert_eq!(from_vault_name("cgi-chat--database").as_deref(), Some("cgi-chat/database"));
/// assert_eq!(from_vault_name("ApiKey").as_deref(), Some("ApiKey"));
/// assert_eq!(from_vault_name("a---b"), None);
/// ```
pub fn from_vault_name(vault_name: &str) -> Option<String> {
    if vault_name.is_empty()
        || vault_name.len() > MAX_VAULT_NAME_LEN
        || !vault_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        || vault_name.contains("---")
    {
        return None;
    }
    let name = vault_name.replace(SEPARATOR, "/");
    // The forward rules reject anything that would not map back to the same Key Vault name
    // (leading or trailing `--`, `-` next to `/`, ...).
    match to_vault_name(&name) {
        Ok(back) if back == vault_name => Some(name),
        _ => None,
    }
}

/// Checks a version id before it goes into a URL path: 1 to 64 ASCII letters and digits (Key
/// Vault version ids are 32 hex digits).
pub(crate) fn check_version_id(name: &str, version: &str) -> Result<()> {
    if version.is_empty()
        || version.len() > MAX_VERSION_LEN
        || !version.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(invalid(
            name,
            format!(
                "version id {:?} is not a Key Vault version id (expected up to \
                 {MAX_VERSION_LEN} ASCII letters and digits, such as 32 hex digits)",
                version.escape_debug().to_string()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn examples() {
        let ok = [
            ("cgi-chat/database", "cgi-chat--database"),
            ("a", "a"),
            ("A-b-C/0/x-y", "A-b-C--0--x-y"),
            ("-lead", "-lead"),
            ("trail-", "trail-"),
        ];
        for (name, vault) in ok {
            assert_eq!(to_vault_name(name).unwrap(), vault, "{name}");
            assert_eq!(from_vault_name(vault).as_deref(), Some(name), "{vault}");
        }
        let bad = [
            "", "a_b", "a.b", "a b", "é", "a--b", "/a", "a/", "a//b", "a-/b", "a/-b", "a\nb",
        ];
        for name in bad {
            let err = to_vault_name(name).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidName, "{name:?}");
            assert!(err.message().is_some_and(|m| !m.is_empty()), "{name:?}");
        }
        for vault in ["", "a---b", "--a", "a--", "a_b", "a/b", "----"] {
            assert_eq!(from_vault_name(vault), None, "{vault:?}");
        }
    }

    #[test]
    fn length_limit_counts_the_mapped_name() {
        let fits = "a".repeat(MAX_VAULT_NAME_LEN);
        assert!(to_vault_name(&fits).is_ok());
        assert!(to_vault_name(&"a".repeat(MAX_VAULT_NAME_LEN + 1)).is_err());
        // 63 segments of one letter: 63 + 62 * 2 = 187 > 127, although the name has 125 bytes.
        let slashes = vec!["a"; 63].join("/");
        assert_eq!(slashes.len(), 125);
        let err = to_vault_name(&slashes).unwrap_err();
        assert!(err.message().unwrap().contains("187 characters"), "{err}");
        // 43 segments: 43 + 42 * 2 = 127, the limit exactly.
        let edge = vec!["a"; 43].join("/");
        assert_eq!(to_vault_name(&edge).unwrap().len(), MAX_VAULT_NAME_LEN);
    }

    /// A small deterministic generator (xorshift), so the property tests need no extra crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn pick(&mut self, items: &[char]) -> char {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    /// Every accepted name maps back to itself, no two accepted names share a Key Vault name,
    /// and every rejection is an InvalidName error. The alphabet is small so that dashes and
    /// slashes meet often.
    #[test]
    fn round_trip_property_over_many_names() {
        let alphabet = ['a', 'B', '7', '-', '-', '/', '/', '_', '.'];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut seen: HashMap<String, String> = HashMap::new();
        let (mut accepted, mut rejected) = (0u32, 0u32);
        for _ in 0..200_000 {
            let len = 1 + (rng.next() % 12) as usize;
            let name: String = (0..len).map(|_| rng.pick(&alphabet)).collect();
            match to_vault_name(&name) {
                Ok(vault) => {
                    accepted += 1;
                    assert!(vault.len() <= MAX_VAULT_NAME_LEN);
                    assert!(vault.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
                    assert_eq!(from_vault_name(&vault).as_deref(), Some(name.as_str()));
                    if let Some(other) = seen.insert(vault.clone(), name.clone()) {
                        assert_eq!(other, name, "two names map to {vault}");
                    }
                }
                Err(err) => {
                    rejected += 1;
                    assert_eq!(err.kind(), ErrorKind::InvalidName);
                }
            }
        }
        assert!(
            accepted > 10_000 && rejected > 10_000,
            "{accepted} {rejected}"
        );
    }

    /// Every Key Vault name that reads back as a secret name maps to exactly that Key Vault
    /// name again.
    #[test]
    fn inverse_property_over_many_vault_names() {
        let alphabet = ['a', 'Z', '0', '-', '-', '-'];
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let mut decoded = 0u32;
        for _ in 0..200_000 {
            let len = 1 + (rng.next() % 10) as usize;
            let vault: String = (0..len).map(|_| rng.pick(&alphabet)).collect();
            if let Some(name) = from_vault_name(&vault) {
                decoded += 1;
                assert_eq!(to_vault_name(&name).unwrap(), vault);
            }
        }
        assert!(decoded > 10_000, "{decoded}");
    }

    #[test]
    fn version_ids() {
        assert!(check_version_id("n", "0123456789abcdef0123456789abcdef").is_ok());
        for bad in ["", "../x", "a/b", "a b", "a?b", &"a".repeat(65)] {
            let err = check_version_id("n", bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}");
        }
    }
}
