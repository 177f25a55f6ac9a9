//! FolderProvider: plain folders, Kubernetes' atomic `..data` swap, bad input.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // test helpers outside #[test] fns

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{error_text, write};
use secrets_core::{ErrorKind, SecretProvider, VersionSelector};
use secrets_local::FolderProvider;

const LATEST: VersionSelector = VersionSelector::Latest;

/// Does what the kubelet's atomic writer does: a new timestamped folder with the files, a
/// `..data_tmp` symlink to it renamed over `..data`, user-visible links through `..data`,
/// then the old folder removed.
fn kube_publish(volume: &Path, ts: &str, files: &[(&str, String)]) {
    std::fs::create_dir_all(volume).unwrap();
    let dir = volume.join(ts);
    std::fs::create_dir(&dir).unwrap();
    for (key, value) in files {
        write(&dir.join(key), value, 0o400);
    }
    let old = std::fs::read_link(volume.join("..data")).ok();
    let tmp = volume.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(ts, &tmp).unwrap();
    std::fs::rename(&tmp, volume.join("..data")).unwrap();
    for (key, _) in files {
        let link = volume.join(key);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{key}"), &link).unwrap();
        }
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(volume.join(old)).unwrap();
    }
}

fn ts(n: usize) -> String {
    format!("..2026_11_28_12_00_00.{n:09}")
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[tokio::test]
async fn plain_files_and_bundles() {
    let root = tempfile::tempdir().unwrap();
    write(&root.path().join("api-key"), "k-123\n", 0o600);
    write(&root.path().join("cgi-chat/database/user"), "chat\n", 0o600);
    write(
        &root.path().join("cgi-chat/database/password"),
        "pa\"ss\n",
        0o600,
    );
    write(&root.path().join("cgi-chat/database/.hidden"), "no", 0o600);
    write(
        &root.path().join("cgi-chat/database/replica/host"),
        "r1",
        0o600,
    );
    let p = FolderProvider::new(root.path());

    let s = p.get("api-key", &LATEST).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "k-123");
    assert!(s.version_id().unwrap().starts_with("sha256:"));
    assert_eq!(s.content_type(), None);

    let b = p.get("cgi-chat/database", &LATEST).await.unwrap();
    assert_eq!(
        b.value().expose_text().unwrap(),
        r#"{"password":"pa\"ss","user":"chat"}"#
    );
    assert_eq!(b.content_type(), Some("application/json"));
    let sub = p.get("cgi-chat/database/replica", &LATEST).await.unwrap();
    assert_eq!(sub.value().expose_text().unwrap(), r#"{"host":"r1"}"#);

    let untrimmed = p.clone().with_trim_newline(false);
    let s = untrimmed.get("api-key", &LATEST).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "k-123\n");

    assert!(p.get("nope", &LATEST).await.unwrap_err().is_not_found());
    assert!(
        p.get("api-key/below", &LATEST)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let missing_root = FolderProvider::new("/nonexistent/secrets");
    assert!(
        missing_root
            .get("x", &LATEST)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn plain_versions_follow_content_and_probe_agrees() {
    let root = tempfile::tempdir().unwrap();
    write(&root.path().join("db/password"), "one", 0o600);
    let p = FolderProvider::new(root.path());
    assert!(p.capabilities().version_probe);
    let v1 = p
        .get("db", &LATEST)
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    let probe = p.current_version("db").await.unwrap();
    assert_eq!(probe.version_id.as_deref(), Some(v1.as_str()));
    // Same size, same instant: the digest is of the contents, so it still changes.
    write(&root.path().join("db/password"), "two", 0o600);
    let v2 = p.current_version("db").await.unwrap().version_id.unwrap();
    assert_ne!(v1, v2);
    let s = p.get("db", &VersionSelector::id(&v2)).await.unwrap();
    assert_eq!(s.version_id(), Some(v2.as_str()));
    assert!(
        p.get("db", &VersionSelector::id(&v1))
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        p.get("db", &VersionSelector::stage("previous"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
    // The version id is salted: it is not the plain digest of the value.
    assert!(!v2.contains(
        "3fc4ccfe745870e2c0d99f71f30ff0656c8dedd41cc1d7d3d376b0dbe685e2f3"[..32].as_ref() as &str
    ));
}

#[tokio::test]
async fn kubernetes_volume_versions_are_the_data_folder() {
    let root = tempfile::tempdir().unwrap();
    let volume = root.path().join("cgi-chat/database");
    kube_publish(
        &volume,
        &ts(1),
        &[("user", "u1".into()), ("password", "p1".into())],
    );
    let p = FolderProvider::new(root.path());

    let b = p.get("cgi-chat/database", &LATEST).await.unwrap();
    assert_eq!(
        b.value().expose_text().unwrap(),
        r#"{"password":"p1","user":"u1"}"#
    );
    assert_eq!(b.version_id(), Some(ts(1).as_str()));
    assert!(b.created().is_some());
    let one = p.get("cgi-chat/database/password", &LATEST).await.unwrap();
    assert_eq!(one.value().expose_text().unwrap(), "p1");
    assert_eq!(one.version_id(), Some(ts(1).as_str()));

    kube_publish(
        &volume,
        &ts(2),
        &[("user", "u2".into()), ("password", "p2".into())],
    );
    let probe = p.current_version("cgi-chat/database").await.unwrap();
    assert_eq!(probe.version_id.as_deref(), Some(ts(2).as_str()));
    let probe = p.current_version("cgi-chat/database/user").await.unwrap();
    assert_eq!(probe.version_id.as_deref(), Some(ts(2).as_str()));
    assert!(
        p.current_version("cgi-chat/database/nope")
            .await
            .unwrap_err()
            .is_not_found()
    );
    let b = p
        .get("cgi-chat/database", &VersionSelector::id(ts(2)))
        .await
        .unwrap();
    assert_eq!(
        b.value().expose_text().unwrap(),
        r#"{"password":"p2","user":"u2"}"#
    );
    assert!(
        p.get("cgi-chat/database", &VersionSelector::id(ts(1)))
            .await
            .unwrap_err()
            .is_not_found()
    );

    // The volume as the root itself.
    let p = FolderProvider::new(&volume);
    let s = p.get("user", &LATEST).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), "u2");
    assert_eq!(s.version_id(), Some(ts(2).as_str()));
    // `..data` and the timestamped folders can never be named.
    for bad in ["..data", "..data/user", &ts(2)] {
        assert_eq!(
            p.get(bad, &LATEST).await.unwrap_err().kind(),
            ErrorKind::InvalidName
        );
    }
}

/// A reader loop concurrent with kubelet-style swaps never sees a mix of two versions, and
/// always reports the version it read.
#[test]
fn concurrent_reads_never_see_a_half_updated_volume() {
    let root = tempfile::tempdir().unwrap();
    let volume = root.path().join("app");
    let keys = ["a", "b", "c", "d", "e", "f"];
    let publish = |n: usize| {
        let files: Vec<_> = keys.iter().map(|k| (*k, format!("v{n}"))).collect();
        kube_publish(&volume, &ts(n), &files);
    };
    publish(0);
    let provider = Arc::new(FolderProvider::new(root.path()));
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let seen_versions = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));

    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (provider, done, reads, seen, busy) = (
                provider.clone(),
                done.clone(),
                reads.clone(),
                seen_versions.clone(),
                busy.clone(),
            );
            std::thread::spawn(move || {
                block_on(async move {
                    while !done.load(Ordering::Relaxed) {
                        let name = if r == 0 { "app" } else { "app/c" };
                        let s = match provider.get(name, &LATEST).await {
                            Ok(s) => s,
                            // Swapped 16 times during one read: retryable, never a mix.
                            Err(e) if e.kind() == ErrorKind::Unavailable && e.is_retryable() => {
                                busy.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            Err(e) => panic!("{e}"),
                        };
                        let version = s.version_id().unwrap().to_string();
                        let n: usize = version.rsplit('.').next().unwrap().parse().unwrap();
                        let text = s.value().expose_text().unwrap();
                        if r == 0 {
                            let v: serde_json::Value = serde_json::from_str(text).unwrap();
                            let obj = v.as_object().unwrap();
                            assert_eq!(obj.len(), 6, "{text}");
                            for (k, val) in obj {
                                assert_eq!(
                                    val,
                                    &format!("v{n}"),
                                    "mixed read: {k} in {text} at {version}"
                                );
                            }
                        } else {
                            assert_eq!(text, format!("v{n}"), "file read at {version}");
                        }
                        if let Some(probe) = block_on_probe(&provider) {
                            assert!(probe.starts_with("..2026"), "{probe}");
                        }
                        seen.lock().unwrap().insert(n);
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
        })
        .collect();

    let started = Instant::now();
    let mut swaps = 0;
    while swaps < 300 && started.elapsed() < Duration::from_secs(20) {
        swaps += 1;
        publish(swaps);
    }
    // Let the readers finish a few reads of the last version.
    std::thread::sleep(Duration::from_millis(50));
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader saw a mixed or broken volume");
    }
    let reads = reads.load(Ordering::Relaxed);
    let distinct = seen_versions.lock().unwrap().len();
    let busy = busy.load(Ordering::Relaxed);
    eprintln!("{swaps} swaps, {reads} reads, {distinct} distinct versions seen, {busy} busy");
    assert!(reads > 50, "too few reads to mean anything: {reads}");
    assert!(distinct > 5, "the readers saw too few versions: {distinct}");
}

fn block_on_probe(p: &FolderProvider) -> Option<String> {
    // current_version never blocks on anything but the file system; poll it inline.
    let fut = p.current_version("app");
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Ok(v)) => v.version_id,
        std::task::Poll::Ready(Err(e)) if e.kind() == ErrorKind::Unavailable => None,
        std::task::Poll::Ready(Err(e)) => panic!("{e}"),
        std::task::Poll::Pending => panic!("current_version should not wait"),
    }
}

#[tokio::test]
async fn bad_input_gives_typed_errors() {
    let root = tempfile::tempdir().unwrap();
    write(&root.path().join("big"), vec![b'x'; 300], 0o600);
    write(&root.path().join("bundle/a"), vec![b'x'; 150], 0o600);
    write(&root.path().join("bundle/b"), vec![b'x'; 150], 0o600);
    write(&root.path().join("mixed/text"), "ok", 0o600);
    write(&root.path().join("mixed/bin"), [0xff, 0xfe], 0o600);
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("shadow"), "outside", 0o600);
    symlink(outside.path().join("shadow"), root.path().join("escape")).unwrap();
    let fifo = root.path().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());

    let p = FolderProvider::new(root.path()).with_max_size(200);
    assert_eq!(
        p.get("big", &LATEST).await.unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    let err = p.get("bundle", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    let err = p.get("mixed", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.to_string().contains("`bin`"), "{err}");
    let bin = p.get("mixed/bin", &LATEST).await.unwrap();
    assert_eq!(bin.value().expose_bytes(), &[0xff, 0xfe]);
    assert_eq!(
        bin.value().expose_text().unwrap_err().kind(),
        ErrorKind::Decode
    );
    let err = p.get("escape", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(!error_text(&err).contains("outside\""));
    // A FIFO is refused without being opened (opening it would block).
    let err = p.get("fifo", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");

    for bad in [
        "../x",
        "../../etc/passwd",
        "a/../b",
        "/etc/passwd",
        "a//b",
        "a/",
        ".hidden",
        "a b",
        "a\\b",
    ] {
        let err = p.get(bad, &LATEST).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}: {err}");
        let err = p.current_version(bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}: {err}");
    }
}

#[tokio::test]
async fn strict_mode_refuses_files_others_can_read() {
    let root = tempfile::tempdir().unwrap();
    write(&root.path().join("docker-default"), "x", 0o444);
    write(&root.path().join("ok"), "y", 0o400);
    let p = FolderProvider::new(root.path()).strict();
    let err = p.get("docker-default", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsecurePermissions, "{err}");
    assert_eq!(
        p.get("ok", &LATEST)
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        "y"
    );
    // Kubernetes: the mode of the file behind the `..data` link is what counts.
    let volume = root.path().join("kube");
    kube_publish(&volume, &ts(1), &[("k", "v".into())]);
    common::chmod(&volume.join(ts(1)).join("k"), 0o644);
    let err = p.get("kube/k", &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsecurePermissions, "{err}");
    // The default policy only warns.
    let lenient = FolderProvider::new(root.path());
    assert_eq!(
        lenient
            .get("kube/k", &LATEST)
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        "v"
    );
}
