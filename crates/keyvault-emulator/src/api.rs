//! The Key Vault secrets REST API: routing, the auth/api-version gate, and JSON shapes.
//!
//! Shapes and status codes follow Microsoft's REST reference for the secrets data plane
//! (api-version 7.4 through 2025-07-01) and the error bodies the service is seen to answer.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

use crate::error::{ApiError, json_response};
use crate::fault::FaultQueue;
use crate::stats::{Operation, Stats};
use crate::store::{self, RECOVERABLE_DAYS, SetParams, Store, UpdateParams, View};

/// The deletion recovery level of a soft-delete vault with purge protection off.
const RECOVERY_LEVEL: &str = "Recoverable+Purgeable";
/// The service caps `maxresults` at 25.
const MAX_RESULTS_LIMIT: usize = 25;

/// State shared by the server and the [`crate::RunningEmulator`] handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) base_url: String,
    pub(crate) tenant: String,
    pub(crate) page_size: usize,
    pub(crate) enforce_validity_period: bool,
    pub(crate) store: Mutex<Store>,
    pub(crate) stats: Mutex<Stats>,
    pub(crate) faults: Mutex<FaultQueue>,
}

/// Locks a mutex, carrying on with the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Seconds since the Unix epoch, the unit of every Key Vault timestamp.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

type ApiResult = Result<Response, ApiError>;
type AppState = State<Arc<Shared>>;

/// The routes of the secrets API. Gating (auth, faults, api-version) happens in [`handle`].
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/secrets", get(list_secrets))
        .route("/secrets/", get(list_secrets))
        .route(
            "/secrets/{name}",
            get(get_latest)
                .put(set_secret)
                .patch(update_latest)
                .delete(delete_secret),
        )
        .route("/secrets/{name}/", get(get_latest).patch(update_latest))
        .route("/secrets/{name}/versions", get(list_versions))
        .route(
            "/secrets/{name}/{version}",
            get(get_version).patch(update_version),
        )
        .route("/deletedsecrets", get(list_deleted))
        .route("/deletedsecrets/", get(list_deleted))
        .route(
            "/deletedsecrets/{name}",
            get(get_deleted).delete(purge_deleted),
        )
        .route("/deletedsecrets/{name}/recover", post(recover_deleted))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

/// Serves one request: normalises the path, answers the challenge, counts, injects faults,
/// checks `api-version`, then routes.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    router: Router,
    request: Request<hyper::body::Incoming>,
) -> Response {
    let mut request = request.map(Body::new);
    normalize_path(&mut request);
    let operation = Operation::classify(request.method(), request.uri().path());

    if !has_bearer_token(request.headers()) {
        lock(&shared.stats).record_challenge();
        return ApiError::challenge(&shared.tenant).into_response();
    }
    lock(&shared.stats).record(operation);

    let fault = lock(&shared.faults).take(operation);
    if let Some(fault) = fault {
        let delay = fault.delay_duration();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(error) = fault.response(&shared.tenant) {
            lock(&shared.stats).record_fault();
            return error.into_response();
        }
    }

    if let Err(error) = check_api_version(request.uri().query()) {
        return error.into_response();
    }

    match router.oneshot(request).await {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    }
}

/// Collapses repeated slashes (`//secrets/x` is accepted by the service, as in its own samples).
fn normalize_path<B>(request: &mut Request<B>) {
    let uri = request.uri();
    if !uri.path().contains("//") {
        return;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    if let Ok(new_uri) = path_and_query.parse::<Uri>() {
        *request.uri_mut() = new_uri;
    }
}

/// Any `Authorization: Bearer <token>` is accepted: the emulator checks no token.
fn has_bearer_token(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
        })
}

fn query_map(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// Accepts the 7.x versions (with or without `-preview[.N]`) and the dated versions
/// (`2025-07-01`, `...-preview`); the service names its latest version when it refuses one.
fn check_api_version(query: Option<&str>) -> Result<String, ApiError> {
    let params = query_map(query);
    let Some(version) = params.get("api-version") else {
        return Err(ApiError::bad_parameter(
            "The 'api-version' query parameter is missing. Specify a supported API version, \
             for example api-version=7.6.",
        ));
    };
    if is_known_api_version(version) {
        Ok(version.clone())
    } else {
        Err(ApiError::bad_parameter(format!(
            "The specified version ({version}) is not recognized. Consider using the latest \
             supported version (2025-07-01)."
        )))
    }
}

fn is_known_api_version(version: &str) -> bool {
    let (base, preview) = match version.split_once("-preview") {
        Some((base, rest)) => (base, Some(rest)),
        None => (version, None),
    };
    let preview_ok = preview.is_none_or(|rest| {
        rest.is_empty()
            || rest
                .strip_prefix('.')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    let seven = base
        .strip_prefix("7.")
        .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()));
    let dated = base.len() == 10
        && base.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    preview_ok && (seven || dated)
}

// ---------------------------------------------------------------- JSON shapes

#[derive(Serialize)]
struct AttributesOut {
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    created: i64,
    updated: i64,
    #[serde(rename = "recoveryLevel")]
    recovery_level: &'static str,
    #[serde(rename = "recoverableDays")]
    recoverable_days: i64,
}

/// SecretBundle, SecretItem, DeletedSecretBundle and DeletedSecretItem in one shape: the
/// optional fields are left out where the service leaves them out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<&'a str>,
    attributes: AttributesOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_purge_date: Option<i64>,
}

#[derive(Serialize)]
struct ListOut<'a> {
    value: Vec<SecretOut<'a>>,
    #[serde(rename = "nextLink")]
    next_link: Option<String>,
}

/// What to put in a rendered secret.
#[derive(Clone, Copy)]
struct Render {
    value: bool,
    versioned_id: bool,
}

const BUNDLE: Render = Render {
    value: true,
    versioned_id: true,
};
const PROPERTIES: Render = Render {
    value: false,
    versioned_id: true,
};
const ITEM: Render = Render {
    value: false,
    versioned_id: false,
};

fn render<'a>(base: &str, view: &'a View, how: Render) -> SecretOut<'a> {
    let v = &view.version;
    let id = if how.versioned_id {
        format!("{base}/secrets/{}/{}", view.name, v.id)
    } else {
        format!("{base}/secrets/{}", view.name)
    };
    SecretOut {
        value: how.value.then_some(v.value.as_str()),
        id,
        content_type: v.content_type.as_deref(),
        attributes: AttributesOut {
            enabled: v.enabled,
            nbf: v.nbf,
            exp: v.exp,
            created: v.created,
            updated: v.updated,
            recovery_level: RECOVERY_LEVEL,
            recoverable_days: RECOVERABLE_DAYS,
        },
        tags: v.tags.as_ref(),
        recovery_id: view
            .deleted
            .map(|_| format!("{base}/deletedsecrets/{}", view.name)),
        deleted_date: view.deleted.map(|d| d.deleted_date),
        scheduled_purge_date: view.deleted.map(|d| d.scheduled_purge_date),
    }
}

#[derive(Deserialize, Default)]
struct AttributesIn {
    enabled: Option<bool>,
    nbf: Option<serde_json::Number>,
    exp: Option<serde_json::Number>,
}

#[derive(Deserialize)]
struct SetBody {
    value: Option<String>,
    #[serde(rename = "contentType")]
    content_type: Option<String>,
    attributes: Option<AttributesIn>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(rename = "contentType")]
    content_type: Option<String>,
    attributes: Option<AttributesIn>,
    tags: Option<BTreeMap<String, String>>,
}

/// Parses a JSON body without echoing its content in errors (it may hold a secret value).
fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_parameter("The request body is missing."));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_parameter(format!(
            "The request body is not valid for this operation (line {}, column {}).",
            e.line(),
            e.column()
        ))
    })
}

fn timestamp(number: Option<serde_json::Number>, field: &str) -> Result<Option<i64>, ApiError> {
    match number {
        None => Ok(None),
        Some(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.trunc() as i64)
            })
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_parameter(format!("Invalid value for attribute '{field}'."))
            }),
    }
}

// ---------------------------------------------------------------- paging

struct Paging {
    api_version: String,
    max: usize,
    token: Option<String>,
}

fn paging(query: Option<&str>, default_size: usize) -> Result<Paging, ApiError> {
    let params = query_map(query);
    let api_version = params.get("api-version").cloned().unwrap_or_default();
    let max = match params.get("maxresults") {
        None => default_size,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_RESULTS_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_parameter(format!(
                    "Invalid maxresults value '{raw}': it must be an integer between 1 and \
                     {MAX_RESULTS_LIMIT}."
                )));
            }
        },
    };
    let token = match params.get("$skiptoken") {
        None => None,
        Some(raw) if raw.is_empty() => None,
        Some(raw) => {
            Some(decode_token(raw).ok_or_else(|| ApiError::bad_parameter("Invalid $skiptoken."))?)
        }
    };
    Ok(Paging {
        api_version,
        max,
        token,
    })
}

/// Skip tokens are opaque to clients: hex of the position to continue after.
fn encode_token(raw: &str) -> String {
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

fn next_link(base: &str, path: &str, paging: &Paging, next: Option<String>) -> Option<String> {
    next.map(|position| {
        format!(
            "{base}{path}?api-version={}&$skiptoken={}&maxresults={}",
            paging.api_version,
            encode_token(&position),
            paging.max
        )
    })
}

// ---------------------------------------------------------------- handlers

async fn set_secret(State(shared): AppState, Path(name): Path<String>, body: Bytes) -> ApiResult {
    store::validate_name(&name)?;
    let body: SetBody = parse_body(&body)?;
    let Some(value) = body.value else {
        return Err(ApiError::bad_parameter("Property 'value' is required."));
    };
    let attributes = body.attributes.unwrap_or_default();
    let params = SetParams {
        value,
        content_type: body.content_type,
        enabled: attributes.enabled,
        nbf: timestamp(attributes.nbf, "nbf")?,
        exp: timestamp(attributes.exp, "exp")?,
        tags: body.tags,
    };
    let view = lock(&shared.store).set(&name, params, now())?;
    Ok(json_response(
        StatusCode::OK,
        &render(&shared.base_url, &view, BUNDLE),
    ))
}

async fn get_latest(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    read_secret(&shared, &name, None)
}

async fn get_version(
    State(shared): AppState,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult {
    read_secret(&shared, &name, Some(&version))
}

/// GET of one version. A disabled version answers 403 Forbidden / SecretDisabled, as the
/// service does ("Operation get is not allowed on a disabled secret.").
///
/// `exp` and `nbf`: the service does NOT enforce them on get. Its documentation
/// ("About Azure Key Vault secrets", date-time controlled operations) says a get works on
/// not-yet-valid and expired secrets, and users report 200 responses for expired secrets
/// (Azure/AzureKeyVault issue 19; Microsoft Q&A 172834 on activation dates). So by default
/// they are informational here too. With `enforce_validity_period` the emulator instead answers
/// 403 Forbidden with inner code SecretExpired / SecretNotYetValid, the shape some clients
/// expect, so that stricter handling can be tested.
fn read_secret(shared: &Shared, name: &str, version: Option<&str>) -> ApiResult {
    let view = lock(&shared.store).get(name, version)?;
    let v = &view.version;
    if !v.enabled {
        return Err(forbidden_get("a disabled secret", "SecretDisabled"));
    }
    if shared.enforce_validity_period {
        let now = now();
        if v.exp.is_some_and(|exp| exp <= now) {
            return Err(forbidden_get("an expired secret", "SecretExpired"));
        }
        if v.nbf.is_some_and(|nbf| nbf > now) {
            return Err(forbidden_get("a not yet valid secret", "SecretNotYetValid"));
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &render(&shared.base_url, &view, BUNDLE),
    ))
}

fn forbidden_get(what: &str, inner: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!("Operation get is not allowed on {what}."),
    )
    .with_inner(inner)
}

async fn update_latest(
    State(shared): AppState,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    update(&shared, &name, None, &body)
}

async fn update_version(
    State(shared): AppState,
    Path((name, version)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    update(&shared, &name, Some(&version), &body)
}

fn update(shared: &Shared, name: &str, version: Option<&str>, body: &Bytes) -> ApiResult {
    store::validate_name(name)?;
    let body: UpdateBody = parse_body(body)?;
    let attributes = body.attributes.unwrap_or_default();
    let params = UpdateParams {
        content_type: body.content_type,
        enabled: attributes.enabled,
        nbf: timestamp(attributes.nbf, "nbf")?,
        exp: timestamp(attributes.exp, "exp")?,
        tags: body.tags,
    };
    let view = lock(&shared.store).update(name, version, params, now())?;
    Ok(json_response(
        StatusCode::OK,
        &render(&shared.base_url, &view, PROPERTIES),
    ))
}

async fn delete_secret(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let view = lock(&shared.store).delete(&name, now())?;
    Ok(json_response(
        StatusCode::OK,
        &render(&shared.base_url, &view, PROPERTIES),
    ))
}

async fn list_secrets(State(shared): AppState, RawQuery(query): RawQuery) -> ApiResult {
    list(&shared, query.as_deref(), false)
}

async fn list_deleted(State(shared): AppState, RawQuery(query): RawQuery) -> ApiResult {
    list(&shared, query.as_deref(), true)
}

fn list(shared: &Shared, query: Option<&str>, deleted: bool) -> ApiResult {
    let paging = paging(query, shared.page_size)?;
    let page = lock(&shared.store).list(deleted, paging.token.as_deref(), paging.max);
    let path = if deleted {
        "/deletedsecrets"
    } else {
        "/secrets"
    };
    let body = ListOut {
        value: page
            .items
            .iter()
            .map(|view| render(&shared.base_url, view, ITEM))
            .collect(),
        next_link: next_link(&shared.base_url, path, &paging, page.next),
    };
    Ok(json_response(StatusCode::OK, &body))
}

async fn list_versions(
    State(shared): AppState,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let paging = paging(query.as_deref(), shared.page_size)?;
    let start = match &paging.token {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| ApiError::bad_parameter("Invalid $skiptoken."))?,
    };
    let page = lock(&shared.store).versions(&name, start, paging.max)?;
    let path = format!("/secrets/{name}/versions");
    let body = ListOut {
        value: page
            .items
            .iter()
            .map(|view| render(&shared.base_url, view, PROPERTIES))
            .collect(),
        next_link: next_link(&shared.base_url, &path, &paging, page.next),
    };
    Ok(json_response(StatusCode::OK, &body))
}

async fn get_deleted(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let view = lock(&shared.store).get_deleted(&name)?;
    Ok(json_response(
        StatusCode::OK,
        &render(&shared.base_url, &view, PROPERTIES),
    ))
}

async fn purge_deleted(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    lock(&shared.store).purge(&name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn recover_deleted(State(shared): AppState, Path(name): Path<String>) -> ApiResult {
    let view = lock(&shared.store).recover(&name)?;
    Ok(json_response(
        StatusCode::OK,
        &render(&shared.base_url, &view, PROPERTIES),
    ))
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The requested path is not part of the Key Vault secrets API served by this emulator.",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The HTTP method is not allowed on this path.",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn api_versions() {
        for ok in [
            "7.0",
            "7.4",
            "7.5",
            "7.6",
            "7.6-preview.2",
            "7.4-preview.1",
            "2025-07-01",
            "2025-06-01-preview",
        ] {
            assert!(is_known_api_version(ok), "{ok}");
        }
        for bad in [
            "",
            "7",
            "7.",
            "8.0",
            "latest",
            "2025-7-01",
            "7.4-preview.",
            "7.4x",
        ] {
            assert!(!is_known_api_version(bad), "{bad}");
        }
    }

    #[test]
    fn api_version_errors() {
        let missing = check_api_version(Some("maxresults=1")).unwrap_err();
        assert_eq!(missing.code, "BadParameter");
        let unknown = check_api_version(Some("api-version=1.0")).unwrap_err();
        assert!(unknown.message.contains("(1.0) is not recognized"));
        assert_eq!(check_api_version(Some("api-version=7.5")).unwrap(), "7.5");
    }

    #[test]
    fn tokens_round_trip() {
        assert_eq!(
            decode_token(&encode_token("my-secret-1")).unwrap(),
            "my-secret-1"
        );
        assert!(decode_token("abc").is_none());
        assert!(decode_token("zz").is_none());
    }

    #[test]
    fn bearer_detection() {
        let mut headers = HeaderMap::new();
        assert!(!has_bearer_token(&headers));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(!has_bearer_token(&headers));
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert!(!has_bearer_token(&headers));
        headers.insert(header::AUTHORIZATION, "bearer x.y.z".parse().unwrap());
        assert!(has_bearer_token(&headers));
    }

    #[test]
    fn paths_are_normalized() {
        let mut request = Request::builder()
            .uri("https://h//secrets//a?api-version=7.5")
            .body(())
            .unwrap();
        normalize_path(&mut request);
        assert_eq!(request.uri().path(), "/secrets/a");
        assert_eq!(request.uri().query(), Some("api-version=7.5"));
    }
}
