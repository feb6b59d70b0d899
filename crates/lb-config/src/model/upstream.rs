//! `[upstreams.NAME]`: a set of servers and how to balance over them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::addr::ServerAddr;
use crate::de::{self, string_enum};
use crate::model::health::{HealthConfig, PassiveConfig, RetryConfig};

/// Default `vnodes` (consistent_hash ring points per unit of weight).
pub const DEFAULT_VNODES: u32 = 160;
/// Default Maglev `table_size` (a prime).
pub const DEFAULT_TABLE_SIZE: u32 = 65_537;
/// Largest accepted Maglev `table_size`.
pub const MAX_TABLE_SIZE: u32 = 1_048_573;
/// Largest accepted server `weight`.
pub const MAX_WEIGHT: u32 = 10_000;

/// One upstream: servers plus balancing, connection, health and retry policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// The balancing algorithm. Default `round_robin`.
    pub algorithm: Algorithm,
    /// What hash algorithms (`ip_hash`, `consistent_hash`, `maglev`) hash.
    /// Default `client_ip`.
    pub hash_key: HashKey,
    /// consistent_hash: ring points per unit of weight, 1-10000. Default 160.
    pub vnodes: u32,
    /// consistent_hash/maglev: no server above this × the average load
    /// (in-flight requests, or open connections for L4); must be > 1.0.
    /// Default none (unbounded).
    pub bounded_load: Option<f64>,
    /// maglev: lookup table size; a prime, larger than the number of servers,
    /// at most 1048573. Default 65537.
    pub table_size: u32,
    /// Cookie affinity. Default none.
    pub sticky: Option<StickyConfig>,
    /// The protocol spoken to servers. Default `http1`.
    pub protocol: UpstreamProtocol,
    /// Connect (and TLS handshake) timeout. Default 3 s.
    #[serde(deserialize_with = "de::duration")]
    pub connect_timeout: Duration,
    /// Concurrent requests (L7) or connections (L4) per server; `0` (the
    /// default) = unlimited. When every server is full: 503.
    pub max_connections_per_server: usize,
    /// Servers given by host name are re-resolved this often. Default 30 s.
    #[serde(deserialize_with = "de::duration")]
    pub dns_refresh: Duration,
    /// The servers, in order. At least one; addresses unique.
    pub servers: Vec<UpstreamServer>,
    /// TLS to the servers. Default none (plain).
    pub tls: Option<UpstreamTls>,
    /// Active health checks. Default none.
    pub health: Option<HealthConfig>,
    /// Passive outlier detection; absent = the defaults of [`PassiveConfig`].
    pub passive: PassiveConfig,
    /// Retries; absent = the defaults of [`RetryConfig`].
    pub retry: RetryConfig,
}

string_enum! {
    /// The `algorithm` of an upstream (SPEC §4).
    #[derive(Default)]
    pub enum Algorithm {
        /// Smooth weighted round robin (the default).
        #[default]
        RoundRobin => "round_robin",
        /// Fewest in-flight per weight.
        LeastConn => "least_conn",
        /// Weighted random.
        Random => "random",
        /// Power of two weighted-random choices.
        P2c => "p2c",
        /// p2c on peak-EWMA latency.
        PeakEwma => "peak_ewma",
        /// The client address picks the server.
        IpHash => "ip_hash",
        /// Ring hash with `vnodes` points per unit of weight.
        ConsistentHash => "consistent_hash",
        /// Maglev lookup table of `table_size` entries.
        Maglev => "maglev",
    }
}

/// `hash_key`: the request property hash algorithms hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum HashKey {
    /// `client_ip`: the client address (the PROXY protocol source if any).
    #[default]
    ClientIp,
    /// `header:NAME`: a request header's value (name lower-cased).
    Header(String),
    /// `cookie:NAME`: a cookie's value.
    Cookie(String),
    /// `query:NAME`: a query parameter's value.
    Query(String),
    /// `path`: the request path (without query).
    Path,
}

string_enum! {
    /// `protocol` of an upstream: what is spoken to servers.
    #[derive(Default)]
    pub enum UpstreamProtocol {
        /// HTTP/1.1 (the default).
        #[default]
        Http1 => "http1",
        /// HTTP/2: h2c, or h2 over TLS. Needed for gRPC.
        Http2 => "http2",
    }
}

/// One entry of `servers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamServer {
    /// `"host:port"`; host an IP address or a DNS name. Required.
    pub addr: ServerAddr,
    /// Relative weight, 1-10000. Default 1.
    #[serde(default = "one")]
    pub weight: u32,
    /// Used only when no primary server is available. Default `false`.
    #[serde(default)]
    pub backup: bool,
}

/// `sticky`: cookie affinity. A request carrying the cookie goes to the server
/// it names (an opaque id) while that server is available.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StickyConfig {
    /// The cookie name. Default `lb_srv`.
    pub cookie: String,
    /// The cookie's `Max-Age`. Default none: a session cookie.
    #[serde(deserialize_with = "de::opt_duration")]
    pub max_age: Option<Duration>,
}

/// `tls`: TLS to the servers. Paths are resolved against the config file's
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamTls {
    /// SNI and the name verified in the certificate. Default: the server's
    /// host (for IP addresses, the IP).
    pub server_name: Option<String>,
    /// PEM CA bundle to verify servers with. Default: the webpki roots.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain, for mTLS (with `key`). Default none.
    pub cert: Option<PathBuf>,
    /// PEM client private key, for mTLS (with `cert`). Default none.
    pub key: Option<PathBuf>,
}

fn one() -> u32 {
    1
}

// === impl UpstreamConfig ===

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::RoundRobin,
            hash_key: HashKey::ClientIp,
            vnodes: DEFAULT_VNODES,
            bounded_load: None,
            table_size: DEFAULT_TABLE_SIZE,
            sticky: None,
            protocol: UpstreamProtocol::Http1,
            connect_timeout: Duration::from_secs(3),
            max_connections_per_server: 0,
            dns_refresh: Duration::from_secs(30),
            servers: Vec::new(),
            tls: None,
            health: None,
            passive: PassiveConfig::default(),
            retry: RetryConfig::default(),
        }
    }
}

// === impl Algorithm ===

impl Algorithm {
    /// Whether the algorithm picks by hashing `hash_key`.
    pub fn is_hash(self) -> bool {
        matches!(self, Self::IpHash | Self::ConsistentHash | Self::Maglev)
    }
}

// === impl HashKey ===

impl FromStr for HashKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let expected = "expected client_ip, header:NAME, cookie:NAME, query:NAME or path";
        match s {
            "client_ip" => return Ok(Self::ClientIp),
            "path" => return Ok(Self::Path),
            _ => {}
        }
        let Some((kind, name)) = s.split_once(':') else {
            return Err(format!("unknown value {s:?} ({expected})"));
        };
        if name.is_empty() {
            return Err(format!("{s:?} names no {kind} ({expected})"));
        }
        match kind {
            "header" if de::is_header_name(name) => Ok(Self::Header(name.to_ascii_lowercase())),
            "header" => Err(format!("{s:?}: {name:?} is not a valid header name")),
            "cookie" if name.bytes().all(de::is_tchar) => Ok(Self::Cookie(name.to_owned())),
            "cookie" => Err(format!("{s:?}: {name:?} is not a valid cookie name")),
            "query" => Ok(Self::Query(name.to_owned())),
            _ => Err(format!("unknown value {s:?} ({expected})")),
        }
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientIp => f.write_str("client_ip"),
            Self::Header(n) => write!(f, "header:{n}"),
            Self::Cookie(n) => write!(f, "cookie:{n}"),
            Self::Query(n) => write!(f, "query:{n}"),
            Self::Path => f.write_str("path"),
        }
    }
}

impl<'de> Deserialize<'de> for HashKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// === impl StickyConfig ===

impl Default for StickyConfig {
    fn default() -> Self {
        Self {
            cookie: "lb_srv".to_owned(),
            max_age: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_keys_round_trip() {
        for s in [
            "client_ip",
            "path",
            "header:x-user",
            "cookie:sid",
            "query:id",
        ] {
            assert_eq!(s.parse::<HashKey>().unwrap().to_string(), s);
        }
        assert_eq!(
            "header:X-User".parse::<HashKey>().unwrap(),
            HashKey::Header("x-user".into())
        );
        for bad in ["ip", "header:", "header:a b", "body:x", "cookie:a;b"] {
            assert!(bad.parse::<HashKey>().is_err(), "{bad}");
        }
    }
}
