//! A provider feature that is off compiles none of its SDK: checked with `cargo tree`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on purpose

use std::process::Command;

fn tree(features: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "tree",
        "-p",
        "secrets",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--no-default-features",
    ]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let out = cmd.output().expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn crates(tree: &str, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = tree
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| l.split(' ').next().unwrap_or(l).to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn no_feature_compiles_no_cloud_sdk() {
    let t = tree(&[]);
    for sdk in [
        "aws-",
        "google-cloud",
        "azure_",
        "secrets-aws",
        "secrets-gcp",
        "secrets-azure",
    ] {
        assert!(
            crates(&t, sdk).is_empty(),
            "{sdk} crates without features: {:?}",
            crates(&t, sdk)
        );
    }
}

#[test]
fn aws_feature_compiles_only_the_aws_sdk_with_one_tls_stack() {
    let t = tree(&["aws"]);
    assert!(crates(&t, "aws-sdk-secretsmanager").len() == 1, "{t}");
    for other in ["google-cloud", "azure_", "secrets-gcp", "secrets-azure"] {
        assert!(
            crates(&t, other).is_empty(),
            "{other} with only aws: {:?}",
            crates(&t, other)
        );
    }
    for legacy in ["openssl-sys", "native-tls", "ring"] {
        assert!(
            crates(&t, &format!("{legacy} ")).is_empty(),
            "{legacy} in the aws tree"
        );
    }
    let rustls: Vec<&str> = t.lines().filter(|l| l.starts_with("rustls v")).collect();
    let mut versions: Vec<&str> = rustls
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap_or(""))
        .collect();
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), 1, "one rustls version: {versions:?}");
    let hyper: Vec<&str> = t.lines().filter(|l| l.starts_with("hyper v0.")).collect();
    assert!(hyper.is_empty(), "no legacy hyper 0.14 stack: {hyper:?}");
}

#[test]
fn gcp_feature_compiles_no_aws_or_azure_crate() {
    let t = tree(&["gcp"]);
    assert_eq!(crates(&t, "google-cloud-secretmanager-v1").len(), 1, "{t}");
    for other in [
        "aws-sdk",
        "aws-config",
        "aws-smithy",
        "azure_",
        "secrets-aws",
        "secrets-azure",
    ] {
        assert!(
            crates(&t, other).is_empty(),
            "{other} with only gcp: {:?}",
            crates(&t, other)
        );
    }
    for legacy in ["openssl-sys", "native-tls"] {
        assert!(
            crates(&t, &format!("{legacy} ")).is_empty(),
            "{legacy} in the gcp tree"
        );
    }
}

#[test]
fn azure_feature_compiles_no_aws_or_gcp_crate() {
    let t = tree(&["azure"]);
    assert_eq!(
        crates(&t, "azure_security_keyvault_secrets").len(),
        1,
        "{t}"
    );
    for other in [
        "aws-sdk",
        "aws-config",
        "aws-smithy",
        "google-cloud",
        "secrets-aws",
        "secrets-gcp",
    ] {
        assert!(
            crates(&t, other).is_empty(),
            "{other} with only azure: {:?}",
            crates(&t, other)
        );
    }
    for legacy in ["openssl-sys", "native-tls"] {
        assert!(
            crates(&t, &format!("{legacy} ")).is_empty(),
            "{legacy} in the azure tree"
        );
    }
}

#[test]
fn vault_feature_compiles_no_cloud_sdk() {
    let t = tree(&["vault"]);
    assert_eq!(crates(&t, "secrets-vault").len(), 1, "{t}");
    for other in [
        "aws-sdk",
        "aws-config",
        "aws-smithy",
        "google-cloud",
        "azure_",
    ] {
        assert!(
            crates(&t, other).is_empty(),
            "{other} with only vault: {:?}",
            crates(&t, other)
        );
    }
    for legacy in ["openssl-sys", "native-tls"] {
        assert!(
            crates(&t, &format!("{legacy} ")).is_empty(),
            "{legacy} in the vault tree"
        );
    }
}
