//! Operation kinds and per-operation request counters.

use std::collections::BTreeMap;
use std::fmt;

use axum::http::Method;

/// A kind of Key Vault secrets operation, as recognised from the request's method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// `PUT /secrets/{name}`
    SetSecret,
    /// `GET /secrets/{name}`, `GET /secrets/{name}/` or `GET /secrets/{name}/{version}`
    GetSecret,
    /// `PATCH /secrets/{name}/{version}` (or `/secrets/{name}/` or `/secrets/{name}` for the latest)
    UpdateSecret,
    /// `DELETE /secrets/{name}`
    DeleteSecret,
    /// `GET /secrets`
    ListSecrets,
    /// `GET /secrets/{name}/versions`
    ListSecretVersions,
    /// `GET /deletedsecrets/{name}`
    GetDeletedSecret,
    /// `GET /deletedsecrets`
    ListDeletedSecrets,
    /// `DELETE /deletedsecrets/{name}`
    PurgeDeletedSecret,
    /// `POST /deletedsecrets/{name}/recover`
    RecoverDeletedSecret,
    /// Any other method or path (answered 404 or 405).
    Other,
}

impl Operation {
    /// Every operation kind, in a fixed order.
    pub const ALL: [Operation; 11] = [
        Operation::SetSecret,
        Operation::GetSecret,
        Operation::UpdateSecret,
        Operation::DeleteSecret,
        Operation::ListSecrets,
        Operation::ListSecretVersions,
        Operation::GetDeletedSecret,
        Operation::ListDeletedSecrets,
        Operation::PurgeDeletedSecret,
        Operation::RecoverDeletedSecret,
        Operation::Other,
    ];

    /// The operation's name, as in the REST reference (`GetSecret`, `SetSecret`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::SetSecret => "SetSecret",
            Operation::GetSecret => "GetSecret",
            Operation::UpdateSecret => "UpdateSecret",
            Operation::DeleteSecret => "DeleteSecret",
            Operation::ListSecrets => "ListSecrets",
            Operation::ListSecretVersions => "ListSecretVersions",
            Operation::GetDeletedSecret => "GetDeletedSecret",
            Operation::ListDeletedSecrets => "ListDeletedSecrets",
            Operation::PurgeDeletedSecret => "PurgeDeletedSecret",
            Operation::RecoverDeletedSecret => "RecoverDeletedSecret",
            Operation::Other => "Other",
        }
    }

    /// Recognises the operation from a method and a (slash-normalised) path.
    pub(crate) fn classify(method: &Method, path: &str) -> Operation {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["secrets"] | ["secrets", ""]) => Operation::ListSecrets,
            ("PUT", ["secrets", _]) => Operation::SetSecret,
            ("GET", ["secrets", _, "versions"]) => Operation::ListSecretVersions,
            ("GET", ["secrets", _] | ["secrets", _, _]) => Operation::GetSecret,
            ("PATCH", ["secrets", _] | ["secrets", _, _]) => Operation::UpdateSecret,
            ("DELETE", ["secrets", _]) => Operation::DeleteSecret,
            ("GET", ["deletedsecrets"] | ["deletedsecrets", ""]) => Operation::ListDeletedSecrets,
            ("GET", ["deletedsecrets", _]) => Operation::GetDeletedSecret,
            ("DELETE", ["deletedsecrets", _]) => Operation::PurgeDeletedSecret,
            ("POST", ["deletedsecrets", _, "recover"]) => Operation::RecoverDeletedSecret,
            _ => Operation::Other,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of the emulator's request counters.
///
/// Each request carrying a bearer token counts once under its [`Operation`], whatever it was
/// then answered (success, Key Vault error, or an injected fault). Requests without a token are
/// not counted per operation: they are answered with the 401 challenge and counted in
/// [`Stats::challenges`]. With the Azure SDK, one client call therefore shows up as one
/// operation count (plus one challenge for the first call of a client).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    per_operation: BTreeMap<Operation, u64>,
    challenges: u64,
    faults: u64,
}

impl Stats {
    /// Authenticated requests of this operation kind.
    pub fn count(&self, operation: Operation) -> u64 {
        self.per_operation.get(&operation).copied().unwrap_or(0)
    }

    /// All authenticated requests.
    pub fn total(&self) -> u64 {
        self.per_operation.values().sum()
    }

    /// Requests without a bearer token, answered with the 401 challenge.
    pub fn challenges(&self) -> u64 {
        self.challenges
    }

    /// Requests answered by an injected fault instead of the store.
    pub fn faults_served(&self) -> u64 {
        self.faults
    }

    /// The non-zero per-operation counts, in [`Operation`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Operation, u64)> + '_ {
        self.per_operation.iter().map(|(op, n)| (*op, *n))
    }

    pub(crate) fn record(&mut self, operation: Operation) {
        *self.per_operation.entry(operation).or_insert(0) += 1;
    }

    pub(crate) fn record_challenge(&mut self) {
        self.challenges += 1;
    }

    pub(crate) fn record_fault(&mut self) {
        self.faults += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_sdk_paths() {
        let c = |m: Method, p: &str| Operation::classify(&m, p);
        assert_eq!(c(Method::PUT, "/secrets/a"), Operation::SetSecret);
        assert_eq!(c(Method::GET, "/secrets/a"), Operation::GetSecret);
        assert_eq!(c(Method::GET, "/secrets/a/"), Operation::GetSecret);
        assert_eq!(c(Method::GET, "/secrets/a/0123"), Operation::GetSecret);
        assert_eq!(
            c(Method::GET, "/secrets/a/versions"),
            Operation::ListSecretVersions
        );
        assert_eq!(c(Method::GET, "/secrets"), Operation::ListSecrets);
        assert_eq!(c(Method::PATCH, "/secrets/a/"), Operation::UpdateSecret);
        assert_eq!(c(Method::PATCH, "/secrets/a/v"), Operation::UpdateSecret);
        assert_eq!(c(Method::DELETE, "/secrets/a"), Operation::DeleteSecret);
        assert_eq!(
            c(Method::GET, "/deletedsecrets"),
            Operation::ListDeletedSecrets
        );
        assert_eq!(
            c(Method::GET, "/deletedsecrets/a"),
            Operation::GetDeletedSecret
        );
        assert_eq!(
            c(Method::DELETE, "/deletedsecrets/a"),
            Operation::PurgeDeletedSecret
        );
        assert_eq!(
            c(Method::POST, "/deletedsecrets/a/recover"),
            Operation::RecoverDeletedSecret
        );
        assert_eq!(c(Method::POST, "/secrets/a"), Operation::Other);
        assert_eq!(c(Method::GET, "/keys/a"), Operation::Other);
    }

    #[test]
    fn counts() {
        let mut stats = Stats::default();
        stats.record(Operation::GetSecret);
        stats.record(Operation::GetSecret);
        stats.record(Operation::SetSecret);
        stats.record_challenge();
        assert_eq!(stats.count(Operation::GetSecret), 2);
        assert_eq!(stats.count(Operation::ListSecrets), 0);
        assert_eq!(stats.total(), 3);
        assert_eq!(stats.challenges(), 1);
        assert_eq!(stats.iter().count(), 2);
    }
}
