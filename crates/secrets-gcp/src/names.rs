//! How secret names map to Secret Manager resource names.
//!
//! A name is either a full resource name (`projects/P/secrets/S`,
//! `projects/P/secrets/S/versions/V`, or the regional `projects/P/locations/L/secrets/S[...]`)
//! or a plain name. A plain name is mapped to a secret id in the provider's project by
//! replacing each `/` with `__` (two underscores); see [`secret_id_for_name`].

use secrets_core::{Error, ErrorKind, Result, VersionSelector, check_name};

use crate::PROVIDER_NAME;

/// The longest secret id Secret Manager accepts, in bytes.
pub const MAX_SECRET_ID_LEN: usize = 255;

/// What a `/` in a plain name becomes in the secret id.
pub const SEPARATOR: &str = "__";

/// The longest version alias Secret Manager accepts.
const MAX_ALIAS_LEN: usize = 63;

fn invalid(name: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidName, PROVIDER_NAME)
        .with_secret(name.escape_debug().to_string())
        .with_message(message.into())
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Maps a plain secret name to its Secret Manager secret id.
///
/// The mapping, used everywhere in this crate: each `/` becomes `__` (two underscores), so
/// `cgi-chat/database` is the secret id `cgi-chat__database`. Everything else is kept as is.
///
/// A plain name may contain ASCII letters, digits, `-`, `_` and `/`. To keep the mapping
/// one-to-one (see [`name_for_secret_id`]) a name is rejected with
/// [`ErrorKind::InvalidName`] when it
/// - contains `__` itself (`a__b` would be the same id as `a/b`; to read an existing secret
///   whose id has `__`, use its full resource name `projects/P/secrets/a__b`),
/// - has an empty segment (a leading, trailing or doubled `/`),
/// - has `_` next to a `/` (`a_/b` and `a/_b` would both become `a___b`),
/// - maps to an id longer than [`MAX_SECRET_ID_LEN`] (255) bytes,
/// - starts with `projects/` (that prefix marks a full resource name), or fails
///   [`secrets_core::check_name`].
///
/// ```
/// use secrets_gcp::secret_id_for_name;
/// assert_eq!(secret_id_for_name("cgi-chat/database").unwrap(), "cgi-chat__database");
/// assert_eq!(secret_id_for_name("api_key").unwrap(), "api_key");
/// assert!(secret_id_for_name("cgi-chat__database").is_err());
/// assert!(secret_id_for_name("db.password").is_err());
/// ```
pub fn secret_id_for_name(name: &str) -> Result<String> {
    check_name(PROVIDER_NAME, name)?;
    if name.starts_with("projects/") {
        return Err(invalid(
            name,
            "a name starting with `projects/` is a resource name, not a plain name \
             (expected projects/P/secrets/S or projects/P/secrets/S/versions/V)",
        ));
    }
    if let Some((at, c)) = name
        .char_indices()
        .find(|&(_, c)| !is_id_char(c) && c != '/')
    {
        return Err(invalid(
            name,
            format!(
                "character {:?} at byte {at} is not allowed: Secret Manager ids allow only \
                 ASCII letters, digits, `-` and `_` (and this provider maps `/` to `__`)",
                c
            ),
        ));
    }
    if name.contains(SEPARATOR) {
        return Err(invalid(
            name,
            "the name contains `__`, which this provider uses to encode `/` (write `/` \
             instead, or use the full resource name projects/P/secrets/ID for an existing id)",
        ));
    }
    if name.split('/').any(str::is_empty) {
        return Err(invalid(
            name,
            "the name has an empty segment (a leading, trailing or doubled `/`)",
        ));
    }
    if name.contains("_/") || name.contains("/_") {
        return Err(invalid(
            name,
            "the name has `_` next to `/`, which would make its secret id ambiguous \
             (`/` maps to `__`)",
        ));
    }
    let id = name.replace('/', SEPARATOR);
    if id.len() > MAX_SECRET_ID_LEN {
        return Err(invalid(
            name,
            format!(
                "the name maps to a secret id of {} bytes; Secret Manager allows at most {MAX_SECRET_ID_LEN}",
                id.len()
            ),
        ));
    }
    Ok(id)
}

/// The plain name whose secret id is `id`: the inverse of [`secret_id_for_name`], or `None`
/// when no plain name maps to `id` (for example `a___b`, or an id that is not a valid secret
/// id). Useful to list secrets by the names an application uses.
///
/// ```
/// use secrets_gcp::name_for_secret_id;
/// assert_eq!(name_for_secret_id("cgi-chat__database").as_deref(), Some("cgi-chat/database"));
/// assert_eq!(name_for_secret_id("a___b"), None);
/// ```
pub fn name_for_secret_id(id: &str) -> Option<String> {
    if id.is_empty() || id.len() > MAX_SECRET_ID_LEN || !id.chars().all(is_id_char) {
        return None;
    }
    let name = id.replace(SEPARATOR, "/");
    match secret_id_for_name(&name) {
        Ok(back) if back == id => Some(name),
        _ => None,
    }
}

/// A name resolved to a secret resource and, when the name fixed one, a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `projects/P/secrets/S` or `projects/P/locations/L/secrets/S`.
    pub(crate) resource: String,
    /// The version segment given in a full resource name.
    pub(crate) pinned: Option<String>,
}

impl Target {
    /// The version resource name for `selector`.
    pub(crate) fn version_resource(
        &self,
        name: &str,
        selector: &VersionSelector,
    ) -> Result<String> {
        let wanted = match selector {
            VersionSelector::Latest => None,
            VersionSelector::Id(id) => {
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(
                        name,
                        format!(
                            "version id {id:?} is not a number: Secret Manager versions are \
                             numbered 1, 2, ...; for a version alias use VersionSelector::Stage"
                        ),
                    ));
                }
                Some(id.as_str())
            }
            VersionSelector::Stage(alias) => {
                check_alias(name, alias)?;
                Some(alias.as_str())
            }
            other => {
                return Err(Error::new(ErrorKind::Unsupported, PROVIDER_NAME)
                    .with_secret(name)
                    .with_message(format!("unsupported version selector: {other}")));
            }
        };
        let segment = match (&self.pinned, wanted) {
            (None, None) => "latest",
            (None, Some(w)) => w,
            (Some(p), None) => p.as_str(),
            (Some(p), Some(w)) if p == w => p.as_str(),
            (Some(p), Some(_)) => {
                return Err(invalid(
                    name,
                    format!(
                        "the resource name already selects version `{p}` but {selector} was \
                         asked for; pass VersionSelector::Latest or drop `/versions/{p}`"
                    ),
                ));
            }
        };
        Ok(format!("{}/versions/{segment}", self.resource))
    }
}

fn check_alias(name: &str, alias: &str) -> Result<()> {
    if alias.is_empty() || alias.len() > MAX_ALIAS_LEN || !alias.chars().all(is_id_char) {
        return Err(invalid(
            name,
            format!(
                "version alias {alias:?} is not valid: aliases have 1 to {MAX_ALIAS_LEN} ASCII \
                 letters, digits, `-` or `_`"
            ),
        ));
    }
    if alias.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            name,
            format!(
                "version alias {alias:?} is a number; for a version number use VersionSelector::Id"
            ),
        ));
    }
    Ok(())
}

fn check_segment(
    name: &str,
    what: &str,
    value: &str,
    ok: fn(char) -> bool,
    max: usize,
) -> Result<()> {
    if value.is_empty() || value.len() > max || !value.chars().all(ok) {
        return Err(invalid(
            name,
            format!("the {what} {value:?} in the resource name is not valid"),
        ));
    }
    Ok(())
}

fn is_project_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | ':')
}

fn is_location_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

/// Checks a project id (or number) as given to the builder or in a resource name.
pub(crate) fn project_is_valid(project: &str) -> bool {
    !project.is_empty() && project.len() <= 100 && project.chars().all(is_project_char)
}

fn parse_resource(name: &str) -> Result<Target> {
    let parts: Vec<&str> = name.split('/').collect();
    let (secret, pinned) = match parts.as_slice() {
        ["projects", p, "secrets", s] => (check_secret(name, p, None, s)?, None),
        ["projects", p, "secrets", s, "versions", v] => (check_secret(name, p, None, s)?, Some(*v)),
        ["projects", p, "locations", l, "secrets", s] => (check_secret(name, p, Some(l), s)?, None),
        ["projects", p, "locations", l, "secrets", s, "versions", v] => {
            (check_secret(name, p, Some(l), s)?, Some(*v))
        }
        _ => {
            return Err(invalid(
                name,
                "not a Secret Manager resource name: expected projects/P/secrets/S or \
                 projects/P/secrets/S/versions/V (a plain name cannot start with `projects/`)",
            ));
        }
    };
    if let Some(v) = pinned {
        check_segment(name, "version", v, is_id_char, MAX_SECRET_ID_LEN)?;
    }
    Ok(Target {
        resource: secret,
        pinned: pinned.map(str::to_owned),
    })
}

fn check_secret(
    name: &str,
    project: &str,
    location: Option<&&str>,
    secret: &str,
) -> Result<String> {
    if !project_is_valid(project) {
        return Err(invalid(
            name,
            format!("the project {project:?} in the resource name is not a valid project id"),
        ));
    }
    check_segment(name, "secret id", secret, is_id_char, MAX_SECRET_ID_LEN)?;
    match location {
        None => Ok(format!("projects/{project}/secrets/{secret}")),
        Some(l) => {
            check_segment(name, "location", l, is_location_char, 63)?;
            Ok(format!("projects/{project}/locations/{l}/secrets/{secret}"))
        }
    }
}

/// Resolves `name` against the default `project`.
pub(crate) fn resolve(project: &str, name: &str) -> Result<Target> {
    check_name(PROVIDER_NAME, name)?;
    if name.starts_with("projects/") {
        return parse_resource(name);
    }
    let id = secret_id_for_name(name)?;
    Ok(Target {
        resource: format!("projects/{project}/secrets/{id}"),
        pinned: None,
    })
}

/// The last segment of `.../versions/V`, when present.
pub(crate) fn version_of(resource: &str) -> Option<&str> {
    resource
        .rsplit_once("/versions/")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && !v.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(r: Result<impl std::fmt::Debug>) -> ErrorKind {
        r.unwrap_err().kind()
    }

    #[test]
    fn plain_names_map_slash_to_double_underscore() {
        assert_eq!(
            secret_id_for_name("cgi-chat/database").unwrap(),
            "cgi-chat__database"
        );
        assert_eq!(secret_id_for_name("a/b/c").unwrap(), "a__b__c");
        assert_eq!(secret_id_for_name("API_KEY-2").unwrap(), "API_KEY-2");
        assert_eq!(secret_id_for_name("_x_").unwrap(), "_x_");
    }

    #[test]
    fn unmappable_names_are_rejected() {
        for bad in [
            "",
            "a.b",
            "a b",
            "ä",
            "a:b",
            "a__b",
            "/a",
            "a/",
            "a//b",
            "a_/b",
            "a/_b",
            "projects/x",
            "bad\nname",
        ] {
            let err = secret_id_for_name(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidName, "{bad:?}");
            assert_eq!(err.provider(), "gcp");
            assert!(err.message().is_some(), "{bad:?}");
        }
        let long = "a".repeat(256);
        let err = secret_id_for_name(&long).unwrap_err();
        assert!(err.to_string().contains("at most 255"), "{err}");
        assert!(secret_id_for_name(&"a".repeat(255)).is_ok());
        // 128 segments of one letter: 255 bytes as a name, 382 as an id.
        let slashes = vec!["a"; 128].join("/");
        assert_eq!(kind(secret_id_for_name(&slashes)), ErrorKind::InvalidName);
    }

    #[test]
    fn messages_explain() {
        let err = secret_id_for_name("a__b").unwrap_err();
        assert!(err.to_string().contains("`__`"), "{err}");
        let err = secret_id_for_name("db.password").unwrap_err();
        assert!(err.to_string().contains("'.'"), "{err}");
    }

    #[test]
    fn mapping_round_trips() {
        for name in [
            "a",
            "cgi-chat/database",
            "x/y-z/w_v",
            "_lead",
            "trail_",
            "a_b/c-d",
        ] {
            let id = secret_id_for_name(name).unwrap();
            assert_eq!(name_for_secret_id(&id).as_deref(), Some(name), "{id}");
        }
        for id in ["a___b", "__a", "a__", "a____b", "", "a.b", "_"] {
            let back = name_for_secret_id(id);
            if let Some(name) = &back {
                assert_eq!(secret_id_for_name(name).unwrap(), id);
            }
        }
        assert_eq!(name_for_secret_id("a___b"), None);
        assert_eq!(name_for_secret_id("__a"), None);
        assert_eq!(name_for_secret_id("_").as_deref(), Some("_"));
    }

    #[test]
    fn resolves_plain_and_resource_names() {
        let t = resolve("proj-1", "cgi-chat/database").unwrap();
        assert_eq!(t.resource, "projects/proj-1/secrets/cgi-chat__database");
        assert_eq!(t.pinned, None);

        let t = resolve("proj-1", "projects/other/secrets/a__b").unwrap();
        assert_eq!(t.resource, "projects/other/secrets/a__b");

        let t = resolve("p", "projects/123/secrets/s/versions/7").unwrap();
        assert_eq!(t.pinned.as_deref(), Some("7"));

        let t = resolve("p", "projects/p2/locations/europe-west1/secrets/s").unwrap();
        assert_eq!(t.resource, "projects/p2/locations/europe-west1/secrets/s");

        for bad in [
            "projects/p",
            "projects/p/secrets",
            "projects/p/secrets/",
            "projects/p/secrets/a.b",
            "projects/P!/secrets/s",
            "projects/p/secrets/s/versions/",
            "projects/p/secrets/s/versions/1/extra",
            "projects/p/topics/s",
            "projects//secrets/s",
        ] {
            assert_eq!(kind(resolve("p", bad)), ErrorKind::InvalidName, "{bad}");
        }
    }

    #[test]
    fn version_selectors() {
        let t = resolve("p", "db").unwrap();
        let r = |s: &VersionSelector| t.version_resource("db", s);
        assert_eq!(
            r(&VersionSelector::Latest).unwrap(),
            "projects/p/secrets/db/versions/latest"
        );
        assert_eq!(
            r(&VersionSelector::id("12")).unwrap(),
            "projects/p/secrets/db/versions/12"
        );
        assert_eq!(
            r(&VersionSelector::stage("prod")).unwrap(),
            "projects/p/secrets/db/versions/prod"
        );
        for bad in [
            VersionSelector::id("abc"),
            VersionSelector::id(""),
            VersionSelector::id("1/2"),
            VersionSelector::stage("12"),
            VersionSelector::stage("a/b"),
            VersionSelector::stage(""),
            VersionSelector::stage("x".repeat(64)),
        ] {
            assert_eq!(kind(r(&bad)), ErrorKind::InvalidName, "{bad:?}");
        }
    }

    #[test]
    fn pinned_version_and_selector_must_agree() {
        let t = resolve("p", "projects/p/secrets/db/versions/3").unwrap();
        let name = "projects/p/secrets/db/versions/3";
        assert_eq!(
            t.version_resource(name, &VersionSelector::Latest).unwrap(),
            "projects/p/secrets/db/versions/3"
        );
        assert!(t.version_resource(name, &VersionSelector::id("3")).is_ok());
        let err = t
            .version_resource(name, &VersionSelector::id("4"))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidName);
        assert!(
            err.to_string().contains("already selects version `3`"),
            "{err}"
        );
    }

    #[test]
    fn version_of_resource() {
        assert_eq!(version_of("projects/p/secrets/s/versions/4"), Some("4"));
        assert_eq!(version_of("projects/p/secrets/s"), None);
        assert_eq!(version_of("projects/p/secrets/s/versions/"), None);
    }

    #[test]
    fn project_ids() {
        assert!(project_is_valid("my-proj-123"));
        assert!(project_is_valid("123456789"));
        assert!(project_is_valid("example.com:proj"));
        assert!(!project_is_valid(""));
        assert!(!project_is_valid("a/b"));
        assert!(!project_is_valid("My Project"));
    }
}
