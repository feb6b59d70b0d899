//! The shadowed-route warning: a route that can never match because an
//! earlier route of the same listener matches every request it would.
//!
//! Conservative: a route is reported only when the earlier one's constraints
//! are provably looser on every axis (host, path, methods, headers). Regexes
//! are compared only for equality.

use super::Partial;
use crate::diagnostic::{join_index, join_key, Report};
use crate::model::listener::ListenerKind;
use crate::model::route::{HeaderMatch, PathMatch, RouteConfig};
use crate::model::Config;

pub(super) fn check(config: &Config, partial: &Partial, report: &mut Report) {
    for (name, listener) in &config.listeners {
        let ListenerKind::Http(http) = &listener.kind else {
            continue;
        };
        if partial.incomplete_listeners.contains(name) {
            continue;
        }
        let routes_at = join_key(&join_key("listeners", name), "routes");
        for (j, later) in http.routes.iter().enumerate() {
            if let Some(i) = http.routes[..j]
                .iter()
                .position(|earlier| covers(earlier, later))
            {
                let earlier = &http.routes[i];
                report.warn(
                    join_index(&routes_at, j),
                    format!(
                        "never matches: routes[{i}] ({}) comes first and matches every request this route would",
                        describe(earlier)
                    ),
                );
            }
        }
    }
}

/// Whether every request `b` matches is also matched by `a`.
fn covers(a: &RouteConfig, b: &RouteConfig) -> bool {
    let host = match (&a.host, &b.host) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(ha), Some(hb)) => hb.is_within(ha),
    };
    let path = match (&a.path, &b.path) {
        (PathMatch::Any, _) => true,
        (PathMatch::Prefix(p), PathMatch::Prefix(q) | PathMatch::Exact(q)) => prefix_covers(p, q),
        (PathMatch::Exact(e), PathMatch::Exact(f)) => e == f,
        (PathMatch::Regex(r), PathMatch::Regex(s)) => r == s,
        _ => false,
    };
    let methods = a.methods.is_empty()
        || (!b.methods.is_empty() && b.methods.iter().all(|m| a.methods.contains(m)));
    let headers = a.headers.iter().all(|(name, want)| {
        b.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .is_some_and(|(_, have)| match (want, have) {
                (HeaderMatch::Present, _) => true,
                (HeaderMatch::Exact(v), HeaderMatch::Exact(w)) => v == w,
                (HeaderMatch::Exact(_), HeaderMatch::Present) => false,
            })
    });
    host && path && methods && headers
}

/// Whether prefix `p` matches every path that starts with `q`, under both
/// plain-string and segment-wise prefix matching.
fn prefix_covers(p: &str, q: &str) -> bool {
    q.starts_with(p)
        && (p.ends_with('/') || q.len() == p.len() || q.as_bytes().get(p.len()) == Some(&b'/'))
}

/// A short description of a route's constraints for the warning.
fn describe(route: &RouteConfig) -> String {
    let mut parts = Vec::new();
    if let Some(host) = &route.host {
        parts.push(format!("host {:?}", host.to_string()));
    }
    parts.push(route.path.to_string());
    if !route.methods.is_empty() {
        parts.push(format!("methods {}", route.methods.join(",")));
    }
    if !route.headers.is_empty() {
        let names: Vec<&str> = route.headers.keys().map(String::as_str).collect();
        parts.push(format!("headers {}", names.join(",")));
    }
    parts.join(", ")
}
