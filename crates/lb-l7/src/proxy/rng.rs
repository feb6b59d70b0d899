//! A per-thread SplitMix64 generator for split routes: no lock, no
//! allocation, seeded once per thread from the OS.

use std::cell::Cell;

use rand::{RngCore, SeedableRng};

thread_local! {
    static STATE: Cell<u64> = Cell::new(rand::rngs::SmallRng::from_os_rng().next_u64());
}

/// The next pseudo-random number of this thread.
pub(crate) fn next_u64() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}
