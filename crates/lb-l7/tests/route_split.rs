//! Weighted split, per-route timeout and rewrites carried by a route.

// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lb_l7::headers::HeaderRewrite;
use lb_l7::route::{RouteSpec, RouteTable, Target};

fn split(parts: &[(&str, u32)]) -> RouteTable {
    let parts = parts.iter().map(|(n, w)| ((*n).to_owned(), *w)).collect();
    RouteTable::new(vec![RouteSpec::new(Target::Split(parts))]).unwrap()
}

fn sweep(t: &RouteTable, rands: impl Iterator<Item = u64>) -> HashMap<String, u64> {
    let route = t.find(&Method::GET, None, "/", &HeaderMap::new()).unwrap();
    let mut counts = HashMap::new();
    for r in rands {
        *counts.entry(route.pick_upstream(r).to_owned()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn split_95_5_sweep_gives_exact_proportions() {
    let t = split(&[("api", 95), ("canary", 5)]);
    let counts = sweep(&t, 0..100_000);
    assert_eq!(counts["api"], 95_000);
    assert_eq!(counts["canary"], 5_000);
    // Any window of `total` consecutive values is one full cycle, wherever it starts.
    let counts = sweep(&t, u64::MAX - 99..=u64::MAX);
    assert_eq!((counts["api"], counts["canary"]), (95, 5));
}

#[test]
fn split_is_deterministic_in_rand_and_skips_zero_weights() {
    let t = split(&[("a", 1), ("off", 0), ("b", 2)]);
    let route = &t.routes()[0];
    let picks: Vec<&str> = (0..6).map(|r| route.pick_upstream(r)).collect();
    assert_eq!(picks, ["a", "b", "b", "a", "b", "b"]);
    assert_eq!(route.pick_upstream(7), route.pick_upstream(7));
    assert!(!sweep(&t, 0..3_000).contains_key("off"));
}

#[test]
fn single_upstream_ignores_rand() {
    let t = RouteTable::new(vec![RouteSpec::new(Target::Upstream("api".into()))]).unwrap();
    let route = &t.routes()[0];
    assert!([0, 1, u64::MAX]
        .iter()
        .all(|r| route.pick_upstream(*r) == "api"));
}

#[test]
fn route_carries_timeout_and_rewrites() {
    let rewrite = HeaderRewrite {
        set: vec![(
            HeaderName::from_static("x-env"),
            HeaderValue::from_static("prod"),
        )],
        remove: vec![HeaderName::from_static("x-debug")],
    };
    let t = RouteTable::new(vec![
        RouteSpec::new(Target::Upstream("slow".into()))
            .with_timeout(Duration::from_secs(30))
            .with_request_headers(rewrite.clone())
            .with_response_headers(HeaderRewrite::default()),
        RouteSpec::new(Target::Upstream("fast".into())),
    ])
    .unwrap();
    assert_eq!(t.routes()[0].timeout(), Some(Duration::from_secs(30)));
    assert_eq!(t.routes()[1].timeout(), None);
    assert_eq!(t.routes()[0].request_headers(), &rewrite);
    assert!(t.routes()[0].response_headers().is_empty());
}
