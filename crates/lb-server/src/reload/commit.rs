//! Reload, phase 2: apply a prepared configuration; cannot fail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info, warn};

use super::prepare::{Bound, Prepared};
use super::{Active, Ctx, LiveKind, LiveListener};
use crate::listeners::{self, AcceptOptions};
use crate::plan::{ListenerKind, ListenerPlan, Plan};
use crate::serve::Service;
use crate::state::{ListenerInfo, Runtime, UpstreamInfo};
use crate::wire::{self, LiveUpstream};

pub(super) async fn commit(
    ctx: &Ctx,
    prepared: Prepared,
    active: &mut Active,
) -> (Runtime, String) {
    let Prepared {
        plan,
        mut resolutions,
        mut tables,
        mut bound,
    } = prepared;
    let summary = summarize(&plan, active);
    let grace = plan.shutdown_timeout;

    // Upstreams: stop the old DNS tasks first so none races our update.
    let mut old_upstreams = std::mem::take(&mut active.upstreams);
    for u in old_upstreams.values_mut() {
        if let Some(dns) = u.dns.take() {
            dns.stop().await;
        }
    }
    let mut upstreams = BTreeMap::new();
    for (name, up) in plan.upstreams {
        let res = resolutions.remove(&name).unwrap_or_default();
        let old = old_upstreams.remove(&name);
        upstreams.insert(name, wire::upstream(up, res, old, &ctx.events));
    }
    drop(old_upstreams); // removed upstreams: checkers stop, pools go with the last request

    // Listeners.
    let mut old_listeners = std::mem::take(&mut active.listeners);
    let mut listeners = BTreeMap::new();
    for (name, lp) in plan.listeners {
        let old = old_listeners.remove(&name);
        let table = tables.remove(&name);
        let live = match (bound.remove(&name), old) {
            (None, Some(old)) => update_listener(ctx, old, lp, table, &upstreams),
            (Some(socket), old) => {
                let new = start_listener(ctx, lp, socket, table, &upstreams);
                if let Some(old) = old {
                    old.retire(grace);
                }
                new
            }
            (None, None) => None,
        };
        match live {
            Some(live) => {
                listeners.insert(name, live);
            }
            None => warn!(listener = %name, "listener not started: its upstream is missing"),
        }
    }
    for (name, old) in old_listeners {
        info!(listener = %name, "listener removed: stop accepting, draining connections");
        old.retire(grace);
    }

    active.upstreams = upstreams;
    active.listeners = listeners;
    active.shutdown_timeout = plan.shutdown_timeout;
    (runtime(&plan.config, active), summary)
}

/// The previous HTTP listener of a listener that stays, and whether it can
/// serve new connections as it is.
struct PreviousHttp {
    listener: Arc<lb_l7::HttpListener>,
    keep: bool,
}

fn service(
    ctx: &Ctx,
    lp: &ListenerPlan,
    table: Option<lb_l7::route::RouteTable>,
    upstreams: &BTreeMap<String, LiveUpstream>,
    previous: Option<PreviousHttp>,
) -> Option<Service> {
    match &lp.kind {
        ListenerKind::Http(http) => {
            let routing = wire::routing(table?, upstreams);
            // Open keep-alive connections hold the previous listener: they
            // see the new routes through it in any case.
            if let Some(p) = &previous {
                p.listener.update_routing(Arc::clone(&routing));
            }
            Some(Service::Http(match previous {
                Some(p) if p.keep => p.listener,
                _ => wire::http_listener(http, &lp.name, routing, &ctx.env.metrics),
            }))
        }
        ListenerKind::Tcp(tcp) => {
            let up = upstreams.get(&tcp.upstream)?;
            Some(Service::Tcp(wire::tcp_proxy(
                tcp,
                &lp.name,
                up,
                &ctx.env.metrics,
            )))
        }
        ListenerKind::Udp(_) => None,
    }
}

fn accept_options(lp: &ListenerPlan) -> AcceptOptions {
    AcceptOptions::new(lp.max_connections, lp.proxy_protocol)
}

fn start_listener(
    ctx: &Ctx,
    lp: ListenerPlan,
    socket: Bound,
    table: Option<lb_l7::route::RouteTable>,
    upstreams: &BTreeMap<String, LiveUpstream>,
) -> Option<LiveListener> {
    let kind = match socket {
        Bound::Tcp(listener) => {
            let svc = service(ctx, &lp, table, upstreams, None)?;
            let running = listeners::spawn_tcp(
                &ctx.env,
                Arc::clone(&lp.name),
                listener,
                svc,
                accept_options(&lp),
            );
            match running {
                Ok(r) => LiveKind::Tcp(r),
                Err(e) => {
                    error!(listener = %lp.name, error = %e, "cannot start listener");
                    return None;
                }
            }
        }
        Bound::Udp(socket) => {
            let ListenerKind::Udp(udp) = &lp.kind else {
                return None;
            };
            let up = upstreams.get(&udp.upstream)?;
            let local = socket.local_addr().ok()?;
            let stop = ctx.env.shutdown.child_token();
            let observer: Arc<dyn lb_l4::ConnectionObserver> =
                Arc::new(ctx.env.metrics.tcp_metrics(&lp.name));
            let proxy = lb_l4::UdpProxy::new(
                Arc::clone(&lp.name),
                Arc::clone(&up.balancer),
                udp.options.clone(),
            )
            .with_observer(observer)
            .with_passive(Arc::clone(&up.passive))
            .with_stats(ctx.env.metrics.l4_stats(&lp.name));
            let token = stop.clone();
            ctx.env
                .tracker
                .spawn(async move { proxy.run(socket, token).await });
            LiveKind::Udp { local, stop }
        }
    };
    info!(listener = %lp.name, addr = %lp.bind, protocol = lp.kind.protocol(), "listening");
    Some(LiveListener { plan: lp, kind })
}

fn update_listener(
    ctx: &Ctx,
    old: LiveListener,
    lp: ListenerPlan,
    table: Option<lb_l7::route::RouteTable>,
    upstreams: &BTreeMap<String, LiveUpstream>,
) -> Option<LiveListener> {
    let LiveListener {
        plan: old_plan,
        kind,
    } = old;
    let running = match kind {
        LiveKind::Tcp(running) => running,
        // UDP listeners that did not change keep running as they are.
        udp @ LiveKind::Udp { .. } => {
            return Some(LiveListener {
                plan: lp,
                kind: udp,
            })
        }
    };
    // A new HTTP listener for new connections when its options changed, or
    // when it terminates TLS (the certificate files may have been renewed).
    let previous = match (&old_plan.kind, &lp.kind, &**running.service.load()) {
        (ListenerKind::Http(o), ListenerKind::Http(n), Service::Http(l)) => Some(PreviousHttp {
            listener: Arc::clone(l),
            keep: o.options_key == n.options_key && n.options.tls.is_none(),
        }),
        _ => None,
    };
    let Some(svc) = service(ctx, &lp, table, upstreams, previous) else {
        running.retire(Duration::ZERO);
        return None;
    };
    running.service.store(Arc::new(svc));
    if old_plan.max_connections != lp.max_connections
        || old_plan.proxy_protocol != lp.proxy_protocol
    {
        running.options.store(Arc::new(accept_options(&lp)));
    }
    Some(LiveListener {
        plan: lp,
        kind: LiveKind::Tcp(running),
    })
}

fn runtime(config: &Arc<lb_config::Config>, active: &Active) -> Runtime {
    Runtime {
        config: Arc::clone(config),
        listeners: active
            .listeners
            .values()
            .map(|l| ListenerInfo {
                name: Arc::clone(&l.plan.name),
                bind: l.local(),
                protocol: l.plan.kind.protocol(),
            })
            .collect(),
        upstreams: active
            .upstreams
            .iter()
            .map(|(name, u)| {
                let info = UpstreamInfo {
                    l7: Arc::clone(&u.l7),
                    algorithm: u.plan.algorithm.name(),
                    balancer: Arc::clone(&u.balancer),
                };
                (name.clone(), info)
            })
            .collect(),
    }
}

/// "listeners +b -a ~web; upstreams ~api" (or "no changes").
fn summarize(plan: &Plan, active: &Active) -> String {
    fn diff<'a, A, B>(
        new: &'a BTreeMap<String, A>,
        old: &'a BTreeMap<String, B>,
        same: impl Fn(&A, &B) -> bool,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in new {
            match old.get(k) {
                None => out.push(format!("+{k}")),
                Some(o) if !same(v, o) => out.push(format!("~{k}")),
                Some(_) => {}
            }
        }
        out.extend(
            old.keys()
                .filter(|k| !new.contains_key(*k))
                .map(|k| format!("-{k}")),
        );
        out
    }
    let l = diff(&plan.listeners, &active.listeners, |n, o| {
        format!("{n:?}") == format!("{:?}", o.plan)
    });
    let u = diff(&plan.upstreams, &active.upstreams, |n, o| {
        format!("{n:?}") == format!("{:?}", o.plan)
    });
    let mut parts = Vec::new();
    if !l.is_empty() {
        parts.push(format!("listeners {}", l.join(" ")));
    }
    if !u.is_empty() {
        parts.push(format!("upstreams {}", u.join(" ")));
    }
    if parts.is_empty() {
        "no changes".to_owned()
    } else {
        parts.join("; ")
    }
}
