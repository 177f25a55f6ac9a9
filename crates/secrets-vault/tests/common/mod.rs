//! Helpers shared by the integration test binaries: root-token calls to OpenBao, unique
//! names, KV writes, AppRole and database engine set-up, PostgreSQL logins.

// Each test binary uses some of these.
#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;
use std::time::Duration;

use secrets::DatabaseConfig;
use secrets_core::secrecy::ExposeSecret;
use secrets_core::{SecretProvider, VersionSelector};
use secrets_testkit::server::{OPENBAO, POSTGRES};
use secrets_vault::{DatabaseCredentials, DatabaseLease, VaultProvider};
use serde_json::{Value, json};

pub fn root_token() -> String {
    std::env::var("SECRETS_TEST_VAULT_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "root".into())
}

pub fn unique(label: &str) -> String {
    format!(
        "{label}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// One call with the root token; returns the status and the JSON body (`null` when empty).
pub async fn root(method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let addr = OPENBAO.require().await;
    let client = reqwest::Client::new();
    let mut req = client
        .request(
            reqwest::Method::from_str(method).unwrap(),
            format!("{addr}/v1/{path}"),
        )
        .header("X-Vault-Token", root_token());
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await.expect("OpenBao answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, value)
}

/// Like [`root`], failing the test unless the call succeeds.
pub async fn root_ok(method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, value) = root(method, path, body).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: HTTP {status}: {value}"
    );
    value
}

pub async fn provider_builder() -> secrets_vault::VaultProviderBuilder {
    VaultProvider::builder()
        .with_address(OPENBAO.require().await)
        .with_timeout(Duration::from_secs(10))
}

pub async fn root_provider() -> VaultProvider {
    provider_builder()
        .await
        .with_token(root_token())
        .build()
        .await
        .expect("provider builds")
}

pub async fn kv2_put(path: &str, data: Value) -> u64 {
    let v = root_ok(
        "POST",
        &format!("secret/data/{path}"),
        Some(json!({ "data": data })),
    )
    .await;
    v["data"]["version"].as_u64().unwrap()
}

pub fn json_of(secret: &secrets_core::Secret) -> Value {
    serde_json::from_str(secret.value().expose_text().unwrap()).unwrap()
}

/// An AppRole mount with a role whose policy reads `secret/<prefix>/*` only. Returns
/// (mount, role_id, secret_id, prefix).
pub async fn approle_setup(
    token_ttl: &str,
    token_max_ttl: &str,
) -> (String, String, String, String) {
    let prefix = unique("ro");
    let policy = unique("policy");
    let rules = format!(
        "path \"secret/data/{prefix}/*\" {{ capabilities = [\"read\"] }}\n\
         path \"secret/metadata/{prefix}/*\" {{ capabilities = [\"read\"] }}\n\
         path \"secret/data/{prefix}-data-only/*\" {{ capabilities = [\"read\"] }}\n"
    );
    root_ok(
        "PUT",
        &format!("sys/policies/acl/{policy}"),
        Some(json!({ "policy": rules })),
    )
    .await;
    let mount = unique("approle");
    root_ok(
        "POST",
        &format!("sys/auth/{mount}"),
        Some(json!({"type": "approle"})),
    )
    .await;
    root_ok(
        "POST",
        &format!("auth/{mount}/role/app"),
        Some(json!({
            "token_policies": [policy],
            "token_ttl": token_ttl,
            "token_max_ttl": token_max_ttl,
        })),
    )
    .await;
    let role_id =
        root_ok("GET", &format!("auth/{mount}/role/app/role-id"), None).await["data"]["role_id"]
            .as_str()
            .unwrap()
            .to_string();
    let secret_id = root_ok("POST", &format!("auth/{mount}/role/app/secret-id"), None).await
        ["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string();
    (mount, role_id, secret_id, prefix)
}

/// The PostgreSQL server: (host, port).
pub async fn pg() -> (String, u16) {
    let url = POSTGRES.require().await;
    let config = tokio_postgres::Config::from_str(&url).unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        #[allow(unreachable_patterns)]
        _ => "127.0.0.1".into(),
    };
    (host, config.get_ports().first().copied().unwrap_or(5432))
}

/// A database mount (unique per test) wired to PostgreSQL, with role `app`.
pub async fn database_setup(default_ttl: &str, max_ttl: &str) -> String {
    let (host, port) = pg().await;
    let mount = unique("database");
    root_ok(
        "POST",
        &format!("sys/mounts/{mount}"),
        Some(json!({"type": "database"})),
    )
    .await;
    root_ok(
        "POST",
        &format!("{mount}/config/pg"),
        Some(json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@{host}:{port}/postgres?sslmode=disable"),
            "username": "postgres",
            "password": "postgres",
            "allowed_roles": "app",
        })),
    )
    .await;
    root_ok(
        "POST",
        &format!("{mount}/roles/app"),
        Some(json!({
            "db_name": "pg",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";"
            ],
            "default_ttl": default_ttl,
            "max_ttl": max_ttl,
        })),
    )
    .await;
    mount
}

pub async fn db_provider(mount: &str, name: &str, overlap: Duration) -> VaultProvider {
    let (host, port) = pg().await;
    provider_builder()
        .await
        .with_token(root_token())
        .with_database_credentials(
            name,
            DatabaseCredentials::new("app", host)
                .with_mount(mount)
                .with_port(port)
                .with_dbname("postgres"),
        )
        .with_lease_overlap(overlap)
        .build()
        .await
        .unwrap()
}

/// Logs in to PostgreSQL as `user` and runs a query.
pub async fn pg_login(host: &str, port: u16, user: &str, password: &str) -> Result<i32, String> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .port(port)
        .user(user)
        .password(password)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(5));
    let text = |e: tokio_postgres::Error| match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(text)?;
    tokio::spawn(connection);
    let row = client.query_one("SELECT 40 + 2", &[]).await.map_err(text)?;
    Ok(row.get(0))
}

pub async fn login_as(lease: &DatabaseLease) -> Result<i32, String> {
    pg_login(
        lease.host(),
        lease.port().unwrap(),
        lease.username(),
        lease.password().expose_secret(),
    )
    .await
}

pub async fn db_config(p: &VaultProvider, name: &str) -> (DatabaseConfig, String) {
    let s = p.get(name, &VersionSelector::Latest).await.unwrap();
    let db: DatabaseConfig = serde_json::from_str(s.value().expose_text().unwrap())
        .expect("the JSON decodes as DatabaseConfig");
    (db, s.version_id().unwrap().to_string())
}
