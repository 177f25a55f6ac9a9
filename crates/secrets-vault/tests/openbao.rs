//! Integration tests against OpenBao (the Vault API) and PostgreSQL.
//!
//! Start both with `./scripts/servers.sh start openbao postgres` (OpenBao dev server on
//! 127.0.0.1:8200 with root token `root`, PostgreSQL on 127.0.0.1:55432). The addresses come
//! from `SECRETS_TEST_VAULT_ADDR`, `SECRETS_TEST_VAULT_TOKEN` and `SECRETS_TEST_PG_URL`. A test
//! that cannot reach a server fails and says how to start it. Every test sets up its own
//! uniquely named paths, mounts, policies and roles (with the root token, through the HTTP
//! API), so the tests run in parallel. Tests that capture `tracing` output live in their own
//! binaries (`canary.rs`, `relogin.rs`): a thread-local capture misses events while other
//! tests of the same process run.

// Helpers outside #[test] functions panic on purpose, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::*;
use secrets::{CacheConfig, DatabaseConfig, Secrets};
use secrets_core::secrecy::ExposeSecret;
use secrets_core::{ErrorKind, SecretProvider, VersionSelector};
use secrets_vault::{KvVersion, VaultProvider};
use serde_json::json;

#[tokio::test]
async fn kv2_versions_and_version_probe() {
    let p = root_provider().await;
    let name = format!("{}/database", unique("kv2"));
    assert_eq!(
        kv2_put(&name, json!({"host": "db1", "port": 5432})).await,
        1
    );
    assert_eq!(
        kv2_put(&name, json!({"host": "db2", "port": 5433})).await,
        2
    );

    let latest = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(latest.version_id(), Some("2"));
    assert_eq!(json_of(&latest), json!({"host": "db2", "port": 5433}));
    assert!(latest.created().is_some());
    assert_eq!(latest.content_type(), Some("application/json"));

    let first = p.get(&name, &VersionSelector::id("1")).await.unwrap();
    assert_eq!(first.version_id(), Some("1"));
    assert_eq!(json_of(&first)["host"], "db1");

    // The probe names the current version without reading the value.
    let probe = p.current_version(&name).await.unwrap();
    assert_eq!(probe.version_id.as_deref(), Some("2"));
    assert!(probe.created.is_some());
    kv2_put(&name, json!({"host": "db3"})).await;
    assert_eq!(
        p.current_version(&name)
            .await
            .unwrap()
            .version_id
            .as_deref(),
        Some("3")
    );

    // The explicit `mount:path` form reaches the same entry.
    let explicit = p
        .get(&format!("secret:{name}"), &VersionSelector::Latest)
        .await
        .unwrap();
    assert_eq!(explicit.version_id(), Some("3"));

    // Errors.
    let e = p.get(&name, &VersionSelector::id("99")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = p.get(&name, &VersionSelector::id("abc")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = p
        .get(&name, &VersionSelector::stage("AWSCURRENT"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let missing = format!("{}/nothing", unique("kv2"));
    let e = p.get(&missing, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(e.secret(), Some(missing.as_str()));
    assert!(!e.is_retryable());
    let e = p.current_version(&missing).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = p
        .get("a/../sys/seal", &VersionSelector::Latest)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidName, "{e}");

    // A soft-deleted latest version is Disabled, for the read and the probe; older versions
    // stay readable.
    root_ok("DELETE", &format!("secret/data/{name}"), None).await;
    let e = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Disabled, "{e}");
    assert!(e.to_string().contains("version 3 was deleted"), "{e}");
    let e = p.current_version(&name).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Disabled, "{e}");
    assert!(p.get(&name, &VersionSelector::id("2")).await.is_ok());
}

#[tokio::test]
async fn kv1_mount_has_no_versions() {
    let mount = unique("kv1");
    root_ok(
        "POST",
        &format!("sys/mounts/{mount}"),
        Some(json!({"type": "kv", "options": {"version": "1"}})),
    )
    .await;
    root_ok(
        "POST",
        &format!("{mount}/cgi-chat/database"),
        Some(json!({"host": "legacy-db", "port": "5432", "username": "app", "password": "pw"})),
    )
    .await;

    // Detected through the mount preflight, by the `mount:path` form.
    let p = root_provider().await;
    let name = format!("{mount}:cgi-chat/database");
    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(json_of(&s)["host"], "legacy-db");
    assert_eq!(s.version_id(), None);
    let e = p.current_version(&name).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let e = p.get(&name, &VersionSelector::id("1")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let e = p
        .get(&format!("{mount}:nothing/here"), &VersionSelector::Latest)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Configured as the default mount: plain names.
    let p = provider_builder()
        .await
        .with_token(root_token())
        .with_kv_mount(&mount, KvVersion::V1)
        .build()
        .await
        .unwrap();
    let s = p
        .get("cgi-chat/database", &VersionSelector::Latest)
        .await
        .unwrap();
    assert_eq!(json_of(&s)["host"], "legacy-db");
    // The facade decodes it and, with no version id, compares values to spot changes.
    let db: DatabaseConfig = serde_json::from_str(s.value().expose_text().unwrap()).unwrap();
    assert_eq!((db.host.as_str(), db.port), ("legacy-db", 5432));

    // A mount that is not KV is refused clearly.
    let dbm = unique("notkv");
    root_ok(
        "POST",
        &format!("sys/mounts/{dbm}"),
        Some(json!({"type": "database"})),
    )
    .await;
    let e = p
        .get(&format!("{dbm}:x"), &VersionSelector::Latest)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
}

#[tokio::test]
async fn approle_login_with_a_read_only_policy() {
    let (mount, role_id, secret_id, prefix) = approle_setup("1h", "2h").await;
    let allowed = format!("{prefix}/api-key");
    kv2_put(&allowed, json!({"key": "k-1"})).await;
    let outside = format!("{}/api-key", unique("outside"));
    kv2_put(&outside, json!({"key": "k-2"})).await;

    let p = provider_builder()
        .await
        .with_approle(&role_id, &secret_id)
        .with_approle_mount(&mount)
        .build()
        .await
        .unwrap();
    assert_eq!(p.auth_method(), "approle");
    let s = p.get(&allowed, &VersionSelector::Latest).await.unwrap();
    assert_eq!(json_of(&s)["key"], "k-1");
    assert_eq!(
        p.current_version(&allowed)
            .await
            .unwrap()
            .version_id
            .as_deref(),
        Some("1")
    );
    let e = p.get(&outside, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(!e.is_retryable());
    assert_eq!(e.secret(), Some(outside.as_str()));
    let e = p.current_version(&outside).await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Unsupported,
        "the cache then refetches: {e}"
    );

    // A policy without `metadata` read: no cheap probe, so the cache refetches; the read
    // itself is allowed.
    let data_only = format!("{prefix}-data-only/x");
    kv2_put(&data_only, json!({"key": "k-3"})).await;
    let e = p.current_version(&data_only).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let s = p.get(&data_only, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.version_id(), Some("1"));

    // A wrong secret id is refused at build.
    let e = provider_builder()
        .await
        .with_approle(&role_id, "00000000-0000-0000-0000-000000000000")
        .with_approle_mount(&mount)
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");

    // shutdown revokes the token the provider logged in with.
    p.shutdown().await.unwrap();
    let e = p.get(&allowed, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn renewable_token_is_renewed() {
    let prefix = unique("tok");
    let name = format!("{prefix}/x");
    kv2_put(&name, json!({"v": 1})).await;
    let created = root_ok(
        "POST",
        "auth/token/create",
        Some(
            json!({"ttl": "3s", "explicit_max_ttl": "1h", "renewable": true, "policies": ["root"]}),
        ),
    )
    .await;
    let token = created["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let p = provider_builder()
        .await
        .with_token(&token)
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    p.get(&name, &VersionSelector::Latest)
        .await
        .expect("the token was renewed past its first TTL");
    let looked = root_ok("POST", "auth/token/lookup", Some(json!({ "token": token }))).await;
    assert!(
        looked["data"]["last_renewal_time"].as_i64().unwrap_or(0) > 0,
        "{looked}"
    );
}

#[tokio::test]
async fn unreachable_vault_is_unavailable_and_retryable() {
    let e = VaultProvider::builder()
        .with_address("http://127.0.0.1:9")
        .with_token("t")
        .with_max_retries(0)
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn dynamic_credentials_connect_and_are_revoked_at_shutdown() {
    let mount = database_setup("1m", "10m").await;
    let name = format!("{}/database", unique("cgi-chat"));
    let p = db_provider(&mount, &name, Duration::from_secs(30)).await;
    assert_eq!(p.database_names(), vec![name.clone()]);

    // Nothing is issued by the probe.
    let e = p.current_version(&name).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");

    let (db, lease_id) = db_config(&p, &name).await;
    assert!(
        lease_id.starts_with(&format!("{mount}/creds/app/")),
        "{lease_id}"
    );
    assert_eq!(db.engine.as_deref(), Some("postgres"));
    assert_eq!(db.dbname.as_deref(), Some("postgres"));
    let (host, port) = pg().await;
    assert_eq!((db.host.as_str(), db.port), (host.as_str(), port));
    assert_eq!(
        pg_login(
            &db.host,
            db.port,
            &db.username,
            db.password().expose_secret()
        )
        .await,
        Ok(42)
    );

    // The probe and later reads give the same lease: nothing new is issued.
    assert_eq!(
        p.current_version(&name)
            .await
            .unwrap()
            .version_id
            .as_deref(),
        Some(lease_id.as_str())
    );
    let (again, id2) = db_config(&p, &name).await;
    assert_eq!(id2, lease_id);
    assert_eq!(again.username, db.username);
    let by_id = p.get(&name, &VersionSelector::id(&lease_id)).await.unwrap();
    assert_eq!(by_id.version_id(), Some(lease_id.as_str()));
    let e = p
        .get(&name, &VersionSelector::id("database/creds/app/nope"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);

    // Graceful shutdown revokes the lease: the user can no longer log in.
    p.shutdown().await.unwrap();
    let err = pg_login(
        &db.host,
        db.port,
        &db.username,
        db.password().expose_secret(),
    )
    .await
    .unwrap_err();
    assert!(err.contains("password authentication failed"), "{err}");
    let (status, _) = root(
        "PUT",
        "sys/leases/lookup",
        Some(json!({ "lease_id": lease_id })),
    )
    .await;
    assert_eq!(status, 400, "the lease is gone");
    let e = p.get(&name, &VersionSelector::Latest).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn leases_are_renewed_then_reissued_with_an_overlap() {
    // TTL 4 s, max TTL 12 s, overlap 4 s: renewals at ~2.7 s and ~5.3 s (expiry ~9.3 s), the
    // successor at 12 - 4 - 1 = 7 s, the old lease renewed to last the overlap, the old user
    // revoked at ~11 s: after its last regular expiry, a second before its max TTL.
    let mount = database_setup("4s", "12s").await;
    let name = format!("{}/database", unique("cgi-chat"));
    let p = db_provider(&mount, &name, Duration::from_secs(4)).await;
    let mut leases = p.watch_database_lease(&name).unwrap();
    assert!(leases.borrow().is_none());

    let start = Instant::now();
    let first = p.database_credentials(&name).await.unwrap();
    assert_eq!(login_as(&first).await, Ok(42));
    let hard_end = first.max_expires_at().expect("the role's max TTL was read");

    // A renewal: the same lease, a later expiry.
    let renewed = loop {
        leases.changed().await.unwrap();
        let l = leases.borrow_and_update().clone().unwrap();
        if l.renewals() > 0 {
            break l;
        }
    };
    assert_eq!(renewed.lease_id(), first.lease_id());
    assert!(renewed.expires_at() > first.expires_at());
    assert_eq!(
        login_as(&renewed).await,
        Ok(42),
        "renewal kept the user valid"
    );

    // The re-issue: a new lease and a new user, while the old one still works.
    let mut last_first = renewed.clone();
    let second = loop {
        leases.changed().await.unwrap();
        let l = leases.borrow_and_update().clone().unwrap();
        if l.lease_id() != first.lease_id() {
            break l;
        }
        last_first = l;
    };
    let reissued_after = start.elapsed();
    assert!(
        reissued_after > Duration::from_secs(5) && reissued_after < Duration::from_secs(10),
        "{reissued_after:?}"
    );
    assert_ne!(second.username(), first.username());
    assert_eq!(
        p.current_version(&name)
            .await
            .unwrap()
            .version_id
            .as_deref(),
        Some(second.lease_id())
    );
    assert_eq!(login_as(&second).await, Ok(42));
    assert_eq!(
        login_as(&first).await,
        Ok(42),
        "the old user lives through the overlap"
    );
    // The old lease is still readable by id during the overlap.
    assert!(
        p.get(&name, &VersionSelector::id(first.lease_id()))
            .await
            .is_ok()
    );

    // The old lease was renewed once more to last the whole overlap: it still works after
    // the expiry its last regular renewal gave it.
    let old_expiry = last_first.expires_at();
    if let Ok(wait) = old_expiry.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait + Duration::from_millis(300)).await;
    }
    assert_eq!(
        login_as(&first).await,
        Ok(42),
        "the old user outlives its last regular expiry during the overlap"
    );

    // After the overlap the old user is revoked, before its max TTL would end it.
    let revoked_at = loop {
        let (status, _) = root(
            "PUT",
            "sys/leases/lookup",
            Some(json!({ "lease_id": first.lease_id() })),
        )
        .await;
        if status == 400 {
            break SystemTime::now();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never revoked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        revoked_at < hard_end,
        "revoked by the provider, {:?} before Vault's own expiry",
        hard_end.duration_since(revoked_at).unwrap_or_default()
    );
    let err = login_as(&first).await.unwrap_err();
    assert!(err.contains("password authentication failed"), "{err}");
    assert_eq!(login_as(&second).await, Ok(42));

    p.shutdown().await.unwrap();
    assert!(login_as(&second).await.is_err());
    assert!(leases.borrow().is_none(), "revocation is announced");
}

#[tokio::test]
async fn facade_watch_follows_the_new_user() {
    let mount = database_setup("3s", "8s").await;
    let name = format!("{}/database", unique("cgi-chat"));
    let vault = db_provider(&mount, &name, Duration::from_secs(3)).await;
    // The cache TTL (1 s) is shorter than the overlap (3 s).
    let secrets = Secrets::builder()
        .with_provider(vault.clone())
        .with_cache(CacheConfig::default().with_ttl(Duration::from_secs(1)))
        .ignore_env()
        .build()
        .await
        .unwrap();
    let mut watch = secrets.watch::<DatabaseConfig>(&name).await.unwrap();
    let first = watch.current();
    assert_eq!(
        pg_login(
            &first.host,
            first.port,
            &first.username,
            first.password().expose_secret()
        )
        .await,
        Ok(42)
    );
    let next = tokio::time::timeout(Duration::from_secs(15), watch.changed())
        .await
        .expect("a new user within the max TTL")
        .unwrap();
    assert_ne!(next.username, first.username);
    assert_eq!(
        pg_login(
            &next.host,
            next.port,
            &next.username,
            next.password().expose_secret()
        )
        .await,
        Ok(42)
    );
    drop(watch);
    drop(secrets);
    vault.shutdown().await.unwrap();
}

#[tokio::test]
async fn revoke_all_keeps_the_provider_usable() {
    let mount = database_setup("1m", "10m").await;
    let name = format!("{}/database", unique("cgi-chat"));
    let p = db_provider(&mount, &name, Duration::from_secs(30)).await;
    let first = p.database_credentials(&name).await.unwrap();
    assert_eq!(p.revoke_all().await.unwrap(), 1);
    assert!(login_as(&first).await.is_err());
    let second = p.database_credentials(&name).await.unwrap();
    assert_ne!(second.lease_id(), first.lease_id());
    assert_eq!(login_as(&second).await, Ok(42));
    p.shutdown().await.unwrap();
}

/// Writes KV v2 entries on the `secret` mount with the root token.
struct KvSeed;

#[secrets_core::async_trait]
impl secrets_testkit::conformance::Seed for KvSeed {
    async fn put(&self, name: &str, value: &str) {
        let data: serde_json::Value = serde_json::from_str(value).unwrap();
        root_ok(
            "POST",
            &format!("secret/data/{name}"),
            Some(json!({ "data": data })),
        )
        .await;
    }
}

/// The conformance suite every provider runs.
#[tokio::test]
async fn conformance_on_kv_v2() {
    let vault = root_provider().await;
    secrets_testkit::conformance::run(&vault, &KvSeed).await;
}
