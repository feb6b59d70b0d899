//! `lb-server route -c FILE METHOD URL [-H 'name: value']...`: a dry run.
//!
//! Loads the configuration exactly as `run` does, then for the http
//! listener(s) the URL's port selects (every http listener if none binds that
//! port) prints which route matches, why each earlier route did not, the
//! upstream (or the split and its weights), and for hash algorithms the server
//! the request's key maps to, assuming every server is available.
//!
//! Exit codes: 0 a route matched, 1 no route matched, 2 bad configuration or
//! arguments.

use std::fmt::Write as _;
use std::process::ExitCode;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};
use lb_balance::{Balancer, PickRequest};
use lb_l7::route::{RouteTable, Target};

mod key;

use crate::cli::RouteArgs;
use crate::plan::{ListenerKind, Plan, UpstreamPlan};

/// The request described on the command line.
struct DryRequest {
    method: Method,
    uri: Uri,
    port: u16,
    host: Option<String>,
    headers: HeaderMap,
}

/// Run the command.
pub(crate) fn run(args: &RouteArgs) -> ExitCode {
    let file = args.config.display().to_string();
    let config = match crate::check::load(&args.config) {
        Ok(loaded) => loaded.config,
        Err(e) => return fail(&e.lines),
    };
    let plan = match crate::plan::from_config(config) {
        Ok((plan, _)) => plan,
        Err(e) => {
            let lines: Vec<String> = e.lines.iter().map(|l| format!("{file}: {l}")).collect();
            return fail(&lines);
        }
    };
    let req = match parse_request(&args.method, &args.url, &args.headers) {
        Ok(req) => req,
        Err(e) => return fail(&[e]),
    };
    let (text, matched) = explain(&plan, &req);
    print!("{text}");
    if matched {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn fail(lines: &[String]) -> ExitCode {
    for line in lines {
        eprintln!("{line}");
    }
    ExitCode::from(2)
}

fn parse_request(method: &str, url: &str, headers: &[String]) -> Result<DryRequest, String> {
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("METHOD: {method:?} is not an HTTP method (e.g. GET, POST)"))?;
    let uri: Uri = url.parse().map_err(|e| {
        format!("URL: {url:?} is not a URL ({e}); expected e.g. http://example.com/api/x")
    })?;
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return Err(format!("URL: {url:?} must start with http:// or https://")),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("URL: {url:?} has no host"))?;
    let port = authority.port_u16().unwrap_or(default_port);
    let mut map = HeaderMap::new();
    for h in headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("-H {h:?}: expected 'name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("-H {h:?}: {:?} is not a header name", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("-H {h:?}: the value is not a valid header value"))?;
        map.append(name, value);
    }
    let host = match map.get(http::header::HOST) {
        Some(v) => v.to_str().ok().map(str::to_owned),
        None => Some(authority.as_str().to_owned()),
    };
    Ok(DryRequest {
        method,
        uri,
        port,
        host,
        headers: map,
    })
}

/// The report, and whether some listener matched a route.
fn explain(plan: &Plan, req: &DryRequest) -> (String, bool) {
    let mut out = String::new();
    let http: Vec<_> = plan
        .listeners
        .values()
        .filter_map(|l| match &l.kind {
            ListenerKind::Http(h) => Some((l, h)),
            _ => None,
        })
        .collect();
    if http.is_empty() {
        out.push_str("no http listener in the configuration\n");
        return (out, false);
    }
    let on_port: Vec<_> = http
        .iter()
        .filter(|(l, _)| l.bind.port() == req.port)
        .collect();
    let selected = if on_port.is_empty() {
        let _ = writeln!(
            out,
            "no http listener binds port {}; trying every http listener",
            req.port
        );
        http.iter().collect()
    } else {
        on_port
    };
    let mut any = false;
    for (listener, http) in selected {
        let _ = writeln!(
            out,
            "listener {:?} (http on {}): {} {}",
            &*listener.name, listener.bind, req.method, req.uri
        );
        let table = match RouteTable::new(http.routes.clone()) {
            Ok(table) => table,
            Err(e) => {
                let _ = writeln!(out, "  routes do not compile: {e}");
                continue;
            }
        };
        let why = table.explain(
            &req.method,
            req.host.as_deref(),
            req.uri.path(),
            &req.headers,
        );
        for line in why.to_string().lines() {
            let _ = writeln!(out, "  {line}");
        }
        let Some(index) = why.matched() else { continue };
        any = true;
        let Some(route) = table.routes().get(index) else {
            continue;
        };
        match &route.spec().target {
            Target::Upstream(name) => upstream(&mut out, plan, name, req),
            Target::Split(parts) => {
                let total: u64 = parts.iter().map(|(_, w)| u64::from(*w)).sum();
                let shares: Vec<String> = parts
                    .iter()
                    .map(|(name, w)| {
                        let pct = if total == 0 {
                            0.0
                        } else {
                            u64::from(*w) as f64 * 100.0 / total as f64
                        };
                        format!("{name:?} {pct:.1}% (weight {w})")
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "  split: {}; each request draws one by weight",
                    shares.join(", ")
                );
                for (name, _) in parts {
                    upstream(&mut out, plan, name, req);
                }
            }
        }
    }
    (out, any)
}

/// One upstream's line: algorithm, servers, and for hash algorithms the
/// server the key maps to.
fn upstream(out: &mut String, plan: &Plan, name: &str, req: &DryRequest) {
    let Some(u) = plan.upstreams.get(name) else {
        let _ = writeln!(out, "  upstream {name:?}: not defined");
        return;
    };
    let balancer = balancer(u);
    let snapshot = balancer.snapshot();
    let servers: Vec<String> = snapshot
        .endpoints()
        .iter()
        .map(|e| {
            let mut s = e.id().to_string();
            if e.weight() != 1 {
                let _ = write!(s, " (weight {})", e.weight());
            }
            if e.is_backup() {
                s.push_str(" (backup)");
            }
            s
        })
        .collect();
    let _ = writeln!(
        out,
        "  upstream {name:?}: {} over {} server(s): {}",
        u.algorithm.name(),
        servers.len(),
        servers.join(", ")
    );
    if let Some(sticky) = &u.l7.sticky {
        let _ = writeln!(
            out,
            "    sticky cookie {:?}: a request carrying it goes to the server it names while that one is available",
            sticky.cookie
        );
    }
    if !u.algorithm.uses_key() {
        let _ = writeln!(
            out,
            "    the server depends on load and order at the time, not on the request"
        );
        return;
    }
    let (what, key) = key::request_key(&u.l7.hash_key, req);
    match key {
        None => {
            let _ = writeln!(
                out,
                "    key {what}: {} falls back to round robin",
                u.algorithm.name()
            );
        }
        Some(key) => match balancer.pick(&PickRequest::with_key(key)) {
            Some(e) => {
                let _ = writeln!(
                    out,
                    "    key {what} -> server {} (with every server available)",
                    e.id()
                );
            }
            None => {
                let _ = writeln!(out, "    key {what}: no server available");
            }
        },
    }
}

/// A balancer over the upstream's servers as `run` would build it now
/// (host names resolved), every server healthy.
fn balancer(u: &UpstreamPlan) -> Balancer<std::net::SocketAddr> {
    let resolution = if crate::dns::has_names(&u.servers) {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(crate::dns::resolve(
                &u.name,
                &u.servers,
                &Default::default(),
            )),
            Err(_) => Default::default(),
        }
    } else {
        Default::default()
    };
    Balancer::new(
        u.algorithm.clone(),
        crate::dns::endpoints(&u.servers, &resolution),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_request_line_and_headers() {
        let headers = vec!["x-canary: true".to_owned(), "Cookie: a=1; b = 2".to_owned()];
        let req = parse_request("GET", "http://example.com/api/v2/x?u=7", &headers).unwrap();
        assert_eq!(req.port, 80);
        assert_eq!(req.host.as_deref(), Some("example.com"));
        assert_eq!(req.headers["x-canary"], "true");
        let cookie = lb_l7::HashKey::Cookie("b".into());
        assert_eq!(cookie.bytes(&req.headers, &req.uri), Some(&b"2"[..]));
        let query = lb_l7::HashKey::Query("u".into());
        assert_eq!(query.bytes(&req.headers, &req.uri), Some(&b"7"[..]));
        let req = parse_request("POST", "https://example.com:8443/", &[]).unwrap();
        assert_eq!(req.port, 8443);
        assert!(parse_request("GET", "example.com/x", &[]).is_err());
        assert!(parse_request("GET", "http://x/", &["nocolon".to_owned()]).is_err());
        assert!(parse_request("G E T", "http://x/", &[]).is_err());
    }
}
