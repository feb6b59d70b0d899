//! Version 1: one line of US-ASCII text ending in CRLF.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{ProxyError, ProxyHeader, Version};

/// What every v1 header starts with.
pub(super) const PREFIX: &[u8] = b"PROXY ";

/// The longest v1 line a receiver must accept, CRLF included (the
/// specification's worst case, `PROXY UNKNOWN` with two full IPv6 addresses).
/// A line without CRLF in its first 107 bytes is rejected.
pub const V1_MAX_LEN: usize = 107;

/// Parse a v1 line; `buf` starts with (a prefix of) [`PREFIX`].
pub(super) fn parse(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(end) = window.iter().position(|&b| !is_line_char(b)) else {
        return if buf.len() >= V1_MAX_LEN {
            Err(ProxyError::TooLong)
        } else {
            Ok(None)
        };
    };
    match window[end] {
        b'\r' => {}
        b'\n' => return Err(ProxyError::Invalid("v1 line ends in LF without CR")),
        _ => {
            return Err(ProxyError::Invalid(
                "v1 line has a byte that is not printable US-ASCII",
            ))
        }
    }
    match window.get(end + 1) {
        Some(b'\n') => {}
        Some(_) => return Err(ProxyError::Invalid("v1 line has CR without LF")),
        None if end + 1 >= V1_MAX_LEN => return Err(ProxyError::TooLong),
        None => return Ok(None),
    }
    // The prefix check only matched a prefix of PREFIX when the line is
    // shorter than it (e.g. "PROX\r\n").
    let Some(rest) = window[..end].strip_prefix(PREFIX) else {
        return Err(ProxyError::NotProxyProtocol);
    };
    Ok(Some((decode(rest)?, end + 2)))
}

/// Printable US-ASCII, the only bytes allowed before the CRLF.
fn is_line_char(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// Decode the line after `"PROXY "`, without the CRLF.
fn decode(rest: &[u8]) -> Result<ProxyHeader, ProxyError> {
    if let Some(tail) = rest.strip_prefix(b"UNKNOWN") {
        // "the receiver must ignore anything presented before the CRLF"
        return if tail.is_empty() || tail[0] == b' ' {
            Ok(ProxyHeader::unknown(Version::V1))
        } else {
            Err(ProxyError::Invalid(
                "v1 protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        };
    }
    let (v6, fields) = if let Some(f) = rest.strip_prefix(b"TCP4 ") {
        (false, f)
    } else if let Some(f) = rest.strip_prefix(b"TCP6 ") {
        (true, f)
    } else {
        return Err(ProxyError::Invalid(
            "v1 protocol is not TCP4, TCP6 or UNKNOWN",
        ));
    };
    let mut it = fields.split(|&b| b == b' ');
    let mut next = || {
        it.next()
            .ok_or(ProxyError::Invalid("v1 line has too few fields"))
    };
    let (src, dst, sport, dport) = (next()?, next()?, next()?, next()?);
    if it.next().is_some() {
        return Err(ProxyError::Invalid("v1 line has too many fields"));
    }
    let (src, dst) = if v6 {
        (IpAddr::V6(ipv6(src)?), IpAddr::V6(ipv6(dst)?))
    } else {
        (IpAddr::V4(ipv4(src)?), IpAddr::V4(ipv4(dst)?))
    };
    Ok(ProxyHeader::new(
        Version::V1,
        SocketAddr::new(src, port(sport)?),
        SocketAddr::new(dst, port(dport)?),
    ))
}

fn ipv4(field: &[u8]) -> Result<Ipv4Addr, ProxyError> {
    // std rejects leading zeroes in octets, as the specification asks.
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ProxyError::Invalid("v1 TCP4 address is not IPv4"))
}

fn ipv6(field: &[u8]) -> Result<Ipv6Addr, ProxyError> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ProxyError::Invalid("v1 TCP6 address is not IPv6"))
}

/// A decimal port in `0..=65535` without leading zeroes.
fn port(field: &[u8]) -> Result<u16, ProxyError> {
    const BAD: ProxyError = ProxyError::Invalid("v1 port is not a decimal in 0..=65535");
    if field.is_empty() || field.len() > 5 || (field.len() > 1 && field[0] == b'0') {
        return Err(BAD);
    }
    let mut value: u32 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return Err(BAD);
        }
        value = value * 10 + u32::from(b - b'0');
    }
    u16::try_from(value).map_err(|_| BAD)
}

/// Append `PROXY TCP4|TCP6 src dst sport dport\r\n`; both addresses have the
/// same family (the caller made sure).
pub(super) fn encode(src: SocketAddr, dst: SocketAddr, out: &mut Vec<u8>) {
    let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "PROXY {proto} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_strict() {
        assert_eq!(port(b"0").ok(), Some(0));
        assert_eq!(port(b"65535").ok(), Some(65535));
        for bad in [
            &b""[..],
            b"00",
            b"0443",
            b"65536",
            b"99999",
            b"123456",
            b"-1",
            b"+1",
            b"1a",
        ] {
            assert!(port(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ipv4_rejects_leading_zeroes() {
        assert!(ipv4(b"192.168.0.1").is_ok());
        assert!(ipv4(b"192.168.00.1").is_err());
        assert!(ipv4(b"010.0.0.1").is_err());
        assert!(ipv4(b"1.2.3").is_err());
    }
}
