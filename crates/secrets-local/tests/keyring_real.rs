//! KeyringProvider against the real OS keyring: on Linux the kernel keyutils store, no mock.
//!
//! If the kernel keyring cannot be used (a container whose seccomp profile blocks `keyctl`,
//! a kernel without CONFIG_KEYS), these tests FAIL with the reason; they never pass silently.
#![cfg(feature = "keyring")]
#![allow(clippy::unwrap_used, clippy::print_stderr)] // test helpers outside #[test] fns

mod common;

use common::{canary, error_text};
use secrets_core::{ErrorKind, SecretProvider, SecretValue, VersionSelector};
use secrets_local::KeyringProvider;

const LATEST: VersionSelector = VersionSelector::Latest;

fn unique(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), &canary("k")[9..])
}

/// Writes and reads one entry, and explains precisely what is wrong when the store is not
/// usable here.
fn require_keyring() {
    let k = KeyringProvider::for_service("secrets-local-probe");
    let user = unique("probe");
    if let Err(err) = k.set(&user, "probe") {
        panic!(
            "the OS keyring is not usable here, so the keyring tests cannot run: {err}.\n\
             On Linux this crate uses the kernel keyutils keyring (no D-Bus needed). Check it \
             with `apt-get install keyutils && keyctl show @s && keyctl add user t v @s`; in \
             Docker the default seccomp profile blocks the keyctl/add_key syscalls (run with \
             a profile that allows them)."
        );
    }
    let _ = k.delete(&user);
}

#[tokio::test]
async fn write_read_delete_round_trip_in_the_kernel_keyring() {
    require_keyring();
    let k = KeyringProvider::new();
    let service = unique("cgi-chat");
    let name = format!("{service}/postgres-password");
    assert_eq!(
        k.entry_of(&name).unwrap(),
        (service.replace('-', "_"), "postgres_password".to_string())
    );

    let value = canary("keyring");
    k.set(&name, value.as_str()).unwrap();
    let s = k.get(&name, &LATEST).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), value);
    assert!(!format!("{s:?}").contains(&value));

    // for_service reaches the same entry.
    let same = KeyringProvider::for_service(service.replace('-', "_"));
    let s = same.get("postgres-password", &LATEST).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), value);

    // Overwrite.
    k.set(&name, "second").unwrap();
    assert_eq!(
        k.get(&name, &LATEST)
            .await
            .unwrap()
            .value()
            .expose_text()
            .unwrap(),
        "second"
    );

    // Binary values round-trip as bytes.
    let bin_name = format!("{service}/bin");
    k.set(&bin_name, SecretValue::bytes(vec![0xff, 0x00, 0xfe]))
        .unwrap();
    let b = k.get(&bin_name, &LATEST).await.unwrap();
    assert!(b.value().is_binary());
    assert_eq!(b.value().expose_bytes(), &[0xff, 0x00, 0xfe]);
    assert_eq!(
        b.value().expose_text().unwrap_err().kind(),
        ErrorKind::Decode
    );
    k.delete(&bin_name).unwrap();

    k.delete(&name).unwrap();
    // keyutils invalidation is asynchronous for a few milliseconds in the same process.
    let mut gone = false;
    for _ in 0..100 {
        match k.get(&name, &LATEST).await {
            Err(e) if e.is_not_found() => {
                gone = true;
                break;
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    assert!(gone, "the deleted entry is still readable after 1 s");
    assert!(k.delete(&name).unwrap_err().is_not_found());
}

#[tokio::test]
async fn the_key_is_really_in_the_kernel_keyring() {
    require_keyring();
    // Look at the key through the kernel's own view, /proc/keys: the description keyring-rs
    // gives it is `keyring-rs:<user>@<service>`.
    let service = unique("svc");
    let k = KeyringProvider::for_service(&service);
    k.set("proc-check", "v").unwrap();
    let keys = std::fs::read_to_string("/proc/keys").expect("/proc/keys is readable");
    let description = format!("keyring-rs:proc_check@{service}");
    assert!(
        keys.contains(&description),
        "{description} is not in /proc/keys; the store is not keyutils"
    );
    k.delete("proc-check").unwrap();
}

#[tokio::test]
async fn errors_are_typed_and_never_hold_the_value() {
    require_keyring();
    let k = KeyringProvider::new();
    let missing = format!("{}/nope", unique("svc"));
    let err = k.get(&missing, &LATEST).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("user `nope`"), "{err}");

    for bad in ["one-segment", "../x", "a/../b", "/a/b", ""] {
        assert_eq!(
            k.get(bad, &LATEST).await.unwrap_err().kind(),
            ErrorKind::InvalidName,
            "{bad:?}"
        );
    }
    let name = format!("{}/empty", unique("svc"));
    assert_eq!(
        k.set(&name, "").unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
    assert_eq!(
        k.get(&name, &VersionSelector::id("1"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );

    // A value too large for keyutils (its `user` keys hold at most 32767 bytes).
    let big = canary("big").repeat(4000);
    let err = k.set(&name, big.as_str()).unwrap_err();
    assert!(
        !error_text(&err).contains("canary-big"),
        "{}",
        error_text(&err)
    );
}
