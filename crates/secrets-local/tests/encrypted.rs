//! EncryptedYamlProvider: mapping, writing, and every way a file or key can be wrong.
#![cfg(feature = "fernet")]
#![allow(clippy::unwrap_used, clippy::print_stderr)] // test helpers outside #[test] fns

mod common;

use base64::Engine;
use common::{canary, chmod, error_text, write};
use secrets_core::{ErrorKind, SecretProvider, VersionSelector};
use secrets_local::{EncryptedYamlProvider, FernetKey};

const LATEST: VersionSelector = VersionSelector::Latest;

fn setup(yaml: &str) -> (tempfile::TempDir, EncryptedYamlProvider) {
    let dir = tempfile::tempdir().unwrap();
    let p = EncryptedYamlProvider::in_dir(dir.path());
    p.create_if_missing().unwrap();
    p.write_document(yaml).unwrap();
    (dir, p)
}

#[tokio::test]
async fn names_map_to_yaml_paths() {
    let (_dir, p) = setup(
        "database:\n  host: db\n  port: 5432\n  ssl: true\n  password: s3cret\n\
         cgi_chat:\n  api-key: k1\n  replicas:\n    - host: r0\n    - host: r1\n\
         empty: null\nnumber: 1.5\n",
    );
    let get = |name: &'static str| {
        let p = p.clone();
        async move { p.get(name, &LATEST).await }
    };
    let db = get("database").await.unwrap();
    assert_eq!(db.content_type(), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(db.value().expose_text().unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"host":"db","port":5432,"ssl":true,"password":"s3cret"})
    );
    assert_eq!(
        get("database/password")
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        "s3cret"
    );
    assert_eq!(
        get("database/port")
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        "5432"
    );
    assert_eq!(
        get("database/ssl")
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        "true"
    );
    assert_eq!(
        get("number").await.unwrap().value().expose_text().unwrap(),
        "1.5"
    );
    // `-` in a name also finds `_` in the document; the exact key is tried first.
    assert_eq!(
        get("cgi-chat/api-key")
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        "k1"
    );
    assert_eq!(
        get("cgi-chat/replicas/1/host")
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        "r1"
    );
    assert_eq!(
        get("cgi-chat/replicas")
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        r#"[{"host":"r0"},{"host":"r1"}]"#
    );
    for missing in [
        "nope",
        "database/nope",
        "database/host/deeper",
        "cgi-chat/replicas/7",
        "empty",
    ] {
        assert!(get(missing).await.unwrap_err().is_not_found(), "{missing}");
    }
    for bad in ["../x", "database/../../etc", "/database", "a//b"] {
        assert_eq!(
            p.get(bad, &LATEST).await.unwrap_err().kind(),
            ErrorKind::InvalidName
        );
    }
}

#[tokio::test]
async fn writes_and_versions() {
    let (dir, p) = setup("x: 1\n");
    let v0 = p.current_version("x").await.unwrap().version_id.unwrap();
    assert!(p.current_version("nope").await.unwrap_err().is_not_found());
    p.set("cgi-chat/database/password", "pw1").unwrap();
    p.set_json(
        "cgi-chat/database/replicas",
        r#"[{"host":"r0","port":5433}]"#,
    )
    .unwrap();
    let v1 = p.current_version("x").await.unwrap().version_id.unwrap();
    assert_ne!(v0, v1);
    let s = p.get("cgi-chat/database", &LATEST).await.unwrap();
    assert_eq!(s.version_id(), Some(v1.as_str()));
    assert_eq!(
        s.value().expose_text().unwrap(),
        r#"{"password":"pw1","replicas":[{"host":"r0","port":5433}]}"#
    );
    assert!(
        p.get("cgi-chat/database", &VersionSelector::id(&v0))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        p.get("cgi-chat/database", &VersionSelector::stage("x"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
    p.remove("cgi-chat/database/password").unwrap();
    assert!(
        p.get("cgi-chat/database/password", &LATEST)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        p.remove("cgi-chat/database/password")
            .unwrap_err()
            .is_not_found()
    );
    let err = p
        .set("cgi-chat/database/replicas/0/host/x", "no")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    let err = p.set_json("j", "{\"a\": ").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    // Written files have mode 0600, and the document reads back whole.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("config.enc.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let key_mode = std::fs::metadata(dir.path().join(".config.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    let doc = p.read_document().unwrap();
    assert!(doc.expose_text().unwrap().contains("replicas"));
    // A key file is never overwritten.
    let err = FernetKey::generate()
        .write_new(dir.path().join(".config.key"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
}

#[tokio::test]
async fn wrong_tampered_truncated_and_insecure_are_typed_errors_without_secrets() {
    let value = canary("enc");
    let (dir, p) = setup(&format!("database:\n  password: {value}\n"));
    let key_path = dir.path().join(".config.key");
    let key_text = std::fs::read_to_string(&key_path).unwrap();
    let config = dir.path().join("config.enc.yaml");
    let token = std::fs::read_to_string(&config).unwrap();
    let texts = std::cell::RefCell::new(Vec::new());
    let check = |err: secrets_core::Error, kind: ErrorKind, needle: &str| {
        assert_eq!(err.kind(), kind, "{err}");
        let text = error_text(&err);
        assert!(text.contains(needle), "{needle:?} not in {text}");
        texts.borrow_mut().push(text);
    };

    // Wrong key.
    let other = EncryptedYamlProvider::with_key(&config, FernetKey::generate());
    check(
        other.get("database", &LATEST).await.unwrap_err(),
        ErrorKind::Decode,
        "the key is wrong or the file was modified",
    );

    // Tampered: flip one byte of the ciphertext.
    let mut raw = base64::engine::general_purpose::URL_SAFE
        .decode(token.trim())
        .unwrap();
    raw[30] ^= 1;
    write(
        &config,
        base64::engine::general_purpose::URL_SAFE.encode(&raw),
        0o600,
    );
    check(
        p.get("database", &LATEST).await.unwrap_err(),
        ErrorKind::Decode,
        "the key is wrong or the file was modified",
    );

    // Truncated, at several lengths.
    for cut in [10, 60, token.len() / 2, token.len() - 3] {
        write(&config, &token[..cut], 0o600);
        let err = p.get("database", &LATEST).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "cut {cut}: {err}");
        texts.borrow_mut().push(error_text(&err));
    }
    write(&config, &token[..token.len() / 2], 0o600);
    check(
        p.get("database", &LATEST).await.unwrap_err(),
        ErrorKind::Decode,
        "truncated",
    );

    // Not a token at all: plaintext YAML, binary.
    write(&config, format!("database:\n  password: {value}\n"), 0o600);
    check(
        p.get("database", &LATEST).await.unwrap_err(),
        ErrorKind::Decode,
        "not a Fernet token",
    );
    write(&config, [0xff, 0x00, 0x80], 0o600);
    check(
        p.get("database", &LATEST).await.unwrap_err(),
        ErrorKind::Decode,
        "not a Fernet token",
    );

    // A valid token whose plaintext is not YAML / not UTF-8.
    let key = FernetKey::load(&key_path).unwrap();
    let raw_p = EncryptedYamlProvider::with_key(&config, key.clone());
    let f = fernet::Fernet::new(key.expose_base64()).unwrap();
    write(
        &config,
        f.encrypt(format!("a: [unclosed {value}").as_bytes()),
        0o600,
    );
    check(
        raw_p.get("a", &LATEST).await.unwrap_err(),
        ErrorKind::Decode,
        "not valid YAML at line",
    );
    write(&config, f.encrypt(&[0xff, 0xfe]), 0o600);
    check(
        raw_p.get("a", &LATEST).await.unwrap_err(),
        ErrorKind::Decode,
        "not UTF-8",
    );

    // Too large.
    write(
        &config,
        f.encrypt(format!("big: {}\n", "x".repeat(4096)).as_bytes()),
        0o600,
    );
    check(
        p.clone()
            .with_max_size(1024)
            .get("big", &LATEST)
            .await
            .unwrap_err(),
        ErrorKind::TooLarge,
        "limit",
    );

    // Key file readable by group/others: refused, whatever else.
    chmod(&key_path, 0o640);
    check(
        p.get("big", &LATEST).await.unwrap_err(),
        ErrorKind::InsecurePermissions,
        "chmod 600",
    );
    chmod(&key_path, 0o604);
    check(
        p.get("big", &LATEST).await.unwrap_err(),
        ErrorKind::InsecurePermissions,
        ".config.key",
    );
    chmod(&key_path, 0o600);
    assert_eq!(p.get("big", &LATEST).await.unwrap().value().len(), 4096);

    // A malformed key file, a missing key file, a missing config file.
    write(&key_path, format!("{value}\n"), 0o600);
    check(
        p.get("big", &LATEST).await.unwrap_err(),
        ErrorKind::InvalidConfig,
        "not a Fernet key file",
    );
    std::fs::remove_file(&key_path).unwrap();
    check(
        p.get("big", &LATEST).await.unwrap_err(),
        ErrorKind::InvalidConfig,
        "does not exist",
    );
    std::fs::remove_file(&config).unwrap();
    check(
        p.get("big", &LATEST).await.unwrap_err(),
        ErrorKind::NotFound,
        "does not exist",
    );
    assert!(FernetKey::from_base64(&value).is_err());

    for text in texts.borrow().iter() {
        assert!(!text.contains(&value), "the plaintext leaked: {text}");
        assert!(!text.contains(key_text.trim()), "the key leaked: {text}");
    }
}

#[test]
fn keys_accept_python_forms_and_never_print() {
    let key = FernetKey::generate();
    let padded = key.expose_base64().to_string();
    assert!(padded.ends_with('='));
    let unpadded = padded.trim_end_matches('=');
    let k2 = FernetKey::from_base64(&format!("{unpadded}\n")).unwrap();
    assert_eq!(k2.expose_base64(), padded);
    assert!(!format!("{key:?}").contains(&padded));
    let err = FernetKey::from_base64("c2hvcnQ=").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
}
