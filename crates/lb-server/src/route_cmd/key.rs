//! The request's hash key, read as lb-l7's proxy reads it (`proxy/key.rs`).
//!
//! A copy, because lb-l7 keeps its reader crate-private; the tests pin the
//! behaviour. TODO(server-ops): call lb-l7's once it is public.

use std::net::{IpAddr, Ipv4Addr};

use http::header::{HeaderValue, COOKIE};
use http::HeaderMap;
use lb_balance::hash::{hash_ip, hash_key};
use lb_l7::HashKey;

use super::DryRequest;

/// The client address assumed for `hash_key = "client_ip"`.
const DRY_RUN_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// What the key is (for the report) and its hash, as the proxy computes it.
pub(super) fn request_key(key: &HashKey, req: &DryRequest) -> (String, Option<u64>) {
    match key {
        HashKey::ClientIp => (
            format!("client_ip (a dry run has no client: assuming {DRY_RUN_CLIENT})"),
            Some(hash_ip(DRY_RUN_CLIENT)),
        ),
        HashKey::Header(name) => {
            let value = req.headers.get(name);
            (
                format!(
                    "header {name} = {}",
                    shown(value.map(HeaderValue::as_bytes))
                ),
                value.map(|v| hash_key(v.as_bytes())),
            )
        }
        HashKey::Cookie(name) => {
            let value = cookie(&req.headers, name);
            (
                format!("cookie {name} = {}", shown(value)),
                value.map(hash_key),
            )
        }
        HashKey::Query(name) => {
            let value = req.uri.query().and_then(|q| query(q, name));
            (
                format!("query {name} = {}", shown(value)),
                value.map(hash_key),
            )
        }
        HashKey::Path => {
            let path = req.uri.path();
            (format!("path {path:?}"), Some(hash_key(path.as_bytes())))
        }
        _ => ("(unsupported hash key)".to_owned(), None),
    }
}

fn shown(value: Option<&[u8]>) -> String {
    value.map_or_else(
        || "(absent)".to_owned(),
        |v| format!("{:?}", String::from_utf8_lossy(v)),
    )
}

/// The value of cookie `name` (the first if repeated), as lb-l7 reads it.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers.get_all(COOKIE).iter().find_map(|line| {
        line.as_bytes().split(|&b| b == b';').find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
        })
    })
}

/// The raw value of query parameter `name` (the first if repeated).
pub(super) fn query<'a>(query: &'a str, name: &str) -> Option<&'a [u8]> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use http::header::HeaderName;

    use super::*;
    use crate::route_cmd::parse_request;

    #[test]
    fn hash_keys_come_from_the_request() {
        let headers = vec!["x-user: alice".to_owned()];
        let req = parse_request("GET", "http://x/p?q=1", &headers).unwrap();
        let name = HeaderName::from_static("x-user");
        assert_eq!(
            request_key(&HashKey::Header(name), &req).1,
            Some(hash_key(b"alice"))
        );
        assert_eq!(
            request_key(&HashKey::Query("q".into()), &req).1,
            Some(hash_key(b"1"))
        );
        assert_eq!(request_key(&HashKey::Path, &req).1, Some(hash_key(b"/p")));
        assert_eq!(request_key(&HashKey::Cookie("c".into()), &req).1, None);
    }
}
