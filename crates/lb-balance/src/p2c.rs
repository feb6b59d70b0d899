//! `p2c`: the power of two choices. Two weighted-random candidates are
//! drawn and the one with fewer in-flight requests per unit of weight wins
//! (Mitzenmacher; tower's `p2c` with weights, as tower#696 asks).
//!
//! Drawing by weight makes an idle set follow the weights; comparing load
//! per unit of weight makes a busy one settle where each member's in-flight
//! count is proportional to its weight.

use crate::random::{self, Alias, MAX_DRAWS};
use crate::table::{Ctx, Tier};

/// Two distinct pickable candidates if the tier has them (one if it has
/// only one), or `None` when sampling found none. When the weighted draws
/// keep returning the first candidate (a small tier, or one heavy member),
/// the second is the next pickable member after it.
#[inline]
pub(crate) fn candidates(
    tier: &Tier,
    ctx: &Ctx<'_>,
    alias: &Alias,
) -> Option<(usize, Option<usize>)> {
    let a = random::draw(tier, ctx, alias)?;
    let b = (0..MAX_DRAWS)
        .map(|_| alias.sample(ctx.rng.next_u64()))
        .find(|&pos| pos != a && tier.load(ctx, pos).is_some())
        .or_else(|| tier.scan_from(ctx, a + 1).filter(|&pos| pos != a));
    Some((a, b))
}

/// The less loaded of two weighted-random candidates, or `None` when no
/// member can be picked.
#[inline]
pub(crate) fn pick(tier: &Tier, ctx: &Ctx<'_>, alias: &Alias) -> Option<usize> {
    let Some((a, b)) = candidates(tier, ctx, alias) else {
        return tier.weighted_random(ctx);
    };
    let Some(b) = b else {
        return Some(a);
    };
    let load = |pos: usize| tier.states[pos].in_flight();
    let (wa, wb) = (u64::from(tier.weights[a]), u64::from(tier.weights[b]));
    let a_wins = usize::from(u64::from(load(a)) * wb <= u64::from(load(b)) * wa);
    Some(a_wins * a + (1 - a_wins) * b)
}
