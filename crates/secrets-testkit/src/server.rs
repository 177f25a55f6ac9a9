//! Local test servers: where they are, and a loud failure when they are not there.

use std::net::ToSocketAddrs;
use std::time::Duration;

/// A test server the suite expects on loopback.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    /// A short name, as `scripts/servers.sh` knows it.
    pub name: &'static str,
    /// The environment variable holding its URL.
    pub env_var: &'static str,
    /// The URL used when the variable is not set.
    pub default_url: &'static str,
}

/// LocalStack (AWS Secrets Manager).
pub const LOCALSTACK: Server = Server {
    name: "localstack",
    env_var: "SECRETS_TEST_AWS_ENDPOINT",
    default_url: "http://127.0.0.1:4566",
};

/// drongo (Google Cloud Secret Manager).
pub const DRONGO: Server = Server {
    name: "drongo",
    env_var: "SECRETS_TEST_GCP_ENDPOINT",
    default_url: "http://127.0.0.1:8085",
};

/// OpenBao (Vault API).
pub const OPENBAO: Server = Server {
    name: "openbao",
    env_var: "SECRETS_TEST_VAULT_ADDR",
    default_url: "http://127.0.0.1:8200",
};

/// PostgreSQL.
pub const POSTGRES: Server = Server {
    name: "postgres",
    env_var: "SECRETS_TEST_PG_URL",
    default_url: "postgres://postgres:postgres@127.0.0.1:55432/postgres",
};

impl Server {
    /// The server's URL from the environment or the default.
    pub fn url(&self) -> String {
        std::env::var(self.env_var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| self.default_url.to_string())
    }

    /// The URL of a server that accepts TCP connections. Panics, saying how to start it,
    /// when it does not: a test that needs a server never passes without one.
    pub async fn require(&self) -> String {
        let url = self.url();
        let hostport = host_port(&url);
        let reachable = match hostport.to_socket_addrs() {
            Ok(mut addrs) => match addrs.next() {
                Some(addr) => matches!(
                    tokio::time::timeout(
                        Duration::from_secs(3),
                        tokio::net::TcpStream::connect(addr)
                    )
                    .await,
                    Ok(Ok(_))
                ),
                None => false,
            },
            Err(_) => false,
        };
        if !reachable {
            panic!(
                "\n\n{name} is not reachable at {url} ({var}).\n\
                 Start it with `./scripts/servers.sh start {name}` (then `eval \"$(./scripts/servers.sh env)\"`),\n\
                 or run the whole suite with `./scripts/test.sh`, which starts every server it needs.\n",
                name = self.name,
                var = self.env_var,
            );
        }
        url
    }
}

/// `host:port` of a URL such as `http://127.0.0.1:4566/x` or `postgres://u:p@h:5432/db`.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    if rest.contains(':') {
        rest.to_string()
    } else if url.starts_with("https") {
        format!("{rest}:443")
    } else {
        format!("{rest}:80")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(host_port("http://127.0.0.1:4566"), "127.0.0.1:4566");
        assert_eq!(host_port("postgres://u:p@h:5432/db"), "h:5432");
        assert_eq!(host_port("https://vault.example"), "vault.example:443");
    }

    #[tokio::test]
    #[should_panic(expected = "scripts/servers.sh start nothing")]
    async fn unreachable_server_fails_loudly() {
        let s = Server {
            name: "nothing",
            env_var: "SECRETS_TEST_NOTHING_URL_UNSET",
            default_url: "http://127.0.0.1:9",
        };
        s.require().await;
    }
}
