//! Every key left out takes its documented default.

mod common;

use std::time::Duration;

use common::*;
use lb_config::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const ALL_KINDS: &str = r#"
[listeners.web]
bind = "127.0.0.1:8080"
[[listeners.web.routes]]
upstream = "api"

[listeners.pg]
bind = "127.0.0.1:5432"
protocol = "tcp"
upstream = "api"

[listeners.dns]
bind = "127.0.0.1:5353"
protocol = "udp"
upstream = "api"

[upstreams.api]
servers = [{ addr = "127.0.0.1:9001" }]
[upstreams.api.health]
[upstreams.api.passive]
"#;

#[test]
fn sections_default() {
    let c = from_str(ALL_KINDS, Format::Toml, "lb.toml").unwrap().config;
    assert_eq!(
        c.server,
        ServerConfig {
            workers: 0,
            shutdown_timeout: secs(30)
        }
    );
    assert_eq!(c.admin, None);
    assert_eq!(
        c.log,
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
            access_log: true
        }
    );

    let ListenerKind::Http(http) = &c.listeners["web"].kind else {
        panic!()
    };
    assert_eq!(http.tls, None);
    assert!(!http.accept_proxy_protocol);
    assert_eq!(
        (http.header_timeout, http.idle_timeout),
        (secs(10), secs(60))
    );
    assert_eq!(http.max_connections, 100_000);
    let route = &http.routes[0];
    assert_eq!((&route.host, &route.path), (&None, &PathMatch::Any));
    assert!(route.methods.is_empty() && route.headers.is_empty());
    assert_eq!(route.timeout, secs(60));
    assert_eq!(route.request_headers, HeaderRewrite::default());

    let ListenerKind::Tcp(tcp) = &c.listeners["pg"].kind else {
        panic!()
    };
    assert_eq!(tcp.send_proxy_protocol, None);
    assert!(!tcp.accept_proxy_protocol);
    assert_eq!(
        (tcp.idle_timeout, tcp.max_connections),
        (secs(3600), 100_000)
    );
    let ListenerKind::Udp(udp) = &c.listeners["dns"].kind else {
        panic!()
    };
    assert_eq!((udp.session_timeout, udp.max_flows), (secs(30), 10_000));

    let api = &c.upstreams["api"];
    assert_eq!(api.algorithm, Algorithm::RoundRobin);
    assert_eq!(api.hash_key, HashKey::ClientIp);
    assert_eq!(
        (api.vnodes, api.bounded_load, api.table_size),
        (160, None, 65_537)
    );
    assert_eq!(api.sticky, None);
    assert_eq!(api.protocol, UpstreamProtocol::Http1);
    assert_eq!((api.connect_timeout, api.dns_refresh), (secs(3), secs(30)));
    assert_eq!(api.max_connections_per_server, 0);
    assert_eq!((api.servers[0].weight, api.servers[0].backup), (1, false));
    assert_eq!(api.tls, None);
    let h = api
        .health
        .as_ref()
        .expect("an empty [health] table turns checks on");
    assert_eq!(h.check, HealthCheckKind::Http);
    assert_eq!(
        (h.path.as_str(), h.expect_status.to_string()),
        ("/", "200-399".to_owned())
    );
    assert_eq!(
        (h.host.as_deref(), h.interval, h.timeout),
        (None, secs(10), secs(3))
    );
    assert_eq!((h.unhealthy_threshold, h.healthy_threshold), (3, 2));
    let p = &api.passive;
    assert_eq!(
        (p.consecutive_failures, p.failure_rate, p.failure_window),
        (5, None, secs(10))
    );
    assert_eq!(
        (p.min_requests, p.ejection_time, p.max_ejected_percent),
        (20, secs(30), 50)
    );
    let r = &api.retry;
    assert_eq!((r.attempts, r.budget), (2, 0.2));
    assert_eq!(r.on, [RetryOn::ConnectFailure, RetryOn::Reset]);
}

#[test]
fn absent_tables_equal_empty_tables_and_type_defaults() {
    let without = from_str(MINIMAL, Format::Toml, "lb.toml").unwrap().config;
    let with_empty = from_str(
        &format!("[server]\n[log]\n{MINIMAL}\n[upstreams.api.passive]\n[upstreams.api.retry]\n"),
        Format::Toml,
        "lb.toml",
    )
    .unwrap()
    .config;
    assert_eq!(without, with_empty);
    assert_eq!(without.upstreams["api"].passive, PassiveConfig::default());
    assert_eq!(without.upstreams["api"].retry, RetryConfig::default());
    assert_eq!(without.server, ServerConfig::default());
    assert_eq!(without.log, LogConfig::default());
}

#[test]
fn an_empty_admin_table_listens_on_loopback() {
    let c = from_str(&format!("{MINIMAL}\n[admin]\n"), Format::Toml, "lb.toml")
        .unwrap()
        .config;
    assert_eq!(
        c.admin,
        Some(AdminConfig {
            bind: "127.0.0.1:9901".parse().unwrap(),
            token: None
        })
    );
}

#[test]
fn summary_counts() {
    let loaded = from_str(ALL_KINDS, Format::Toml, "lb.toml").unwrap();
    assert_eq!(
        loaded.config.summary(),
        "3 listeners, 1 upstream, 1 server, 1 route"
    );
    assert_eq!(
        loaded.summary(),
        "lb.toml: ok: 3 listeners, 1 upstream, 1 server, 1 route"
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}
