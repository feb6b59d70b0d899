//! What a reload changes: listeners and upstreams added, removed and changed,
//! down to the servers of each upstream and the routes of each listener.

use std::collections::BTreeMap;

use crate::addr::ServerAddr;
use crate::model::listener::{ListenerConfig, ListenerKind};
use crate::model::upstream::{UpstreamConfig, UpstreamServer};
use crate::model::{plural, Config};

/// The difference between a running configuration and a new one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigDiff {
    /// Listeners only in the new configuration (to bind).
    pub listeners_added: Vec<String>,
    /// Listeners only in the old configuration (to stop and drain).
    pub listeners_removed: Vec<String>,
    /// Listeners in both that differ.
    pub listeners_changed: Vec<ListenerChange>,
    /// Upstreams only in the new configuration.
    pub upstreams_added: Vec<String>,
    /// Upstreams only in the old configuration.
    pub upstreams_removed: Vec<String>,
    /// Upstreams in both that differ.
    pub upstreams_changed: Vec<UpstreamChange>,
    /// `[server]` differs (takes effect only on restart).
    pub server_changed: bool,
    /// `[admin]` differs.
    pub admin_changed: bool,
    /// `[log]` differs.
    pub log_changed: bool,
    /// Counts of the new configuration, for the summary.
    counts: (usize, usize, usize),
}

/// How one listener changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerChange {
    /// The listener's name.
    pub name: String,
    /// `bind` or `protocol` changed: the socket must be re-bound (bind the new
    /// one, then drain the old).
    pub rebind: bool,
    /// Other listener settings changed (TLS, timeouts, limits, tcp/udp
    /// upstream, PROXY protocol).
    pub settings: bool,
    /// The route list changed (any route added, removed, reordered or edited).
    pub routes: bool,
}

/// How one upstream changed. Servers are identified by address.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamChange {
    /// The upstream's name.
    pub name: String,
    /// Servers only in the new list (start healthy).
    pub servers_added: Vec<ServerAddr>,
    /// Servers only in the old list (drain).
    pub servers_removed: Vec<ServerAddr>,
    /// Servers in both whose `weight` or `backup` changed (keep their state).
    pub servers_changed: Vec<ServerChange>,
    /// Anything else changed (algorithm, timeouts, health, passive, retry,
    /// TLS, sticky, server order, ...).
    pub settings: bool,
}

/// A server kept across a reload whose weight or backup flag changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerChange {
    /// The server's address.
    pub addr: ServerAddr,
    /// Its old entry.
    pub old: UpstreamServer,
    /// Its new entry.
    pub new: UpstreamServer,
}

/// Compares two configurations.
pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
    let (listeners_added, listeners_removed) = added_removed(&old.listeners, &new.listeners);
    let (upstreams_added, upstreams_removed) = added_removed(&old.upstreams, &new.upstreams);
    ConfigDiff {
        listeners_added,
        listeners_removed,
        listeners_changed: both(&old.listeners, &new.listeners)
            .filter_map(|(name, a, b)| listener_change(name, a, b))
            .collect(),
        upstreams_added,
        upstreams_removed,
        upstreams_changed: both(&old.upstreams, &new.upstreams)
            .filter_map(|(name, a, b)| upstream_change(name, a, b))
            .collect(),
        server_changed: old.server != new.server,
        admin_changed: old.admin != new.admin,
        log_changed: old.log != new.log,
        counts: (new.listeners.len(), new.upstreams.len(), new.route_count()),
    }
}

fn added_removed<T>(
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
) -> (Vec<String>, Vec<String>) {
    let added = new
        .keys()
        .filter(|k| !old.contains_key(*k))
        .cloned()
        .collect();
    let removed = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    (added, removed)
}

fn both<'a, T>(
    old: &'a BTreeMap<String, T>,
    new: &'a BTreeMap<String, T>,
) -> impl Iterator<Item = (&'a String, &'a T, &'a T)> {
    old.iter()
        .filter_map(move |(k, a)| new.get(k).map(|b| (k, a, b)))
}

fn listener_change(name: &str, a: &ListenerConfig, b: &ListenerConfig) -> Option<ListenerChange> {
    if a == b {
        return None;
    }
    let rebind = a.bind != b.bind || a.protocol() != b.protocol();
    let routes = a.routes() != b.routes();
    let settings = match (&a.kind, &b.kind) {
        (ListenerKind::Http(x), ListenerKind::Http(y)) => {
            let mut y = y.clone();
            y.routes.clone_from(&x.routes);
            *x != y
        }
        (x, y) => x != y,
    };
    Some(ListenerChange {
        name: name.to_owned(),
        rebind,
        settings,
        routes,
    })
}

fn upstream_change(name: &str, a: &UpstreamConfig, b: &UpstreamConfig) -> Option<UpstreamChange> {
    if a == b {
        return None;
    }
    let old: BTreeMap<&ServerAddr, &UpstreamServer> =
        a.servers.iter().map(|s| (&s.addr, s)).collect();
    let new: BTreeMap<&ServerAddr, &UpstreamServer> =
        b.servers.iter().map(|s| (&s.addr, s)).collect();
    let servers_added = b
        .servers
        .iter()
        .filter(|s| !old.contains_key(&s.addr))
        .map(|s| s.addr.clone())
        .collect();
    let servers_removed = a
        .servers
        .iter()
        .filter(|s| !new.contains_key(&s.addr))
        .map(|s| s.addr.clone())
        .collect();
    let servers_changed = a
        .servers
        .iter()
        .filter_map(|s| {
            let n = new.get(&s.addr)?;
            (s != *n).then(|| ServerChange {
                addr: s.addr.clone(),
                old: s.clone(),
                new: (*n).clone(),
            })
        })
        .collect();
    let mut rest = b.clone();
    rest.servers.clone_from(&a.servers);
    Some(UpstreamChange {
        name: name.to_owned(),
        servers_added,
        servers_removed,
        servers_changed,
        settings: *a != rest,
    })
}

// === impl ConfigDiff ===

impl ConfigDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.listeners_added.is_empty()
            && self.listeners_removed.is_empty()
            && self.listeners_changed.is_empty()
            && self.upstreams_added.is_empty()
            && self.upstreams_removed.is_empty()
            && self.upstreams_changed.is_empty()
            && !self.server_changed
            && !self.admin_changed
            && !self.log_changed
    }

    /// One line, counting the new configuration:
    /// `2 listeners (1 added), 3 upstreams (1 changed: +1 server, -1 server), 4 routes`.
    pub fn summary(&self) -> String {
        let (listeners, upstreams, routes) = self.counts;
        let l = parts(
            self.listeners_added.len(),
            self.listeners_removed.len(),
            self.listeners_changed.len(),
        );
        let mut u = parts(
            self.upstreams_added.len(),
            self.upstreams_removed.len(),
            self.upstreams_changed.len(),
        );
        if !self.upstreams_changed.is_empty() {
            let count = |f: fn(&UpstreamChange) -> usize| {
                self.upstreams_changed.iter().map(f).sum::<usize>()
            };
            let mut detail = Vec::new();
            let (added, removed) = (
                count(|c| c.servers_added.len()),
                count(|c| c.servers_removed.len()),
            );
            let changed = count(|c| c.servers_changed.len());
            if added > 0 {
                detail.push(format!("+{}", plural(added, "server")));
            }
            if removed > 0 {
                detail.push(format!("-{}", plural(removed, "server")));
            }
            if changed > 0 {
                detail.push(format!("{changed} reweighted"));
            }
            if count(|c| usize::from(c.settings)) > 0 {
                detail.push("settings".to_owned());
            }
            if let Some(last) = u.last_mut() {
                last.push_str(": ");
                last.push_str(&detail.join(", "));
            }
        }
        let routes_changed = self.listeners_changed.iter().filter(|c| c.routes).count();
        let mut line = format!(
            "{}{}, {}{}, {}",
            plural(listeners, "listener"),
            paren(&l),
            plural(upstreams, "upstream"),
            paren(&u),
            plural(routes, "route"),
        );
        if routes_changed > 0 {
            line.push_str(&format!(
                " (changed in {})",
                plural(routes_changed, "listener")
            ));
        }
        let mut other = Vec::new();
        for (changed, what) in [
            (self.server_changed, "server"),
            (self.admin_changed, "admin"),
            (self.log_changed, "log"),
        ] {
            if changed {
                other.push(what);
            }
        }
        if !other.is_empty() {
            line.push_str(&format!(", [{}] changed", other.join("], [")));
        }
        if self.is_empty() {
            line.push_str(", no changes");
        }
        line
    }
}

fn parts(added: usize, removed: usize, changed: usize) -> Vec<String> {
    [(added, "added"), (removed, "removed"), (changed, "changed")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect()
}

fn paren(parts: &[String]) -> String {
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}
