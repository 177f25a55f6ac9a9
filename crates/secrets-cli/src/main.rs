//! `secrets`: read, check and decode secrets from the store the environment configures
//! (`SECRETS_PROVIDER` and the provider's own variables), through the same client a service
//! uses. Values are redacted unless `--reveal` is given.
//!
//! ```text
//! secrets check cgi-chat/database cgi-chat/smtp    # fail fast: every missing name at once
//! secrets get cgi-chat/database                     # metadata, value redacted
//! secrets get cgi-chat/database --reveal            # the value itself, on stdout
//! secrets database cgi-chat/database [--url]        # decoded DatabaseConfig; --url reveals
//! secrets providers                                  # which providers this build has
//! ```
//!
//! Exit codes: 0 success, 1 a secret failed (missing, denied, undecodable), 2 bad usage or
//! configuration.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrets::{DatabaseConfig, Error, ErrorKind, Secrets, VersionSelector};

#[derive(Parser, Debug)]
#[command(
    name = "secrets",
    version,
    about = "Read, check and decode secrets from any store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Reads one secret and prints its metadata; the value only with --reveal.
    Get {
        /// The secret's name, such as cgi-chat/database.
        name: String,
        /// A version id.
        #[arg(long, conflicts_with = "stage")]
        version: Option<String>,
        /// A stage or alias, such as AWSPREVIOUS.
        #[arg(long)]
        stage: Option<String>,
        /// Prints the value itself (only the value, on stdout).
        #[arg(long)]
        reveal: bool,
    },
    /// Checks that every name can be read; reports all failures at once.
    Check {
        /// The names to check.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Decodes a bundle into a database config and prints it, password redacted.
    Database {
        /// The secret's name.
        name: String,
        /// Prints the full connection URL, password included.
        #[arg(long)]
        url: bool,
    },
    /// Lists the providers compiled into this build.
    Providers,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("secrets: {err}");
            exit_code(&err)
        }
    }
}

fn exit_code(err: &Error) -> ExitCode {
    match err.kind() {
        ErrorKind::InvalidConfig | ErrorKind::Unsupported => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

fn compiled_providers() -> Vec<&'static str> {
    let mut out = vec!["env"];
    if cfg!(feature = "aws") {
        out.push("aws");
    }
    if cfg!(feature = "gcp") {
        out.push("gcp");
    }
    if cfg!(feature = "azure") {
        out.push("azure");
    }
    if cfg!(feature = "vault") {
        out.push("vault");
    }
    if cfg!(feature = "local") {
        out.extend(["dotenv", "folder", "keyring", "encrypted", "chain"]);
    }
    out
}

async fn run(command: Command) -> Result<ExitCode, Error> {
    if let Command::Providers = command {
        println!("{}", compiled_providers().join("\n"));
        return Ok(ExitCode::SUCCESS);
    }
    // The CLI reads each secret once: no cache.
    let secrets = Secrets::builder().without_cache().build().await?;
    let provider = secrets.provider().provider_name();
    let code = match command {
        Command::Get {
            name,
            version,
            stage,
            reveal,
        } => {
            let selector = match (version, stage) {
                (Some(id), _) => VersionSelector::id(id),
                (None, Some(stage)) => VersionSelector::stage(stage),
                (None, None) => VersionSelector::Latest,
            };
            let secret = secrets.get_version(&name, &selector).await?;
            if reveal {
                match secret.value().expose_text() {
                    Ok(text) => println!("{text}"),
                    Err(_) => {
                        use std::io::Write;
                        let mut out = std::io::stdout().lock();
                        out.write_all(secret.value().expose_bytes())
                            .and_then(|()| out.flush())
                            .map_err(|e| {
                                Error::new(ErrorKind::Other, "cli")
                                    .with_message("cannot write to stdout")
                                    .with_source(e)
                            })?;
                    }
                }
            } else {
                let summary = serde_json::json!({
                    "name": secret.name(),
                    "provider": provider,
                    "version": secret.version_id(),
                    "stages": secret.stages(),
                    "content_type": secret.content_type(),
                    "binary": secret.value().is_binary(),
                    "bytes": secret.value().len(),
                    "value": secrets::REDACTED,
                });
                println!("{summary:#}");
            }
            ExitCode::SUCCESS
        }
        Command::Check { names } => {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let results = secrets.get_many(&refs).await;
            let mut failed = 0;
            for (name, result) in names.iter().zip(results) {
                match result {
                    Ok(secret) => println!(
                        "ok      {name} (version {})",
                        secret.version_id().unwrap_or("-")
                    ),
                    Err(err) => {
                        failed += 1;
                        println!("FAILED  {name}: {} ({err})", err.kind());
                    }
                }
            }
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "secrets: {failed} of {} secrets cannot be read",
                    names.len()
                );
                ExitCode::from(1)
            }
        }
        Command::Database { name, url } => {
            let db: DatabaseConfig = secrets.load(&name).await?;
            if url {
                println!("{}", db.url().expose_secret());
            } else {
                println!("{db:#?}");
                println!("url: {}", db.url());
            }
            ExitCode::SUCCESS
        }
        Command::Providers => ExitCode::SUCCESS,
    };
    secrets.shutdown().await?;
    Ok(code)
}
