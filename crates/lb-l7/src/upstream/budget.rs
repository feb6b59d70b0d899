//! The retry budget: retries may add at most `ratio` to the request rate
//! over the last 10 s, plus a reserve of 3 retries per second (the
//! semantics of tower's `TpsBudget` and Finagle's `RetryBudget`).
//!
//! Kept as ten one-second slots of relaxed atomics, reused in turn; a slot
//! belonging to an older second is cleared by whoever touches it first. Two
//! racing requests can each miss the other's count, so the budget is exact
//! only up to the concurrency of one instant: good enough for a safety
//! valve, and lock-free.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::time::Instant;

/// Seconds in the window.
const WINDOW_SECS: u64 = 10;
/// Retries per second always allowed.
const MIN_PER_SEC: u64 = 3;

#[derive(Debug, Default)]
struct Slot {
    /// The second (since `epoch`, plus one) the counts belong to; 0 = never.
    stamp: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

/// A sliding-window retry budget.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    ratio: f64,
    epoch: Instant,
    slots: [Slot; WINDOW_SECS as usize],
}

impl RetryBudget {
    pub(crate) fn new(ratio: f64) -> Self {
        Self {
            ratio: if ratio.is_finite() {
                ratio.max(0.0)
            } else {
                0.0
            },
            epoch: Instant::now(),
            slots: Default::default(),
        }
    }

    /// Count one request.
    pub(crate) fn deposit(&self) {
        self.current().requests.fetch_add(1, Relaxed);
    }

    /// Take one retry from the budget; false when it is spent.
    pub(crate) fn withdraw(&self) -> bool {
        let now = self.stamp();
        let cur = self.slot(now);
        let (mut requests, mut retries) = (0u64, 0u64);
        for slot in &self.slots {
            let stamp = slot.stamp.load(Relaxed);
            if stamp != 0 && stamp + WINDOW_SECS > now {
                requests += slot.requests.load(Relaxed);
                retries += slot.retries.load(Relaxed);
            }
        }
        let allowed = MIN_PER_SEC * WINDOW_SECS + (requests as f64 * self.ratio) as u64;
        if retries < allowed {
            cur.retries.fetch_add(1, Relaxed);
            true
        } else {
            false
        }
    }

    fn stamp(&self) -> u64 {
        self.epoch.elapsed().as_secs() + 1
    }

    fn current(&self) -> &Slot {
        self.slot(self.stamp())
    }

    fn slot(&self, stamp: u64) -> &Slot {
        let slot = &self.slots[(stamp % WINDOW_SECS) as usize];
        let old = slot.stamp.load(Relaxed);
        if old != stamp
            && slot
                .stamp
                .compare_exchange(old, stamp, Relaxed, Relaxed)
                .is_ok()
        {
            slot.requests.store(0, Relaxed);
            slot.retries.store(0, Relaxed);
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn reserve_is_three_per_second_over_the_window() {
        let b = RetryBudget::new(0.0);
        let granted = (0..100).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 30);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(b.withdraw(), "the window moved on");
    }

    #[tokio::test(start_paused = true)]
    async fn ratio_adds_to_the_reserve() {
        let b = RetryBudget::new(0.2);
        for _ in 0..1000 {
            b.deposit();
        }
        let granted = (0..1000).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 30 + 200);
    }
}
