//! Shared helpers: the SPEC §3 example in three formats, temporary
//! directories with the TLS files it names, and error collection.

// Test helpers: each test binary uses some of them; a failed setup step should
// panic the test at once.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

/// SPEC §3, plus the upstreams it refers to but does not define (canary, db,
/// dns) so that it validates.
pub const SPEC_TOML: &str = r#"
[server]
workers = 0                  # runtime worker threads; 0 = one per core
shutdown_timeout = "30s"

[admin]
bind = "127.0.0.1:9901"
token = "..."

[log]
level = "info"
format = "text"
access_log = true

[listeners.web]
bind = "0.0.0.0:8443"
protocol = "http"
tls = { cert = "certs/site.pem", key = "certs/site.key" }
accept_proxy_protocol = false
header_timeout = "10s"
idle_timeout = "60s"
max_connections = 100000

[[listeners.web.routes]]
host = "example.com"
path_prefix = "/api/v2/"
methods = ["GET", "POST"]
headers = { "x-canary" = "true" }
upstream = "canary"
timeout = "30s"
request_headers  = { set = { "x-env" = "prod" }, remove = ["x-debug"] }
response_headers = { set = { "cache-control" = "public, max-age=2592000" } }

[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"

[listeners.pg]
bind = "0.0.0.0:5432"
protocol = "tcp"
upstream = "db"
send_proxy_protocol = "v2"
idle_timeout = "1h"

[listeners.dns]
bind = "0.0.0.0:5353"
protocol = "udp"
upstream = "dns"
session_timeout = "30s"

[upstreams.api]
algorithm = "least_conn"
hash_key = "client_ip"
vnodes = 160
bounded_load = 1.25
sticky = { cookie = "lb_srv", max_age = "1h" }
protocol = "http1"
connect_timeout = "3s"
max_connections_per_server = 0
dns_refresh = "30s"
servers = [
  { addr = "api1.internal:8080", weight = 3 },
  { addr = "127.0.0.1:9002" },
  { addr = "127.0.0.1:9004", backup = true },
]
tls = { server_name = "api.internal", ca = "ca.pem" }

[upstreams.api.health]
check = "http"
path = "/health"
expect_status = "200-399"
interval = "10s"
timeout = "3s"
unhealthy_threshold = 3
healthy_threshold = 2

[upstreams.api.passive]
consecutive_failures = 5
failure_rate = 0.5
failure_window = "10s"
min_requests = 20
ejection_time = "30s"
max_ejected_percent = 50

[upstreams.api.retry]
attempts = 2
on = ["connect_failure", "reset"]
budget = 0.2

[upstreams.canary]
servers = [{ addr = "127.0.0.1:9003" }]

[upstreams.db]
algorithm = "maglev"
servers = [{ addr = "10.0.0.5:5432" }, { addr = "10.0.0.6:5432" }]

[upstreams.dns]
algorithm = "consistent_hash"
servers = [{ addr = "10.0.0.53:53" }]
"#;

/// The same configuration in YAML.
pub const SPEC_YAML: &str = r#"
server:
  workers: 0
  shutdown_timeout: 30s
admin:
  bind: "127.0.0.1:9901"
  token: "..."
log:
  level: info
  format: text
  access_log: true
listeners:
  web:
    bind: "0.0.0.0:8443"
    protocol: http
    tls: { cert: certs/site.pem, key: certs/site.key }
    accept_proxy_protocol: false
    header_timeout: 10s
    idle_timeout: 60s
    max_connections: 100000
    routes:
      - host: example.com
        path_prefix: /api/v2/
        methods: [GET, POST]
        headers: { x-canary: "true" }
        upstream: canary
        timeout: 30s
        request_headers: { set: { x-env: prod }, remove: [x-debug] }
        response_headers: { set: { cache-control: "public, max-age=2592000" } }
      - path_prefix: /
        upstream: api
  pg:
    bind: "0.0.0.0:5432"
    protocol: tcp
    upstream: db
    send_proxy_protocol: v2
    idle_timeout: 1h
  dns:
    bind: "0.0.0.0:5353"
    protocol: udp
    upstream: dns
    session_timeout: 30s
upstreams:
  api:
    algorithm: least_conn
    hash_key: client_ip
    vnodes: 160
    bounded_load: 1.25
    sticky: { cookie: lb_srv, max_age: 1h }
    protocol: http1
    connect_timeout: 3s
    max_connections_per_server: 0
    dns_refresh: 30s
    servers:
      - { addr: "api1.internal:8080", weight: 3 }
      - { addr: "127.0.0.1:9002" }
      - { addr: "127.0.0.1:9004", backup: true }
    tls: { server_name: api.internal, ca: ca.pem }
    health:
      check: http
      path: /health
      expect_status: 200-399
      interval: 10s
      timeout: 3s
      unhealthy_threshold: 3
      healthy_threshold: 2
    passive:
      consecutive_failures: 5
      failure_rate: 0.5
      failure_window: 10s
      min_requests: 20
      ejection_time: 30s
      max_ejected_percent: 50
    retry:
      attempts: 2
      on: [connect_failure, reset]
      budget: 0.2
  canary:
    servers: [{ addr: "127.0.0.1:9003" }]
  db:
    algorithm: maglev
    servers: [{ addr: "10.0.0.5:5432" }, { addr: "10.0.0.6:5432" }]
  dns:
    algorithm: consistent_hash
    servers: [{ addr: "10.0.0.53:53" }]
"#;

/// The same configuration in JSON.
pub const SPEC_JSON: &str = r#"{
  "server": { "workers": 0, "shutdown_timeout": "30s" },
  "admin": { "bind": "127.0.0.1:9901", "token": "..." },
  "log": { "level": "info", "format": "text", "access_log": true },
  "listeners": {
    "web": {
      "bind": "0.0.0.0:8443", "protocol": "http",
      "tls": { "cert": "certs/site.pem", "key": "certs/site.key" },
      "accept_proxy_protocol": false, "header_timeout": "10s", "idle_timeout": "60s",
      "max_connections": 100000,
      "routes": [
        { "host": "example.com", "path_prefix": "/api/v2/", "methods": ["GET", "POST"],
          "headers": { "x-canary": "true" }, "upstream": "canary", "timeout": "30s",
          "request_headers": { "set": { "x-env": "prod" }, "remove": ["x-debug"] },
          "response_headers": { "set": { "cache-control": "public, max-age=2592000" } } },
        { "path_prefix": "/", "upstream": "api" }
      ]
    },
    "pg": { "bind": "0.0.0.0:5432", "protocol": "tcp", "upstream": "db",
            "send_proxy_protocol": "v2", "idle_timeout": "1h" },
    "dns": { "bind": "0.0.0.0:5353", "protocol": "udp", "upstream": "dns",
             "session_timeout": "30s" }
  },
  "upstreams": {
    "api": {
      "algorithm": "least_conn", "hash_key": "client_ip", "vnodes": 160, "bounded_load": 1.25,
      "sticky": { "cookie": "lb_srv", "max_age": "1h" }, "protocol": "http1",
      "connect_timeout": "3s", "max_connections_per_server": 0, "dns_refresh": "30s",
      "servers": [
        { "addr": "api1.internal:8080", "weight": 3 },
        { "addr": "127.0.0.1:9002" },
        { "addr": "127.0.0.1:9004", "backup": true }
      ],
      "tls": { "server_name": "api.internal", "ca": "ca.pem" },
      "health": { "check": "http", "path": "/health", "expect_status": "200-399",
                  "interval": "10s", "timeout": "3s", "unhealthy_threshold": 3,
                  "healthy_threshold": 2 },
      "passive": { "consecutive_failures": 5, "failure_rate": 0.5, "failure_window": "10s",
                   "min_requests": 20, "ejection_time": "30s", "max_ejected_percent": 50 },
      "retry": { "attempts": 2, "on": ["connect_failure", "reset"], "budget": 0.2 }
    },
    "canary": { "servers": [{ "addr": "127.0.0.1:9003" }] },
    "db": { "algorithm": "maglev",
            "servers": [{ "addr": "10.0.0.5:5432" }, { "addr": "10.0.0.6:5432" }] },
    "dns": { "algorithm": "consistent_hash", "servers": [{ "addr": "10.0.0.53:53" }] }
  }
}"#;

/// A fresh directory for `test`, holding the TLS files SPEC_* name.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("lb-config")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("certs")).unwrap();
    for file in ["certs/site.pem", "certs/site.key", "ca.pem"] {
        fs::write(dir.join(file), "placeholder, never read by lb-config").unwrap();
    }
    dir
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// The diagnostics of an invalid TOML configuration, as printed.
pub fn errors(text: &str) -> Vec<String> {
    match lb_config::from_str(text, lb_config::Format::Toml, "lb.toml") {
        Ok(loaded) => panic!("expected errors, got {:?}", loaded.config),
        Err(d) => d.iter().map(ToString::to_string).collect(),
    }
}

/// Asserts that `line` is among `lines`.
#[track_caller]
pub fn assert_has(lines: &[String], line: &str) {
    assert!(
        lines.iter().any(|l| l == line),
        "missing:\n  {line}\namong:\n  {}",
        lines.join("\n  ")
    );
}

/// A minimal valid configuration to append to.
pub const MINIMAL: &str = r#"
[listeners.web]
bind = "127.0.0.1:8080"

[[listeners.web.routes]]
path_prefix = "/"
upstream = "api"

[upstreams.api]
servers = [{ addr = "127.0.0.1:9001" }]
"#;
