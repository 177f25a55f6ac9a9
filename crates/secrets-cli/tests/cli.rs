//! The `secrets` command, run as a process against the `env` provider and a `.env` file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on purpose

use std::path::PathBuf;
use std::process::{Command, Output};

const CANARY: &str = "canary-cli-5e1d9b";

fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "secrets-cli-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".env"),
        format!(
            "CGI_CHAT_DATABASE='{{\"host\":\"db\",\"port\":\"5432\",\"username\":\"u\",\"password\":\"{CANARY}\"}}'\n\
             CGI_CHAT_BROKEN='{{\"host\":\"db\",\"port\":\"{CANARY}\"}}'\n\
             PLAIN=hello\n"
        ),
    )
    .unwrap();
    dir
}

fn secrets(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secrets"));
    cmd.args(args).current_dir(workdir());
    for (key, _) in std::env::vars() {
        if key.starts_with("SECRETS_") || key.starts_with("CGI_CHAT") {
            cmd.env_remove(key);
        }
    }
    cmd.output().expect("run secrets")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn get_prints_metadata_and_redacts() {
    let out = secrets(&["get", "cgi-chat/database"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["name"], "cgi-chat/database");
    assert_eq!(json["provider"], "env");
    assert_eq!(json["value"], "[REDACTED]");
    assert!(!text(&out).contains(CANARY));
}

#[test]
fn reveal_prints_only_the_value() {
    let out = secrets(&["get", "plain", "--reveal"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
}

#[test]
fn check_reports_every_failure_and_exits_1() {
    let out = secrets(&[
        "check",
        "cgi-chat/database",
        "nope/one",
        "plain",
        "nope/two",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("ok      cgi-chat/database"), "{all}");
    assert!(all.contains("FAILED  nope/one: not found"), "{all}");
    assert!(all.contains("FAILED  nope/two: not found"), "{all}");
    assert!(all.contains("2 of 4 secrets cannot be read"), "{all}");
    assert!(!all.contains(CANARY));
}

#[test]
fn database_decodes_redacts_and_reveals_the_url_on_request() {
    let out = secrets(&["database", "cgi-chat/database"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("url: postgres://u:[REDACTED]@db:5432"));
    assert!(!text(&out).contains(CANARY));
    let out = secrets(&["database", "cgi-chat/database", "--url"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("postgres://u:{CANARY}@db:5432\n")
    );
}

#[test]
fn a_bad_bundle_names_the_fields_not_the_values() {
    let out = secrets(&["database", "cgi-chat/broken"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    for field in [
        "`username`: missing",
        "`password`: missing",
        "`port`: expected",
    ] {
        assert!(all.contains(field), "{field} in {all}");
    }
    assert!(!all.contains(CANARY), "{all}");
}

#[test]
fn unknown_provider_is_a_configuration_error() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secrets"));
    let out = cmd
        .args(["get", "x"])
        .current_dir(workdir())
        .env("SECRETS_PROVIDER", "nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("is not a known provider"),
        "{}",
        text(&out)
    );
}

#[test]
fn providers_lists_env() {
    let out = secrets(&["providers"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "env")
    );
}

/// `SECRETS_PROVIDER=encrypted SECRETS_ENCRYPTED_FORMAT=age` reads an age-encrypted config.
#[cfg(feature = "local")]
#[test]
fn encrypted_age_config_through_the_environment() {
    let dir = workdir();
    let config = secrets::local::EncryptedYamlProvider::age_in_dir(&dir);
    config.create_if_missing().unwrap();
    config
        .write_document(&format!(
            "cgi-chat:\n  database:\n    host: db\n    port: 5432\n    username: u\n    password: {CANARY}\n"
        ))
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_secrets"))
        .args(["database", "cgi-chat/database"])
        .current_dir(&dir)
        .env("SECRETS_PROVIDER", "encrypted")
        .env("SECRETS_ENCRYPTED_FORMAT", "age")
        .env("SECRETS_ENCRYPTED_DIR", &dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("url: postgres://u:[REDACTED]@db:5432"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(CANARY));
    let out = Command::new(env!("CARGO_BIN_EXE_secrets"))
        .args(["get", "cgi-chat/database"])
        .current_dir(&dir)
        .env("SECRETS_PROVIDER", "encrypted")
        .env("SECRETS_ENCRYPTED_FORMAT", "rot13")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
