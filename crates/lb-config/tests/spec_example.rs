//! The full SPEC §3 example loads, field by field, from TOML, YAML and JSON.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use lb_config::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn spec_example_loads_with_every_value() {
    let dir = temp_dir("spec_example_loads");
    let path = write(&dir, "lb.toml", SPEC_TOML);
    let loaded = load_with_env(&path, []).unwrap_or_else(|e| panic!("{e}"));
    let c = &loaded.config;

    assert_eq!(
        c.server,
        ServerConfig {
            workers: 0,
            shutdown_timeout: secs(30)
        }
    );
    let admin = c.admin.as_ref().unwrap();
    assert_eq!(admin.bind, "127.0.0.1:9901".parse().unwrap());
    assert_eq!(admin.token.as_deref(), Some("..."));
    assert_eq!(
        c.log,
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
            access_log: true
        }
    );

    // listeners.web
    let web = &c.listeners["web"];
    assert_eq!(web.bind, "0.0.0.0:8443".parse().unwrap());
    assert_eq!(web.protocol(), ListenerProtocol::Http);
    let ListenerKind::Http(http) = &web.kind else {
        panic!("web is http")
    };
    let tls = http.tls.as_ref().unwrap();
    let default = tls.default.as_ref().unwrap();
    assert_eq!(
        default.cert,
        dir.join("certs/site.pem"),
        "resolved against the file's dir"
    );
    assert_eq!(default.key, dir.join("certs/site.key"));
    assert!(tls.certificates.is_empty());
    assert!(!http.accept_proxy_protocol);
    assert_eq!(
        (http.header_timeout, http.idle_timeout),
        (secs(10), secs(60))
    );
    assert_eq!(http.max_connections, 100_000);
    assert_eq!(http.routes.len(), 2);
    let r0 = &http.routes[0];
    assert_eq!(r0.host, Some(HostPattern::Exact("example.com".into())));
    assert_eq!(r0.path, PathMatch::Prefix("/api/v2/".into()));
    assert_eq!(r0.methods, ["GET", "POST"]);
    assert_eq!(
        r0.headers,
        BTreeMap::from([("x-canary".to_owned(), HeaderMatch::Exact("true".into()))])
    );
    assert_eq!(r0.target, RouteTarget::Upstream("canary".into()));
    assert_eq!(r0.timeout, secs(30));
    assert_eq!(r0.request_headers.set["x-env"], "prod");
    assert_eq!(r0.request_headers.remove, ["x-debug"]);
    assert_eq!(
        r0.response_headers.set["cache-control"],
        "public, max-age=2592000"
    );
    let r1 = &http.routes[1];
    assert_eq!(
        (r1.host.as_ref(), &r1.path),
        (None, &PathMatch::Prefix("/".into()))
    );
    assert_eq!(r1.timeout, DEFAULT_ROUTE_TIMEOUT);

    // listeners.pg and listeners.dns
    let ListenerKind::Tcp(pg) = &c.listeners["pg"].kind else {
        panic!("pg is tcp")
    };
    assert_eq!(pg.upstream, "db");
    assert_eq!(pg.send_proxy_protocol, Some(ProxyProtocolVersion::V2));
    assert_eq!(pg.idle_timeout, secs(3600));
    let ListenerKind::Udp(dns) = &c.listeners["dns"].kind else {
        panic!("dns is udp")
    };
    assert_eq!(
        (dns.upstream.as_str(), dns.session_timeout),
        ("dns", secs(30))
    );

    // upstreams.api
    let api = &c.upstreams["api"];
    assert_eq!(api.algorithm, Algorithm::LeastConn);
    assert_eq!(api.hash_key, HashKey::ClientIp);
    assert_eq!((api.vnodes, api.bounded_load), (160, Some(1.25)));
    assert_eq!(
        api.sticky,
        Some(StickyConfig {
            cookie: "lb_srv".into(),
            max_age: Some(secs(3600))
        })
    );
    assert_eq!(api.protocol, UpstreamProtocol::Http1);
    assert_eq!((api.connect_timeout, api.dns_refresh), (secs(3), secs(30)));
    assert_eq!(api.max_connections_per_server, 0);
    let servers: Vec<(String, u32, bool)> = api
        .servers
        .iter()
        .map(|s| (s.addr.to_string(), s.weight, s.backup))
        .collect();
    assert_eq!(
        servers,
        [
            ("api1.internal:8080".to_owned(), 3, false),
            ("127.0.0.1:9002".to_owned(), 1, false),
            ("127.0.0.1:9004".to_owned(), 1, true),
        ]
    );
    assert_eq!(
        api.servers[0].addr,
        ServerAddr {
            host: "api1.internal".into(),
            port: 8080
        }
    );
    let up_tls = api.tls.as_ref().unwrap();
    assert_eq!(up_tls.server_name.as_deref(), Some("api.internal"));
    assert_eq!(up_tls.ca.as_deref(), Some(dir.join("ca.pem").as_path()));
    let health = api.health.as_ref().unwrap();
    assert_eq!(health.check, HealthCheckKind::Http);
    assert_eq!(health.path, "/health");
    assert_eq!(health.expect_status, StatusRange { min: 200, max: 399 });
    assert_eq!((health.interval, health.timeout), (secs(10), secs(3)));
    assert_eq!(
        (health.unhealthy_threshold, health.healthy_threshold),
        (3, 2)
    );
    assert_eq!(api.passive.failure_rate, Some(0.5));
    assert_eq!(api.passive.consecutive_failures, 5);
    assert_eq!(api.retry.on, [RetryOn::ConnectFailure, RetryOn::Reset]);
    assert_eq!(c.upstreams["db"].algorithm, Algorithm::Maglev);

    assert_eq!(
        loaded.summary(),
        format!(
            "{}: ok: 3 listeners, 4 upstreams, 7 servers, 2 routes, 1 warning",
            path.display()
        )
    );
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(
        loaded.warnings[0].to_string(),
        format!(
            "{}: upstreams.api.bounded_load: warning: ignored by algorithm \"least_conn\" \
             (only consistent_hash and maglev use it)",
            path.display()
        )
    );
}

#[test]
fn yaml_and_json_give_the_same_config_as_toml() {
    let dir = temp_dir("yaml_and_json");
    let toml = load_with_env(&write(&dir, "lb.toml", SPEC_TOML), [])
        .unwrap()
        .config;
    for (name, text) in [
        ("lb.yaml", SPEC_YAML),
        ("lb.yml", SPEC_YAML),
        ("lb.json", SPEC_JSON),
    ] {
        let other = load_with_env(&write(&dir, name, text), [])
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .config;
        assert_eq!(other, toml, "{name}");
    }
}

#[test]
fn from_str_resolves_tls_paths_against_the_file_name_dir() {
    let dir = temp_dir("from_str_paths");
    let file = dir.join("lb.toml");
    let loaded = from_str(SPEC_TOML, Format::Toml, file.to_str().unwrap()).unwrap();
    let ListenerKind::Http(http) = &loaded.config.listeners["web"].kind else {
        panic!()
    };
    assert_eq!(
        http.tls.as_ref().unwrap().default.as_ref().unwrap().cert,
        dir.join("certs/site.pem")
    );
}

#[test]
fn missing_tls_files_are_errors_naming_the_resolved_path() {
    let dir = temp_dir("missing_tls");
    std::fs::remove_file(dir.join("certs/site.key")).unwrap();
    std::fs::remove_file(dir.join("ca.pem")).unwrap();
    let path = write(&dir, "lb.toml", SPEC_TOML);
    let err = load_with_env(&path, []).unwrap_err();
    let lines: Vec<String> = err.errors().map(ToString::to_string).collect();
    let file = path.display();
    assert_eq!(
        lines,
        [
            format!(
                "{file}: listeners.web.tls.key: file not found: {}",
                dir.join("certs/site.key").display()
            ),
            format!(
                "{file}: upstreams.api.tls.ca: file not found: {}",
                dir.join("ca.pem").display()
            ),
        ]
    );
}

#[test]
fn unsupported_extension_and_unreadable_file() {
    let err = load_with_env(std::path::Path::new("lb.ini"), []).unwrap_err();
    assert_eq!(
        err.to_string(),
        "lb.ini: unsupported file extension (expected .toml, .yaml, .yml or .json)"
    );
    let dir = temp_dir("unreadable");
    let err = load_with_env(&dir.join("absent.toml"), []).unwrap_err();
    assert!(
        err.to_string()
            .contains("absent.toml: cannot read the file: "),
        "{err}"
    );
}

/// The `## Example` blocks of docs/config.md load as documented.
#[test]
fn docs_examples_load() {
    let doc = include_str!("../../../docs/config.md");
    let example = &doc[doc.find("## Example").unwrap()..];
    let block = |fence: &str| {
        let start = example.find(fence).unwrap() + fence.len();
        let len = example[start..].find("```").unwrap();
        example[start..start + len].to_owned()
    };
    let dir = temp_dir("docs_examples");
    let toml = load_with_env(&write(&dir, "lb.toml", &block("```toml\n")), [])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        toml.config.summary(),
        "2 listeners, 3 upstreams, 6 servers, 2 routes"
    );
    assert!(toml.warnings.is_empty(), "{:?}", toml.warnings);
    let yaml = load_with_env(&write(&dir, "lb.yaml", &block("```yaml\n")), [])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        yaml.config.summary(),
        "1 listener, 1 upstream, 1 server, 1 route"
    );
}
