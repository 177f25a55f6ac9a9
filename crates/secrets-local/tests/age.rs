//! age-encrypted YAML configs: round trips, extra recipients, permissions, and typed errors
//! for a wrong identity, a modified file and a truncated file, none quoting the content.

#![cfg(feature = "age")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on purpose

use std::os::unix::fs::PermissionsExt;

use secrets_core::{ErrorKind, SecretProvider, VersionSelector};
use secrets_local::{AgeKey, EncryptedYamlProvider};

const LATEST: VersionSelector = VersionSelector::Latest;
const CANARY: &str = "canary-age-7f00e1";

fn doc() -> String {
    format!("cgi-chat:\n  database:\n    host: db\n    port: 5432\n    password: {CANARY}\n")
}

fn setup() -> (tempfile::TempDir, EncryptedYamlProvider) {
    let dir = tempfile::tempdir().unwrap();
    let p = EncryptedYamlProvider::age_in_dir(dir.path());
    p.create_if_missing().unwrap();
    p.write_document(&doc()).unwrap();
    (dir, p)
}

#[tokio::test]
async fn round_trip_and_layout() {
    let (dir, p) = setup();
    let identity = dir.path().join(".config.agekey");
    let mode = std::fs::metadata(&identity).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let file = std::fs::read_to_string(dir.path().join("config.age.yaml")).unwrap();
    assert!(
        file.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{file}"
    );
    assert!(!file.contains(CANARY));
    let db = p.get("cgi-chat/database", &LATEST).await.unwrap();
    assert_eq!(
        db.value().expose_text().unwrap(),
        format!(r#"{{"host":"db","port":5432,"password":"{CANARY}"}}"#)
    );
    p.set("cgi-chat/database/password", "rotated").unwrap();
    let pw = p.get("cgi-chat/database/password", &LATEST).await.unwrap();
    assert_eq!(pw.value().expose_text().unwrap(), "rotated");
    assert_eq!(
        p.current_version("cgi-chat/database")
            .await
            .unwrap()
            .version_id
            .as_deref(),
        pw.version_id()
    );
    assert!(
        p.get("cgi-chat/nope", &LATEST)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn extra_recipients_can_read_what_the_service_writes() {
    let dir = tempfile::tempdir().unwrap();
    let operator = AgeKey::generate();
    let operator_file = dir.path().join("operator.agekey");
    operator.write_new(&operator_file).unwrap();
    let service =
        EncryptedYamlProvider::age_in_dir(dir.path()).with_age_recipients([operator.recipient()]);
    service.create_if_missing().unwrap();
    service.write_document(&doc()).unwrap();
    let as_operator =
        EncryptedYamlProvider::age(dir.path().join("config.age.yaml"), &operator_file);
    let pw = as_operator
        .get("cgi-chat/database/password", &LATEST)
        .await
        .unwrap();
    assert_eq!(pw.value().expose_text().unwrap(), CANARY);
    assert!(format!("{operator:?}").starts_with("AgeKey(age1"));
}

#[tokio::test]
async fn bad_files_get_typed_errors_without_content() {
    let (dir, p) = setup();
    let config = dir.path().join("config.age.yaml");
    let original = std::fs::read_to_string(&config).unwrap();
    let check = |err: secrets_core::Error, kind: ErrorKind, says: &str| {
        let text = format!("{err} {err:?}");
        assert_eq!(err.kind(), kind, "{text}");
        assert!(text.contains(says), "{says} in {text}");
        assert!(!text.contains(CANARY), "{text}");
    };

    // Another identity.
    let other = tempfile::tempdir().unwrap();
    AgeKey::generate()
        .write_new(other.path().join("id"))
        .unwrap();
    let stranger = EncryptedYamlProvider::age(&config, other.path().join("id"));
    check(
        stranger.get("cgi-chat", &LATEST).await.unwrap_err(),
        ErrorKind::Decode,
        "not encrypted to this identity",
    );

    // A modified payload: flip one base64 character in the body.
    let mut lines: Vec<String> = original.lines().map(String::from).collect();
    let body = lines.len() - 2;
    let c = lines[body].remove(0);
    lines[body].insert(0, if c == 'A' { 'B' } else { 'A' });
    std::fs::write(&config, lines.join("\n") + "\n").unwrap();
    let err = p.get("cgi-chat", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(!err.to_string().contains(CANARY));

    // Truncated.
    std::fs::write(&config, &original[..original.len() / 2]).unwrap();
    check(
        p.get("cgi-chat", &LATEST).await.unwrap_err(),
        ErrorKind::Decode,
        "config.age.yaml",
    );

    // Not an age file at all.
    std::fs::write(&config, "gAAAAABfernet-token-here").unwrap();
    check(
        p.get("cgi-chat", &LATEST).await.unwrap_err(),
        ErrorKind::Decode,
        "not an age file",
    );
}

#[tokio::test]
async fn identity_readable_by_others_is_refused() {
    let (dir, p) = setup();
    let identity = dir.path().join(".config.agekey");
    std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = p.get("cgi-chat", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsecurePermissions, "{err}");
    std::fs::write(&identity, "not a key").unwrap();
    std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = p.get("cgi-chat", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
}
