//! Walking a hash table (ring or Maglev) to the first member that can take
//! the request, with optional bounded loads.
//!
//! Bounded loads follow Mirrokni, Thorup and Zadimoghaddam, "Consistent
//! Hashing with Bounded Loads" (SODA 2018): with `c ≥ 1`, a member may take
//! a new request only if its in-flight count after it stays within
//! `ceil(c × (total + 1) × weight / total_weight)`, where `total` and
//! `total_weight` are summed over the tier's available members (with equal
//! weights: `ceil(c × (total + 1) / n)`, at most `c` times the average). A
//! member over its bound passes the key on to the next entry, so keys stay
//! sticky until their server is overloaded. Some available member is always
//! within the bound (the least loaded one), unless the caller excluded it:
//! then the walk ignores the bound rather than fail.
//!
//! The total is computed lazily, by one scan of the tier, and only when a
//! candidate has requests in flight: a member with none is always within
//! its bound.

use crate::table::{wrap, Ctx, Tier};

/// Entries walked before checking that the tier has any pickable member.
const QUICK_STEPS: usize = 64;

/// The load bound of one pick, computed on first need.
struct Bound {
    c: f64,
    /// `(total in-flight, total weight)` of the available members.
    totals: Option<(u64, u64)>,
}

impl Bound {
    fn admits(&mut self, tier: &Tier, pos: usize, load: u32) -> bool {
        if load == 0 {
            return true;
        }
        let (total, weight_sum) = *self.totals.get_or_insert_with(|| totals(tier));
        if weight_sum == 0 {
            return true;
        }
        let cap = capacity(self.c, total, u64::from(tier.weights[pos]), weight_sum);
        f64::from(load) + 1.0 <= cap
    }
}

/// `ceil(c × (total + 1) × weight / weight_sum)`: how many requests a member
/// may hold once the next one is placed. Public to the crate so tests use
/// the same arithmetic.
pub(crate) fn capacity(c: f64, total: u64, weight: u64, weight_sum: u64) -> f64 {
    (c * (total + 1) as f64 * weight as f64 / weight_sum as f64).ceil()
}

fn totals(tier: &Tier) -> (u64, u64) {
    tier.states
        .iter()
        .zip(tier.weights.iter())
        .filter_map(|(s, &w)| Some((u64::from(s.available_load()?), u64::from(w))))
        .fold((0, 0), |(t, ws), (l, w)| (t + l, ws + w))
}

/// Walk entries `start, start + 1, ...` of a table of `len` entries whose
/// entry `i` names member `owner(i)`; return the first pickable member
/// (within its load bound if `bound` is set), or `None` when the tier has no
/// pickable member.
#[inline]
pub(crate) fn walk(
    tier: &Tier,
    ctx: &Ctx<'_>,
    len: usize,
    start: usize,
    owner: impl Fn(usize) -> usize,
    bound: Option<f64>,
) -> Option<usize> {
    let mut limit = bound.map(|c| Bound { c, totals: None });
    for step in 0..len {
        if step == QUICK_STEPS && tier.scan_from(ctx, 0).is_none() {
            return None;
        }
        let pos = owner(wrap(start + step, len));
        let Some(load) = tier.load(ctx, pos) else {
            continue;
        };
        if let Some(b) = &mut limit {
            if !b.admits(tier, pos, load) {
                continue;
            }
        }
        return Some(pos);
    }
    if bound.is_some() {
        // Only excluded members were within their bound.
        return walk(tier, ctx, len, start, owner, None);
    }
    None
}
