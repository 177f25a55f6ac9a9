//! `keyvault-emulator`: runs the Key Vault secrets emulator as a process.
//!
//! Prints `READY https://127.0.0.1:PORT` on standard output once the CA file is written and
//! the port is open, then serves until SIGINT or SIGTERM.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use keyvault_emulator::{Emulator, EmulatorConfig};

const USAGE: &str = "\
usage: keyvault-emulator [--bind ADDR] [--ca-out PATH] [--tenant TENANT] [--page-size N]
                         [--enforce-validity-period]

  --bind ADDR                 listen address (default 127.0.0.1:0, a free port)
  --ca-out PATH               write the CA certificate (PEM) there
  --tenant TENANT             tenant named in the 401 challenge
  --page-size N               list page size without maxresults (default 25)
  --enforce-validity-period   answer 403 on GET of expired / not-yet-valid secrets
";

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<EmulatorConfig>, String> {
    let mut config = EmulatorConfig::default();
    let mut args = args;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bind" => {
                let raw = value("--bind")?;
                let addr: SocketAddr = raw.parse().map_err(|e| format!("--bind {raw:?}: {e}"))?;
                config = config.with_bind(addr);
            }
            "--ca-out" => config = config.with_ca_path(PathBuf::from(value("--ca-out")?)),
            "--tenant" => config = config.with_tenant(value("--tenant")?),
            "--page-size" => {
                let raw = value("--page-size")?;
                let n: usize = raw
                    .parse()
                    .map_err(|e| format!("--page-size {raw:?}: {e}"))?;
                config = config.with_page_size(n);
            }
            "--enforce-validity-period" => config = config.with_enforce_validity_period(true),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(config))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("keyvault-emulator: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let emulator = match Emulator::start(config).await {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("keyvault-emulator: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = emulator.ca_path() {
        eprintln!(
            "keyvault-emulator: CA certificate written to {}",
            path.display()
        );
    }
    eprintln!(
        "keyvault-emulator: serving {} (tenant {})",
        emulator.url(),
        emulator.tenant()
    );
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "READY {}", emulator.url());
    let _ = stdout.flush();
    drop(stdout);

    wait_for_signal().await;
    eprintln!("keyvault-emulator: shutting down");
    emulator.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(args: &[&str]) -> Result<Option<EmulatorConfig>, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_flags() {
        let config = parse(&[
            "--bind",
            "127.0.0.1:8443",
            "--ca-out=/tmp/ca.pem",
            "--page-size",
            "3",
            "--enforce-validity-period",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.bind.port(), 8443);
        assert_eq!(config.ca_path, Some(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(config.page_size, 3);
        assert!(config.enforce_validity_period);
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--bind"]).is_err());
        assert!(parse(&["--bind", "nope"]).is_err());
        assert!(parse(&["--what"]).is_err());
    }
}
