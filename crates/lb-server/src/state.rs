//! The running state shared by the listeners, the admin API and reload.
//!
//! Owned by the lb-server core (wire/reload). The admin API and metrics only
//! read it: `Shared::runtime` is an `ArcSwap` snapshot swapped whole on reload.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwap;
use lb_balance::Balancer;

use crate::metrics::Metrics;

/// Everything shared between the data plane and the admin API.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The current runtime; swapped atomically by reload.
    pub(crate) runtime: ArcSwap<Runtime>,
    /// `/ready`: true once every listener is bound, false again when shutdown begins.
    pub(crate) ready: AtomicBool,
    /// Metric families and per-request handles.
    pub(crate) metrics: Arc<Metrics>,
    /// Admin token for POST endpoints, if any.
    pub(crate) admin_token: Option<String>,
}

/// One consistent view of the running configuration.
#[derive(Debug)]
pub(crate) struct Runtime {
    /// The configuration it was built from.
    pub(crate) config: Arc<lb_config::Config>,
    /// Listeners, in name order.
    pub(crate) listeners: Vec<ListenerInfo>,
    /// Upstreams by name.
    pub(crate) upstreams: BTreeMap<String, UpstreamInfo>,
}

/// What the admin API shows of a listener.
#[derive(Debug, Clone)]
pub(crate) struct ListenerInfo {
    /// Config name.
    pub(crate) name: Arc<str>,
    /// Bound address.
    pub(crate) bind: SocketAddr,
    /// "http" | "tcp" | "udp".
    pub(crate) protocol: &'static str,
}

/// What the admin API shows of an upstream, and its live balancer.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamInfo {
    /// Algorithm name as configured.
    pub(crate) algorithm: &'static str,
    /// The live endpoint set (states, counters).
    pub(crate) balancer: Arc<Balancer<SocketAddr>>,
    /// The L7 side (pool, retries counter for `lb_retries_total`).
    // Read by the metrics collector once server-ops wires `lb_retries_total`.
    #[allow(dead_code)]
    pub(crate) l7: Arc<lb_l7::Upstream>,
}

/// A boxed future, for the control trait.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Actions the admin API asks of the core.
pub(crate) trait Control: Send + Sync + 'static {
    /// Reload the configuration file: Ok(summary) or Err(one line per error).
    fn reload(&self) -> BoxFuture<'_, Result<String, Vec<String>>>;
}
