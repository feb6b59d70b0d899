//! `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Real-IP`.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// `x-forwarded-for`: the chain of client addresses, ours appended last.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-forwarded-proto`: `http` or `https`, as the client spoke to us.
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `x-forwarded-host`: the `Host` the client sent.
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `x-real-ip`: the client address as we saw it.
pub static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// What the proxy knows about the client side of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// The client: the TCP peer, or the source a PROXY protocol header gave. An IPv4-mapped
    /// IPv6 address (`::ffff:192.0.2.1`, seen on dual-stack sockets) is written as IPv4.
    pub client_ip: IpAddr,
    /// The scheme the client used: `"http"` or `"https"`.
    pub proto: &'static str,
    /// The original `Host` (or `:authority`) as received, port included; `None` when the
    /// request had none.
    pub host: Option<HeaderValue>,
}

/// Adds the forwarding headers to a request about to be proxied.
///
/// - `X-Forwarded-For`: the client address is appended to what the request carried, as one
///   line (`"203.0.113.7, 10.1.2.3"`); the earlier entries are kept as received.
/// - `X-Forwarded-Proto`: set to `proto` (replacing any value the client sent).
/// - `X-Forwarded-Host`: set to `host`; removed when `host` is `None`, so a client cannot
///   supply its own.
/// - `X-Real-IP`: set to the client address.
///
/// `Host` itself is not touched. Apply after [`strip_hop_by_hop`](super::strip_hop_by_hop), so
/// that a client cannot have these removed by naming them in `Connection`.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use lb_l7::headers::{apply_forwarded, Forwarded};
///
/// let mut h = HeaderMap::new();
/// h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
/// let fwd = Forwarded {
///     client_ip: "10.1.2.3".parse()?,
///     proto: "https",
///     host: Some(HeaderValue::from_static("example.com")),
/// };
/// apply_forwarded(&mut h, &fwd);
/// assert_eq!(h["x-forwarded-for"], "203.0.113.7, 10.1.2.3");
/// assert_eq!(h["x-forwarded-proto"], "https");
/// assert_eq!(h["x-forwarded-host"], "example.com");
/// assert_eq!(h["x-real-ip"], "10.1.2.3");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn apply_forwarded(headers: &mut HeaderMap, f: &Forwarded) {
    let mut ip = IpText::new();
    // An IP address always fits (at most 45 bytes); on the impossible failure write nothing.
    if ip.write_ip(f.client_ip.to_canonical()).is_ok() {
        if let Ok(real_ip) = HeaderValue::from_bytes(ip.as_bytes()) {
            let xff = appended_xff(headers, ip.as_bytes()).unwrap_or_else(|| real_ip.clone());
            headers.insert(X_FORWARDED_FOR.clone(), xff);
            headers.insert(X_REAL_IP.clone(), real_ip);
        }
    }
    match proto_value(f.proto) {
        Some(v) => headers.insert(X_FORWARDED_PROTO.clone(), v),
        None => headers.remove(&X_FORWARDED_PROTO),
    };
    match &f.host {
        Some(host) => headers.insert(X_FORWARDED_HOST.clone(), host.clone()),
        None => headers.remove(&X_FORWARDED_HOST),
    };
}

/// The existing `X-Forwarded-For` lines joined with `", "`, plus the client address; `None`
/// when there is nothing (non-blank) to append to.
fn appended_xff(headers: &HeaderMap, ip: &[u8]) -> Option<HeaderValue> {
    let existing = headers.get_all(&X_FORWARDED_FOR);
    let lines = || {
        existing
            .iter()
            .map(|v| v.as_bytes().trim_ascii())
            .filter(|v| !v.is_empty())
    };
    let len: usize = lines().map(|v| v.len() + 2).sum();
    if len == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(len + ip.len());
    for line in lines() {
        out.extend_from_slice(line);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(ip);
    HeaderValue::try_from(out).ok()
}

/// Static values for the two schemes; anything else is validated (and copied) once.
fn proto_value(proto: &'static str) -> Option<HeaderValue> {
    match proto {
        "http" => Some(HeaderValue::from_static("http")),
        "https" => Some(HeaderValue::from_static("https")),
        other => HeaderValue::from_str(other).ok(),
    }
}

/// An IP address formatted on the stack.
struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl IpText {
    fn new() -> Self {
        Self {
            buf: [0; 48],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Writes `ip`: IPv4 digit by digit (the common case, per request: `core::fmt` cost more
    /// than the rest of the forwarding headers together), IPv6 through `Display`.
    fn write_ip(&mut self, ip: IpAddr) -> fmt::Result {
        match ip {
            IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.push(b'.')?;
                    }
                    if octet >= 100 {
                        self.push(b'0' + octet / 100)?;
                    }
                    if octet >= 10 {
                        self.push(b'0' + octet / 10 % 10)?;
                    }
                    self.push(b'0' + octet % 10)?;
                }
                Ok(())
            }
            IpAddr::V6(v6) => write!(self, "{v6}"),
        }
    }

    fn push(&mut self, byte: u8) -> fmt::Result {
        let slot = self.buf.get_mut(self.len).ok_or(fmt::Error)?;
        *slot = byte;
        self.len += 1;
        Ok(())
    }
}

impl fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_ipv6_fits_and_mapped_v4_is_canonical() {
        let mut h = HeaderMap::new();
        let mut f = Forwarded {
            client_ip: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
            proto: "http",
            host: None,
        };
        apply_forwarded(&mut h, &f);
        assert_eq!(h[&X_REAL_IP], "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        f.client_ip = "::ffff:192.0.2.1".parse().unwrap();
        apply_forwarded(&mut h, &f);
        assert_eq!(h[&X_REAL_IP], "192.0.2.1");
        assert_eq!(
            h[&X_FORWARDED_FOR],
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, 192.0.2.1"
        );
    }

    #[test]
    fn bad_proto_is_dropped_not_panicking() {
        let mut h = HeaderMap::new();
        h.insert(
            X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static("gopher"),
        );
        apply_forwarded(
            &mut h,
            &Forwarded {
                client_ip: [127, 0, 0, 1].into(),
                proto: "a\nb",
                host: None,
            },
        );
        assert!(!h.contains_key(&X_FORWARDED_PROTO));
    }

    #[test]
    fn ipv4_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "10.20.30.40",
            "100.200.255.9",
            "255.255.255.255",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut text = IpText::new();
            text.write_ip(ip).unwrap();
            assert_eq!(text.as_bytes(), ip.to_string().as_bytes());
        }
    }
}
