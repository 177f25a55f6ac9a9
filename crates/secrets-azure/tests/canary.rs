//! The canary test, alone in its binary: `tracing`'s per-callsite interest is global, so a
//! TRACE capture on one thread misses events whose callsites other test threads hit first.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use keyvault_emulator::{EmulatorConfig, Fault, Operation};
use secrets_azure::azure_security_keyvault_secrets::models::SecretAttributes;
use secrets_azure::{AzureProvider, StaticTokenCredential, to_vault_name};
use secrets_core::{ErrorKind, REDACTED, SecretProvider, VersionSelector};
use secrets_testkit::canary::{Canary, capture_trace_logs};

/// Plants a unique value, exercises every path (successes and errors), and checks that the
/// value appears in no `Debug` or `Display` text and in no log line at TRACE level from any
/// crate, only through `expose_*`.
#[tokio::test(flavor = "current_thread")]
async fn canary_never_escapes() {
    let (logs, guard) = capture_trace_logs();
    let canary = Canary::new();
    let token = Canary::new();
    let emu = emulator(EmulatorConfig::default()).await;
    let p = AzureProvider::builder()
        .with_vault_url(emu.url())
        .with_ca_pem(emu.ca_pem())
        .with_credential(Arc::new(StaticTokenCredential::new(token.as_str())))
        .with_verify_challenge_resource(false)
        .with_retry(quick_retry())
        .build()
        .await
        .unwrap();
    let name = unique("canary");
    let vault = to_vault_name(&name).unwrap();
    // Seeded directly (not through the SDK), so that only reads carry the value.
    let v1 = emu.set_secret(&vault, canary.as_str()).unwrap();

    let mut texts: Vec<String> = vec![format!("{p:?}")];
    fn record_secret(texts: &mut Vec<String>, s: &secrets_core::Secret) {
        texts.push(format!("{s:?}"));
        texts.push(format!("{:?} {}", s.value(), s.value()));
        texts.push(format!("{:?}", s.version()));
    }
    fn record_err(texts: &mut Vec<String>, e: &secrets_core::Error) {
        texts.push(format!("{e:?}"));
        texts.push(e.to_string());
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            texts.push(format!("{s} {s:?}"));
            source = s.source();
        }
    }

    let s = p.get(&name, &VersionSelector::Latest).await.unwrap();
    assert_eq!(s.value().expose_text().unwrap(), canary.as_str());
    record_secret(&mut texts, &s);
    let s = p.get(&name, &VersionSelector::id(&v1)).await.unwrap();
    assert_eq!(s.value().expose_bytes(), canary.as_str().as_bytes());
    record_secret(&mut texts, &s);
    texts.push(format!("{:?}", p.current_version(&name).await.unwrap()));
    for r in p.get_many(&[&name, "missing/one"]).await {
        match r {
            Ok(s) => record_secret(&mut texts, &s),
            Err(e) => record_err(&mut texts, &e),
        }
    }

    // Errors around the canary's own secret.
    let mut errors = Vec::new();
    for fault in [
        Fault::throttled(120),
        Fault::status(503).times(3),
        Fault::status(500).times(3),
        Fault::status(401).times(2),
        Fault::status(403),
        Fault::status(404),
        Fault::status(400),
    ] {
        emu.inject(fault.only(Operation::GetSecret));
        errors.push(p.get(&name, &VersionSelector::Latest).await.unwrap_err());
        emu.clear_faults();
    }
    emu.inject(
        Fault::status(429)
            .times(3)
            .only(Operation::ListSecretVersions),
    );
    errors.push(p.current_version(&name).await.unwrap_err());
    emu.clear_faults();
    errors.push(
        p.get(&name, &VersionSelector::stage("x"))
            .await
            .unwrap_err(),
    );
    errors.push(
        p.get("bad_name", &VersionSelector::Latest)
            .await
            .unwrap_err(),
    );
    errors.push(
        p.get(
            &name,
            &VersionSelector::id("ffffffffffffffffffffffffffffffff"),
        )
        .await
        .unwrap_err(),
    );
    // Expired, then disabled: the value is in the vault but must not be in the errors.
    patch(
        &p,
        &name,
        &v1,
        SecretAttributes {
            expires: Some(hours_from_now(-1)),
            ..Default::default()
        },
    )
    .await;
    errors.push(p.get(&name, &VersionSelector::Latest).await.unwrap_err());
    errors.push(p.current_version(&name).await.unwrap_err());
    patch(
        &p,
        &name,
        &v1,
        SecretAttributes {
            not_before: Some(hours_from_now(2)),
            expires: Some(hours_from_now(3)),
            ..Default::default()
        },
    )
    .await;
    errors.push(p.get(&name, &VersionSelector::Latest).await.unwrap_err());
    patch(&p, &name, &v1, disabled()).await;
    errors.push(p.get(&name, &VersionSelector::Latest).await.unwrap_err());
    errors.push(p.get(&name, &VersionSelector::id(&v1)).await.unwrap_err());
    errors.push(p.current_version(&name).await.unwrap_err());

    let kinds: Vec<_> = errors.iter().map(|e| e.kind()).collect();
    for kind in [
        ErrorKind::RateLimited,
        ErrorKind::Unavailable,
        ErrorKind::Unauthenticated,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::Unsupported,
        ErrorKind::InvalidName,
        ErrorKind::Disabled,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} not exercised: {kinds:?}");
    }
    for e in &errors {
        record_err(&mut texts, e);
    }

    drop(guard);
    for (i, text) in texts.iter().enumerate() {
        canary.assert_absent(&format!("text #{i}"), text);
    }
    assert!(texts.iter().any(|t| t.contains(REDACTED)));
    let log = logs.text();
    assert!(
        log.contains("secrets_azure")
            && log.contains("typespec_client_core")
            && log.contains(" TRACE "),
        "the capture missed the provider, the SDK or TRACE lines: {} {} {}",
        log.contains("secrets_azure"),
        log.contains("typespec_client_core"),
        log.contains(" TRACE ")
    );
    canary.assert_absent("the TRACE logs", &log);
    // The bearer token is a credential: it must not be logged either.
    token.assert_absent("the TRACE logs (bearer token)", &log);
    for (i, text) in texts.iter().enumerate() {
        token.assert_absent(&format!("text #{i} (bearer token)"), text);
    }
}
