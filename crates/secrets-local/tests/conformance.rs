//! The same behaviour from every provider in this crate (until the shared suite lands in
//! secrets-testkit), and a canary that must never show up in any text the crate produces.
#![cfg(all(feature = "keyring", feature = "fernet"))]
#![allow(clippy::unwrap_used, clippy::print_stderr)] // test helpers outside #[test] fns

mod common;

use std::sync::Arc;

use common::{Logs, canary, error_text, write};
use secrets_core::{DynProvider, Secret, SecretProvider, VersionSelector};
use secrets_local::{
    ChainProvider, DotenvProvider, EncryptedYamlProvider, FolderProvider, KeyringProvider,
};

const LATEST: VersionSelector = VersionSelector::Latest;

/// Every observable text about a secret: Debug of the secret, its value, Display of the value.
fn secret_text(s: &Secret) -> String {
    format!(
        "{s:?} | {:?} | {} | {:?}",
        s.value(),
        s.value(),
        s.version()
    )
}

/// The shared behaviour: a present name gives its value, a missing one NotFound, a bad one
/// InvalidName; Debug/Display redact; nothing ever prints the canary.
async fn conformance(
    label: &str,
    p: &dyn SecretProvider,
    present: &str,
    absent: &str,
    value: &str,
) -> String {
    let mut texts = String::new();
    let s = p
        .get(present, &LATEST)
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(s.value().expose_text().unwrap(), value, "{label}");
    assert_eq!(s.name(), present, "{label}");
    let shown = secret_text(&s);
    assert!(shown.contains("[REDACTED]"), "{label}: {shown}");
    texts.push_str(&shown);

    let err = p.get(absent, &LATEST).await.unwrap_err();
    assert!(err.is_not_found(), "{label}: {err}");
    texts.push_str(&error_text(&err));

    for bad in ["../x", "a/../../b", "/etc/passwd", "a//b", "", "a\nb"] {
        let err = p.get(bad, &LATEST).await.unwrap_err();
        assert_eq!(
            err.kind(),
            secrets_core::ErrorKind::InvalidName,
            "{label} {bad:?}: {err}"
        );
        texts.push_str(&error_text(&err));
    }
    for r in p.get_many(&[present, absent, "../x"]).await {
        match r {
            Ok(s) => texts.push_str(&secret_text(&s)),
            Err(e) => texts.push_str(&error_text(&e)),
        }
    }
    if p.capabilities().version_probe {
        let v = p.current_version(present).await.unwrap();
        assert_eq!(
            v.version_id.as_deref(),
            s.version_id(),
            "{label}: probe and get disagree"
        );
        texts.push_str(&format!("{v:?}"));
    }
    texts.push_str(&format!("{p:?}"));
    texts
}

#[tokio::test]
async fn every_provider_behaves_the_same_and_never_prints_the_canary() {
    let value = canary("conformance");
    let (logs, _guard) = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let mut texts = String::new();

    // dotenv, the value in the .env file and through *_FILE; files left group-readable so the
    // warning path runs too.
    let env = dir.path().join(".env");
    let file = dir.path().join("via-file");
    write(&file, format!("{value}\n"), 0o644);
    write(
        &env,
        format!(
            "CANARY_DIRECT={value}\nCANARY_VIA_FILE_FILE={}\nBROKEN {value} '\n",
            file.display()
        ),
        0o644,
    );
    let broken = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&env);
    let err = broken.get("canary-direct", &LATEST).await.unwrap_err();
    texts.push_str(&error_text(&err));
    write(
        &env,
        format!(
            "CANARY_DIRECT={value}\nCANARY_VIA_FILE_FILE={}\n",
            file.display()
        ),
        0o644,
    );
    let dotenv = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&env);
    texts += &conformance("dotenv", &dotenv, "canary-direct", "canary-absent", &value).await;
    texts += &conformance(
        "dotenv *_FILE",
        &dotenv,
        "canary-via-file",
        "canary-absent",
        &value,
    )
    .await;
    let err = dotenv
        .require(&["canary-direct", "canary-absent", "x/y"])
        .unwrap_err();
    texts.push_str(&error_text(&err));
    let err = dotenv
        .clone()
        .strict()
        .require(&["canary-direct"])
        .unwrap_err();
    texts.push_str(&error_text(&err));
    let err = dotenv
        .clone()
        .with_max_size(4)
        .get("canary-direct", &LATEST)
        .await
        .unwrap_err();
    texts.push_str(&error_text(&err));

    // A plain folder and a Kubernetes-style volume.
    let root = dir.path().join("secrets");
    write(&root.join("canary"), &value, 0o600);
    write(&root.join("bundle/password"), &value, 0o600);
    write(&root.join("bundle/bin"), [0xff, 0xfe], 0o600);
    let folder = FolderProvider::new(&root);
    texts += &conformance("folder", &folder, "canary", "absent", &value).await;
    let err = folder.get("bundle", &LATEST).await.unwrap_err(); // not UTF-8
    texts.push_str(&error_text(&err));
    let err = folder
        .clone()
        .with_max_size(4)
        .get("canary", &LATEST)
        .await
        .unwrap_err();
    texts.push_str(&error_text(&err));
    write(&root.join("loose"), &value, 0o644);
    let err = folder
        .clone()
        .strict()
        .get("loose", &LATEST)
        .await
        .unwrap_err();
    texts.push_str(&error_text(&err));
    let volume = root.join("kube");
    std::fs::create_dir_all(volume.join("..2026_11_28_12_00_00.1")).unwrap();
    write(
        &volume.join("..2026_11_28_12_00_00.1/password"),
        &value,
        0o400,
    );
    std::os::unix::fs::symlink("..2026_11_28_12_00_00.1", volume.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/password", volume.join("password")).unwrap();
    texts += &conformance(
        "kubernetes",
        &folder,
        "kube/password",
        "kube/absent",
        &value,
    )
    .await;
    let b = folder.get("kube", &LATEST).await.unwrap();
    texts.push_str(&secret_text(&b));

    // The encrypted config file.
    let enc = EncryptedYamlProvider::in_dir(dir.path().join("enc"));
    std::fs::create_dir_all(dir.path().join("enc")).unwrap();
    enc.create_if_missing().unwrap();
    enc.set("canary/value", value.as_str()).unwrap();
    texts += &conformance("encrypted", &enc, "canary/value", "canary/absent", &value).await;
    texts.push_str(&secret_text(&enc.get("canary", &LATEST).await.unwrap()));
    texts.push_str(&format!("{:?}", enc.read_document().unwrap()));
    let wrong =
        EncryptedYamlProvider::with_key(enc.config_path(), secrets_local::FernetKey::generate());
    texts.push_str(&format!("{wrong:?}"));
    texts.push_str(&error_text(
        &wrong.get("canary/value", &LATEST).await.unwrap_err(),
    ));
    let err = enc
        .set_json("bad", &format!("{{\"a\": \"{value}\" oops"))
        .unwrap_err();
    texts.push_str(&error_text(&err));
    let err = enc.write_document(&format!("a: [{value}")).unwrap_err();
    texts.push_str(&error_text(&err));

    // The real OS keyring (kernel keyutils on Linux).
    let keyring =
        KeyringProvider::for_service(format!("secrets-local-canary-{}", std::process::id()));
    keyring
        .set("canary", value.as_str())
        .expect("the kernel keyring is needed: see keyring_real.rs");
    texts += &conformance("keyring", &keyring, "canary", "absent", &value).await;
    keyring.delete("canary").unwrap();

    // A chain over all of them.
    let chain = ChainProvider::new(vec![
        Arc::new(keyring) as DynProvider,
        Arc::new(folder),
        Arc::new(dotenv),
    ]);
    texts += &conformance("chain", &chain, "canary-direct", "canary-absent", &value).await;
    let (s, from) = chain.get_with_provenance("canary", &LATEST).await.unwrap();
    texts.push_str(&format!("{} {from} {from:?}", secret_text(&s)));

    texts.push_str(&logs.text());
    assert!(
        logs.text().contains("accessible to its group or to others"),
        "the warning path did not run"
    );
    assert!(!texts.contains(&value), "the canary leaked:\n{texts}");
    assert!(
        !texts.contains(&value[7..]),
        "part of the canary leaked:\n{texts}"
    );
}
