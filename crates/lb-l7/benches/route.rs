//! Route matching and header work on the request path.
//!
//! `cargo bench -p lb-l7 --bench route`
//!
//! - `find/{10,100}_routes/last`: host + prefix routes, the request matches the last one (the
//!   whole table is scanned); `/miss` matches none; `/first` matches route 0.
//! - `find/100_routes/regex_last`: as `last`, every route a `path_regex`.
//! - `headers/rewrite`: a route's `request_headers` (2 set, 2 remove) on a 10-header request.
//! - `headers/forwarded/{fresh,append}`: `X-Forwarded-*` + `X-Real-IP`, without and with an
//!   earlier `X-Forwarded-For`.
//! - `headers/strip_hop_by_hop`: a request with `Connection` naming a header, `TE: trailers`.

// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lb_l7::headers::{apply_forwarded, strip_hop_by_hop, Forwarded, HeaderRewrite};
use lb_l7::route::{PathMatch, RouteSpec, RouteTable, Target};

/// `n` routes `host = "svc{i}.example.com", path_prefix = "/api/{i}/"`.
fn prefix_table(n: usize) -> RouteTable {
    let specs = (0..n)
        .map(|i| {
            RouteSpec::new(Target::Upstream(format!("up{i}")))
                .with_host(format!("svc{i}.example.com"))
                .with_path(PathMatch::Prefix(format!("/api/{i}/")))
        })
        .collect();
    RouteTable::new(specs).unwrap()
}

/// `n` routes `path_regex = "^/api/{i}/v[0-9]+/"`.
fn regex_table(n: usize) -> RouteTable {
    let specs = (0..n)
        .map(|i| {
            RouteSpec::new(Target::Upstream(format!("up{i}")))
                .with_path(PathMatch::Regex(format!("^/api/{i}/v[0-9]+/")))
        })
        .collect();
    RouteTable::new(specs).unwrap()
}

fn request_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("host", "svc9.example.com"),
        ("user-agent", "bench/1.0"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, br"),
        ("x-request-id", "0f9c2f0e-1b5c-4c52-9a43-6b1b1f7c1e2a"),
        ("x-debug", "1"),
        ("x-env", "dev"),
        ("cookie", "a=1; b=2"),
        ("content-type", "application/json"),
        ("content-length", "42"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    h
}

fn bench_find(c: &mut Criterion) {
    let mut g = c.benchmark_group("find");
    let headers = request_headers();
    for n in [10usize, 100] {
        let table = prefix_table(n);
        let last = n - 1;
        let host = format!("svc{last}.example.com:443");
        let path = format!("/api/{last}/users/7");
        g.bench_with_input(
            BenchmarkId::new(format!("{n}_routes"), "last"),
            &n,
            |b, _| {
                b.iter(|| {
                    table.find(
                        black_box(&Method::GET),
                        black_box(Some(&host)),
                        black_box(&path),
                        black_box(&headers),
                    )
                })
            },
        );
        assert_eq!(
            table
                .find(&Method::GET, Some(&host), &path, &headers)
                .map(|r| r.index()),
            Some(last)
        );
        g.bench_with_input(
            BenchmarkId::new(format!("{n}_routes"), "miss"),
            &n,
            |b, _| {
                b.iter(|| {
                    table.find(
                        black_box(&Method::GET),
                        black_box(Some("nope.test")),
                        black_box("/x"),
                        black_box(&headers),
                    )
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new(format!("{n}_routes"), "first"),
            &n,
            |b, _| {
                b.iter(|| {
                    table.find(
                        black_box(&Method::GET),
                        black_box(Some("svc0.example.com")),
                        black_box("/api/0/"),
                        black_box(&headers),
                    )
                })
            },
        );
    }
    let table = regex_table(100);
    let path = "/api/99/v2/users";
    g.bench_function(BenchmarkId::new("100_routes", "regex_last"), |b| {
        b.iter(|| {
            table.find(
                black_box(&Method::GET),
                black_box(None),
                black_box(path),
                black_box(&headers),
            )
        })
    });
    assert_eq!(
        table
            .find(&Method::GET, None, path, &headers)
            .map(|r| r.index()),
        Some(99)
    );
    g.finish();
}

fn bench_headers(c: &mut Criterion) {
    let mut g = c.benchmark_group("headers");
    let rewrite = HeaderRewrite {
        set: vec![
            (
                HeaderName::from_static("x-env"),
                HeaderValue::from_static("prod"),
            ),
            (
                HeaderName::from_static("x-route"),
                HeaderValue::from_static("api"),
            ),
        ],
        remove: vec![
            HeaderName::from_static("x-debug"),
            HeaderName::from_static("cookie"),
        ],
    };
    let base = request_headers();
    g.bench_function("rewrite", |b| {
        b.iter_batched_ref(
            || base.clone(),
            |h| rewrite.apply(black_box(h)),
            criterion::BatchSize::SmallInput,
        )
    });

    let fwd = Forwarded {
        client_ip: "203.0.113.77".parse().unwrap(),
        proto: "https",
        host: Some(HeaderValue::from_static("svc9.example.com")),
    };
    g.bench_function("forwarded/fresh", |b| {
        b.iter_batched_ref(
            || base.clone(),
            |h| apply_forwarded(black_box(h), &fwd),
            criterion::BatchSize::SmallInput,
        )
    });
    let mut with_xff = base.clone();
    with_xff.insert(
        "x-forwarded-for",
        HeaderValue::from_static("198.51.100.1, 198.51.100.2"),
    );
    g.bench_function("forwarded/append", |b| {
        b.iter_batched_ref(
            || with_xff.clone(),
            |h| apply_forwarded(black_box(h), &fwd),
            criterion::BatchSize::SmallInput,
        )
    });

    let mut hop = base.clone();
    hop.insert(
        "connection",
        HeaderValue::from_static("keep-alive, te, x-private"),
    );
    hop.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    hop.insert("te", HeaderValue::from_static("trailers"));
    hop.insert("x-private", HeaderValue::from_static("1"));
    g.bench_function("strip_hop_by_hop", |b| {
        b.iter_batched_ref(
            || hop.clone(),
            |h| strip_hop_by_hop(black_box(h)),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();

    // Correctness of what was measured.
    let mut h = with_xff.clone();
    apply_forwarded(&mut h, &fwd);
    assert_eq!(
        h["x-forwarded-for"],
        "198.51.100.1, 198.51.100.2, 203.0.113.77"
    );
    let mut h = base.clone();
    rewrite.apply(&mut h);
    assert!(!h.contains_key("cookie") && h["x-env"] == "prod");
    let mut h = hop.clone();
    strip_hop_by_hop(&mut h);
    assert!(!h.contains_key("x-private") && h["te"] == "trailers");
}

criterion_group!(benches, bench_find, bench_headers);
criterion_main!(benches);
