//! The typed configuration (SPEC §3), as the rest of lb uses it.

pub(crate) mod health;
pub(crate) mod listener;
pub(crate) mod route;
pub(crate) mod server;
pub(crate) mod upstream;

use std::collections::BTreeMap;

use listener::ListenerConfig;
use server::{AdminConfig, LogConfig, ServerConfig};
use upstream::UpstreamConfig;

/// A whole, validated configuration.
///
/// Built by [`load`](crate::load), [`load_with_env`](crate::load_with_env) or
/// [`from_str`](crate::from_str), which check everything
/// [`Config::validate`] checks and more (unknown keys, types).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// `[server]`. Default: see [`ServerConfig`].
    pub server: ServerConfig,
    /// `[admin]`. Default none: no admin listener.
    pub admin: Option<AdminConfig>,
    /// `[log]`. Default: see [`LogConfig`].
    pub log: LogConfig,
    /// `[listeners.NAME]`, by name. Default none.
    pub listeners: BTreeMap<String, ListenerConfig>,
    /// `[upstreams.NAME]`, by name. Default none.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
}

/// A configuration that loaded and validated, with its warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The file name as given (used in diagnostics).
    pub file: String,
    /// The configuration.
    pub config: Config,
    /// Things that are allowed but probably not meant (shadowed routes,
    /// unused upstreams, ...).
    pub warnings: Vec<crate::Diagnostic>,
}

// === impl Config ===

impl Config {
    /// The number of routes over all http listeners.
    pub fn route_count(&self) -> usize {
        self.listeners.values().map(|l| l.routes().len()).sum()
    }

    /// The number of servers over all upstreams.
    pub fn server_count(&self) -> usize {
        self.upstreams.values().map(|u| u.servers.len()).sum()
    }

    /// One line: `2 listeners, 3 upstreams, 5 servers, 4 routes`.
    pub fn summary(&self) -> String {
        format!(
            "{}, {}, {}, {}",
            plural(self.listeners.len(), "listener"),
            plural(self.upstreams.len(), "upstream"),
            plural(self.server_count(), "server"),
            plural(self.route_count(), "route"),
        )
    }
}

// === impl Loaded ===

impl Loaded {
    /// What `lb-server check` prints on success:
    /// `lb.toml: ok: 2 listeners, 3 upstreams, 5 servers, 4 routes`, plus
    /// `, 1 warning` when there are warnings.
    pub fn summary(&self) -> String {
        let mut line = format!("{}: ok: {}", self.file, self.config.summary());
        if !self.warnings.is_empty() {
            line.push_str(", ");
            line.push_str(&plural(self.warnings.len(), "warning"));
        }
        line
    }
}

/// `1 route`, `2 routes`.
pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
