//! `consistent_hash`: minimal disruption when servers come and go.

// Helpers outside `#[test]` fns: a panic there is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lb_balance::{Algorithm, Balancer, Endpoint};
use proptest::prelude::*;
use support::{keys, pick};

const KEYS: usize = 5_000;

fn ring(ids: &[String]) -> Balancer<String> {
    let eps = ids
        .iter()
        .map(|id| Endpoint::new(id.as_str(), id.clone()))
        .collect();
    Balancer::new("consistent_hash".parse().unwrap(), eps)
}

fn assignment(b: &Balancer<String>, keys: &[u64]) -> Vec<String> {
    keys.iter().map(|&k| pick(b, Some(k)).unwrap()).collect()
}

fn server_ids() -> impl Strategy<Value = Vec<String>> {
    prop::collection::hash_set(
        "10\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}:[0-9]{2,5}",
        3..=9,
    )
    .prop_map(|s| s.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn adding_a_server_moves_about_its_share_and_nothing_between_old_ones(ids in server_ids()) {
        let keys = keys(KEYS);
        let k = ids.len() - 1;
        let before = assignment(&ring(&ids[..k]), &keys);
        let after = assignment(&ring(&ids), &keys);
        let new = &ids[k];
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            if b != a {
                prop_assert_eq!(a, new, "a key moved between old servers");
                moved += 1;
            }
        }
        let share = moved as f64 / KEYS as f64;
        let fair = 1.0 / (k + 1) as f64;
        prop_assert!(share > 0.6 * fair && share < 1.5 * fair, "moved {share}, fair {fair}");
    }

    #[test]
    fn removing_a_server_moves_only_its_keys(ids in server_ids(), r in any::<prop::sample::Index>()) {
        let keys = keys(KEYS);
        let gone = r.index(ids.len());
        let rest: Vec<String> = ids.iter().enumerate().filter(|(i, _)| *i != gone).map(|(_, s)| s.clone()).collect();
        let before = assignment(&ring(&ids), &keys);
        let after = assignment(&ring(&rest), &keys);
        for (b, a) in before.iter().zip(&after) {
            if b != a {
                prop_assert_eq!(b, &ids[gone]);
            }
            prop_assert_ne!(a, &ids[gone]);
        }
    }
}

#[test]
fn an_unhealthy_server_passes_only_its_keys_on() {
    let ids: Vec<String> = (1..=4).map(|i| format!("10.0.0.{i}:80")).collect();
    let b = ring(&ids);
    let keys = keys(2_000);
    let before = assignment(&b, &keys);
    let snap = b.snapshot();
    snap.get(&ids[2]).unwrap().state().set_unhealthy(true);
    let after = assignment(&b, &keys);
    for (x, y) in before.iter().zip(&after) {
        if x != &ids[2] {
            assert_eq!(x, y);
        } else {
            assert_ne!(y, &ids[2]);
        }
    }
}

#[test]
fn weight_multiplies_the_points() {
    let eps = vec![
        Endpoint::new("a:1", 0usize).with_weight(3),
        Endpoint::new("b:1", 1usize),
    ];
    let b = Balancer::new(
        Algorithm::ConsistentHash {
            vnodes: 160,
            bounded_load: None,
        },
        eps,
    );
    let heavy = keys(8_000)
        .iter()
        .filter(|&&k| pick(&b, Some(k)) == Some(0))
        .count();
    let share = heavy as f64 / 8_000.0;
    assert!((0.65..0.85).contains(&share), "{share}");
}

#[test]
fn no_key_falls_back_to_round_robin() {
    let ids: Vec<String> = (1..=3).map(|i| format!("h{i}")).collect();
    let b = ring(&ids);
    let picks: Vec<String> = (0..3).map(|_| pick(&b, None).unwrap()).collect();
    assert_eq!(picks, ids);
}
