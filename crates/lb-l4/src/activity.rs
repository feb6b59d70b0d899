//! Idle detection shared by both copy directions.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

/// When bytes last moved in either direction, as nanoseconds since `start`.
///
/// Touching is a clock read and a relaxed store; the idle watcher sleeps
/// until the last activity plus the timeout and re-arms if something moved
/// meanwhile, so no timer is reset per chunk.
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    last_ns: AtomicU64,
}

impl Activity {
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            start,
            last_ns: AtomicU64::new(0),
        }
    }

    pub(crate) fn touch(&self) {
        let ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_ns.store(ns, Relaxed);
    }

    fn deadline(&self, idle: Duration) -> Instant {
        self.start + Duration::from_nanos(self.last_ns.load(Relaxed)) + idle
    }

    /// Resolves once nothing moved for `idle`; never if `idle` is zero.
    pub(crate) async fn idle(&self, idle: Duration) {
        if idle.is_zero() {
            return std::future::pending().await;
        }
        loop {
            let deadline = self.deadline(idle);
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}
