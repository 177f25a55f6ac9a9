//! Secrets from the environment, a `.env` file and the `*_FILE` convention.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use secrets_core::secrecy::zeroize::Zeroizing;
use secrets_core::{
    Capabilities, Error, ErrorKind, FieldIssue, Result, Secret, SecretProvider, SecretValue,
    VersionSelector, env_var_name,
};

use crate::common::{
    DEFAULT_MAX_SIZE, PermissionGuard, PermissionPolicy, check_local_name, into_exact,
    read_file_limited, trim_one_newline,
};

const PROVIDER: &str = "dotenv";

/// Reads secrets from the process environment, a `.env` file and files named by `*_FILE`
/// variables.
///
/// # Mapping
///
/// A secret name maps to a variable with [`secrets_core::env_var_name`]: `cgi-chat/database`
/// is `CGI_CHAT_DATABASE`, and with [`with_prefix("APP_")`](Self::with_prefix) it is
/// `APP_CGI_CHAT_DATABASE`. Names follow the crate's name rules (see the crate docs), so
/// `../x` is an [`ErrorKind::InvalidName`] error.
///
/// # Where a value comes from
///
/// For the variable `V`, in this order:
///
/// 1. `V_FILE`, set in the process environment or in the `.env` file: the value is the
///    contents of the named file, with one trailing newline (`\n` or `\r\n`) removed. This is
///    the Docker convention: `POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password` wins over
///    `POSTGRES_PASSWORD` (a warning is logged when both are set). A relative path is relative
///    to the working directory. If the file is missing or unreadable the error is
///    [`ErrorKind::InvalidConfig`] or [`ErrorKind::PermissionDenied`], not `NotFound`: the
///    configuration says the secret is there.
/// 2. `V` in the process environment.
/// 3. `V` in the `.env` file (the last definition wins, as when the file is loaded).
///
/// The `.env` file is read on every `get` (so an edit is seen without a restart), is limited
/// to [`with_max_size`](Self::with_max_size) bytes (1 MiB by default), never changes the
/// process environment, and a missing `.env` file is not an error. A parse error names the
/// file and a byte position, never the line (it may hold a value).
///
/// # Permissions
///
/// The `.env` file and every `*_FILE` target are checked with the
/// [`PermissionPolicy`]: by default a file that its group or others can access is logged with
/// `tracing::warn!`; with [`strict`](Self::strict) it is refused with
/// [`ErrorKind::InsecurePermissions`].
///
/// # Fail-fast validation
///
/// [`require`](Self::require) reads a list of names and reports every missing or unusable one
/// in a single error, so a service fails at start-up with the whole list.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use secrets_core::{SecretProvider, VersionSelector};
/// use secrets_local::DotenvProvider;
///
/// let dir = tempfile::tempdir().unwrap();
/// let pw_file = dir.path().join("postgres_password");
/// std::fs::write(&pw_file, "from-file\n").unwrap();
/// let dotenv = dir.path().join(".env");
/// std::fs::write(
///     &dotenv,
///     format!("POSTGRES_PASSWORD=ignored\nPOSTGRES_PASSWORD_FILE={}\n", pw_file.display()),
/// )
/// .unwrap();
/// # use std::os::unix::fs::PermissionsExt;
/// # for f in [&pw_file, &dotenv] { std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).unwrap(); }
///
/// let env = DotenvProvider::new().without_process_env().with_dotenv(&dotenv).strict();
/// let pw = env.get("postgres-password", &VersionSelector::Latest).await.unwrap();
/// assert_eq!(pw.value().expose_text().unwrap(), "from-file");
///
/// let err = env.require(&["postgres-password", "api-key", "smtp/password"]).unwrap_err();
/// assert!(err.to_string().contains("API_KEY") && err.to_string().contains("SMTP_PASSWORD"));
/// # })
/// ```
#[derive(Debug, Clone)]
pub struct DotenvProvider {
    prefix: String,
    dotenv: Option<PathBuf>,
    process_env: bool,
    file_convention: bool,
    max_size: u64,
    guard: PermissionGuard,
}

impl Default for DotenvProvider {
    fn default() -> Self {
        Self::new()
    }
}

/// The variables of one reading of the `.env` file; values are wiped on drop.
type DotenvVars = HashMap<String, Zeroizing<String>>;

impl DotenvProvider {
    /// Reads the process environment (with the `*_FILE` convention), no `.env` file.
    pub fn new() -> Self {
        DotenvProvider {
            prefix: String::new(),
            dotenv: None,
            process_env: true,
            file_convention: true,
            max_size: DEFAULT_MAX_SIZE,
            guard: PermissionGuard::default(),
        }
    }

    /// Puts `prefix` in front of every variable name (`APP_` makes `db` `APP_DB`).
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

    /// Ignores the process environment: only the `.env` file is read (useful in tests).
    #[must_use]
    pub fn without_process_env(mut self) -> Self {
        self.process_env = false;
        self
    }

    /// Turns off the `*_FILE` convention.
    #[must_use]
    pub fn without_file_convention(mut self) -> Self {
        self.file_convention = false;
        self
    }

    /// The largest `.env` or `*_FILE` file read, in bytes (1 MiB by default); a larger one is
    /// an [`ErrorKind::TooLarge`] error.
    #[must_use]
    pub fn with_max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// Sets what happens when a file is accessible to group or others.
    #[must_use]
    pub fn with_permission_policy(mut self, policy: PermissionPolicy) -> Self {
        self.guard = PermissionGuard::new(policy);
        self
    }

    /// Shorthand for [`PermissionPolicy::Strict`]: refuse a `.env` or `*_FILE` file that its
    /// group or others can access.
    #[must_use]
    pub fn strict(self) -> Self {
        self.with_permission_policy(PermissionPolicy::Strict)
    }

    /// The variable a secret name maps to.
    ///
    /// ```
    /// use secrets_local::DotenvProvider;
    /// assert_eq!(DotenvProvider::new().var_name("cgi-chat/database"), "CGI_CHAT_DATABASE");
    /// ```
    pub fn var_name(&self, name: &str) -> String {
        env_var_name(&self.prefix, name)
    }

    /// The permission policy in force.
    pub fn permission_policy(&self) -> PermissionPolicy {
        self.guard.policy()
    }

    /// Reads every name in `names` and returns the secrets in the same order, or one error
    /// that lists every name that is missing or unusable (as [`FieldIssue`]s naming the
    /// secret and the variables looked at, never a value).
    ///
    /// The error's kind is the problems' kind when they all share one (`NotFound` when
    /// everything failing is simply missing), otherwise [`ErrorKind::InvalidConfig`].
    pub fn require(&self, names: &[&str]) -> Result<Vec<Secret>> {
        let vars = self.load_dotenv(None)?;
        let mut found = Vec::with_capacity(names.len());
        let mut problems: Vec<(FieldIssue, ErrorKind)> = Vec::new();
        for name in names {
            match self.read(name, vars.as_ref()) {
                Ok(secret) => found.push(secret),
                Err(err) => {
                    let var = self.var_name(name);
                    let problem = if err.is_not_found() {
                        if self.file_convention {
                            format!("missing: set {var} or {var}_FILE")
                        } else {
                            format!("missing: set {var}")
                        }
                    } else {
                        format!("{}: {}", err.kind(), err.message().unwrap_or(""))
                    };
                    problems.push((
                        FieldIssue {
                            field: (*name).to_string(),
                            problem,
                        },
                        err.kind(),
                    ));
                }
            }
        }
        if problems.is_empty() {
            return Ok(found);
        }
        let first = problems[0].1;
        let kind = if problems.iter().all(|(_, k)| *k == first) {
            first
        } else {
            ErrorKind::InvalidConfig
        };
        let mut message = format!(
            "{} of {} required secrets are missing or unusable",
            problems.len(),
            names.len()
        );
        if let Some(path) = &self.dotenv {
            message.push_str(&format!(
                " (looked in the environment and in {})",
                path.display()
            ));
        }
        Err(Error::new(kind, PROVIDER)
            .with_message(message)
            .with_fields(problems.into_iter().map(|(issue, _)| issue).collect()))
    }

    fn load_dotenv(&self, name: Option<&str>) -> Result<Option<DotenvVars>> {
        let Some(path) = &self.dotenv else {
            return Ok(None);
        };
        let buf = match read_file_limited(PROVIDER, name, path, self.max_size, &self.guard) {
            Ok(buf) => buf,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err),
        };
        let mut vars = DotenvVars::new();
        for item in dotenvy::from_read_iter(&buf[..]) {
            let (key, value) = item.map_err(|e| dotenv_error(name, path, e))?;
            // Last definition wins, as when the file is loaded into the environment.
            vars.insert(key, Zeroizing::new(value));
        }
        Ok(Some(vars))
    }

    fn lookup(
        &self,
        name: &str,
        var: &str,
        vars: Option<&DotenvVars>,
    ) -> Result<Option<Zeroizing<String>>> {
        if self.process_env {
            match std::env::var(var) {
                Ok(v) => return Ok(Some(Zeroizing::new(v))),
                Err(std::env::VarError::NotPresent) => {}
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(Error::new(ErrorKind::Decode, PROVIDER)
                        .with_secret(name)
                        .with_message(format!("variable {var} is not valid UTF-8")));
                }
            }
        }
        Ok(vars.and_then(|v| v.get(var)).cloned())
    }

    fn read(&self, name: &str, vars: Option<&DotenvVars>) -> Result<Secret> {
        check_local_name(PROVIDER, name)?;
        let var = self.var_name(name);
        if self.file_convention {
            let file_var = format!("{var}_FILE");
            if let Some(path_text) = self.lookup(name, &file_var, vars)? {
                if self.lookup(name, &var, vars)?.is_some() {
                    tracing::warn!(
                        provider = PROVIDER,
                        secret = name,
                        "both {var} and {file_var} are set; {file_var} wins"
                    );
                }
                return self.read_file_var(name, &file_var, Path::new(path_text.as_str()));
            }
        }
        if let Some(value) = self.lookup(name, &var, vars)? {
            return Ok(Secret::new(name, SecretValue::text(value.as_str())));
        }
        let mut msg = format!("variable {var}");
        if self.file_convention {
            msg.push_str(&format!(" (or {var}_FILE)"));
        }
        msg.push_str(" is not set");
        match (&self.dotenv, self.process_env) {
            (Some(path), true) => {
                msg.push_str(&format!(" in the environment or in {}", path.display()))
            }
            (Some(path), false) => msg.push_str(&format!(" in {}", path.display())),
            (None, _) => msg.push_str(" in the environment"),
        }
        Err(Error::new(ErrorKind::NotFound, PROVIDER)
            .with_secret(name)
            .with_message(msg))
    }

    fn read_file_var(&self, name: &str, file_var: &str, path: &Path) -> Result<Secret> {
        if path.as_os_str().is_empty() {
            return Err(Error::new(ErrorKind::InvalidConfig, PROVIDER)
                .with_secret(name)
                .with_message(format!("{file_var} is set but empty")));
        }
        let mut buf = read_file_limited(PROVIDER, Some(name), path, self.max_size, &self.guard)
            .map_err(|err| {
                if err.is_not_found() {
                    Error::new(ErrorKind::InvalidConfig, PROVIDER)
                        .with_secret(name)
                        .with_message(format!(
                            "{file_var} names {}, which does not exist",
                            path.display()
                        ))
                } else {
                    err
                }
            })?;
        trim_one_newline(&mut buf);
        Ok(Secret::new(
            name,
            SecretValue::from_utf8_or_bytes(into_exact(buf)),
        ))
    }
}

/// Converts a dotenvy error without its text: a `LineParse` error quotes the offending line,
/// which may hold a value.
fn dotenv_error(name: Option<&str>, path: &Path, err: dotenvy::Error) -> Error {
    let message = match err {
        dotenvy::Error::LineParse(_, index) => format!(
            "{} cannot be parsed near byte {index} (the line is not shown: it may hold a value)",
            path.display()
        ),
        _ => format!("{} cannot be parsed", path.display()),
    };
    let err = Error::new(ErrorKind::InvalidConfig, PROVIDER).with_message(message);
    match name {
        Some(name) => err.with_secret(name),
        None => err,
    }
}

#[async_trait]
impl SecretProvider for DotenvProvider {
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
                .with_message("environment variables have no versions"));
        }
        let vars = self.load_dotenv(Some(name))?;
        self.read(name, vars.as_ref())
    }

    async fn get_many(&self, names: &[&str]) -> Vec<Result<Secret>> {
        // One reading of the `.env` file for the whole batch.
        match self.load_dotenv(None) {
            Ok(vars) => names.iter().map(|n| self.read(n, vars.as_ref())).collect(),
            Err(err) => names
                .iter()
                .map(|n| Err(err.clone().with_secret(*n)))
                .collect(),
        }
    }
}
