//! The conformance suite, run against every provider: the same reads, errors and redaction
//! whatever the store. Cloud providers run against their local servers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on purpose

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrets::gcp::google_cloud_secretmanager_v1::model::{
    Replication, Secret as SdkSecret, SecretPayload, replication,
};
use secrets::gcp::{GcpProvider, secret_id_for_name};
use secrets::local::{
    ChainProvider, DotenvProvider, EncryptedYamlProvider, FolderProvider, KeyringProvider,
};
use secrets_aws::AwsProvider;
use secrets_core::{EnvProvider, MemoryProvider, async_trait, env_var_name};
use secrets_testkit::conformance::{Seed, run};
use secrets_testkit::server::{DRONGO, LOCALSTACK};
use secrets_testkit::unique_name;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(unique_name(&format!("secrets-conformance-{tag}")).replace('/', "-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct MemorySeed(Arc<MemoryProvider>);
#[async_trait]
impl Seed for MemorySeed {
    async fn put(&self, name: &str, value: &str) {
        self.0.put(name, value);
    }
}

#[tokio::test]
async fn memory() {
    let m = Arc::new(MemoryProvider::new());
    run(&*m, &MemorySeed(m.clone())).await;
}

/// Appends `VAR='value'` lines to a `.env` file.
struct DotenvSeed(PathBuf);
#[async_trait]
impl Seed for DotenvSeed {
    async fn put(&self, name: &str, value: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
            .unwrap();
        writeln!(f, "{}='{}'", env_var_name("", name), value).unwrap();
    }
}

#[tokio::test]
async fn env_with_dotenv_file() {
    let file = temp_dir("env").join(".env");
    let p = EnvProvider::new().without_process_env().with_dotenv(&file);
    run(&p, &DotenvSeed(file)).await;
}

#[tokio::test]
async fn local_dotenv() {
    let file = temp_dir("dotenv").join(".env");
    let p = DotenvProvider::new()
        .without_process_env()
        .with_dotenv(&file);
    run(&p, &DotenvSeed(file)).await;
}

/// Writes one file per key under a folder.
struct FolderSeed(PathBuf);
#[async_trait]
impl Seed for FolderSeed {
    async fn put(&self, name: &str, value: &str) {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, value).unwrap();
    }
}

#[tokio::test]
async fn local_folder() {
    let root = temp_dir("folder");
    let p = FolderProvider::new(&root);
    run(&p, &FolderSeed(root)).await;
}

struct KeyringSeed(KeyringProvider);
#[async_trait]
impl Seed for KeyringSeed {
    async fn put(&self, name: &str, value: &str) {
        self.0.set(name, value).unwrap();
    }
}

#[tokio::test]
async fn local_keyring() {
    run(
        &KeyringProvider::new(),
        &KeyringSeed(KeyringProvider::new()),
    )
    .await;
}

struct EncryptedSeed(Arc<EncryptedYamlProvider>);
#[async_trait]
impl Seed for EncryptedSeed {
    async fn put(&self, name: &str, value: &str) {
        self.0.set(name, value).unwrap();
    }
}

#[tokio::test]
async fn local_encrypted_yaml() {
    let p = Arc::new(EncryptedYamlProvider::in_dir(temp_dir("fernet")));
    p.create_if_missing().unwrap();
    run(&*p, &EncryptedSeed(p.clone())).await;
}

#[tokio::test]
async fn local_chain_keyring_then_env() {
    let file = temp_dir("chain").join(".env");
    let chain = ChainProvider::new(Vec::new())
        .with_source("keyring", KeyringProvider::new())
        .with_source(
            "dotenv",
            DotenvProvider::new()
                .without_process_env()
                .with_dotenv(&file),
        );
    run(&chain, &DotenvSeed(file)).await;
}

struct AwsSeed(AwsProvider);
#[async_trait]
impl Seed for AwsSeed {
    async fn put(&self, name: &str, value: &str) {
        self.0
            .client()
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn aws_on_localstack() {
    let aws = AwsProvider::builder()
        .with_endpoint_url(LOCALSTACK.require().await)
        .with_region("us-east-1")
        .with_static_credentials("test", "test")
        .build()
        .await
        .unwrap();
    run(&aws, &AwsSeed(aws.clone())).await;
}

struct GcpSeed(GcpProvider);
#[async_trait]
impl Seed for GcpSeed {
    async fn put(&self, name: &str, value: &str) {
        let p = &self.0;
        p.client()
            .create_secret()
            .set_parent(format!("projects/{}", p.project()))
            .set_secret_id(secret_id_for_name(name).unwrap())
            .set_secret(
                SdkSecret::new().set_replication(
                    Replication::new().set_automatic(replication::Automatic::new()),
                ),
            )
            .send()
            .await
            .unwrap();
        p.client()
            .add_secret_version()
            .set_parent(p.secret_resource_name(name).unwrap())
            .set_payload(SecretPayload::new().set_data(value.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn gcp_on_drongo() {
    let gcp = GcpProvider::builder()
        .with_project("conformance")
        .with_endpoint(DRONGO.require().await)
        .with_total_timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    run(&gcp, &GcpSeed(gcp.clone())).await;
}
