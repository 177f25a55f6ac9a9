//! Secrets from the process environment and an optional `.env` file.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::error::{Error, ErrorKind, Result};
use crate::name::check_name;
use crate::provider::{Capabilities, SecretProvider};
use crate::value::{Secret, SecretValue, VersionSelector};

const PROVIDER: &str = "env";

/// Maps a secret name to an environment variable name.
///
/// The rule: every ASCII letter is upper-cased, every ASCII digit is kept, and every other
/// character (`/`, `-`, `.`, ...) becomes `_`; a prefix, when set, goes in front unchanged.
/// So `cgi-chat/database` is `CGI_CHAT_DATABASE`, and with prefix `APP_` it is
/// `APP_CGI_CHAT_DATABASE`. A name starting with a digit gets a leading `_`.
///
/// ```
/// use secrets_core::env_var_name;
/// assert_eq!(env_var_name("", "cgi-chat/database"), "CGI_CHAT_DATABASE");
/// assert_eq!(env_var_name("APP_", "db.main"), "APP_DB_MAIN");
/// assert_eq!(env_var_name("", "3scale/key"), "_3SCALE_KEY");
/// ```
pub fn env_var_name(prefix: &str, name: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + name.len() + 1);
    out.push_str(prefix);
    if prefix.is_empty() && name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    out
}

/// Reads secrets from environment variables, then from a `.env` file.
///
/// A secret named `cgi-chat/database` is the variable `CGI_CHAT_DATABASE` (see
/// [`env_var_name`]). The process environment wins over the file, as with `dotenvy`. The file
/// is read on every `get`, so an edited file is seen without a restart, and it never changes
/// the process environment. Values are text; the provider has no versions.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use secrets_core::{EnvProvider, SecretProvider, VersionSelector};
/// let dir = std::env::temp_dir().join(format!("envdoc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let file = dir.join(".env");
/// std::fs::write(&file, "DOC_EXAMPLE_API_KEY=k-123\n").unwrap();
/// let env = EnvProvider::new().with_dotenv(&file);
/// let secret = env.get("doc-example/api-key", &VersionSelector::Latest).await.unwrap();
/// assert_eq!(secret.value().expose_text().unwrap(), "k-123");
/// # })
/// ```
#[derive(Debug, Clone, Default)]
pub struct EnvProvider {
    prefix: String,
    dotenv: Option<PathBuf>,
    process_env: bool,
}

impl EnvProvider {
    /// Reads the process environment only.
    pub fn new() -> Self {
        EnvProvider {
            prefix: String::new(),
            dotenv: None,
            process_env: true,
        }
    }

    /// Puts `prefix` in front of every variable name.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Also reads `path`, a `.env` file, for variables the environment does not set.
    #[must_use]
    pub fn with_dotenv(mut self, path: impl AsRef<Path>) -> Self {
        self.dotenv = Some(path.as_ref().to_path_buf());
        self
    }

    /// Reads only the `.env` file, ignoring the process environment (useful in tests).
    #[must_use]
    pub fn without_process_env(mut self) -> Self {
        self.process_env = false;
        self
    }

    /// The variable a secret name maps to with this provider's prefix.
    pub fn var_name(&self, name: &str) -> String {
        env_var_name(&self.prefix, name)
    }

    /// The `.env` file this provider reads, when any.
    pub fn dotenv_path(&self) -> Option<&Path> {
        self.dotenv.as_deref()
    }

    fn read_process_env(&self, name: &str, var: &str) -> Result<Option<String>> {
        if !self.process_env {
            return Ok(None);
        }
        match std::env::var(var) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::new(ErrorKind::Decode, PROVIDER)
                .with_secret(name)
                .with_message(format!("variable {var} is not valid UTF-8"))),
        }
    }

    fn read_dotenv(&self, name: &str, var: &str) -> Result<Option<String>> {
        let Some(path) = &self.dotenv else {
            return Ok(None);
        };
        let iter = match dotenvy::from_path_iter(path) {
            Ok(iter) => iter,
            Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None);
            }
            Err(e) => return Err(dotenv_error(name, path, e)),
        };
        let mut found = None;
        for item in iter {
            let (key, value) = item.map_err(|e| dotenv_error(name, path, e))?;
            if key == var {
                // Last definition wins, as when the file is loaded into the environment.
                found = Some(value);
            }
        }
        Ok(found)
    }
}

/// Converts a dotenvy error without its text: a `LineParse` error quotes the offending line,
/// which may hold a value.
fn dotenv_error(name: &str, path: &Path, err: dotenvy::Error) -> Error {
    let base = Error::new(ErrorKind::InvalidConfig, PROVIDER).with_secret(name);
    match err {
        dotenvy::Error::LineParse(_, index) => base.with_message(format!(
            "{} cannot be parsed near byte {index} (the line is not shown: it may hold a value)",
            path.display()
        )),
        dotenvy::Error::Io(io) => {
            let kind = if io.kind() == std::io::ErrorKind::PermissionDenied {
                ErrorKind::PermissionDenied
            } else {
                ErrorKind::Unavailable
            };
            Error::new(kind, PROVIDER)
                .with_secret(name)
                .with_message(format!("cannot read {}", path.display()))
                .with_source(io)
        }
        _ => base.with_message(format!("{} cannot be read", path.display())),
    }
}

#[async_trait]
impl SecretProvider for EnvProvider {
    fn provider_name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    async fn get(&self, name: &str, version: &VersionSelector) -> Result<Secret> {
        check_name(PROVIDER, name)?;
        if *version != VersionSelector::Latest {
            return Err(Error::new(ErrorKind::Unsupported, PROVIDER)
                .with_secret(name)
                .with_message("environment variables have no versions"));
        }
        let var = self.var_name(name);
        let value = match self.read_process_env(name, &var)? {
            Some(v) => v,
            None => self.read_dotenv(name, &var)?.ok_or_else(|| {
                let mut msg = format!("variable {var} is not set");
                if let Some(path) = &self.dotenv {
                    msg.push_str(&format!(" in the environment or in {}", path.display()));
                }
                Error::new(ErrorKind::NotFound, PROVIDER)
                    .with_secret(name)
                    .with_message(msg)
            })?,
        };
        Ok(Secret::new(name, SecretValue::text(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(tag: &str, body: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("secrets-core-env-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(&path, body).unwrap();
        path
    }

    #[tokio::test]
    async fn reads_dotenv_last_definition_wins() {
        let path = temp_file("a", "A_B=1\nA_B=\"two words\"\n# comment\n");
        let p = EnvProvider::new().without_process_env().with_dotenv(&path);
        let s = p.get("a/b", &VersionSelector::Latest).await.unwrap();
        assert_eq!(s.value().expose_text().unwrap(), "two words");
        let err = p.get("a/c", &VersionSelector::Latest).await.unwrap_err();
        assert!(err.is_not_found());
        assert!(err.to_string().contains("A_C"), "{err}");
    }

    #[tokio::test]
    async fn parse_error_does_not_echo_the_line() {
        let path = temp_file("b", "GOOD=1\nBROKEN canary-42f9 'unterminated\n");
        let p = EnvProvider::new().without_process_env().with_dotenv(&path);
        let err = p.get("good", &VersionSelector::Latest).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        let text = format!("{err} {err:?}");
        assert!(!text.contains("canary-42f9"), "{text}");
    }

    #[tokio::test]
    async fn missing_file_is_not_an_error_and_versions_unsupported() {
        let p = EnvProvider::new()
            .without_process_env()
            .with_dotenv("/nonexistent/.env");
        assert!(
            p.get("x", &VersionSelector::Latest)
                .await
                .unwrap_err()
                .is_not_found()
        );
        assert_eq!(
            p.get("x", &VersionSelector::id("1"))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::Unsupported
        );
    }

    #[tokio::test]
    async fn process_env_wins() {
        let path = temp_file("c", "SECRETS_CORE_TEST_PATH=from-file\n");
        let p = EnvProvider::new().with_dotenv(&path);
        // PATH is set in every test environment; the mapping of "path" is "PATH".
        let s = p.get("path", &VersionSelector::Latest).await.unwrap();
        assert_eq!(
            s.value().expose_text().unwrap(),
            std::env::var("PATH").unwrap()
        );
        let s = p
            .get("secrets-core-test-path", &VersionSelector::Latest)
            .await
            .unwrap();
        assert_eq!(s.value().expose_text().unwrap(), "from-file");
    }
}
