//! Listener and route checks: binds, references to upstreams, splits,
//! timeouts, TLS files.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::{at_least_one, file_exists, header_rewrite, positive, Partial};
use crate::diagnostic::{join_index, join_key, Report};
use crate::model::listener::{ListenerKind, ListenerTls};
use crate::model::route::{RouteConfig, RouteTarget};
use crate::model::Config;

pub(super) fn check(config: &Config, partial: &Partial, report: &mut Report) {
    let mut bound: BTreeMap<(bool, SocketAddr), &str> = BTreeMap::new();
    for (name, listener) in &config.listeners {
        let at = join_key("listeners", name);
        let udp = matches!(listener.kind, ListenerKind::Udp(_));
        if listener.bind.port() != 0 {
            if let Some(other) = bound.insert((udp, listener.bind), name) {
                report.error(
                    join_key(&at, "bind"),
                    format!("{} is already bound by listener {other:?}", listener.bind),
                );
            }
        }
        let refs = Refs { config, partial };
        match &listener.kind {
            ListenerKind::Http(h) => {
                positive(report, &join_key(&at, "header_timeout"), h.header_timeout);
                positive(report, &join_key(&at, "idle_timeout"), h.idle_timeout);
                at_least_one(
                    report,
                    &join_key(&at, "max_connections"),
                    h.max_connections as u64,
                );
                if let Some(tls) = &h.tls {
                    tls_files(report, &join_key(&at, "tls"), tls);
                }
                let routes_at = join_key(&at, "routes");
                if !partial.incomplete_listeners.contains(name) {
                    for (i, route) in h.routes.iter().enumerate() {
                        check_route(report, &join_index(&routes_at, i), route, &refs);
                    }
                } else {
                    // Indices no longer match the file: report without them.
                    for route in &h.routes {
                        check_route(report, &routes_at, route, &refs);
                    }
                }
            }
            ListenerKind::Tcp(t) => {
                refs.upstream(report, &join_key(&at, "upstream"), &t.upstream);
                positive(report, &join_key(&at, "idle_timeout"), t.idle_timeout);
                at_least_one(
                    report,
                    &join_key(&at, "max_connections"),
                    t.max_connections as u64,
                );
            }
            ListenerKind::Udp(u) => {
                refs.upstream(report, &join_key(&at, "upstream"), &u.upstream);
                positive(report, &join_key(&at, "session_timeout"), u.session_timeout);
                at_least_one(report, &join_key(&at, "max_flows"), u.max_flows as u64);
            }
        }
    }
}

/// Resolves upstream names.
struct Refs<'a> {
    config: &'a Config,
    partial: &'a Partial,
}

impl Refs<'_> {
    fn upstream(&self, report: &mut Report, at: &str, name: &str) {
        if self.config.upstreams.contains_key(name) || self.partial.failed_upstreams.contains(name)
        {
            return;
        }
        let known: Vec<&str> = self
            .config
            .upstreams
            .keys()
            .chain(&self.partial.failed_upstreams)
            .map(String::as_str)
            .collect();
        let known = if known.is_empty() {
            "no upstreams are defined".to_owned()
        } else {
            format!("expected one of {}", known.join(", "))
        };
        report.error(at, format!("unknown upstream {name:?} ({known})"));
    }
}

fn check_route(report: &mut Report, at: &str, route: &RouteConfig, refs: &Refs<'_>) {
    match &route.target {
        RouteTarget::Upstream(name) => refs.upstream(report, &join_key(at, "upstream"), name),
        RouteTarget::Split(split) => {
            let split_at = join_key(at, "split");
            if split.is_empty() {
                report.error(&split_at, "empty (expected { name = weight, ... })");
            } else if split.values().map(|&w| u64::from(w)).sum::<u64>() == 0 {
                report.error(
                    &split_at,
                    "weights sum to 0 (at least one must be positive)",
                );
            }
            for name in split.keys() {
                refs.upstream(report, &join_key(&split_at, name), name);
            }
        }
    }
    positive(report, &join_key(at, "timeout"), route.timeout);
    header_rewrite(
        report,
        &join_key(at, "request_headers"),
        &route.request_headers,
    );
    header_rewrite(
        report,
        &join_key(at, "response_headers"),
        &route.response_headers,
    );
}

fn tls_files(report: &mut Report, at: &str, tls: &ListenerTls) {
    if let Some(default) = &tls.default {
        file_exists(report, &join_key(at, "cert"), &default.cert);
        file_exists(report, &join_key(at, "key"), &default.key);
    }
    for (i, sni) in tls.certificates.iter().enumerate() {
        let sni_at = join_index(&join_key(at, "certificates"), i);
        file_exists(report, &join_key(&sni_at, "cert"), &sni.files.cert);
        file_exists(report, &join_key(&sni_at, "key"), &sni.files.key);
    }
}
