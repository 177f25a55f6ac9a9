//! A typed database configuration, as AWS writes it for RDS and Aurora secrets.

use std::collections::BTreeMap;
use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use secrets_core::{FieldIssue, REDACTED};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::decode::issues_message;

/// A database configuration decoded from a JSON secret bundle.
///
/// It reads the JSON that AWS writes for RDS, Aurora and Redshift secrets:
///
/// ```json
/// {"engine": "postgres", "host": "db.internal", "port": 5432, "username": "app",
///  "password": "...", "dbname": "app", "dbInstanceIdentifier": "app-db"}
/// ```
///
/// - `host`, `username` and `password` are required text.
/// - `port` is a number or a numeric string; when absent it defaults from a known `engine`
///   (5432 for PostgreSQL, 3306 for MySQL and MariaDB, 1433 for SQL Server, 1521 for Oracle,
///   5439 for Redshift).
/// - `engine`, `dbname` (or `database`), `dbClusterIdentifier` and `dbInstanceIdentifier`
///   are optional text. Other fields are ignored.
///
/// Every missing or mistyped field is reported at once, by name, never by value. `Debug`
/// redacts the password.
///
/// ```
/// use secrets::DatabaseConfig;
/// let json = r#"{"engine":"postgres","host":"db","port":"5432","username":"app","password":"p@ss/w:rd"}"#;
/// let db: DatabaseConfig = serde_json::from_str(json).unwrap();
/// assert_eq!(db.port, 5432);
/// assert_eq!(db.url().to_string(), "postgres://app:[REDACTED]@db:5432");
/// assert_eq!(db.url().expose_secret(), "postgres://app:p%40ss%2Fw%3Ard@db:5432");
/// assert!(!format!("{db:?}").contains("p@ss"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct DatabaseConfig {
    /// The engine, such as `postgres`, `mysql`, `aurora-postgresql`.
    pub engine: Option<String>,
    /// The host name or address.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The user name.
    pub username: String,
    /// The database name.
    pub dbname: Option<String>,
    /// The Aurora cluster identifier.
    pub db_cluster_identifier: Option<String>,
    /// The RDS instance identifier.
    pub db_instance_identifier: Option<String>,
    password: SecretString,
}

impl DatabaseConfig {
    /// A configuration from its parts.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        DatabaseConfig {
            engine: None,
            host: host.into(),
            port,
            username: username.into(),
            dbname: None,
            db_cluster_identifier: None,
            db_instance_identifier: None,
            password: SecretString::from(password.into()),
        }
    }

    /// Sets the engine.
    #[must_use]
    pub fn with_engine(mut self, engine: impl Into<String>) -> Self {
        self.engine = Some(engine.into());
        self
    }

    /// Sets the database name.
    #[must_use]
    pub fn with_dbname(mut self, dbname: impl Into<String>) -> Self {
        self.dbname = Some(dbname.into());
        self
    }

    /// The password.
    pub fn password(&self) -> &SecretString {
        &self.password
    }

    /// Whether two configurations have the same password (compared without printing).
    pub fn same_password(&self, other: &DatabaseConfig) -> bool {
        let (a, b) = (
            self.password.expose_secret().as_bytes(),
            other.password.expose_secret().as_bytes(),
        );
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The URL scheme for the engine: `postgres` (also when no engine is given), `mysql`,
    /// `sqlserver`, `oracle`, `redshift`, or the engine's own name.
    pub fn scheme(&self) -> &str {
        match self.engine.as_deref() {
            None => "postgres",
            Some(e) => match e.to_ascii_lowercase().as_str() {
                "postgres" | "postgresql" | "aurora-postgresql" => "postgres",
                "mysql" | "mariadb" | "aurora" | "aurora-mysql" => "mysql",
                "sqlserver" | "sqlserver-ee" | "sqlserver-se" | "sqlserver-ex"
                | "sqlserver-web" => "sqlserver",
                "oracle" | "oracle-ee" | "oracle-se2" => "oracle",
                "redshift" => "redshift",
                _ => e,
            },
        }
    }

    /// A connection URL, `scheme://user:password@host:port/dbname`, with the user and
    /// password percent-encoded. Its `Display` and `Debug` redact the password.
    pub fn url(&self) -> ConnectionUrl {
        let enc = |s: &str| utf8_percent_encode(s, USERINFO).to_string();
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let db = self
            .dbname
            .as_deref()
            .map(|d| format!("/{}", utf8_percent_encode(d, PATH_SEGMENT)))
            .unwrap_or_default();
        let user = enc(&self.username);
        let full = format!(
            "{}://{user}:{}@{host}:{}{db}",
            self.scheme(),
            enc(self.password.expose_secret()),
            self.port
        );
        let redacted = format!(
            "{}://{user}:{REDACTED}@{host}:{}{db}",
            self.scheme(),
            self.port
        );
        ConnectionUrl {
            full: SecretString::from(full),
            redacted,
        }
    }

    /// Checks a parsed bundle, collecting every problem.
    fn from_slots(mut map: BTreeMap<String, Slot>) -> Result<Self, Vec<FieldIssue>> {
        let mut issues = Vec::new();
        let mut issue = |field: &str, problem: &str| {
            issues.push(FieldIssue {
                field: field.to_string(),
                problem: problem.to_string(),
            });
        };
        let mut required_text =
            |map: &mut BTreeMap<String, Slot>, field: &str| match map.remove(field) {
                Some(Slot::Text(s)) if !s.expose_secret().is_empty() => Some(s),
                Some(Slot::Text(_)) => {
                    issue(field, "empty");
                    None
                }
                None | Some(Slot::Null) => {
                    issue(field, "missing");
                    None
                }
                Some(other) => {
                    issue(field, &format!("expected a string, found {}", other.kind()));
                    None
                }
            };
        let host = required_text(&mut map, "host");
        let username = required_text(&mut map, "username");
        let password = required_text(&mut map, "password");
        let mut opt_issues = Vec::new();
        let mut optional_text =
            |map: &mut BTreeMap<String, Slot>, field: &str| match map.remove(field) {
                Some(Slot::Text(s)) => Some(s.expose_secret().to_string()),
                None | Some(Slot::Null) => None,
                Some(other) => {
                    opt_issues.push(FieldIssue {
                        field: field.to_string(),
                        problem: format!("expected a string, found {}", other.kind()),
                    });
                    None
                }
            };
        let engine = optional_text(&mut map, "engine");
        let dbname =
            optional_text(&mut map, "dbname").or_else(|| optional_text(&mut map, "database"));
        let cluster = optional_text(&mut map, "dbClusterIdentifier");
        let instance = optional_text(&mut map, "dbInstanceIdentifier");
        issues.extend(opt_issues);
        let port = match map.remove("port") {
            Some(Slot::Int(n)) => match u16::try_from(n) {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    issues.push(port_issue("a number from 1 to 65535"));
                    None
                }
            },
            Some(Slot::Text(s)) => match s.expose_secret().trim().parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    issues.push(port_issue("a number from 1 to 65535 or a numeric string"));
                    None
                }
            },
            None | Some(Slot::Null) => match engine.as_deref().and_then(default_port) {
                Some(p) => Some(p),
                None => {
                    issues.push(FieldIssue {
                        field: "port".into(),
                        problem: "missing (and no known engine to default it from)".into(),
                    });
                    None
                }
            },
            Some(other) => {
                issues.push(port_issue(&format!(
                    "a number or a numeric string, found {}",
                    other.kind()
                )));
                None
            }
        };
        match (host, username, password, port) {
            (Some(host), Some(username), Some(password), Some(port)) if issues.is_empty() => {
                Ok(DatabaseConfig {
                    engine,
                    host: host.expose_secret().to_string(),
                    port,
                    username: username.expose_secret().to_string(),
                    dbname,
                    db_cluster_identifier: cluster,
                    db_instance_identifier: instance,
                    password,
                })
            }
            _ => Err(issues),
        }
    }
}

fn port_issue(expected: &str) -> FieldIssue {
    FieldIssue {
        field: "port".into(),
        problem: format!("expected {expected}"),
    }
}

fn default_port(engine: &str) -> Option<u16> {
    match engine.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" | "aurora-postgresql" => Some(5432),
        "mysql" | "mariadb" | "aurora" | "aurora-mysql" => Some(3306),
        "sqlserver" | "sqlserver-ee" | "sqlserver-se" | "sqlserver-ex" | "sqlserver-web" => {
            Some(1433)
        }
        "oracle" | "oracle-ee" | "oracle-se2" => Some(1521),
        "redshift" => Some(5439),
        _ => None,
    }
}

/// Characters escaped in the user-info part of a URL: all but unreserved ones.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const PATH_SEGMENT: &AsciiSet = USERINFO;

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("engine", &self.engine)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("dbname", &self.dbname)
            .field("db_cluster_identifier", &self.db_cluster_identifier)
            .field("db_instance_identifier", &self.db_instance_identifier)
            .finish()
    }
}

impl fmt::Display for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.url(), f)
    }
}

impl<'de> Deserialize<'de> for DatabaseConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Slot>::deserialize(deserializer)?;
        DatabaseConfig::from_slots(map).map_err(|issues| de::Error::custom(issues_message(&issues)))
    }
}

/// A connection URL holding a password. `Display` and `Debug` show it redacted; read the
/// full URL with [`expose_secret`](ConnectionUrl::expose_secret).
#[derive(Clone)]
pub struct ConnectionUrl {
    full: SecretString,
    redacted: String,
}

impl ConnectionUrl {
    /// The full URL, password included.
    pub fn expose_secret(&self) -> &str {
        self.full.expose_secret()
    }

    /// The URL with the password replaced by [`REDACTED`].
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl fmt::Display for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConnectionUrl")
            .field(&self.redacted)
            .finish()
    }
}

/// One field's value, kept only as far as the checks need: text stays in a wiped
/// [`SecretString`], nested values are skipped.
enum Slot {
    Text(SecretString),
    Int(i128),
    Float,
    Bool,
    Null,
    Array,
    Object,
}

impl Slot {
    fn kind(&self) -> &'static str {
        match self {
            Slot::Text(_) => "a string",
            Slot::Int(_) => "an integer",
            Slot::Float => "a floating-point number",
            Slot::Bool => "a boolean",
            Slot::Null => "null",
            Slot::Array => "an array",
            Slot::Object => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SlotVisitor;
        impl<'de> Visitor<'de> for SlotVisitor {
            type Value = Slot;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Slot, E> {
                Ok(Slot::Text(SecretString::from(v)))
            }
            fn visit_string<E>(self, v: String) -> Result<Slot, E> {
                Ok(Slot::Text(SecretString::from(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Slot, E> {
                Ok(Slot::Bool)
            }
            fn visit_i64<E>(self, v: i64) -> Result<Slot, E> {
                Ok(Slot::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Slot, E> {
                Ok(Slot::Int(v.into()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Slot, E> {
                Ok(Slot::Float)
            }
            fn visit_unit<E>(self) -> Result<Slot, E> {
                Ok(Slot::Null)
            }
            fn visit_none<E>(self) -> Result<Slot, E> {
                Ok(Slot::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Slot, D::Error> {
                Slot::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slot, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Slot::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Slot, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Slot::Object)
            }
        }
        deserializer.deserialize_any(SlotVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_json_and_defaults() {
        let db: DatabaseConfig = serde_json::from_str(
            r#"{"engine":"mysql","host":"h","username":"u","password":"p","dbClusterIdentifier":"c","extra":[1,{"a":2}]}"#,
        )
        .unwrap();
        assert_eq!(db.port, 3306);
        assert_eq!(db.db_cluster_identifier.as_deref(), Some("c"));
        assert_eq!(db.scheme(), "mysql");
        assert_eq!(db.url().expose_secret(), "mysql://u:p@h:3306");
    }

    #[test]
    fn ipv6_host_and_dbname_encoding() {
        let db = DatabaseConfig::new("::1", 5432, "a b", "x").with_dbname("my db");
        assert_eq!(
            db.url().expose_secret(),
            "postgres://a%20b:x@[::1]:5432/my%20db"
        );
    }

    #[test]
    fn same_password() {
        let a = DatabaseConfig::new("h", 1, "u", "p1");
        assert!(a.same_password(&DatabaseConfig::new("h2", 2, "u2", "p1")));
        assert!(!a.same_password(&DatabaseConfig::new("h", 1, "u", "p2")));
    }
}
