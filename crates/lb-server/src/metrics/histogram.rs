//! A lock-free fixed-bucket histogram for request durations.
//!
//! prometheus-client's `Histogram` takes a mutex per observation; on the
//! request path, shared by every worker serving one (listener, upstream), that
//! would be a contended lock. This one is a row of relaxed atomics: one bucket
//! increment, the count and the sum in nanoseconds. A scrape may see a count
//! one request ahead of a bucket, which Prometheus tolerates.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds in seconds, 1 ms to 30 s (the `+Inf` bucket is implicit).
const BOUNDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The same bounds in nanoseconds, for comparing without floats.
const BOUNDS_NS: [u64; 14] = {
    let mut out = [0u64; 14];
    let mut i = 0;
    while i < BOUNDS.len() {
        out[i] = (BOUNDS[i] * 1e9) as u64;
        i += 1;
    }
    out
};

#[derive(Debug, Default)]
struct Inner {
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// `lb_request_duration_seconds` of one (listener, upstream); cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct DurationHistogram(Arc<Inner>);

impl DurationHistogram {
    /// Record one request's duration.
    pub(crate) fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BOUNDS_NS.partition_point(|&b| b < ns);
        if let Some(bucket) = self.0.buckets.get(i) {
            bucket.fetch_add(1, Relaxed);
        }
        self.0.count.fetch_add(1, Relaxed);
        self.0.sum_ns.fetch_add(ns, Relaxed);
    }

    /// Requests observed.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.0.count.load(Relaxed)
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut buckets = [(0.0, 0u64); BOUNDS.len()];
        for ((slot, bound), count) in buckets.iter_mut().zip(BOUNDS).zip(&self.0.buckets) {
            *slot = (bound, count.load(Relaxed));
        }
        let count = self.0.count.load(Relaxed);
        let sum = self.0.sum_ns.load(Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = DurationHistogram::default();
        h.observe(Duration::from_micros(500)); // <= 1 ms
        h.observe(Duration::from_millis(1)); // <= 1 ms (bounds are inclusive)
        h.observe(Duration::from_millis(7)); // <= 10 ms
        h.observe(Duration::from_secs(60)); // +Inf
        let counts: Vec<u64> = h.0.buckets.iter().map(|b| b.load(Relaxed)).collect();
        assert_eq!(counts[0], 2);
        assert_eq!(counts[3], 1);
        assert_eq!(counts[BOUNDS.len()], 1);
        assert_eq!(h.count(), 4);
        assert_eq!(h.0.sum_ns.load(Relaxed), 60_008_500_000);
    }
}
