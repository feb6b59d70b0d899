//! `consistent_hash`: a hash ring (Karger et al., STOC 1997) with
//! `vnodes × weight` points per server, and optional bounded loads.
//!
//! Point `i` of the member with id `ID` sits at
//! [`hash_key`](crate::hash::hash_key)`("ID#i")` for `i` in
//! `0..vnodes × weight`; points are sorted by position (ties by id). A key is
//! served by the owner of the first point at or after it, going round; a
//! member that cannot be picked (or is over its bound, see [`bounded`]) passes
//! the key on to the next point. The ring depends only on the ids and
//! weights, not on their order, so adding a server moves only the keys it
//! takes (about `1/(k+1)` of them) and removing one moves only its keys.
//!
//! [`bounded`]: crate::bounded

use std::fmt::Write;

use crate::bounded;
use crate::hash::hash_key;
use crate::table::{Ctx, Tier};

/// Cap on the points of one ring; beyond it points per server are scaled
/// down proportionally (at least one each).
const MAX_POINTS: u64 = 1 << 21;

/// One point of the ring.
#[derive(Debug, Clone, Copy)]
struct Point {
    at: u64,
    /// Member position owning the point.
    owner: u32,
}

/// The sorted ring of one tier, with an index so that a lookup touches two
/// or three cache lines instead of binary-searching the whole ring.
#[derive(Debug)]
pub(crate) struct Ring {
    points: Box<[Point]>,
    /// `first[b]`: the first point at or after `b << shift`, for each of the
    /// `2^bits` buckets of the key space, plus `points.len()` at the end.
    first: Box<[u32]>,
    /// `64 - bits`.
    shift: u32,
}

impl Ring {
    pub(crate) fn build(ids: &[&str], weights: &[u32], vnodes: u32) -> Self {
        let counts = point_counts(weights, vnodes);
        let mut ring: Vec<(u64, u32)> = Vec::with_capacity(counts.iter().sum::<u64>() as usize);
        let mut name = String::new();
        for (member, (id, count)) in ids.iter().zip(&counts).enumerate() {
            for i in 0..*count {
                name.clear();
                let _ = write!(name, "{id}#{i}");
                ring.push((hash_key(name.as_bytes()), member as u32));
            }
        }
        ring.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| ids[a.1 as usize].cmp(ids[b.1 as usize]))
        });
        let points: Box<[Point]> = ring
            .into_iter()
            .map(|(at, owner)| Point { at, owner })
            .collect();
        // About four points (one cache line) per bucket: a small index
        // that stays in cache, and one more line to read in the ring.
        let bits = (points.len() / 4)
            .max(2)
            .next_power_of_two()
            .trailing_zeros();
        let shift = 64 - bits;
        let mut first = Vec::with_capacity((1 << bits) + 1);
        let mut p = 0usize;
        for bucket in 0..(1u64 << bits) {
            while p < points.len() && (points[p].at >> shift) < bucket {
                p += 1;
            }
            first.push(p as u32);
        }
        first.push(points.len() as u32);
        Self {
            points,
            first: first.into_boxed_slice(),
            shift,
        }
    }

    /// The position of the first point at or after `key`, going round.
    #[inline]
    fn start(&self, key: u64) -> usize {
        let bucket = (key >> self.shift) as usize;
        let (lo, hi) = match (self.first.get(bucket), self.first.get(bucket + 1)) {
            (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
            _ => (0, self.points.len()),
        };
        let at = lo + self.points[lo..hi].partition_point(|p| p.at < key);
        if at >= self.points.len() {
            0
        } else {
            at
        }
    }

    /// Number of points.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.points.len()
    }
}

/// Points per member: `vnodes × weight`, scaled down to [`MAX_POINTS`] in
/// all.
fn point_counts(weights: &[u32], vnodes: u32) -> Vec<u64> {
    let vnodes = u64::from(vnodes.max(1));
    let mut counts: Vec<u64> = weights.iter().map(|&w| vnodes * u64::from(w)).collect();
    let total: u64 = counts.iter().sum();
    if total > MAX_POINTS {
        counts.iter_mut().for_each(|c| {
            *c = ((u128::from(*c) * u128::from(MAX_POINTS) / u128::from(total)) as u64).max(1)
        });
    }
    counts
}

/// The member for `key`, or `None` when no member can be picked.
#[inline]
pub(crate) fn pick(
    tier: &Tier,
    ctx: &Ctx<'_>,
    ring: &Ring,
    key: u64,
    bound: Option<f64>,
) -> Option<usize> {
    let len = ring.points.len();
    if len == 0 {
        return None;
    }
    let start = ring.start(key);
    bounded::walk(
        tier,
        ctx,
        len,
        start,
        |i| ring.points[i].owner as usize,
        bound,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_follow_vnodes_times_weight() {
        let ring = Ring::build(&["a", "b"], &[1, 3], 10);
        assert_eq!(ring.len(), 40);
        let b = ring.points.iter().filter(|p| p.owner == 1).count();
        assert_eq!(b, 30);
        assert!(ring.points.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn the_index_finds_the_same_point_as_a_binary_search() {
        let ring = Ring::build(&["a", "b", "c"], &[1, 2, 3], 37);
        let mut keys: Vec<u64> = ring
            .points
            .iter()
            .flat_map(|p| [p.at, p.at.wrapping_add(1), p.at.wrapping_sub(1)])
            .collect();
        keys.extend([0, 1, u64::MAX, u64::MAX / 2]);
        for key in keys {
            let expected = ring.points.partition_point(|p| p.at < key) % ring.len();
            assert_eq!(ring.start(key), expected, "{key:#x}");
        }
    }

    #[test]
    fn ring_does_not_depend_on_member_order() {
        let r1 = Ring::build(&["a", "b", "c"], &[1, 2, 1], 50);
        let r2 = Ring::build(&["c", "a", "b"], &[1, 1, 2], 50);
        let names1 = ["a", "b", "c"];
        let names2 = ["c", "a", "b"];
        let o1: Vec<(u64, &str)> = r1
            .points
            .iter()
            .map(|p| (p.at, names1[p.owner as usize]))
            .collect();
        let o2: Vec<(u64, &str)> = r2
            .points
            .iter()
            .map(|p| (p.at, names2[p.owner as usize]))
            .collect();
        assert_eq!(o1, o2);
    }

    #[test]
    fn huge_rings_are_capped() {
        let counts = point_counts(&[u32::MAX, 1, u32::MAX], 1000);
        assert!(counts.iter().sum::<u64>() <= MAX_POINTS);
        assert_eq!(counts[1], 1);
        assert_eq!(counts[0], counts[2]);
    }
}
