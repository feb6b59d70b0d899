//! The lb configuration: schema, loading, validation and diffing for reload.
//!
//! `lb-config` turns a TOML, YAML or JSON file plus `LB_…` environment
//! overrides into a typed [`Config`] (SPEC §3), or into [`Diagnostics`] that
//! name the file, the key path, what is wrong and what is allowed — every
//! error at once, like `nginx -t`. It depends on none of lb's other crates and
//! does no I/O beyond reading the file and checking that TLS files exist.
//!
//! - [`load`] / [`load_with_env`] / [`from_str`]: parse, override, validate.
//! - [`Config::validate`]: the semantic checks alone, for configs built in code.
//! - [`diff`]: what a reload changes ([`ConfigDiff`]).
//!
//! The full reference of keys, defaults and override rules is
//! `docs/config.md`.
//!
//! # Example
//!
//! ```
//! use lb_config::{Format, ListenerKind};
//!
//! let text = r#"
//!     [listeners.web]
//!     bind = "127.0.0.1:8080"
//!
//!     [[listeners.web.routes]]
//!     path_prefix = "/"
//!     upstream = "api"
//!
//!     [upstreams.api]
//!     algorithm = "least_conn"
//!     servers = [{ addr = "127.0.0.1:9001", weight = 3 }, { addr = "127.0.0.1:9002" }]
//! "#;
//! let loaded = lb_config::from_str(text, Format::Toml, "lb.toml").unwrap();
//! assert_eq!(loaded.summary(), "lb.toml: ok: 1 listener, 1 upstream, 2 servers, 1 route");
//! let ListenerKind::Http(http) = &loaded.config.listeners["web"].kind else { panic!() };
//! assert_eq!(http.idle_timeout, std::time::Duration::from_secs(60)); // a default
//!
//! // Errors name the file and the key path, and all are reported at once.
//! let bad = text.replace("127.0.0.1:9002", "10.0.0.1").replace("least_conn", "fastest");
//! let errors = lb_config::from_str(&bad, Format::Toml, "lb.toml").unwrap_err();
//! assert_eq!(errors.to_string(), "\
//! lb.toml: upstreams.api.algorithm: unknown value \"fastest\" (expected one of round_robin, \
//! least_conn, random, p2c, peak_ewma, ip_hash, consistent_hash, maglev)
//! lb.toml: upstreams.api.servers[1].addr: \"10.0.0.1\" has no port (expected host:port)");
//! ```

mod addr;
mod collect;
mod de;
mod diagnostic;
mod diff;
mod env;
mod load;
mod model;
mod parse;
mod raw;
mod validate;

pub use addr::ServerAddr;
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use diff::{diff, ConfigDiff, ListenerChange, ServerChange, UpstreamChange};
pub use env::{ENV_PREFIX, ENV_SEPARATOR};
pub use load::{from_str, load, load_with_env};
pub use model::health::{
    HealthCheckKind, HealthConfig, PassiveConfig, RetryConfig, RetryOn, StatusRange,
};
pub use model::listener::{
    CertKey, HttpListenerConfig, ListenerConfig, ListenerKind, ListenerProtocol, ListenerTls,
    ProxyProtocolVersion, SniCertificate, TcpListenerConfig, UdpListenerConfig,
    DEFAULT_HEADER_TIMEOUT, DEFAULT_HTTP_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_FLOWS,
    DEFAULT_TCP_IDLE_TIMEOUT, DEFAULT_UDP_SESSION_TIMEOUT,
};
pub use model::route::{
    HeaderMatch, HeaderRewrite, HostPattern, PathMatch, RouteConfig, RouteTarget,
    DEFAULT_ROUTE_TIMEOUT,
};
pub use model::server::{AdminConfig, LogConfig, LogFormat, ServerConfig};
pub use model::upstream::{
    Algorithm, HashKey, StickyConfig, UpstreamConfig, UpstreamProtocol, UpstreamServer,
    UpstreamTls, DEFAULT_TABLE_SIZE, DEFAULT_VNODES, MAX_TABLE_SIZE, MAX_WEIGHT,
};
pub use model::{Config, Loaded};
pub use parse::Format;
