//! `GET /status`: the JSON view of listeners, upstreams and servers (SPEC §5).
//!
//! ```json
//! { "ready": true,
//!   "listeners": { "web": { "bind": "127.0.0.1:8080", "protocol": "http",
//!                           "connections_active": 1, "connections_total": 9, "requests": 40 } },
//!   "upstreams": { "api": { "algorithm": "round_robin", "servers": [
//!       { "addr": "127.0.0.1:9001", "weight": 1, "backup": false, "state": "healthy",
//!         "active": 0, "requests": 20, "failures": 0,
//!         "checks_ok": 0, "checks_failed": 0, "ejections": 0 } ] } } }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;

use crate::state::{Shared, UpstreamInfo};

/// The whole answer.
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    /// As `GET /ready`.
    pub(crate) ready: bool,
    /// By name.
    pub(crate) listeners: BTreeMap<String, ListenerStatus>,
    /// By name.
    pub(crate) upstreams: BTreeMap<String, UpstreamStatus>,
}

/// One listener.
#[derive(Debug, Serialize)]
pub(crate) struct ListenerStatus {
    pub(crate) bind: SocketAddr,
    pub(crate) protocol: &'static str,
    pub(crate) connections_active: i64,
    pub(crate) connections_total: u64,
    /// HTTP requests answered (0 for tcp/udp).
    pub(crate) requests: u64,
}

/// One upstream.
#[derive(Debug, Serialize)]
pub(crate) struct UpstreamStatus {
    pub(crate) algorithm: &'static str,
    /// In configuration order.
    pub(crate) servers: Vec<ServerStatus>,
}

/// One server, read from its `EndpointState`.
#[derive(Debug, Serialize)]
pub(crate) struct ServerStatus {
    /// As in the configuration (`host:port`).
    pub(crate) addr: String,
    pub(crate) weight: u32,
    pub(crate) backup: bool,
    /// healthy | unhealthy | ejected | draining
    pub(crate) state: &'static str,
    /// Requests (L7) or connections (L4) in flight.
    pub(crate) active: u32,
    /// Requests or connections sent to it.
    pub(crate) requests: u64,
    /// Of those, the failed ones.
    pub(crate) failures: u64,
    pub(crate) checks_ok: u64,
    pub(crate) checks_failed: u64,
    pub(crate) ejections: u64,
}

/// Read the current state.
pub(crate) fn build(shared: &Shared) -> Status {
    let runtime = shared.runtime.load();
    let listeners = runtime
        .listeners
        .iter()
        .map(|l| {
            let counts = shared.metrics.listener_counts(&l.name);
            let status = ListenerStatus {
                bind: l.bind,
                protocol: l.protocol,
                connections_active: counts.connections_active,
                connections_total: counts.connections_total,
                requests: counts.requests,
            };
            (l.name.to_string(), status)
        })
        .collect();
    let upstreams = runtime
        .upstreams
        .iter()
        .map(|(name, u)| (name.clone(), upstream(u)))
        .collect();
    Status {
        ready: shared.ready.load(Relaxed),
        listeners,
        upstreams,
    }
}

/// One upstream's servers.
pub(crate) fn upstream(u: &UpstreamInfo) -> UpstreamStatus {
    let snapshot = u.balancer.snapshot();
    let servers = snapshot
        .endpoints()
        .iter()
        .map(|e| server(e.id(), e.weight(), e.is_backup(), e.state()))
        .collect();
    UpstreamStatus {
        algorithm: u.algorithm,
        servers,
    }
}

/// One server's status.
pub(crate) fn server(
    id: &str,
    weight: u32,
    backup: bool,
    state: &lb_balance::EndpointState,
) -> ServerStatus {
    let stats = &state.stats;
    ServerStatus {
        addr: id.to_owned(),
        weight,
        backup,
        state: state.health().as_str(),
        active: state.in_flight(),
        requests: stats.requests.load(Relaxed),
        failures: stats.failures.load(Relaxed),
        checks_ok: stats.checks_ok.load(Relaxed),
        checks_failed: stats.checks_failed.load(Relaxed),
        ejections: stats.ejections.load(Relaxed),
    }
}
