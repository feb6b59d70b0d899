//! `[listeners.NAME]` as written, and its lowering into [`ListenerConfig`].
//!
//! A listener is written flat (`protocol` next to the settings of every
//! protocol); lowering checks that each key belongs to the protocol, collects
//! every mistake at once, and builds the per-protocol variant.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::de;
use crate::diagnostic::{join_index, join_key, Report};
use crate::model::listener::*;
use crate::model::route::*;

/// `[listeners.NAME]` as written, without `routes` (deserialized one by one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerSpec {
    #[serde(deserialize_with = "de::bind")]
    bind: SocketAddr,
    #[serde(default)]
    protocol: ListenerProtocol,
    #[serde(default)]
    tls: Option<TlsSpec>,
    #[serde(default)]
    accept_proxy_protocol: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    header_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    idle_timeout: Option<Duration>,
    #[serde(default)]
    max_connections: Option<usize>,
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default)]
    send_proxy_protocol: Option<ProxyProtocolVersion>,
    #[serde(default, deserialize_with = "de::opt_duration")]
    session_timeout: Option<Duration>,
    #[serde(default)]
    max_flows: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSpec {
    #[serde(default)]
    cert: Option<PathBuf>,
    #[serde(default)]
    key: Option<PathBuf>,
    #[serde(default)]
    certificates: Vec<SniSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SniSpec {
    #[serde(deserialize_with = "de::string_list")]
    server_names: Vec<String>,
    cert: PathBuf,
    key: PathBuf,
}

/// The routes of a listener as found by the loader.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// Whether the `routes` key was present with at least one entry.
    pub(crate) present: bool,
    /// The routes that lowered, in order (`None` for one that failed).
    pub(crate) parsed: Vec<Option<RouteConfig>>,
}

// === impl ListenerSpec ===

impl ListenerSpec {
    /// Builds the typed listener at `path`, reporting every key that does not
    /// belong to its protocol. `None` when something required is missing.
    pub(crate) fn lower(
        self,
        path: &str,
        routes: Routes,
        base: &Path,
        report: &mut Report,
    ) -> Option<ListenerConfig> {
        let protocol = self.protocol;
        let mut only = |present: bool, key: &str, allowed: &str| {
            if present {
                report.error(
                    join_key(path, key),
                    format!("not allowed for protocol = \"{protocol}\" (only for {allowed})"),
                );
            }
        };
        let http_only = "protocol = \"http\"";
        let l4_only = "protocol = \"tcp\" or \"udp\"";
        let tcp_only = "protocol = \"tcp\"";
        let udp_only = "protocol = \"udp\"";
        let routes_present = routes.present;
        match protocol {
            ListenerProtocol::Http => {
                only(self.upstream.is_some(), "upstream", l4_only);
                only(
                    self.send_proxy_protocol.is_some(),
                    "send_proxy_protocol",
                    tcp_only,
                );
                only(self.session_timeout.is_some(), "session_timeout", udp_only);
                only(self.max_flows.is_some(), "max_flows", udp_only);
            }
            ListenerProtocol::Tcp => {
                only(self.tls.is_some(), "tls", http_only);
                only(self.header_timeout.is_some(), "header_timeout", http_only);
                only(routes_present, "routes", http_only);
                only(self.session_timeout.is_some(), "session_timeout", udp_only);
                only(self.max_flows.is_some(), "max_flows", udp_only);
            }
            ListenerProtocol::Udp => {
                only(self.tls.is_some(), "tls", http_only);
                only(self.header_timeout.is_some(), "header_timeout", http_only);
                only(routes_present, "routes", http_only);
                let http_tcp = "protocol = \"http\" or \"tcp\"";
                only(
                    self.accept_proxy_protocol.is_some(),
                    "accept_proxy_protocol",
                    http_tcp,
                );
                only(self.idle_timeout.is_some(), "idle_timeout", http_tcp);
                only(self.max_connections.is_some(), "max_connections", http_tcp);
                only(
                    self.send_proxy_protocol.is_some(),
                    "send_proxy_protocol",
                    tcp_only,
                );
            }
        }
        let kind = match protocol {
            ListenerProtocol::Http => {
                if !routes.present {
                    report.error(
                        join_key(path, "routes"),
                        "an http listener needs at least one route ([[listeners.NAME.routes]])",
                    );
                }
                let tls = self
                    .tls
                    .and_then(|t| t.lower(&join_key(path, "tls"), base, report));
                ListenerKind::Http(HttpListenerConfig {
                    tls,
                    accept_proxy_protocol: self.accept_proxy_protocol.unwrap_or(false),
                    header_timeout: self.header_timeout.unwrap_or(DEFAULT_HEADER_TIMEOUT),
                    idle_timeout: self.idle_timeout.unwrap_or(DEFAULT_HTTP_IDLE_TIMEOUT),
                    max_connections: self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
                    routes: routes.parsed.into_iter().flatten().collect(),
                })
            }
            ListenerProtocol::Tcp => ListenerKind::Tcp(TcpListenerConfig {
                upstream: required_upstream(self.upstream, path, protocol, report)?,
                accept_proxy_protocol: self.accept_proxy_protocol.unwrap_or(false),
                send_proxy_protocol: self.send_proxy_protocol,
                idle_timeout: self.idle_timeout.unwrap_or(DEFAULT_TCP_IDLE_TIMEOUT),
                max_connections: self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
            }),
            ListenerProtocol::Udp => ListenerKind::Udp(UdpListenerConfig {
                upstream: required_upstream(self.upstream, path, protocol, report)?,
                session_timeout: self.session_timeout.unwrap_or(DEFAULT_UDP_SESSION_TIMEOUT),
                max_flows: self.max_flows.unwrap_or(DEFAULT_MAX_FLOWS),
            }),
        };
        Some(ListenerConfig {
            bind: self.bind,
            kind,
        })
    }
}

fn required_upstream(
    upstream: Option<String>,
    path: &str,
    protocol: ListenerProtocol,
    report: &mut Report,
) -> Option<String> {
    if upstream.is_none() {
        report.error(
            join_key(path, "upstream"),
            format!(
                "required for protocol = \"{protocol}\" (the upstream every connection goes to)"
            ),
        );
    }
    upstream
}

// === impl TlsSpec ===

impl TlsSpec {
    fn lower(self, path: &str, base: &Path, report: &mut Report) -> Option<ListenerTls> {
        let default = match (self.cert, self.key) {
            (Some(cert), Some(key)) => Some(CertKey {
                cert: resolve(base, cert),
                key: resolve(base, key),
            }),
            (Some(_), None) => {
                report.error(join_key(path, "key"), "missing: `cert` needs `key`");
                None
            }
            (None, Some(_)) => {
                report.error(join_key(path, "cert"), "missing: `key` needs `cert`");
                None
            }
            (None, None) => None,
        };
        if default.is_none() && self.certificates.is_empty() {
            report.error(
                path,
                "no certificate (expected cert and key, or certificates = [{ server_names, cert, key }])",
            );
            return None;
        }
        let mut certificates = Vec::new();
        for (i, sni) in self.certificates.into_iter().enumerate() {
            let at = join_index(&join_key(path, "certificates"), i);
            if sni.server_names.is_empty() {
                report.error(
                    join_key(&at, "server_names"),
                    "empty (expected at least one name)",
                );
            }
            let mut names = Vec::new();
            for (j, name) in sni.server_names.iter().enumerate() {
                match HostPattern::parse(name) {
                    Ok(p) => names.push(p.to_string()),
                    Err(e) => report.error(join_index(&join_key(&at, "server_names"), j), e),
                }
            }
            certificates.push(SniCertificate {
                server_names: names,
                files: CertKey {
                    cert: resolve(base, sni.cert),
                    key: resolve(base, sni.key),
                },
            });
        }
        Some(ListenerTls {
            default,
            certificates,
        })
    }
}

/// `path` relative to the config file's directory, unless absolute.
pub(crate) fn resolve(base: &Path, path: PathBuf) -> PathBuf {
    if path.is_absolute() || base.as_os_str().is_empty() {
        path
    } else {
        base.join(path)
    }
}
