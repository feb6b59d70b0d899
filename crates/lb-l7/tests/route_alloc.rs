//! `RouteTable::find` allocates nothing: counted with an instrumented global allocator.
//!
//! The counter is process-wide, so this binary runs without the libtest harness (whose own
//! threads allocate while a test runs): `main` is the one test, and no other thread exists while
//! it measures.

// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::alloc::System;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lb_l7::route::{HeaderMatch, PathMatch, RouteSpec, RouteTable, Target};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn up(name: &str) -> RouteSpec {
    RouteSpec::new(Target::Upstream(name.into()))
}

fn main() {
    find_and_pick_allocate_nothing();
    println!("route_alloc: 1 passed, 0 failed");
}

fn find_and_pick_allocate_nothing() {
    let table = RouteTable::new(vec![
        up("a")
            .with_host("api.example.com")
            .with_path(PathMatch::Exact("/login".into())),
        up("b")
            .with_host("*.example.com")
            .with_methods([Method::POST, Method::PUT]),
        up("c").with_path(PathMatch::Regex("^/v[0-9]+/users/[0-9]+$".into())),
        up("d").with_header(
            HeaderName::from_static("x-canary"),
            HeaderMatch::Exact(HeaderValue::from_static("true")),
        ),
        up("e")
            .with_header(HeaderName::from_static("x-user"), HeaderMatch::Present)
            .with_path(PathMatch::Prefix("/u/".into())),
        RouteSpec::new(Target::Split(vec![("s1".into(), 95), ("s2".into(), 5)]))
            .with_path(PathMatch::Prefix("/split/".into())),
    ])
    .unwrap();
    let mut canary = HeaderMap::new();
    canary.insert("x-canary", HeaderValue::from_static("true"));
    canary.insert("x-user", HeaderValue::from_static("bob"));
    let empty = HeaderMap::new();
    let requests: [(Method, Option<&str>, &str, &HeaderMap); 7] = [
        (Method::GET, Some("API.example.com:443"), "/login", &empty),
        (Method::POST, Some("www.example.com."), "/x", &empty),
        (Method::GET, None, "/v2/users/42", &empty),
        (Method::GET, Some("other.test"), "/v2/users/42/x", &canary),
        (Method::GET, Some("[::1]:80"), "/u/1", &canary),
        (Method::DELETE, Some("other.test"), "/split/x", &empty),
        (Method::GET, Some("nothing.test"), "/nothing", &empty), // scans every route, no match
    ];
    let expected = [Some(0), Some(1), Some(2), Some(3), Some(3), Some(5), None];

    // Warm up: the regex engine builds its per-thread search cache on first use.
    for (m, h, p, hdrs) in &requests {
        let _ = table.find(m, *h, p, hdrs);
    }

    let region = Region::new(GLOBAL);
    let mut found = [None; 7];
    let mut picked = 0usize;
    for round in 0..1_000u64 {
        for (i, (m, h, p, hdrs)) in requests.iter().enumerate() {
            let route = table.find(m, *h, p, hdrs);
            found[i] = route.map(|r| r.index());
            if let Some(route) = route {
                picked += route.pick_upstream(round).len();
            }
        }
    }
    let stats = region.change();
    assert_eq!(found, expected);
    assert!(picked > 0);
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "{stats:?}"
    );

    // The counter does see allocations: explain() allocates by design.
    let region = Region::new(GLOBAL);
    let why = table.explain(&Method::GET, None, "/nothing", &empty);
    assert!(region.change().allocations > 0);
    assert_eq!(why.matched(), None);
}
