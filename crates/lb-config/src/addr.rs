//! Server addresses: `host:port`, where host is an IP address or a DNS name.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::Deserialize;

use crate::de::is_host_name;

/// A validated upstream server address, written `"host:port"`.
///
/// `host` is an IPv4 address, an IPv6 address (written in brackets,
/// `"[::1]:8080"`, and stored without them), or a DNS name (resolved by the
/// server at load and every `dns_refresh`). `port` is 1-65535.
/// `Display` gives back `host:port` (brackets around IPv6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerAddr {
    /// The IP address (IPv6 without brackets) or DNS name, lower-cased.
    pub host: String,
    /// The port, 1-65535.
    pub port: u16,
}

// === impl ServerAddr ===

impl ServerAddr {
    /// The host as an IP address, if it is one (otherwise a DNS name).
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The socket address, if the host is an IP address.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.ip().map(|ip| SocketAddr::new(ip, self.port))
    }
}

impl FromStr for ServerAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err("empty address (expected host:port)".to_owned());
        }
        if let Some(rest) = text.strip_prefix('[') {
            let Some((ip, after)) = rest.split_once(']') else {
                return Err(format!("{s:?} has an unclosed '[' (expected [ipv6]:port)"));
            };
            let ip: std::net::Ipv6Addr = ip
                .parse()
                .map_err(|_| format!("{s:?}: {ip:?} is not an IPv6 address"))?;
            let Some(port) = after.strip_prefix(':') else {
                return Err(format!("{s:?} has no port (expected [ipv6]:port)"));
            };
            return Ok(Self {
                host: ip.to_string(),
                port: parse_port(s, port)?,
            });
        }
        if text.parse::<std::net::Ipv6Addr>().is_ok() {
            return Err(format!(
                "{s:?} is an IPv6 address without brackets or port (expected [ipv6]:port)"
            ));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(format!("{s:?} has no port (expected host:port)"));
        };
        if host.contains(':') {
            return Err(format!(
                "{s:?}: IPv6 addresses must be in brackets (expected [ipv6]:port)"
            ));
        }
        if host.parse::<std::net::Ipv4Addr>().is_err() && !is_host_name(host) {
            return Err(format!(
                "{s:?}: {host:?} is not an IP address or a host name (expected host:port)"
            ));
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port: parse_port(s, port)?,
        })
    }
}

fn parse_port(whole: &str, port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "{whole:?}: port {port:?} is not a number from 1 to 65535"
        )),
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl<'de> Deserialize<'de> for ServerAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        for (input, host, port, shown) in [
            ("10.0.0.1:80", "10.0.0.1", 80, "10.0.0.1:80"),
            (
                "API1.internal:8080",
                "api1.internal",
                8080,
                "api1.internal:8080",
            ),
            ("[::1]:9000", "::1", 9000, "[::1]:9000"),
            ("localhost:1", "localhost", 1, "localhost:1"),
        ] {
            let a: ServerAddr = input.parse().unwrap();
            assert_eq!((a.host.as_str(), a.port), (host, port), "{input}");
            assert_eq!(a.to_string(), shown);
        }
    }

    #[test]
    fn rejects_with_reasons() {
        for (input, needle) in [
            ("10.0.0.1", "has no port (expected host:port)"),
            ("10.0.0.1:0", "is not a number from 1 to 65535"),
            ("10.0.0.1:70000", "is not a number from 1 to 65535"),
            ("host:http", "is not a number from 1 to 65535"),
            ("::1", "without brackets"),
            ("fe80::1:80", "without brackets"),
            ("a:b:80", "must be in brackets"),
            ("bad host:80", "is not an IP address or a host name"),
            ("[::1]", "has no port"),
            ("", "empty address"),
        ] {
            let err = input.parse::<ServerAddr>().unwrap_err();
            assert!(err.contains(needle), "{input}: {err}");
        }
    }
}
