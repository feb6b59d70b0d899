//! Weighted traffic split between upstreams, deterministic in the random number it is given.

/// Cumulative weights of a split, parallel to the `(name, weight)` list of the spec.
///
/// `pick(rand)` takes `x = rand % total` and returns the first entry whose cumulative weight
/// exceeds `x`. A sweep of `rand` over `0..total` therefore yields each entry exactly `weight`
/// times, and a uniform `rand` yields each with probability `weight / total`.
#[derive(Clone, Debug)]
pub(crate) struct Split {
    cumulative: Box<[u64]>,
    total: u64,
}

impl Split {
    /// `None` when the weights add up to 0 (nothing could ever be picked).
    pub(crate) fn new(weights: impl IntoIterator<Item = u32>) -> Option<Self> {
        let mut total = 0u64;
        let cumulative: Box<[u64]> = weights
            .into_iter()
            .map(|w| {
                total += u64::from(w);
                total
            })
            .collect();
        (total > 0).then_some(Self { cumulative, total })
    }

    /// The index of the picked entry.
    #[inline]
    pub(crate) fn pick(&self, rand: u64) -> usize {
        let x = rand % self.total;
        // First entry whose cumulative weight is > x; zero-weight entries are never it.
        self.cumulative.partition_point(|&c| c <= x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_gives_exact_proportions_and_skips_zero_weights() {
        let split = Split::new([3, 0, 1]).unwrap();
        let mut counts = [0u32; 3];
        for r in 0..4u64 * 10 {
            counts[split.pick(r)] += 1;
        }
        assert_eq!(counts, [30, 0, 10]);
        assert_eq!(split.pick(u64::MAX), split.pick(u64::MAX % 4));
    }

    #[test]
    fn all_zero_is_rejected() {
        assert!(Split::new([0, 0]).is_none());
        assert!(Split::new([]).is_none());
    }
}
