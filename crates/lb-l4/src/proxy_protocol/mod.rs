//! The PROXY protocol, versions 1 (text) and 2 (binary), as specified by
//! HAProxy (`doc/proxy-protocol.txt`).
//!
//! A proxy in front of lb (or lb in front of a server) prepends one header to
//! a TCP connection that names the real client and the address it connected
//! to. This module holds a strict, allocation-free parser ([`parse`]), an
//! encoder ([`encode`]) and an async reader for accepted connections
//! ([`accept`]) that both the L4 and the L7 listeners use.
//!
//! ```
//! use lb_l4::proxy_protocol::{encode, parse, Version};
//!
//! let mut wire = Vec::new();
//! encode(Version::V1, "192.168.0.1:56324".parse()?, "192.168.0.11:443".parse()?, &mut wire);
//! assert_eq!(wire, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
//!
//! wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
//! let (header, consumed) = parse(&wire)?.expect("complete header");
//! assert_eq!(header.source, Some("192.168.0.1:56324".parse()?));
//! assert_eq!(&wire[consumed..], b"GET / HTTP/1.1\r\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The parser follows the specification's receiver rules: it never guesses
//! whether a header is present (bytes that cannot start a header are an
//! error), it needs the whole header before it decodes addresses, it rejects
//! a v1 line without CRLF in the first 107 bytes, and it rejects anything the
//! specification calls invalid (leading zeroes, unknown commands, families or
//! protocols, short address blocks, malformed TLVs). It never panics.

mod accept;
mod v1;
mod v2;

use std::net::{IpAddr, SocketAddr};

pub use accept::{accept, Prefixed};
pub use v1::V1_MAX_LEN;
pub use v2::{V2_MAX_LEN, V2_SIGNATURE};

/// A PROXY protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The human-readable text line (`PROXY TCP4 ...\r\n`).
    V1,
    /// The binary header starting with [`V2_SIGNATURE`].
    V2,
}

impl Version {
    /// `"v1"` or `"v2"`, as in the configuration.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

impl std::str::FromStr for Version {
    type Err = ProxyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v1" | "V1" | "1" => Ok(Version::V1),
            "v2" | "V2" | "2" => Ok(Version::V2),
            _ => Err(ProxyError::Invalid(
                "unknown PROXY protocol version (expected v1 or v2)",
            )),
        }
    }
}

/// A decoded PROXY protocol header.
///
/// `source` and `destination` are `None` when the header carries no usable
/// address: v1 `UNKNOWN`, v2 `LOCAL`, or a v2 `AF_UNSPEC` / `AF_UNIX` family.
/// The receiver then uses the real connection's addresses. v2 TLVs are
/// checked for framing and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyHeader {
    /// Which version the header was.
    pub version: Version,
    /// The original client (layer 3 address and layer 4 port).
    pub source: Option<SocketAddr>,
    /// The address the client connected to.
    pub destination: Option<SocketAddr>,
}

impl ProxyHeader {
    /// A header without addresses (`UNKNOWN` / `LOCAL`).
    #[must_use]
    pub const fn unknown(version: Version) -> Self {
        Self {
            version,
            source: None,
            destination: None,
        }
    }

    /// A header naming a client and the address it connected to.
    #[must_use]
    pub const fn new(version: Version, source: SocketAddr, destination: SocketAddr) -> Self {
        Self {
            version,
            source: Some(source),
            destination: Some(destination),
        }
    }
}

/// Why a PROXY protocol header was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The bytes cannot start a PROXY protocol header of either version.
    #[error("not a PROXY protocol header")]
    NotProxyProtocol,
    /// The header breaks the specification; the text says which rule.
    #[error("invalid PROXY protocol header: {0}")]
    Invalid(&'static str),
    /// The header is longer than this implementation accepts
    /// ([`V1_MAX_LEN`], [`V2_MAX_LEN`]).
    #[error("PROXY protocol header too long")]
    TooLong,
    /// The header did not arrive within the timeout given to [`accept`].
    #[error("PROXY protocol header not received in time")]
    Timeout,
    /// The peer closed the connection before the header was complete.
    #[error("connection closed before the PROXY protocol header was complete")]
    UnexpectedEof,
    /// Reading the header failed.
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Parse a PROXY protocol header (either version) at the start of `buf`.
///
/// Returns `Ok(Some((header, consumed)))` once a whole, valid header is in
/// `buf` (the application's bytes start at `buf[consumed..]`), `Ok(None)` if
/// `buf` is a valid prefix of a header and more bytes are needed.
///
/// # Errors
/// [`ProxyError::NotProxyProtocol`] if `buf` cannot start a header,
/// [`ProxyError::Invalid`] or [`ProxyError::TooLong`] if it breaks the
/// specification. Never panics, whatever the input.
pub fn parse(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if is_prefix_of(buf, &V2_SIGNATURE) {
        return v2::parse(buf);
    }
    if is_prefix_of(buf, v1::PREFIX) {
        return v1::parse(buf);
    }
    Err(ProxyError::NotProxyProtocol)
}

/// Whether `buf` starts with `magic` or is a (shorter) prefix of it.
fn is_prefix_of(buf: &[u8], magic: &[u8]) -> bool {
    let n = buf.len().min(magic.len());
    buf[..n] == magic[..n]
}

/// Append the header for a connection from `src` to `dst` to `out`.
///
/// v1 writes `TCP4` or `TCP6`; v2 writes a `PROXY` command with `STREAM`
/// over `AF_INET` or `AF_INET6` and no TLVs. IPv4-mapped IPv6 addresses are
/// written as IPv4; if the two families still differ, both are written as
/// IPv6 (the IPv4 one mapped), since a header has only one family.
pub fn encode(version: Version, src: SocketAddr, dst: SocketAddr, out: &mut Vec<u8>) {
    let (src, dst) = same_family(src, dst);
    match version {
        Version::V1 => v1::encode(src, dst, out),
        Version::V2 => v2::encode(src, dst, out),
    }
}

/// Append a header without addresses: v1 `PROXY UNKNOWN\r\n`, v2 `LOCAL`
/// with `AF_UNSPEC`. Senders use it for their own connections (health checks).
pub fn encode_unknown(version: Version, out: &mut Vec<u8>) {
    match version {
        Version::V1 => out.extend_from_slice(b"PROXY UNKNOWN\r\n"),
        Version::V2 => v2::encode_local(out),
    }
}

fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let src = SocketAddr::new(src.ip().to_canonical(), src.port());
    let dst = SocketAddr::new(dst.ip().to_canonical(), dst.port());
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V6(_)) => (
            SocketAddr::new(IpAddr::V6(s.to_ipv6_mapped()), src.port()),
            dst,
        ),
        (IpAddr::V6(_), IpAddr::V4(d)) => (
            src,
            SocketAddr::new(IpAddr::V6(d.to_ipv6_mapped()), dst.port()),
        ),
        _ => (src, dst),
    }
}
