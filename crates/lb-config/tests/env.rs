//! `LB_…` environment overrides: they win over the file, reach nested and
//! mixed-case keys, are typed by the schema, and errors name the variable.

mod common;

use std::time::Duration;

use common::*;
use lb_config::*;

const MIXED: &str = r#"
[listeners.Web]
bind = "127.0.0.1:8080"

[[listeners.Web.routes]]
path_prefix = "/"
headers = { "X-Canary" = "true" }
upstream = "API"
request_headers = { set = { "X-Env" = "prod" } }

[upstreams.API]
servers = [{ addr = "127.0.0.1:9001" }]
"#;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load_env(test: &str, text: &str, pairs: &[(&str, &str)]) -> Result<Loaded, Diagnostics> {
    let dir = temp_dir(test);
    load_with_env(&write(&dir, "lb.toml", text), env(pairs))
}

#[test]
fn mixed_case_names_and_header_keys_survive_the_config_crate() {
    let dir = temp_dir("mixed_case_files");
    let yaml = "listeners:\n  Web:\n    bind: \"127.0.0.1:8080\"\n    routes:\n      - path_prefix: /\n        headers: { X-Canary: \"true\" }\n        upstream: API\n        request_headers: { set: { X-Env: prod } }\nupstreams:\n  API:\n    servers: [{ addr: \"127.0.0.1:9001\" }]\n";
    let json = r#"{"listeners": {"Web": {"bind": "127.0.0.1:8080", "routes": [{"path_prefix": "/", "headers": {"X-Canary": "true"}, "upstream": "API", "request_headers": {"set": {"X-Env": "prod"}}}]}}, "upstreams": {"API": {"servers": [{"addr": "127.0.0.1:9001"}]}}}"#;
    for (name, text) in [("lb.toml", MIXED), ("lb.yaml", yaml), ("lb.json", json)] {
        let c = load_with_env(&write(&dir, name, text), [])
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .config;
        assert_eq!(c.listeners.keys().collect::<Vec<_>>(), ["Web"], "{name}");
        assert_eq!(c.upstreams.keys().collect::<Vec<_>>(), ["API"], "{name}");
        let route = &c.listeners["Web"].routes()[0];
        assert_eq!(
            route.headers.keys().collect::<Vec<_>>(),
            ["X-Canary"],
            "{name}"
        );
        assert_eq!(
            route.request_headers.set.keys().collect::<Vec<_>>(),
            ["X-Env"],
            "{name}"
        );
        assert_eq!(route.target, RouteTarget::Upstream("API".into()), "{name}");
    }
}

#[test]
fn overrides_win_and_reach_mixed_case_names() {
    let loaded = load_env(
        "overrides_win",
        MIXED,
        &[
            ("LB_LISTENERS__WEB__BIND", "127.0.0.1:9999"),
            ("LB_UPSTREAMS__API__ALGORITHM", "maglev"),
            ("LB_UPSTREAMS__API__VNODES", "10"),
            ("LB_LISTENERS__WEB__ROUTES__0__HEADERS__X_CANARY", "false"),
            (
                "LB_LISTENERS__WEB__ROUTES__0__REQUEST_HEADERS__SET__X_ENV",
                "12",
            ),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let c = &loaded.config;
    assert_eq!(
        c.listeners.keys().collect::<Vec<_>>(),
        ["Web"],
        "no new lower-case listener"
    );
    assert_eq!(c.upstreams.keys().collect::<Vec<_>>(), ["API"]);
    assert_eq!(c.listeners["Web"].bind, "127.0.0.1:9999".parse().unwrap());
    assert_eq!(c.upstreams["API"].algorithm, Algorithm::Maglev);
    assert_eq!(c.upstreams["API"].vnodes, 10);
    let route = &c.listeners["Web"].routes()[0];
    assert_eq!(
        route.headers["X-Canary"],
        HeaderMatch::Exact("false".into()),
        "a string stays a string"
    );
    assert_eq!(
        route.request_headers.set["X-Env"], "12",
        "a number-looking string stays a string"
    );
}

#[test]
fn overrides_create_missing_sections_and_are_typed() {
    let loaded = load_env(
        "overrides_typed",
        MINIMAL,
        &[
            ("LB_ADMIN__BIND", "0.0.0.0:9901"),
            ("LB_ADMIN__TOKEN", "12345"),
            ("LB_LOG__ACCESS_LOG", "false"),
            ("LB_LOG__FORMAT", "json"),
            ("LB_SERVER__WORKERS", "4"),
            ("LB_SERVER__SHUTDOWN_TIMEOUT", "5s"),
            ("LB_UPSTREAMS__API__BOUNDED_LOAD", "1.5"),
            ("LB_UPSTREAMS__API__ALGORITHM", "consistent_hash"),
            ("LB_UPSTREAMS__API__SERVERS__0__WEIGHT", "7"),
            ("LB_UPSTREAMS__API__SERVERS__0__BACKUP", "false"),
            ("LB_UPSTREAMS__API__RETRY__ON", "5xx,timeout"),
            ("LB_LISTENERS__WEB__ROUTES__0__METHODS", "get, PUT"),
            ("LB_CONFIG", "ignored: one segment"),
            ("PATH", "/usr/bin"),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let c = &loaded.config;
    let admin = c.admin.as_ref().unwrap();
    assert_eq!(admin.bind, "0.0.0.0:9901".parse().unwrap());
    assert_eq!(admin.token.as_deref(), Some("12345"));
    assert!(!c.log.access_log);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(
        c.server,
        ServerConfig {
            workers: 4,
            shutdown_timeout: Duration::from_secs(5)
        }
    );
    let api = &c.upstreams["api"];
    assert_eq!(api.bounded_load, Some(1.5));
    assert_eq!((api.servers[0].weight, api.servers[0].backup), (7, false));
    assert_eq!(api.retry.on, [RetryOn::ServerError, RetryOn::Timeout]);
    assert_eq!(c.listeners["web"].routes()[0].methods, ["GET", "PUT"]);
}

#[test]
fn errors_in_overrides_name_the_variable() {
    let err = load_env(
        "override_errors",
        MINIMAL,
        &[
            ("LB_ADMIN__BIND", "nonsense"),
            ("LB_LISTENERS__WEB__BND", "127.0.0.1:1"),
            ("LB_LISTENERS__WEB__ROUTES__5__UPSTREAM", "api"),
            ("LB_UPSTREAMS__API__SERVERS__0__WEIGHT", "heavy"),
            ("LB_LISTENERS__WEB__BIND__PORT", "80"),
            ("LB_LOG__", "x"),
        ],
    )
    .unwrap_err();
    let lines: Vec<String> = err.iter().map(ToString::to_string).collect();
    assert_has(&lines, "env:LB_ADMIN__BIND: admin.bind: \"nonsense\" is not a socket address (expected ip:port, like \"0.0.0.0:8080\" or \"[::1]:8080\")");
    assert_has(&lines, "env:LB_LISTENERS__WEB__BND: listeners.web.bnd: unknown key (expected one of bind, protocol, tls, accept_proxy_protocol, header_timeout, idle_timeout, max_connections, upstream, send_proxy_protocol, session_timeout, max_flows)");
    assert_has(&lines, "env:LB_LISTENERS__WEB__ROUTES__5__UPSTREAM: listeners.web.routes: \"5\" is not an index of this list (expected 0 to 0)");
    assert_has(&lines, "env:LB_LISTENERS__WEB__BIND__PORT: listeners.web.bind is a single value, not a table: cannot set \"PORT\" inside it");
    assert_has(
        &lines,
        "env:LB_LOG__: malformed override (expected LB_KEY__KEY..., each key non-empty)",
    );
    assert!(
        lines.iter().any(|l| l.starts_with("env:LB_UPSTREAMS__API__SERVERS__0__WEIGHT: upstreams.api.servers[0].weight: expected an integer")),
        "{lines:#?}"
    );
}

#[test]
fn from_str_ignores_the_environment() {
    // from_str takes no environment; load_with_env with none gives the same.
    let a = from_str(MINIMAL, Format::Toml, "lb.toml").unwrap().config;
    let b = load_env("from_str_env", MINIMAL, &[]).unwrap().config;
    assert_eq!(a, b);
}
