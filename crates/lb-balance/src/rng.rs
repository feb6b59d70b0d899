//! The cheap random numbers behind `random`, `p2c` and `peak_ewma`.
//!
//! By default each thread has its own wyrand state in a thread-local `Cell`:
//! drawing a number writes no shared cache line. A balancer built
//! [`with_seed`](crate::Balancer::with_seed) instead draws from one atomic
//! counter of its own, so a single-threaded test or simulation sees the same
//! sequence on every run.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const WY0: u64 = 0xa076_1d64_78bd_642f;
const WY1: u64 = 0xe703_7ed1_a0b4_28db;

thread_local! {
    /// 0 until the thread's first draw seeds it (a `const` thread-local
    /// needs no lazy-initialisation check on every access).
    static THREAD_STATE: Cell<u64> = const { Cell::new(0) };
}

/// A seed that differs per thread and per process.
fn thread_seed() -> u64 {
    // `RandomState` keys come from the OS once per thread, then advance.
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

#[inline]
fn wymix(a: u64, b: u64) -> u64 {
    let t = u128::from(a) * u128::from(b);
    (t as u64) ^ ((t >> 64) as u64)
}

/// Where a balancer's random numbers come from.
#[derive(Debug)]
pub(crate) enum Rng {
    /// A per-thread generator (the default).
    Thread,
    /// A seeded generator shared by the balancer's users: reproducible.
    Seeded(AtomicU64),
}

impl Rng {
    pub(crate) fn seeded(seed: u64) -> Self {
        Rng::Seeded(AtomicU64::new(seed))
    }

    /// The next 64 random bits (wyrand).
    #[inline]
    pub(crate) fn next_u64(&self) -> u64 {
        let s = match self {
            Rng::Thread => THREAD_STATE.with(|c| {
                let mut s = c.get();
                if s == 0 {
                    s = thread_seed();
                }
                let s = s.wrapping_add(WY0);
                c.set(s);
                s
            }),
            Rng::Seeded(state) => state.fetch_add(WY0, Relaxed).wrapping_add(WY0),
        };
        wymix(s, s ^ WY1)
    }
}

/// A uniform number in `0..n` from 64 random bits (Lemire's multiply-shift
/// reduction; no division). `n` must not be 0.
#[inline]
pub(crate) fn below(bits: u64, n: u64) -> u64 {
    ((u128::from(bits) * u128::from(n)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sequences_repeat_and_differ_by_seed() {
        let a: Vec<u64> = (0..4)
            .map({
                let r = Rng::seeded(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let r = Rng::seeded(7);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let r = Rng::seeded(8);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_stays_in_range_and_spreads() {
        let r = Rng::Thread;
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            let i = below(r.next_u64(), 7);
            seen[i as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 700), "{seen:?}");
    }
}
