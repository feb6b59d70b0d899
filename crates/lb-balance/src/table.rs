//! The per-snapshot tables every algorithm picks from.
//!
//! A [`Table`] splits the endpoints into two [`Tier`]s, primaries and backups;
//! a pick tries the primaries and falls to the backups only when no primary
//! can be picked. Each tier keeps its members' shared states in one
//! contiguous slice (a scan touches no `T`), their weights, the smooth
//! weighted round-robin cycle (the fallback of every algorithm), and the
//! algorithm's own table. Everything here is built when the membership
//! changes, never on the request path.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::algorithm::Algorithm;
use crate::consistent_hash::Ring;
use crate::endpoint::Endpoint;
use crate::maglev::MaglevTable;
use crate::random::Alias;
use crate::rng::{below, Rng};
use crate::round_robin;
use crate::state::EndpointState;

/// Precomputed tables of one snapshot.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) primary: Tier,
    pub(crate) backup: Tier,
}

impl Table {
    pub(crate) fn build<T>(algorithm: &Algorithm, endpoints: &[Endpoint<T>]) -> Self {
        Self {
            primary: Tier::build(algorithm, endpoints, false),
            backup: Tier::build(algorithm, endpoints, true),
        }
    }
}

/// The algorithm-specific part of a tier.
#[derive(Debug)]
pub(crate) enum Extra {
    /// `round_robin`, `least_conn`, `ip_hash`: the cycle is enough.
    None,
    /// `random`, `p2c`, `peak_ewma`: weighted sampling in O(1).
    Alias(Alias),
    /// `consistent_hash`.
    Ring(Ring),
    /// `maglev`.
    Maglev(MaglevTable),
}

/// The primaries or the backups of a snapshot.
#[derive(Debug)]
pub(crate) struct Tier {
    /// Position in the snapshot's endpoint list of each member.
    pub(crate) index: Box<[u32]>,
    /// Each member's shared state.
    pub(crate) states: Box<[Arc<EndpointState>]>,
    /// Each member's weight (at least 1).
    pub(crate) weights: Box<[u32]>,
    /// One cycle of smooth weighted round robin, as member positions.
    pub(crate) rr: Box<[u32]>,
    /// `n % rr.len()` without a division.
    pub(crate) rr_mod: FastMod,
    pub(crate) extra: Extra,
}

impl Tier {
    fn build<T>(algorithm: &Algorithm, endpoints: &[Endpoint<T>], backup: bool) -> Self {
        let members: Vec<(u32, &Endpoint<T>)> = endpoints
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_backup() == backup)
            .map(|(i, e)| (u32::try_from(i).unwrap_or(u32::MAX), e))
            .collect();
        let weights: Box<[u32]> = members.iter().map(|(_, e)| e.weight().max(1)).collect();
        let ids: Vec<&str> = members.iter().map(|(_, e)| &**e.id()).collect();
        let extra = if members.is_empty() {
            Extra::None
        } else {
            match algorithm {
                Algorithm::Random | Algorithm::P2c | Algorithm::PeakEwma => {
                    Extra::Alias(Alias::build(&weights))
                }
                Algorithm::ConsistentHash { vnodes, .. } => {
                    Extra::Ring(Ring::build(&ids, &weights, *vnodes))
                }
                Algorithm::Maglev { table_size, .. } => {
                    Extra::Maglev(MaglevTable::build(&ids, &weights, *table_size))
                }
                _ => Extra::None,
            }
        };
        let rr = round_robin::cycle(&weights);
        Self {
            index: members.iter().map(|(i, _)| *i).collect(),
            states: members.iter().map(|(_, e)| Arc::clone(e.state())).collect(),
            rr_mod: FastMod::new(rr.len() as u64),
            rr,
            weights,
            extra,
        }
    }

    /// Number of members.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    /// The member's in-flight count if it can be picked now.
    #[inline]
    pub(crate) fn load(&self, ctx: &Ctx<'_>, pos: usize) -> Option<u32> {
        ctx.load(self.states.get(pos)?)
    }

    /// The first pickable member at or after `start`, going round once.
    pub(crate) fn scan_from(&self, ctx: &Ctx<'_>, start: usize) -> Option<usize> {
        let n = self.len();
        (0..n)
            .map(|step| wrap(start + step, n))
            .find(|&pos| self.load(ctx, pos).is_some())
    }

    /// A weighted-random pickable member, in two passes over the tier (the
    /// slow path, when sampling kept hitting unavailable members).
    pub(crate) fn weighted_random(&self, ctx: &Ctx<'_>) -> Option<usize> {
        let ok = |pos: usize| self.load(ctx, pos).is_some();
        let total: u64 = (0..self.len())
            .filter(|&p| ok(p))
            .map(|p| u64::from(self.weights[p]))
            .sum();
        if total == 0 {
            return None;
        }
        let mut target = below(ctx.rng.next_u64(), total);
        for pos in (0..self.len()).filter(|&p| ok(p)) {
            let w = u64::from(self.weights[pos]);
            if target < w {
                return Some(pos);
            }
            target -= w;
        }
        None
    }
}

/// `i` for `i < n`, else `i - n`, else `i % n`: a cheap modulo for indices
/// that rarely wrap more than once. `n` must not be 0.
#[inline]
pub(crate) fn wrap(i: usize, n: usize) -> usize {
    if i < n {
        i
    } else if i - n < n {
        i - n
    } else {
        i % n
    }
}

/// `a % d` by multiplications (Lemire, Kaser and Kurz, "Faster remainder by
/// direct computation", 2019), exact for every 64-bit `a`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FastMod {
    /// `ceil(2^128 / d)` (0 when `d` is 1).
    m: u128,
    d: u64,
}

impl FastMod {
    /// For divisor `d` (0 is treated as 1).
    pub(crate) fn new(d: u64) -> Self {
        let d = d.max(1);
        Self {
            m: (u128::MAX / u128::from(d)).wrapping_add(1),
            d,
        }
    }

    /// `a % d`.
    #[inline]
    pub(crate) fn rem(self, a: u64) -> u64 {
        let low = self.m.wrapping_mul(u128::from(a));
        let d = u128::from(self.d);
        // The high 64 bits of the 192-bit product `low × d`.
        let lo = u128::from(low as u64) * d;
        let hi = (low >> 64) * d;
        ((hi + (lo >> 64)) >> 64) as u64
    }
}

/// What a pick needs besides the tables.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    /// Uids of endpoints the caller already tried.
    pub(crate) exclude: &'a [u64],
    /// The balancer's rotating counter.
    pub(crate) cursor: &'a AtomicU64,
    /// The balancer's random numbers.
    pub(crate) rng: &'a Rng,
}

impl Ctx<'_> {
    /// The in-flight count if `state` is available and not excluded.
    #[inline]
    pub(crate) fn load(&self, state: &EndpointState) -> Option<u32> {
        let load = state.available_load()?;
        if !self.exclude.is_empty() && self.exclude.contains(&state.uid()) {
            return None;
        }
        Some(load)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fast_mod_edges() {
        for d in [1u64, 2, 3, 5, 7, 64, 1 << 20, 65537, u64::MAX - 1, u64::MAX] {
            let f = FastMod::new(d);
            for a in [
                0u64,
                1,
                d - 1,
                d,
                d.wrapping_add(1),
                u64::MAX,
                u64::MAX - 1,
                1 << 63,
            ] {
                assert_eq!(f.rem(a), a % d, "{a} % {d}");
            }
        }
    }

    proptest! {
        #[test]
        fn fast_mod_matches_the_remainder(a in any::<u64>(), d in 1u64..) {
            prop_assert_eq!(FastMod::new(d).rem(a), a % d);
        }

        #[test]
        fn fast_mod_matches_small_divisors(a in any::<u64>(), d in 1u64..2000) {
            prop_assert_eq!(FastMod::new(d).rem(a), a % d);
        }
    }
}
