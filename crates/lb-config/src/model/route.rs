//! `[[listeners.NAME.routes]]`: which requests go where.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::de;

/// Default route `timeout` (until the response head arrives): 60 s.
pub const DEFAULT_ROUTE_TIMEOUT: Duration = Duration::from_secs(60);

/// One route of an http listener. Every constraint given must match.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// `host`: the request's host (`Host` or `:authority`, port ignored).
    /// Default none: any host.
    pub host: Option<HostPattern>,
    /// `path_prefix`, `path_exact` or `path_regex` (at most one). Default
    /// [`PathMatch::Any`].
    pub path: PathMatch,
    /// `methods`: upper-cased. Default empty: any method.
    pub methods: Vec<String>,
    /// `headers`: every one must match. Names are kept as written (compare
    /// them case-insensitively). Default empty.
    pub headers: BTreeMap<String, HeaderMatch>,
    /// `upstream = "name"` or `split = { name = weight, ... }` (exactly one).
    pub target: RouteTarget,
    /// `timeout`: until the response head arrives; 504 after. Default 60 s.
    pub timeout: Duration,
    /// `request_headers`: changes to the request before it is forwarded.
    pub request_headers: HeaderRewrite,
    /// `response_headers`: changes to the response before it is returned.
    pub response_headers: HeaderRewrite,
}

/// A `host` constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// `host = "example.com"`: that name only (stored lower-cased).
    Exact(String),
    /// `host = "*.example.com"`: any name ending in `.example.com` (one or
    /// more labels in front), not `example.com` itself. Holds the suffix
    /// with its leading dot, `.example.com`, lower-cased.
    Suffix(String),
}

/// A path constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathMatch {
    /// No path constraint.
    Any,
    /// `path_prefix`: the path starts with this string (plain string prefix,
    /// as nginx's `location /prefix`). Starts with `/`.
    Prefix(String),
    /// `path_exact`: the path (without query) is exactly this. Starts with `/`.
    Exact(String),
    /// `path_regex`: a `regex` crate pattern searched in the path (without
    /// query), as nginx's `location ~`: anchor it with `^`/`$` to match the
    /// whole path. Checked to compile.
    Regex(String),
}

/// A `headers` constraint on one header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderMatch {
    /// `"*"`: present, with any value.
    Present,
    /// Present with exactly this value.
    Exact(String),
}

/// Where a route sends its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// `upstream = "name"`.
    Upstream(String),
    /// `split = { api = 95, canary = 5 }`: each request picks an upstream with
    /// probability weight / total. Weights may be 0 (off), not all of them.
    Split(BTreeMap<String, u32>),
}

/// Header changes: `{ set = { name = value }, remove = [names] }`. Removals
/// apply first, then sets (which replace any existing value).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderRewrite {
    /// Headers to set, replacing existing values. Default empty.
    pub set: BTreeMap<String, String>,
    /// Headers to remove. Default empty.
    #[serde(deserialize_with = "de::string_list")]
    pub remove: Vec<String>,
}

// === impl RouteConfig ===

impl RouteConfig {
    /// The upstream names this route can send to.
    pub fn upstream_names(&self) -> impl Iterator<Item = &str> {
        self.target.upstream_names()
    }
}

// === impl HostPattern ===

impl HostPattern {
    /// Parses `example.com` or `*.example.com`.
    ///
    /// # Errors
    /// A message saying what is allowed.
    pub fn parse(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let (wild, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let ip = name.parse::<std::net::IpAddr>().is_ok();
        if !(de::is_host_name(name) || (ip && !wild)) {
            return Err(format!(
                "{s:?} is not a host name (expected a name like \"example.com\" or \"*.example.com\", without port)"
            ));
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        Ok(if wild {
            Self::Suffix(format!(".{name}"))
        } else {
            Self::Exact(name.to_owned())
        })
    }

    /// Whether `host` (a `Host` header value; a `:port` suffix and a trailing
    /// dot are ignored, case is not significant) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = strip_port(host);
        let host = host.strip_suffix('.').unwrap_or(host);
        match self {
            Self::Exact(name) => host.eq_ignore_ascii_case(name),
            Self::Suffix(suffix) => {
                host.len() > suffix.len()
                    && host.is_char_boundary(host.len() - suffix.len())
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
        }
    }

    /// Whether every host this pattern matches is also matched by `other`.
    pub fn is_within(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Exact(a), Self::Exact(b)) => a == b,
            (Self::Exact(a), Self::Suffix(_)) => other.matches(a),
            (Self::Suffix(a), Self::Suffix(b)) => a.ends_with(b.as_str()),
            (Self::Suffix(_), Self::Exact(_)) => false,
        }
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Suffix(suffix) => write!(f, "*{suffix}"),
        }
    }
}

// === impl PathMatch ===

impl fmt::Display for PathMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any path"),
            Self::Prefix(p) => write!(f, "path_prefix {p:?}"),
            Self::Exact(p) => write!(f, "path_exact {p:?}"),
            Self::Regex(p) => write!(f, "path_regex {p:?}"),
        }
    }
}

// === impl HeaderMatch ===

impl HeaderMatch {
    /// Whether a header value (`None` = header absent) matches.
    pub fn matches(&self, value: Option<&[u8]>) -> bool {
        match (self, value) {
            (_, None) => false,
            (Self::Present, Some(_)) => true,
            (Self::Exact(want), Some(v)) => want.as_bytes() == v,
        }
    }
}

// === impl RouteTarget ===

impl RouteTarget {
    /// The upstream names this target can send to.
    pub fn upstream_names(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Self::Upstream(name) => (Some(name.as_str()), None),
            Self::Split(split) => (None, Some(split.keys().map(String::as_str))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        let exact = HostPattern::parse("Example.COM").unwrap();
        assert_eq!(exact, HostPattern::Exact("example.com".into()));
        assert!(exact.matches("example.com:8080"));
        assert!(exact.matches("EXAMPLE.com."));
        assert!(!exact.matches("a.example.com"));

        let wild = HostPattern::parse("*.example.com").unwrap();
        assert!(wild.matches("a.example.com"));
        assert!(wild.matches("a.b.example.com:443"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("badexample.com"));
        assert_eq!(wild.to_string(), "*.example.com");

        assert!(exact.is_within(&exact));
        assert!(!exact.is_within(&wild));
        let sub = HostPattern::parse("*.a.example.com").unwrap();
        assert!(sub.is_within(&wild));
        assert!(HostPattern::parse("x.example.com")
            .unwrap()
            .is_within(&wild));
        assert!(!wild.is_within(&sub));

        assert!(HostPattern::parse("example.com:80").is_err());
        assert!(HostPattern::parse("*.").is_err());
        assert!(HostPattern::parse("a*.example.com").is_err());
        assert!(HostPattern::parse("10.0.0.1").is_ok());
    }
}
