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

/// Decodes a parsed bundle into `T`, naming the field path of any problem.
pub(crate) fn decode_value<T: DeserializeOwned>(
    provider: &'static str,
    name: &str,
    type_name: &str,
    value: Value,
) -> Result<T> {
    let de = ValueDeserializer::<DeError>::new(value);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let issues = if !inner.issues.is_empty() {
            inner
                .issues
                .into_iter()
                .map(|i| FieldIssue {
                    field: join(&path, &i.field),
                    problem: i.problem,
                })
                .collect()
        } else if let Some(field) = inner.missing {
            vec![FieldIssue {
                field: join(&path, field),
                problem: inner.problem,
            }]
        } else {
            vec![FieldIssue {
                field: if path.is_empty() { ".".into() } else { path },
                problem: inner.problem,
            }]
        };
        Error::new(ErrorKind::Decode, provider)
            .with_secret(name)
            .with_message(format!("the bundle does not match {type_name}"))
            .with_fields(issues)
    })
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
