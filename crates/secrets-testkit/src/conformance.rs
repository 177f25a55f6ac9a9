//! The conformance suite every provider runs: the same behaviour, whatever the store.
//!
//! A test gives the suite a provider and a [`Seed`] that can store a value so the provider
//! reads it back under a name; the suite then checks reads, missing names, bad names, batch
//! reads, the version probe when the provider declares one, and that no value escapes
//! through `Debug`, `Display` or an error.

use secrets_core::{ErrorKind, SecretProvider, VersionSelector, async_trait};

use crate::canary::Canary;

/// Stores values where a provider under test will find them.
#[async_trait]
pub trait Seed: Send + Sync {
    /// Stores `value` so that the provider reads it as `name`, a unique name such as
    /// `conformance/3f2a9c1b7d4e` (ASCII letters, digits, `-` and one `/`).
    async fn put(&self, name: &str, value: &str);
}

/// Runs the suite. Panics, naming the check, on the first failure.
pub async fn run(provider: &dyn SecretProvider, seed: &dyn Seed) {
    let who = provider.provider_name();
    let canary = Canary::new();
    let name = crate::unique_name("conformance");
    let value = format!(r#"{{"password":"{}","port":5432}}"#, canary.as_str());
    seed.put(&name, &value).await;

    // A read returns the value, under the name asked for.
    let secret = provider
        .get(&name, &VersionSelector::Latest)
        .await
        .unwrap_or_else(|e| panic!("[{who}] get of a seeded secret failed: {e}"));
    assert_eq!(
        secret.name(),
        name,
        "[{who}] the secret carries the name asked for"
    );
    assert_eq!(
        secret.value().expose_text().ok(),
        Some(value.as_str()),
        "[{who}] the value reads back unchanged"
    );

    // Printing never shows the value.
    let mut printed = vec![
        format!("{secret:?}"),
        format!("{:?}", secret.value()),
        secret.value().to_string(),
    ];

    // A missing name is NotFound, not retryable, and the error names the secret.
    let missing = crate::unique_name("conformance-missing");
    let err = provider
        .get(&missing, &VersionSelector::Latest)
        .await
        .expect_err("a missing secret is an error");
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "[{who}] missing is NotFound: {err}"
    );
    assert!(!err.is_retryable(), "[{who}] NotFound is not retryable");
    assert!(
        err.to_string().contains(&missing)
            || err
                .secret()
                .is_some_and(|s| s.contains(&missing) || missing.contains(s)),
        "[{who}] the error names the secret: {err}"
    );
    printed.push(format!("{err} {err:?}"));

    // A name no store accepts is InvalidName, before any call.
    let err = provider
        .get("bad\nname", &VersionSelector::Latest)
        .await
        .expect_err("a control character is refused");
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidName,
        "[{who}] bad names: {err}"
    );
    let err = provider
        .get("", &VersionSelector::Latest)
        .await
        .expect_err("an empty name is refused");
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidName,
        "[{who}] empty names: {err}"
    );

    // A batch read answers per name, in order.
    let many = provider.get_many(&[&missing, &name]).await;
    assert_eq!(many.len(), 2, "[{who}] one answer per name");
    assert_eq!(
        many[0].as_ref().map_err(|e| e.kind()).err(),
        Some(ErrorKind::NotFound),
        "[{who}] a missing name in a batch is NotFound"
    );
    let second = many[1]
        .as_ref()
        .unwrap_or_else(|e| panic!("[{who}] batch read of a seeded secret failed: {e}"));
    assert_eq!(second.value().expose_text().ok(), Some(value.as_str()));
    printed.push(format!("{many:?}"));

    // The version probe, when declared, agrees with the read.
    if provider.capabilities().version_probe {
        let info = provider
            .current_version(&name)
            .await
            .unwrap_or_else(|e| panic!("[{who}] the declared version probe failed: {e}"));
        assert_eq!(
            info.version_id.as_deref(),
            secret.version_id(),
            "[{who}] the probe names the version a read returns"
        );
        printed.push(format!("{info:?}"));
        let err = provider
            .current_version(&missing)
            .await
            .expect_err("probing a missing secret is an error");
        assert_eq!(
            err.kind(),
            ErrorKind::NotFound,
            "[{who}] probe of missing: {err}"
        );
    }

    for (i, text) in printed.iter().enumerate() {
        canary.assert_absent(&format!("[{who}] printed item {i}"), text);
    }
}
