//! Reload, phase 1: everything that may fail, changing nothing.

use std::collections::BTreeMap;

use tokio::net::{TcpListener, UdpSocket};

use super::{Active, Refused};
use crate::listeners;
use crate::plan::{ListenerKind, ListenerPlan, Plan};

/// The outcome of prepare.
pub(super) struct Prepared {
    pub(super) plan: Plan,
    pub(super) resolutions: BTreeMap<String, crate::dns::Resolution>,
    pub(super) tables: BTreeMap<String, lb_l7::route::RouteTable>,
    pub(super) bound: BTreeMap<String, Bound>,
}

pub(super) enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

pub(super) async fn prepare(plan: Plan, active: &Active) -> Result<Prepared, Refused> {
    let mut errors = Vec::new();
    let mut tables = BTreeMap::new();
    for (name, l) in &plan.listeners {
        if let ListenerKind::Http(http) = &l.kind {
            match lb_l7::route::RouteTable::new(http.routes.clone()) {
                Ok(t) => {
                    tables.insert(name.clone(), t);
                }
                Err(e) => errors.push(format!("listeners.{name}.routes: {e}")),
            }
        }
    }
    if !errors.is_empty() {
        return Err(Refused::config(errors));
    }
    let mut resolutions = BTreeMap::new();
    for (name, u) in &plan.upstreams {
        let previous = active
            .upstreams
            .get(name)
            .map(|o| o.resolution.clone())
            .unwrap_or_default();
        let res = crate::dns::resolve(name, &u.servers, &previous).await;
        resolutions.insert(name.clone(), res);
    }
    let mut bound = BTreeMap::new();
    for (name, l) in &plan.listeners {
        if !needs_bind(l, active, &plan) {
            continue;
        }
        let what = format!("listener {name}");
        let socket = match l.kind {
            ListenerKind::Udp(_) => {
                listeners::bind_udp(&what, l.bind, l.reuse_port).map(Bound::Udp)
            }
            _ => listeners::bind_tcp(&what, l.bind, l.reuse_port).map(Bound::Tcp),
        };
        match socket {
            Ok(s) => {
                bound.insert(name.clone(), s);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(Refused {
            errors,
            bind_failed: true,
        });
    }
    Ok(Prepared {
        plan,
        resolutions,
        tables,
        bound,
    })
}

/// Whether a listener needs a new socket: it is new, its address or socket
/// type changed, or (UDP, whose proxy owns its socket) its settings, or its
/// upstream's algorithm or passive settings, changed.
fn needs_bind(new: &ListenerPlan, active: &Active, plan: &Plan) -> bool {
    let Some(old) = active.listeners.get(&*new.name) else {
        return true;
    };
    if old.plan.bind != new.bind {
        return true;
    }
    match (&old.plan.kind, &new.kind) {
        (ListenerKind::Udp(o), ListenerKind::Udp(n)) => {
            let upstream_same = match (
                active.upstreams.get(&o.upstream),
                plan.upstreams.get(&n.upstream),
            ) {
                // The proxy holds the balancer and the detector: it can stay
                // while both are reused (servers are updated in place).
                (Some(ou), Some(nu)) => {
                    ou.plan.algorithm == nu.algorithm && ou.plan.passive == nu.passive
                }
                _ => false,
            };
            !(upstream_same && format!("{o:?}") == format!("{n:?}"))
        }
        (ListenerKind::Udp(_), _) | (_, ListenerKind::Udp(_)) => true,
        _ => false,
    }
}
