//! The request's hash key for the dry run, read by lb-l7's own reader
//! ([`HashKey::bytes`], [`HashKey::hash`]) so the dry run and the proxy agree.

use std::net::{IpAddr, Ipv4Addr};

use lb_l7::HashKey;

use super::DryRequest;

/// The client address assumed for `hash_key = "client_ip"`.
const DRY_RUN_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// What the key is (for the report) and its hash, as the proxy computes it.
pub(super) fn request_key(key: &HashKey, req: &DryRequest) -> (String, Option<u64>) {
    let hash = key.hash(&req.headers, &req.uri, DRY_RUN_CLIENT);
    let value = || shown(key.bytes(&req.headers, &req.uri));
    let what = match key {
        HashKey::ClientIp => {
            format!("client_ip (a dry run has no client: assuming {DRY_RUN_CLIENT})")
        }
        HashKey::Header(name) => format!("header {name} = {}", value()),
        HashKey::Cookie(name) => format!("cookie {name} = {}", value()),
        HashKey::Query(name) => format!("query {name} = {}", value()),
        HashKey::Path => format!("path {:?}", req.uri.path()),
        _ => "(unsupported hash key)".to_owned(),
    };
    (what, hash)
}

fn shown(value: Option<&[u8]>) -> String {
    value.map_or_else(
        || "(absent)".to_owned(),
        |v| format!("{:?}", String::from_utf8_lossy(v)),
    )
}

#[cfg(test)]
mod tests {
    use http::header::HeaderName;

    use lb_balance::hash::hash_key;

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
