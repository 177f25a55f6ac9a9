//! Decoding a secret's JSON text into typed values without ever quoting the value.
//!
//! `serde_json`'s own errors quote their input (`invalid type: string "hunter2", expected
//! u16`), so the JSON is first parsed into a [`serde_value::Value`] (a syntax error carries
//! only a line and column), and then deserialized through a deserializer whose error type,
//! [`DeError`], is written here: it records what was expected and the *kind* of what was
//! found, never the found value. `serde_path_to_error` adds the field path. No crate offers
//! such an error type, hence this file.

use std::fmt;

use secrets_core::{Error, ErrorKind, FieldIssue, Result, SecretValue};
use serde::de::{self, DeserializeOwned, Expected, Unexpected};
use serde_value::{Value, ValueDeserializer};

/// The prefix of a custom error message that lists field issues in the form this module
/// writes (field names and expectations only). Other custom messages are withheld because
/// they may quote a value.
pub(crate) const FIELDS_SENTINEL: &str = "\u{1}fields\u{1}";

/// Writes field issues as a custom serde error message that [`DeError`] reads back.
pub(crate) fn issues_message(issues: &[FieldIssue]) -> String {
    let mut out = String::from(FIELDS_SENTINEL);
    for (i, issue) in issues.iter().enumerate() {
        if i > 0 {
            out.push('\u{1}');
        }
        out.push_str(&issue.field);
        out.push('\u{2}');
        out.push_str(&issue.problem);
    }
    out
}

/// A serde error that never holds a value.
#[derive(Debug)]
pub(crate) struct DeError {
    problem: String,
    missing: Option<&'static str>,
    issues: Vec<FieldIssue>,
}

impl DeError {
    fn problem(problem: String) -> Self {
        DeError {
            problem,
            missing: None,
            issues: Vec::new(),
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)
    }
}

impl std::error::Error for DeError {}

/// What kind of thing was found, without the thing.
fn kind_of(unexp: &Unexpected<'_>) -> &'static str {
    match unexp {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "an integer",
        Unexpected::Float(_) => "a floating-point number",
        Unexpected::Char(_) | Unexpected::Str(_) => "a string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit => "null",
        Unexpected::Option => "an optional value",
        Unexpected::NewtypeStruct => "a newtype struct",
        Unexpected::Seq => "an array",
        Unexpected::Map => "an object",
        Unexpected::Enum => "an enum",
        Unexpected::UnitVariant
        | Unexpected::NewtypeVariant
        | Unexpected::TupleVariant
        | Unexpected::StructVariant => "an enum variant",
        Unexpected::Other(_) => "another kind of value",
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let text = msg.to_string();
        if let Some(rest) = text.strip_prefix(FIELDS_SENTINEL) {
            let issues = rest
                .split('\u{1}')
                .filter_map(|part| {
                    let (field, problem) = part.split_once('\u{2}')?;
                    Some(FieldIssue {
                        field: field.to_string(),
                        problem: problem.to_string(),
                    })
                })
                .collect();
            return DeError {
                problem: String::from("invalid fields"),
                missing: None,
                issues,
            };
        }
        DeError::problem(String::from(
            "rejected by the type's own check (its message is withheld: it may quote the value)",
        ))
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        DeError::problem(format!("expected {exp}, found {}", kind_of(&unexp)))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        DeError::problem(format!("invalid {}: expected {exp}", kind_of(&unexp)))
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        DeError::problem(format!("invalid length {len}, expected {exp}"))
    }

    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::problem(format!("unknown variant, expected one of {expected:?}"))
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        DeError::problem(format!("unknown field `{}`", field.escape_debug()))
    }

    fn missing_field(field: &'static str) -> Self {
        DeError {
            problem: String::from("missing"),
            missing: Some(field),
            issues: Vec::new(),
        }
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::problem(format!("duplicate field `{field}`"))
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() || path == "." {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// Parses `value` as a JSON object (at most `max_bytes` long).
pub(crate) fn parse_object(
    provider: &'static str,
    name: &str,
    value: &SecretValue,
    max_bytes: usize,
) -> Result<Value> {
    let decode_err = |msg: String| {
        Error::new(ErrorKind::Decode, provider)
            .with_secret(name)
            .with_message(msg)
    };
    if value.len() > max_bytes {
        return Err(Error::new(ErrorKind::TooLarge, provider)
            .with_secret(name)
            .with_message(format!(
                "the value is {} bytes; the limit for a bundle is {max_bytes} bytes",
                value.len()
            )));
    }
    let text = value.expose_text().map_err(|e| {
        decode_err(format!(
            "a bundle must be JSON text; {}",
            e.message().unwrap_or("the value is not text")
        ))
    })?;
    let parsed: Value = serde_json::from_str(text).map_err(|e| {
        // Only the position and category are kept: see the module docs.
        let what = match e.classify() {
            serde_json::error::Category::Eof => "the JSON ends early",
            _ => "the value is not valid JSON",
        };
        decode_err(format!("{what} (line {}, column {})", e.line(), e.column()))
    })?;
    match &parsed {
        Value::Map(_) => Ok(parsed),
        other => Err(decode_err(format!(
            "a bundle must be a JSON object, found {}",
            match other {
                Value::Seq(_) => "an array",
                Value::String(_) => "a string",
                Value::Unit | Value::Option(None) => "null",
                Value::Bool(_) => "a boolean",
                _ => "a number",
            }
        ))),
    }
}

/// The most decoding passes spent finding further problems after the first.
const MAX_PASSES: usize = 64;

/// Values tried, in turn, in place of a missing or mistyped field so that decoding can go on
/// and report the next problem. A placeholder's own failures are never reported.
fn placeholder(candidate: usize) -> Option<Value> {
    Some(match candidate {
        0 => Value::String(String::new()),
        1 => Value::U64(0),
        2 => Value::Bool(false),
        3 => Value::Map(Default::default()),
        4 => Value::Seq(Vec::new()),
        5 => Value::F64(0.0),
        _ => return None,
    })
}

/// A path into a bundle, as serde_path_to_error reports it.
type Path = Vec<Segment>;

#[derive(Clone, PartialEq, Eq, Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

fn path_of(path: &serde_path_to_error::Path) -> Option<Path> {
    path.iter()
        .map(|segment| match segment {
            serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
            _ => None,
        })
        .collect()
}

fn path_text(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() { ".".into() } else { out }
}

/// Sets the value at `path` (creating the last key of a map), or returns false.
fn set_at(root: &mut Value, path: &[Segment], new: Value) -> bool {
    let Some((last, parents)) = path.split_last() else {
        *root = new;
        return true;
    };
    let mut node = root;
    for segment in parents {
        node = match (node, segment) {
            (Value::Map(map), Segment::Key(key)) => {
                match map.get_mut(&Value::String(key.clone())) {
                    Some(child) => child,
                    None => return false,
                }
            }
            (Value::Seq(items), Segment::Index(i)) => match items.get_mut(*i) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
    }
    match (node, last) {
        (Value::Map(map), Segment::Key(key)) => {
            map.insert(Value::String(key.clone()), new);
            true
        }
        (Value::Seq(items), Segment::Index(i)) if *i < items.len() => {
            items[*i] = new;
            true
        }
        _ => false,
    }
}

/// Decodes a parsed bundle into `T`. On failure it reports every problem it can find, not
/// only the first: each missing or mistyped field is replaced by a placeholder and decoding
/// runs again, up to a bound (serde stops at the first error, and no crate offers this).
/// Problems inside a placeholder are not reported.
pub(crate) fn decode_value<T: DeserializeOwned>(
    provider: &'static str,
    name: &str,
    type_name: &str,
    value: Value,
) -> Result<T> {
    let mut value = value;
    let mut issues: Vec<FieldIssue> = Vec::new();
    // Placeholders in place, by path, with the candidate each one uses.
    let mut placed: Vec<(Path, usize)> = Vec::new();
    for _ in 0..MAX_PASSES {
        let de = ValueDeserializer::<DeError>::new(value.clone());
        let err = match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(decoded) if issues.is_empty() => return Ok(decoded),
            Ok(_) => break,
            Err(err) => err,
        };
        let path = path_of(err.path());
        let raw_path = err.path().to_string();
        let inner = err.into_inner();
        let Some(path) = path else {
            // An enum or unknown segment: report it and stop looking further.
            issues.push(FieldIssue {
                field: if raw_path.is_empty() {
                    ".".into()
                } else {
                    raw_path
                },
                problem: inner.problem,
            });
            break;
        };
        if !inner.issues.is_empty() {
            // A type's own list of problems (DatabaseConfig's): complete for that level.
            issues.extend(inner.issues.into_iter().map(|i| FieldIssue {
                field: join(&path_text(&path), &i.field),
                problem: i.problem,
            }));
            break;
        }
        let (target, problem) = match inner.missing {
            Some(field) => {
                let mut p = path.clone();
                p.push(Segment::Key(field.to_string()));
                (p, inner.problem)
            }
            None => (path, inner.problem),
        };
        let inside_placeholder = placed
            .iter()
            .any(|(p, _)| target.starts_with(p) && *p != target);
        let candidate = match placed.iter_mut().find(|(p, _)| *p == target) {
            // The placeholder itself did not fit: try the next kind of value.
            Some((_, candidate)) => {
                *candidate += 1;
                *candidate
            }
            None => {
                if !inside_placeholder && !issues.iter().any(|i| i.field == path_text(&target)) {
                    issues.push(FieldIssue {
                        field: path_text(&target),
                        problem,
                    });
                }
                placed.push((target.clone(), 0));
                0
            }
        };
        let placed_ok =
            placeholder(candidate).is_some_and(|stand_in| set_at(&mut value, &target, stand_in));
        if !placed_ok {
            break;
        }
    }
    Err(Error::new(ErrorKind::Decode, provider)
        .with_secret(name)
        .with_message(format!("the bundle does not match {type_name}"))
        .with_fields(issues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Conf {
        port: u16,
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        level: u8,
        mode: Mode,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
    }

    fn decode<T: DeserializeOwned>(json: &str) -> Result<T> {
        let v = parse_object("t", "s", &SecretValue::from(json), 1 << 20)?;
        decode_value("t", "s", "Conf", v)
    }

    fn text(err: &Error) -> String {
        format!("{err} {err:?}")
    }

    #[test]
    fn wrong_type_names_path_not_value() {
        let err = decode::<Conf>(
            r#"{"port":"canary-7f3a","name":"x","inner":{"level":1,"mode":"fast"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert_eq!(err.fields()[0].field, "port");
        assert!(!text(&err).contains("canary-7f3a"), "{}", text(&err));
    }

    #[test]
    fn nested_missing_field_and_unknown_variant() {
        let err = decode::<Conf>(r#"{"port":1,"name":"x","inner":{"mode":"fast"}}"#).unwrap_err();
        assert_eq!(err.fields()[0].field, "inner.level");
        assert_eq!(err.fields()[0].problem, "missing");
        let err =
            decode::<Conf>(r#"{"port":1,"name":"x","inner":{"level":2,"mode":"canary-91b2"}}"#)
                .unwrap_err();
        assert_eq!(err.fields()[0].field, "inner.mode");
        assert!(!text(&err).contains("canary-91b2"), "{}", text(&err));
    }

    #[test]
    fn out_of_range_hides_number() {
        let err = decode::<Conf>(r#"{"port":987654,"name":"x","inner":{"level":2,"mode":"fast"}}"#)
            .unwrap_err();
        assert!(!text(&err).contains("987654"), "{}", text(&err));
        assert_eq!(err.fields()[0].field, "port");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Many {
            a: String,
            b: u16,
            c: bool,
            nested: Inner,
            list: Vec<u8>,
            present: String,
        }
        let err =
            decode::<Many>(r#"{"b":"canary-x","present":"ok","list":[1,"canary-y"]}"#).unwrap_err();
        let fields: Vec<(&str, &str)> = err
            .fields()
            .iter()
            .map(|f| (f.field.as_str(), f.problem.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("b", "expected u16, found a string"),
                ("list[1]", "expected u8, found a string"),
                ("a", "missing"),
                ("c", "missing"),
                ("nested", "missing"),
            ],
            "{err}"
        );
        assert!(!text(&err).contains("canary"), "{}", text(&err));
    }

    #[test]
    fn syntax_errors_keep_position_only() {
        let err = decode::<Conf>(r#"{"port": canary-55aa }"#).unwrap_err();
        assert!(!text(&err).contains("canary"), "{}", text(&err));
        assert!(text(&err).contains("line 1"), "{}", text(&err));
        let err = decode::<Conf>(r#"["canary-1"]"#).unwrap_err();
        assert!(text(&err).contains("must be a JSON object"));
        assert!(!text(&err).contains("canary"));
    }

    #[test]
    fn too_large_and_binary() {
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(100));
        let err = parse_object("t", "s", &SecretValue::from(big.as_str()), 50).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge);
        let err = parse_object("t", "s", &SecretValue::bytes(vec![0xff, 0x00]), 50).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
    }
}
