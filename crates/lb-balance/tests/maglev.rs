//! `maglev`: an even, weighted table and small disruption on removal.
//!
//! A key's slot is `⌊key × M / 2^64⌋` (documented in `lb_balance::hash`), so
//! picking with the smallest key of each slot reads the whole table.

// Helpers outside `#[test]` fns: a panic there is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lb_balance::{Algorithm, Balancer, Endpoint};
use proptest::prelude::*;
use support::{pick, weighted};

const M: u32 = 65537;

/// The smallest key whose slot is `slot`.
fn key_of_slot(slot: u64) -> u64 {
    ((u128::from(slot) << 64).div_ceil(u128::from(M))) as u64
}

fn table<T: Clone>(b: &Balancer<T>) -> Vec<T> {
    (0..u64::from(M))
        .map(|s| pick(b, Some(key_of_slot(s))).unwrap())
        .collect()
}

fn maglev() -> Algorithm {
    Algorithm::Maglev {
        table_size: M,
        bounded_load: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn entries_per_server_are_within_one_percent_of_the_fair_share(
        weights in prop::collection::vec(1u32..=4, 1..=16),
    ) {
        let b = Balancer::new(maglev(), weighted(&weights));
        let mut counts = vec![0usize; weights.len()];
        table(&b).into_iter().for_each(|p| counts[p] += 1);
        let total: u32 = weights.iter().sum();
        for (i, (&c, &w)) in counts.iter().zip(&weights).enumerate() {
            let fair = f64::from(M) * f64::from(w) / f64::from(total);
            prop_assert!((c as f64 - fair).abs() <= 0.01 * fair, "server {} has {} of fair {}", i, c, fair);
        }
    }

    #[test]
    fn removing_a_server_moves_its_keys_and_few_others(
        n in 3usize..=20,
        r in any::<prop::sample::Index>(),
    ) {
        let ids: Vec<String> = (0..n).map(|i| format!("10.1.0.{i}:443")).collect();
        let gone = r.index(n);
        let set = |skip: Option<usize>| -> Balancer<String> {
            let eps = ids.iter().enumerate()
                .filter(|(i, _)| Some(*i) != skip)
                .map(|(_, id)| Endpoint::new(id.as_str(), id.clone()))
                .collect();
            Balancer::new(maglev(), eps)
        };
        let before = table(&set(None));
        let after = table(&set(Some(gone)));
        let mut others = 0usize;
        let mut others_moved = 0usize;
        for (b, a) in before.iter().zip(&after) {
            prop_assert_ne!(a, &ids[gone]);
            if b != &ids[gone] {
                others += 1;
                if a != b {
                    others_moved += 1;
                }
            }
        }
        let share = others_moved as f64 / others as f64;
        prop_assert!(share < 0.01, "{} of the other keys moved", share);
    }
}

#[test]
fn an_unhealthy_server_passes_only_its_keys_on() {
    let eps = weighted(&[1, 1, 1, 1, 1]);
    let b = Balancer::new(maglev(), eps.clone());
    let keys = support::keys(2_000);
    let before: Vec<usize> = keys.iter().map(|&k| pick(&b, Some(k)).unwrap()).collect();
    eps[3].state().set_draining(true);
    for (&k, &was) in keys.iter().zip(&before) {
        let now = pick(&b, Some(k)).unwrap();
        if was == 3 {
            assert_ne!(now, 3);
        } else {
            assert_eq!(now, was);
        }
    }
}
