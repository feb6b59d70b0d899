//! Smooth weighted round robin (nginx's), precomputed as one cycle.
//!
//! The classic algorithm mutates a "current weight" per server on every pick,
//! which needs a lock. The sequence it produces is periodic with period
//! `sum(weights)`, so we run it once when the set changes and store the
//! cycle; a pick is one relaxed `fetch_add` and an index.

use crate::endpoint::Endpoint;

/// Cap on the precomputed cycle length; weights are scaled down beyond it.
const MAX_CYCLE: u64 = 1 << 20;

/// One cycle of smooth weighted round robin over the primaries, and one over
/// the backups.
#[derive(Debug, Default)]
pub(crate) struct Sequence {
    primary: Box<[u32]>,
    backup: Box<[u32]>,
}

impl Sequence {
    pub(crate) fn build<T>(endpoints: &[Endpoint<T>]) -> Self {
        let tier = |backup: bool| -> Box<[u32]> {
            let members: Vec<(u32, u64)> = endpoints
                .iter()
                .enumerate()
                .filter(|(_, e)| e.is_backup() == backup)
                .map(|(i, e)| (i as u32, u64::from(e.weight())))
                .collect();
            smooth_cycle(&members)
        };
        Self {
            primary: tier(false),
            backup: tier(true),
        }
    }

    /// The `n`-th pick, skipping unavailable and excluded endpoints; backups
    /// only when no primary is available.
    pub(crate) fn pick<T>(
        &self,
        endpoints: &[Endpoint<T>],
        n: u64,
        exclude: &[u64],
    ) -> Option<usize> {
        for cycle in [&self.primary, &self.backup] {
            let len = cycle.len() as u64;
            if len == 0 {
                continue;
            }
            for step in 0..len {
                let idx = cycle[((n + step) % len) as usize] as usize;
                let s = endpoints[idx].state();
                if s.is_available() && !exclude.contains(&s.uid()) {
                    return Some(idx);
                }
            }
        }
        None
    }
}

fn smooth_cycle(members: &[(u32, u64)]) -> Box<[u32]> {
    if members.is_empty() {
        return Box::new([]);
    }
    let mut weights: Vec<u64> = members.iter().map(|m| m.1).collect();
    let g = weights.iter().copied().fold(0, gcd);
    weights.iter_mut().for_each(|w| *w /= g.max(1));
    let mut total: u64 = weights.iter().sum();
    if total > MAX_CYCLE {
        let scale = total.div_ceil(MAX_CYCLE);
        weights.iter_mut().for_each(|w| *w = (*w / scale).max(1));
        total = weights.iter().sum();
    }
    let mut current = vec![0i64; members.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for i in 0..members.len() {
            current[i] += weights[i] as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total as i64;
        out.push(members[best].0);
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
        let eps: Vec<Endpoint<()>> = ["a", "b", "c"]
            .iter()
            .zip([3, 1, 1])
            .map(|(id, w)| Endpoint::new(*id, ()).with_weight(w))
            .collect();
        let seq = Sequence::build(&eps);
        let names: Vec<&str> = seq
            .primary
            .iter()
            .map(|&i| &**eps[i as usize].id())
            .collect();
        assert_eq!(names, ["a", "b", "a", "c", "a"]);
    }
}
