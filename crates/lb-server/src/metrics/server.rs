//! Per-server series, read at scrape time from each endpoint's
//! `EndpointState` (health flags, in-flight count, check and ejection
//! counters) of the runtime current at the scrape.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::state::Runtime;

/// Encodes `lb_server_up`, `lb_server_active`, `lb_health_checks_total`,
/// `lb_ejections_total` and `lb_retries_total` for one runtime snapshot.
pub(super) struct ServerCollector {
    runtime: Arc<Runtime>,
}

impl fmt::Debug for ServerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCollector").finish_non_exhaustive()
    }
}

impl ServerCollector {
    pub(super) fn new(runtime: Arc<Runtime>) -> Self {
        Self { runtime }
    }

    /// Calls `f(upstream, server, state)` for every server of every upstream.
    fn each_server(&self, mut f: impl FnMut(&str, &str, &lb_balance::EndpointState)) {
        for (name, upstream) in &self.runtime.upstreams {
            let snapshot = upstream.balancer.snapshot();
            for endpoint in snapshot.endpoints() {
                f(name, endpoint.id(), endpoint.state());
            }
        }
    }

    fn gauge(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        value: impl Fn(&lb_balance::EndpointState) -> i64,
    ) -> fmt::Result {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        let mut result = Ok(());
        self.each_server(|upstream, server, state| {
            if result.is_ok() {
                let labels = [("upstream", upstream), ("server", server)];
                result = metric
                    .encode_family(&labels)
                    .and_then(|m| ConstGauge::new(value(state)).encode(m));
            }
        });
        result
    }
}

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        self.gauge(
            &mut encoder,
            "lb_server_up",
            "1 if the server takes traffic (healthy), 0 if unhealthy, ejected or draining.",
            |s| i64::from(s.is_healthy()),
        )?;
        self.gauge(
            &mut encoder,
            "lb_server_active",
            "Requests (L7) or connections (L4) in flight on the server now.",
            |s| i64::from(s.in_flight()),
        )?;

        let mut metric = encoder.encode_descriptor(
            "lb_health_checks",
            "Active health checks, by result (ok, failed).",
            None,
            MetricType::Counter,
        )?;
        let mut result = Ok(());
        self.each_server(|upstream, server, state| {
            for (outcome, counter) in [
                ("ok", &state.stats.checks_ok),
                ("failed", &state.stats.checks_failed),
            ] {
                if result.is_ok() {
                    let labels = [
                        ("upstream", upstream),
                        ("server", server),
                        ("result", outcome),
                    ];
                    result = metric
                        .encode_family(&labels)
                        .and_then(|m| ConstCounter::new(counter.load(Relaxed)).encode(m));
                }
            }
        });
        result?;

        let mut metric = encoder.encode_descriptor(
            "lb_ejections",
            "Times passive outlier detection ejected the server.",
            None,
            MetricType::Counter,
        )?;
        let mut result = Ok(());
        self.each_server(|upstream, server, state| {
            if result.is_ok() {
                let labels = [("upstream", upstream), ("server", server)];
                let value = state.stats.ejections.load(Relaxed);
                result = metric
                    .encode_family(&labels)
                    .and_then(|m| ConstCounter::new(value).encode(m));
            }
        });
        result?;

        let mut metric = encoder.encode_descriptor(
            "lb_retries",
            "Requests or connections retried on another server.",
            None,
            MetricType::Counter,
        )?;
        for (name, upstream) in &self.runtime.upstreams {
            let value = upstream_retries(upstream);
            let labels = [("upstream", name.as_str())];
            ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The retries of an upstream: L7 retries counted by lb-l7.
// TODO(server-ops): add L4 connect retries once lb-l4 exposes a counter.
fn upstream_retries(upstream: &crate::state::UpstreamInfo) -> u64 {
    upstream.l7.retries()
}
