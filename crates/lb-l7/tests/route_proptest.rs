//! Property: matching never panics, whatever the request, and `explain` agrees with `find`.

// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lb_l7::route::{HeaderMatch, PathMatch, RouteSpec, RouteTable, Target};
use proptest::prelude::*;

fn up(name: &str) -> RouteSpec {
    RouteSpec::new(Target::Upstream(name.into()))
}

fn fixed_table() -> RouteTable {
    RouteTable::new(vec![
        up("a")
            .with_host("api.example.com")
            .with_path(PathMatch::Exact("/login".into())),
        up("b")
            .with_host("*.example.com")
            .with_methods([Method::POST]),
        up("c").with_path(PathMatch::Regex("^/v[0-9]+/(users|items)/[^/]+$".into())),
        up("d").with_header(
            HeaderName::from_static("x-canary"),
            HeaderMatch::Exact(HeaderValue::from_static("true")),
        ),
        up("e").with_header(HeaderName::from_static("x-user"), HeaderMatch::Present),
        up("f")
            .with_host("[::1]")
            .with_path(PathMatch::Prefix("/é/".into())),
    ])
    .unwrap()
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}"
            .prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET)),
    ]
}

fn host() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9.*:\\[\\]@-]{0,40}",
        Just("API.example.com.:8080".to_owned()),
    ])
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    let pair = (
        prop_oneof![
            Just("x-canary".to_owned()),
            Just("x-user".to_owned()),
            "[a-z0-9-]{1,20}"
        ],
        prop_oneof![
            Just(b"true".to_vec()),
            prop::collection::vec(any::<u8>(), 0..24)
        ],
    );
    prop::collection::vec(pair, 0..6).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(&value),
            ) {
                map.append(n, v);
            }
        }
        map
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn find_never_panics_and_explain_agrees(m in method(), h in host(), p in any::<String>(), hd in headers()) {
        let t = fixed_table();
        let found = t.find(&m, h.as_deref(), &p, &hd).map(|r| r.index());
        prop_assert_eq!(t.explain(&m, h.as_deref(), &p, &hd).matched(), found);
        let _ = t.explain(&m, h.as_deref(), &p, &hd).to_string();
    }

    #[test]
    fn arbitrary_specs_compile_or_fail_cleanly(
        pattern in prop_oneof![any::<String>(), "\\*?\\.?[a-zA-Z0-9.*:\\[\\]-]{0,20}"],
        path in prop_oneof![any::<String>(), "[/a-z()\\[\\]*+?^$|\\\\]{0,20}"],
        kind in 0u8..3,
        weights in prop::collection::vec(any::<u32>(), 0..4),
        request_host in host(),
        request_path in any::<String>(),
        rand in any::<u64>(),
    ) {
        let path = match kind {
            0 => PathMatch::Prefix(path),
            1 => PathMatch::Exact(path),
            _ => PathMatch::Regex(path),
        };
        let target = if weights.is_empty() {
            Target::Upstream("u".into())
        } else {
            Target::Split(weights.iter().enumerate().map(|(i, w)| (format!("u{i}"), *w)).collect())
        };
        let spec = RouteSpec::new(target).with_host(pattern).with_path(path);
        if let Ok(t) = RouteTable::new(vec![spec]) {
            if let Some(route) = t.find(&Method::GET, request_host.as_deref(), &request_path, &HeaderMap::new()) {
                prop_assert!(!route.pick_upstream(rand).is_empty());
            }
        }
    }
}
