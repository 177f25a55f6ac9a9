//! FolderWatcher: a kubelet-style swap is reported once, as the new version.
#![cfg(feature = "watch")]
#![allow(clippy::unwrap_used, clippy::print_stderr)] // test helpers outside #[test] fns

mod common;

use std::os::unix::fs::symlink;
use std::sync::mpsc;
use std::time::Duration;

use common::write;
use secrets_local::FolderProvider;

fn publish(volume: &std::path::Path, ts: &str, value: &str) {
    std::fs::create_dir_all(volume.join(ts)).unwrap();
    write(&volume.join(ts).join("password"), value, 0o400);
    let tmp = volume.join("..data_tmp");
    symlink(ts, &tmp).unwrap();
    std::fs::rename(&tmp, volume.join("..data")).unwrap();
    if std::fs::symlink_metadata(volume.join("password")).is_err() {
        symlink("..data/password", volume.join("password")).unwrap();
    }
}

#[test]
fn reports_each_new_version_once() {
    let root = tempfile::tempdir().unwrap();
    let volume = root.path().join("db");
    publish(&volume, "..2026_11_28_12_00_00.1", "one");
    write(&root.path().join("plain"), "a", 0o600);
    let folder = FolderProvider::new(root.path());
    let (tx, rx) = mpsc::channel();
    let watcher = folder
        .watch(&["db", "plain"], move |change| {
            let _ = tx.send(change);
        })
        .unwrap();
    assert!(format!("{watcher:?}").contains("\"db\""));

    publish(&volume, "..2026_11_28_12_00_00.2", "two");
    let change = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("no change reported");
    assert_eq!(change.name, "db");
    assert_eq!(change.version.unwrap(), "..2026_11_28_12_00_00.2");
    // Several file events, one version change: nothing more for `db`.
    std::thread::sleep(Duration::from_millis(200));
    assert!(rx.try_iter().all(|c| c.name != "db"));

    write(&root.path().join("plain"), "b", 0o600);
    let change = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("no change reported");
    assert_eq!(change.name, "plain");
    assert!(change.version.unwrap().starts_with("sha256:"));

    // A plain folder has no atomic update (a rewrite may be seen truncated first), so wait
    // for the removal among the changes.
    std::fs::remove_file(root.path().join("plain")).unwrap();
    let removed = loop {
        let change = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("no removal reported");
        assert_eq!(change.name, "plain");
        if let Err(e) = change.version {
            break e;
        }
    };
    assert!(removed.is_not_found());
    drop(watcher);
}
