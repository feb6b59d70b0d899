//! The configuration turned into each library's own option structs.
//!
//! This is the only module that reads `lb_config` types (linkerd style: the
//! libraries never see the configuration schema). Everything fallible that
//! does not bind a socket happens here — TLS files are read, route tables
//! compiled — so that a reload can fail before it changes anything.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lb_balance::Algorithm;
use lb_health::active::ActiveConfig;
use lb_health::passive::PassiveConfig;

use crate::dns::ServerSpec;

pub(crate) mod listener;
mod upstream;

/// A configuration that cannot be wired, one line per problem.
#[derive(Debug)]
pub(crate) struct PlanError {
    /// `key.path: what is wrong`.
    pub(crate) lines: Vec<String>,
}

/// Turn a validated configuration into a [`Plan`] and the admin settings.
///
/// # Errors
/// Problems lb-config cannot see: unreadable TLS files, header names the
/// HTTP crate refuses.
pub(crate) fn from_config(
    config: lb_config::Config,
) -> Result<(Plan, Option<crate::server::AdminPlan>), PlanError> {
    let config = Arc::new(config);
    let mut lines = Vec::new();
    let mut upstreams = BTreeMap::new();
    for (name, u) in &config.upstreams {
        match upstream::plan(name, u) {
            Ok(p) => {
                upstreams.insert(name.clone(), p);
            }
            Err(e) => lines.push(format!("upstreams.{name}.{e}")),
        }
    }
    let mut listeners = BTreeMap::new();
    for (name, l) in &config.listeners {
        match listener::plan(name, l, &config) {
            Ok(p) => {
                listeners.insert(name.clone(), p);
            }
            Err(e) => lines.push(format!("listeners.{name}.{e}")),
        }
    }
    if !lines.is_empty() {
        return Err(PlanError { lines });
    }
    let admin = config.admin.as_ref().map(|a| crate::server::AdminPlan {
        bind: a.bind,
        token: a.token.clone().filter(|t| !t.is_empty()),
    });
    let plan = Plan {
        shutdown_timeout: config.server.shutdown_timeout,
        config,
        upstreams,
        listeners,
    };
    Ok((plan, admin))
}

/// Default time allowed for a PROXY protocol header.
pub(crate) const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The whole configuration, ready to wire.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The configuration it came from.
    pub(crate) config: Arc<lb_config::Config>,
    /// `server.shutdown_timeout`.
    pub(crate) shutdown_timeout: Duration,
    /// Upstreams by name.
    pub(crate) upstreams: BTreeMap<String, UpstreamPlan>,
    /// Listeners by name.
    pub(crate) listeners: BTreeMap<String, ListenerPlan>,
}

/// One upstream.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamPlan {
    /// Its name.
    pub(crate) name: Arc<str>,
    /// The balancing algorithm.
    pub(crate) algorithm: Algorithm,
    /// The servers, before DNS resolution.
    pub(crate) servers: Vec<ServerSpec>,
    /// `dns_refresh`.
    pub(crate) dns_refresh: Duration,
    /// `max_connections_per_server` (0 = unlimited).
    pub(crate) max_per_server: u32,
    /// Options of the L7 upstream (pool, TLS, retries, hash key, sticky).
    pub(crate) l7: lb_l7::UpstreamOptions,
    /// Equal keys mean equal `l7` options (they hold TLS configs that do not
    /// compare): the pool is kept across a reload only if the key is equal.
    pub(crate) l7_key: String,
    /// Active checks (`[upstreams.X.health]`), if any.
    pub(crate) active: Option<ActiveConfig>,
    /// Passive outlier detection.
    pub(crate) passive: PassiveConfig,
}

/// One listener.
#[derive(Debug, Clone)]
pub(crate) struct ListenerPlan {
    /// Its name.
    pub(crate) name: Arc<str>,
    /// Where it binds.
    pub(crate) bind: SocketAddr,
    /// `max_connections` (0 = unlimited).
    pub(crate) max_connections: usize,
    /// `accept_proxy_protocol`: the time allowed for the header.
    pub(crate) proxy_protocol: Option<Duration>,
    /// Bind with `SO_REUSEPORT` (always, except in the demo).
    pub(crate) reuse_port: bool,
    /// Protocol-specific part.
    pub(crate) kind: ListenerKind,
}

/// The protocol-specific part of a listener.
#[derive(Debug, Clone)]
pub(crate) enum ListenerKind {
    /// `protocol = "http"`.
    Http(HttpPlan),
    /// `protocol = "tcp"`.
    Tcp(TcpPlan),
    /// `protocol = "udp"`.
    Udp(UdpPlan),
}

impl ListenerKind {
    /// The protocol name.
    pub(crate) fn protocol(&self) -> &'static str {
        match self {
            ListenerKind::Http(_) => "http",
            ListenerKind::Tcp(_) => "tcp",
            ListenerKind::Udp(_) => "udp",
        }
    }
}

/// An HTTP listener.
#[derive(Debug, Clone)]
pub(crate) struct HttpPlan {
    /// Timeouts, header limit, TLS.
    pub(crate) options: lb_l7::ListenerOptions,
    /// Equal keys mean equal `options` (TLS configs do not compare).
    pub(crate) options_key: String,
    /// The routes, in order.
    pub(crate) routes: Vec<lb_l7::route::RouteSpec>,
}

/// A TCP listener.
#[derive(Debug, Clone)]
pub(crate) struct TcpPlan {
    /// The upstream's name.
    pub(crate) upstream: String,
    /// Connect timeout, retries, idle timeout, PROXY protocol out.
    pub(crate) options: lb_l4::TcpOptions,
}

/// A UDP listener.
#[derive(Debug, Clone)]
pub(crate) struct UdpPlan {
    /// The upstream's name.
    pub(crate) upstream: String,
    /// Session timeout.
    pub(crate) options: lb_l4::UdpOptions,
}
