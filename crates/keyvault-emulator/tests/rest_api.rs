//! Raw HTTPS against the emulator, with a reqwest client that trusts only the emitted CA.
//! Each test starts its own emulator on port 0, so the tests run in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::time::Duration;

use keyvault_emulator::{Emulator, EmulatorConfig, Error, Fault, Operation, RunningEmulator};
use reqwest::{Certificate, Client, Method, Response, StatusCode};
use serde_json::{Value, json};

const API: &str = "api-version=7.5";

struct Kv {
    emulator: RunningEmulator,
    http: Client,
}

fn client_for(ca_pem: &str) -> Client {
    Client::builder()
        .tls_certs_only([Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn start_with(config: EmulatorConfig) -> Kv {
    let emulator = Emulator::start(config).await.unwrap();
    let http = client_for(emulator.ca_pem());
    Kv { emulator, http }
}

async fn start() -> Kv {
    start_with(EmulatorConfig::default()).await
}

impl Kv {
    fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.emulator.url())
    }

    async fn call(&self, method: Method, path_and_query: &str, body: Option<Value>) -> Response {
        let mut request = self
            .http
            .request(method, self.url(path_and_query))
            .bearer_auth("any-token");
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn json(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = self.call(method, path_and_query, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    async fn put(&self, name: &str, body: Value) -> Value {
        let (status, value) = self
            .json(Method::PUT, &format!("/secrets/{name}?{API}"), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{value}");
        value
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.json(Method::GET, &format!("{path}?{API}"), None).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.json(Method::PATCH, &format!("{path}?{API}"), Some(body))
            .await
    }
}

fn version_of(bundle: &Value) -> String {
    bundle["id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn inner_code(body: &Value) -> &str {
    body["error"]["innererror"]["code"]
        .as_str()
        .unwrap_or_default()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn challenge_header_is_exact_and_any_bearer_is_accepted() {
    let kv = start_with(EmulatorConfig::default().with_tenant("my-tenant")).await;

    // The SDK's first request: no Authorization, no body.
    let response = kv
        .http
        .put(kv.url(&format!("/secrets/first?{API}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer authorization="https://login.microsoftonline.com/my-tenant", resource="https://vault.azure.net""#
    );
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "Unauthorized");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bearer")
    );

    // Another scheme is not a bearer token either.
    let basic = kv
        .http
        .get(kv.url(&format!("/secrets/first?{API}")))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    // The retry with a token and the body goes through.
    let bundle = kv.put("first", json!({"value": "v"})).await;
    assert_eq!(bundle["value"], "v");

    let stats = kv.emulator.stats();
    assert_eq!(stats.challenges(), 2);
    assert_eq!(stats.count(Operation::SetSecret), 1);
    assert_eq!(stats.total(), 1);
}

#[tokio::test]
async fn api_version_is_required_and_checked() {
    let kv = start().await;
    kv.emulator.set_secret("s", "v").unwrap();

    let (status, body) = kv.json(Method::GET, "/secrets/s", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "BadParameter");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api-version")
    );

    let (status, body) = kv
        .json(Method::GET, "/secrets/s?api-version=1.0", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "BadParameter");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(1.0) is not recognized")
    );

    for version in ["7.4", "7.5", "7.6", "2025-07-01"] {
        let (status, body) = kv
            .json(
                Method::GET,
                &format!("/secrets/s?api-version={version}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{version}: {body}");
    }
}

#[tokio::test]
async fn set_twice_makes_two_versions_latest_and_by_version() {
    let kv = start().await;
    let first = kv
        .put(
            "db-password",
            json!({"value": "one", "contentType": "text/plain", "tags": {"env": "test"}}),
        )
        .await;
    let second = kv.put("db-password", json!({"value": "two"})).await;

    let v1 = version_of(&first);
    let v2 = version_of(&second);
    for v in [&v1, &v2] {
        assert_eq!(v.len(), 32);
        assert!(v.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_ne!(v1, v2);
    assert_eq!(
        first["id"],
        format!("{}/secrets/db-password/{v1}", kv.emulator.url())
    );
    assert_eq!(first["contentType"], "text/plain");
    assert_eq!(first["tags"]["env"], "test");
    let attributes = &first["attributes"];
    assert_eq!(attributes["enabled"], true);
    assert!(attributes["created"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(attributes["created"], attributes["updated"]);
    assert_eq!(attributes["recoveryLevel"], "Recoverable+Purgeable");
    assert_eq!(attributes["recoverableDays"], 90);

    // Latest, with and without the trailing slash the SDK sends.
    for path in ["/secrets/db-password", "/secrets/db-password/"] {
        let (status, latest) = kv.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(latest["value"], "two");
        assert_eq!(version_of(&latest), v2);
        assert!(latest.get("tags").is_none());
    }

    // By version.
    let (status, old) = kv.get(&format!("/secrets/db-password/{v1}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(old["value"], "one");

    // Names are case-insensitive.
    let (status, upper) = kv.get("/secrets/DB-PASSWORD").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upper["value"], "two");

    // Unknown version and unknown secret.
    let (status, body) = kv
        .get("/secrets/db-password/00000000000000000000000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "SecretNotFound");
    let (status, body) = kv.get("/secrets/never-set").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "SecretNotFound");

    // The versions list: both versions, no values.
    let (status, list) = kv.get("/secrets/db-password/versions").await;
    assert_eq!(status, StatusCode::OK);
    let items = list["value"].as_array().unwrap();
    let ids: BTreeSet<String> = items.iter().map(version_of).collect();
    assert_eq!(ids, BTreeSet::from([v1, v2]));
    assert!(items.iter().all(|item| item.get("value").is_none()));
    assert!(list["nextLink"].is_null());

    let stats = kv.emulator.stats();
    assert_eq!(stats.count(Operation::SetSecret), 2);
    assert_eq!(stats.count(Operation::GetSecret), 6);
    assert_eq!(stats.count(Operation::ListSecretVersions), 1);
}

/// Follows `nextLink` (a full URL) until it is null; returns the pages.
async fn follow(kv: &Kv, first: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut url = kv.url(first);
    loop {
        assert!(url.starts_with(kv.emulator.url()), "{url}");
        let page: Value = kv
            .http
            .get(&url)
            .bearer_auth("t")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let next = page["nextLink"].as_str().map(str::to_owned);
        pages.push(page);
        match next {
            Some(next) => url = next,
            None => return pages,
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

#[tokio::test]
async fn list_pages_follow_next_link() {
    let kv = start_with(EmulatorConfig::default().with_page_size(2)).await;
    let names = ["alpha", "bravo", "charlie", "delta", "echo"];
    for name in names {
        kv.put(name, json!({"value": format!("value-of-{name}")}))
            .await;
    }

    // The configured page size when no maxresults is given.
    let pages = follow(&kv, &format!("/secrets?{API}")).await;
    assert_eq!(pages.len(), 3);
    let mut seen = Vec::new();
    for page in &pages {
        for item in page["value"].as_array().unwrap() {
            assert!(item.get("value").is_none(), "lists carry no values");
            assert!(item["attributes"]["enabled"].as_bool().unwrap());
            let id = item["id"].as_str().unwrap();
            seen.push(id.rsplit('/').next().unwrap().to_owned());
        }
    }
    assert_eq!(seen, names);
    let next = pages[0]["nextLink"].as_str().unwrap();
    assert!(next.contains("$skiptoken="), "{next}");
    assert!(next.contains("api-version=7.5"), "{next}");

    // maxresults wins over the page size; out of 1..=25 is refused.
    let pages = follow(&kv, &format!("/secrets?{API}&maxresults=4")).await;
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0]["value"].as_array().unwrap().len(), 4);
    for bad in ["0", "26", "x"] {
        let (status, body) = kv
            .json(
                Method::GET,
                &format!("/secrets?{API}&maxresults={bad}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_code(&body), "BadParameter");
    }

    // Versions page the same way.
    for i in 0..4 {
        kv.put("alpha", json!({"value": format!("v{i}")})).await;
    }
    let pages = follow(&kv, &format!("/secrets/alpha/versions?{API}&maxresults=2")).await;
    assert_eq!(pages.len(), 3);
    let versions: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p["value"].as_array().unwrap().iter().map(version_of))
        .collect();
    assert_eq!(versions.len(), 5);

    let stats = kv.emulator.stats();
    assert_eq!(stats.count(Operation::ListSecrets), 3 + 2 + 3);
    assert_eq!(stats.count(Operation::ListSecretVersions), 3);
}

#[tokio::test]
async fn update_attributes_disable_and_expiry() {
    let kv = start().await;
    let bundle = kv.put("rotating", json!({"value": "v"})).await;
    let version = version_of(&bundle);

    // Disable that version: the update answers without the value.
    let (status, updated) = kv
        .patch(
            &format!("/secrets/rotating/{version}"),
            json!({"attributes": {"enabled": false}, "contentType": "application/json", "tags": {"k": "v"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(updated.get("value").is_none());
    assert_eq!(updated["attributes"]["enabled"], false);
    assert_eq!(updated["contentType"], "application/json");
    assert_eq!(updated["tags"]["k"], "v");

    // GET of a disabled version: 403 Forbidden, inner SecretDisabled.
    for path in [
        "/secrets/rotating/".to_owned(),
        format!("/secrets/rotating/{version}"),
    ] {
        let (status, body) = kv.get(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(error_code(&body), "Forbidden");
        assert_eq!(inner_code(&body), "SecretDisabled");
        assert_eq!(
            body["error"]["message"],
            "Operation get is not allowed on a disabled secret."
        );
    }
    // Still listed, as disabled.
    let (_, list) = kv.get("/secrets/rotating/versions").await;
    assert_eq!(list["value"][0]["attributes"]["enabled"], false);

    // Re-enable through the latest-version path (trailing slash, as the SDK sends it).
    let (status, _) = kv
        .patch(
            "/secrets/rotating/",
            json!({"attributes": {"enabled": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = kv.get("/secrets/rotating").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["contentType"], "application/json");

    // exp in the past and nbf in the future: the service still answers get (it does not
    // enforce them), and so does the emulator by default.
    let past = now() - 3600;
    let future = now() + 3600;
    let (status, updated) = kv
        .patch(
            "/secrets/rotating/",
            json!({"attributes": {"exp": past, "nbf": future}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["attributes"]["exp"], past);
    assert_eq!(updated["attributes"]["nbf"], future);
    let (status, body) = kv.get("/secrets/rotating").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["attributes"]["exp"], past);

    // Unknown secret or version.
    let (status, body) = kv
        .patch("/secrets/nope/", json!({"attributes": {"enabled": true}}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "SecretNotFound");
}

#[tokio::test]
async fn strict_validity_period_is_opt_in() {
    let kv = start_with(EmulatorConfig::default().with_enforce_validity_period(true)).await;
    let past = now() - 60;
    let future = now() + 3600;

    kv.put(
        "expired",
        json!({"value": "v", "attributes": {"exp": past}}),
    )
    .await;
    let (status, body) = kv.get("/secrets/expired").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "Forbidden");
    assert_eq!(inner_code(&body), "SecretExpired");

    kv.put(
        "early",
        json!({"value": "v", "attributes": {"nbf": future}}),
    )
    .await;
    let (status, body) = kv.get("/secrets/early").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(inner_code(&body), "SecretNotYetValid");

    kv.put(
        "current",
        json!({"value": "v", "attributes": {"nbf": past, "exp": future}}),
    )
    .await;
    let (status, _) = kv.get("/secrets/current").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn delete_recover_and_purge() {
    let kv = start().await;
    let bundle = kv.put("temp", json!({"value": "v"})).await;

    let (status, deleted) = kv
        .json(Method::DELETE, &format!("/secrets/temp?{API}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(deleted.get("value").is_none());
    assert_eq!(deleted["id"], bundle["id"]);
    assert_eq!(
        deleted["recoveryId"],
        format!("{}/deletedsecrets/temp", kv.emulator.url())
    );
    let deleted_date = deleted["deletedDate"].as_i64().unwrap();
    assert_eq!(
        deleted["scheduledPurgeDate"].as_i64().unwrap(),
        deleted_date + 90 * 24 * 3600
    );

    // Gone from the live API.
    let (status, body) = kv.get("/secrets/temp").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "SecretNotFound");
    let (status, _) = kv
        .json(Method::DELETE, &format!("/secrets/temp?{API}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = kv.get("/secrets").await;
    assert!(list["value"].as_array().unwrap().is_empty());

    // The name cannot be reused while deleted.
    let (status, body) = kv
        .json(
            Method::PUT,
            &format!("/secrets/temp?{API}"),
            Some(json!({"value": "w"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "Conflict");
    assert_eq!(inner_code(&body), "ObjectIsDeletedButRecoverable");

    // Deleted secrets endpoints.
    let (status, body) = kv.get("/deletedsecrets/temp").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["deletedDate"], deleted_date);
    let (_, list) = kv.get("/deletedsecrets").await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1);

    // Recover: back with its value.
    let (status, recovered) = kv
        .json(
            Method::POST,
            &format!("/deletedsecrets/temp/recover?{API}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recovered["id"], bundle["id"]);
    let (status, body) = kv.get("/secrets/temp").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"], "v");

    // Delete and purge: the name is free again.
    kv.json(Method::DELETE, &format!("/secrets/temp?{API}"), None)
        .await;
    let response = kv
        .call(Method::DELETE, &format!("/deletedsecrets/temp?{API}"), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = kv.get("/deletedsecrets/temp").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "SecretNotFound");
    kv.put("temp", json!({"value": "fresh"})).await;
    let (_, versions) = kv.get("/secrets/temp/versions").await;
    assert_eq!(versions["value"].as_array().unwrap().len(), 1);

    let stats = kv.emulator.stats();
    assert_eq!(stats.count(Operation::DeleteSecret), 3);
    assert_eq!(stats.count(Operation::PurgeDeletedSecret), 1);
    assert_eq!(stats.count(Operation::RecoverDeletedSecret), 1);
    assert_eq!(stats.count(Operation::GetDeletedSecret), 2);
    assert_eq!(stats.count(Operation::ListDeletedSecrets), 1);
}

#[tokio::test]
async fn bad_names_and_bodies_are_bad_parameter() {
    let kv = start().await;
    let too_long = "x".repeat(128);
    for name in ["under_score", "dot.ted", "sp%20ace", too_long.as_str()] {
        let (status, body) = kv
            .json(
                Method::PUT,
                &format!("/secrets/{name}?{API}"),
                Some(json!({"value": "v"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(error_code(&body), "BadParameter", "{name}");
        let (status, _) = kv.get(&format!("/secrets/{name}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
    }
    // 127 characters is fine.
    kv.put(&"x".repeat(127), json!({"value": "v"})).await;

    // A missing value, and a body that is not the right JSON: the message does not echo it.
    let (status, body) = kv
        .json(
            Method::PUT,
            &format!("/secrets/ok?{API}"),
            Some(json!({"contentType": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "BadParameter");
    let (status, body) = kv
        .json(
            Method::PUT,
            &format!("/secrets/ok?{API}"),
            Some(json!({"value": 12345678})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!body.to_string().contains("12345678"), "{body}");

    // The seeding API applies the same rule.
    match kv.emulator.set_secret("bad_name", "v") {
        Err(Error::Rejected { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (400, "BadParameter"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn injected_faults() {
    let kv = start().await;
    kv.emulator.set_secret("s", "v").unwrap();

    // 429 with Retry-After and Key Vault's error shape.
    kv.emulator.inject(Fault::throttled(1));
    let response = kv
        .call(Method::GET, &format!("/secrets/s?{API}"), None)
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "Throttled");
    // Served once, then the store answers again.
    let (status, _) = kv.get("/secrets/s").await;
    assert_eq!(status, StatusCode::OK);

    // 503 twice, only for GetSecret: a list in between is not affected.
    kv.emulator
        .inject(Fault::status(503).times(2).only(Operation::GetSecret));
    let (status, _) = kv.get("/secrets").await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..2 {
        let (status, body) = kv.get("/secrets/s").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error_code(&body), "ServiceUnavailable");
    }
    assert_eq!(kv.emulator.pending_faults(), 0);
    let (status, _) = kv.get("/secrets/s").await;
    assert_eq!(status, StatusCode::OK);

    // 401 and 403 as the service shapes them.
    kv.emulator.inject(Fault::status(401));
    kv.emulator.inject(Fault::status(403));
    let response = kv
        .call(Method::GET, &format!("/secrets/s?{API}"), None)
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    let (status, body) = kv.get("/secrets/s").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "Forbidden");

    // A custom code, and a fault that is cleared before it is served.
    kv.emulator
        .inject(Fault::status(500).code("InternalError", "boom"));
    let (status, body) = kv.get("/secrets/s").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["message"], "boom");
    kv.emulator.inject(Fault::status(500));
    kv.emulator.clear_faults();
    let (status, _) = kv.get("/secrets/s").await;
    assert_eq!(status, StatusCode::OK);

    // Faults never hit the unauthenticated challenge request.
    kv.emulator.inject(Fault::status(500));
    let response = kv
        .http
        .get(kv.url(&format!("/secrets/s?{API}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(kv.emulator.pending_faults(), 1);
    kv.emulator.clear_faults();

    let stats = kv.emulator.stats();
    assert_eq!(stats.faults_served(), 6);
    kv.emulator.reset_stats();
    assert_eq!(kv.emulator.stats().total(), 0);
}

#[tokio::test]
async fn delay_fault_trips_a_client_timeout() {
    let kv = start().await;
    kv.emulator.set_secret("slow", "v").unwrap();
    kv.emulator.inject(Fault::delay(Duration::from_secs(3)));
    let result = kv
        .http
        .get(kv.url(&format!("/secrets/slow?{API}")))
        .bearer_auth("t")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
}

#[tokio::test]
async fn ca_file_is_written_and_is_the_only_root_needed() {
    let dir =
        std::env::temp_dir().join(format!("kv-emulator-test-{}-{}", std::process::id(), now()));
    let path = dir.join("nested").join("ca.pem");
    let kv = start_with(EmulatorConfig::default().with_ca_path(&path)).await;
    assert_eq!(kv.emulator.ca_path(), Some(path.as_path()));

    let pem = std::fs::read_to_string(&path).unwrap();
    assert_eq!(pem, kv.emulator.ca_pem());
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(pem.trim_end().ends_with("-----END CERTIFICATE-----"));
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 1);
    let certs = Certificate::from_pem_bundle(pem.as_bytes()).unwrap();
    assert_eq!(certs.len(), 1);

    // A client built from the file alone connects, by IP and by name, over HTTP/1.1 and h2.
    let from_file = client_for(&pem);
    let url = kv.url(&format!("/secrets?{API}"));
    let response = from_file.get(&url).bearer_auth("t").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let by_name = url.replace("127.0.0.1", "localhost");
    let response = from_file
        .get(&by_name)
        .bearer_auth("t")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let http1 = Client::builder()
        .tls_certs_only([Certificate::from_pem(pem.as_bytes()).unwrap()])
        .http1_only()
        .build()
        .unwrap();
    let response = http1.get(&url).bearer_auth("t").send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);

    // A client that does not trust the CA cannot connect.
    let other = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let wrong = client_for(other.ca_pem());
    assert!(wrong.get(&url).send().await.is_err());

    drop(kv);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn shutdown_releases_the_port() {
    let kv = start().await;
    let addr = kv.emulator.local_addr();
    kv.emulator.shutdown().await;
    let connect = tokio::net::TcpStream::connect(addr).await;
    assert!(connect.is_err());
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let kv = start().await;
    let (status, body) = kv.get("/keys/k").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "NotFound");
    let (status, body) = kv
        .json(Method::POST, &format!("/secrets/s?{API}"), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body), "MethodNotAllowed");
    assert_eq!(kv.emulator.stats().count(Operation::Other), 2);
}
