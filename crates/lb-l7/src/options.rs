//! Plain option structs for listeners and upstreams, built by `lb-server`
//! from the configuration (or by hand when the crate is used alone).
//!
//! Every struct is `#[non_exhaustive]` with a `Default` matching SPEC §3, so
//! start from `Default::default()` and set the fields you need.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use rustls_pki_types::ServerName;

use crate::tls::TlsError;

/// Options of one `protocol = "http"` listener.
#[derive(Clone)]
#[non_exhaustive]
pub struct ListenerOptions {
    /// The whole request head must arrive within this long after the
    /// connection opened or, on a kept-alive connection, after the first
    /// byte of the next request (slowloris). Also bounds the TLS handshake.
    /// Default 10 s; zero disables it.
    pub header_timeout: Duration,
    /// A connection with no request in flight is closed after this long.
    /// Default 60 s; zero disables it.
    pub idle_timeout: Duration,
    /// Largest request head accepted, in bytes; beyond it the answer is 431.
    /// Default 64 KiB (HTTP/1.1 cannot go below 8 KiB).
    pub max_header_bytes: usize,
    /// Terminate TLS with this configuration (see [`crate::tls::server_config`]);
    /// `None` serves plain HTTP/1.1 and h2c on the same port. Default `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            tls: None,
        }
    }
}

impl fmt::Debug for ListenerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerOptions")
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The protocol spoken to the servers of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UpstreamProtocol {
    /// HTTP/1.1 with pooled keep-alive connections (the default).
    #[default]
    Http1,
    /// HTTP/2: h2c with prior knowledge, or h2 over TLS (ALPN `h2`). Requests
    /// are multiplexed on one connection per server and balanced one by one,
    /// which is what gRPC needs.
    Http2,
}

/// Where the hash algorithms (`ip_hash`, `consistent_hash`, `maglev`) take
/// their key from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HashKey {
    /// The client's IP address (the PROXY protocol source when there is one).
    #[default]
    ClientIp,
    /// The value of this request header (all values, in order, if repeated:
    /// the first one is used).
    Header(HeaderName),
    /// The value of this cookie.
    Cookie(String),
    /// The raw (not decoded) value of this query parameter.
    Query(String),
    /// The request path, without the query.
    Path,
}

/// Cookie affinity: the first response names the chosen server in a cookie;
/// later requests carrying it go to that server while it is available.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StickyOptions {
    /// The cookie name, e.g. `lb_srv`.
    pub cookie: String,
    /// `Max-Age` of the cookie; zero makes it a session cookie.
    pub max_age: Duration,
}

impl StickyOptions {
    /// Affinity through the cookie `cookie`, kept for `max_age`.
    #[must_use]
    pub fn new(cookie: impl Into<String>, max_age: Duration) -> Self {
        Self {
            cookie: cookie.into(),
            max_age,
        }
    }
}

/// When a failed request is tried again on another server.
///
/// A request is only retried while none of its body has been sent; requests
/// without a body always qualify.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Extra tries, each on a server not tried yet. Default 2; at most 7 are
    /// made whatever the value.
    pub attempts: u32,
    /// Retry when the server could not be reached (refused, connect timeout,
    /// TLS failure). Default true.
    pub on_connect_failure: bool,
    /// Retry when the connection failed before the response head (reset,
    /// closed, HTTP/2 stream refused). Default true.
    pub on_reset: bool,
    /// Retry when the route timeout expired before the response head; each
    /// try then gets the full route timeout. Default false.
    pub on_timeout: bool,
    /// Retry when the server answered 5xx. Default false.
    pub on_5xx: bool,
    /// Retries add at most this share to the request rate over the last
    /// 10 s (3 retries per second are always allowed). Default 0.2.
    pub budget: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 2,
            on_connect_failure: true,
            on_reset: true,
            on_timeout: false,
            on_5xx: false,
            budget: 0.2,
        }
    }
}

/// TLS towards the servers of an upstream.
#[derive(Clone)]
#[non_exhaustive]
pub struct UpstreamTls {
    /// The name sent in SNI and checked against the server's certificate.
    pub server_name: ServerName<'static>,
    /// The client configuration (see [`crate::tls::client_config`]); it must
    /// offer ALPN `h2` for [`UpstreamProtocol::Http2`].
    pub config: Arc<rustls::ClientConfig>,
}

impl UpstreamTls {
    /// TLS to servers presenting a certificate for `server_name` (a DNS name
    /// or an IP address).
    ///
    /// # Errors
    /// [`TlsError::ServerName`] if `server_name` is neither.
    pub fn new(server_name: &str, config: Arc<rustls::ClientConfig>) -> Result<Self, TlsError> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsError::ServerName(server_name.to_owned()))?;
        Ok(Self {
            server_name,
            config,
        })
    }
}

impl fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("server_name", &self.server_name)
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// Options of one upstream (a named set of servers).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UpstreamOptions {
    /// Protocol to the servers. Default [`UpstreamProtocol::Http1`].
    pub protocol: UpstreamProtocol,
    /// Time allowed to open a connection (TCP and TLS). Default 3 s.
    pub connect_timeout: Duration,
    /// TLS to the servers; `None` (the default) is plain TCP.
    pub tls: Option<UpstreamTls>,
    /// Where hash algorithms take their key from. Default client IP.
    pub hash_key: HashKey,
    /// Cookie affinity; `None` (the default) is off.
    pub sticky: Option<StickyOptions>,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Concurrent requests per server; 0 (the default) is unlimited. Full
    /// servers are skipped; when all are full the answer is 503.
    pub max_connections_per_server: u32,
    /// How long an idle pooled connection is kept. Default 90 s.
    pub pool_idle_timeout: Duration,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        Self {
            protocol: UpstreamProtocol::Http1,
            connect_timeout: Duration::from_secs(3),
            tls: None,
            hash_key: HashKey::ClientIp,
            sticky: None,
            retry: RetryPolicy::default(),
            max_connections_per_server: 0,
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}
