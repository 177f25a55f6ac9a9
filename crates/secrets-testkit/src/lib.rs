//! Test support for the secrets workspace (not published).
//!
//! - [`server`]: find a local test server or fail loudly with how to start it.
//! - [`canary`]: plant a unique value and prove it never escapes into text or logs.
//! - [`conformance`]: the suite every provider runs.
//! - [`counting`]: a wrapper counting the calls that reach a real provider.
//! - [`scripted`]: a provider that counts calls and injects errors and latency.
//! - [`unique_name`]: names that let tests run in parallel against one server.

#![allow(clippy::print_stderr)]

pub mod canary;
pub mod conformance;
pub mod counting;
pub mod scripted;
pub mod server;

/// A name no other test uses: `prefix/` followed by a random suffix.
pub fn unique_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}/{}", &id[..12])
}
