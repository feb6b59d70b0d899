//! `[listeners.NAME]` → L7 listener options and route specs, L4 options.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use lb_config::{Config, ListenerConfig, ListenerKind as Kind, ProxyProtocolVersion, RouteConfig};
use lb_l7::route::{HeaderMatch, PathMatch, RouteSpec, Target};

use super::{HttpPlan, ListenerKind, ListenerPlan, TcpPlan, UdpPlan, PROXY_HEADER_TIMEOUT};

/// Build one listener's plan; errors are `key: message` relative to it.
pub(super) fn plan(
    name: &str,
    l: &ListenerConfig,
    config: &Config,
) -> Result<ListenerPlan, String> {
    let (kind, max_connections, proxy_protocol) = match &l.kind {
        Kind::Http(h) => {
            let mut options = lb_l7::ListenerOptions::default();
            options.header_timeout = h.header_timeout;
            options.idle_timeout = h.idle_timeout;
            if let Some(tls) = &h.tls {
                let mut certs = Vec::new();
                if let Some(d) = &tls.default {
                    certs.push(lb_l7::tls::CertSpec::new(Vec::new(), &d.cert, &d.key));
                }
                for c in &tls.certificates {
                    certs.push(lb_l7::tls::CertSpec::new(
                        c.server_names.clone(),
                        &c.files.cert,
                        &c.files.key,
                    ));
                }
                options.tls =
                    Some(lb_l7::tls::server_config(&certs).map_err(|e| format!("tls: {e}"))?);
            }
            let options_key = format!("{:?}", (h.header_timeout, h.idle_timeout, &h.tls));
            let routes = h
                .routes
                .iter()
                .enumerate()
                .map(|(i, r)| route_spec(r).map_err(|e| format!("routes[{i}].{e}")))
                .collect::<Result<Vec<_>, _>>()?;
            let proxy = h
                .accept_proxy_protocol
                .then_some(h.header_timeout.max(Duration::from_millis(1)));
            let plan = HttpPlan {
                options,
                options_key,
                routes,
            };
            (ListenerKind::Http(plan), h.max_connections, proxy)
        }
        Kind::Tcp(t) => {
            let up = config.upstreams.get(&t.upstream);
            let mut options = lb_l4::TcpOptions::default();
            options.idle_timeout = t.idle_timeout;
            options.send_proxy_protocol = t.send_proxy_protocol.map(|v| match v {
                ProxyProtocolVersion::V1 => lb_l4::proxy_protocol::Version::V1,
                _ => lb_l4::proxy_protocol::Version::V2,
            });
            if let Some(up) = up {
                options.connect_timeout = up.connect_timeout;
                options.retry_attempts = up.retry.attempts;
            }
            // The accept loop enforces max_connections (before accept).
            options.max_connections = 0;
            let plan = TcpPlan {
                upstream: t.upstream.clone(),
                options,
            };
            let proxy = t.accept_proxy_protocol.then_some(PROXY_HEADER_TIMEOUT);
            (ListenerKind::Tcp(plan), t.max_connections, proxy)
        }
        Kind::Udp(u) => {
            let mut options = lb_l4::UdpOptions::default();
            options.session_timeout = u.session_timeout;
            options.max_flows = u.max_flows;
            let plan = UdpPlan {
                upstream: u.upstream.clone(),
                options,
            };
            (ListenerKind::Udp(plan), 0, None)
        }
    };
    Ok(ListenerPlan {
        name: Arc::from(name),
        bind: l.bind,
        max_connections,
        proxy_protocol,
        reuse_port: true,
        kind,
    })
}

/// One configured route as the router's [`RouteSpec`].
///
/// # Errors
/// `key: message` for a method, header name or value the HTTP crate refuses.
pub(crate) fn route_spec(r: &RouteConfig) -> Result<RouteSpec, String> {
    let target = match &r.target {
        lb_config::RouteTarget::Upstream(u) => Target::Upstream(u.clone()),
        lb_config::RouteTarget::Split(parts) => {
            Target::Split(parts.iter().map(|(n, w)| (n.clone(), *w)).collect())
        }
    };
    let mut spec = RouteSpec::new(target);
    spec.host = r.host.as_ref().map(|h| match h {
        lb_config::HostPattern::Exact(name) => name.clone(),
        lb_config::HostPattern::Suffix(suffix) => format!("*{suffix}"),
    });
    spec.path = match &r.path {
        lb_config::PathMatch::Any => None,
        lb_config::PathMatch::Prefix(p) => Some(PathMatch::Prefix(p.clone())),
        lb_config::PathMatch::Exact(p) => Some(PathMatch::Exact(p.clone())),
        lb_config::PathMatch::Regex(p) => Some(PathMatch::Regex(p.clone())),
    };
    spec.methods = r
        .methods
        .iter()
        .map(|m| {
            Method::from_bytes(m.as_bytes())
                .map_err(|_| format!("methods: {m:?} is not an HTTP method"))
        })
        .collect::<Result<_, _>>()?;
    for (name, m) in &r.headers {
        let header = header_name(name, "headers")?;
        let matcher = match m {
            lb_config::HeaderMatch::Present => HeaderMatch::Present,
            lb_config::HeaderMatch::Exact(v) => HeaderMatch::Exact(header_value(v, "headers")?),
        };
        spec.headers.push((header, matcher));
    }
    spec.timeout = Some(r.timeout);
    spec.request_headers = rewrite(&r.request_headers, "request_headers")?;
    spec.response_headers = rewrite(&r.response_headers, "response_headers")?;
    Ok(spec)
}

fn rewrite(
    rw: &lb_config::HeaderRewrite,
    key: &str,
) -> Result<lb_l7::headers::HeaderRewrite, String> {
    let mut out = lb_l7::headers::HeaderRewrite::default();
    for (name, value) in &rw.set {
        out.set
            .push((header_name(name, key)?, header_value(value, key)?));
    }
    for name in &rw.remove {
        out.remove.push(header_name(name, key)?);
    }
    Ok(out)
}

fn header_name(name: &str, key: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{key}: {name:?} is not a valid header name"))
}

fn header_value(value: &str, key: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value)
        .map_err(|_| format!("{key}: {value:?} is not a valid header value"))
}
