//! `least_conn`: the member with the fewest in-flight requests (L7) or
//! connections (L4) per unit of weight; ties rotate.
//!
//! A pick scans the tier once, comparing `in_flight / weight` exactly (by
//! cross-multiplying), and stops at the first idle member: O(n) when every
//! member is busy, so prefer `p2c` for large busy sets. The scan starts where the smooth weighted round-robin
//! cycle is, so among equally loaded members the choice rotates, and when
//! every member is idle `least_conn` is exactly weighted round robin (as
//! nginx breaks ties with its round robin).

use std::sync::atomic::Ordering::Relaxed;

use crate::table::{Ctx, Tier};

/// A least-loaded pickable member, or `None` when none can be picked.
#[inline]
pub(crate) fn pick(tier: &Tier, ctx: &Ctx<'_>) -> Option<usize> {
    let n = tier.len();
    let cycle = tier.rr.len();
    if n == 0 || cycle == 0 {
        return None;
    }
    let turn = ctx.cursor.fetch_add(1, Relaxed);
    let start = tier.rr[tier.rr_mod.rem(turn) as usize] as usize;
    // (position, in-flight, weight) of the best so far; the scan goes from
    // `start` to the end, then from 0 to `start`. An idle member is a
    // minimum: the first one found ends the scan (the same choice a full
    // scan would make, since ties keep the first found).
    let mut best: Option<(usize, u64, u64)> = None;
    for pos in (start.min(n)..n).chain(0..start.min(n)) {
        let Some(load) = tier.load(ctx, pos) else {
            continue;
        };
        if load == 0 {
            return Some(pos);
        }
        let (load, weight) = (u64::from(load), u64::from(tier.weights[pos]));
        match best {
            Some((_, b_load, b_weight)) if load * b_weight >= b_load * weight => {}
            _ => best = Some((pos, load, weight)),
        }
    }
    best.map(|(pos, _, _)| pos)
}
