//! `maglev`: the Maglev lookup table (Eisenbud et al., "Maglev: A Fast and
//! Reliable Software Network Load Balancer", NSDI 2016), weighted.
//!
//! Each member's preference list is the permutation
//! `(offset + j × skip) mod M` of the `M` slots (`M` prime), with
//! `h = hash_key(id)`, `offset = h mod M`, `skip = mix64(h) mod (M − 1) + 1`.
//! Members take turns claiming their next free preferred slot until the
//! table is full. Turns are weighted as Envoy does: in round `r` a member of
//! weight `w` takes a turn when `r × w ≥ target`, then `target += max_weight`,
//! so it claims about `w / max_weight` slots per round and ends with a share
//! of the table within a slot or two of `M × w / sum(weights)`. Members take
//! turns in order of id, so the table depends only on the ids and weights.
//!
//! A key is served by the member in slot [`hash::slot`]`(key, M)`; a member
//! that cannot be picked (or is over its load bound) passes the key on to
//! the next slots. Removing a member moves its keys and, as the paper shows,
//! only a small share of the others'.

use crate::bounded;
use crate::hash::{self, hash_key};
use crate::table::{Ctx, Tier};

/// Marks a slot not yet claimed while filling.
const EMPTY: u32 = u32::MAX;

/// The lookup table of one tier.
#[derive(Debug)]
pub(crate) struct MaglevTable {
    /// Member position per slot.
    slots: Box<[u32]>,
}

impl MaglevTable {
    /// Fill a table of `size` slots (a prime; see
    /// [`Algorithm::validate`](crate::Algorithm::validate)).
    pub(crate) fn build(ids: &[&str], weights: &[u32], size: u32) -> Self {
        let m = u64::from(crate::algorithm::usable_table_size(size));
        let n = ids.len();
        if n == 0 {
            return Self {
                slots: Box::new([]),
            };
        }
        // Turn order: by id, so listing order does not matter.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| ids[a].cmp(ids[b]));
        let offset_skip: Vec<(u64, u64)> = ids
            .iter()
            .map(|id| {
                let h = hash_key(id.as_bytes());
                (h % m, hash::mix64(h) % (m - 1).max(1) + 1)
            })
            .collect();
        let max_weight = u64::from(weights.iter().copied().max().unwrap_or(1).max(1));
        let mut next = vec![0u64; n];
        let mut target = vec![0u64; n];
        let mut slots = vec![EMPTY; m as usize];
        let mut filled = 0u64;
        let mut round = 1u64;
        while filled < m {
            for &i in &order {
                if filled == m {
                    break;
                }
                if round * u64::from(weights[i].max(1)) < target[i] {
                    continue;
                }
                target[i] += max_weight;
                let (offset, skip) = offset_skip[i];
                loop {
                    // next[i] < m: the permutation visits every slot once
                    // and at least one is still free.
                    let c = ((offset + next[i] * skip) % m) as usize;
                    next[i] += 1;
                    if slots[c] == EMPTY {
                        slots[c] = i as u32;
                        filled += 1;
                        break;
                    }
                }
            }
            round += 1;
        }
        Self {
            slots: slots.into_boxed_slice(),
        }
    }

    /// Slots held by each of `n` members.
    #[cfg(test)]
    pub(crate) fn shares(&self, n: usize) -> Vec<usize> {
        let mut out = vec![0; n];
        self.slots.iter().for_each(|&s| out[s as usize] += 1);
        out
    }
}

/// The member for `key`, or `None` when no member can be picked.
#[inline]
pub(crate) fn pick(
    tier: &Tier,
    ctx: &Ctx<'_>,
    table: &MaglevTable,
    key: u64,
    bound: Option<f64>,
) -> Option<usize> {
    let len = table.slots.len();
    if len == 0 {
        return None;
    }
    let start = hash::slot(key, len as u64) as usize;
    bounded::walk(tier, ctx, len, start, |i| table.slots[i] as usize, bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_weights_split_the_table_within_one_slot() {
        let ids = ["a:1", "b:1", "c:1", "d:1", "e:1"];
        let t = MaglevTable::build(&ids, &[1; 5], 65537);
        let s = t.shares(5);
        let (min, max) = (s.iter().min().unwrap(), s.iter().max().unwrap());
        assert!(max - min <= 1, "{s:?}");
        assert_eq!(s.iter().sum::<usize>(), 65537);
    }

    #[test]
    fn weights_split_the_table_proportionally() {
        let ids = ["a", "b", "c"];
        let t = MaglevTable::build(&ids, &[1, 2, 5], 65537);
        let s = t.shares(3);
        for (share, w) in s.iter().zip([1.0, 2.0, 5.0]) {
            let fair = 65537.0 * w / 8.0;
            assert!((*share as f64 - fair).abs() <= 3.0, "{s:?}");
        }
    }

    #[test]
    fn table_does_not_depend_on_member_order() {
        let t1 = MaglevTable::build(&["x", "y", "z"], &[1, 2, 3], 251);
        let t2 = MaglevTable::build(&["z", "x", "y"], &[3, 1, 2], 251);
        let map = [2u32, 0, 1]; // position in t2 -> position in t1
        let remapped: Vec<u32> = t2.slots.iter().map(|&s| map[s as usize]).collect();
        assert_eq!(&*t1.slots, &remapped[..]);
    }

    #[test]
    fn more_members_than_slots_still_terminates() {
        let ids: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let t = MaglevTable::build(&ids, &[1; 20], 7);
        assert_eq!(t.slots.len(), 7);
        assert!(t.slots.iter().all(|&s| s != EMPTY));
    }
}
