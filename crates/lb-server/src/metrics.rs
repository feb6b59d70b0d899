//! Prometheus metrics (SPEC §5), registered once at start.
//!
//! - **per request** (`lb_requests_total`, `lb_request_duration_seconds`):
//!   prometheus-client families whose handles are resolved once per label
//!   combination and cached ([`HttpMetrics`]), so a request bumps atomics;
//! - **per listener** (`lb_connections_*`, `lb_bytes_total`): plain atomics
//!   per listener ([`listener`]), fed by the accept loops, the request
//!   observer and lb-l4's own live counters, read at scrape time;
//! - **per server** (`lb_server_up`, `lb_server_active`,
//!   `lb_health_checks_total`, `lb_ejections_total`, `lb_retries_total`): read
//!   at scrape time from each endpoint's `lb_balance::EndpointState` in the
//!   current runtime ([`server`]), so nothing on the request path maintains
//!   them and they follow reloads for free;
//! - `lb_config_reloads_total`, counted by [`Metrics::reload`].

mod histogram;
pub(crate) mod http;
pub(crate) mod listener;
mod server;
pub(crate) mod tcp;

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::state::Runtime;

pub(crate) use http::HttpMetrics;
pub(crate) use listener::{ListenerCounts, ListenerMetrics};
pub(crate) use tcp::TcpMetrics;

/// The `Content-Type` of `/metrics`.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// `lb_requests_total` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) listener: Arc<str>,
    /// The route's index in the listener's `routes` list, or "" if none matched.
    pub(crate) route: Arc<str>,
    /// "" when no upstream was chosen (no route matched).
    pub(crate) upstream: Arc<str>,
    /// "" when no server was reached (e.g. 503 no server available).
    pub(crate) server: Arc<str>,
    pub(crate) code: u16,
}

/// `{listener, upstream}` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ListenerUpstreamLabels {
    pub(crate) listener: Arc<str>,
    pub(crate) upstream: Arc<str>,
}

/// `lb_config_reloads_total` labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabels {
    pub(crate) result: &'static str,
}

/// Which way bytes went, as seen from the balancer's clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Received from clients (request bodies; TCP client → server): `direction="in"`.
    In,
    /// Sent to clients (response bodies; TCP server → client): `direction="out"`.
    Out,
}

impl Direction {
    /// The label value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// The request families, shared by every [`HttpMetrics`].
#[derive(Debug, Clone)]
pub(crate) struct Families {
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) duration: Family<ListenerUpstreamLabels, histogram::DurationHistogram>,
}

/// Metric families, per-listener counters and the registry that exports them.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    families: Families,
    reloads: Family<ResultLabels, Counter>,
    listeners: listener::Cells,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every family (once, at start).
    pub(crate) fn new() -> Self {
        let families = Families {
            requests: Family::default(),
            duration: Family::default(),
        };
        let reloads = Family::<ResultLabels, Counter>::default();
        let listeners = listener::Cells::default();
        let mut registry = Registry::default();
        registry.register(
            "lb_requests",
            "HTTP requests answered, by listener, route index, upstream, server and status code",
            families.requests.clone(),
        );
        registry.register(
            "lb_request_duration_seconds",
            "Time from the request head to the end of the response body",
            families.duration.clone(),
        );
        registry.register_collector(Box::new(listener::ListenersCollector(Arc::clone(
            &listeners,
        ))));
        registry.register(
            "lb_config_reloads",
            "Configuration reloads, by result (success, failure)",
            reloads.clone(),
        );
        // Both reload series exist from the start: 0 is meaningful.
        for result in ["success", "failure"] {
            let _ = reloads.get_or_create(&ResultLabels { result });
        }
        Self {
            registry,
            families,
            reloads,
            listeners,
        }
    }

    /// Handles of one listener's counters; resolve once when the listener
    /// starts, then use them per connection. Counters of a name go on across
    /// reloads.
    pub(crate) fn listener(&self, name: &str) -> ListenerMetrics {
        ListenerMetrics::new(listener::cell(&self.listeners, name))
    }

    /// The live counters lb-l4 keeps for a tcp or udp listener (pass them to
    /// `TcpProxy::with_stats` / `UdpProxy::with_stats`). The same object for
    /// the same name, so counters go on across reloads. From then on they are
    /// the source of that listener's `lb_connections_*` and `lb_bytes_total`.
    // Until server-core passes these to lb-l4 (`with_stats`), tcp/udp
    // listeners show the accept loop's connection counts and no bytes.
    #[allow(dead_code)]
    pub(crate) fn l4_stats(&self, listener: &str) -> Arc<lb_l4::ListenerStats> {
        listener::cell(&self.listeners, listener).1.l4_stats()
    }

    /// Count one configuration reload (`SIGHUP` or `POST /reload`).
    pub(crate) fn reload(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
    }

    /// Request metrics and access log of an `http` listener (an
    /// `lb_l7::Observer`).
    pub(crate) fn http_metrics(&self, listener: &str) -> HttpMetrics {
        HttpMetrics::new(&self.families, self.listener(listener))
    }

    /// Access log of a `tcp` or `udp` listener (an `lb_l4::ConnectionObserver`).
    pub(crate) fn tcp_metrics(&self, listener: &str) -> TcpMetrics {
        TcpMetrics::new(self.listener(listener))
    }

    /// Current counts of a listener (zeros if it never saw traffic).
    pub(crate) fn listener_counts(&self, name: &str) -> ListenerCounts {
        listener::cell(&self.listeners, name).1.counts()
    }

    /// The Prometheus text exposition of every metric, with the per-server
    /// series read now from `runtime`.
    pub(crate) fn encode(&self, runtime: &Arc<Runtime>) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail; an encoder error would only
        // truncate the answer, never panic.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        let mut servers = Registry::default();
        servers.register_collector(Box::new(server::ServerCollector::new(Arc::clone(runtime))));
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &servers);
        out
    }
}
