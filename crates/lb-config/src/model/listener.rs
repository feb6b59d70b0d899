//! `[listeners.NAME]`: where traffic comes in, and what kind.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::de::string_enum;
use crate::model::route::RouteConfig;

/// Default `header_timeout` of an http listener: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `idle_timeout` of an http listener (keep-alive idle): 60 s.
pub const DEFAULT_HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `idle_timeout` of a tcp listener (no byte either way): 1 h.
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default `session_timeout` of a udp listener: 30 s.
pub const DEFAULT_UDP_SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `max_connections` of http and tcp listeners.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100_000;
/// Default `max_flows` of a udp listener.
pub const DEFAULT_MAX_FLOWS: usize = 10_000;

/// One listener: a bound address and what it speaks.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerConfig {
    /// The address to bind (`ip:port`; port 0 picks a free one). Required.
    pub bind: SocketAddr,
    /// The protocol (`protocol = "http" | "tcp" | "udp"`, default `http`) and
    /// its settings.
    pub kind: ListenerKind,
}

/// A listener's protocol and the settings that belong to it.
#[derive(Debug, Clone, PartialEq)]
pub enum ListenerKind {
    /// `protocol = "http"`: HTTP/1.1 and HTTP/2, routed.
    Http(HttpListenerConfig),
    /// `protocol = "tcp"`: bytes both ways to one upstream.
    Tcp(TcpListenerConfig),
    /// `protocol = "udp"`: datagram flows to one upstream.
    Udp(UdpListenerConfig),
}

string_enum! {
    /// The `protocol` key of a listener.
    #[derive(Default)]
    pub enum ListenerProtocol {
        /// HTTP/1.1 and HTTP/2 (the default).
        #[default]
        Http => "http",
        /// TCP (layer 4).
        Tcp => "tcp",
        /// UDP (layer 4).
        Udp => "udp",
    }
}

/// Settings of an http listener.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpListenerConfig {
    /// Terminate TLS (ALPN h2 and http/1.1). Default none: plain HTTP (h2c by
    /// prior knowledge).
    pub tls: Option<ListenerTls>,
    /// Take the client address from a PROXY protocol v1/v2 header. Default
    /// `false`.
    pub accept_proxy_protocol: bool,
    /// The whole request head must arrive within this. Default 10 s.
    pub header_timeout: Duration,
    /// Keep-alive idle timeout. Default 60 s.
    pub idle_timeout: Duration,
    /// Open connections beyond this wait in the backlog. Default 100000.
    pub max_connections: usize,
    /// Routes in order; the first that matches wins. At least one.
    pub routes: Vec<RouteConfig>,
}

/// Settings of a tcp listener.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpListenerConfig {
    /// The upstream every connection goes to. Required.
    pub upstream: String,
    /// Take the client address from a PROXY protocol v1/v2 header. Default
    /// `false`.
    pub accept_proxy_protocol: bool,
    /// Send a PROXY protocol header of this version to the server. Default
    /// none.
    pub send_proxy_protocol: Option<ProxyProtocolVersion>,
    /// Close a connection with no byte either way for this long. Default 1 h.
    pub idle_timeout: Duration,
    /// Open connections beyond this wait in the backlog. Default 100000.
    pub max_connections: usize,
}

/// Settings of a udp listener.
#[derive(Debug, Clone, PartialEq)]
pub struct UdpListenerConfig {
    /// The upstream every flow goes to. Required.
    pub upstream: String,
    /// A flow (one client address) with no datagram for this long is
    /// forgotten. Default 30 s.
    pub session_timeout: Duration,
    /// At most this many flows at once; datagrams that would start another
    /// are dropped. Default 10000.
    pub max_flows: usize,
}

string_enum! {
    /// `send_proxy_protocol`: which PROXY protocol version to send.
    pub enum ProxyProtocolVersion {
        /// The text format.
        V1 => "v1",
        /// The binary format.
        V2 => "v2",
    }
}

/// TLS termination on an http listener.
///
/// Written `tls = { cert = "...", key = "..." }` (one certificate), or
/// `tls = { certificates = [{ server_names = [...], cert = "...", key = "..." }] }`
/// (chosen by SNI), or both (the single one is the default when no SNI entry
/// matches). Paths are resolved against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// The certificate used when no SNI entry matches (or no SNI was sent).
    pub default: Option<CertKey>,
    /// Certificates chosen by the SNI server name.
    pub certificates: Vec<SniCertificate>,
}

/// A PEM certificate chain and its PEM private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertKey {
    /// The certificate chain file (resolved path).
    pub cert: PathBuf,
    /// The private key file (resolved path).
    pub key: PathBuf,
}

/// A certificate served for some SNI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SniCertificate {
    /// Names this certificate is for: exact (`a.example`) or one leading
    /// wildcard label (`*.example.com`), lower-cased. At least one.
    pub server_names: Vec<String>,
    /// The certificate and key files.
    pub files: CertKey,
}

// === impl ListenerConfig ===

impl ListenerConfig {
    /// The protocol.
    pub fn protocol(&self) -> ListenerProtocol {
        match self.kind {
            ListenerKind::Http(_) => ListenerProtocol::Http,
            ListenerKind::Tcp(_) => ListenerProtocol::Tcp,
            ListenerKind::Udp(_) => ListenerProtocol::Udp,
        }
    }

    /// The routes of an http listener; empty for tcp and udp.
    pub fn routes(&self) -> &[RouteConfig] {
        match &self.kind {
            ListenerKind::Http(h) => &h.routes,
            _ => &[],
        }
    }

    /// Every upstream this listener can send to (routes' upstreams and split
    /// members, or the tcp/udp upstream), possibly with repeats.
    pub fn upstream_names(&self) -> Vec<&str> {
        match &self.kind {
            ListenerKind::Http(h) => h
                .routes
                .iter()
                .flat_map(|r| r.target.upstream_names())
                .collect(),
            ListenerKind::Tcp(t) => vec![t.upstream.as_str()],
            ListenerKind::Udp(u) => vec![u.upstream.as_str()],
        }
    }
}
