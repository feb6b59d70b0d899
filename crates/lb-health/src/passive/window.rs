//! Per-endpoint detection memory: how often it was ejected, when it came
//! back, and a lock-free sliding window of request outcomes.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Buckets in the sliding window.
const BUCKETS: usize = 10;

/// What the detector remembers about one endpoint, keyed by its state's uid.
#[derive(Debug)]
pub(super) struct Tracker {
    /// Times ejected since the last clean spell.
    pub(super) times: AtomicU32,
    /// When it last came back, in ns since the detector's epoch; 0 = never.
    pub(super) returned_at: AtomicU64,
    pub(super) window: Window,
}

impl Tracker {
    pub(super) fn new(bucket_ns: u64) -> Self {
        Self {
            times: AtomicU32::new(0),
            returned_at: AtomicU64::new(0),
            window: Window::new(bucket_ns),
        }
    }
}

/// Request and failure counts over the last `BUCKETS × bucket_ns`, in
/// buckets stamped with their time slot.
///
/// Updates are relaxed atomics: a request recorded while its bucket is being
/// recycled may be lost, which only makes the rate approximate at bucket
/// edges.
#[derive(Debug)]
pub(super) struct Window {
    bucket_ns: u64,
    buckets: [Bucket; BUCKETS],
}

#[derive(Debug, Default)]
struct Bucket {
    /// The time slot (`now / bucket_ns`) these counts belong to.
    slot: AtomicU64,
    total: AtomicU32,
    failed: AtomicU32,
}

impl Window {
    pub(super) fn new(bucket_ns: u64) -> Self {
        Self {
            bucket_ns: bucket_ns.max(1),
            buckets: Default::default(),
        }
    }

    /// Count one request at `now_ns`.
    pub(super) fn record(&self, now_ns: u64, failed: bool) {
        let slot = now_ns / self.bucket_ns;
        let bucket = &self.buckets[(slot % BUCKETS as u64) as usize];
        let seen = bucket.slot.load(Relaxed);
        if seen != slot
            && bucket
                .slot
                .compare_exchange(seen, slot, Relaxed, Relaxed)
                .is_ok()
        {
            bucket.total.store(0, Relaxed);
            bucket.failed.store(0, Relaxed);
        }
        bucket.total.fetch_add(1, Relaxed);
        if failed {
            bucket.failed.fetch_add(1, Relaxed);
        }
    }

    /// `(requests, failures)` within the window ending at `now_ns`.
    pub(super) fn counts(&self, now_ns: u64) -> (u64, u64) {
        let slot = now_ns / self.bucket_ns;
        let mut total = 0u64;
        let mut failed = 0u64;
        for bucket in &self.buckets {
            let s = bucket.slot.load(Relaxed);
            if s <= slot && slot - s < BUCKETS as u64 {
                total += u64::from(bucket.total.load(Relaxed));
                failed += u64::from(bucket.failed.load(Relaxed));
            }
        }
        (total, failed)
    }

    /// Forget everything (after an ejection, so the server starts afresh).
    pub(super) fn clear(&self) {
        for bucket in &self.buckets {
            bucket.total.store(0, Relaxed);
            bucket.failed.store(0, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cover_only_the_window() {
        let w = Window::new(100);
        w.record(0, true);
        w.record(50, false);
        w.record(950, true);
        assert_eq!(w.counts(999), (3, 2));
        // At 1000 the slot of 0..100 has left the window.
        assert_eq!(w.counts(1000), (1, 1));
        // A new request in a recycled bucket resets it first.
        w.record(1010, false);
        assert_eq!(w.counts(1010), (2, 1));
        assert_eq!(w.counts(5000), (0, 0));
        w.clear();
        assert_eq!(w.counts(1010), (0, 0));
    }
}
