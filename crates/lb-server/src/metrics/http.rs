//! Per-request metrics and access log of one `http` listener.
//!
//! The request path bumps cached counter handles: the `(route, upstream,
//! server, code)` combination is hashed (no allocation) and looked up in an
//! `arc-swap` snapshot of resolved handles. Only the first request of a new
//! combination builds label strings and publishes a new snapshot.
//!
//! The combination is hashed with [`FxHasher`] (a multiply-rotate hash, the
//! one rustc uses): the keys are our own label values, not attacker-chosen,
//! and SipHash over them cost about as much as the rest of `record`.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus_client::metrics::counter::Counter;

use super::histogram::DurationHistogram;
use super::{Direction, Families, ListenerMetrics, ListenerUpstreamLabels, RequestLabels};

/// What one finished request was, in the terms of the metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestOutcome<'a> {
    pub(crate) client: std::net::SocketAddr,
    pub(crate) method: &'a str,
    pub(crate) host: &'a str,
    pub(crate) path: &'a str,
    pub(crate) route: Option<usize>,
    pub(crate) upstream: Option<&'a str>,
    pub(crate) server: Option<&'a str>,
    pub(crate) status: u16,
    pub(crate) duration: Duration,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

/// Resolved handles of one label combination.
#[derive(Debug)]
struct Entry {
    route: Option<usize>,
    upstream: Option<Box<str>>,
    server: Option<Box<str>>,
    code: u16,
    requests: Counter,
    duration: DurationHistogram,
}

impl Entry {
    fn is(&self, o: &RequestOutcome<'_>) -> bool {
        self.code == o.status
            && self.route == o.route
            && self.upstream.as_deref() == o.upstream
            && self.server.as_deref() == o.server
    }
}

/// A fast non-cryptographic hasher (FxHash): 8 bytes per multiply.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Fx = BuildHasherDefault<FxHasher>;

/// Keyed by the combination's hash (already well mixed).
type Cache = HashMap<u64, Vec<Arc<Entry>>, Fx>;

/// Request metrics of one listener: `lb_requests_total`,
/// `lb_request_duration_seconds` and `lb_bytes_total`.
#[derive(Debug)]
pub(crate) struct HttpMetrics {
    families: Families,
    listener: ListenerMetrics,
    hasher: Fx,
    cache: ArcSwap<Cache>,
}

impl HttpMetrics {
    pub(super) fn new(families: &Families, listener: ListenerMetrics) -> Self {
        Self {
            families: families.clone(),
            listener,
            hasher: Fx::default(),
            cache: ArcSwap::from_pointee(Cache::default()),
        }
    }

    /// Record one finished request.
    pub(crate) fn record(&self, o: &RequestOutcome<'_>) {
        let key = self
            .hasher
            .hash_one((o.route, o.upstream, o.server, o.status));
        let cache = self.cache.load();
        let hit = cache
            .get(&key)
            .and_then(|bucket| bucket.iter().find(|e| e.is(o)));
        match hit {
            Some(entry) => bump(entry, o),
            None => {
                drop(cache);
                let entry = self.resolve(key, o);
                bump(&entry, o);
            }
        }
        self.listener.count_request();
        self.listener.bytes(Direction::In, o.bytes_in);
        self.listener.bytes(Direction::Out, o.bytes_out);
        crate::logging::access_http(self.listener.name(), o);
    }

    /// Build the handles of a new combination and publish them (cold path).
    #[cold]
    fn resolve(&self, key: u64, o: &RequestOutcome<'_>) -> Arc<Entry> {
        let listener = Arc::clone(self.listener.name());
        let upstream: Arc<str> = Arc::from(o.upstream.unwrap_or(""));
        let labels = RequestLabels {
            listener: Arc::clone(&listener),
            route: o
                .route
                .map_or_else(|| Arc::from(""), |i| Arc::from(i.to_string())),
            upstream: Arc::clone(&upstream),
            server: Arc::from(o.server.unwrap_or("")),
            code: o.status,
        };
        let entry = Arc::new(Entry {
            route: o.route,
            upstream: o.upstream.map(Box::from),
            server: o.server.map(Box::from),
            code: o.status,
            requests: self.families.requests.get_or_create_owned(&labels),
            duration: self
                .families
                .duration
                .get_or_create_owned(&ListenerUpstreamLabels { listener, upstream }),
        });
        self.cache.rcu(|cache| {
            let mut next = Cache::clone(cache);
            let bucket = next.entry(key).or_default();
            if !bucket.iter().any(|e| e.is(o)) {
                bucket.push(Arc::clone(&entry));
            }
            next
        });
        entry
    }
}

impl lb_l7::Observer for HttpMetrics {
    fn on_request(&self, r: &lb_l7::RequestRecord<'_>) {
        self.record(&RequestOutcome {
            client: r.client,
            method: r.method.as_str(),
            host: r.host,
            path: r.path,
            route: r.route,
            upstream: r.upstream,
            server: r.server,
            status: r.status,
            duration: r.duration,
            bytes_in: r.bytes_in,
            bytes_out: r.bytes_out,
        });
    }
}

fn bump(entry: &Entry, o: &RequestOutcome<'_>) {
    entry.requests.inc();
    entry.duration.observe(o.duration);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn outcome(server: Option<&str>, status: u16) -> RequestOutcome<'_> {
        RequestOutcome {
            client: ([127, 0, 0, 1], 5000).into(),
            method: "GET",
            host: "example.com",
            path: "/",
            route: Some(0),
            upstream: Some("api"),
            server,
            status,
            duration: Duration::from_millis(3),
            bytes_in: 10,
            bytes_out: 100,
        }
    }

    #[test]
    fn counts_each_combination_separately_and_reuses_handles() {
        let metrics = Metrics::new();
        let http = metrics.http_metrics("web");
        for _ in 0..3 {
            http.record(&outcome(Some("127.0.0.1:1"), 200));
        }
        http.record(&outcome(Some("127.0.0.1:2"), 200));
        http.record(&outcome(None, 503));
        assert_eq!(http.cache.load().values().map(Vec::len).sum::<usize>(), 3);

        let get = |server: &str, code| {
            let labels = RequestLabels {
                listener: Arc::from("web"),
                route: Arc::from("0"),
                upstream: Arc::from("api"),
                server: Arc::from(server),
                code,
            };
            metrics.families.requests.get(&labels).map(|c| c.get())
        };
        assert_eq!(get("127.0.0.1:1", 200), Some(3));
        assert_eq!(get("127.0.0.1:2", 200), Some(1));
        assert_eq!(get("", 503), Some(1));
        assert_eq!(get("127.0.0.1:1", 503), None);
        let counts = metrics.listener_counts("web");
        assert_eq!(counts.requests, 5);
    }

    /// Criterion figures for one `record` (a cached label combination, the
    /// request path's case). lb-server has no library target for a
    /// `benches/` file to import, hence an ignored test:
    /// `cargo test --release -p lb-server -- --ignored --nocapture bench_record`.
    #[test]
    #[ignore = "benchmark; run explicitly with --release"]
    fn bench_record() {
        let metrics = Metrics::new();
        let http = metrics.http_metrics("web");
        let servers = ["127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"];
        let mut c = criterion::Criterion::default()
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .without_plots();
        let mut i = 0usize;
        c.bench_function("metrics/record/cached", |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                http.record(std::hint::black_box(&outcome(Some(servers[i % 3]), 200)));
            });
        });
        c.final_summary();
        assert!(metrics.listener_counts("web").requests > 0);
    }
}
