//! `peak_ewma`: p2c on peak-EWMA latency × (in-flight + 1), per unit of
//! weight, as in Finagle and linkerd.
//!
//! The latency estimate lives in [`EndpointState`](crate::EndpointState): a
//! slower response replaces it at once (the "peak"), faster ones pull it down
//! with a 10 s decay. A pick compares two candidates without reading the
//! clock: both estimates decay by `exp(-(now - stamp) / τ)`, so `now` cancels
//! out of the comparison and only the difference of their stamps remains.

use crate::p2c;
use crate::random::Alias;
use crate::state::EWMA_DECAY_NS;
use crate::table::{Ctx, Tier};

/// The candidate with the lower `ewma_load / weight`, or `None` when no
/// member can be picked.
#[inline]
pub(crate) fn pick(tier: &Tier, ctx: &Ctx<'_>, alias: &Alias) -> Option<usize> {
    let Some((a, b)) = p2c::candidates(tier, ctx, alias) else {
        return tier.weighted_random(ctx);
    };
    let Some(b) = b else {
        return Some(a);
    };
    let (la, sa) = tier.states[a].ewma_raw_load();
    let (lb, sb) = tier.states[b].ewma_raw_load();
    let (wa, wb) = (f64::from(tier.weights[a]), f64::from(tier.weights[b]));
    // decayed_a / w_a <= decayed_b / w_b, with
    // decayed_a / decayed_b = la / lb × exp((sa - sb) / τ).
    // (A multiplication: a division here costs a fifth of the pick.)
    let dt = (sa.wrapping_sub(sb) as i64) as f64 * (1.0 / EWMA_DECAY_NS);
    let a_wins = usize::from(la * wb * exp(dt) <= lb * wa);
    Some(a_wins * a + (1 - a_wins) * b)
}

/// `e^x`, by its Taylor series near 0 (stamps within 100 ms of each other,
/// the common case: relative error below 2e-7) and `f64::exp` elsewhere
/// (clamped so that the product stays finite).
#[inline]
fn exp(x: f64) -> f64 {
    if x.abs() < 0.01 {
        1.0 + x * (1.0 + x * 0.5)
    } else {
        x.clamp(-64.0, 64.0).exp()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_is_close_to_std() {
        for x in [
            -100.0, -1.0, -0.01, -0.001, 0.0, 1e-9, 0.005, 0.0099, 0.5, 100.0f64,
        ] {
            let (ours, std) = (super::exp(x), x.clamp(-64.0, 64.0).exp());
            assert!((ours - std).abs() <= 2e-7 * std, "{x}: {ours} vs {std}");
        }
    }
}
