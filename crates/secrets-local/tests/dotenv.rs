//! DotenvProvider: `.env`, `*_FILE`, fail-fast validation, permissions, bad input.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // test helpers outside #[test] fns

mod common;

use common::{Logs, chmod, error_text, running_as_root, write};
use secrets_core::{ErrorKind, SecretProvider, VersionSelector};
use secrets_local::{DotenvProvider, PermissionPolicy};

const LATEST: VersionSelector = VersionSelector::Latest;

#[tokio::test]
async fn file_convention_wins_and_trims_one_newline() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("postgres_password");
    write(&pw, "from-file\n\n", 0o600);
    let env = dir.path().join(".env");
    write(
        &env,
        format!(
            "POSTGRES_PASSWORD=from-var\nPOSTGRES_PASSWORD_FILE={}\nPOSTGRES_USER=chat\n",
            pw.display()
        ),
        0o600,
    );
    let p = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&env);
    let (logs, _guard) = Logs::capture();
    let s = p.get("postgres-password", &LATEST).await.unwrap();
    // Exactly one trailing newline is removed.
    assert_eq!(s.value().expose_text().unwrap(), "from-file\n");
    assert!(
        logs.text().contains("POSTGRES_PASSWORD_FILE wins"),
        "{}",
        logs.text()
    );
    let u = p.get("postgres-user", &LATEST).await.unwrap();
    assert_eq!(u.value().expose_text().unwrap(), "chat");

    // Without the convention the plain variable is read.
    let plain = p.clone().without_file_convention();
    let s = plain.get("postgres-password", &LATEST).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "from-var");
}

#[tokio::test]
async fn file_var_pointing_nowhere_is_invalid_config_not_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    write(
        &env,
        "API_KEY_FILE=/nonexistent/secret\nEMPTY_FILE=\n",
        0o600,
    );
    let p = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&env);
    let err = p.get("api-key", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(
        err.to_string()
            .contains("API_KEY_FILE names /nonexistent/secret"),
        "{err}"
    );
    let err = p.get("empty", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
}

#[tokio::test]
async fn process_env_wins_over_dotenv_and_prefix_applies() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    write(
        &env,
        "SECRETS_LOCAL_TEST_PATH=from-file\nAPP_DB=prefixed\n",
        0o600,
    );
    let p = DotenvProvider::new().with_dotenv(&env);
    // PATH is set in every test environment.
    let s = p.get("path", &LATEST).await.unwrap();
    assert_eq!(
        s.value().expose_text().unwrap(),
        std::env::var("PATH").unwrap()
    );
    let s = p.get("secrets-local-test-path", &LATEST).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "from-file");
    let prefixed = p.clone().with_prefix("APP_");
    assert_eq!(prefixed.var_name("db"), "APP_DB");
    let s = prefixed.get("db", &LATEST).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "prefixed");
}

#[test]
fn require_reports_every_missing_name_in_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    write(&env, "CGI_CHAT_API_KEY=k\n", 0o600);
    let p = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&env);
    let found = p.require(&["cgi-chat/api-key"]).unwrap();
    assert_eq!(found[0].value().expose_text().unwrap(), "k");

    let err = p
        .require(&[
            "cgi-chat/database",
            "cgi-chat/api-key",
            "smtp/password",
            "redis/url",
        ])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let fields: Vec<_> = err.fields().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["cgi-chat/database", "smtp/password", "redis/url"]);
    let text = err.to_string();
    for var in [
        "CGI_CHAT_DATABASE",
        "CGI_CHAT_DATABASE_FILE",
        "SMTP_PASSWORD",
        "REDIS_URL",
    ] {
        assert!(text.contains(var), "{text}");
    }
    assert!(text.contains("3 of 4 required secrets"), "{text}");

    // A mix of kinds becomes InvalidConfig, each problem still listed.
    let err = p.require(&["x", "../y"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert_eq!(err.fields().len(), 2);
}

#[test]
fn insecure_dotenv_warns_by_default_and_strict_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    write(&env, "A=1\n", 0o644);
    let (logs, _guard) = Logs::capture();
    let p = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&env);
    assert_eq!(p.permission_policy(), PermissionPolicy::Warn);
    p.require(&["a"]).unwrap();
    p.require(&["a"]).unwrap();
    let text = logs.text();
    assert_eq!(
        text.matches("accessible to its group or to others").count(),
        1,
        "{text}"
    );
    assert!(text.contains("0644") && text.contains(".env"), "{text}");

    let strict = p.clone().strict();
    let err = strict.require(&["a"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsecurePermissions, "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");

    // A *_FILE target is checked too.
    let target = dir.path().join("pw");
    write(&target, "x", 0o640);
    write(&env, format!("PW_FILE={}\n", target.display()), 0o600);
    let err = strict.require(&["pw"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsecurePermissions, "{err}");
    chmod(&target, 0o400);
    assert_eq!(
        strict.require(&["pw"]).unwrap()[0]
            .value()
            .expose_text()
            .unwrap(),
        "x"
    );

    let ignore = p.with_permission_policy(PermissionPolicy::Ignore);
    write(&env, "A=1\n", 0o666);
    ignore.require(&["a"]).unwrap();
}

#[tokio::test]
async fn bad_input_gives_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    write(&big, vec![b'x'; 2048], 0o600);
    let bin = dir.path().join("bin");
    write(&bin, [0xff, 0xfe, 0x00, 0x01], 0o600);
    let env = dir.path().join(".env");
    write(
        &env,
        format!(
            "BIG_FILE={}\nBIN_FILE={}\nDIR_FILE={}\n",
            big.display(),
            bin.display(),
            dir.path().display()
        ),
        0o600,
    );
    let p = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&env)
        .with_max_size(1024);

    let err = p.get("big", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");

    let s = p.get("bin", &LATEST).await.unwrap();
    assert!(s.value().is_binary());
    assert_eq!(
        s.value().expose_text().unwrap_err().kind(),
        ErrorKind::Decode
    );

    let err = p.get("dir", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");

    for bad in ["../x", "a/../../etc/passwd", "/abs", "a//b", ".env", ""] {
        let err = p.get(bad, &LATEST).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}: {err}");
    }
    let err = p.get("big", &VersionSelector::id("1")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);

    // A .env file that is too large.
    write(&env, format!("A={}\n", "y".repeat(2048)), 0o600);
    assert_eq!(
        p.get("a", &LATEST).await.unwrap_err().kind(),
        ErrorKind::TooLarge
    );
}

#[tokio::test]
async fn unreadable_file_is_permission_denied_unless_root() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    write(&pw, "hidden", 0o000);
    let env = dir.path().join(".env");
    write(&env, format!("PW_FILE={}\n", pw.display()), 0o600);
    let p = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&env);
    let got = p.get("pw", &LATEST).await;
    if running_as_root() {
        // Root reads files whatever their mode: the read succeeds, and mode 000 is not
        // "accessible to group or others", so even strict mode accepts it.
        assert_eq!(got.unwrap().value().expose_text().unwrap(), "hidden");
    } else {
        assert_eq!(got.unwrap_err().kind(), ErrorKind::PermissionDenied);
    }
}

#[tokio::test]
async fn parse_error_never_echoes_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    let canary = common::canary("dotenv-parse");
    write(
        &env,
        format!("GOOD=1\nBROKEN {canary} 'unterminated\n"),
        0o600,
    );
    let p = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&env);
    let err = p.get("good", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let text = error_text(&err);
    assert!(!text.contains(&canary), "{text}");
    assert!(text.contains("near byte"), "{text}");
}

#[tokio::test]
async fn missing_dotenv_is_not_an_error_and_get_many_reads_once() {
    let p = DotenvProvider::new()
        .without_process_env()
        .with_dotenv("/nonexistent/.env");
    let err = p.get("x", &LATEST).await.unwrap_err();
    assert!(err.is_not_found());
    assert!(
        err.to_string()
            .contains("X (or X_FILE) is not set in /nonexistent/.env"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    write(&env, "A=1\nB=2\n", 0o600);
    let p = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&env);
    let many = p.get_many(&["a", "b", "c"]).await;
    assert_eq!(
        many[0].as_ref().unwrap().value().expose_text().unwrap(),
        "1"
    );
    assert_eq!(
        many[1].as_ref().unwrap().value().expose_text().unwrap(),
        "2"
    );
    assert!(many[2].as_ref().unwrap_err().is_not_found());
}
