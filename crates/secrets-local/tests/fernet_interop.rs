//! Real interoperability with Python's `cryptography.fernet` + PyYAML, both directions, and
//! (feature `age`) with Python's `pyrage` for age-encrypted configs.
//!
//! The test makes a virtual environment in `<repo>/.cache/secrets-local-python` (ignored by
//! git; `$SECRETS_CACHE_DIR/secrets-local-python` when that is set, as scripts/test.sh does)
//! and installs `cryptography`, `pyyaml` and `pyrage` from PyPI into it, once. It needs `python3`
//! with the `venv` module; set `SECRETS_LOCAL_PYTHON` to use another interpreter that already
//! has both packages. When Python is missing the test FAILS and says how to install it.
#![cfg(feature = "fernet")]
#![allow(clippy::unwrap_used, clippy::print_stderr)] // test helpers outside #[test] fns

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use secrets_core::{SecretProvider, VersionSelector};
use secrets_local::EncryptedYamlProvider;

const LATEST: VersionSelector = VersionSelector::Latest;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fernet_interop.py")
}

#[cfg(feature = "age")]
fn age_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/age_interop.py")
}

fn has_packages(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import cryptography.fernet, yaml, pyrage"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Python interpreter with `cryptography` and `pyyaml`, set up once per test run.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(p) = std::env::var_os("SECRETS_LOCAL_PYTHON") {
            let p = PathBuf::from(p);
            assert!(
                has_packages(&p),
                "SECRETS_LOCAL_PYTHON={} lacks `cryptography`, `pyyaml` or `pyrage`: \
                 run `{} -m pip install cryptography pyyaml pyrage`",
                p.display(),
                p.display()
            );
            return p;
        }
        let cache = std::env::var_os("SECRETS_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache"));
        std::fs::create_dir_all(&cache).unwrap();
        let venv = cache.join("secrets-local-python");
        let venv_python = venv.join("bin/python");
        // nextest runs each test in its own process: one process sets the venv up at a time.
        let lock = std::fs::File::create(cache.join("secrets-local-python.lock")).unwrap();
        lock.lock().expect("lock the venv");
        if venv_python.exists() && has_packages(&venv_python) {
            return venv_python;
        }
        let started = Instant::now();
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status();
        match made {
            Err(e) => panic!(
                "python3 is needed for the Fernet interoperability test and cannot be run ({e}): \
                 install it (Debian: `apt-get install python3 python3-venv`) or set \
                 SECRETS_LOCAL_PYTHON to an interpreter with `cryptography` and `pyyaml`"
            ),
            Ok(s) if !s.success() => panic!(
                "`python3 -m venv {}` failed: install the venv module (Debian: \
                 `apt-get install python3-venv`) or set SECRETS_LOCAL_PYTHON",
                venv.display()
            ),
            Ok(_) => {}
        }
        let pip = Command::new(&venv_python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["cryptography", "pyyaml", "pyrage"])
            .status()
            .expect("run pip");
        assert!(
            pip.success(),
            "`pip install cryptography pyyaml pyrage` into {} failed (is PyPI reachable?)",
            venv.display()
        );
        eprintln!("set up {} in {:?}", venv.display(), started.elapsed());
        venv_python
    })
}

fn run_python(args: &[&str], stdin: &str) -> String {
    run_script(&script(), args, stdin)
}

/// Runs one of the support scripts with `args`, feeding `stdin`; returns its stdout.
fn run_script(script: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(python())
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn python_writes_rust_reads() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let document = serde_json::json!({
        "database": {"host": "db.internal", "port": 5432, "user": "chat", "password": "pä$$ \"wörd\"\n"},
        "cgi_chat": {"api_key": "k-123", "flags": [1, 2, 3]},
    });
    run_python(
        &["write", dir.path().to_str().unwrap()],
        &document.to_string(),
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(".config.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let p = EncryptedYamlProvider::in_dir(dir.path());
    let db = p.get("database", &LATEST).await.unwrap();
    let got: serde_json::Value = serde_json::from_str(db.value().expose_text().unwrap()).unwrap();
    assert_eq!(got, document["database"]);
    let pw = p.get("database/password", &LATEST).await.unwrap();
    assert_eq!(pw.value().expose_text().unwrap(), "pä$$ \"wörd\"\n");
    let key = p.get("cgi-chat/api-key", &LATEST).await.unwrap();
    assert_eq!(key.value().expose_text().unwrap(), "k-123");
    let cgi = p.get("cgi_chat", &LATEST).await.unwrap();
    let got: serde_json::Value = serde_json::from_str(cgi.value().expose_text().unwrap()).unwrap();
    assert_eq!(got, document["cgi_chat"]);
    let whole = p.read_document().unwrap();
    assert!(whole.expose_text().unwrap().contains("db.internal"));
    eprintln!("python -> rust: {:?}", started.elapsed());
}

#[tokio::test]
async fn rust_writes_python_reads() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let p = EncryptedYamlProvider::in_dir(dir.path());
    p.create_if_missing().unwrap();
    p.set_json(
        "database",
        r#"{"host":"db","port":5432,"password":"s3cr€t: {x}"}"#,
    )
    .unwrap();
    p.set("cgi-chat/api-key", "k-#123 'quoted'").unwrap();
    p.set("multi", "line one\nline two\n").unwrap();
    let out = run_python(&["read", dir.path().to_str().unwrap()], "");
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "database": {"host": "db", "port": 5432, "password": "s3cr€t: {x}"},
            "cgi-chat": {"api-key": "k-#123 'quoted'"},
            "multi": "line one\nline two\n",
        })
    );
    eprintln!("rust -> python: {:?}", started.elapsed());
}

/// pyrage encrypts a YAML document to the service's age public key; Rust reads it.
#[cfg(feature = "age")]
#[tokio::test]
async fn age_python_writes_rust_reads() {
    let dir = tempfile::tempdir().unwrap();
    let p = EncryptedYamlProvider::age_in_dir(dir.path());
    let key = secrets_local::AgeKey::generate();
    key.write_new(dir.path().join(".config.agekey")).unwrap();
    let config = dir.path().join("config.age.yaml");
    run_script(
        &age_script(),
        &["encrypt", &key.recipient(), config.to_str().unwrap()],
        "cgi-chat:\n  database:\n    host: db\n    port: 5432\n    password: from-python\n",
    );
    let db = p.get("cgi-chat/database", &LATEST).await.unwrap();
    assert_eq!(
        db.value().expose_text().unwrap(),
        r#"{"host":"db","port":5432,"password":"from-python"}"#
    );
}

/// Rust writes an age-encrypted document; pyrage decrypts it with the same identity file.
#[cfg(feature = "age")]
#[tokio::test]
async fn age_rust_writes_python_reads() {
    let dir = tempfile::tempdir().unwrap();
    let p = EncryptedYamlProvider::age_in_dir(dir.path());
    p.create_if_missing().unwrap();
    p.write_document("cgi-chat:\n  database:\n    password: from-rust\n    port: 5432\n")
        .unwrap();
    let json = run_script(
        &age_script(),
        &[
            "decrypt",
            dir.path().join(".config.agekey").to_str().unwrap(),
            dir.path().join("config.age.yaml").to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(
        json.trim(),
        r#"{"cgi-chat": {"database": {"password": "from-rust", "port": 5432}}}"#
    );
}
