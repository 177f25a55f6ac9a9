//! The facade over the local providers: a Kubernetes secret volume's atomic update reaches a
//! typed watch as one new version, and the `*_FILE` convention works through `Secrets`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on purpose

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrets::local::{DotenvProvider, FolderProvider};
use secrets::{CacheConfig, DatabaseConfig, Secrets};
use secrets_testkit::unique_name;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name(tag).replace('/', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the kubelet's atomic writer does: a new timestamped folder with every file, a
/// `..data_tmp` link to it renamed over `..data`, per-key links through `..data`, then the
/// old folder removed.
fn kube_publish(volume: &Path, ts: &str, files: &[(&str, &str)]) {
    std::fs::create_dir_all(volume).unwrap();
    let dir = volume.join(ts);
    std::fs::create_dir(&dir).unwrap();
    for (key, value) in files {
        std::fs::write(dir.join(key), value).unwrap();
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

fn db_files(password: &str) -> Vec<(&'static str, String)> {
    vec![
        ("engine", "postgres".into()),
        ("host", "db.k8s.internal".into()),
        ("port", "5432".into()),
        ("username", "app".into()),
        ("password", password.into()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_volume_swap_reaches_the_watch_as_one_version() {
    let root = temp_dir("k8s");
    let volume = root.join("cgi-chat/database");
    let files = db_files("first");
    let refs: Vec<(&str, &str)> = files.iter().map(|(k, v)| (*k, v.as_str())).collect();
    kube_publish(&volume, "..2026_11_28_12_00_00.000000001", &refs);

    let secrets = Secrets::builder()
        .with_provider(FolderProvider::new(&root))
        .with_cache(
            CacheConfig::default()
                .with_ttl(Duration::from_secs(1))
                .with_refresh_ahead(Duration::from_millis(300))
                .with_jitter(0.0),
        )
        .build()
        .await
        .unwrap();
    let mut watch = secrets
        .watch::<DatabaseConfig>("cgi-chat/database")
        .await
        .unwrap();
    let first = watch.current();
    assert_eq!((first.host.as_str(), first.port), ("db.k8s.internal", 5432));
    assert!(first.same_password(&DatabaseConfig::new("h", 1, "u", "first")));

    let files = db_files("second");
    let refs: Vec<(&str, &str)> = files.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let swapped = Instant::now();
    kube_publish(&volume, "..2026_11_28_12_05_00.000000002", &refs);
    let next = tokio::time::timeout(Duration::from_secs(3), watch.changed())
        .await
        .expect("the swap reached the watch")
        .unwrap();
    assert!(
        swapped.elapsed() <= Duration::from_secs(2), /* TTL 1 s + margin */
        "{:?}",
        swapped.elapsed()
    );
    assert!(next.same_password(&DatabaseConfig::new("h", 1, "u", "second")));
    let raw = secrets.get("cgi-chat/database").await.unwrap();
    assert_eq!(raw.version_id(), Some("..2026_11_28_12_05_00.000000002"));
    // One swap, one new version: no further change is announced.
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), watch.changed())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn file_convention_through_the_facade() {
    let dir = temp_dir("file-convention");
    let password_file = dir.join("postgres_password");
    std::fs::write(&password_file, "from-the-file\n").unwrap();
    let dotenv = dir.join(".env");
    std::fs::write(
        &dotenv,
        format!(
            "POSTGRES_PASSWORD=from-the-variable\nPOSTGRES_PASSWORD_FILE={}\n",
            password_file.display()
        ),
    )
    .unwrap();
    let secrets = Secrets::new(
        DotenvProvider::new()
            .without_process_env()
            .with_dotenv(&dotenv),
    );
    let value = secrets.get("postgres/password").await.unwrap();
    assert_eq!(value.value().expose_text().unwrap(), "from-the-file");
}
