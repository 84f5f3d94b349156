//! The connection to NATS: servers, credentials and TLS, passed through to
//! `async-nats`. Secrets are read, handed to the client and never printed:
//! `Debug` and [`ConnectConfig::describe`] show the servers without any
//! user or password in their URLs and say only which kind of credential is
//! in use.

use crate::error::{Error, Result};
use async_nats::{Client, ConnectErrorKind, ConnectOptions, Event, ServerAddr};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach and authenticate to the NATS servers.
#[derive(Clone, Default)]
pub struct ConnectConfig {
    /// Server URLs (`nats://host:port`, `tls://host:port`); the client
    /// fails over between them and learns the rest of a cluster.
    pub servers: Vec<String>,
    /// User name, with `password`.
    pub user: Option<String>,
    /// Password, with `user`.
    pub password: Option<String>,
    /// An authentication token.
    pub token: Option<String>,
    /// A file holding an NKey seed (`SU...`).
    pub nkey_file: Option<PathBuf>,
    /// A credentials file (a user JWT and its NKey seed).
    pub creds_file: Option<PathBuf>,
    /// PEM file of the certificate authorities that sign the server's
    /// certificate; setting it requires TLS.
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate, with `tls_key`, for servers that verify
    /// clients; setting it requires TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Refuse a connection without TLS.
    pub tls_required: bool,
    /// Client name shown by the server's monitoring.
    pub name: String,
}

impl fmt::Debug for ConnectConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// `url` without a user or password in it.
fn redact(url: &str) -> String {
    match url.parse::<ServerAddr>() {
        Ok(a) => {
            let scheme = if a.tls_required() {
                "tls"
            } else if a.is_websocket() {
                "ws"
            } else {
                "nats"
            };
            format!("{scheme}://{}:{}", a.host(), a.port())
        }
        // Not a URL the client takes: show no part that could hold a secret.
        Err(_) => "<unparsable server address>".into(),
    }
}

impl ConnectConfig {
    /// The servers (without credentials) and the kind of authentication
    /// and TLS in use: safe to print.
    pub fn describe(&self) -> String {
        let servers: Vec<String> = self.servers.iter().map(|s| redact(s)).collect();
        let in_url = self
            .servers
            .iter()
            .filter_map(|s| s.parse::<ServerAddr>().ok())
            .any(|a| a.has_user_pass());
        let auth = if self.creds_file.is_some() {
            "credentials file"
        } else if self.nkey_file.is_some() {
            "nkey"
        } else if self.user.is_some() || in_url {
            "user and password"
        } else if self.token.is_some() {
            "token"
        } else {
            "no authentication"
        };
        let tls = if self.tls_wanted() { ", TLS" } else { "" };
        format!("{} ({auth}{tls})", servers.join(","))
    }

    fn tls_wanted(&self) -> bool {
        self.tls_required || self.tls_ca.is_some() || self.tls_cert.is_some()
    }

    /// The client options: credentials, TLS, unlimited reconnects (a
    /// server restart is waited out), and connection events reported on
    /// stderr under `who`.
    async fn options(&self, who: &'static str) -> Result<ConnectOptions> {
        let mut o = ConnectOptions::new()
            .name(&self.name)
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| async move {
                // Connection events carry no secret (servers by address only).
                // Client errors are the failed attempts of a reconnection
                // already reported as a disconnection.
                match event {
                    Event::Connected
                    | Event::Disconnected
                    | Event::LameDuckMode
                    | Event::ServerError(_)
                    | Event::SlowConsumer(_) => eprintln!("{who}: {event}"),
                    Event::ClientError(_) | Event::Draining | Event::Closed => {}
                }
            });
        if let Some(path) = &self.creds_file {
            o = o
                .credentials_file(path)
                .await
                .map_err(|e| Error::Connect(format!("credentials file {}: {e}", path.display())))?;
        }
        if let Some(path) = &self.nkey_file {
            let seed = std::fs::read_to_string(path)
                .map_err(|e| Error::Connect(format!("nkey file {}: {e}", path.display())))?;
            o = o.nkey(seed.trim().to_string());
        }
        match (&self.user, &self.password) {
            (Some(u), Some(p)) => o = o.user_and_password(u.clone(), p.clone()),
            (Some(_), None) => {
                return Err(Error::Connect(
                    "a user needs a password (--password or NATS_PASSWORD)".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::Connect("a password needs a user (--user)".into()))
            }
            (None, None) => {}
        }
        if let Some(t) = &self.token {
            o = o.token(t.clone());
        }
        if let Some(ca) = &self.tls_ca {
            o = o.add_root_certificates(ca.clone());
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => o = o.add_client_certificate(c.clone(), k.clone()),
            (None, None) => {}
            _ => {
                return Err(Error::Connect(
                    "a client certificate needs its key, and a key its certificate".into(),
                ))
            }
        }
        if self.tls_wanted() {
            o = o.require_tls(true);
        }
        Ok(o)
    }

    /// Connects, retrying while no server answers (it may be starting);
    /// refused credentials, a TLS failure or a bad address end it at once.
    pub async fn connect(&self, who: &'static str) -> Result<Client> {
        let servers: Vec<ServerAddr> = self
            .servers
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|_| Error::Connect(format!("bad server address {}", redact(s))))
            })
            .collect::<Result<_>>()?;
        if servers.is_empty() {
            return Err(Error::Connect("no server given".into()));
        }
        let mut pause = Duration::from_millis(50);
        loop {
            match self.options(who).await?.connect(servers.clone()).await {
                Ok(c) => return Ok(c),
                Err(e) if passing(&e) => {
                    eprintln!("{who}: no server answers yet ({e}), retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(Error::Connect(format!("{}: {e}", self.describe()))),
            }
        }
    }
}

/// Whether a failed connection may succeed later (no server listening
/// yet, a timeout, a name not resolved yet) rather than never (refused
/// credentials, a certificate not trusted: TLS failures come as I/O errors
/// of kind `InvalidData`).
fn passing(e: &async_nats::ConnectError) -> bool {
    match e.kind() {
        ConnectErrorKind::TimedOut | ConnectErrorKind::Dns => true,
        ConnectErrorKind::Io => {
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                if let Some(io) = s.downcast_ref::<std::io::Error>() {
                    return io.kind() != std::io::ErrorKind::InvalidData;
                }
                source = s.source();
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_secret_is_described() {
        let c = ConnectConfig {
            servers: vec![
                "nats://alice:s3cret@127.0.0.1:4222".into(),
                "tls://example.com:4443".into(),
            ],
            token: Some("t0ken".into()),
            password: Some("hunter2".into()),
            user: Some("bob".into()),
            tls_ca: Some("/ca.pem".into()),
            ..Default::default()
        };
        let d = format!("{} {c:?}", c.describe());
        for secret in ["s3cret", "hunter2", "t0ken", "alice", "bob"] {
            assert!(!d.contains(secret), "{secret} printed: {d}");
        }
        assert!(d.contains("nats://127.0.0.1:4222"), "{d}");
        assert!(d.contains("tls://example.com:4443"), "{d}");
        assert!(d.contains("user and password") && d.contains("TLS"), "{d}");
    }
}
