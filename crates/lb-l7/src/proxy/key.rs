//! Reading the request for balancing: the hash key ([`HashKey`]) and the
//! sticky cookie. Nothing here allocates.

use std::net::IpAddr;

use http::header::{HeaderValue, COOKIE};
use http::request::Parts;
use http::{HeaderMap, Uri};
use lb_balance::hash::{hash_ip, hash_key};

use crate::options::HashKey;

/// The hash of the request's key, or `None` when the request lacks it (the
/// hash algorithms then fall back to round robin).
pub(crate) fn hash_of(key: &HashKey, req: &Parts, client: IpAddr) -> Option<u64> {
    key.hash(&req.headers, &req.uri, client)
}

/// The value of cookie `name` (the first one if repeated).
pub(crate) fn cookie<'a>(req: &'a Parts, name: &str) -> Option<&'a [u8]> {
    cookie_in(&req.headers, name)
}

/// The value of cookie `name` in `headers` (the first one if repeated).
pub(crate) fn cookie_in<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers.get_all(COOKIE).iter().find_map(|line| {
        line.as_bytes().split(|&b| b == b';').find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
        })
    })
}

/// The raw value of query parameter `name` (the first one if repeated).
pub(crate) fn query<'a>(query: &'a str, name: &str) -> Option<&'a [u8]> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v.as_bytes())
    })
}

impl HashKey {
    /// The bytes this key takes from a request: a header value, a cookie,
    /// a raw query parameter or the path. `None` for [`HashKey::ClientIp`]
    /// (the address is hashed, see [`hash`](Self::hash)) and when the request
    /// lacks the key.
    #[must_use]
    pub fn bytes<'a>(&self, headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a [u8]> {
        match self {
            HashKey::ClientIp => None,
            HashKey::Header(name) => headers.get(name).map(HeaderValue::as_bytes),
            HashKey::Cookie(name) => cookie_in(headers, name),
            HashKey::Query(name) => query(uri.query()?, name),
            HashKey::Path => Some(uri.path().as_bytes()),
        }
    }

    /// The request's hash key as the proxy computes it (see
    /// `docs/algorithms.md`): [`hash_ip`] of the client for `ClientIp`, else
    /// [`hash_key`] of [`bytes`](Self::bytes); `None` when the request lacks
    /// the key (hash algorithms then fall back to round robin).
    #[must_use]
    pub fn hash(&self, headers: &HeaderMap, uri: &Uri, client: IpAddr) -> Option<u64> {
        match self {
            HashKey::ClientIp => Some(hash_ip(client)),
            _ => self.bytes(headers, uri).map(hash_key),
        }
    }
}

/// Parse a sticky id as written in the cookie (16 hex digits).
pub(crate) fn parse_sticky(value: &[u8]) -> Option<u64> {
    if value.len() != 16 {
        return None;
    }
    let s = std::str::from_utf8(value).ok()?;
    u64::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(uri: &str, cookies: &[&str]) -> Parts {
        let mut b = Request::builder().uri(uri);
        for c in cookies {
            b = b.header(COOKIE, *c);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn finds_cookie_among_several_lines() {
        let p = parts("/", &["a=1; lb_srv=00000000000000ff", "b=2"]);
        assert_eq!(cookie(&p, "lb_srv"), Some(&b"00000000000000ff"[..]));
        assert_eq!(cookie(&p, "b"), Some(&b"2"[..]));
        assert_eq!(cookie(&p, "lb"), None);
        assert_eq!(parse_sticky(b"00000000000000ff"), Some(255));
        assert_eq!(parse_sticky(b"ff"), None);
    }

    #[test]
    fn query_and_path_keys() {
        let p = parts("/x/y?user=42&flag&user=43", &[]);
        assert_eq!(query(p.uri.query().unwrap(), "user"), Some(&b"42"[..]));
        assert_eq!(query(p.uri.query().unwrap(), "flag"), Some(&b""[..]));
        let ip = "10.0.0.1".parse().unwrap();
        assert_eq!(hash_of(&HashKey::Path, &p, ip), Some(hash_key(b"/x/y")));
        assert_eq!(hash_of(&HashKey::Query("nope".into()), &p, ip), None);
        assert_eq!(hash_of(&HashKey::ClientIp, &p, ip), Some(hash_ip(ip)));
    }
}
