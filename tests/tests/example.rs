//! The README's first command: the cgi-chat example on its embedded default.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on purpose

use std::process::Command;

#[test]
fn cgi_chat_runs_on_the_embedded_default_and_redacts_the_password() {
    let out = Command::new(env!("CARGO"))
        .args([
            "run",
            "-q",
            "-p",
            "secrets-examples",
            "--example",
            "cgi-chat",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("SECRETS_PROVIDER")
        .env_remove("SECRETS_DOTENV")
        .env_remove("CGI_CHAT_DATABASE")
        .output()
        .expect("cargo run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the example failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("from the `env` provider"), "{stdout}");
    assert!(
        stdout.contains("url:      postgres://cgi_chat:[REDACTED]@127.0.0.1:5432/cgi_chat"),
        "{stdout}"
    );
    // The sample password is in examples/cgi-chat/.env; it must not be printed.
    assert!(!stdout.contains("sample-password-not-secret"), "{stdout}");
    assert!(!stderr.contains("sample-password-not-secret"), "{stderr}");
}
