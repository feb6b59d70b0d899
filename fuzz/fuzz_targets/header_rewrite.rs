//! Hop-by-hop stripping, forwarding headers and rewrites on arbitrary header maps.

#![no_main]

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue};
use lb_l7::headers::{apply_forwarded, strip_hop_by_hop, Forwarded, HeaderRewrite};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
struct Input {
    headers: Vec<(u8, Vec<u8>)>,
    set: Vec<(u8, Vec<u8>)>,
    remove: Vec<u8>,
    ip: [u8; 16],
    v4: bool,
    https: bool,
    host: Option<Vec<u8>>,
}

/// A small name space so that inputs hit the interesting names often.
const NAMES: [&str; 14] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "x-a",
    "x-b",
    "content-length",
];

fn name(i: u8) -> HeaderName {
    HeaderName::from_static(NAMES[usize::from(i) % NAMES.len()])
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Input {
            headers: u.arbitrary()?,
            set: u.arbitrary()?,
            remove: u.arbitrary()?,
            ip: u.arbitrary()?,
            v4: u.arbitrary()?,
            https: u.arbitrary()?,
            host: u.arbitrary()?,
        })
    }
}

/// Builds a value, mapping the bytes a header value cannot hold to `_`, so every input counts.
fn value(bytes: &[u8]) -> HeaderValue {
    let clean: Vec<u8> = bytes
        .iter()
        .map(|&b| {
            if b == b'\t' || (b >= 0x20 && b != 0x7f) {
                b
            } else {
                b'_'
            }
        })
        .collect();
    HeaderValue::from_bytes(&clean).unwrap_or(HeaderValue::from_static("_"))
}

fuzz_target!(|input: Input| {
    let mut headers = HeaderMap::new();
    for (n, v) in &input.headers {
        headers.append(name(*n), value(v));
    }
    let had_host = headers.get_all("host").iter().cloned().collect::<Vec<_>>();

    strip_hop_by_hop(&mut headers);
    for gone in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        assert!(!headers.contains_key(gone), "{gone} survived");
    }
    if let Some(te) = headers.get("te") {
        assert_eq!(te, "trailers");
        assert_eq!(headers.get_all("te").iter().count(), 1);
    }
    assert_eq!(
        headers.get_all("host").iter().cloned().collect::<Vec<_>>(),
        had_host,
        "Host is kept"
    );

    let client_ip = if input.v4 {
        IpAddr::from([input.ip[0], input.ip[1], input.ip[2], input.ip[3]])
    } else {
        IpAddr::from(input.ip)
    };
    let fwd = Forwarded {
        client_ip,
        proto: if input.https { "https" } else { "http" },
        host: input.host.as_deref().map(value),
    };
    apply_forwarded(&mut headers, &fwd);
    let real_ip: IpAddr = headers["x-real-ip"].to_str().unwrap().parse().unwrap();
    assert_eq!(real_ip, client_ip.to_canonical());
    assert_eq!(headers.get_all("x-forwarded-for").iter().count(), 1);
    let xff = headers["x-forwarded-for"].as_bytes();
    assert!(xff.ends_with(headers["x-real-ip"].as_bytes()));
    assert_eq!(headers.get("x-forwarded-host"), fwd.host.as_ref());

    let rewrite = HeaderRewrite {
        set: input
            .set
            .iter()
            .map(|(n, v)| (name(*n), value(v)))
            .collect(),
        remove: input.remove.iter().map(|n| name(*n)).collect(),
    };
    rewrite.apply(&mut headers);
    for removed in &rewrite.remove {
        if !rewrite.set.iter().any(|(n, _)| n == removed) {
            assert!(!headers.contains_key(removed));
        }
    }
    for (n, _) in &rewrite.set {
        let last = rewrite
            .set
            .iter()
            .rev()
            .find(|(m, _)| m == n)
            .map(|(_, v)| v);
        assert_eq!(
            headers.get_all(n).iter().collect::<Vec<_>>(),
            last.into_iter().collect::<Vec<_>>()
        );
    }
});
