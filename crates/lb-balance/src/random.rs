//! `random`: weighted random, by Vose's alias method.
//!
//! The alias table is built in integers when the set changes, so a draw is
//! one random number, one multiply-shift and two array reads: O(1) whatever
//! the weights. `p2c` and `peak_ewma` draw their candidates from it too.

use crate::rng::below;
use crate::table::{Ctx, Tier};

/// Draws before a pick gives up sampling and scans the tier.
pub(crate) const MAX_DRAWS: usize = 4;

/// Vose's alias table over integer weights.
#[derive(Debug)]
pub(crate) struct Alias {
    /// Column `i` keeps `i` when the coin is below `prob[i]` (out of `total`).
    prob: Box<[u64]>,
    /// ...and gives `alias[i]` otherwise.
    alias: Box<[u32]>,
    total: u64,
}

impl Alias {
    pub(crate) fn build(weights: &[u32]) -> Self {
        let n = weights.len() as u64;
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut scaled: Vec<u64> = weights.iter().map(|&w| u64::from(w) * n).collect();
        let mut prob = vec![total; weights.len()];
        let mut alias: Vec<u32> = (0..weights.len() as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..weights.len()).partition(|&i| scaled[i] < total);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s];
            alias[s] = l as u32;
            // scaled[l] >= total >= total - scaled[s]: no underflow.
            scaled[l] -= total - scaled[s];
            if scaled[l] < total {
                large.pop();
                small.push(l);
            }
        }
        Self {
            prob: prob.into_boxed_slice(),
            alias: alias.into_boxed_slice(),
            total,
        }
    }

    /// A member drawn with probability weight / total from 64 random bits.
    #[inline]
    pub(crate) fn sample(&self, bits: u64) -> usize {
        let n = self.prob.len() as u64;
        let column = below(bits, n) as usize;
        // The low half of bits × n is uniform too: it decides the coin.
        let coin = below(bits.wrapping_mul(n), self.total);
        // Branch-free: the coin is a fair one, a branch would mispredict.
        let keep = usize::from(coin < self.prob[column]);
        keep * column + (1 - keep) * self.alias[column] as usize
    }
}

/// One weighted-random pickable member, or `None` when none can be picked.
#[inline]
pub(crate) fn pick(tier: &Tier, ctx: &Ctx<'_>, alias: &Alias) -> Option<usize> {
    draw(tier, ctx, alias).or_else(|| tier.weighted_random(ctx))
}

/// Up to [`MAX_DRAWS`] weighted draws; the first pickable one.
#[inline]
pub(crate) fn draw(tier: &Tier, ctx: &Ctx<'_>, alias: &Alias) -> Option<usize> {
    (0..MAX_DRAWS)
        .map(|_| alias.sample(ctx.rng.next_u64()))
        .find(|&pos| tier.load(ctx, pos).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn alias_draws_follow_the_weights() {
        let weights = [5, 1, 3, 1];
        let alias = Alias::build(&weights);
        let rng = Rng::seeded(1);
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            counts[alias.sample(rng.next_u64())] += 1;
        }
        for (c, w) in counts.iter().zip(weights) {
            let expected = 10_000.0 * f64::from(w);
            assert!(
                (f64::from(*c) - expected).abs() < expected * 0.05,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn alias_probabilities_sum_to_the_weights() {
        // Exact check: mass of each member over all columns equals w × n.
        let weights = [7u32, 2, 2, 9, 1];
        let a = Alias::build(&weights);
        let mut mass = [0u64; 5];
        for col in 0..5 {
            mass[col] += a.prob[col];
            mass[a.alias[col] as usize] += a.total - a.prob[col];
        }
        let expected: Vec<u64> = weights.iter().map(|&w| u64::from(w) * 5).collect();
        assert_eq!(mass.to_vec(), expected);
    }
}
