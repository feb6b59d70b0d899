//! Request host extraction and host patterns (exact or `*.` wildcard).

use http::Request;

/// The host a request is for, with any port (and userinfo) removed.
///
/// Taken from the URI authority when there is one (HTTP/2 `:authority`, or an HTTP/1.1
/// absolute-form target), else from the `Host` header. `None` when neither is present, the
/// `Host` value is not visible ASCII, or the host is empty. IPv6 literals keep their brackets
/// (`[::1]`). The case is left as received: matching ignores ASCII case.
///
/// ```
/// let req = http::Request::get("/").header("host", "Example.com:8080").body(()).unwrap();
/// assert_eq!(lb_l7::route::request_host(&req), Some("Example.com"));
/// ```
pub fn request_host<B>(req: &Request<B>) -> Option<&str> {
    host_of(req.uri(), req.headers())
}

/// [`request_host`] from a request's URI and headers.
pub(crate) fn host_of<'a>(uri: &'a http::Uri, headers: &'a http::HeaderMap) -> Option<&'a str> {
    let raw = match uri.authority() {
        Some(authority) => authority.as_str(),
        None => headers.get(http::header::HOST)?.to_str().ok()?,
    };
    let host = strip_port(raw);
    (!host.is_empty()).then_some(host)
}

/// Removes userinfo and port: `u@a.example:80` → `a.example`, `[::1]:80` → `[::1]`.
pub(crate) fn strip_port(authority: &str) -> &str {
    let host_port = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(end) => &host_port[..=end],
            None => host_port,
        }
    } else {
        match host_port.find(':') {
            Some(colon) => &host_port[..colon],
            None => host_port,
        }
    }
}

/// The form of a request host that patterns are compared with: port removed and one trailing
/// dot (fully qualified form) dropped. No allocation.
pub(crate) fn normalize(host: &str) -> &str {
    let host = strip_port(host);
    host.strip_suffix('.').unwrap_or(host)
}

/// A compiled host pattern. Stored lower-case; compared ASCII case-insensitively.
#[derive(Clone, Debug)]
pub(crate) enum HostPattern {
    /// `example.com`
    Exact(Box<str>),
    /// `*.example.com`, stored as the suffix `.example.com`.
    Wildcard(Box<str>),
}

impl HostPattern {
    /// Validates and compiles a configured host pattern.
    pub(crate) fn parse(pattern: &str) -> Result<Self, &'static str> {
        if pattern.is_empty() {
            return Err("is empty");
        }
        if !pattern.is_ascii() {
            return Err("is not ASCII (write international names in punycode, xn--...)");
        }
        let lower = pattern.to_ascii_lowercase();
        let lower = lower.strip_suffix('.').unwrap_or(&lower);
        if let Some(suffix) = lower.strip_prefix("*.") {
            check_name(suffix)?;
            return Ok(HostPattern::Wildcard(format!(".{suffix}").into_boxed_str()));
        }
        if lower.starts_with('[') && lower.ends_with(']') {
            let inner = &lower[1..lower.len() - 1];
            if inner.is_empty()
                || !inner
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return Err("is not a valid IPv6 literal");
            }
            return Ok(HostPattern::Exact(lower.into()));
        }
        check_name(lower)?;
        Ok(HostPattern::Exact(lower.into()))
    }

    /// Whether a normalized request host matches. No allocation.
    pub(crate) fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(want) => host.eq_ignore_ascii_case(want),
            HostPattern::Wildcard(suffix) => {
                let (host, suffix) = (host.as_bytes(), suffix.as_bytes());
                host.len() > suffix.len()
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
        }
    }
}

/// A host name as a pattern may hold it: letters, digits, `-`, `_` and `.`, no empty label.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("has no name after the wildcard");
    }
    if name.contains('*') {
        return Err(
            "has a `*` other than a leading `*.` (only `*.example.com` wildcards are supported)",
        );
    }
    if name.contains(':') {
        return Err("has a port (ports are not matched; remove it)");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("has characters not allowed in a host name");
    }
    if name.split('.').any(str::is_empty) {
        return Err("has an empty label");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_port_forms() {
        assert_eq!(strip_port("a.example:8080"), "a.example");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1"), "[::1");
        assert_eq!(strip_port("user:pw@h:1"), "h");
        assert_eq!(strip_port(""), "");
        assert_eq!(normalize("Example.COM.:443"), "Example.COM");
    }

    #[test]
    fn wildcard_needs_a_subdomain() {
        let p = HostPattern::parse("*.Example.com").unwrap();
        assert!(p.matches("a.example.com"));
        assert!(p.matches("A.B.EXAMPLE.COM"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("badexample.com"));
        assert!(!p.matches(".com"));
    }

    #[test]
    fn bad_patterns_are_rejected() {
        for bad in [
            "",
            "*",
            "*.",
            "a.*.com",
            "*example.com",
            "a.com:80",
            "a..com",
            "ex ample",
            "é.com",
            "[zz]",
        ] {
            assert!(
                HostPattern::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(HostPattern::parse("[::1]").unwrap().matches("[::1]"));
    }
}
