//! From a [`Plan`] to live objects: balancers, health checkers, outlier
//! detectors, L7 upstream pools, route tables and listener services.
//!
//! Every builder takes the previous live object (if any) so that reload can
//! reuse what stays: a [`Balancer`] is updated in place (it keeps each
//! server's `EndpointState` by id), and checkers, detectors and pools are
//! kept when their settings did not change.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use lb_balance::{Balancer, Endpoint};
use lb_health::active::CheckerHandle;
use lb_health::events::EventSink;
use lb_health::passive::OutlierDetector;
use tokio::task::JoinHandle;

use crate::dns::{self, Resolution};
use crate::metrics::Metrics;
use crate::plan::{HttpPlan, TcpPlan, UpstreamPlan};

/// A task aborted when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(Option<JoinHandle<()>>);

impl AbortOnDrop {
    /// Own `task`.
    pub(crate) fn new(task: JoinHandle<()>) -> Self {
        Self(Some(task))
    }

    /// Abort and wait until it has stopped.
    pub(crate) async fn stop(mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// One upstream, live.
#[derive(Debug)]
pub(crate) struct LiveUpstream {
    /// What it was built from.
    pub(crate) plan: UpstreamPlan,
    /// The endpoint set and algorithm.
    pub(crate) balancer: Arc<Balancer<SocketAddr>>,
    /// Passive outlier detection, shared by the L7 upstream and L4 proxies.
    pub(crate) passive: Arc<OutlierDetector<SocketAddr>>,
    /// The L7 side: pooled client, retries, hash key.
    pub(crate) l7: Arc<lb_l7::Upstream>,
    /// Active checks, if configured; dropping stops them.
    pub(crate) checker: Option<CheckerHandle>,
    /// DNS re-resolution, if any server is given by name.
    pub(crate) dns: Option<AbortOnDrop>,
    /// The addresses the names resolved to.
    pub(crate) resolution: Resolution,
}

/// Build an upstream, reusing `old` (same name) where possible.
///
/// Runs on the commit path of reload: it does not fail. `old`'s DNS task
/// must already be stopped (see [`AbortOnDrop::stop`]).
pub(crate) fn upstream(
    plan: UpstreamPlan,
    resolution: Resolution,
    old: Option<LiveUpstream>,
    events: &EventSink,
) -> LiveUpstream {
    let endpoints = dns::endpoints(&plan.servers, &resolution);
    let name = Arc::clone(&plan.name);
    let (balancer, reused) = match &old {
        Some(old) if old.balancer.algorithm() == &plan.algorithm => {
            old.balancer.update(endpoints);
            (Arc::clone(&old.balancer), true)
        }
        Some(old) => {
            // A new algorithm needs a new balancer; servers that stay keep
            // their state (health, ejection, drain, counters).
            let snapshot = old.balancer.snapshot();
            let endpoints = endpoints
                .into_iter()
                .map(|e| match snapshot.get(e.id()) {
                    Some(prev) => e.with_state(Arc::clone(prev.state())),
                    None => e,
                })
                .collect::<Vec<Endpoint<SocketAddr>>>();
            (
                Arc::new(Balancer::new(plan.algorithm.clone(), endpoints)),
                false,
            )
        }
        None => (
            Arc::new(Balancer::new(plan.algorithm.clone(), endpoints)),
            false,
        ),
    };
    dns::apply_limits(&balancer, plan.max_per_server);

    let same =
        |f: &dyn Fn(&UpstreamPlan) -> bool| old.as_ref().is_some_and(|o| reused && f(&o.plan));
    let keep_passive = same(&|o| o.passive == plan.passive);
    let keep_l7 = keep_passive && same(&|o| o.l7_key == plan.l7_key);
    let keep_checker = same(&|o| o.active == plan.active);

    let (old_passive, old_l7, mut old_checker) = match old {
        Some(o) => (Some(o.passive), Some(o.l7), o.checker),
        None => (None, None, None),
    };
    let passive = match old_passive {
        Some(p) if keep_passive => p,
        _ => Arc::new(OutlierDetector::new(
            Arc::clone(&name),
            Arc::clone(&balancer),
            plan.passive.clone(),
            events.clone(),
        )),
    };
    let l7 = match old_l7 {
        Some(l7) if keep_l7 => l7,
        _ => Arc::new(lb_l7::Upstream::new(
            Arc::clone(&name),
            Arc::clone(&balancer),
            plan.l7.clone(),
            Some(Arc::clone(&passive)),
        )),
    };
    let checker = if keep_checker {
        old_checker.take()
    } else {
        let had_checks = old_checker.take().is_some();
        match &plan.active {
            Some(cfg) => Some(lb_health::active::spawn_active(
                Arc::clone(&name),
                Arc::clone(&balancer),
                cfg.clone(),
                events.clone(),
            )),
            None => {
                if had_checks {
                    lb_health::active::clear_unhealthy(&name, &balancer, events);
                }
                None
            }
        }
    };
    let dns = dns::has_names(&plan.servers).then(|| {
        AbortOnDrop::new(dns::spawn_refresh(dns::Refresh {
            upstream: Arc::clone(&name),
            specs: plan.servers.clone(),
            balancer: Arc::clone(&balancer),
            every: plan.dns_refresh,
            max_in_flight: plan.max_per_server,
            current: resolution.clone(),
            lookup: dns::system_lookup(),
        }))
    });
    LiveUpstream {
        plan,
        balancer,
        passive,
        l7,
        checker,
        dns,
        resolution,
    }
}

/// The routing snapshot of an HTTP listener: its route table and the L7
/// upstreams its routes name.
pub(crate) fn routing(
    table: lb_l7::route::RouteTable,
    upstreams: &BTreeMap<String, LiveUpstream>,
) -> Arc<lb_l7::Routing> {
    let mut map = HashMap::new();
    for route in table.routes() {
        for name in route_upstreams(route.spec()) {
            if let Some(u) = upstreams.get(name) {
                map.insert(name.to_owned(), Arc::clone(&u.l7));
            }
        }
    }
    Arc::new(lb_l7::Routing::new(table, map))
}

fn route_upstreams(spec: &lb_l7::route::RouteSpec) -> Vec<&str> {
    match &spec.target {
        lb_l7::route::Target::Upstream(name) => vec![name.as_str()],
        lb_l7::route::Target::Split(parts) => parts.iter().map(|(n, _)| n.as_str()).collect(),
    }
}

/// A new HTTP listener service.
pub(crate) fn http_listener(
    plan: &HttpPlan,
    name: &Arc<str>,
    routing: Arc<lb_l7::Routing>,
    metrics: &Metrics,
) -> Arc<lb_l7::HttpListener> {
    let observer: Arc<dyn lb_l7::Observer> = Arc::new(metrics.http_metrics(name));
    Arc::new(lb_l7::HttpListener::new(
        Arc::clone(name),
        plan.options.clone(),
        routing,
        Some(observer),
    ))
}

/// A new TCP proxy service.
pub(crate) fn tcp_proxy(
    plan: &TcpPlan,
    name: &Arc<str>,
    upstream: &LiveUpstream,
    metrics: &Metrics,
) -> Arc<lb_l4::TcpProxy> {
    let observer: Arc<dyn lb_l4::ConnectionObserver> = Arc::new(metrics.tcp_metrics(name));
    Arc::new(
        lb_l4::TcpProxy::new(
            Arc::clone(name),
            Arc::clone(&upstream.balancer),
            plan.options.clone(),
        )
        .with_observer(observer)
        .with_passive(Arc::clone(&upstream.passive))
        .with_stats(metrics.l4_stats(name)),
    )
}
