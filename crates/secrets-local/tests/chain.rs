//! ChainProvider: order, fall-through on NotFound only, provenance.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // test helpers outside #[test] fns

mod common;

use std::sync::Arc;

use common::{Logs, write};
use secrets_core::{DynProvider, ErrorKind, MemoryProvider, SecretProvider, VersionSelector};
use secrets_local::{ChainProvider, DotenvProvider, FolderProvider};

const LATEST: VersionSelector = VersionSelector::Latest;

#[tokio::test]
async fn first_source_wins_then_falls_back_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    write(
        &env,
        "CGI_CHAT_POSTGRES_PASSWORD=from-env\nCGI_CHAT_API_KEY=env-key\n",
        0o600,
    );
    // "keyring first, then the environment", with a memory store standing in for the keyring
    // (the real keyring is exercised in keyring_real.rs).
    let keyring = MemoryProvider::with_secrets([("cgi-chat/postgres-password", "from-keyring")]);
    let chain = ChainProvider::new(vec![
        Arc::new(keyring) as DynProvider,
        Arc::new(
            DotenvProvider::new()
                .without_process_env()
                .with_dotenv(&env),
        ),
    ]);
    assert_eq!(chain.sources().collect::<Vec<_>>(), ["memory", "dotenv"]);

    let (logs, _guard) = Logs::capture();
    let (s, from) = chain
        .get_with_provenance("cgi-chat/postgres-password", &LATEST)
        .await
        .unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "from-keyring");
    assert_eq!(
        (from.source.as_str(), from.index, from.version.as_deref()),
        ("memory", 0, Some("1"))
    );
    assert_eq!(from.to_string(), "memory (source #0), version 1");

    let (s, from) = chain
        .get_with_provenance("cgi-chat/api-key", &LATEST)
        .await
        .unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "env-key");
    assert_eq!(
        (from.source.as_str(), from.index, from.version),
        ("dotenv", 1, None)
    );

    let logged = logs.text();
    assert!(logged.contains("secret resolved by chain"), "{logged}");
    assert!(
        logged.contains("source=dotenv") && logged.contains("source=memory"),
        "{logged}"
    );
    assert!(
        !logged.contains("from-keyring") && !logged.contains("env-key"),
        "{logged}"
    );

    let err = chain.get("cgi-chat/nope", &LATEST).await.unwrap_err();
    assert_eq!((err.kind(), err.provider()), (ErrorKind::NotFound, "chain"));
    assert!(
        err.to_string().contains("memory:") && err.to_string().contains("CGI_CHAT_NOPE"),
        "{err}"
    );
    // Through the trait object too.
    let dynamic: DynProvider = Arc::new(chain);
    assert_eq!(
        dynamic
            .get("cgi-chat/api-key", &LATEST)
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        "env-key"
    );
}

#[tokio::test]
async fn other_errors_stop_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    write(&env, "API_KEY=would-hide-the-problem\n", 0o600);
    let insecure = dir.path().join("secrets");
    write(&insecure.join("api-key"), "from-folder", 0o644);
    let chain = ChainProvider::new(vec![])
        .with_source("mounted", FolderProvider::new(&insecure).strict())
        .with_source(
            "env",
            DotenvProvider::new()
                .without_process_env()
                .with_dotenv(&env),
        );
    let err = chain.get("api-key", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsecurePermissions, "{err}");
    assert_eq!(err.provider(), "folder");

    // InvalidName stops too, unless asked to fall through.
    let keyring_like = MemoryProvider::new();
    let strict_names = ChainProvider::new(vec![])
        .with_source("folder", FolderProvider::new(&insecure))
        .with_source("memory", keyring_like);
    assert_eq!(
        strict_names.get("a b", &LATEST).await.unwrap_err().kind(),
        ErrorKind::InvalidName
    );
    let lenient = ChainProvider::new(vec![])
        .with_source("folder", FolderProvider::new(&insecure))
        .with_source("memory", MemoryProvider::with_secrets([("a b", "ok")]))
        .falling_through_on(ErrorKind::InvalidName);
    let (s, from) = lenient.get_with_provenance("a b", &LATEST).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "ok");
    assert_eq!(from.source, "memory");
}

#[tokio::test]
async fn version_probe_follows_the_same_order() {
    let root = tempfile::tempdir().unwrap();
    write(&root.path().join("db"), "folder", 0o600);
    let memory = MemoryProvider::with_secrets([("only-in-memory", "m")]);
    let chain = ChainProvider::new(vec![])
        .with_source("folder", FolderProvider::new(root.path()))
        .with_source("memory", memory);
    assert!(chain.capabilities().version_probe);
    let v = chain.current_version("db").await.unwrap();
    assert!(v.version_id.unwrap().starts_with("sha256:"));
    let v = chain.current_version("only-in-memory").await.unwrap();
    assert_eq!(v.version_id.as_deref(), Some("1"));
    assert!(
        chain
            .current_version("nowhere")
            .await
            .unwrap_err()
            .is_not_found()
    );

    let with_env = chain.with_source("env", DotenvProvider::new());
    assert!(!with_env.capabilities().version_probe);
    assert!(format!("{with_env:?}").contains("\"folder\", \"memory\", \"env\""));
}
