//! The process-wide sections: `[server]`, `[admin]` and `[log]`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use crate::de::{self, string_enum};

/// `[server]`: the process.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Runtime worker threads; `0` (the default) = one per core.
    pub workers: usize,
    /// On SIGTERM/SIGINT: stop accepting, then let in-flight work finish up to
    /// this long. Default `30s`.
    #[serde(deserialize_with = "de::duration")]
    pub shutdown_timeout: Duration,
}

/// `[admin]`: the admin API listener. Absent = no admin listener.
///
/// `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where the admin API listens (`ip:port`). Default `127.0.0.1:9901`.
    #[serde(deserialize_with = "de::bind")]
    pub bind: SocketAddr,
    /// Bearer token required on `POST` endpoints. Default none; required when
    /// `bind` is not a loopback address.
    pub token: Option<String>,
}

/// `[log]`: logging.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A level (`trace`, `debug`, `info`, `warn`, `error`, `off`) or a
    /// tracing `EnvFilter` string such as `"info,lb_l7=debug"`. Default `info`.
    pub level: String,
    /// Line format. Default `text`.
    pub format: LogFormat,
    /// One line per request and per TCP connection. Default `true`.
    pub access_log: bool,
}

string_enum! {
    /// How log lines are written.
    #[derive(Default)]
    pub enum LogFormat {
        /// Human-readable `key=value` lines.
        #[default]
        Text => "text",
        /// One JSON object per line.
        Json => "json",
    }
}

// === impl ServerConfig ===

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

// === impl AdminConfig ===

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 9901)),
            token: None,
        }
    }
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

// === impl LogConfig ===

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::default(),
            access_log: true,
        }
    }
}
