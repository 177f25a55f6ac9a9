#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod api;
mod error;
mod fault;
mod server;
mod stats;
mod store;
mod tls;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use error::Error;
pub use fault::Fault;
pub use stats::{Operation, Stats};

use api::{Shared, lock};

/// The tenant named in the 401 challenge unless configured otherwise.
pub const DEFAULT_TENANT: &str = "00000000-0000-0000-0000-000000000000";

/// How to start an emulator. Build it from [`EmulatorConfig::default`] and the `with_*` setters.
///
/// ```
/// use keyvault_emulator::EmulatorConfig;
///
/// let config = EmulatorConfig::default()
///     .with_page_size(2)
///     .with_ca_path(std::env::temp_dir().join("kv-emulator-doc-ca.pem"));
/// assert_eq!(config.bind.to_string(), "127.0.0.1:0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// Address to listen on. Default `127.0.0.1:0` (a free port, so tests can run in parallel).
    pub bind: SocketAddr,
    /// Where to write the CA certificate (PEM) for clients to trust; `None` writes no file.
    /// The file is written whole (via a temporary file and a rename) before
    /// [`Emulator::start`] returns.
    pub ca_path: Option<PathBuf>,
    /// Items per list page when the request has no `maxresults`. Default 25, the service's
    /// maximum; `maxresults` itself is accepted from 1 to 25, as by the service.
    pub page_size: usize,
    /// Tenant named in the challenge: `authorization="https://login.microsoftonline.com/<tenant>"`.
    pub tenant: String,
    /// Refuse GET of an expired or not-yet-valid version with 403 (inner code `SecretExpired` /
    /// `SecretNotYetValid`). Default `false`, as the real service, which does not enforce
    /// `exp` and `nbf` on get.
    pub enforce_validity_period: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            ca_path: None,
            page_size: 25,
            tenant: DEFAULT_TENANT.to_owned(),
            enforce_validity_period: false,
        }
    }
}

impl EmulatorConfig {
    /// Sets [`EmulatorConfig::bind`].
    pub fn with_bind(mut self, bind: SocketAddr) -> Self {
        self.bind = bind;
        self
    }

    /// Sets [`EmulatorConfig::ca_path`].
    pub fn with_ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_path = Some(path.into());
        self
    }

    /// Sets [`EmulatorConfig::page_size`].
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    /// Sets [`EmulatorConfig::tenant`].
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// Sets [`EmulatorConfig::enforce_validity_period`].
    pub fn with_enforce_validity_period(mut self, enforce: bool) -> Self {
        self.enforce_validity_period = enforce;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.page_size == 0 {
            return Err(Error::InvalidConfig("page_size must be at least 1".into()));
        }
        let tenant_ok = !self.tenant.is_empty()
            && self
                .tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !tenant_ok {
            return Err(Error::InvalidConfig(format!(
                "tenant {:?} must be non-empty ASCII letters, digits, '-', '.' or '_'",
                self.tenant
            )));
        }
        Ok(())
    }
}

/// Starts emulators. See [`Emulator::start`].
#[derive(Debug)]
pub struct Emulator {
    _private: (),
}

impl Emulator {
    /// Generates the certificates, writes the CA file if configured, binds, and serves in the
    /// background on the current tokio runtime (which needs its I/O and time drivers, as
    /// `#[tokio::test]` and `#[tokio::main]` give) until the returned handle is shut down or
    /// dropped.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`], [`Error::Certificate`], [`Error::Tls`], [`Error::WriteCa`] or
    /// [`Error::Bind`].
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, Error> {
        config.validate()?;
        let tls = tls::generate()?;
        if let Some(path) = &config.ca_path {
            write_ca(path, &tls.ca_pem).await?;
        }
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| Error::Bind {
                addr: config.bind,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.bind,
            source,
        })?;
        let url = base_url(local_addr);
        let shared = Arc::new(Shared {
            base_url: url.clone(),
            tenant: config.tenant,
            page_size: config.page_size,
            enforce_validity_period: config.enforce_validity_period,
            store: Mutex::default(),
            stats: Mutex::default(),
            faults: Mutex::default(),
        });
        let router = api::router(Arc::clone(&shared));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(server::serve(
            listener,
            TlsAcceptor::from(tls.server_config),
            Arc::clone(&shared),
            router,
            shutdown_rx,
        ));
        Ok(RunningEmulator {
            url,
            local_addr,
            ca_pem: tls.ca_pem,
            ca_path: config.ca_path,
            shared,
            shutdown,
            task: Some(task),
        })
    }
}

/// The URL clients use: the bound address, with an unspecified address replaced by loopback.
fn base_url(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => {
            let ip = if ip.is_unspecified() {
                Ipv4Addr::LOCALHOST
            } else {
                ip
            };
            format!("https://{ip}:{}", addr.port())
        }
        IpAddr::V6(ip) => {
            let ip = if ip.is_unspecified() {
                Ipv6Addr::LOCALHOST
            } else {
                ip
            };
            format!("https://[{ip}]:{}", addr.port())
        }
    }
}

async fn write_ca(path: &Path, pem: &str) -> Result<(), Error> {
    let fail = |source| Error::WriteCa {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await.map_err(fail)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    tokio::fs::write(&tmp, pem).await.map_err(fail)?;
    tokio::fs::rename(&tmp, path).await.map_err(fail)
}

/// A running emulator. Dropping it stops the server (in the background);
/// [`RunningEmulator::shutdown`] stops it and waits until the port is released.
#[derive(Debug)]
#[must_use = "dropping the handle stops the emulator"]
pub struct RunningEmulator {
    url: String,
    local_addr: SocketAddr,
    ca_pem: String,
    ca_path: Option<PathBuf>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// The vault URL, `https://127.0.0.1:PORT` (no trailing slash). Secret ids in responses
    /// start with it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The CA certificate (PEM) that signed the server certificate: the only root a client
    /// needs to trust. The server certificate is valid for `localhost`, `127.0.0.1` and `::1`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Where the CA certificate was written, if [`EmulatorConfig::ca_path`] was set.
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// The tenant named in the challenge.
    pub fn tenant(&self) -> &str {
        &self.shared.tenant
    }

    /// A snapshot of the request counters (see [`Stats`] for what is counted).
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Sets every counter back to zero.
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = Stats::default();
    }

    /// Queues a fault for the next matching authenticated request(s). See [`Fault`].
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Drops every fault not yet served.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// How many injected faults are still waiting to be served.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).len()
    }

    /// Seeds a secret directly (not counted in [`Stats`]), as `PUT /secrets/{name}` with only a
    /// value would; returns the new version id (32 hex digits).
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] for an invalid name (`BadParameter`) or a name in the deleted state
    /// (`Conflict`).
    pub fn set_secret(&self, name: &str, value: &str) -> Result<String, Error> {
        let params = store::SetParams {
            value: value.to_owned(),
            ..Default::default()
        };
        lock(&self.shared.store)
            .set(name, params, api::now())
            .map(|view| view.version.id)
            .map_err(error::ApiError::into_rejected)
    }

    /// Stops accepting connections, lets open ones finish (up to two seconds), and waits until
    /// the port is released.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_replaces_unspecified() {
        let v4: SocketAddr = "0.0.0.0:8443".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(base_url(v4), "https://127.0.0.1:8443");
        let v6: SocketAddr = "[::]:8443".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(base_url(v6), "https://[::1]:8443");
    }

    #[test]
    fn config_validation() {
        assert!(EmulatorConfig::default().validate().is_ok());
        assert!(
            EmulatorConfig::default()
                .with_page_size(0)
                .validate()
                .is_err()
        );
        assert!(
            EmulatorConfig::default()
                .with_tenant("bad\"tenant")
                .validate()
                .is_err()
        );
    }
}
