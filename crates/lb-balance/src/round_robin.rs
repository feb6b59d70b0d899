//! `round_robin`: smooth weighted round robin (nginx's), precomputed as one
//! cycle.
//!
//! The classic algorithm mutates a "current weight" per server on every pick,
//! which needs a lock. The sequence it produces is periodic with period
//! `sum(weights) / gcd(weights)`, so we run it once when the set changes and
//! store the cycle; a pick is one relaxed `fetch_add` and an index. Weights
//! 3, 1, 1 give `a b a c a`: exactly 3:1:1 over every 5 picks.
//!
//! The cycle doubles as the weighted slot table of `ip_hash` and as the
//! rotation order of `least_conn`'s tie breaking.

use std::sync::atomic::Ordering::Relaxed;

use crate::table::{Ctx, Tier};

/// Cap on the precomputed cycle length; weights are scaled down beyond it.
const MAX_CYCLE: u64 = 1 << 20;
/// Cap on the work (cycle length × members) of building a cycle.
const MAX_WORK: u64 = 1 << 26;
/// Cycle entries tried before a pick falls back to a scan of the members.
const MAX_STEPS: usize = 16;

/// The next pick of the cycle; `None` when no member of the tier can be
/// picked.
///
/// An entry whose member cannot be picked is skipped by taking the next
/// turn of the shared counter, so the picks follow the cycle with that
/// member's entries removed: the others keep their exact ratios. After
/// [`MAX_STEPS`] skipped entries the pick scans the members instead.
#[inline]
pub(crate) fn pick(tier: &Tier, ctx: &Ctx<'_>) -> Option<usize> {
    let len = tier.rr.len() as u64;
    if len == 0 {
        return None;
    }
    let mut at = 0;
    for _ in 0..MAX_STEPS {
        at = tier.rr_mod.rem(ctx.cursor.fetch_add(1, Relaxed)) as usize;
        let pos = tier.rr[at] as usize;
        if tier.load(ctx, pos).is_some() {
            return Some(pos);
        }
    }
    tier.scan_from(ctx, tier.rr[at] as usize)
}

/// One cycle of smooth weighted round robin over members of these weights,
/// as member positions.
pub(crate) fn cycle(weights: &[u32]) -> Box<[u32]> {
    if weights.is_empty() {
        return Box::new([]);
    }
    let mut weights: Vec<u64> = weights.iter().map(|&w| u64::from(w.max(1))).collect();
    let g = weights.iter().copied().fold(0, gcd).max(1);
    weights.iter_mut().for_each(|w| *w /= g);
    let mut total: u64 = weights.iter().sum();
    let members = weights.len() as u64;
    let cap = MAX_CYCLE.min((MAX_WORK / members).max(members));
    if total > cap {
        let scale = total.div_ceil(cap);
        weights.iter_mut().for_each(|w| *w = (*w / scale).max(1));
        total = weights.iter().sum();
    }
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += *w as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total as i64;
        out.push(best as u32);
    }
    out.into_boxed_slice()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_3_1_1_give_nginx_order() {
        assert_eq!(&*cycle(&[3, 1, 1]), &[0, 1, 0, 2, 0]);
    }

    #[test]
    fn common_factors_shorten_the_cycle() {
        assert_eq!(&*cycle(&[6, 2, 2]), &[0, 1, 0, 2, 0]);
        assert_eq!(&*cycle(&[4, 4]), &[0, 1]);
    }

    #[test]
    fn huge_weights_are_scaled_within_the_cap() {
        let c = cycle(&[u32::MAX, 1, u32::MAX - 1]);
        assert!(c.len() as u64 <= MAX_CYCLE);
        assert!(c.contains(&1));
    }
}
